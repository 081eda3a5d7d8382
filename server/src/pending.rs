//! Background evaluation of async intents.
//!
//! `POST /v1/intents:async` stores the intent as `pending` and hands its id
//! here. Evaluation takes a lease on the row first, so with several
//! gateways (or after a restart) each pending intent is decided once: a
//! sweep picks up intents whose lease expired without a decision, and the
//! writer refuses to decide an intent that is no longer pending.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lictor_api::ids::IntentId;
use lictor_api::intents::IntentRequest;

use crate::audit::writer::CommitOutcome;
use crate::clock::Timestamp;
use crate::pipeline::FrontTimings;
use crate::pipeline::{KeyContext, Pipeline, Submission};
use crate::store::Store;
use crate::webhooks::Webhooks;

/// Lease and sweep settings.
#[derive(Clone, Copy, Debug)]
pub struct PendingConfig {
    /// How long one evaluation may hold an intent.
    pub lease: Duration,
    /// How often to look for intents nobody is evaluating.
    pub sweep_interval: Duration,
}

impl Default for PendingConfig {
    fn default() -> PendingConfig {
        PendingConfig { lease: Duration::from_secs(60), sweep_interval: Duration::from_secs(5) }
    }
}

struct Inner {
    store: Store,
    pipeline: Pipeline,
    webhooks: Webhooks,
    config: PendingConfig,
    log: slog::Logger,
}

/// Hands pending intents to background evaluation.
#[derive(Clone)]
pub struct PendingIntents {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PendingIntents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingIntents").field("config", &self.inner.config).finish()
    }
}

impl PendingIntents {
    /// Starts the sweep (which also resumes intents left pending by an
    /// earlier run).
    pub fn start(
        store: Store,
        pipeline: Pipeline,
        webhooks: Webhooks,
        config: PendingConfig,
        log: slog::Logger,
    ) -> (PendingIntents, tokio::task::JoinHandle<()>) {
        let this = PendingIntents { inner: Arc::new(Inner { store, pipeline, webhooks, config, log }) };
        let sweeper = this.clone();
        let task = tokio::spawn(async move {
            loop {
                sweeper.sweep().await;
                tokio::time::sleep(sweeper.inner.config.sweep_interval).await;
            }
        });
        (this, task)
    }

    /// The webhook worker (deliveries are also due when a human decides an
    /// escalated intent).
    pub fn webhooks(&self) -> &Webhooks {
        &self.inner.webhooks
    }

    /// Evaluates `intent_id` in the background.
    pub fn dispatch(&self, intent_id: IntentId) {
        let this = self.clone();
        tokio::spawn(async move { this.evaluate(intent_id).await });
    }

    async fn sweep(&self) {
        match self.inner.store.unclaimed_pending_intents(Timestamp::now(), 100).await {
            Ok(ids) => ids.into_iter().for_each(|id| self.dispatch(id)),
            Err(error) => slog::warn!(self.inner.log, "pending intent sweep failed"; "error" => %error),
        }
    }

    async fn evaluate(&self, intent_id: IntentId) {
        let inner = &self.inner;
        let now = Timestamp::now();
        match inner.store.claim_pending_intent(&intent_id, now, now + inner.config.lease).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                slog::warn!(inner.log, "claiming pending intent failed"; "intent_id" => %intent_id, "error" => %error);
                return;
            }
        }
        let intent = match inner.store.pending_intent(&intent_id).await {
            Ok(Some(intent)) => intent,
            Ok(None) => return,
            Err(error) => {
                slog::warn!(inner.log, "loading pending intent failed"; "intent_id" => %intent_id, "error" => %error);
                return;
            }
        };
        let request: IntentRequest = match serde_json::from_str(&intent.request_json) {
            Ok(request) => request,
            Err(error) => {
                slog::error!(inner.log, "stored intent does not parse"; "intent_id" => %intent_id, "error" => %error);
                return;
            }
        };
        let has_callback = intent.callback_url.is_some();
        let submission = Submission {
            intent_id: intent_id.clone(),
            tenant: intent.row.tenant,
            key: KeyContext {
                credential: intent.row.credential,
                environment: intent.row.environment,
                bound_agent: intent.row.bound_agent_id,
            },
            token: None,
            request,
            tool: None,
            approval_id: None,
            received: Instant::now(),
            created_at: intent.row.created_at,
            pending: true,
            idempotency: None,
            callback_url: intent.callback_url,
            invalid: None,
            // Authenticated and validated when it was accepted.
            front: FrontTimings::default(),
        };
        match inner.pipeline.decide(submission).await {
            Ok(CommitOutcome::Committed(_)) if has_callback => inner.webhooks.notify(),
            Ok(_) => {}
            Err(error) => {
                // The lease expires and the sweep tries again.
                slog::warn!(inner.log, "async evaluation failed; will retry"; "intent_id" => %intent_id, "error" => %error);
            }
        }
    }
}
