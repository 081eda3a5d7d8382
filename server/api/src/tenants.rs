//! Tenants: the unit of isolation. Every other object belongs to one.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use crate::pagination::page_type;
use crate::text::{Label, double_option};

/// Body of `POST /v1/admin/tenants`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// The tenant's identifier (lowercase letters, digits and `-`).
    pub id: TenantId,
    /// Display name.
    pub name: Label,
    /// Rate limits other than the defaults (docs/api.md, "Rate limits").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimitsUpdate>,
}

/// A token bucket: up to `burst` requests at once, refilled at
/// `per_minute` requests a minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The sustained rate, in requests a minute (1–6,000,000).
    #[schemars(range(min = 1, max = 6000000))]
    pub per_minute: u32,
    /// The requests allowed at once (1–100,000).
    #[schemars(range(min = 1, max = 100000))]
    pub burst: u32,
}

impl RateLimit {
    /// The highest `per_minute` (100,000 a second).
    pub const MAX_PER_MINUTE: u32 = 6_000_000;
    /// The highest `burst`.
    pub const MAX_BURST: u32 = 100_000;
    /// Each credential's limit unless its tenant sets one: 50 a second,
    /// 100 at once.
    pub const DEFAULT_PER_KEY: RateLimit = RateLimit { per_minute: 3_000, burst: 100 };
    /// A tenant's limit unless it sets one: 500 a second, 1,000 at once.
    pub const DEFAULT_PER_TENANT: RateLimit = RateLimit { per_minute: 30_000, burst: 1_000 };
}

/// A tenant's rate limits. They bind its `live` and `shadow` credentials
/// (API keys of either role, and capability tokens, each counted against
/// its root token); `test` keys and the superadmin have none. A request
/// takes one unit from its credential's bucket and one from the tenant's
/// (a batch one per intent), or neither: past either, `429 rate_limited`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimits {
    /// Each credential's own bucket.
    pub per_key: RateLimit,
    /// The bucket all of the tenant's credentials share.
    pub per_tenant: RateLimit,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits { per_key: RateLimit::DEFAULT_PER_KEY, per_tenant: RateLimit::DEFAULT_PER_TENANT }
    }
}

/// A change to a tenant's rate limits (superadmin only): a limit given
/// replaces it, `null` restores the default, an absent one is kept.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsUpdate {
    /// Each credential's own bucket.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub per_key: Option<Option<RateLimit>>,
    /// The bucket all of the tenant's credentials share.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub per_tenant: Option<Option<RateLimit>>,
}

/// The policy bundle a tenant's decisions are evaluated with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyRef {
    /// SHA-256 of the bundle's canonical form (hex).
    pub bundle_hash: String,
    /// The bundle's name (`default` for the built-in bundle).
    pub bundle_name: String,
}

/// What a tenant's decisions do while the store cannot be written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreFailureMode {
    /// Every decision fails with `503 store_unavailable` (the default):
    /// nothing is answered that is not recorded.
    #[default]
    Closed,
    /// `shadow` decisions (never enforced) are still answered, `approve`
    /// with `enforced: false`, without an audit reference and with the
    /// reason `store_unavailable_unaudited`; `live` and `test` fail closed.
    OpenInShadow,
}

impl StoreFailureMode {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreFailureMode::Closed => "closed",
            StoreFailureMode::OpenInShadow => "open_in_shadow",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<StoreFailureMode> {
        [StoreFailureMode::Closed, StoreFailureMode::OpenInShadow].into_iter().find(|m| m.as_str() == s)
    }
}

/// Body of `PATCH /v1/admin/tenants/{tenant_id}`: the fields to change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    /// What decisions do while the store cannot be written.
    #[serde(default)]
    pub store_failure: Option<StoreFailureMode>,
    /// Whether promoting a policy needs a second administrator (propose,
    /// then approve). A tenant administrator may turn it on; only the
    /// superadmin may turn it off.
    #[serde(default)]
    pub policy_two_person_rule: Option<bool>,
    /// The tenant's rate limits (superadmin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimitsUpdate>,
}

/// A tenant, with a summary of its activity.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Tenant {
    /// Identifier.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
    /// The active policy bundle.
    pub active_policy: PolicyRef,
    /// Escalated decisions waiting for a human.
    pub pending_approvals: u64,
    /// Decisions made in the last 24 hours (all environments).
    pub decisions_24h: u64,
    /// What decisions do while the store cannot be written.
    pub store_failure: StoreFailureMode,
    /// Whether promoting a policy needs a second administrator.
    pub policy_two_person_rule: bool,
    /// The rate limits of its `live` and `shadow` credentials.
    pub rate_limits: RateLimits,
}

/// Answer to `POST /v1/admin/tenants`: the tenant and its webhook secret,
/// shown only here and on rotation.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct TenantCreated {
    /// The new tenant.
    pub tenant: Tenant,
    /// Secret used to sign webhook deliveries (`Lictor-Signature`).
    pub webhook_secret: String,
}

/// A new webhook signing secret (the previous one stops working at once).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct WebhookSecret {
    /// The tenant.
    pub tenant: TenantId,
    /// The new secret.
    pub webhook_secret: String,
    /// When it was issued.
    pub rotated_at: DateTime<Utc>,
}

/// Path parameters naming a tenant.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct TenantPath {
    /// The tenant.
    pub tenant_id: TenantId,
}

/// Query parameters of `GET /v1/admin/tenants`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantListParams {
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

page_type!(
    /// A page of tenants, ordered by id.
    TenantPage, Tenant
);
