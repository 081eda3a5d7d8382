//! The `audit` stage: one writer per process commits decisions in groups.
//!
//! Requests hand their [`CommitJob`] to the writer task and wait. The
//! writer takes everything queued (up to `max_batch`) and records it in a
//! single transaction: the idempotency key, the locked budget re-check and
//! charge, the approval request, the audit entry chained to the tenant's
//! locked head, and the decided intent. Only after the commit (durable:
//! SQLite `synchronous=FULL`, PostgreSQL's WAL) does any request in the
//! group get its answer. If the store fails, every request of the group
//! fails and nothing of it remains.
//!
//! Locks are taken in one order (agents, then chain heads, each sorted),
//! so writers on several gateways sharing PostgreSQL cannot deadlock, and
//! one tenant's chain stays a single sequence whoever appends to it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tollgate_api::agents::AgentBudget;
use tollgate_api::api_keys::Environment;
use tollgate_api::audit::AuditKind;
use tollgate_api::ids::{AgentId, ApiKeyId, TenantId};
use tollgate_api::intents::{
    ActionType, ApprovalRef, AuditRef, Decision, StageName, StageOutcome, StageReport, Verdict,
};

use super::{DecisionDraft, budget};
use crate::audit::{AuditRecord, ENTRY_VERSION};
use crate::store::{IdempotencyRecord, Store, StoreError, StoreResult, StoreTx, StoredHead};
use crate::{clock, ids};

/// What to consume from the agent's budget if the decision lets it act.
#[derive(Clone, Copy, Debug)]
pub struct BudgetCharge {
    /// The agent's limits (re-checked under lock when any is set).
    pub limits: AgentBudget,
    /// The intent's financial exposure.
    pub exposure_usd: f64,
}

/// The intent's own columns.
#[derive(Clone, Debug)]
pub struct IntentRecord {
    /// The declaring key.
    pub api_key_id: ApiKeyId,
    /// The agent that key is restricted to.
    pub bound_agent_id: Option<AgentId>,
    /// Action type.
    pub action_type: ActionType,
    /// Verb.
    pub verb: String,
    /// The request (JSON).
    pub request_json: String,
    /// The policy input document (canonical JSON).
    pub policy_input_json: String,
    /// Receipt time (µs).
    pub created_at: i64,
    /// Where to deliver the decision.
    pub callback_url: Option<String>,
}

/// One decision to commit.
#[derive(Clone, Debug)]
pub struct CommitJob {
    /// The decision so far.
    pub draft: DecisionDraft,
    /// The intent's columns.
    pub record: IntentRecord,
    /// Completing an accepted async intent rather than inserting one.
    pub pending: bool,
    /// The idempotency key to claim.
    pub idempotency: Option<IdempotencyRecord>,
    /// Budget to consume.
    pub budget: Option<BudgetCharge>,
    /// Digest of the policy input.
    pub input_digest: String,
    /// `(digest, canonical JSON)` of the payload, stored apart from the chain.
    pub payload: Option<(String, String)>,
    /// When the gateway started on the request.
    pub received: Instant,
    /// When the job was queued.
    pub enqueued: Instant,
}

/// What became of a job.
#[derive(Clone, Debug)]
pub enum CommitOutcome {
    /// Recorded; the decision as answered.
    Committed(Box<Decision>),
    /// The idempotency key was already used: nothing was written.
    Duplicate(IdempotencyRecord),
    /// The async intent was decided by another worker: nothing was written.
    AlreadyDecided,
}

type Reply = oneshot::Sender<StoreResult<CommitOutcome>>;

/// The handle requests use to reach the writer.
#[derive(Clone, Debug)]
pub struct CommitQueue {
    sender: mpsc::Sender<(CommitJob, Reply)>,
}

impl CommitQueue {
    /// Starts the writer task.
    pub fn start(
        store: Store,
        max_batch: usize,
        log: slog::Logger,
    ) -> (CommitQueue, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(max_batch.max(1) * 8);
        let task = tokio::spawn(run_writer(store, receiver, max_batch.max(1), log));
        (CommitQueue { sender }, task)
    }

    /// Commits `job` and waits until it is durable.
    pub async fn commit(&self, job: CommitJob) -> StoreResult<CommitOutcome> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((job, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the decision writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the decision writer has stopped".into()))?
    }
}

async fn run_writer(
    store: Store,
    mut receiver: mpsc::Receiver<(CommitJob, Reply)>,
    max_batch: usize,
    log: slog::Logger,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        let (jobs, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        match commit_batch(&store, &jobs).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error @ StoreError::Unavailable(_)) => {
                slog::warn!(log, "decision batch failed: store unavailable"; "jobs" => jobs.len(), "error" => %error);
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(error.to_string())));
                }
            }
            Err(error) => {
                // Isolate the job that fails so it cannot take the others down.
                slog::warn!(log, "decision batch failed, retrying one by one"; "jobs" => jobs.len(), "error" => %error);
                for (job, reply) in jobs.into_iter().zip(replies) {
                    let result = commit_batch(&store, std::slice::from_ref(&job)).await;
                    let _ = reply.send(result.and_then(|mut v| {
                        v.pop().ok_or_else(|| StoreError::Database("empty commit result".into()))
                    }));
                }
            }
        }
    }
}

fn needs_audit(job: &CommitJob) -> bool {
    job.draft.decision.environment != Environment::Test
}

fn rechecks_budget(job: &CommitJob) -> bool {
    job.budget.is_some_and(|b| budget::has_limits(&b.limits))
}

/// Commits `jobs` in one transaction.
async fn commit_batch(store: &Store, jobs: &[CommitJob]) -> StoreResult<Vec<CommitOutcome>> {
    let mut tx = store.begin().await?;
    let agents: BTreeSet<(&TenantId, &AgentId)> = jobs
        .iter()
        .filter(|j| rechecks_budget(j))
        .map(|j| (&j.draft.decision.tenant, &j.draft.decision.agent_id))
        .collect();
    for (tenant, agent) in agents {
        tx.lock_agent(tenant, agent).await?;
    }
    let tenants: BTreeSet<&TenantId> =
        jobs.iter().filter(|j| needs_audit(j)).map(|j| &j.draft.decision.tenant).collect();
    let mut heads: BTreeMap<TenantId, StoredHead> = BTreeMap::new();
    for tenant in tenants {
        let head = tx.lock_audit_head(tenant).await?;
        heads.insert(tenant.clone(), head);
    }
    let before = heads.clone();
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        outcomes.push(commit_one(&mut tx, job, &mut heads).await?);
    }
    for (tenant, head) in &heads {
        if before.get(tenant) != Some(head) {
            tx.set_audit_head(tenant, head).await?;
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

async fn commit_one(
    tx: &mut StoreTx,
    job: &CommitJob,
    heads: &mut BTreeMap<TenantId, StoredHead>,
) -> StoreResult<CommitOutcome> {
    let now = clock::now_micros();
    let tenant = job.draft.decision.tenant.clone();
    let agent = job.draft.decision.agent_id.clone();
    let intent_id = job.draft.decision.intent_id.clone();

    if let Some(record) = &job.idempotency
        && let Some(existing) = tx.claim_idempotency(&tenant, record, now).await?
    {
        return Ok(CommitOutcome::Duplicate(existing));
    }
    if job.pending && !tx.lock_pending_intent(&intent_id).await? {
        return Ok(CommitOutcome::AlreadyDecided);
    }

    let mut draft = job.draft.clone();
    if let Some(charge) = job.budget
        && draft.verdict.allows()
    {
        if budget::has_limits(&charge.limits) {
            let usage = tx.budget_usage(&tenant, &agent, budget::window_start(now)).await?;
            if let Some(reason) = budget::exceeded(&charge.limits, usage, charge.exposure_usd) {
                budget::escalate(&mut draft, reason);
            }
        }
        if draft.verdict.allows() {
            tx.charge_budget(&tenant, &agent, budget::minute_of(now), charge.exposure_usd).await?;
        }
    }

    let environment = draft.decision.environment;
    let mut decision = draft.decision;
    decision.decided_at = clock::from_micros(now);
    decision.latency_us = micros(job.received.elapsed());

    let approval_id =
        (decision.verdict == Verdict::Escalate && environment == Environment::Live).then(ids::approval_id);
    if let Some(approval_id) = &approval_id {
        decision.approval = Some(ApprovalRef { approval_id: approval_id.clone() });
    }

    let audit_outcome =
        if environment == Environment::Test { StageOutcome::Skip } else { StageOutcome::Pass };
    decision.stages.push(StageReport {
        name: StageName::Audit,
        outcome: audit_outcome,
        duration_us: micros(job.enqueued.elapsed()),
    });

    // The entry is chained (and its hash known) before anything is written,
    // so the stored decision carries its audit reference.
    let entry = if environment == Environment::Test {
        None
    } else {
        let head = heads
            .get_mut(&tenant)
            .ok_or_else(|| StoreError::Corrupt(format!("no locked audit head for `{tenant}`")))?;
        let record = AuditRecord {
            version: ENTRY_VERSION,
            entry_id: ids::audit_entry_id(),
            tenant: tenant.clone(),
            seq: head.seq + 1,
            ts: now,
            kind: AuditKind::Decision,
            intent_id: Some(intent_id.clone()),
            agent_id: Some(agent.clone()),
            environment: Some(environment),
            enforced: Some(decision.enforced),
            verdict: Some(draft.verdict),
            stage: Some(draft.deciding_stage),
            reasons: decision.reasons.clone(),
            bundle_hash: Some(decision.policy.bundle_hash.clone()),
            input_digest: Some(job.input_digest.clone()),
            payload_digest: job.payload.as_ref().map(|(digest, _)| digest.clone()),
            prev_hash: head.hash.clone(),
        };
        let hash = record.hash();
        *head = StoredHead { seq: record.seq, hash: hash.clone() };
        decision.audit =
            Some(AuditRef { entry_id: record.entry_id.clone(), seq: record.seq, hash: hash.clone() });
        Some((record, hash))
    };

    let decision_json = serde_json::to_string(&decision)
        .map_err(|e| StoreError::Database(format!("encoding decision: {e}")))?;
    tx.record_decided_intent(
        &crate::store::DecidedIntent {
            id: intent_id.clone(),
            tenant: tenant.clone(),
            agent_id: agent.clone(),
            api_key_id: job.record.api_key_id.clone(),
            bound_agent_id: job.record.bound_agent_id.clone(),
            environment,
            action_type: job.record.action_type,
            verb: job.record.verb.clone(),
            verdict: decision.verdict,
            would_be_verdict: decision.would_be_verdict,
            request_json: job.record.request_json.clone(),
            decision_json,
            policy_input_json: job.record.policy_input_json.clone(),
            created_at: job.record.created_at,
            decided_at: now,
            callback_url: job.record.callback_url.clone(),
        },
        job.pending,
    )
    .await?;
    if let Some(approval_id) = &approval_id {
        tx.insert_approval(approval_id, &tenant, &intent_id, &agent, now).await?;
    }
    if let Some((record, hash)) = &entry {
        tx.insert_audit_entry(record, hash).await?;
        if let Some((digest, body)) = &job.payload {
            tx.insert_audit_payload(&tenant, digest, body).await?;
        }
    }
    Ok(CommitOutcome::Committed(Box::new(decision)))
}
