//! `/v1/admin/approvals` (administrators) and `/v1/approvals/{id}` (the
//! agent waiting on one).

use lictor_api::api_keys::Environment;
use std::time::Duration;

use lictor_api::ApiError;
use lictor_api::agents::TenantScope;
use lictor_api::approvals::{
    Approval, ApprovalDecide, ApprovalListParams, ApprovalPage, ApprovalPath, ApprovalStatus,
    ApprovalWaitParams,
};
use lictor_api::tokens::Jti;

use crate::audit::writer::{ApprovalDecisionJob, ApprovalDecisionOutcome};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::cursor;
use crate::error::{Error, Object};
use crate::events::Event;
use crate::store::{ApprovalFilter, ApprovalRow};

const LIST: &str = "approvals";

/// The longest `wait_seconds`.
pub(crate) const MAX_WAIT_SECONDS: u32 = 60;

fn view(row: ApprovalRow, now: Timestamp) -> Approval {
    Approval {
        status: row.status_at(now),
        id: row.id,
        tenant: row.tenant,
        agent_id: row.agent_id,
        kind: row.kind,
        intent_id: row.intent_id,
        tool: row.tool,
        jti: row.jti.and_then(|j| Jti::parse(j).ok()),
        action_type: row.action_type,
        verb: row.verb,
        summary: row.summary,
        reasons: row.reasons,
        risk_level: row.risk_level,
        digest: row.digest,
        created_at: row.created_at.to_datetime(),
        expires_at: row.expires_at.to_datetime(),
        decided_at: row.decided_at.map(Timestamp::to_datetime),
        decided_by: row.decided_by,
        note: row.note,
        used_at: row.used_at.map(Timestamp::to_datetime),
    }
}

fn not_found(id: &impl std::fmt::Display) -> Error {
    Error::not_found(Object::Approval, id)
}

/// `GET /v1/admin/approvals`.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<ApprovalListParams, ApiError>,
) -> Result<ApprovalPage, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let before: Option<(i64, String)> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let filter = ApprovalFilter { status: params.status, agent_id: params.agent_id };
    let now = Timestamp::now();
    let rows = caller.state.store.list_approvals(&tenant, &filter, now, before, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |r| (r.created_at, r.id.to_string()));
    Ok(ApprovalPage { items: rows.into_iter().map(|r| view(r, now)).collect(), next_cursor })
}

/// `GET /v1/admin/approvals/{approval_id}`.
pub(crate) async fn get(
    caller: &Caller<'_>,
    path: Result<ApprovalPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<Approval, Error> {
    let (_, tenant, (path, _)) = caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    let row = caller.state.store.get_approval(&tenant, &path.approval_id).await?;
    row.map(|r| view(r, Timestamp::now())).ok_or_else(|| not_found(&path.approval_id))
}

/// `POST /v1/admin/approvals/{approval_id}/decide`. The decider is the
/// authenticated key, never the body.
pub(crate) async fn decide(
    caller: &Caller<'_>,
    path: Result<ApprovalPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
    body: Result<ApprovalDecide, ApiError>,
) -> Result<Approval, Error> {
    let (principal, tenant, (path, _, body)) =
        caller.admin((path, scope, body), |(_, scope, _)| scope.tenant.as_ref()).await?;
    // Approvals gate live actions.
    principal.require_environment(Environment::Live, "decide approvals")?;
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::InvalidField {
            path: "$.note".into(),
            message: "`note` must be at most 2000 characters".into(),
        });
    }
    let store = &caller.state.store;
    let approval = store.get_approval(&tenant, &path.approval_id).await?;
    let intent = match &approval {
        Some(approval) => store.get_intent(&tenant, &approval.intent_id).await?,
        None => None,
    };
    if let Some(intent) = &intent {
        // A person does not decide for an agent acting for them (through a
        // key they made): another person does.
        let asking = match intent.row.credential.parse::<lictor_api::ids::ApiKeyId>() {
            Ok(key) => store.get_api_key(&key).await?.and_then(|k| k.person),
            Err(_) => None,
        };
        if let (Some(asking), Some(deciding)) = (asking, principal.person())
            && crate::operators::person_identity(&asking) == crate::operators::person_identity(&deciding)
        {
            return Err(Error::Forbidden(
                "two people: the agent asking acts for you (its key is yours), so another person decides"
                    .into(),
            ));
        }
        // Deciding an approval above the tenant's exposure threshold needs
        // a step-up.
        let policy = crate::app::operators::step_up_policy(caller, &tenant).await?;
        if let Some(threshold) = policy.approval_exposure_usd
            && exposure(&intent.request_json).is_some_and(|usd| usd >= threshold.get())
        {
            caller.step_up(&principal, &tenant).await?;
        }
    }
    let job = ApprovalDecisionJob {
        tenant,
        approval_id: path.approval_id.clone(),
        decision: body.decision,
        decided_by: principal.describe(),
        person: principal.person(),
        note: body.note.filter(|n| !n.trim().is_empty()),
        usable_for: caller.state.config.approval_ttl,
    };
    match caller.state.pipeline.writer().append_approval_decision(job).await? {
        ApprovalDecisionOutcome::Decided(row) => {
            if let Some(decided_at) = row.decided_at {
                let decision = match body.decision {
                    lictor_api::approvals::ApprovalDecisionKind::Approve => "approve",
                    lictor_api::approvals::ApprovalDecisionKind::Reject => "reject",
                };
                caller.state.metrics.approval_decided(
                    &row.tenant,
                    decision,
                    decided_at.since(row.created_at),
                );
            }
            // An intent's decision changed: deliver its webhook again.
            caller.state.pending.webhooks().notify();
            Ok(view(*row, Timestamp::now()))
        }
        ApprovalDecisionOutcome::NotFound => Err(not_found(&path.approval_id)),
        ApprovalDecisionOutcome::NotPending(status) => Err(Error::conflict(
            Object::Approval,
            &path.approval_id,
            format!("is {} and cannot be decided again", status.as_str()),
        )),
    }
}

/// The financial exposure an intent's request states, in dollars (the
/// largest `financial_exposure_usd` in it).
fn exposure(request_json: &str) -> Option<f64> {
    fn largest(value: &serde_json::Value) -> Option<f64> {
        match value {
            serde_json::Value::Object(map) => {
                let own = map.get("financial_exposure_usd").and_then(serde_json::Value::as_f64);
                map.values().filter_map(largest).chain(own).reduce(f64::max)
            }
            serde_json::Value::Array(items) => items.iter().filter_map(largest).reduce(f64::max),
            _ => None,
        }
    }
    largest(&serde_json::from_str(request_json).ok()?)
}

/// `GET /v1/approvals/{approval_id}`: the asking agent (or an
/// administrator) reads it, waiting up to `wait_seconds` while it is pending.
pub(crate) async fn wait(
    caller: &Caller<'_>,
    path: Result<ApprovalPath, ApiError>,
    params: Result<ApprovalWaitParams, ApiError>,
) -> Result<Approval, Error> {
    let (principal, tenant, (path, params)) =
        caller.scoped((path, params), |(_, params)| params.tenant.as_ref()).await?;
    let wait = params.wait_seconds.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        return Err(Error::InvalidParameter {
            parameter: "wait_seconds".into(),
            message: format!("`wait_seconds` must be at most {MAX_WAIT_SECONDS}"),
        });
    }
    // Subscribe before reading, so a decision between the two is not missed.
    let mut events = caller.state.events.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait));
    loop {
        let row = caller
            .state
            .store
            .get_approval(&tenant, &path.approval_id)
            .await?
            .ok_or_else(|| not_found(&path.approval_id))?;
        if principal.bound_agent().is_some_and(|agent| *agent != row.agent_id) {
            return Err(not_found(&path.approval_id));
        }
        let now = Timestamp::now();
        // A gateway shutting down answers what it has: the caller polls
        // again, reaching another replica.
        let draining = caller.state.draining.load(std::sync::atomic::Ordering::SeqCst);
        if row.status_at(now) != ApprovalStatus::Pending
            || tokio::time::Instant::now() >= deadline
            || draining
        {
            return Ok(view(row, now));
        }
        // Wake on this approval's event, or at the deadline or its expiry.
        let expiry = tokio::time::Instant::now() + row.expires_at.since(now);
        let until = deadline.min(expiry);
        loop {
            match tokio::time::timeout_at(until, events.recv()).await {
                Ok(Ok(Event::Approval { id, .. })) if id == path.approval_id => break,
                Ok(Ok(Event::Resync | Event::Draining)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(_)) => continue,
            }
        }
    }
}
