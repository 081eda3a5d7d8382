//! Delivery of async decisions to their `callback_url`.
//!
//! Each delivery is a `POST` of the Decision (JSON) signed with the
//! tenant's webhook secret:
//!
//! `Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//!
//! A 2xx answer delivers it; anything else (other statuses, redirects,
//! timeouts, connection errors) is retried with exponential backoff until
//! `max_attempts`. Delivery state lives on the intent row, so a restarted
//! gateway (or another replica) picks up where this one stopped; every
//! attempt is recorded and visible on `GET /v1/intents/{id}/decision`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::{Notify, Semaphore};
use tollgate_api::intents::CallbackState;

use crate::clock;
use crate::store::{CallbackDue, DeliveryRecord, Store};

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Tollgate-Signature";

/// Retry and timeout settings.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Attempts before giving up (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled each time.
    pub base_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// How often due deliveries are looked for without a wake-up.
    pub poll_interval: Duration,
}

impl Default for WebhookConfig {
    fn default() -> WebhookConfig {
        WebhookConfig {
            max_attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The `Tollgate-Signature` value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable_hmac());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a `Tollgate-Signature` does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The header is not `t=<seconds>,v1=<64 hex digits>`.
    MalformedHeader,
    /// `t` is further than the tolerance from the receiver's clock.
    Expired,
    /// The HMAC does not match the body and secret.
    SignatureMismatch,
}

impl SignatureError {
    /// Stable code (the SDKs use the same ones).
    pub const fn code(self) -> &'static str {
        match self {
            SignatureError::MalformedHeader => "malformed_header",
            SignatureError::Expired => "expired",
            SignatureError::SignatureMismatch => "signature_mismatch",
        }
    }
}

/// Verifies a delivery as a receiver should (see `docs/webhooks.md`): the
/// header parses, `t` is within `tolerance` seconds of `now`, and `v1` is
/// the HMAC of `"<t>.<body>"` (compared in constant time).
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let (mut timestamp, mut given) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) if timestamp.is_none() => timestamp = Some(value),
            Some(("v1", value)) if given.is_none() => given = Some(value),
            _ => return Err(SignatureError::MalformedHeader),
        }
    }
    let timestamp = timestamp
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or(SignatureError::MalformedHeader)?;
    let given = given
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .and_then(|v| hex::decode(v).ok())
        .ok_or(SignatureError::MalformedHeader)?;
    if (now - timestamp).abs() > tolerance {
        return Err(SignatureError::Expired);
    }
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable_hmac());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| SignatureError::SignatureMismatch)
}

// HMAC accepts keys of any length.
#[allow(clippy::panic)]
fn unreachable_hmac<T>() -> T {
    panic!("HMAC-SHA256 rejected a key")
}

/// Delay after `attempts` failed attempts: `base × 2^(attempts-1)`, capped,
/// plus up to 10 % jitter so receivers are not hit in lockstep.
pub fn backoff(attempts: u32, config: &WebhookConfig) -> Duration {
    let exponent = attempts.saturating_sub(1).min(30);
    let delay = config.base_delay.saturating_mul(1 << exponent).min(config.max_delay);
    let jitter_ms = u64::try_from(delay.as_millis() / 10).unwrap_or(0);
    delay + Duration::from_millis(if jitter_ms > 0 { rand::random_range(0..=jitter_ms) } else { 0 })
}

/// Wakes the delivery worker.
#[derive(Clone, Debug)]
pub struct Webhooks {
    wake: Arc<Notify>,
}

impl Webhooks {
    /// Starts the delivery worker.
    pub fn start(
        store: Store,
        config: WebhookConfig,
        log: slog::Logger,
    ) -> Result<(Webhooks, tokio::task::JoinHandle<()>), reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let wake = Arc::new(Notify::new());
        let worker = Worker {
            store,
            config,
            client,
            log,
            wake: Arc::clone(&wake),
            slots: Arc::new(Semaphore::new(16)),
        };
        Ok((Webhooks { wake }, tokio::spawn(worker.run())))
    }

    /// Tells the worker a delivery may be due now.
    pub fn notify(&self) {
        self.wake.notify_one();
    }
}

#[derive(Clone)]
struct Worker {
    store: Store,
    config: WebhookConfig,
    client: reqwest::Client,
    log: slog::Logger,
    wake: Arc<Notify>,
    slots: Arc<Semaphore>,
}

const BATCH: u32 = 32;

impl Worker {
    async fn run(self) {
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
            if let Err(error) = self.dispatch_due().await {
                slog::warn!(self.log, "webhook scan failed"; "error" => %error);
            }
        }
    }

    async fn dispatch_due(&self) -> Result<(), crate::store::StoreError> {
        loop {
            let now = clock::now_micros();
            let due = self.store.callbacks_due(now, BATCH).await?;
            let full = due.len() == BATCH as usize;
            // The lease outlives one attempt; if this gateway stops mid-way
            // the delivery becomes due again for any gateway.
            let lease = now + i64::try_from((self.config.timeout * 2).as_micros()).unwrap_or(i64::MAX / 2);
            for delivery in due {
                if !self.store.lease_callback(&delivery.intent_id, delivery.next_at, lease).await? {
                    continue;
                }
                let Ok(permit) = Arc::clone(&self.slots).acquire_owned().await else { return Ok(()) };
                let worker = self.clone();
                tokio::spawn(async move {
                    worker.deliver(delivery).await;
                    drop(permit);
                });
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn deliver(&self, delivery: CallbackDue) {
        let attempt = delivery.attempts.saturating_add(1);
        let attempted_at = clock::now_micros();
        let started = Instant::now();
        let outcome = self.post(&delivery, attempt).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status_code, error) = match outcome {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("receiver answered {status}"))),
            Err(message) => (None, Some(message)),
        };
        let (state, next_at) = if error.is_none() {
            (CallbackState::Delivered, None)
        } else if attempt >= self.config.max_attempts.max(1) {
            (CallbackState::Failed, None)
        } else {
            let delay = backoff(attempt, &self.config);
            (
                CallbackState::Pending,
                Some(clock::now_micros() + i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 2)),
            )
        };
        let record = DeliveryRecord { attempt, attempted_at, status_code, error, duration_ms };
        if let Err(e) = self.store.record_delivery(&delivery.intent_id, &record, state, next_at).await {
            slog::warn!(self.log, "recording webhook delivery failed";
                "intent_id" => %delivery.intent_id, "error" => %e);
        }
        if state == CallbackState::Failed {
            slog::warn!(self.log, "webhook delivery abandoned";
                "intent_id" => %delivery.intent_id, "attempts" => attempt);
        }
    }

    async fn post(&self, delivery: &CallbackDue, attempt: u32) -> Result<u16, String> {
        let secret = self
            .store
            .webhook_secret(&delivery.tenant)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("tenant `{}` has no webhook secret", delivery.tenant))?;
        let body = delivery.decision_json.as_bytes().to_vec();
        let timestamp = clock::now_micros() / 1_000_000;
        let response = self
            .client
            .post(&delivery.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&secret, timestamp, &body))
            .header("Tollgate-Event", "intent.decided")
            .header("Tollgate-Intent-Id", delivery.intent_id.as_str())
            .header("Tollgate-Delivery-Attempt", attempt.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| format!("delivery failed: {e}"))?;
        Ok(response.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // Computed independently with Python's hmac module.
        let sig = signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
        assert_ne!(sig, signature("whsec_other", 1_700_000_000, br#"{"a":1}"#));
        // The vector published in docs/webhooks.md.
        assert_eq!(
            signature("whsec_example", 1_763_805_600, br#"{"intent_id":"int_example","verdict":"approve"}"#),
            "t=1763805600,v1=5cac8309fe0d970b032bbeab2af9ae3e8928bd2f2084de94781628483960658c"
        );
        assert_ne!(sig, signature("whsec_test", 1_700_000_001, br#"{"a":1}"#));
    }

    /// The shared vectors in `conformance/vectors/webhooks/` (every SDK
    /// verifies them the same way). `TOLLGATE_WRITE_VECTORS=1` rewrites them.
    #[test]
    fn webhook_vectors_match_the_reference() {
        use serde_json::json;
        let (secret, t) = ("whsec_vector_secret", 1_763_805_600_i64);
        let body = r#"{"intent_id":"int_vector","verdict":"approve","note":"café ✓"}"#;
        let header = signature(secret, t, body.as_bytes());
        let v1 = header.split_once(",v1=").map(|(_, v)| v.to_string()).unwrap_or_default();
        let cases: Vec<(&str, String, String, String, i64, i64)> = vec![
            ("valid", secret.into(), header.clone(), body.into(), t, 300),
            ("valid_at_the_edge_of_the_tolerance", secret.into(), header.clone(), body.into(), t + 300, 300),
            ("valid_with_a_clock_behind", secret.into(), header.clone(), body.into(), t - 300, 300),
            ("valid_with_spaces_after_commas", secret.into(), format!("t={t}, v1={v1}"), body.into(), t, 300),
            ("wrong_secret", "whsec_other".into(), header.clone(), body.into(), t, 300),
            ("body_reformatted", secret.into(), header.clone(), body.replace(',', ", "), t, 300),
            (
                "body_one_byte_changed",
                secret.into(),
                header.clone(),
                body.replace("approve", "approvE"),
                t,
                300,
            ),
            (
                "timestamp_changed",
                secret.into(),
                header.replacen(&t.to_string(), &(t + 1).to_string(), 1),
                body.into(),
                t,
                300,
            ),
            ("expired", secret.into(), header.clone(), body.into(), t + 301, 300),
            ("from_the_future", secret.into(), header.clone(), body.into(), t - 301, 300),
            ("missing_v1", secret.into(), format!("t={t}"), body.into(), t, 300),
            ("missing_t", secret.into(), format!("v1={v1}"), body.into(), t, 300),
            ("empty_header", secret.into(), String::new(), body.into(), t, 300),
            ("uppercase_hex", secret.into(), format!("t={t},v1={}", v1.to_uppercase()), body.into(), t, 300),
            ("short_signature", secret.into(), format!("t={t},v1={}", &v1[..62]), body.into(), t, 300),
            ("non_numeric_timestamp", secret.into(), format!("t=soon,v1={v1}"), body.into(), t, 300),
            ("negative_timestamp", secret.into(), format!("t=-{t},v1={v1}"), body.into(), t, 300),
            ("unknown_scheme", secret.into(), format!("t={t},v0={v1}"), body.into(), t, 300),
            ("duplicate_v1", secret.into(), format!("t={t},v1={v1},v1={v1}"), body.into(), t, 300),
            ("empty_body", secret.into(), signature(secret, t, b""), String::new(), t, 300),
        ];
        let vectors: Vec<serde_json::Value> = cases
            .into_iter()
            .map(|(name, secret, header, body, now, tolerance)| {
                let result = verify_signature(&secret, &header, body.as_bytes(), now, tolerance);
                json!({
                    "name": name,
                    "secret": secret,
                    "header": header,
                    "body": body,
                    "now": now,
                    "tolerance_seconds": tolerance,
                    "valid": result.is_ok(),
                    "error": result.err().map(SignatureError::code),
                })
            })
            .collect();
        let document = json!({
            "format": "tollgate webhook signature vectors",
            "description": "Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>. \
                A receiver splits the header on `,` into exactly one `t` (decimal digits) and one `v1` \
                (64 lowercase hex digits), optionally with spaces after commas; anything else is \
                malformed_header. |now - t| > tolerance_seconds is expired. Otherwise the HMAC over the \
                UTF-8 bytes of the body must equal v1 (constant-time), else signature_mismatch. \
                Checks run in that order.",
            "regenerate": "TOLLGATE_WRITE_VECTORS=1 cargo test -p tollgate-server --lib webhooks",
            "vectors": vectors,
        });
        let text = format!("{}\n", serde_json::to_string_pretty(&document).unwrap_or_default());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../conformance/vectors/webhooks/webhooks.json");
        if std::env::var("TOLLGATE_WRITE_VECTORS").is_ok_and(|v| v == "1") {
            std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            stored, text,
            "stale vectors: regenerate with TOLLGATE_WRITE_VECTORS=1 cargo test -p tollgate-server --lib webhooks"
        );
        // The published example verifies; every case's verdict is what the
        // rules above say.
        assert_eq!(
            verify_signature(
                "whsec_example",
                "t=1763805600,v1=5cac8309fe0d970b032bbeab2af9ae3e8928bd2f2084de94781628483960658c",
                br#"{"intent_id":"int_example","verdict":"approve"}"#,
                1_763_805_600,
                300
            ),
            Ok(())
        );
        let by_name = |n: &str| {
            document["vectors"]
                .as_array()
                .and_then(|v| v.iter().find(|c| c["name"] == n).cloned())
                .unwrap_or_default()
        };
        for (name, error) in [
            ("valid", None),
            ("valid_with_spaces_after_commas", None),
            ("wrong_secret", Some("signature_mismatch")),
            ("expired", Some("expired")),
            ("duplicate_v1", Some("malformed_header")),
            ("uppercase_hex", Some("malformed_header")),
            ("empty_body", None),
        ] {
            assert_eq!(by_name(name)["error"].as_str(), error, "{name}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let config = WebhookConfig {
            base_delay: Duration::from_millis(1000),
            max_delay: Duration::from_millis(5000),
            ..WebhookConfig::default()
        };
        let first = backoff(1, &config);
        assert!(first >= Duration::from_millis(1000) && first <= Duration::from_millis(1100));
        let second = backoff(2, &config);
        assert!(second >= Duration::from_millis(2000) && second <= Duration::from_millis(2200));
        let late = backoff(20, &config);
        assert!(late >= Duration::from_millis(5000) && late <= Duration::from_millis(5500));
    }
}
