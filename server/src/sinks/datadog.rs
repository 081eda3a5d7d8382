//! Datadog Logs intake (API v2).
//!
//! ```text
//! POST https://http-intake.logs.<site>/api/v2/logs
//! DD-API-KEY: <api key>
//! Content-Type: application/json
//! Content-Encoding: gzip
//!
//! [{"ddsource":"lictor","service":"lictor","ddtags":"lictor_tenant:acme,lictor_type:lictor.audit.entry,…",
//!   "timestamp":<the entry's time, ms>,"message":"<the event's JSON>"}, …]
//! ```
//!
//! `message` holds the event's JSON exactly as rendered: Datadog parses a
//! JSON message into attributes, and the text stays for re-verification.
//! Within the intake's limits: at most 1000 logs and 5 MB uncompressed per
//! request; `202 Accepted` acknowledges. Datadog takes logs up to 18 hours
//! old: a sink that lags more than that loses what is older at Datadog's
//! end (the lag alarm fires long before).

use lictor_api::ids::TenantId;
use lictor_api::integrations::DatadogSink;

use super::{BatchLimits, Destination, Outgoing, Refusal, Rendered};

/// The intake's limits: logs per array, bytes per payload (uncompressed).
const MAX_LOGS: usize = 1000;
const MAX_PAYLOAD: usize = 5_000_000;

/// A Datadog Logs destination.
pub struct DatadogDestination {
    url: reqwest::Url,
    api_key: String,
    source: String,
    service: String,
    tags: Option<String>,
    client: reqwest::Client,
}

impl DatadogDestination {
    /// The destination `settings` describe.
    pub fn new(settings: &DatadogSink, client: reqwest::Client) -> Result<DatadogDestination, String> {
        Ok(DatadogDestination {
            url: super::settings::url(&settings.intake_url(), "url")?,
            api_key: settings.api_key.clone().ok_or("`api_key` is required")?,
            source: settings.source.clone().unwrap_or_else(|| "lictor".into()),
            service: settings.service.clone().unwrap_or_else(|| "lictor".into()),
            tags: settings.tags.clone(),
            client,
        })
    }

    fn logs(&self, tenant: &TenantId, batch: &[Rendered]) -> Vec<u8> {
        super::json_array(batch, |rendered| {
            let mut tags = format!("lictor_tenant:{tenant},lictor_type:{}", rendered.event.type_name());
            if let Some(extra) = &self.tags {
                tags.push(',');
                tags.push_str(extra);
            }
            serde_json::json!({
                "ddsource": self.source,
                "service": self.service,
                "ddtags": tags,
                // Datadog's date attribute: when the entry was written
                // (milliseconds), not when it arrived.
                "timestamp": rendered.event.time().micros().div_euclid(1000),
                "message": String::from_utf8_lossy(&rendered.json),
            })
        })
    }
}

#[async_trait::async_trait]
impl Destination for DatadogDestination {
    fn limits(&self) -> BatchLimits {
        // The message's escaping takes room (half the payload for the
        // events themselves), and each log's envelope 400 bytes at most.
        BatchLimits { events: MAX_LOGS, bytes: MAX_PAYLOAD / 2, per_event: 400 }
    }

    async fn deliver(&self, outgoing: &Outgoing<'_>) -> Result<(), Refusal> {
        let (tenant, batch) = (outgoing.tenant, outgoing.events);
        let request = self.client.post(self.url.clone()).header("DD-API-KEY", &self.api_key);
        super::send_gzipped_json(request, &self.logs(tenant, batch)).await
    }
}
