//! The `authenticate` stage: `Authorization: Bearer <key>` → [`Principal`].

use std::sync::Arc;
use std::time::Duration;

use lictor_api::api_keys::{Environment, Role};
use lictor_api::ids::{AgentId, TenantId};

use crate::cache::{Cache, CacheStats, Lookup};
use crate::credentials::{ADMIN_KEY_PREFIX, SECRET_NAMESPACE, hash_key, is_well_formed};
use crate::degraded::Degraded;
use crate::error::{Error, Object};
use crate::events::{Event, Events};
use crate::pipeline::KeyContext;
use crate::signing::TokenKeys;
use crate::store::{ApiKeyRow, Store, StoreError};
use crate::token::{CapabilityToken, PREFIX as TOKEN_PREFIX};

/// Who is calling.
#[derive(Clone, Debug)]
pub enum Principal {
    /// The superadmin key: every tenant, every operation.
    Superadmin,
    /// A tenant's API key.
    Key(ApiKeyRow),
    /// A capability token (signature verified; its caveats are checked by
    /// the pipeline's `capability` stage). It acts as its subject agent,
    /// in `live`.
    Token(Arc<CapabilityToken>),
}

/// Longest bearer token considered (longer ones are rejected unread).
const MAX_TOKEN_LEN: usize = 512;

/// Checks credentials against the superadmin key and the stored API keys.
#[derive(Clone, Debug)]
pub struct Authenticator {
    store: Store,
    token_keys: TokenKeys,
    /// Hash of `LICTOR_ADMIN_KEY` when set; otherwise the generated
    /// superadmin key (stored hashed) is looked up.
    configured_admin_hash: Option<String>,
    /// Shadow keys remembered for when the store is down.
    degraded: Arc<Degraded>,
    /// Live keys by hash, until a revocation in their tenant
    /// ([`crate::cache`]).
    keys: Arc<Cache<String, ApiKeyRow>>,
}

impl Authenticator {
    /// An authenticator over `store`.
    pub fn new(
        store: Store,
        token_keys: TokenKeys,
        configured_admin_key: Option<&str>,
        degraded: Arc<Degraded>,
        events: &Events,
        cache_ttl: Duration,
    ) -> Authenticator {
        let keys = Cache::following(cache_ttl, events, |event| match event {
            Event::ApiKey { tenant } => Some(tenant),
            _ => None,
        });
        Authenticator {
            store,
            token_keys,
            configured_admin_hash: configured_admin_key.map(hash_key),
            degraded,
            keys,
        }
    }

    /// How often the API key cache answered.
    pub fn key_cache(&self) -> CacheStats {
        self.keys.stats()
    }

    async fn verify_token(&self, text: &str) -> Result<Principal, Error> {
        let token = CapabilityToken::parse(text)
            .map_err(|e| Error::Unauthenticated(format!("malformed capability token: {e}")))?;
        let key = self.token_keys.root_key(&token.header().kid).await?;
        token
            .verify_with(|_| key)
            .map_err(|e| Error::Unauthenticated(format!("capability token rejected: {e}")))?;
        Ok(Principal::Token(Arc::new(token)))
    }

    /// Authenticates the value of an `Authorization` header.
    pub async fn authenticate(&self, authorization: Option<&http::HeaderValue>) -> Result<Principal, Error> {
        let header = authorization
            .ok_or_else(|| Error::Unauthenticated("missing `Authorization: Bearer <key>` header".into()))?;
        let value = header
            .to_str()
            .map_err(|_| Error::Unauthenticated("the `Authorization` header is not valid text".into()))?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Unauthenticated("the authorization scheme must be `Bearer`".into()));
        }
        let token = token.trim();
        if token.starts_with(TOKEN_PREFIX) {
            return self.verify_token(token).await;
        }
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::Unauthenticated("malformed api key".into()));
        }
        let hash = hash_key(token);
        if self.configured_admin_hash.as_ref() == Some(&hash) {
            return Ok(Principal::Superadmin);
        }
        if !token.starts_with(SECRET_NAMESPACE) {
            return Err(Error::Unauthenticated("unknown or revoked api key".into()));
        }
        // A mistyped or truncated key fails its checksum: refused without
        // a lookup.
        if !is_well_formed(token) {
            return Err(Error::Unauthenticated(
                "malformed api key: its checksum does not match (mistyped or truncated?)".into(),
            ));
        }
        if self.configured_admin_hash.is_none()
            && token.starts_with(ADMIN_KEY_PREFIX)
            && self.store.admin_key_matches(&hash).await?
        {
            return Ok(Principal::Superadmin);
        }
        let ticket = match self.keys.get(&hash) {
            Lookup::Hit(key) => return Ok(Principal::Key(key)),
            Lookup::Miss(ticket) => ticket,
        };
        match self.store.find_live_api_key(&hash).await {
            Ok(Some(key)) => {
                self.degraded.remember_key(&hash, &key);
                let tenant = key.tenant.clone();
                self.keys.keep(ticket, hash, &tenant, key.clone());
                return Ok(Principal::Key(key));
            }
            Ok(None) => {}
            // Without the store, a shadow key seen live may still get
            // unenforced answers (see `crate::degraded`).
            Err(error @ StoreError::Unavailable(_)) => {
                return self.degraded.known_shadow_key(&hash).map(Principal::Key).ok_or(Error::Store(error));
            }
            Err(error) => return Err(error.into()),
        }
        Err(Error::Unauthenticated("unknown or revoked api key".into()))
    }
}

impl Principal {
    /// Who the audit log names (`superadmin`, `key:<id>`, `token:<jti>`).
    pub fn describe(&self) -> String {
        match self {
            Principal::Superadmin => "superadmin".into(),
            Principal::Key(key) => format!("key:{}", key.id),
            Principal::Token(token) => format!("token:{}", token.jti()),
        }
    }

    /// The tenant of a key or token (`None` for the superadmin).
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Principal::Superadmin => None,
            Principal::Key(key) => Some(&key.tenant),
            Principal::Token(token) => Some(&token.header().tenant),
        }
    }

    /// The agent these credentials are restricted to.
    pub fn bound_agent(&self) -> Option<&AgentId> {
        match self {
            Principal::Superadmin => None,
            Principal::Key(key) => key.agent_id.as_ref(),
            Principal::Token(token) => Some(&token.header().sub),
        }
    }

    /// The credentials of an agent acting (an agent key or a token), and
    /// the tenant it acts in.
    pub fn acting_agent(&self) -> Result<(KeyContext, TenantId), Error> {
        match self {
            Principal::Key(key) if key.role == Role::Agent => Ok((
                KeyContext {
                    credential: key.id.to_string(),
                    environment: key.environment,
                    bound_agent: key.agent_id.clone(),
                },
                key.tenant.clone(),
            )),
            Principal::Token(token) => Ok((
                KeyContext {
                    credential: format!("token:{}", token.jti()),
                    environment: Environment::Live,
                    bound_agent: Some(token.header().sub.clone()),
                },
                token.header().tenant.clone(),
            )),
            _ => Err(Error::Forbidden("only agent keys and capability tokens act for agents".into())),
        }
    }

    /// The capability token, if the credential is one.
    pub fn token(&self) -> Option<&Arc<CapabilityToken>> {
        match self {
            Principal::Token(token) => Some(token),
            _ => None,
        }
    }

    /// Whether this is the superadmin key.
    pub fn is_superadmin(&self) -> bool {
        matches!(self, Principal::Superadmin)
    }

    /// Fails unless this is the superadmin key.
    pub fn require_superadmin(&self, action: &str) -> Result<(), Error> {
        match self {
            Principal::Superadmin => Ok(()),
            Principal::Key(_) | Principal::Token(_) => {
                Err(Error::Forbidden(format!("only the superadmin key can {action}")))
            }
        }
    }

    /// Fails for agent keys and tokens.
    pub fn require_admin(&self) -> Result<(), Error> {
        match self {
            Principal::Key(key) if key.role == Role::Agent => {
                Err(Error::Forbidden("agent keys cannot use administrative operations".into()))
            }
            Principal::Token(_) => {
                Err(Error::Forbidden("capability tokens cannot use administrative operations".into()))
            }
            _ => Ok(()),
        }
    }

    /// Fails unless the credential may act on `environment`: the superadmin
    /// and `live` keys on every one, a `test` or `shadow` key on its own
    /// only — a lower environment never acts on `live` (a token acts in
    /// `live`). `action` says what was refused, for the message.
    pub fn require_environment(&self, environment: Environment, action: &str) -> Result<(), Error> {
        let own = match self {
            Principal::Superadmin => return Ok(()),
            Principal::Key(key) => key.environment,
            Principal::Token(_) => Environment::Live,
        };
        if own == Environment::Live || own == environment {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "a `{}` key cannot {action}: that acts on `{}`, and only `live` keys act beyond their own environment",
            own.as_str(),
            environment.as_str()
        )))
    }

    /// The agent API key declaring an intent (tokens use [`Principal::acting_agent`]).
    pub fn agent_key(&self) -> Result<&ApiKeyRow, Error> {
        match self {
            Principal::Key(key) if key.role == Role::Agent => Ok(key),
            _ => Err(Error::Forbidden("only agent keys declare intents".into())),
        }
    }

    /// Whether this principal may act on `tenant`.
    pub fn can_access(&self, tenant: &TenantId) -> bool {
        match self.tenant() {
            None => true,
            Some(own) => own == tenant,
        }
    }

    /// The tenant an operation acts on: a tenant key's own (naming another
    /// is 404); the superadmin must name one that exists.
    pub async fn tenant_scope(&self, requested: Option<&TenantId>, store: &Store) -> Result<TenantId, Error> {
        match self.tenant() {
            Some(own) => match requested {
                Some(tenant) if tenant != own => Err(not_found_tenant(tenant)),
                _ => Ok(own.clone()),
            },
            None => {
                let tenant = requested.ok_or_else(|| Error::InvalidParameter {
                    parameter: "tenant".into(),
                    message: "the superadmin key must name the tenant with `tenant`".into(),
                })?;
                if store.get_tenant(tenant).await?.is_none() {
                    return Err(not_found_tenant(tenant));
                }
                Ok(tenant.clone())
            }
        }
    }
}

/// The 404 for a tenant the caller cannot see.
pub(crate) fn not_found_tenant(tenant: &TenantId) -> Error {
    Error::not_found(Object::Tenant, tenant)
}
