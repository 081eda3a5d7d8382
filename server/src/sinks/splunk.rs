//! Splunk HTTP Event Collector.
//!
//! ```text
//! POST <url>/services/collector/event
//! Authorization: Splunk <token>
//! Content-Type: application/json
//! X-Splunk-Request-Channel: <uuid>            (with `ack`)
//!
//! {"time":1765000000.123456,"source":"lictor","sourcetype":"lictor:audit","index":"…",
//!  "fields":{"lictor_tenant":"acme","lictor_type":"lictor.audit.entry"},"event":{…}}
//! {"time":…,"event":{…}}
//! ```
//!
//! Events are stacked one JSON object after another, as HEC's batch format
//! wants, up to `max_batch_bytes`. HEC answers `{"text":"Success","code":0}`
//! (with `ack`, also `"ackId":N`); with `ack`, the batch counts as
//! delivered only once `POST <url>/services/collector/ack?channel=<uuid>`
//! with `{"acks":[N]}` answers `{"acks":{"N":true}}` — polled for up to a
//! minute, then the batch is sent again.
//!
//! HEC's status codes (`code` in the body) decide what a 400 means: the
//! data's fault (5 no data, 6 invalid data format, 12/13 event field
//! missing or blank) makes the batch refused for good; anything else
//! (7 incorrect index, 10/11 data channel missing or invalid…) is the
//! configuration's, retried until an operator fixes it.

use std::time::Duration;

use lictor_api::ids::TenantId;
use lictor_api::integrations::SplunkSink;
use serde::Deserialize;

use super::{BatchLimits, Destination, Outgoing, Refusal, Rendered, transport_error};

/// How long an acknowledgement is waited for before the batch is sent
/// again.
const ACK_WAIT: Duration = Duration::from_secs(60);

/// Most events per request, whatever their size.
const MAX_EVENTS: usize = 10_000;

/// A Splunk HEC destination.
pub struct SplunkDestination {
    event_url: reqwest::Url,
    ack_url: reqwest::Url,
    authorization: String,
    channel: Option<String>,
    index: Option<String>,
    source: String,
    sourcetype: String,
    host: Option<String>,
    max_bytes: usize,
    client: reqwest::Client,
    ack_poll: Duration,
}

#[derive(Deserialize)]
struct HecAnswer {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "ackId")]
    ack_id: Option<u64>,
}

#[derive(Deserialize)]
struct AckAnswer {
    acks: std::collections::BTreeMap<String, bool>,
}

impl SplunkDestination {
    /// The destination `settings` describe.
    pub fn new(settings: &SplunkSink, client: reqwest::Client) -> Result<SplunkDestination, String> {
        let base = super::settings::url(&settings.url, "url")?;
        let join = |path: &str| {
            let mut url = base.clone();
            let prefix = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{prefix}{path}"));
            url
        };
        let channel = settings.ack.then(|| uuid::Uuid::new_v4().to_string());
        let mut ack_url = join("/services/collector/ack");
        if let Some(channel) = &channel {
            ack_url.query_pairs_mut().append_pair("channel", channel);
        }
        Ok(SplunkDestination {
            event_url: join("/services/collector/event"),
            ack_url,
            authorization: format!("Splunk {}", settings.token.as_deref().ok_or("`token` is required")?),
            channel,
            index: settings.index.clone(),
            source: settings.source.clone().unwrap_or_else(|| "lictor".into()),
            sourcetype: settings.sourcetype.clone().unwrap_or_else(|| "lictor:audit".into()),
            host: settings.host.clone(),
            max_bytes: usize::try_from(settings.max_batch_bytes).unwrap_or(usize::MAX),
            client,
            ack_poll: Duration::from_secs(1),
        })
    }

    /// The request body: one HEC event object per event.
    fn body(&self, tenant: &TenantId, batch: &[Rendered]) -> Vec<u8> {
        let mut body = Vec::with_capacity(batch.iter().map(|r| r.json.len() + 256).sum());
        for rendered in batch {
            let micros = rendered.event.time().micros();
            let mut meta = serde_json::Map::new();
            if let Some(host) = &self.host {
                meta.insert("host".into(), host.clone().into());
            }
            meta.insert("source".into(), self.source.clone().into());
            meta.insert("sourcetype".into(), self.sourcetype.clone().into());
            if let Some(index) = &self.index {
                meta.insert("index".into(), index.clone().into());
            }
            meta.insert(
                "fields".into(),
                serde_json::json!({"lictor_tenant": tenant, "lictor_type": rendered.event.type_name()}),
            );
            let meta = serde_json::Value::Object(meta).to_string();
            // `{"time":<seconds.micros>,…meta…,"event":<event>}`: the time
            // exact to the microsecond, the event's bytes as rendered.
            let time = format!("{}.{:06}", micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
            body.extend_from_slice(br#"{"time":"#);
            body.extend_from_slice(time.as_bytes());
            body.push(b',');
            body.extend_from_slice(&meta.as_bytes()[1..meta.len() - 1]);
            body.extend_from_slice(br#","event":"#);
            body.extend_from_slice(&rendered.json);
            body.extend_from_slice(b"}\n");
        }
        body
    }

    /// Waits until HEC says `ack` was indexed.
    async fn acknowledged(&self, ack: u64) -> Result<(), Refusal> {
        let deadline = tokio::time::Instant::now() + ACK_WAIT;
        loop {
            let response = self
                .client
                .post(self.ack_url.clone())
                .header(reqwest::header::AUTHORIZATION, &self.authorization)
                .header("X-Splunk-Request-Channel", self.channel.as_deref().unwrap_or_default())
                .json(&serde_json::json!({"acks": [ack]}))
                .send()
                .await
                .map_err(|e| transport_error(&e))?;
            let response = hec_judge(response).await?;
            let answer: AckAnswer = response
                .json()
                .await
                .map_err(|e| Refusal::transport(format!("unreadable acknowledgement answer: {e}")))?;
            if answer.acks.get(&ack.to_string()).copied().unwrap_or(false) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Refusal::transport(format!(
                    "HEC did not acknowledge batch {ack} within {} s: sending it again",
                    ACK_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(self.ack_poll).await;
        }
    }
}

/// What a non-2xx HEC answer means: HEC's own `code` tells the data's
/// fault from the configuration's.
async fn hec_judge(response: reqwest::Response) -> Result<reqwest::Response, Refusal> {
    let status = response.status().as_u16();
    if status != 400 {
        return super::judge(response).await;
    }
    let body = response.text().await.unwrap_or_default();
    let code = serde_json::from_str::<HecAnswer>(&body).ok().and_then(|a| a.code);
    let message = format!("400 Bad Request: {}", super::clip(&body));
    Err(match code {
        Some(5 | 6 | 12 | 13) => Refusal::Reject { status: Some(400), message },
        _ => Refusal::Retry { status: Some(400), message, after: None },
    })
}

#[async_trait::async_trait]
impl Destination for SplunkDestination {
    fn limits(&self) -> BatchLimits {
        // Each event's HEC envelope (time, source, sourcetype, index, host,
        // fields) is at most a few hundred bytes: 1 KiB is counted for it.
        BatchLimits { events: MAX_EVENTS, bytes: self.max_bytes, per_event: 1024 }
    }

    async fn deliver(&self, outgoing: &Outgoing<'_>) -> Result<(), Refusal> {
        let (tenant, batch) = (outgoing.tenant, outgoing.events);
        let mut request = self
            .client
            .post(self.event_url.clone())
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(channel) = &self.channel {
            request = request.header("X-Splunk-Request-Channel", channel);
        }
        let response =
            request.body(self.body(tenant, batch)).send().await.map_err(|e| transport_error(&e))?;
        let response = hec_judge(response).await?;
        if self.channel.is_none() {
            return Ok(());
        }
        let answer: HecAnswer =
            response.json().await.map_err(|e| Refusal::transport(format!("unreadable HEC answer: {e}")))?;
        match answer.ack_id {
            Some(ack) => self.acknowledged(ack).await,
            None => Err(Refusal::Retry {
                status: None,
                message: "HEC answered without an ackId: is indexer acknowledgement on for this token?"
                    .into(),
                after: None,
            }),
        }
    }
}
