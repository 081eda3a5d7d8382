//! Delivery of async decisions to their `callback_url`.
//!
//! Each delivery is a `POST` of the Decision (JSON) signed with the
//! tenant's webhook secret:
//!
//! `Lictor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//!
//! A 2xx answer delivers it; anything else (other statuses, redirects,
//! timeouts, connection errors) is retried with exponential backoff until
//! `max_attempts`. Delivery state lives on the intent row, so a restarted
//! gateway (or another replica) picks up where this one stopped; every
//! attempt is recorded and visible on `GET /v1/intents/{id}/decision`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lictor_api::intents::CallbackState;
use tokio::sync::{Notify, Semaphore};

use crate::clock::Timestamp;
use crate::store::{CallbackDue, DeliveryRecord, Store};
pub use lictor_offline::webhook::{SIGNATURE_HEADER, SignatureError, signature, verify_signature};

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
        (config, roots): (WebhookConfig, &crate::tls::OutboundRoots),
        log: slog::Logger,
    ) -> Result<(Webhooks, tokio::task::JoinHandle<()>), reqwest::Error> {
        let client = roots.client_builder().timeout(config.timeout).build()?;
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
            let now = Timestamp::now();
            let due = self.store.callbacks_due(now, BATCH).await?;
            let full = due.len() == BATCH as usize;
            // The lease outlives one attempt; if this gateway stops mid-way
            // the delivery becomes due again for any gateway.
            let lease = now + self.config.timeout * 2;
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
        let attempted_at = Timestamp::now();
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
            (CallbackState::Pending, Some(Timestamp::now() + delay))
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
        let timestamp = Timestamp::now().seconds();
        let response = self
            .client
            .post(&delivery.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&secret, timestamp, &body))
            .header("Lictor-Event", "intent.decided")
            .header("Lictor-Intent-Id", delivery.intent_id.as_str())
            .header("Lictor-Delivery-Attempt", attempt.to_string())
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
