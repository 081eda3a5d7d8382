//! Capability tokens: minted for an agent, attenuated offline, revoked by
//! jti. The byte format is specified in `docs/tokens.md`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, TenantId, id_type};
use crate::intents::ActionType;
use crate::money::UsdAmount;
use crate::pagination::page_type;

fn jti_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

id_type!(
    /// A token identifier (`jti`): letters, digits, `_` and `-`.
    Jti, kind = "jti", max = 64, pattern = "^[A-Za-z0-9_-]{1,64}$",
    first = jti_char, rest = jti_char
);

fn glob_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | '?' | ':' | '/')
}

id_type!(
    /// A tool name pattern: `*` matches any run of characters, `?` one
    /// character (`github.*`, `*.read_*`).
    ToolPattern, kind = "tool pattern", max = 200, pattern = "^[A-Za-z0-9_.*?:/-]{1,200}$",
    first = glob_char, rest = glob_char
);

fn upstream_first(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn upstream_rest(c: char) -> bool {
    upstream_first(c) || c == '-'
}

id_type!(
    /// An upstream MCP server's name: lowercase letters, digits and `-`.
    /// Its tools are exposed as `<name>.<tool>`.
    UpstreamName, kind = "upstream name", max = 32, pattern = "^[a-z0-9][a-z0-9-]{0,31}$",
    first = upstream_first, rest = upstream_rest
);

/// Body of `POST /v1/admin/mint`. Every restriction becomes a caveat of the
/// token; absent ones do not restrict.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenMint {
    /// The agent the token acts for.
    pub subject: AgentId,
    /// Lifetime in seconds (1 to 31,536,000).
    #[schemars(range(min = 1, max = 31_536_000))]
    pub ttl_seconds: u32,
    /// Tools the token may call (patterns over `<upstream>.<tool>`; at
    /// least one).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub tools: Option<Vec<ToolPattern>>,
    /// Tools it may never call, even if `tools` allows them.
    #[serde(default)]
    pub deny_tools: Option<Vec<ToolPattern>>,
    /// Upstream servers it may reach (at least one).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub servers: Option<Vec<UpstreamName>>,
    /// Action types it may declare or call (at least one).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub action_types: Option<Vec<ActionType>>,
    /// Most allowed calls over the token's life.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_calls: Option<u64>,
    /// Most summed financial exposure of allowed calls (USD, cent precision;
    /// at most 2^53 − 1 cents, as the token format holds it).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0, max = 90_071_992_547_409.0))]
    pub max_usd: Option<UsdAmount>,
    /// Most allowed calls per minute.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub rate_per_min: Option<u32>,
    /// Bind a person's fresh authentication to the token: the minting
    /// person must pass the tenant's step-up (a recent, strong enough
    /// sign-in, else `401 step_up_required`), and high- and critical-risk
    /// actions are then allowed only within the gateway's step-up window
    /// (`--step-up-window-seconds`, 15 minutes by default) after that
    /// person authenticated. An administrative key may ask only while the
    /// tenant exempts keys from step-up; the window then counts from the
    /// mint.
    #[serde(default)]
    pub step_up: Option<bool>,
    /// The gateway audience the token is valid at (default: this
    /// gateway's; 1 to 256 bytes, printable ASCII in the schema).
    #[serde(default)]
    #[schemars(length(min = 1, max = 256), regex(pattern = "^[ -~]+$"))]
    pub audience: Option<String>,
}

/// Answer to `POST /v1/admin/mint`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct MintedToken {
    /// The token, to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Its identifier.
    pub jti: Jti,
    /// The signing key it was minted with.
    pub kid: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The agent it acts for.
    pub subject: AgentId,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

/// Body of `POST /v1/admin/revoke`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRevoke {
    /// The jti to revoke: every token whose jti chain contains it stops
    /// working (its own and everything attenuated from it).
    pub jti: Jti,
    /// Why (kept in the revocation list and the audit log; not blank).
    #[schemars(length(min = 1, max = 500), regex(pattern = "\\S"))]
    pub reason: String,
}

/// A revoked jti.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Revocation {
    /// The revoked jti.
    pub jti: Jti,
    /// The tenant.
    pub tenant: TenantId,
    /// Why.
    pub reason: String,
    /// When.
    pub revoked_at: DateTime<Utc>,
    /// Who (`superadmin` or `key:<id>`).
    pub revoked_by: String,
}

/// Query parameters of `GET /v1/admin/revocations`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

page_type!(
    /// A page of revocations, oldest first.
    RevocationPage, Revocation
);
