//! Declaring intents and waiting for decisions and approvals.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::gateway::Gateway;
use crate::generated::types;

/// An intent of `agent` to `verb` (an action of `action_type`), with no
/// target or payload; set `action.target` and `action.payload` for more.
///
/// Fails when `agent` or `verb` is not a valid id or verb.
pub fn intent(agent: &str, action_type: types::ActionType, verb: &str) -> Result<types::Intent, Error> {
    let invalid = |what: &str, value: &str, e: &dyn std::fmt::Display| {
        Error::InvalidArgument(format!("{what} `{value}`: {e}"))
    };
    let id = types::AgentId::try_from(agent).map_err(|e| invalid("agent id", agent, &e))?;
    let verb_value = verb.parse::<types::Verb>().map_err(|e| invalid("verb", verb, &e))?;
    Ok(types::Intent {
        agent: types::AgentRef { id, framework: None },
        action: types::Action { type_: action_type, verb: verb_value, target: None, payload: None },
    })
}

/// Options of [`Gateway::declare_intent_with`].
#[derive(Clone, Debug, Default)]
pub struct DeclareOptions {
    /// The `Idempotency-Key`; one is generated when absent, so a retried
    /// declaration never decides (or charges a budget) twice.
    pub idempotency_key: Option<String>,
    /// Resume an escalation a human approved (`Lictor-Approval-Id`).
    pub approval_id: Option<String>,
    /// Free-form context handed to policy as `input.intent.context`.
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Gateway {
    /// Declares `intent` and answers the Decision. Every verdict — `block`
    /// included — is a Decision; only a request the gateway cannot decide
    /// is an [`Error`].
    pub async fn declare_intent(&self, intent: types::Intent) -> Result<types::Decision, Error> {
        self.declare_intent_with(intent, DeclareOptions::default()).await
    }

    /// [`Gateway::declare_intent`] with an idempotency key, an approval to
    /// resume with, or context.
    pub async fn declare_intent_with(
        &self,
        intent: types::Intent,
        options: DeclareOptions,
    ) -> Result<types::Decision, Error> {
        let key = options.idempotency_key.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let body = types::IntentRequest { intent, context: options.context };
        let approval = options.approval_id;
        self.retrying_keyed(|| {
            let mut call = self.api().intent_declare().idempotency_key(key.clone()).body(body.clone());
            if let Some(approval) = &approval {
                call = call.lictor_approval_id(approval.clone());
            }
            call.send()
        })
        .await
    }

    /// Declares `intent` asynchronously (`POST /v1/intents:async`): the
    /// gateway answers at once with the intent id; the decision follows on
    /// [`Gateway::wait_for_decision`] or at `callback_url`.
    pub async fn declare_intent_async(
        &self,
        intent: types::Intent,
        callback_url: Option<&str>,
    ) -> Result<types::IntentAccepted, Error> {
        let callback_url = callback_url
            .map(|url| {
                types::CallbackUrl::try_from(url).map_err(|e| Error::InvalidArgument(format!("`{url}`: {e}")))
            })
            .transpose()?;
        let body = types::AsyncIntentRequest { intent, context: None, callback_url };
        let key = uuid::Uuid::new_v4().to_string();
        self.retrying_keyed(|| {
            self.api().intent_declare_async().idempotency_key(key.clone()).body(body.clone()).send()
        })
        .await
    }

    /// Waits until the intent `intent_id` is decided and answers its
    /// Decision, polling with a growing interval; [`Error::Timeout`] after
    /// `timeout`.
    ///
    /// An escalated intent counts as decided (its verdict is `escalate`);
    /// wait for the human with [`Gateway::wait_for_approval`], after which
    /// the intent's decision moves on.
    pub async fn wait_for_decision(
        &self,
        intent_id: &str,
        timeout: Duration,
    ) -> Result<types::Decision, Error> {
        let id = types::IntentId::try_from(intent_id)
            .map_err(|e| Error::InvalidArgument(format!("intent id `{intent_id}`: {e}")))?;
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(50);
        loop {
            let state =
                self.retrying(|| self.api().intent_decision_get().intent_id(id.clone()).send()).await?;
            if let (types::IntentStatus::Decided, Some(decision)) = (state.status, state.decision) {
                return Ok(decision);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(format!("the decision of intent `{intent_id}`")));
            }
            tokio::time::sleep(interval.min(left)).await;
            interval = (interval * 2).min(Duration::from_secs(2));
        }
    }

    /// Waits (long-polling `GET /v1/approvals/{id}`) until the approval is
    /// no longer pending, or `timeout` passes, and answers it as it then
    /// stands: check its `status`.
    pub async fn wait_for_approval(
        &self,
        approval_id: &str,
        timeout: Duration,
    ) -> Result<types::Approval, Error> {
        let id = types::ApprovalId::try_from(approval_id)
            .map_err(|e| Error::InvalidArgument(format!("approval id `{approval_id}`: {e}")))?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left.as_secs().clamp(0, 60) as u32;
            let approval = self
                .retrying(|| self.api().approval_wait().approval_id(id.clone()).wait_seconds(wait).send())
                .await?;
            if approval.status != types::ApprovalStatus::Pending || left.as_secs() <= u64::from(wait) {
                return Ok(approval);
            }
        }
    }
}
