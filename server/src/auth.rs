//! The `authenticate` stage: `Authorization: Bearer <key>` → [`Principal`].

use std::sync::Arc;
use std::time::Duration;

use lictor_api::access::Access;
use lictor_api::api_keys::{Environment, Role};
use lictor_api::ids::{AgentId, TenantId};

use crate::cache::{Cache, CacheStats, Lookup};
use crate::credentials::{ADMIN_KEY_PREFIX, SECRET_NAMESPACE, hash_key, is_well_formed};
use crate::degraded::Degraded;
use crate::error::{Error, Object};
use crate::events::{Event, Events};
use crate::operators::{Operator, Operators};
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
    Key(Box<ApiKeyRow>),
    /// A capability token (signature verified; its caveats are checked by
    /// the pipeline's `capability` stage). It acts as its subject agent,
    /// in `live`.
    Token(Arc<CapabilityToken>),
    /// A person: a console session, or a token from their identity
    /// provider, with the roles they hold.
    Operator(Arc<Operator>),
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
    /// People's tokens and sessions.
    operators: Operators,
    /// The session cookie's name.
    session_cookie: &'static str,
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
        (operators, session_cookie): (Operators, &'static str),
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
            operators,
            session_cookie,
        }
    }

    /// People's credentials.
    pub fn operators(&self) -> &Operators {
        &self.operators
    }

    /// The session cookie's name.
    pub fn session_cookie(&self) -> &'static str {
        self.session_cookie
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

    /// Authenticates a request's `Authorization` header or, without one,
    /// its session cookie (in its `Cookie` header).
    pub async fn authenticate(
        &self,
        authorization: Option<&http::HeaderValue>,
        cookies: Option<&http::HeaderValue>,
    ) -> Result<Principal, Error> {
        let session = cookies
            .and_then(|c| c.to_str().ok())
            .and_then(|c| crate::operators::sessions::cookie(c, self.session_cookie));
        if let (None, Some(session)) = (authorization, session) {
            return Ok(Principal::Operator(Arc::new(self.operators.session(session).await?)));
        }
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
        if crate::operators::oidc::looks_like_jwt(token) {
            if self.operators.providers.is_empty() {
                return Err(Error::Unauthenticated(
                    "this gateway has no identity provider: present an API key".into(),
                ));
            }
            return Ok(Principal::Operator(Arc::new(self.operators.bearer(token).await?)));
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
            Lookup::Hit(key) => return Ok(Principal::Key(Box::new(key))),
            Lookup::Miss(ticket) => ticket,
        };
        match self.store.find_live_api_key(&hash).await {
            Ok(Some(key)) => {
                self.degraded.remember_key(&hash, &key);
                let tenant = key.tenant.clone();
                self.keys.keep(ticket, hash, &tenant, key.clone());
                return Ok(Principal::Key(Box::new(key)));
            }
            Ok(None) => {}
            // Without the store, a shadow key seen live may still get
            // unenforced answers (see `crate::degraded`).
            Err(error @ StoreError::Unavailable(_)) => {
                return self
                    .degraded
                    .known_shadow_key(&hash)
                    .map(|key| Principal::Key(Box::new(key)))
                    .ok_or(Error::Store(error));
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
            Principal::Operator(operator) => operator.describe(),
        }
    }

    /// The person acting, when it is one: a person's own credentials, or
    /// a key a person created (it acts for them).
    pub fn person(&self) -> Option<lictor_api::operators::Person> {
        match self {
            Principal::Operator(operator) => Some(operator.person.clone()),
            Principal::Key(key) => key.person.clone(),
            Principal::Superadmin | Principal::Token(_) => None,
        }
    }

    /// Who acts, for rules that need two different actors (the two-person
    /// rule): a person (`person:<issuer>#<subject>`), whatever credentials
    /// they present and whatever keys they made; a key made by the
    /// superadmin key stands for itself (`key:<id>`), and keys made with
    /// it for the same actor; the superadmin key is `superadmin`.
    pub fn actor(&self) -> String {
        match self {
            Principal::Superadmin => "superadmin".into(),
            Principal::Key(key) => key.acts_for.clone().unwrap_or_else(|| format!("key:{}", key.id)),
            Principal::Token(token) => format!("token:{}", token.header().root_jti),
            Principal::Operator(operator) => operator.identity(),
        }
    }

    /// The tenant of a key or token, or of a person holding roles in one
    /// tenant only (`None` for the superadmin, and a person with roles in
    /// several: they name the tenant).
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Principal::Superadmin => None,
            Principal::Key(key) => Some(&key.tenant),
            Principal::Token(token) => Some(&token.header().tenant),
            Principal::Operator(operator) if operator.superadmin => None,
            Principal::Operator(operator) => match operator.tenants().as_slice() {
                [one] => Some(*one),
                _ => None,
            },
        }
    }

    /// Whether the credentials may call an operation `access` allows, in
    /// some tenant (`Err` says why not).
    pub fn may_call(&self, access: &Access, operation: &str) -> Result<(), Error> {
        let allowed = match self {
            Principal::Superadmin => access.superadmin,
            Principal::Key(key) => access.allows(key.role),
            Principal::Token(_) => access.allows(Role::Agent),
            Principal::Operator(operator) => {
                (operator.superadmin && access.superadmin)
                    || operator.grants.iter().any(|g| access.allows(g.role))
            }
        };
        if allowed || access.public || access.anyone {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "{} cannot call `{operation}`, which is for: {}",
            self.credential_words(),
            access.role_names().join(", ")
        )))
    }

    /// Whether the credentials may call it in `tenant` (`Err` says why not).
    pub fn may_call_in(&self, access: &Access, operation: &str, tenant: &TenantId) -> Result<(), Error> {
        match self {
            Principal::Operator(operator) if !(operator.superadmin && access.superadmin) => {
                if operator.roles_in(tenant).any(|role| access.allows(role)) || access.public || access.anyone
                {
                    Ok(())
                } else {
                    let held: Vec<&str> = operator.roles_in(tenant).map(Role::as_str).collect();
                    Err(Error::Forbidden(format!(
                        "your roles in `{tenant}` ({}) do not include one that may call `{operation}` ({})",
                        held.join(", "),
                        access.role_names().join(", ")
                    )))
                }
            }
            _ => self.may_call(access, operation),
        }
    }

    /// "an `admin` key", "the superadmin key"…, for messages.
    fn credential_words(&self) -> String {
        match self {
            Principal::Superadmin => "the superadmin key".into(),
            Principal::Key(key) => {
                let role = key.role.as_str();
                let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                format!("{article} `{role}` key")
            }
            Principal::Token(_) => "a capability token".into(),
            Principal::Operator(operator) => {
                let roles: std::collections::BTreeSet<&str> =
                    operator.grants.iter().map(|g| g.role.as_str()).collect();
                if roles.is_empty() {
                    "a person without roles".into()
                } else {
                    format!("a person with the roles {}", roles.into_iter().collect::<Vec<_>>().join(", "))
                }
            }
        }
    }

    /// The agent these credentials are restricted to.
    pub fn bound_agent(&self) -> Option<&AgentId> {
        match self {
            Principal::Superadmin | Principal::Operator(_) => None,
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

    /// Whether this is the superadmin: its key, or a person the
    /// deployment made one.
    pub fn is_superadmin(&self) -> bool {
        match self {
            Principal::Superadmin => true,
            Principal::Operator(operator) => operator.superadmin,
            Principal::Key(_) | Principal::Token(_) => false,
        }
    }

    /// Fails unless the credential may act on `environment`: the superadmin
    /// and `live` keys on every one, a `test` or `shadow` key on its own
    /// only — a lower environment never acts on `live` (a token acts in
    /// `live`). `action` says what was refused, for the message.
    pub fn require_environment(&self, environment: Environment, action: &str) -> Result<(), Error> {
        let own = match self {
            Principal::Superadmin | Principal::Operator(_) => return Ok(()),
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

    /// Whether this principal may see `tenant` at all (a person: holds a
    /// role in it).
    pub fn can_access(&self, tenant: &TenantId) -> bool {
        match self {
            Principal::Operator(operator) => {
                operator.superadmin || operator.roles_in(tenant).next().is_some()
            }
            _ => match self.tenant() {
                None => true,
                Some(own) => own == tenant,
            },
        }
    }

    /// The tenant an operation acts on: a tenant key's own (naming another
    /// is 404); the superadmin must name one that exists.
    pub async fn tenant_scope(&self, requested: Option<&TenantId>, store: &Store) -> Result<TenantId, Error> {
        if let (Principal::Operator(operator), false) = (self, self.is_superadmin()) {
            return match (requested, self.tenant()) {
                (Some(tenant), _) if self.can_access(tenant) => Ok(tenant.clone()),
                (Some(tenant), _) => Err(not_found_tenant(tenant)),
                (None, Some(own)) => Ok(own.clone()),
                (None, None) => Err(Error::InvalidParameter {
                    parameter: "tenant".into(),
                    message: format!(
                        "you hold roles in {} tenants: name one with `tenant`",
                        operator.tenants().len()
                    ),
                }),
            };
        }
        match self.tenant() {
            Some(own) => match requested {
                Some(tenant) if tenant != own => Err(not_found_tenant(tenant)),
                _ => Ok(own.clone()),
            },
            None => {
                let tenant = requested.ok_or_else(|| Error::InvalidParameter {
                    parameter: "tenant".into(),
                    message: "the superadmin must name the tenant with `tenant`".into(),
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
