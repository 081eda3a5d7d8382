//! `/v1/intents`: declare intents (sync, async, batch) and read decisions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lictor_api::ApiError;
use lictor_api::agents::TenantScope;
use lictor_api::api_keys::Environment;
use lictor_api::audit::{AuditEntryPage, IntentAuditParams};
use lictor_api::extract::reroot_path;
use lictor_api::ids::{ApprovalId, IntentId, TenantId};
use lictor_api::intents::{
    AsyncIntentRequest, CallbackState, CallbackStatus, Decision, DeliveryAttempt, IntentAccepted,
    IntentBatchItem, IntentBatchRequest, IntentBatchResponse, IntentDecision, IntentHeaders,
    IntentListParams, IntentPage, IntentPath, IntentRequest, IntentStatus, IntentSummary, Reason, StageName,
    StageOutcome, StageReport, Verb, Verdict,
};
use lictor_api::tenants::StoreFailureMode;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use crate::audit::canonical_string;
use crate::audit::writer::CommitOutcome;
use crate::auth::Principal;
use crate::caller::{Acting, Caller};
use crate::clock;
use crate::clock::Timestamp;
use crate::cursor;
use crate::error::{Error, Object};
use crate::ids;
use crate::pipeline::FrontTimings;
use crate::pipeline::{KeyContext, Submission};
use crate::store::{
    IdempotencyRecord, IntentFilter, NewPendingIntent, PendingInsert, PendingIntent, StoreError,
};
use crate::token::CapabilityToken;

/// Maximum intents in one batch.
pub(crate) const MAX_BATCH: usize = 50;

/// When the request arrived and how long its body took to parse.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrival {
    /// When reading the body began.
    pub at: Instant,
    /// Reading and parsing the body.
    pub parse: Duration,
}

/// Authenticates the acting agent's credentials and validates the body:
/// the pipeline's first two stages, reported with their durations.
struct Front<T> {
    tenant: TenantId,
    key: KeyContext,
    token: Option<Arc<CapabilityToken>>,
    request: T,
    idempotency_key: Option<String>,
    approval_id: Option<ApprovalId>,
    timings: FrontTimings,
}

/// Whether capability tokens may make the request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tokens {
    Accepted,
    Refused,
}

async fn front<T>(
    caller: &Caller<'_>,
    arrival: Arrival,
    tokens: Tokens,
    headers: Option<Result<IntentHeaders, ApiError>>,
    body: Result<T, ApiError>,
) -> Result<Front<T>, Error> {
    let Acting { principal, key, tenant, authenticate_us } = caller.agent().await?;
    if tokens == Tokens::Refused && principal.token().is_some() {
        return Err(Error::Forbidden(
            "capability tokens declare intents synchronously: use `POST /v1/intents`".into(),
        ));
    }
    let started = Instant::now();
    let request = body?;
    let (idempotency_key, approval_id) = match headers {
        Some(headers) => {
            let headers = headers?;
            (check_idempotency_key(headers.idempotency_key)?, check_approval_id(headers.approval_id)?)
        }
        None => (None, None),
    };
    let validate_us = clock::duration_us(arrival.parse + started.elapsed());
    let idempotency_key =
        idempotency_key.map(|client| scoped_idempotency_key(&key, principal.token(), &client));
    Ok(Front {
        tenant,
        key,
        token: principal.token().cloned(),
        request,
        idempotency_key,
        approval_id,
        timings: FrontTimings { authenticate_us, validate_us },
    })
}

/// Separates an idempotency key's scope from the client's key (a control
/// character: client keys are printable).
const SCOPE_END: char = '\u{1f}';

/// The key stored for a client's `Idempotency-Key`: scoped to the
/// environment and the credential (an API key's id, or a capability
/// token's root jti, which its attenuations share), so that one credential
/// never replays another's answer — a shadow approval to a live key, a
/// test answer past a live budget, an agent key's answer to a narrower
/// token.
fn scoped_idempotency_key(key: &KeyContext, token: Option<&Arc<CapabilityToken>>, client: &str) -> String {
    let credential = match token.and_then(|t| t.revocation_jtis().first().map(|jti| jti.to_string())) {
        Some(root) => format!("token:{root}"),
        None => key.credential.clone(),
    };
    format!("{}{SCOPE_END}{credential}{SCOPE_END}{client}", key.environment.as_str())
}

/// The client's part of a stored idempotency key.
fn client_key(stored: &str) -> &str {
    stored.rsplit(SCOPE_END).next().unwrap_or(stored)
}

fn check_idempotency_key(key: Option<String>) -> Result<Option<String>, Error> {
    match key {
        None => Ok(None),
        Some(k) if !k.is_empty() && k.len() <= 255 && k.chars().all(|c| (' '..='~').contains(&c)) => {
            Ok(Some(k))
        }
        Some(_) => Err(Error::InvalidParameter {
            parameter: "Idempotency-Key".into(),
            message: "`Idempotency-Key` must be 1 to 255 printable ASCII characters".into(),
        }),
    }
}

/// Parses a `Lictor-Approval-Id` header.
pub(crate) fn check_approval_id(id: Option<String>) -> Result<Option<ApprovalId>, Error> {
    id.map(|id| {
        ApprovalId::parse(id.trim()).map_err(|e| Error::InvalidParameter {
            parameter: "Lictor-Approval-Id".into(),
            message: e.to_string(),
        })
    })
    .transpose()
}

/// Identifies "the same request" for idempotency: the operation and the
/// canonical (RFC 8785) JSON of the validated body.
///
/// A body that cannot be read back as JSON is refused rather than hashed
/// as `null`, which would make unrelated requests "the same".
fn request_hash(operation: &str, body: &impl Serialize) -> Result<String, Error> {
    let value = serde_json::to_value(body)
        .map_err(|e| Error::Internal(format!("the request cannot be hashed for idempotency: {e}")))?;
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_string(&value).as_bytes());
    Ok(hex::encode(hasher.finalize()))
}

fn check_replay(existing: &IdempotencyRecord, hash: &str) -> Result<(), Error> {
    if existing.request_hash == hash {
        Ok(())
    } else {
        Err(Error::IdempotencyConflict(format!(
            "`Idempotency-Key` `{}` was already used with a different request",
            client_key(&existing.key)
        )))
    }
}

fn stored_decision(intent: &PendingIntent) -> Result<Option<Decision>, Error> {
    intent
        .decision_json
        .as_deref()
        .map(|json| serde_json::from_str(json).map_err(|e| Error::Internal(format!("stored decision: {e}"))))
        .transpose()
}

/// The intent an `Idempotency-Key` already names, if `hash` is the same
/// request.
async fn replayed_intent(
    caller: &Caller<'_>,
    tenant: &TenantId,
    existing: &IdempotencyRecord,
    hash: &str,
) -> Result<PendingIntent, Error> {
    check_replay(existing, hash)?;
    caller.state.store.get_intent(tenant, &existing.intent_id).await?.ok_or_else(|| {
        Error::Internal(format!("idempotency key names missing intent `{}`", existing.intent_id))
    })
}

async fn replay_decision(
    caller: &Caller<'_>,
    tenant: &TenantId,
    existing: &IdempotencyRecord,
    hash: &str,
) -> Result<Decision, Error> {
    let intent = replayed_intent(caller, tenant, existing, hash).await?;
    stored_decision(&intent)?.ok_or_else(|| {
        Error::IdempotencyConflict(format!(
            "`Idempotency-Key` `{}` belongs to an intent that is still pending",
            client_key(&existing.key)
        ))
    })
}

fn submission<T>(front: &Front<T>, arrival: Arrival, request: IntentRequest) -> Submission {
    Submission {
        intent_id: ids::intent_id(),
        tenant: front.tenant.clone(),
        key: front.key.clone(),
        token: front.token.clone(),
        request,
        tool: None,
        approval_id: front.approval_id.clone(),
        received: arrival.at,
        created_at: Timestamp::now(),
        pending: false,
        idempotency: None,
        callback_url: None,
        invalid: None,
        front: front.timings,
    }
}

/// `POST /v1/intents`.
pub(crate) async fn declare(
    caller: &Caller<'_>,
    arrival: Arrival,
    headers: Result<IntentHeaders, ApiError>,
    body: Result<IntentRequest, ApiError>,
) -> Result<Decision, Error> {
    let front = front(caller, arrival, Tokens::Accepted, Some(headers), body).await?;
    let tenant = front.tenant.clone();
    let hash = request_hash("intent_declare", &front.request)?;
    let mut sub = submission(&front, arrival, front.request.clone());
    if let Some(key) = front.idempotency_key.clone() {
        if let Some(existing) = caller.state.store.find_idempotency(&tenant, &key).await? {
            return replay_decision(caller, &tenant, &existing, &hash).await;
        }
        sub.idempotency =
            Some(IdempotencyRecord { key, request_hash: hash.clone(), intent_id: sub.intent_id.clone() });
    }
    let shadow = front.key.environment == Environment::Shadow;
    if shadow {
        caller.state.degraded.refresh_mode(&tenant).await;
    }
    let unaudited = shadow.then(|| unaudited_shadow_decision(caller, &sub));
    match caller.state.pipeline.decide(sub).await {
        Ok(CommitOutcome::Committed(decision)) => Ok(*decision),
        Ok(CommitOutcome::Duplicate(existing)) => replay_decision(caller, &tenant, &existing, &hash).await,
        Ok(CommitOutcome::AlreadyDecided) => Err(Error::Internal("a new intent was already decided".into())),
        Err(Error::Store(StoreError::Unavailable(_)))
            if caller.state.degraded.mode(&tenant) == StoreFailureMode::OpenInShadow
                && let Some(decision) = unaudited =>
        {
            Ok(decision)
        }
        Err(error) => Err(error),
    }
}

/// The answer to a `shadow` intent of a tenant that chose
/// `open_in_shadow` while the store cannot be reached: `approve`, not
/// enforced, neither decided by policy nor recorded (see `crate::degraded`).
fn unaudited_shadow_decision(caller: &Caller<'_>, sub: &Submission) -> Decision {
    let intent = &sub.request.intent;
    let skipped = |name| StageReport { name, outcome: StageOutcome::Skip, duration_us: 0 };
    let mut stages = sub.front.reports().to_vec();
    stages.extend(
        [StageName::Identity, StageName::Capability, StageName::Risk, StageName::Policy, StageName::Budget]
            .map(skipped),
    );
    stages.push(StageReport { name: StageName::Decide, outcome: StageOutcome::Pass, duration_us: 0 });
    stages.push(StageReport { name: StageName::Audit, outcome: StageOutcome::Fail, duration_us: 0 });
    Decision {
        intent_id: sub.intent_id.clone(),
        tenant: sub.tenant.clone(),
        agent_id: intent.agent.id.clone(),
        environment: Environment::Shadow,
        verdict: Verdict::Approve,
        enforced: false,
        would_be_verdict: None,
        reasons: vec![Reason {
            stage: StageName::Audit,
            code: "store_unavailable_unaudited".into(),
            message: "the store cannot be reached: this shadow intent was neither evaluated nor recorded"
                .into(),
        }],
        modifications: None,
        alternatives: None,
        risk: crate::pipeline::risk::assess(intent),
        stages,
        policy: caller.state.policies.for_tenant(&sub.tenant).policy_ref(),
        audit: None,
        approval: None,
        decided_at: Timestamp::now().to_datetime(),
        latency_us: clock::elapsed_us(sub.received),
    }
}

async fn replay_accepted(
    caller: &Caller<'_>,
    tenant: &TenantId,
    existing: &IdempotencyRecord,
    hash: &str,
) -> Result<IntentAccepted, Error> {
    let intent = replayed_intent(caller, tenant, existing, hash).await?;
    Ok(IntentAccepted { intent_id: intent.row.id, status: intent.row.status })
}

/// `POST /v1/intents/async` (API keys only: a capability token is not kept
/// for background evaluation).
pub(crate) async fn declare_async(
    caller: &Caller<'_>,
    arrival: Arrival,
    headers: Result<IntentHeaders, ApiError>,
    body: Result<AsyncIntentRequest, ApiError>,
) -> Result<IntentAccepted, Error> {
    let front = front(caller, arrival, Tokens::Refused, Some(headers), body).await?;
    if front.approval_id.is_some() {
        return Err(Error::InvalidParameter {
            parameter: "Lictor-Approval-Id".into(),
            message: "escalated intents resume synchronously: use `POST /v1/intents`".into(),
        });
    }
    let tenant = front.tenant.clone();
    let hash = request_hash("intent_declare_async", &front.request)?;
    let intent_id = ids::intent_id();
    let mut claim = None;
    if let Some(key) = front.idempotency_key.clone() {
        if let Some(existing) = caller.state.store.find_idempotency(&tenant, &key).await? {
            return replay_accepted(caller, &tenant, &existing, &hash).await;
        }
        claim = Some(IdempotencyRecord { key, request_hash: hash.clone(), intent_id: intent_id.clone() });
    }
    let AsyncIntentRequest { intent, context, callback_url } = front.request;
    let request = IntentRequest { intent, context };
    let pending = NewPendingIntent {
        id: intent_id.clone(),
        tenant: tenant.clone(),
        agent_id: request.intent.agent.id.clone(),
        credential: front.key.credential.clone(),
        bound_agent_id: front.key.bound_agent.clone(),
        environment: front.key.environment,
        action_type: request.intent.action.action_type,
        verb: request.intent.action.verb.to_string(),
        request_json: serde_json::to_string(&request).map_err(|e| Error::Internal(e.to_string()))?,
        created_at: Timestamp::now(),
        callback_url: callback_url.map(String::from),
    };
    match caller.state.store.insert_pending_intent(&pending, claim.as_ref()).await? {
        PendingInsert::Inserted => {
            caller.state.pending.dispatch(intent_id.clone());
            Ok(IntentAccepted { intent_id, status: IntentStatus::Pending })
        }
        PendingInsert::Duplicate(existing) => replay_accepted(caller, &tenant, &existing, &hash).await,
    }
}

/// `POST /v1/intents/batch`: every element is validated and decided on its
/// own, concurrently; one result per element, in order.
pub(crate) async fn declare_batch(
    caller: &Caller<'_>,
    arrival: Arrival,
    body: Result<IntentBatchRequest, ApiError>,
) -> Result<IntentBatchResponse, Error> {
    let mut front = front(caller, arrival, Tokens::Refused, None, body).await?;
    let items = std::mem::take(&mut front.request.intents);
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(Error::InvalidField {
            path: "$.intents".into(),
            message: format!("a batch holds 1 to {MAX_BATCH} intents, got {}", items.len()),
        });
    }
    let mut results: Vec<Option<IntentBatchItem>> = vec![None; items.len()];
    let mut running = JoinSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let index32 = u32::try_from(index).unwrap_or(u32::MAX);
        match item.into_inner() {
            Err(error) => {
                let path = error.path.as_deref().map(|p| reroot_path(&format!("$.intents[{index}]"), p));
                let mut error = error.with_request_id(caller.request_id);
                error.path = path;
                results[index] = Some(IntentBatchItem {
                    index: index32,
                    status: error.status(),
                    decision: None,
                    error: Some(error),
                });
            }
            Ok(request) => {
                let pipeline = caller.state.pipeline.clone();
                let submission = submission(&front, arrival, request);
                running.spawn(crate::telemetry::carried(async move {
                    (index, pipeline.decide(submission).await)
                }));
            }
        }
    }
    while let Some(joined) = running.join_next().await {
        let (index, outcome) = joined.map_err(|e| Error::Internal(format!("batch task: {e}")))?;
        let index32 = u32::try_from(index).unwrap_or(u32::MAX);
        results[index] = Some(match outcome {
            Ok(CommitOutcome::Committed(decision)) => {
                IntentBatchItem { index: index32, status: 200, decision: Some(*decision), error: None }
            }
            Ok(_) => {
                let error = caller.fail(Error::Internal("batch element was committed twice".into()));
                IntentBatchItem { index: index32, status: error.status(), decision: None, error: Some(error) }
            }
            Err(e) => {
                let error = caller.fail(e);
                IntentBatchItem { index: index32, status: error.status(), decision: None, error: Some(error) }
            }
        });
    }
    Ok(IntentBatchResponse { results: results.into_iter().flatten().collect() })
}

fn bound_agent(principal: &Principal) -> Option<&lictor_api::ids::AgentId> {
    principal.bound_agent()
}

async fn visible_intent(
    caller: &Caller<'_>,
    principal: &Principal,
    tenant: &TenantId,
    id: &IntentId,
) -> Result<PendingIntent, Error> {
    let not_found = || Error::not_found(Object::Intent, id);
    let intent = caller.state.store.get_intent(tenant, id).await?.ok_or_else(not_found)?;
    if bound_agent(principal).is_some_and(|agent| *agent != intent.row.agent_id) {
        return Err(not_found());
    }
    Ok(intent)
}

/// `GET /v1/intents/{intent_id}/decision`.
pub(crate) async fn decision(
    caller: &Caller<'_>,
    path: Result<IntentPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<IntentDecision, Error> {
    let input = path.and_then(|p| scope.map(|s| (p, s)));
    let (principal, tenant, (path, _)) = caller.scoped(input, |(_, s)| s.tenant.as_ref()).await?;
    let intent = visible_intent(caller, &principal, &tenant, &path.intent_id).await?;
    let decision = stored_decision(&intent)?;
    let callback = match &intent.callback_url {
        None => None,
        Some(url) => {
            let attempts = caller.state.store.deliveries(&intent.row.id).await?;
            let state = intent.callback_state.unwrap_or(CallbackState::Pending);
            Some(CallbackStatus {
                url: url.clone(),
                state,
                attempts: attempts
                    .into_iter()
                    .map(|a| DeliveryAttempt {
                        attempt: a.attempt,
                        attempted_at: a.attempted_at.to_datetime(),
                        status_code: a.status_code,
                        error: a.error,
                        duration_ms: a.duration_ms,
                    })
                    .collect(),
                next_attempt_at: match state {
                    CallbackState::Pending => intent.callback_next_at.map(Timestamp::to_datetime),
                    _ => None,
                },
            })
        }
    };
    Ok(IntentDecision { intent_id: intent.row.id, status: intent.row.status, decision, callback })
}

const LIST: &str = "intents";

/// `GET /v1/intents`.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<IntentListParams, ApiError>,
) -> Result<IntentPage, Error> {
    let (principal, tenant, params) = caller.scoped(params, |p| p.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let before: Option<(i64, String)> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let mut filter = IntentFilter {
        agent_id: params.agent_id,
        verdict: params.verdict,
        action_type: params.action_type,
        environment: params.environment,
        from: params.from.map(Timestamp::from_datetime),
        to: params.to.map(Timestamp::from_datetime),
    };
    if let Some(agent) = bound_agent(&principal) {
        if filter.agent_id.as_ref().is_some_and(|a| a != agent) {
            return Ok(IntentPage { items: Vec::new(), next_cursor: None });
        }
        filter.agent_id = Some(agent.clone());
    }
    let rows = caller.state.store.list_intents(&tenant, &filter, before, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |r| (r.created_at, r.id.to_string()));
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(IntentSummary {
                verb: Verb::parse(r.verb.clone()).map_err(|e| Error::Internal(e.to_string()))?,
                intent_id: r.id,
                tenant: r.tenant,
                agent_id: r.agent_id,
                environment: r.environment,
                action_type: r.action_type,
                status: r.status,
                verdict: r.verdict,
                would_be_verdict: r.would_be_verdict,
                created_at: r.created_at.to_datetime(),
                decided_at: r.decided_at.map(Timestamp::to_datetime),
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(IntentPage { items, next_cursor })
}

const AUDIT_LIST: &str = "intent-audit";

/// `GET /v1/intents/{intent_id}/audit`.
pub(crate) async fn audit(
    caller: &Caller<'_>,
    path: Result<IntentPath, ApiError>,
    params: Result<IntentAuditParams, ApiError>,
) -> Result<AuditEntryPage, Error> {
    let input = path.and_then(|p| params.map(|q| (p, q)));
    let (principal, tenant, (path, params)) = caller.scoped(input, |(_, q)| q.tenant.as_ref()).await?;
    let intent = visible_intent(caller, &principal, &tenant, &path.intent_id).await?;
    // The call's tool result entry is committed before it is read.
    caller.state.pipeline.writer().settled().await;
    let limit = cursor::limit(params.limit)?;
    let after: u64 = cursor::decode_opt(AUDIT_LIST, params.cursor.as_deref())?.unwrap_or(0);
    let rows = caller.state.store.intent_audit_entries(&tenant, &intent.row.id, after, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(AUDIT_LIST, rows, limit, |r| r.record.seq);
    Ok(AuditEntryPage { items: rows.into_iter().map(|r| r.record.to_entry(r.hash)).collect(), next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_printable_and_bounded() {
        assert!(check_idempotency_key(Some("order-42".into())).is_ok());
        assert!(check_idempotency_key(Some(String::new())).is_err());
        assert!(check_idempotency_key(Some("x".repeat(256))).is_err());
        assert!(check_idempotency_key(Some("tab\there".into())).is_err());
        assert_eq!(check_idempotency_key(None).ok(), Some(None));
    }

    #[test]
    fn request_hash_ignores_key_order_but_not_operation() {
        let a = serde_json::json!({"a": 1, "b": 2});
        let b = serde_json::json!({"b": 2, "a": 1});
        assert_eq!(request_hash("x", &a).unwrap(), request_hash("x", &b).unwrap());
        assert_ne!(request_hash("x", &a).unwrap(), request_hash("y", &a).unwrap());
    }
}
