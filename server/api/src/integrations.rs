//! Integrations: audit sinks (where the audit log is delivered) and
//! notification channels (where operators are alerted).
//!
//! A sink or channel is configured by environment (`LICTOR_SINK_<NAME>`,
//! every tenant) or per tenant by the admin API; both take the settings
//! below, one object per kind. Secret fields are write-only: accepted on
//! input, never serialised back (the schema marks them `writeOnly`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An absolute `https` (or, for tests and relays on a private network,
/// `http`) URL.
const URL_PATTERN: &str = r"^https?://[^\s/?#]+([/?#][^\s]*)?$";

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
            SinkSettings::S3(s) => match &s.endpoint {
                Some(endpoint) => format!("{}/{}/{}", endpoint.trim_end_matches('/'), s.bucket, s.prefix),
                None => format!("s3://{}/{}", s.bucket, s.prefix),
            },
        }
    }

    /// The largest lag, in seconds, before the sink counts as lagging.
    pub fn max_lag_seconds(&self) -> u64 {
        match self {
            SinkSettings::Webhook(s) => s.max_lag_seconds,
            SinkSettings::Splunk(s) => s.max_lag_seconds,
            SinkSettings::Datadog(s) => s.max_lag_seconds,
            SinkSettings::Sentinel(s) => s.max_lag_seconds,
            SinkSettings::S3(s) => s.max_lag_seconds,
        }
    }
}

fn default_max_lag_seconds() -> u64 {
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
    /// Seconds of lag before the sink counts as lagging (default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1))]
    pub max_lag_seconds: u64,
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
    #[schemars(length(min = 1, max = 200))]
    pub index: Option<String>,
    /// The events' `source` (default `lictor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub source: Option<String>,
    /// The events' `sourcetype` (default `lictor:audit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub sourcetype: Option<String>,
    /// The events' `host` (default: none, Splunk uses the sender's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
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
    /// Seconds of lag before the sink counts as lagging (default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1))]
    pub max_lag_seconds: u64,
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
    #[schemars(length(min = 1, max = 200))]
    pub service: Option<String>,
    /// The logs' `ddsource` (default `lictor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub source: Option<String>,
    /// Extra `ddtags`, comma-separated `key:value` pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub tags: Option<String>,
    /// Seconds of lag before the sink counts as lagging (default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1))]
    pub max_lag_seconds: u64,
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
    /// Seconds of lag before the sink counts as lagging (default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1))]
    pub max_lag_seconds: u64,
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
    /// Seconds of lag before the sink counts as lagging (default 300).
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(min = 1))]
    pub max_lag_seconds: u64,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_s3_batch() -> u32 {
    10_000
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
