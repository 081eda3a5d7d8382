//! Audit sinks: the audit log delivered to SIEMs, object stores and relays.
//!
//! Delivery is an outbox read forward from a durable cursor, never a
//! buffer (see [`sender`]): a sink's sender reads each tenant's log past
//! the sink's cursor in the store, hands a batch of [`SinkEvent`]s to its
//! [`Destination`], and moves the cursor only once the destination
//! acknowledged. A restart, a crash or an outage loses nothing and never
//! holds up a decision; delivery is at least once, each event carrying a
//! stable `id` (the entry's id) for the destination to de-duplicate on.
//!
//! Each kind of destination speaks its vendor's documented protocol:
//! [`webhook`], [`splunk`], [`datadog`], [`sentinel`], [`s3`].

pub mod datadog;
pub mod s3;
pub mod sender;
pub mod sentinel;
pub mod settings;
pub mod splunk;
pub mod webhook;

use std::time::Duration;

use lictor_api::audit::AuditEntry;
use lictor_api::ids::TenantId;
use lictor_api::integrations::SinkSettings;
use serde::Serialize;

use crate::clock::Timestamp;

pub use sender::{SinkSender, SinkTuning, Target};

/// One event a sink delivers: an audit entry exactly as the chain records
/// it (so the destination can re-verify the chain), or a signed
/// checkpoint (a copy of the log's witness).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum SinkEvent {
    /// An audit entry.
    #[serde(rename = "lictor.audit.entry")]
    Entry {
        /// Stable id for de-duplication: the entry's id.
        id: String,
        /// The tenant.
        tenant: TenantId,
        /// The entry's position in the tenant's chain.
        seq: u64,
        /// The entry, with `hash` and `prev_hash`.
        entry: Box<AuditEntry>,
    },
    /// A signed checkpoint over the tenant's log.
    #[serde(rename = "lictor.audit.checkpoint")]
    Checkpoint {
        /// Stable id for de-duplication: `<tenant>/checkpoint/<tree_size>`.
        id: String,
        /// The tenant.
        tenant: TenantId,
        /// The checkpoint.
        checkpoint: CheckpointEvent,
    },
}

/// A checkpoint as sinks receive it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointEvent {
    /// Entries covered.
    pub tree_size: u64,
    /// Their RFC 6962 root, hex.
    pub root_hash: String,
    /// The signing key's id.
    pub key_id: String,
    /// When it was signed (RFC 3339).
    pub created_at: String,
    /// The C2SP signed note.
    pub note: String,
}

impl SinkEvent {
    /// The stable id.
    pub fn id(&self) -> &str {
        match self {
            SinkEvent::Entry { id, .. } | SinkEvent::Checkpoint { id, .. } => id,
        }
    }

    /// When the event happened: the entry's `ts`, the checkpoint's
    /// signing time.
    pub fn time(&self) -> Timestamp {
        match self {
            SinkEvent::Entry { entry, .. } => Timestamp::from_datetime(entry.ts),
            SinkEvent::Checkpoint { checkpoint, .. } => {
                chrono::DateTime::parse_from_rfc3339(&checkpoint.created_at)
                    .map_or(Timestamp::EPOCH, |t| Timestamp::from_datetime(t.to_utc()))
            }
        }
    }

    /// `lictor.audit.entry` or `lictor.audit.checkpoint`.
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkEvent::Entry { .. } => "lictor.audit.entry",
            SinkEvent::Checkpoint { .. } => "lictor.audit.checkpoint",
        }
    }
}

/// An event with its compact JSON, rendered once per batch.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The event.
    pub event: SinkEvent,
    /// `serde_json` of it: one line, no trailing newline.
    pub json: Vec<u8>,
}

impl Rendered {
    /// Renders `event`.
    pub fn new(event: SinkEvent) -> Rendered {
        // A `SinkEvent` has no map with non-string keys: it always serialises.
        let json = serde_json::to_vec(&event).unwrap_or_default();
        Rendered { event, json }
    }
}

/// What a destination may take in one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most events.
    pub events: usize,
    /// Most bytes of rendered events (each event's JSON, summed, plus
    /// `per_event` for each).
    pub bytes: usize,
    /// What the destination's envelope adds to each event, at most.
    pub per_event: usize,
}

/// Why a batch was not acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Worth trying again later: a timeout, a connection error, 408, 429,
    /// a 5xx — and the destination-wide refusals (401, 403, 404, a
    /// redirect) that no entry causes and an operator fixes.
    #[error("{message}")]
    Retry {
        /// The destination's status, when it answered.
        status: Option<u16>,
        /// What went wrong.
        message: String,
        /// How long the destination asked to wait (`Retry-After`).
        after: Option<Duration>,
    },
    /// The batch's content is refused for good (400, 413, 422…): the
    /// sender narrows it down to the entry and dead-letters that one.
    #[error("{message}")]
    Reject {
        /// The destination's status, when there is one.
        status: Option<u16>,
        /// What it said.
        message: String,
    },
}

impl Refusal {
    /// A retryable failure without an HTTP status (a connection error, a
    /// timeout, a bad answer).
    pub fn transport(message: impl Into<String>) -> Refusal {
        Refusal::Retry { status: None, message: message.into(), after: None }
    }
}

/// A destination a sink delivers to.
#[async_trait::async_trait]
pub trait Destination: Send + Sync {
    /// What it takes in one request.
    fn limits(&self) -> BatchLimits;

    /// Delivers `batch`: `Ok` once the destination acknowledged every
    /// event.
    async fn deliver(&self, batch: &Outgoing<'_>) -> Result<(), Refusal>;

    /// Work of its own, done by the gateway holding the lease between
    /// batches (a channel's summaries and conditions).
    async fn idle(&self) -> Result<(), Refusal> {
        Ok(())
    }
}

/// A batch: events of one tenant, in order, and where they start.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The tenant.
    pub tenant: &'a TenantId,
    /// The events.
    pub events: &'a [Rendered],
    /// The sink's cursor before them: the same for every attempt at this
    /// batch (after a restart too), so a destination can name it.
    pub from: crate::store::SinkCursor,
    /// When the entry at `from.seq` was written (entry 1's time when
    /// `from.seq` is 0): a time as fixed as `from`.
    pub anchor: Timestamp,
}

/// Builds the destination `settings` describe; `client` is the gateway's
/// outbound HTTP client (its CA roots and user agent).
pub fn destination(
    settings: &SinkSettings,
    client: &reqwest::Client,
    roots: &crate::tls::OutboundRoots,
) -> Result<Box<dyn Destination>, String> {
    Ok(match settings {
        SinkSettings::Webhook(s) => Box::new(webhook::WebhookDestination::new(s, client.clone())?),
        SinkSettings::Splunk(s) => Box::new(splunk::SplunkDestination::new(s, client.clone())?),
        SinkSettings::Datadog(s) => Box::new(datadog::DatadogDestination::new(s, client.clone())?),
        SinkSettings::Sentinel(s) => Box::new(sentinel::SentinelDestination::new(s, client.clone())?),
        SinkSettings::S3(s) => Box::new(s3::S3Destination::new(s, roots)?),
    })
}

/// A JSON array of one value per event.
pub fn json_array(batch: &[Rendered], record: impl Fn(&Rendered) -> serde_json::Value) -> Vec<u8> {
    let records: Vec<serde_json::Value> = batch.iter().map(record).collect();
    serde_json::to_vec(&records).unwrap_or_default()
}

/// Sends `request` with `json` gzipped as its body and judges the answer.
pub async fn send_gzipped_json(request: reqwest::RequestBuilder, json: &[u8]) -> Result<(), Refusal> {
    let response = request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::CONTENT_ENCODING, "gzip")
        .body(gzip(json)?)
        .send()
        .await
        .map_err(|e| transport_error(&e))?;
    judge(response).await.map(drop)
}

/// `bytes` gzipped.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, Refusal> {
    use std::io::Write as _;
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::default());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| Refusal::transport(format!("gzip: {e}")))
}

/// The longest a destination's error text is kept (health, dead letters).
const ERROR_TEXT: usize = 500;

/// Judges an HTTP answer: `Ok` for a 2xx; otherwise the refusal it means,
/// with the start of its body.
pub async fn judge(response: reqwest::Response) -> Result<reqwest::Response, Refusal> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let after = retry_after(response.headers());
    let body = response.text().await.unwrap_or_default();
    let message = format!("{status}: {}", clip(&body));
    let code = status.as_u16();
    Err(if retryable(code) {
        Refusal::Retry { status: Some(code), message, after }
    } else {
        Refusal::Reject { status: Some(code), message }
    })
}

/// Whether a status is worth retrying rather than blaming the batch:
/// timeouts, throttling and server errors, and what points at the
/// destination's configuration rather than at the events (authentication,
/// a wrong URL, a redirect), which an operator fixes and no entry causes.
pub fn retryable(status: u16) -> bool {
    matches!(status, 300..=399 | 401 | 403 | 404 | 405 | 407 | 408 | 421 | 425 | 429 | 500..=599)
}

/// A `Retry-After` header: seconds, or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.to_utc() - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// `text` cut to [`ERROR_TEXT`] characters, on one line.
pub fn clip(text: &str) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    shorten(one_line.trim(), ERROR_TEXT + 1)
}

/// `text` in at most `max` characters: cut, and ended with `…`, when
/// longer.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text.chars().count() > max => format!("{}…", &text[..at]),
        _ => text.to_string(),
    }
}

/// A transport error's description, without the URL (it may hold a
/// secret, as a Slack webhook's does).
pub fn transport_error(error: &reqwest::Error) -> Refusal {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the answer could not be read"
    } else {
        "request failed"
    };
    let mut message = what.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Refusal::transport(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_judged() {
        for status in [408, 429, 500, 502, 503, 504, 401, 403, 404, 301] {
            assert!(retryable(status), "{status}");
        }
        for status in [400, 413, 415, 422, 409] {
            assert!(!retryable(status), "{status}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn entries_go_out_with_the_person_who_acted() {
        use lictor_api::audit::AuditKind;
        use lictor_api::ids::AuditEntryId;
        use lictor_api::operators::{Person, ProviderName};

        let tenant = TenantId::parse("acme").unwrap();
        let mut record = crate::audit::AuditRecord::new(
            AuditEntryId::parse("aud_1").unwrap(),
            AuditKind::AgentUpdated,
            tenant.clone(),
            1,
            0,
            crate::audit::GENESIS_HASH.into(),
        );
        record.person = Some(Person {
            issuer: "https://login.example.com".into(),
            subject: "00u1".into(),
            provider: ProviderName::parse("okta").unwrap(),
            username: None,
            email: None,
            name: Some("Zoë".into()),
        });
        let entry = Box::new(record.to_entry(record.hash()));
        let rendered = Rendered::new(SinkEvent::Entry { id: "aud_1".into(), tenant, seq: 1, entry });
        let json: serde_json::Value = serde_json::from_slice(&rendered.json).unwrap();
        assert_eq!(
            json["entry"]["person"],
            serde_json::json!({"issuer": "https://login.example.com", "subject": "00u1", "provider": "okta", "name": "Zoë"})
        );
    }

    #[test]
    fn errors_are_clipped_to_one_line() {
        assert_eq!(clip(" a\nb "), "a b");
        let long = "x".repeat(ERROR_TEXT + 10);
        assert_eq!(clip(&long).chars().count(), ERROR_TEXT + 1);
    }
}
