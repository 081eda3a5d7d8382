//! Intents, their decisions, idempotency keys, approvals and webhook
//! deliveries.

use crate::clock::Timestamp;
use lictor_api::api_keys::Environment;
use lictor_api::ids::{AgentId, IntentId, TenantId};
use lictor_api::intents::{ActionType, CallbackState, IntentStatus, Verdict};
use sqlx::Row;

use super::{Store, StoreResult, StoreTx, corrupt, parse_opt, parse_req, tenant_column};

/// A recorded `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The key the client sent.
    pub key: String,
    /// Hash of the route and canonical body it was first used with.
    pub request_hash: String,
    /// The intent it produced.
    pub intent_id: IntentId,
}

/// An async intent accepted for background evaluation.
#[derive(Clone, Debug)]
pub struct NewPendingIntent {
    /// Identifier.
    pub id: IntentId,
    /// Tenant.
    pub tenant: TenantId,
    /// Named agent.
    pub agent_id: AgentId,
    /// The credential that declared it (`key_…` or `token:<jti>`).
    pub credential: String,
    /// The agent that key is restricted to.
    pub bound_agent_id: Option<AgentId>,
    /// The key's environment.
    pub environment: Environment,
    /// Action type.
    pub action_type: ActionType,
    /// Verb.
    pub verb: String,
    /// The request as accepted (JSON).
    pub request_json: String,
    /// Acceptance time.
    pub created_at: Timestamp,
    /// Where to deliver the decision.
    pub callback_url: Option<String>,
}

/// Outcome of [`Store::insert_pending_intent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PendingInsert {
    /// Stored.
    Inserted,
    /// The idempotency key was already used; nothing was stored.
    Duplicate(IdempotencyRecord),
}

/// A decided intent to record.
#[derive(Clone, Debug)]
pub struct DecidedIntent {
    /// Identifier.
    pub id: IntentId,
    /// Tenant.
    pub tenant: TenantId,
    /// Named agent.
    pub agent_id: AgentId,
    /// The credential that declared it (`key_…` or `token:<jti>`).
    pub credential: String,
    /// The agent that key is restricted to.
    pub bound_agent_id: Option<AgentId>,
    /// Environment.
    pub environment: Environment,
    /// Action type.
    pub action_type: ActionType,
    /// Verb.
    pub verb: String,
    /// Effective verdict.
    pub verdict: Verdict,
    /// Shadow's real verdict.
    pub would_be_verdict: Option<Verdict>,
    /// The request (JSON).
    pub request_json: String,
    /// The Decision (JSON).
    pub decision_json: String,
    /// The policy input document (JSON), for faithful replay.
    pub policy_input_json: String,
    /// The policy stage's own verdict (`None` when it did not run).
    pub policy_verdict: Option<Verdict>,
    /// Receipt time.
    pub created_at: Timestamp,
    /// Decision time.
    pub decided_at: Timestamp,
    /// Where to deliver the decision.
    pub callback_url: Option<String>,
}

/// An intent as listed.
#[derive(Clone, Debug)]
pub struct IntentRow {
    /// Identifier.
    pub id: IntentId,
    /// Tenant.
    pub tenant: TenantId,
    /// Named agent.
    pub agent_id: AgentId,
    /// The credential that declared it (`key_…` or `token:<jti>`).
    pub credential: String,
    /// The agent that key is restricted to.
    pub bound_agent_id: Option<AgentId>,
    /// Environment.
    pub environment: Environment,
    /// Action type.
    pub action_type: ActionType,
    /// Verb.
    pub verb: String,
    /// Decided yet?
    pub status: IntentStatus,
    /// Effective verdict.
    pub verdict: Option<Verdict>,
    /// Shadow's real verdict.
    pub would_be_verdict: Option<Verdict>,
    /// Receipt time.
    pub created_at: Timestamp,
    /// Decision time.
    pub decided_at: Option<Timestamp>,
}

/// An intent with its request, decision and callback state.
#[derive(Clone, Debug)]
pub struct PendingIntent {
    /// The summary columns.
    pub row: IntentRow,
    /// The request (JSON).
    pub request_json: String,
    /// The Decision (JSON), once decided.
    pub decision_json: Option<String>,
    /// Where to deliver the decision.
    pub callback_url: Option<String>,
    /// Delivery state.
    pub callback_state: Option<CallbackState>,
    /// Next delivery attempt.
    pub callback_next_at: Option<Timestamp>,
}

/// Filters of the intent list.
#[derive(Clone, Debug, Default)]
pub struct IntentFilter {
    /// Only this agent.
    pub agent_id: Option<AgentId>,
    /// Only this effective verdict.
    pub verdict: Option<Verdict>,
    /// Only this action type.
    pub action_type: Option<ActionType>,
    /// Only this environment.
    pub environment: Option<Environment>,
    /// Created at or after.
    pub from: Option<Timestamp>,
    /// Created before.
    pub to: Option<Timestamp>,
}

/// A webhook delivery that is due.
#[derive(Clone, Debug)]
pub struct CallbackDue {
    /// The intent.
    pub intent_id: IntentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The receiver.
    pub url: String,
    /// The Decision to send (JSON).
    pub decision_json: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// The due time this delivery was read with.
    pub next_at: Timestamp,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryRecord {
    /// 1-based attempt number.
    pub attempt: u32,
    /// When.
    pub attempted_at: Timestamp,
    /// Receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// Failure, if any.
    pub error: Option<String>,
    /// Duration (ms).
    pub duration_ms: u64,
}

macro_rules! select_intents {
    ($extra:literal, $rest:literal) => {
        concat!(
            "SELECT id, tenant_id, agent_id, credential, bound_agent_id, environment, action_type, verb, status, ",
            "verdict, would_be_verdict, created_at, decided_at",
            $extra,
            " FROM intents ",
            $rest
        )
    };
}

fn intent_from_row(row: &sqlx::any::AnyRow) -> StoreResult<IntentRow> {
    let environment: String = row.try_get("environment")?;
    let action_type: String = row.try_get("action_type")?;
    let status: String = row.try_get("status")?;
    let bound: Option<String> = row.try_get("bound_agent_id")?;
    Ok(IntentRow {
        id: IntentId::parse(row.try_get::<String, _>("id")?).map_err(corrupt)?,
        tenant: tenant_column(row)?,
        agent_id: AgentId::parse(row.try_get::<String, _>("agent_id")?).map_err(corrupt)?,
        credential: row.try_get("credential")?,
        bound_agent_id: bound.map(AgentId::parse).transpose().map_err(corrupt)?,
        environment: parse_req(&environment, Environment::parse, "environment")?,
        action_type: parse_req(&action_type, ActionType::parse, "action type")?,
        verb: row.try_get("verb")?,
        status: parse_req(&status, parse_status, "intent status")?,
        verdict: parse_opt(row.try_get("verdict")?, Verdict::parse, "verdict")?,
        would_be_verdict: parse_opt(row.try_get("would_be_verdict")?, Verdict::parse, "verdict")?,
        created_at: row.try_get("created_at")?,
        decided_at: row.try_get("decided_at")?,
    })
}

fn parse_status(s: &str) -> Option<IntentStatus> {
    match s {
        "pending" => Some(IntentStatus::Pending),
        "decided" => Some(IntentStatus::Decided),
        _ => None,
    }
}

fn callback_state_str(state: CallbackState) -> &'static str {
    match state {
        CallbackState::Pending => "pending",
        CallbackState::Delivered => "delivered",
        CallbackState::Failed => "failed",
    }
}

fn parse_callback_state(s: &str) -> Option<CallbackState> {
    match s {
        "pending" => Some(CallbackState::Pending),
        "delivered" => Some(CallbackState::Delivered),
        "failed" => Some(CallbackState::Failed),
        _ => None,
    }
}

pub(super) fn idempotency_from_row(row: &sqlx::any::AnyRow) -> StoreResult<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        key: row.try_get("key")?,
        request_hash: row.try_get("request_hash")?,
        intent_id: IntentId::parse(row.try_get::<String, _>("intent_id")?).map_err(corrupt)?,
    })
}

fn opt_str<T: AsRef<str>>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(|v| v.as_ref().to_string())
}

impl StoreTx {
    /// Records `record` unless the tenant already used its key; returns the
    /// earlier record in that case (and writes nothing).
    pub async fn claim_idempotency(
        &mut self,
        tenant: &TenantId,
        record: &IdempotencyRecord,
        now: Timestamp,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        if let Some(claimed) = self.claim_prefetched(tenant, record, now) {
            return Ok(claimed);
        }
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, intent_id, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(&record.key)
        .bind(&record.request_hash)
        .bind(record.intent_id.as_str())
        .bind(now)
        .execute(self.conn())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT key, request_hash, intent_id FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant.as_str())
        .bind(&record.key)
        .fetch_one(self.conn())
        .await?;
        idempotency_from_row(&row).map(Some)
    }

    /// Whether the intent exists with a decision recorded.
    pub async fn intent_decided(&mut self, tenant: &TenantId, id: &IntentId) -> StoreResult<bool> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM intents WHERE tenant_id = $1 AND id = $2 AND decision IS NOT NULL",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_one(self.conn())
        .await?;
        Ok(count > 0)
    }

    /// Whether the async intent is still pending, locking it until commit.
    pub async fn lock_pending_intent(&mut self, id: &IntentId) -> StoreResult<bool> {
        let sql = format!("SELECT status FROM intents WHERE id = $1{}", self.backend().for_update());
        let status: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(self.conn())
            .await?;
        Ok(status.as_deref() == Some("pending"))
    }

    /// Records a decided intent: inserts it (synchronous intents, with the
    /// transaction's other deferred rows) or completes the pending row
    /// (async intents).
    pub async fn record_decided_intent(
        &mut self,
        intent: DecidedIntent,
        was_pending: bool,
    ) -> StoreResult<()> {
        let callback_state = intent.callback_url.as_ref().map(|_| "pending");
        let callback_next_at = intent.callback_url.as_ref().map(|_| intent.decided_at);
        if was_pending {
            sqlx::query(
                "UPDATE intents SET status = 'decided', verdict = $1, would_be_verdict = $2, decision = $3,
                        policy_input = $4, decided_at = $5, claimed_until = NULL, callback_state = $6,
                        callback_next_at = $7, policy_verdict = $9
                 WHERE id = $8 AND status = 'pending'",
            )
            .bind(intent.verdict.as_str())
            .bind(intent.would_be_verdict.map(|v| v.as_str().to_string()))
            .bind(&intent.decision_json)
            .bind(&intent.policy_input_json)
            .bind(intent.decided_at)
            .bind(callback_state)
            .bind(callback_next_at)
            .bind(intent.id.as_str())
            .bind(intent.policy_verdict.map(|v| v.as_str().to_string()))
            .execute(self.conn())
            .await?;
            return Ok(());
        }
        self.defer_decided_intent(intent);
        Ok(())
    }

    /// The stored Decision of a decided intent, locked until commit.
    pub async fn lock_intent_decision(
        &mut self,
        tenant: &TenantId,
        id: &IntentId,
    ) -> StoreResult<Option<String>> {
        let sql = format!(
            "SELECT decision FROM intents WHERE tenant_id = $1 AND id = $2 AND status = 'decided'{}",
            self.backend().for_update()
        );
        let decision: Option<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.conn())
            .await?;
        Ok(decision.flatten())
    }

    /// Replaces a decided intent's Decision (a human decided its approval);
    /// a callback, if the intent has one, is delivered again.
    pub async fn update_intent_decision(
        &mut self,
        id: &IntentId,
        verdict: Verdict,
        decision_json: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE intents SET verdict = $1, decision = $2,
                    callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END,
                    callback_next_at = CASE WHEN callback_url IS NULL THEN NULL ELSE $3 END
             WHERE id = $4",
        )
        .bind(verdict.as_str())
        .bind(decision_json)
        .bind(now)
        .bind(id.as_str())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// The policy inputs of a tenant's latest decided intents, newest first
    /// (at most `limit`): real traffic to compare a bundle's two engines on.
    pub async fn recent_policy_inputs(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> StoreResult<Vec<serde_json::Value>> {
        let rows: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT policy_input FROM intents WHERE tenant_id = $1 AND status = 'decided'
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(tenant.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        // An input that no longer parses is not a sample (the audit log,
        // not this, is where damage is reported).
        Ok(rows.into_iter().flatten().filter_map(|text| serde_json::from_str(&text).ok()).collect())
    }

    /// The record of a tenant's idempotency key.
    pub async fn find_idempotency(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let row = sqlx::query(
            "SELECT key, request_hash, intent_id FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant.as_str())
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(idempotency_from_row).transpose()
    }

    /// Stores an accepted async intent (and its idempotency key) atomically.
    pub async fn insert_pending_intent(
        &self,
        intent: &NewPendingIntent,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<PendingInsert> {
        let mut tx = self.begin().await?;
        if let Some(record) = idempotency
            && let Some(existing) = tx.claim_idempotency(&intent.tenant, record, intent.created_at).await?
        {
            return Ok(PendingInsert::Duplicate(existing));
        }
        sqlx::query(
            "INSERT INTO intents (id, tenant_id, agent_id, credential, bound_agent_id, environment, action_type,
                 verb, status, request, created_at, callback_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11)",
        )
        .bind(intent.id.as_str())
        .bind(intent.tenant.as_str())
        .bind(intent.agent_id.as_str())
        .bind(&intent.credential)
        .bind(opt_str(&intent.bound_agent_id))
        .bind(intent.environment.as_str())
        .bind(intent.action_type.as_str())
        .bind(&intent.verb)
        .bind(&intent.request_json)
        .bind(intent.created_at)
        .bind(intent.callback_url.clone())
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(PendingInsert::Inserted)
    }

    /// One intent of a tenant with its request, decision and callback state.
    pub async fn get_intent(&self, tenant: &TenantId, id: &IntentId) -> StoreResult<Option<PendingIntent>> {
        let row = sqlx::query(select_intents!(
            ", request, decision, callback_url, callback_state, callback_next_at",
            "WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PendingIntent {
            row: intent_from_row(&row)?,
            request_json: row.try_get("request")?,
            decision_json: row.try_get("decision")?,
            callback_url: row.try_get("callback_url")?,
            callback_state: parse_opt(
                row.try_get("callback_state")?,
                parse_callback_state,
                "callback state",
            )?,
            callback_next_at: row.try_get("callback_next_at")?,
        }))
    }

    /// A tenant's intents, newest first, strictly before the `(created_at,
    /// id)` position `before`.
    pub async fn list_intents(
        &self,
        tenant: &TenantId,
        filter: &IntentFilter,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> StoreResult<Vec<IntentRow>> {
        let (before_ts, before_id) = before.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(select_intents!(
            "",
            "WHERE tenant_id = $1
               AND ($2 = '' OR agent_id = $2)
               AND ($3 = '' OR verdict = $3)
               AND ($4 = '' OR action_type = $4)
               AND ($5 = '' OR environment = $5)
               AND created_at >= $6 AND created_at < $7
               AND (created_at < $8 OR (created_at = $8 AND $9 <> '' AND id < $9))
             ORDER BY created_at DESC, id DESC LIMIT $10"
        ))
        .bind(tenant.as_str())
        .bind(filter.agent_id.as_ref().map(|a| a.as_str()).unwrap_or(""))
        .bind(filter.verdict.map(Verdict::as_str).unwrap_or(""))
        .bind(filter.action_type.map(ActionType::as_str).unwrap_or(""))
        .bind(filter.environment.map(Environment::as_str).unwrap_or(""))
        .bind(filter.from.unwrap_or(Timestamp::MIN))
        .bind(filter.to.unwrap_or(Timestamp::MAX))
        .bind(before_ts)
        .bind(before_id)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(intent_from_row).collect()
    }

    /// Takes the lease on a pending intent until `until`; `false` if it
    /// is decided or another worker holds an unexpired lease.
    pub async fn claim_pending_intent(
        &self,
        id: &IntentId,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE intents SET claimed_until = $1
             WHERE id = $2 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < $3)",
        )
        .bind(until)
        .bind(id.as_str())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A pending intent's full record (any tenant: used by the background
    /// evaluator, which holds the lease).
    pub async fn pending_intent(&self, id: &IntentId) -> StoreResult<Option<PendingIntent>> {
        let tenant: Option<String> = sqlx::query_scalar("SELECT tenant_id FROM intents WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        let Some(tenant) = tenant else { return Ok(None) };
        let tenant = TenantId::parse(tenant).map_err(corrupt)?;
        self.get_intent(&tenant, id).await
    }

    /// Pending intents nobody holds a lease on (oldest first).
    pub async fn unclaimed_pending_intents(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<IntentId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM intents WHERE status = 'pending' AND (claimed_until IS NULL OR claimed_until < $1)
             ORDER BY created_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        ids.into_iter().map(|id| IntentId::parse(id).map_err(corrupt)).collect()
    }

    /// Webhook deliveries due at `now`.
    pub async fn callbacks_due(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<CallbackDue>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, callback_url, decision, callback_attempts, callback_next_at FROM intents
             WHERE callback_state = 'pending' AND callback_next_at <= $1
             ORDER BY callback_next_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let attempts: i64 = row.try_get("callback_attempts")?;
                let url: Option<String> = row.try_get("callback_url")?;
                let decision: Option<String> = row.try_get("decision")?;
                Ok(CallbackDue {
                    intent_id: IntentId::parse(row.try_get::<String, _>("id")?).map_err(corrupt)?,
                    tenant: tenant_column(row)?,
                    url: url.ok_or_else(|| corrupt("callback without url"))?,
                    decision_json: decision.ok_or_else(|| corrupt("callback without decision"))?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    next_at: row.try_get("callback_next_at")?,
                })
            })
            .collect()
    }

    /// Moves a due delivery's next attempt to `until` if it is still due at
    /// `expected`: the worker that succeeds owns this attempt.
    pub async fn lease_callback(
        &self,
        id: &IntentId,
        expected: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE intents SET callback_next_at = $1
             WHERE id = $2 AND callback_state = 'pending' AND callback_next_at = $3",
        )
        .bind(until)
        .bind(id.as_str())
        .bind(expected)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a delivery attempt and the delivery's new state.
    pub async fn record_delivery(
        &self,
        id: &IntentId,
        attempt: &DeliveryRecord,
        state: CallbackState,
        next_at: Option<Timestamp>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (intent_id, attempt, attempted_at, status_code, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(i64::from(attempt.attempt))
        .bind(attempt.attempted_at)
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.error.clone())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "UPDATE intents SET callback_state = $1, callback_attempts = $2, callback_next_at = $3 WHERE id = $4",
        )
        .bind(callback_state_str(state))
        .bind(i64::from(attempt.attempt))
        .bind(next_at)
        .bind(id.as_str())
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Every delivery attempt of an intent, oldest first.
    pub async fn deliveries(&self, id: &IntentId) -> StoreResult<Vec<DeliveryRecord>> {
        let rows = sqlx::query(
            "SELECT attempt, attempted_at, status_code, error, duration_ms FROM webhook_deliveries
             WHERE intent_id = $1 ORDER BY attempt",
        )
        .bind(id.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let attempt: i64 = row.try_get("attempt")?;
                let status: Option<i64> = row.try_get("status_code")?;
                let duration: i64 = row.try_get("duration_ms")?;
                Ok(DeliveryRecord {
                    attempt: u32::try_from(attempt).map_err(corrupt)?,
                    attempted_at: row.try_get("attempted_at")?,
                    status_code: status.map(u16::try_from).transpose().map_err(corrupt)?,
                    error: row.try_get("error")?,
                    duration_ms: u64::try_from(duration).map_err(corrupt)?,
                })
            })
            .collect()
    }
}
