//! Operators: people signed in through an OpenID Connect provider, with
//! roles per tenant from their groups (the token's groups claim, or SCIM).
//!
//! - [`oidc`]: the deployment's providers (discovery, keys, token checks).
//! - [`sessions`]: console sessions and the sign-in flow's state.
//! - [`grants`]: the roles a person holds, tenant by tenant.
//! - [`step_up`]: what destructive operations ask of a person.
//! - [`scim`]: the SCIM 2.0 service that provisions people and groups.
//!
//! docs/operators.md is the user's view of all of it.

pub mod grants;
pub mod oidc;
pub mod scim;
pub mod scim_filter;
pub mod sessions;
pub mod step_up;

use lictor_api::api_keys::Role;
use lictor_api::ids::TenantId;
use lictor_api::operators::{Grant, Person, SignIn};

/// How a person presented themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presented {
    /// A console session (its id; the cookie carried its secret).
    Session {
        /// The session's id.
        id: String,
        /// Its CSRF token.
        csrf: String,
    },
    /// An ID or access token from their provider (its `jti`, or a digest
    /// of the token when it has none).
    Bearer {
        /// What names the token.
        id: String,
    },
}

/// A person acting, with what they hold.
#[derive(Clone, Debug)]
pub struct Operator {
    /// Who.
    pub person: Person,
    /// How.
    pub presented: Presented,
    /// The deployment made them a superadmin (the provider's
    /// `superadmin_groups`).
    pub superadmin: bool,
    /// Their roles, by tenant (sorted).
    pub grants: Vec<Grant>,
    /// Their sign-in's strength and age.
    pub sign_in: SignIn,
}

impl Operator {
    /// How audit entries name the credential (`session:<id>`, `oidc:<id>`).
    pub fn describe(&self) -> String {
        match &self.presented {
            Presented::Session { id, .. } => format!("session:{id}"),
            Presented::Bearer { id } => format!("oidc:{id}"),
        }
    }

    /// The roles held in `tenant`.
    pub fn roles_in<'a>(&'a self, tenant: &'a TenantId) -> impl Iterator<Item = Role> + 'a {
        self.grants.iter().filter(move |g| g.tenant == *tenant).map(|g| g.role)
    }

    /// The tenants in which they hold a role.
    pub fn tenants(&self) -> Vec<&TenantId> {
        let mut tenants: Vec<&TenantId> = self.grants.iter().map(|g| &g.tenant).collect();
        tenants.dedup();
        tenants
    }

    /// The identity two-person rules compare: the provider's issuer and
    /// the person's subject there.
    pub fn identity(&self) -> String {
        person_identity(&self.person)
    }
}

/// `person:<issuer>#<subject>`: one person, however they present
/// themselves.
pub fn person_identity(person: &Person) -> String {
    format!("person:{}#{}", person.issuer, person.subject)
}

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use crate::clock::Timestamp;
use crate::error::Error;
use crate::store::{SessionRow, Store, json_column};
use oidc::{Claims, Expect, OidcError, Provider, Providers};

/// Checks people's credentials: bearer tokens from their provider, and
/// console sessions.
#[derive(Clone, Debug)]
pub struct Operators {
    store: Store,
    http: reqwest::Client,
    /// The deployment's providers.
    pub providers: Providers,
    keys: crate::signing::Keys,
    /// How long a session lasts unused.
    pub idle: Duration,
}

impl From<OidcError> for Error {
    fn from(error: OidcError) -> Error {
        match error {
            OidcError::Unreachable(..) => Error::Upstream(error.to_string()),
            OidcError::Refused(message) => Error::Unauthenticated(message),
        }
    }
}

/// The person a provider's verified claims describe.
pub fn person_of(provider: &Provider, claims: &Claims) -> Person {
    let settings = &provider.settings;
    // An email address the provider has not verified names nobody.
    let unverified = claims.other.get("email_verified").and_then(serde_json::Value::as_bool) == Some(false);
    let username = claims
        .text(&settings.username_claim)
        .filter(|_| !(unverified && settings.username_claim == settings.email_claim));
    Person {
        issuer: claims.iss.clone(),
        subject: claims.sub.clone(),
        provider: provider.name.clone(),
        username,
        email: claims.text(&settings.email_claim).filter(|_| !unverified),
        name: claims.text(&settings.name_claim),
    }
}

/// The sign-in a token's claims state.
pub fn sign_in_of(claims: &Claims) -> SignIn {
    SignIn {
        auth_time: claims.auth_time.and_then(|t| Utc.timestamp_opt(t, 0).single()),
        acr: claims.acr.clone(),
        amr: claims.amr.clone().unwrap_or_default(),
    }
}

impl Operators {
    /// Checks people's credentials against `providers`.
    pub fn new(
        store: Store,
        (providers, http): (Providers, reqwest::Client),
        keys: crate::signing::Keys,
        idle: Duration,
    ) -> Operators {
        Operators { store, http, providers, keys, idle }
    }

    /// The client providers are reached with.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The person a bearer JWT from one of the providers names.
    pub async fn bearer(&self, token: &str) -> Result<Operator, Error> {
        let issuer = oidc::claimed_issuer(token)
            .ok_or_else(|| Error::Unauthenticated("malformed token: no issuer".into()))?;
        let provider = self.providers.by_issuer(&issuer).ok_or_else(|| {
            Error::Unauthenticated(format!(
                "tokens from `{}` are not accepted here",
                crate::logging::escape(&issuer)
            ))
        })?;
        let claims = provider.verify(token, Expect::Bearer).await?;
        let id = claims.jti.clone().unwrap_or_else(|| sessions::digest(token)[..16].to_string());
        let groups = claims.list(&provider.settings.groups_claim);
        let person = person_of(provider, &claims);
        let issued = claims.iat.or(claims.auth_time).unwrap_or(0);
        self.operator(provider, person, groups, (sign_in_of(&claims), issued), Presented::Bearer { id }).await
    }

    /// The person whose session cookie is `value` (`<id>.<secret>`).
    pub async fn session(&self, value: &str) -> Result<Operator, Error> {
        let refused = || Error::Unauthenticated("unknown, ended or expired session: sign in again".into());
        let (id, secret) = value.split_once('.').ok_or_else(refused)?;
        if id.is_empty() || id.len() > 64 || secret.len() > 128 {
            return Err(refused());
        }
        let row = self.store.operator_session(id).await?.ok_or_else(refused)?;
        let now = Timestamp::now();
        let idle_micros = i64::try_from(self.idle.as_micros()).unwrap_or(i64::MAX);
        if row.ended_at.is_some()
            || row.expires_at <= now
            || now.micros_since(row.last_seen_at) > idle_micros
            || !sessions::opens(&self.keys.ring(), &row, secret)
        {
            return Err(refused());
        }
        let provider = self.providers.named(&row.provider).ok_or_else(refused)?;
        let (person, groups, sign_in) = session_facts(&row)?;
        self.store.touch_session(&row.id, now).await?;
        let presented = Presented::Session { id: row.id.clone(), csrf: row.csrf_token.clone() };
        self.operator(provider, person, groups, (sign_in, row.created_at.seconds()), presented).await
    }

    /// The person with what they hold; `issued` is when their credential
    /// was issued (a tenant's cut-offs refuse older ones).
    async fn operator(
        &self,
        provider: &Arc<Provider>,
        person: Person,
        groups: Vec<String>,
        (sign_in, issued): (SignIn, i64),
        presented: Presented,
    ) -> Result<Operator, Error> {
        let (superadmin, grants) = grants::resolve(&self.store, provider, &person, &groups, issued).await?;
        Ok(Operator { person, presented, superadmin, grants, sign_in })
    }
}

/// What a stored session says of its person.
pub fn session_facts(row: &SessionRow) -> Result<(Person, Vec<String>, SignIn), Error> {
    let person: Person = json_column(&row.person)?;
    let groups: Vec<String> = json_column(&row.groups)?;
    let amr: Vec<String> = json_column(&row.amr)?;
    let sign_in = SignIn {
        auth_time: row.auth_time.and_then(|t| Utc.timestamp_opt(t, 0).single()),
        acr: row.acr.clone(),
        amr,
    };
    Ok((person, groups, sign_in))
}
