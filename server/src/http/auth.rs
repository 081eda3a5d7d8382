//! The `authenticate` stage: `Authorization: Bearer <key>` → [`Principal`].

use tollgate_api::api_keys::Role;
use tollgate_api::ids::TenantId;

use crate::credentials::{ADMIN_KEY_PREFIX, hash_key};
use crate::error::Error;
use crate::store::{ApiKeyRow, Store};

/// Who is calling.
#[derive(Clone, Debug)]
pub enum Principal {
    /// The superadmin key: every tenant, every operation.
    Superadmin,
    /// A tenant's API key.
    Key(ApiKeyRow),
}

/// Longest bearer token considered (longer ones are rejected unread).
const MAX_TOKEN_LEN: usize = 512;

/// Checks credentials against the superadmin key and the stored API keys.
#[derive(Clone, Debug)]
pub struct Authenticator {
    store: Store,
    /// Hash of `TOLLGATE_ADMIN_KEY` when set; otherwise the generated
    /// superadmin key (stored hashed) is looked up.
    configured_admin_hash: Option<String>,
}

impl Authenticator {
    /// An authenticator over `store`.
    pub fn new(store: Store, configured_admin_key: Option<&str>) -> Authenticator {
        Authenticator { store, configured_admin_hash: configured_admin_key.map(hash_key) }
    }

    /// Authenticates the request's `Authorization` header.
    pub async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Principal, Error> {
        let header = headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| Error::Unauthenticated("missing `Authorization: Bearer <key>` header".into()))?;
        let value = header
            .to_str()
            .map_err(|_| Error::Unauthenticated("the `Authorization` header is not valid text".into()))?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Unauthenticated("the authorization scheme must be `Bearer`".into()));
        }
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::Unauthenticated("malformed api key".into()));
        }
        let hash = hash_key(token);
        if let Some(admin) = &self.configured_admin_hash {
            if *admin == hash {
                return Ok(Principal::Superadmin);
            }
        } else if token.starts_with(ADMIN_KEY_PREFIX) && self.store.admin_key_matches(&hash).await? {
            return Ok(Principal::Superadmin);
        }
        if token.starts_with("tg_")
            && let Some(key) = self.store.find_live_api_key(&hash).await?
        {
            return Ok(Principal::Key(key));
        }
        Err(Error::Unauthenticated("unknown or revoked api key".into()))
    }
}

impl Principal {
    /// Fails unless this is the superadmin key.
    pub fn require_superadmin(&self, action: &str) -> Result<(), Error> {
        match self {
            Principal::Superadmin => Ok(()),
            Principal::Key(_) => Err(Error::Forbidden(format!("only the superadmin key can {action}"))),
        }
    }

    /// Fails for agent keys.
    pub fn require_admin(&self) -> Result<(), Error> {
        match self {
            Principal::Key(key) if key.role == Role::Agent => {
                Err(Error::Forbidden("agent keys cannot use administrative operations".into()))
            }
            _ => Ok(()),
        }
    }

    /// The agent key declaring an intent.
    pub fn agent_key(&self) -> Result<&ApiKeyRow, Error> {
        match self {
            Principal::Key(key) if key.role == Role::Agent => Ok(key),
            _ => Err(Error::Forbidden("only agent keys declare intents".into())),
        }
    }

    /// Whether this principal may act on `tenant`.
    pub fn can_access(&self, tenant: &TenantId) -> bool {
        match self {
            Principal::Superadmin => true,
            Principal::Key(key) => key.tenant == *tenant,
        }
    }

    /// The tenant an operation acts on: a tenant key's own (naming another
    /// is 404); the superadmin must name one that exists.
    pub async fn tenant_scope(&self, requested: Option<&TenantId>, store: &Store) -> Result<TenantId, Error> {
        match self {
            Principal::Key(key) => match requested {
                Some(tenant) if *tenant != key.tenant => Err(not_found_tenant(tenant)),
                _ => Ok(key.tenant.clone()),
            },
            Principal::Superadmin => {
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
pub fn not_found_tenant(tenant: &TenantId) -> Error {
    Error::NotFound(format!("no tenant `{tenant}`"))
}
