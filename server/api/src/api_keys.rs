//! API keys: how agents and tenant administrators authenticate.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, ApiKeyId, TenantId};
use crate::pagination::page_type;
use crate::tenants::RateLimit;
use crate::text::Label;

/// The environment a key acts in. It decides how verdicts are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Verdicts are enforced and audited.
    Live,
    /// Everything runs and is audited, but the answer is always `approve`
    /// (`enforced: false`) with the real verdict in `would_be_verdict`.
    Shadow,
    /// Everything runs; nothing is audited and no budget is consumed.
    Test,
}

impl Environment {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Shadow => "shadow",
            Environment::Test => "test",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<Environment> {
        [Environment::Live, Environment::Shadow, Environment::Test].into_iter().find(|e| e.as_str() == s)
    }
}

/// What a key, or a person, may do in a tenant (docs/operators.md lists
/// every operation each role may call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Declares intents, calls tools and reads its decisions (keys only).
    Agent,
    /// The tenant administrator: everything in its tenant.
    Admin,
    /// Reads and decides approvals, reads intents and agents.
    Approver,
    /// Reads everything (audit, decisions, settings), changes nothing.
    Auditor,
    /// Writes, dry-runs, promotes and rolls back policies.
    PolicyAuthor,
    /// Sends discovery records to `POST /api/discovery/ingest`, and
    /// nothing else (keys only): the credential a proxy or SIEM pushes with.
    Ingest,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] =
        [Role::Agent, Role::Admin, Role::Approver, Role::Auditor, Role::PolicyAuthor, Role::Ingest];

    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::PolicyAuthor => "policy_author",
            Role::Ingest => "ingest",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether it is a person's role (every one but `agent` and `ingest`).
    pub const fn is_operator(self) -> bool {
        !matches!(self, Role::Agent | Role::Ingest)
    }
}

/// Body of `POST /v1/admin/api-keys`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// The tenant the key belongs to.
    pub tenant: TenantId,
    /// The environment the key acts in.
    pub environment: Environment,
    /// What the key may do.
    pub role: Role,
    /// A name to recognise the key by.
    pub name: Label,
    /// For agent keys: restrict the key to this agent. Intents naming
    /// another agent are blocked at the `identity` stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// An API key's metadata. The secret itself is never shown again.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ApiKey {
    /// Identifier.
    pub id: ApiKeyId,
    /// The tenant.
    pub tenant: TenantId,
    /// The environment it acts in.
    pub environment: Environment,
    /// What it may do.
    pub role: Role,
    /// Its name.
    pub name: String,
    /// The first characters of the key, to recognise it in logs.
    pub prefix: String,
    /// The agent it is restricted to, if any.
    pub agent_id: Option<AgentId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; revoked keys authenticate nothing.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The person it acts for: who made it (or made the key that made
    /// it). Its actions count as theirs in the two-person rule; absent for
    /// keys the superadmin key made, which stand for themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<crate::operators::Person>,
    /// The rate limit of the key's own bucket, set by its tenant (the
    /// tenant's shared bucket applies too); `null` for `test` keys, which
    /// have none.
    pub rate_limit: Option<RateLimit>,
}

/// Answer to `POST /v1/admin/api-keys`: the secret key, shown once.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyCreated {
    /// The key, to send as `Authorization: Bearer <key>`. Store it now:
    /// only its hash is kept.
    pub key: String,
    /// Its metadata.
    pub api_key: ApiKey,
}

/// Path parameters naming an API key.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct ApiKeyPath {
    /// The key's id.
    pub key_id: ApiKeyId,
}

/// Query parameters of `GET /v1/admin/api-keys`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyListParams {
    /// Only this tenant's keys (required for the superadmin key to narrow
    /// the list; a tenant admin always sees its own tenant).
    pub tenant: Option<TenantId>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

page_type!(
    /// A page of API keys, oldest first.
    ApiKeyPage, ApiKey
);
