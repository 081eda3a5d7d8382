//! The webhook sink: each batch `POST`ed as one JSON document, signed like
//! async decisions are (`Lictor-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<body>")>`, see `docs/webhooks.md`).
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! Lictor-Signature: t=1765000000,v1=…
//! Lictor-Event: audit.batch
//! Lictor-Batch-Id: <first event id>..<last event id>
//!
//! {"type":"lictor.audit.batch","tenant":"acme","events":[{…}, …]}
//! ```
//!
//! Any 2xx acknowledges the batch. A receiver de-duplicates on each event's
//! `id` (a batch may come again after a timeout), and on `Lictor-Batch-Id`
//! for whole batches.

use lictor_api::ids::TenantId;
use lictor_api::integrations::WebhookSink;

use super::{BatchLimits, Destination, Outgoing, Refusal, Rendered, judge, transport_error};
use crate::webhooks::{SIGNATURE_HEADER, signature};

/// Largest body sent: far below what relays take (Lambda's 6 MB).
const MAX_BYTES: usize = 4 << 20;

/// A webhook destination.
pub struct WebhookDestination {
    url: reqwest::Url,
    secret: String,
    max_batch: usize,
    client: reqwest::Client,
}

impl WebhookDestination {
    /// The destination `settings` describe.
    pub fn new(settings: &WebhookSink, client: reqwest::Client) -> Result<WebhookDestination, String> {
        Ok(WebhookDestination {
            url: super::settings::url(&settings.url, "url")?,
            secret: settings.secret.clone().ok_or("`secret` is required")?,
            max_batch: usize::try_from(settings.max_batch).unwrap_or(1).max(1),
            client,
        })
    }
}

/// The body of a batch: the events' JSON spliced into the envelope.
pub fn envelope(tenant: &TenantId, batch: &[Rendered]) -> Vec<u8> {
    let head = serde_json::json!({"type": "lictor.audit.batch", "tenant": tenant}).to_string();
    let mut body =
        Vec::with_capacity(head.len() + batch.iter().map(|r| r.json.len() + 1).sum::<usize>() + 16);
    body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    body.extend_from_slice(br#","events":["#);
    for (i, rendered) in batch.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&rendered.json);
    }
    body.extend_from_slice(b"]}");
    body
}

/// `<first id>..<last id>`.
pub fn batch_id(batch: &[Rendered]) -> String {
    match (batch.first(), batch.last()) {
        (Some(first), Some(last)) => format!("{}..{}", first.event.id(), last.event.id()),
        _ => String::new(),
    }
}

#[async_trait::async_trait]
impl Destination for WebhookDestination {
    fn limits(&self) -> BatchLimits {
        BatchLimits { events: self.max_batch, bytes: MAX_BYTES, per_event: 1 }
    }

    async fn deliver(&self, outgoing: &Outgoing<'_>) -> Result<(), Refusal> {
        let (tenant, batch) = (outgoing.tenant, outgoing.events);
        let body = envelope(tenant, batch);
        let timestamp = chrono::Utc::now().timestamp();
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&self.secret, timestamp, &body))
            .header("Lictor-Event", "audit.batch")
            .header("Lictor-Batch-Id", batch_id(batch))
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        judge(response).await.map(drop)
    }
}
