//! Governance reports: posture, access, attestation and activity, each as
//! typed JSON (for pipelines) or CSV (for auditors: RFC 4180, with
//! `Accept: text/csv` or `?format=csv`), over a time range, scoped by the
//! caller's tenant.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::discovery::{DiscoveredIdentity, DiscoveryStatus, ServiceRef};
use crate::ids::{AgentId, DiscoveredAgentId, TenantId};

/// How a report answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// Typed JSON (the default).
    #[default]
    Json,
    /// CSV (RFC 4180), streamed.
    Csv,
}

/// Query of every report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// The tenant (see `TenantScope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// The range's start (inclusive; default: 30 days before `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// The range's end (exclusive; default: now). At most 366 days after `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// `json` or `csv` (default: from `Accept`, else `json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ReportFormat>,
}

/// The time buckets of the activity report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// An hour.
    Hour,
    /// A day (UTC; the default).
    #[default]
    Day,
}

/// Query of the activity report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityParams {
    /// The tenant (see `TenantScope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// The range's start (inclusive; default: 30 days before `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// The range's end (exclusive; default: now). At most 366 days after `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// `json` or `csv` (default: from `Accept`, else `json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ReportFormat>,
    /// The time bucket (default `day`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Bucket>,
}

/// The range a report covers.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ReportRange {
    /// The tenant.
    pub tenant: TenantId,
    /// Start (inclusive).
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub to: DateTime<Utc>,
    /// When the report was computed.
    pub generated_at: DateTime<Utc>,
}

/// Discovered agents by the tenant's decision.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct StatusCounts {
    /// Not yet reviewed.
    pub unreviewed: u64,
    /// Sanctioned.
    pub sanctioned: u64,
    /// Unsanctioned.
    pub unsanctioned: u64,
    /// Ignored.
    pub ignored: u64,
}

/// An AI service in use by agents the tenant has not sanctioned.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ServiceInUse {
    /// The service.
    pub service: ServiceRef,
    /// Ungoverned agents using it in the range that are `unsanctioned` or
    /// `unreviewed`.
    pub agents: u64,
    /// Their requests (all time).
    pub requests: u64,
    /// The latest use.
    pub last_seen: DateTime<Utc>,
}

/// The posture on one day.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PostureDay {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Discovered agents first seen by the day's end.
    pub discovered: u64,
    /// Of today's governed agents, those linked by the day's end.
    pub governed: u64,
}

/// `GET /api/reports/posture`: coverage of the AI the tenant's sources see.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PostureReport {
    /// What it covers.
    #[serde(flatten)]
    pub range: ReportRange,
    /// Discovered agents seen in the range (`ignored` ones included).
    pub discovered: u64,
    /// Of them, linked to a registered agent.
    pub governed: u64,
    /// `governed` / `discovered` (1 when nothing was discovered).
    pub coverage: f64,
    /// Of them, by the tenant's decision.
    pub by_status: StatusCounts,
    /// Of them, without an owner (`ignored` ones left out).
    pub without_owner: u64,
    /// Of them, with their attestation past due (`ignored` ones left out).
    pub overdue_attestations: u64,
    /// AI services used in the range by ungoverned agents that are
    /// `unsanctioned` or `unreviewed`, most agents first.
    pub unsanctioned_services: Vec<ServiceInUse>,
    /// Each day of the range.
    pub trend: Vec<PostureDay>,
}

/// A credential in the access register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An agent API key bound to the agent.
    ApiKey,
    /// A capability token whose subject is the agent.
    Token,
}

/// One credential an agent holds.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AccessRow {
    /// The registered agent.
    pub agent_id: AgentId,
    /// Its name.
    pub agent_name: String,
    /// Who answers for it.
    pub owner: String,
    /// `active` or `suspended`.
    pub agent_status: String,
    /// The credential's kind; absent when the agent holds none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialKind>,
    /// The key id or the token's jti.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// The key's environment (`live`, `shadow`, `test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The token's caveats as minted (tools, actions, limits…); `null` for
    /// keys, which carry none, and for tokens minted before caveats were
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caveats: Option<serde_json::Value>,
    /// Issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<DateTime<Utc>>,
    /// Expires (tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// The credential's latest decision in the audit log (in the range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// The discovered agents linked to the agent.
    pub discovered: Vec<DiscoveredAgentId>,
}

/// `GET /api/reports/access`: the access register.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AccessReport {
    /// What it covers.
    #[serde(flatten)]
    pub range: ReportRange,
    /// Each registered agent × each credential it holds (an agent holding
    /// none has one row without a credential), by agent then credential.
    pub rows: Vec<AccessRow>,
    /// More rows exist than the report holds (50,000).
    pub truncated: bool,
}

/// What an attestation report lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// An attestation made in the range.
    Attestation,
    /// A discovered agent whose attestation is past due now.
    Overdue,
}

/// A row of the attestation report.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceRow {
    /// An attestation, or an overdue agent.
    pub kind: EvidenceKind,
    /// The discovered agent.
    pub discovered_id: DiscoveredAgentId,
    /// Its identity.
    pub identity: DiscoveredIdentity,
    /// Its service's id.
    pub service: String,
    /// Its owner (now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Its status (now).
    pub status: DiscoveryStatus,
    /// The attestation's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation_id: Option<String>,
    /// Who attested (the principal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attester: Option<String>,
    /// The person who attested: `<issuer>#<subject>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// What they attested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// When (the attestation's time; for an overdue agent, its last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attested_at: Option<DateTime<Utc>>,
    /// When the next attestation is (or was) due.
    pub due_at: DateTime<Utc>,
}

/// `GET /api/reports/attestation`: the evidence.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AttestationReport {
    /// What it covers.
    #[serde(flatten)]
    pub range: ReportRange,
    /// How many days an attestation holds in the tenant.
    pub attestation_days: u32,
    /// Attestations made in the range (newest first), then the agents
    /// overdue now (longest overdue first).
    pub rows: Vec<EvidenceRow>,
    /// More rows exist than the report holds (50,000).
    pub truncated: bool,
}

/// Decisions of one bucket with the same verdict, stage, agent, tool and
/// environment.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ActivityRow {
    /// The bucket's start.
    pub bucket_start: DateTime<Utc>,
    /// The verdict.
    pub verdict: String,
    /// The stage that settled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The tool (tool calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `live`, `shadow` or `test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// How many decisions.
    pub decisions: u64,
}

/// `GET /api/reports/activity`: decisions over time, from the audit log.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ActivityReport {
    /// What it covers.
    #[serde(flatten)]
    pub range: ReportRange,
    /// The bucket.
    pub bucket: Bucket,
    /// Decision entries in the range: what `GET /v1/admin/audit?kind=decision`
    /// lists for the same `from` and `to`.
    pub decisions: u64,
    /// By verdict.
    pub by_verdict: BTreeMap<String, u64>,
    /// By bucket, verdict, stage, agent, tool and environment (at most
    /// 50,000 rows; the CSV has them all).
    pub rows: Vec<ActivityRow>,
    /// More rows exist than `rows` holds: ask for CSV or a shorter range.
    pub truncated: bool,
}
