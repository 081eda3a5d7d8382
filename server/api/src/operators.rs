//! Operators: the people who run a tenant, signed in through the
//! organisation's identity provider (OpenID Connect), provisioned by SCIM,
//! with roles per tenant (docs/operators.md).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api_keys::{Environment, Role};
use crate::ids::{TenantId, id_type};
use crate::money::UsdAmount;
use crate::text::Label;

fn provider_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

id_type!(
    /// An identity provider the deployment configured (`LICTOR_OIDC_<NAME>`,
    /// its name in lowercase).
    ProviderName, kind = "provider name", max = 64, pattern = "^[a-z0-9][a-z0-9-]{0,63}$",
    first = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit(), rest = provider_char
);

fn auth_value_char(c: char) -> bool {
    c.is_ascii_graphic()
}

id_type!(
    /// An authentication context class (`acr`) or method (`amr`) value:
    /// printable ASCII without spaces (a URI, `mfa`, `hwk`…).
    AuthValue, kind = "acr or amr value", max = 200, pattern = "^[!-~]{1,200}$",
    first = auth_value_char, rest = auth_value_char
);

/// A role a person holds in a tenant (every role but `agent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRole {
    /// The tenant administrator.
    Admin,
    /// Reads and decides approvals.
    Approver,
    /// Reads everything, changes nothing.
    Auditor,
    /// Writes, dry-runs, promotes and rolls back policies.
    PolicyAuthor,
}

impl From<OperatorRole> for Role {
    fn from(role: OperatorRole) -> Role {
        match role {
            OperatorRole::Admin => Role::Admin,
            OperatorRole::Approver => Role::Approver,
            OperatorRole::Auditor => Role::Auditor,
            OperatorRole::PolicyAuthor => Role::PolicyAuthor,
        }
    }
}

/// A person, as their identity provider names them. Two people are the
/// same when their `issuer` and `subject` are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Person {
    /// The identity provider's issuer URL (`iss`).
    pub issuer: String,
    /// The person's identifier at that provider (`sub`).
    pub subject: String,
    /// The provider's name in this deployment.
    pub provider: ProviderName,
    /// Their user name, as the provider's `username_claim` gives it (what
    /// SCIM's `userName` is matched with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Their email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Their display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A role held in a tenant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Grant {
    /// The tenant.
    pub tenant: TenantId,
    /// The role.
    pub role: Role,
}

/// What kind of credential a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// The deployment's superadmin key.
    SuperadminKey,
    /// A tenant's API key.
    ApiKey,
    /// A capability token.
    CapabilityToken,
    /// A person's console session (cookie).
    Session,
    /// A person's ID or access token from their identity provider.
    BearerToken,
}

/// How strongly, and how recently, a person signed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignIn {
    /// When they last authenticated at their provider (`auth_time`).
    pub auth_time: Option<DateTime<Utc>>,
    /// The authentication context class reached (`acr`).
    pub acr: Option<String>,
    /// The authentication methods used (`amr`, e.g. `pwd`, `mfa`, `hwk`).
    pub amr: Vec<String>,
}

/// A console session.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct SessionInfo {
    /// The session's identifier (what audit entries name as
    /// `session:<id>`).
    pub id: String,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// The token to send as `X-CSRF-Token` on every request that changes
    /// something (`POST`, `PUT`, `PATCH`, `DELETE`) with this session.
    pub csrf_token: String,
}

/// Answer to `GET /v1/whoami`: who the credentials are and what they may do.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Whoami {
    /// The kind of credential.
    pub credential: CredentialKind,
    /// How audit entries name the credential (`key:<id>`, `token:<jti>`,
    /// `session:<id>`, `oidc:<jti>`, `superadmin`).
    pub principal: String,
    /// The person, for a session or an identity provider's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
    /// Whether the credentials act as the superadmin.
    pub superadmin: bool,
    /// The roles held, per tenant.
    pub grants: Vec<Grant>,
    /// The environment a key or token acts in (people act in `live`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The person's sign-in, for step-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignIn>,
    /// The session, when the credential is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionInfo>,
}

/// A group of the identity provider (from the token's groups claim, or a
/// SCIM group) whose members hold a role in the tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// The group's name (a groups-claim value, or a SCIM group's
    /// `displayName`), compared exactly.
    pub group: Label,
    /// The role its members hold.
    pub role: OperatorRole,
}

/// How keys are treated by operations that need a step-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStepUp {
    /// Administrative API keys carry them out without a step-up: keys are
    /// for automation, which has no second factor (the default).
    #[default]
    Exempt,
    /// Only a person with a fresh, strong sign-in may: keys get
    /// `step_up_required`.
    Refused,
}

/// What a destructive operation needs from a person (docs/operators.md,
/// "Step-up").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpPolicy {
    /// The person must have authenticated at their provider at most this
    /// many seconds ago (30–86400; default 900).
    #[schemars(range(min = 30, max = 86400))]
    #[serde(default = "default_max_age")]
    pub max_age_seconds: u32,
    /// When not empty, their sign-in's `acr` must be one of these.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub acr_values: Vec<AuthValue>,
    /// When not empty, their sign-in's `amr` must include one of these
    /// (e.g. `mfa`, `hwk`, `otp`).
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub amr_values: Vec<AuthValue>,
    /// Deciding an approval needs a step-up when its intent's financial
    /// exposure is at least this (`null`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_exposure_usd: Option<UsdAmount>,
    /// Whether administrative API keys may carry out destructive
    /// operations.
    #[serde(default)]
    pub api_keys: KeyStepUp,
}

fn default_max_age() -> u32 {
    StepUpPolicy::DEFAULT_MAX_AGE
}

impl StepUpPolicy {
    /// The default window, 15 minutes.
    pub const DEFAULT_MAX_AGE: u32 = 900;
}

impl Default for StepUpPolicy {
    fn default() -> StepUpPolicy {
        StepUpPolicy {
            max_age_seconds: StepUpPolicy::DEFAULT_MAX_AGE,
            acr_values: Vec::new(),
            amr_values: Vec::new(),
            approval_exposure_usd: None,
            api_keys: KeyStepUp::Exempt,
        }
    }
}

/// Body of `PUT /v1/admin/tenants/{tenant_id}/operator-access`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorAccessWrite {
    /// The identity provider whose people may sign in to the tenant
    /// (`null`: nobody signs in; keys only).
    #[serde(default)]
    pub provider: Option<ProviderName>,
    /// Which groups hold which roles (at most 100).
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub role_mappings: Vec<RoleMapping>,
    /// What destructive operations need (absent: the defaults).
    #[serde(default)]
    pub step_up: Option<StepUpPolicy>,
}

/// A tenant's operator access: who signs in, with which roles, and what
/// destructive operations need.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct OperatorAccess {
    /// The tenant.
    pub tenant: TenantId,
    /// The identity provider its people sign in with.
    pub provider: Option<ProviderName>,
    /// Which groups hold which roles.
    pub role_mappings: Vec<RoleMapping>,
    /// What destructive operations need.
    pub step_up: StepUpPolicy,
    /// Whether SCIM provisions its people (a SCIM token was issued):
    /// then only active SCIM users sign in, with the roles of their SCIM
    /// groups.
    pub scim: bool,
    /// When it was last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A new SCIM bearer token for a tenant (the previous one stops working
/// at once).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ScimToken {
    /// The tenant.
    pub tenant: TenantId,
    /// The token, for the identity provider's SCIM client
    /// (`Authorization: Bearer …`). Only its hash is kept.
    pub token: String,
    /// The SCIM service's base URL for this tenant.
    pub base_url: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
}

/// What a destructive operation needs and the credentials lacked
/// (`step_up_required`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StepUpChallenge {
    /// Sign in again if the last authentication is older than this.
    pub max_age_seconds: u32,
    /// One of these `acr` values is required (empty: any).
    pub acr_values: Vec<String>,
    /// One of these `amr` values is required (empty: any).
    pub amr_values: Vec<String>,
    /// Where a browser re-authenticates with those requirements
    /// (`/v1/auth/login?…`), for a person with a provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_url: Option<String>,
}

/// Query parameters of `GET /v1/admin/operators`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
}

/// A person who may operate the tenant: a SCIM user (in a tenant SCIM
/// provisions), or someone signed in now whose groups hold roles.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct OperatorView {
    /// Their user name.
    pub user_name: Option<String>,
    /// Their display name.
    pub name: Option<String>,
    /// The SCIM user's id, when SCIM provisions them.
    pub scim_id: Option<String>,
    /// Whether they may sign in (a deactivated SCIM user may not).
    pub active: bool,
    /// Their groups.
    pub groups: Vec<String>,
    /// The roles those groups hold in the tenant.
    pub roles: Vec<Role>,
    /// Their console sessions open now.
    pub sessions: u64,
}

/// Answer to `GET /v1/admin/operators`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct OperatorList {
    /// The tenant.
    pub tenant: TenantId,
    /// Its operators, by user name.
    pub items: Vec<OperatorView>,
}

/// Body of `POST /v1/admin/operators/end-sessions`: whose sessions to end
/// (exactly one of the two).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorSessionsEnd {
    /// The person's user name (as SCIM's `userName`).
    #[serde(default)]
    pub user_name: Option<Label>,
    /// The person's subject at the tenant's provider (`sub`).
    #[serde(default)]
    pub subject: Option<Label>,
}

/// Answer to `POST /v1/admin/operators/end-sessions`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct SessionsEnded {
    /// Sessions ended.
    pub ended: u64,
}

/// An identity provider people may sign in with.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ProviderInfo {
    /// Its name.
    pub name: ProviderName,
    /// What to call it.
    pub display_name: String,
    /// Where a browser starts signing in.
    pub login_url: String,
}

/// Answer to `GET /v1/auth/providers`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ProviderList {
    /// The providers.
    pub items: Vec<ProviderInfo>,
}

/// Query parameters of `GET /v1/auth/login`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginParams {
    /// The provider (optional when the deployment has one).
    pub provider: Option<ProviderName>,
    /// Where to go once signed in: a path of this gateway (default
    /// `/v1/whoami`).
    pub return_to: Option<String>,
    /// Ask the provider for an authentication at most this old (`0`: a
    /// new one), for step-up.
    pub max_age: Option<u32>,
    /// Ask for one of these authentication classes (space-separated).
    pub acr_values: Option<String>,
    /// The person's user name, to skip typing it at the provider.
    pub login_hint: Option<String>,
}

/// Query parameters of `GET /v1/auth/callback` (what the provider sends
/// back, RFC 6749 4.1.2 and RFC 9207).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state the sign-in sent.
    pub state: Option<String>,
    /// The issuer answering.
    pub iss: Option<String>,
    /// The provider's error, if it refused.
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

/// A SCIM resource's id in a path.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct ScimPath {
    /// The resource's id.
    pub id: String,
}
