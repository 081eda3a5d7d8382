//! Upstream MCP servers whose tools agents call through the gateway.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use crate::intents::{ActionType, Sensitivity};
use crate::pagination::page_type;
use crate::tokens::UpstreamName;

/// What the schema says of an upstream's `url`: `http` or `https`, a host
/// name or IPv4 address, an optional port up to 65535, and a path and query
/// in RFC 3986 characters. (The gateway also takes IPv6 literals and
/// credentials in the URL; the schema does not promise them.)
const URL_PATTERN: &str = concat!(
    r"^https?://[A-Za-z0-9.-]+",
    r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    r"([/?][A-Za-z0-9._~!$&'()*+,;=:@/?%-]*)?$"
);

/// A credential the gateway sends to the upstream on every request. Agents
/// never see it; the API never returns it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamCredential {
    /// Header name (for example `Authorization`): an HTTP token.
    #[schemars(length(min = 1, max = 100), regex(pattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"))]
    pub header: String,
    /// Header value (for example `Bearer …`): visible ASCII, spaces and tabs.
    #[schemars(length(min = 1, max = 4096), regex(pattern = "^[\t\x20-\x7E]+$"))]
    pub value: String,
}

/// How one tool's calls are presented to the pipeline, overriding what is
/// derived from its MCP annotations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolOverride {
    /// The action type (default: from the annotations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<ActionType>,
    /// The verb (default: the tool's name), as an intent's `verb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::intents::Verb>")]
    pub verb: Option<String>,
    /// The target's sensitivity (default: `internal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Sensitivity>,
    /// Whether the action can be undone (default: from the annotations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversible: Option<bool>,
    /// JSON Pointer into the arguments holding the financial exposure in USD
    /// (for example `/amount_usd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^/"))]
    pub financial_exposure_from: Option<String>,
    /// JSON Pointer into the arguments holding the audience size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^/"))]
    pub audience_size_from: Option<String>,
}

/// Body of `POST /v1/admin/upstreams`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamCreate {
    /// Name, unique among the upstreams the tenant sees.
    pub name: UpstreamName,
    /// The upstream's MCP endpoint (Streamable HTTP): an absolute `http`
    /// or `https` URL.
    #[schemars(regex(path = "URL_PATTERN"))]
    pub url: String,
    /// The credential to present to it.
    #[serde(default)]
    pub credential: Option<UpstreamCredential>,
    /// Per-tool overrides of the intent mapping, by tool name (without the
    /// upstream prefix).
    #[serde(default)]
    pub tools: BTreeMap<String, ToolOverride>,
}

/// Where an upstream was configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamSource {
    /// `lictor serve --upstream NAME=URL`: every tenant sees it.
    Config,
    /// `POST /v1/admin/upstreams`: the tenant's own.
    Api,
}

/// An upstream MCP server.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Upstream {
    /// Name; its tools are `<name>.<tool>`.
    pub name: UpstreamName,
    /// MCP endpoint.
    pub url: String,
    /// The owning tenant (absent for upstreams from the configuration).
    pub tenant: Option<TenantId>,
    /// Where it was configured.
    pub source: UpstreamSource,
    /// Whether a credential is set (it is never shown).
    pub has_credential: bool,
    /// Per-tool overrides.
    pub tools: BTreeMap<String, ToolOverride>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// Path parameters naming an upstream.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct UpstreamPath {
    /// The upstream.
    pub name: UpstreamName,
}

/// Query parameters of `GET /v1/admin/upstreams`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

page_type!(
    /// A page of upstreams, by name.
    UpstreamPage, Upstream
);
