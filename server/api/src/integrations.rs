//! Integrations: audit sinks (where the audit log is delivered) and
//! notification channels (where operators are alerted).
//!
//! A sink or channel is configured by environment (`LICTOR_SINK_<NAME>`,
//! every tenant) or per tenant by the admin API; both take the settings
//! below, one object per kind. Secret fields are write-only: accepted on
//! input, never serialised back (the schema marks them `writeOnly`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, id_type};
use crate::pagination::page_type;

/// What the schema says of a URL: `http` or `https`, a host name or IPv4
/// address, an optional port up to 65535, and a path and query in RFC 3986
/// characters (the gateway also takes IPv6 literals).
const URL_PATTERN: &str = concat!(
    r"^https?://[A-Za-z0-9.-]+",
    r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    r"([/?][A-Za-z0-9._~!$&'()*+,;=:@/?%-]*)?$"
);

/// One line of text: no control character.
const ONE_LINE: &str = r"^[^\u0000-\u001F\u007F-\u009F]+$";

/// A secret: visible ASCII, no spaces.
const SECRET_PATTERN: &str = r"^[\x21-\x7E]+$";

/// Where the audit log goes: one of the sink kinds, with its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkSettings {
    /// An HTTPS endpoint of the operator's own (a relay to Lambda, Logic
    /// Apps, MuleSoft, Service Bus…), each batch HMAC-signed like async
    /// decisions.
    Webhook(WebhookSink),
    /// Splunk's HTTP Event Collector.
    Splunk(SplunkSink),
    /// Datadog's Logs intake API (v2).
    Datadog(DatadogSink),
    /// Microsoft Sentinel, through Azure Monitor's Logs Ingestion API (a
    /// Data Collection Endpoint and Rule).
    Sentinel(SentinelSink),
    /// An S3 bucket (or any S3-compatible store): gzipped NDJSON objects,
    /// Hive-partitioned for Athena.
    S3(S3Sink),
}

impl SinkSettings {
    /// The kind's name, as in `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkSettings::Webhook(_) => "webhook",
            SinkSettings::Splunk(_) => "splunk",
            SinkSettings::Datadog(_) => "datadog",
            SinkSettings::Sentinel(_) => "sentinel",
            SinkSettings::S3(_) => "s3",
        }
    }

    /// Where it delivers, without credentials.
    pub fn endpoint(&self) -> String {
        match self {
            SinkSettings::Webhook(s) => s.url.clone(),
            SinkSettings::Splunk(s) => s.url.clone(),
            SinkSettings::Datadog(s) => s.intake_url(),
            SinkSettings::Sentinel(s) => {
                format!(
                    "{}/dataCollectionRules/{}/streams/{}",
                    s.endpoint.trim_end_matches('/'),
                    s.rule_id,
                    s.stream
                )
            }
            SinkSettings::S3(s) => match (&s.endpoint, s.path_style) {
                (Some(endpoint), true) => {
                    format!("{}/{}/{}", endpoint.trim_end_matches('/'), s.bucket, s.prefix)
                }
                (Some(endpoint), false) => match endpoint.split_once("://") {
                    Some((scheme, rest)) => {
                        format!("{scheme}://{}.{}/{}", s.bucket, rest.trim_end_matches('/'), s.prefix)
                    }
                    None => endpoint.clone(),
                },
                (None, _) => format!("s3://{}/{}", s.bucket, s.prefix),
            },
        }
    }

    /// The largest lag, in seconds, before the sink counts as lagging.
    pub fn max_lag_seconds(&self) -> u64 {
        u64::from(match self {
            SinkSettings::Webhook(s) => s.max_lag_seconds,
            SinkSettings::Splunk(s) => s.max_lag_seconds,
            SinkSettings::Datadog(s) => s.max_lag_seconds,
            SinkSettings::Sentinel(s) => s.max_lag_seconds,
            SinkSettings::S3(s) => s.max_lag_seconds,
        })
    }
}

fn default_max_lag_seconds() -> u32 {
    300
}

fn default_max_batch() -> u32 {
    500
}

/// A webhook sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSink {
    /// The endpoint each batch is `POST`ed to.
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub url: String,
    /// The HMAC-SHA256 key of the `Lictor-Signature` header (at least 16
    /// characters). Write-only.
    #[serde(skip_serializing)]
    #[schemars(regex(path = "SECRET_PATTERN"), length(min = 16, max = 512))]
    pub secret: Option<String>,
    /// Most events in one request (1–1000, default 500).
    #[serde(default = "default_max_batch")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_batch: u32,
    /// Seconds of lag before the sink counts as lagging (1–2592000, default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1, max = 2592000))]
    pub max_lag_seconds: u32,
}

/// A Splunk HTTP Event Collector sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplunkSink {
    /// The collector's base URL (for example `https://splunk.example:8088`);
    /// events go to `<url>/services/collector/event`.
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub url: String,
    /// The HEC token (sent as `Authorization: Splunk <token>`). Write-only.
    #[serde(skip_serializing)]
    #[schemars(regex(path = "SECRET_PATTERN"), length(min = 1, max = 512))]
    pub token: Option<String>,
    /// The index events go to (default: the token's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), regex(path = "ONE_LINE"))]
    pub index: Option<String>,
    /// The events' `source` (default `lictor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), regex(path = "ONE_LINE"))]
    pub source: Option<String>,
    /// The events' `sourcetype` (default `lictor:audit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), regex(path = "ONE_LINE"))]
    pub sourcetype: Option<String>,
    /// The events' `host` (default: none, Splunk uses the sender's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), regex(path = "ONE_LINE"))]
    pub host: Option<String>,
    /// Whether the token has indexer acknowledgement on: batches are then
    /// sent on a channel and count as delivered once Splunk acknowledges
    /// them indexed.
    #[serde(default)]
    pub ack: bool,
    /// Largest request body, in bytes (default 1 000 000, HEC's default
    /// `max_content_length`).
    #[serde(default = "default_splunk_bytes")]
    #[schemars(range(min = 65536, max = 838860800))]
    pub max_batch_bytes: u64,
    /// Seconds of lag before the sink counts as lagging (1–2592000, default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1, max = 2592000))]
    pub max_lag_seconds: u32,
}

fn default_splunk_bytes() -> u64 {
    1_000_000
}

/// A Datadog site.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatadogSite {
    /// `datadoghq.com`.
    #[default]
    Us1,
    /// `us3.datadoghq.com`.
    Us3,
    /// `us5.datadoghq.com`.
    Us5,
    /// `datadoghq.eu`.
    Eu1,
    /// `ap1.datadoghq.com`.
    Ap1,
    /// `ap2.datadoghq.com`.
    Ap2,
    /// `uk1.datadoghq.com`.
    Uk1,
    /// `ddog-gov.com` (US1-FED).
    Us1Fed,
    /// `us2.ddog-gov.com` (US2-FED).
    Us2Fed,
}

impl DatadogSite {
    /// The site's domain.
    pub fn domain(self) -> &'static str {
        match self {
            DatadogSite::Us1 => "datadoghq.com",
            DatadogSite::Us3 => "us3.datadoghq.com",
            DatadogSite::Us5 => "us5.datadoghq.com",
            DatadogSite::Eu1 => "datadoghq.eu",
            DatadogSite::Ap1 => "ap1.datadoghq.com",
            DatadogSite::Ap2 => "ap2.datadoghq.com",
            DatadogSite::Uk1 => "uk1.datadoghq.com",
            DatadogSite::Us1Fed => "ddog-gov.com",
            DatadogSite::Us2Fed => "us2.ddog-gov.com",
        }
    }
}

/// A Datadog Logs sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatadogSink {
    /// The Datadog site (default `us1`).
    #[serde(default)]
    pub site: DatadogSite,
    /// The intake's base URL, when not the site's
    /// (`https://http-intake.logs.<site>`): a proxy's, for instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub url: Option<String>,
    /// The API key (sent as `DD-API-KEY`). Write-only.
    #[serde(skip_serializing)]
    #[schemars(regex(path = "SECRET_PATTERN"), length(min = 1, max = 512))]
    pub api_key: Option<String>,
    /// The logs' `service` (default `lictor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), regex(path = "ONE_LINE"))]
    pub service: Option<String>,
    /// The logs' `ddsource` (default `lictor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), regex(path = "ONE_LINE"))]
    pub source: Option<String>,
    /// Extra `ddtags`, comma-separated `key:value` pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000), regex(path = "ONE_LINE"))]
    pub tags: Option<String>,
    /// Seconds of lag before the sink counts as lagging (1–2592000, default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1, max = 2592000))]
    pub max_lag_seconds: u32,
}

impl DatadogSink {
    /// Where logs are posted: `<base>/api/v2/logs`.
    pub fn intake_url(&self) -> String {
        let base = match &self.url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("https://http-intake.logs.{}", self.site.domain()),
        };
        format!("{base}/api/v2/logs")
    }
}

/// A Microsoft Sentinel sink: Azure Monitor's Logs Ingestion API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SentinelSink {
    /// The Data Collection Endpoint's logs ingestion URL (for example
    /// `https://my-dce-abcd.eastus-1.ingest.monitor.azure.com`).
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub endpoint: String,
    /// The Data Collection Rule's immutable id (`dcr-…`).
    #[schemars(regex(pattern = r"^dcr-[0-9a-fA-F]{32}$"))]
    pub rule_id: String,
    /// The rule's input stream (for example `Custom-LictorAudit_CL`).
    #[schemars(regex(pattern = r"^Custom-[A-Za-z0-9_]{1,100}$"))]
    pub stream: String,
    /// The Entra ID (Azure AD) tenant of the service principal.
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^[A-Za-z0-9.-]+$"))]
    pub tenant_id: String,
    /// The service principal's application (client) id.
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^[A-Za-z0-9-]+$"))]
    pub client_id: String,
    /// The service principal's client secret. Write-only.
    #[serde(skip_serializing)]
    #[schemars(regex(path = "SECRET_PATTERN"), length(min = 1, max = 1024))]
    pub client_secret: Option<String>,
    /// The Entra ID authority (default `https://login.microsoftonline.com`;
    /// another for sovereign clouds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub authority: Option<String>,
    /// The token's scope (default `https://monitor.azure.com//.default`;
    /// sovereign clouds have their own, such as
    /// `https://monitor.azure.us//.default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https://[A-Za-z0-9.-]+//\.default$"), length(max = 256))]
    pub scope: Option<String>,
    /// Seconds of lag before the sink counts as lagging (1–2592000, default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1, max = 2592000))]
    pub max_lag_seconds: u32,
}

/// An S3 sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Sink {
    /// The bucket.
    #[schemars(length(min = 3, max = 63), regex(pattern = r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$"))]
    pub bucket: String,
    /// The bucket's region (default `us-east-1`).
    #[serde(default = "default_region")]
    #[schemars(length(min = 1, max = 50), regex(pattern = r"^[a-z0-9-]+$"))]
    pub region: String,
    /// A key prefix, ending in `/` (default: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 512), regex(pattern = r"^([A-Za-z0-9!_.*'()=-]+/)*$"))]
    pub prefix: String,
    /// An S3-compatible endpoint (MinIO, Ceph, R2…) instead of AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub endpoint: Option<String>,
    /// Path-style requests (`<endpoint>/<bucket>/<key>`), as most
    /// S3-compatible stores want.
    #[serde(default)]
    pub path_style: bool,
    /// The access key id; without one, the AWS credential chain of the
    /// gateway's environment (variables, web identity, instance profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9]+$"))]
    pub access_key_id: Option<String>,
    /// The secret access key. Write-only.
    #[serde(skip_serializing)]
    #[schemars(regex(path = "SECRET_PATTERN"), length(min = 1, max = 512))]
    pub secret_access_key: Option<String>,
    /// Most events in one object (1–100 000, default 10 000).
    #[serde(default = "default_s3_batch")]
    #[schemars(range(min = 1, max = 100000))]
    pub max_batch: u32,
    /// Seconds of lag before the sink counts as lagging (1–2592000, default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1, max = 2592000))]
    pub max_lag_seconds: u32,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_s3_batch() -> u32 {
    10_000
}

fn integration_id_first(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn integration_id_rest(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-')
}

fn integration_name_rest(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

id_type!(
    /// An integration: `itg_…` for one made through the API, `env:<name>`
    /// for one the gateway's environment configures.
    IntegrationId, kind = "integration id", max = 80, pattern = "^[a-z0-9][A-Za-z0-9_:-]{0,79}$",
    first = integration_id_first, rest = integration_id_rest
);

id_type!(
    /// An integration's name, unique within its tenant: lowercase letters,
    /// digits and `-`.
    IntegrationName, kind = "integration name", max = 64, pattern = "^[a-z0-9][a-z0-9-]{0,63}$",
    first = integration_id_first, rest = integration_name_rest
);

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An enforced decision blocked an action (`warning`; `info` in shadow).
    Denial,
    /// A decision needs a human: an approval request was opened (`warning`).
    Escalation,
    /// An approval request expired undecided (`warning`).
    ApprovalTimeout,
    /// A decision asked for a step-up the token lacked (`warning`).
    StepUpRequired,
    /// A capability token did not allow the action (`warning`).
    CapabilityFailure,
    /// A budget was exhausted (`warning`).
    BudgetFailure,
    /// The audit log no longer verifies: tampering or damage (`critical`).
    AuditVerificationFailure,
    /// An audit sink set events aside as dead letters (`error`).
    SinkDeadLetter,
    /// An audit sink lags beyond its limit (`error`).
    SinkLagging,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 9] = [
        AlertKind::Denial,
        AlertKind::Escalation,
        AlertKind::ApprovalTimeout,
        AlertKind::StepUpRequired,
        AlertKind::CapabilityFailure,
        AlertKind::BudgetFailure,
        AlertKind::AuditVerificationFailure,
        AlertKind::SinkDeadLetter,
        AlertKind::SinkLagging,
    ];

    /// The name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Denial => "denial",
            AlertKind::Escalation => "escalation",
            AlertKind::ApprovalTimeout => "approval_timeout",
            AlertKind::StepUpRequired => "step_up_required",
            AlertKind::CapabilityFailure => "capability_failure",
            AlertKind::BudgetFailure => "budget_failure",
            AlertKind::AuditVerificationFailure => "audit_verification_failure",
            AlertKind::SinkDeadLetter => "sink_dead_letter",
            AlertKind::SinkLagging => "sink_lagging",
        }
    }

    /// Whether it is a condition that holds until it clears (and is then
    /// resolved), rather than a stream of events.
    pub fn is_condition(self) -> bool {
        matches!(
            self,
            AlertKind::AuditVerificationFailure | AlertKind::SinkDeadLetter | AlertKind::SinkLagging
        )
    }
}

/// How serious an alert is.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth a look.
    #[default]
    Warning,
    /// Something is not working.
    Error,
    /// Act now.
    Critical,
}

impl Severity {
    /// The name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// A routing rule: alerts of these kinds, at least this severe, go to the
/// channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The kinds (empty: every kind).
    #[serde(default)]
    pub events: std::collections::BTreeSet<AlertKind>,
    /// The least severity (default `warning`).
    #[serde(default)]
    pub min_severity: Severity,
}

fn default_routes() -> Vec<Route> {
    vec![Route { events: std::collections::BTreeSet::new(), min_severity: Severity::Warning }]
}

fn default_rate_limit() -> u32 {
    300
}

/// Where operators are alerted: one of the channel kinds, with its
/// settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelSettings {
    /// A Slack incoming webhook (Block Kit messages).
    Slack(SlackChannel),
    /// A Microsoft Teams Workflows (or incoming) webhook (Adaptive Cards).
    Teams(TeamsChannel),
    /// PagerDuty's Events API v2 (trigger and resolve, with dedup keys).
    Pagerduty(PagerDutyChannel),
    /// An endpoint of the operator's own, each alert HMAC-signed.
    Webhook(WebhookChannel),
}

impl ChannelSettings {
    /// The kind's name, as in `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSettings::Slack(_) => "slack",
            ChannelSettings::Teams(_) => "teams",
            ChannelSettings::Pagerduty(_) => "pagerduty",
            ChannelSettings::Webhook(_) => "webhook",
        }
    }

    /// Where it posts, without secrets (a Slack or Teams webhook URL is a
    /// secret: only its host is shown).
    pub fn endpoint(&self) -> String {
        let host_of = |url: &Option<String>| {
            url.as_deref()
                .and_then(|u| u.split_once("://"))
                .map(|(scheme, rest)| {
                    format!("{scheme}://{}/…", rest.split(['/', '?']).next().unwrap_or_default())
                })
                .unwrap_or_default()
        };
        match self {
            ChannelSettings::Slack(s) => host_of(&s.webhook_url),
            ChannelSettings::Teams(s) => host_of(&s.webhook_url),
            ChannelSettings::Pagerduty(s) => s.events_url().to_string(),
            ChannelSettings::Webhook(s) => s.url.clone(),
        }
    }

    /// The routing rules.
    pub fn routes(&self) -> &[Route] {
        match self {
            ChannelSettings::Slack(s) => &s.routes,
            ChannelSettings::Teams(s) => &s.routes,
            ChannelSettings::Pagerduty(s) => &s.routes,
            ChannelSettings::Webhook(s) => &s.routes,
        }
    }

    /// Seconds between two alerts of one kind for one tenant.
    pub fn rate_limit_seconds(&self) -> u32 {
        match self {
            ChannelSettings::Slack(s) => s.rate_limit_seconds,
            ChannelSettings::Teams(s) => s.rate_limit_seconds,
            ChannelSettings::Pagerduty(s) => s.rate_limit_seconds,
            ChannelSettings::Webhook(s) => s.rate_limit_seconds,
        }
    }
}

/// A Slack channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackChannel {
    /// The incoming webhook's URL (`https://hooks.slack.com/services/…`).
    /// Write-only: it is the credential.
    #[serde(skip_serializing)]
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub webhook_url: Option<String>,
    /// Which alerts go there (default: every kind, `warning` and above).
    #[serde(default = "default_routes")]
    #[schemars(length(max = 20))]
    pub routes: Vec<Route>,
    /// Seconds between two alerts of one kind for one tenant; the ones in
    /// between are counted into the next (default 300).
    #[serde(default = "default_rate_limit")]
    #[schemars(range(min = 0, max = 86400))]
    pub rate_limit_seconds: u32,
}

/// A Microsoft Teams channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamsChannel {
    /// The Workflows (or incoming) webhook's URL. Write-only: it is the
    /// credential.
    #[serde(skip_serializing)]
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub webhook_url: Option<String>,
    /// Which alerts go there (default: every kind, `warning` and above).
    #[serde(default = "default_routes")]
    #[schemars(length(max = 20))]
    pub routes: Vec<Route>,
    /// Seconds between two alerts of one kind for one tenant (default 300).
    #[serde(default = "default_rate_limit")]
    #[schemars(range(min = 0, max = 86400))]
    pub rate_limit_seconds: u32,
}

/// A PagerDuty service, through Events API v2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyChannel {
    /// The service integration's routing key (32 characters). Write-only.
    #[serde(skip_serializing)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9]{32}$"))]
    pub routing_key: Option<String>,
    /// The Events API's URL (default
    /// `https://events.pagerduty.com/v2/enqueue`; another for the EU
    /// service region or a proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub url: Option<String>,
    /// Which alerts go there (default: every kind, `warning` and above).
    #[serde(default = "default_routes")]
    #[schemars(length(max = 20))]
    pub routes: Vec<Route>,
    /// Seconds between two alerts of one kind for one tenant (default 300).
    #[serde(default = "default_rate_limit")]
    #[schemars(range(min = 0, max = 86400))]
    pub rate_limit_seconds: u32,
}

impl PagerDutyChannel {
    /// The Events API v2 endpoint.
    pub fn events_url(&self) -> &str {
        self.url.as_deref().unwrap_or("https://events.pagerduty.com/v2/enqueue")
    }
}

/// A webhook channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    /// The endpoint each alert is `POST`ed to.
    #[schemars(regex(path = "URL_PATTERN"), length(max = 2048))]
    pub url: String,
    /// The HMAC-SHA256 key of the `Lictor-Signature` header (at least 16
    /// characters). Write-only.
    #[serde(skip_serializing)]
    #[schemars(regex(path = "SECRET_PATTERN"), length(min = 16, max = 512))]
    pub secret: Option<String>,
    /// Which alerts go there (default: every kind, `warning` and above).
    #[serde(default = "default_routes")]
    #[schemars(length(max = 20))]
    pub routes: Vec<Route>,
    /// Seconds between two alerts of one kind for one tenant (default 300).
    #[serde(default = "default_rate_limit")]
    #[schemars(range(min = 0, max = 86400))]
    pub rate_limit_seconds: u32,
}

/// An integration's settings: one of the sink kinds (`webhook`, `splunk`,
/// `datadog`, `sentinel`, `s3`) or of the channel kinds (`slack`,
/// `teams`, `pagerduty`, `alert_webhook`), tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IntegrationSettings {
    /// An audit sink: a webhook of the operator's own.
    Webhook(WebhookSink),
    /// An audit sink: Splunk's HTTP Event Collector.
    Splunk(SplunkSink),
    /// An audit sink: Datadog Logs.
    Datadog(DatadogSink),
    /// An audit sink: Microsoft Sentinel (Logs Ingestion API).
    Sentinel(SentinelSink),
    /// An audit sink: S3 or an S3-compatible store.
    S3(S3Sink),
    /// A notification channel: Slack.
    Slack(SlackChannel),
    /// A notification channel: Microsoft Teams.
    Teams(TeamsChannel),
    /// A notification channel: PagerDuty.
    Pagerduty(PagerDutyChannel),
    /// A notification channel: a webhook of the operator's own.
    AlertWebhook(WebhookChannel),
}

impl IntegrationSettings {
    /// Sink or channel settings.
    pub fn split(self) -> Result<SinkSettings, ChannelSettings> {
        match self {
            IntegrationSettings::Webhook(s) => Ok(SinkSettings::Webhook(s)),
            IntegrationSettings::Splunk(s) => Ok(SinkSettings::Splunk(s)),
            IntegrationSettings::Datadog(s) => Ok(SinkSettings::Datadog(s)),
            IntegrationSettings::Sentinel(s) => Ok(SinkSettings::Sentinel(s)),
            IntegrationSettings::S3(s) => Ok(SinkSettings::S3(s)),
            IntegrationSettings::Slack(c) => Err(ChannelSettings::Slack(c)),
            IntegrationSettings::Teams(c) => Err(ChannelSettings::Teams(c)),
            IntegrationSettings::Pagerduty(c) => Err(ChannelSettings::Pagerduty(c)),
            IntegrationSettings::AlertWebhook(c) => Err(ChannelSettings::Webhook(c)),
        }
    }
}

impl From<SinkSettings> for IntegrationSettings {
    fn from(sink: SinkSettings) -> IntegrationSettings {
        match sink {
            SinkSettings::Webhook(s) => IntegrationSettings::Webhook(s),
            SinkSettings::Splunk(s) => IntegrationSettings::Splunk(s),
            SinkSettings::Datadog(s) => IntegrationSettings::Datadog(s),
            SinkSettings::Sentinel(s) => IntegrationSettings::Sentinel(s),
            SinkSettings::S3(s) => IntegrationSettings::S3(s),
        }
    }
}

impl From<ChannelSettings> for IntegrationSettings {
    fn from(channel: ChannelSettings) -> IntegrationSettings {
        match channel {
            ChannelSettings::Slack(c) => IntegrationSettings::Slack(c),
            ChannelSettings::Teams(c) => IntegrationSettings::Teams(c),
            ChannelSettings::Pagerduty(c) => IntegrationSettings::Pagerduty(c),
            ChannelSettings::Webhook(c) => IntegrationSettings::AlertWebhook(c),
        }
    }
}

/// Body of `POST /v1/admin/integrations`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationCreate {
    /// Its name, unique within the tenant.
    pub name: IntegrationName,
    /// Whether it runs (default `true`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What it is and where it delivers.
    pub settings: IntegrationSettings,
}

fn yes() -> bool {
    true
}

/// Body of `PATCH /v1/admin/integrations/{id}`: what changes. Settings are
/// replaced whole, except secret fields left out, which keep their values;
/// the kind cannot change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationUpdate {
    /// Start or stop it.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The new settings.
    #[serde(default)]
    pub settings: Option<IntegrationSettings>,
}

/// Where an integration was configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationSource {
    /// `LICTOR_SINK_<NAME>` or `LICTOR_CHANNEL_<NAME>`: every tenant's.
    Environment,
    /// `POST /v1/admin/integrations`: the tenant's own.
    Api,
}

/// A sink or a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationCategory {
    /// Delivers the audit log.
    Sink,
    /// Alerts operators.
    Channel,
}

/// How an integration is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Delivering, caught up or nearly.
    Ok,
    /// Behind by more than its `max_lag_seconds`.
    Lagging,
    /// Its last attempt failed.
    Failing,
    /// Its settings cannot be used (its error says why).
    Misconfigured,
    /// Turned off.
    Disabled,
}

/// An error an integration met.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationError {
    /// What went wrong (the destination's answer, clipped; never a secret).
    pub message: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// An integration's delivery, for the tenant asked about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationHealth {
    /// The summary.
    pub state: HealthState,
    /// Events acknowledged by the destination (a channel: audit events
    /// examined).
    pub delivered: u64,
    /// Failed attempts.
    pub failed: u64,
    /// The last acknowledged batch.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last error.
    pub last_error: Option<IntegrationError>,
    /// Audit entries written but not yet delivered.
    pub lag_entries: u64,
    /// Age of the oldest of them, in seconds (0 when caught up).
    pub lag_seconds: f64,
    /// Events set aside as dead letters.
    pub dead_letters: u64,
}

/// An integration: an audit sink or a notification channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Integration {
    /// Its id.
    pub id: IntegrationId,
    /// Its name.
    pub name: IntegrationName,
    /// The owning tenant (absent for integrations from the environment).
    pub tenant: Option<TenantId>,
    /// Where it was configured.
    pub source: IntegrationSource,
    /// Sink or channel.
    pub category: IntegrationCategory,
    /// The kind (`splunk`, `slack`, …).
    pub kind: String,
    /// Whether it runs.
    pub enabled: bool,
    /// Where it delivers, without credentials (absent from a tenant
    /// administrator's view of an integration from the environment).
    pub endpoint: Option<String>,
    /// Its settings, secrets left out (absent as for `endpoint`).
    pub settings: Option<IntegrationSettings>,
    /// The secret fields that are set (their values are never shown).
    pub secrets: Vec<String>,
    /// How its delivery of this tenant's log is doing.
    pub health: IntegrationHealth,
    /// When it was made (absent for the environment's).
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Query parameters of `GET /v1/admin/integrations`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

page_type!(
    /// A page of integrations: the environment's, then the tenant's, by id.
    IntegrationPage, Integration
);

/// Path parameters naming an integration.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct IntegrationPath {
    /// The integration.
    pub id: IntegrationId,
}

/// An event a sink's destination refused for good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    /// The event's tenant.
    pub tenant: TenantId,
    /// The entry's `seq` (a checkpoint's tree size).
    pub seq: u64,
    /// The event's id.
    pub event_id: String,
    /// The destination's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What it said.
    pub error: String,
    /// When it was set aside.
    pub created_at: DateTime<Utc>,
    /// When an operator asked for it to be sent again (pending until it is
    /// delivered, when it disappears, or refused again).
    pub redriven_at: Option<DateTime<Utc>>,
}

/// Query parameters of `GET /v1/admin/integrations/{id}/dead-letters`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

page_type!(
    /// A page of dead letters, oldest first.
    DeadLetterPage, DeadLetter
);

/// Body of `POST /v1/admin/integrations/{id}/dead-letters/redrive`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveRequest {
    /// Only this entry (`seq`); absent: every dead letter of the tenant.
    #[serde(default)]
    pub seq: Option<u64>,
}

/// What a redrive marked to be sent again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RedriveResult {
    /// Dead letters marked.
    pub redriven: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_read_but_never_written() {
        let settings: SinkSettings =
            serde_json::from_str(r#"{"kind":"splunk","url":"https://s:8088","token":"abc","index":"main"}"#)
                .unwrap();
        let SinkSettings::Splunk(splunk) = &settings else { panic!("{settings:?}") };
        assert_eq!(splunk.token.as_deref(), Some("abc"));
        let shown = serde_json::to_value(&settings).unwrap();
        assert_eq!(shown["kind"], "splunk");
        assert!(shown.get("token").is_none(), "{shown}");
        assert_eq!(shown["index"], "main");
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        for bad in [
            r#"{"kind":"splunk","url":"https://s","tokn":"x"}"#,
            r#"{"kind":"kafka","url":"https://s"}"#,
            r#"{"url":"https://s"}"#,
        ] {
            assert!(serde_json::from_str::<SinkSettings>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn datadog_sites_have_their_intake() {
        let sink: SinkSettings =
            serde_json::from_str(r#"{"kind":"datadog","site":"eu1","api_key":"k"}"#).unwrap();
        assert_eq!(sink.endpoint(), "https://http-intake.logs.datadoghq.eu/api/v2/logs");
    }
}
