//! The audit writer, and with it the pipeline's `audit` stage: one writer
//! per process appends every chain entry, committing in groups.
//!
//! Requests hand their job — a decision, a tool call's result, a
//! revocation, a human's approval decision — to the writer task and wait.
//! The writer takes everything queued (up to `max_batch`) and records it in
//! a single transaction, each job with its audit entry chained to its
//! tenant's locked head. Only after the commit (durable: SQLite
//! `synchronous=FULL`, PostgreSQL's WAL) does any request of the group get
//! its answer. If the store fails, every job of the group fails and
//! nothing of it remains.
//!
//! Locks are taken in one order — agents, then token scopes, then chain
//! heads, each sorted — so writers on several gateways sharing PostgreSQL
//! cannot deadlock, and one tenant's chain stays a single sequence whoever
//! appends to it.

mod admin;
mod decision;
mod entries;

use std::collections::{BTreeMap, BTreeSet};

use lictor_api::ids::{AgentId, TenantId};
use lictor_api::intents::AuditRef;
use tokio::sync::{mpsc, oneshot};

pub use admin::{AdminJob, AdminOp, AdminOutcome, DiscoveredChange, ScimChange, SessionsOf};
pub use decision::{ApprovalDraft, ApprovalPlan, AuditContext, CommitJob, CommitOutcome, IntentRecord};
pub use entries::{ApprovalDecisionJob, ApprovalDecisionOutcome, RevocationJob, ToolResultJob};

use crate::audit::AuditRecord;
use crate::audit::merkle::{self, Frontier, NodeId};
use crate::audit::seal::{self, SealFault};
use crate::clock::Timestamp;
use crate::events::{Event, Events};
use crate::metrics::Metrics;
use crate::signing::{Keyring, Keys};
use crate::store::{Store, StoreError, StoreResult, StoreTx, StoredHead, TreeState, decode_hash};

/// Anything the writer commits.
#[derive(Debug)]
enum WriteJob {
    Decision(Box<CommitJob>),
    ToolResult(ToolResultJob),
    Revocation(RevocationJob),
    ApprovalDecision(ApprovalDecisionJob),
    Admin(Box<AdminJob>),
    /// Only locks a tenant's chain, so its tree catches up with it.
    CatchUp(TenantId),
    /// Writes the probe row: can the writer write at all?
    Probe,
    /// Writes nothing: answered once every job queued before it is settled.
    Barrier,
}

/// What became of a job.
#[derive(Debug)]
enum WriteOutcome {
    Decision(CommitOutcome),
    Entry(Option<AuditRef>),
    Revocation(crate::store::RevocationRow),
    ApprovalDecision(ApprovalDecisionOutcome),
    Admin(AdminOutcome),
    CaughtUp,
    Probed,
    Settled,
}

type Reply = oneshot::Sender<StoreResult<WriteOutcome>>;

/// The handle requests use to reach the writer.
#[derive(Clone, Debug)]
pub struct AuditWriter {
    sender: mpsc::Sender<(WriteJob, Reply)>,
    health: std::sync::Arc<Health>,
    /// Tool results queued by [`AuditWriter::record_tool_result`] and not
    /// settled yet.
    unsettled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    metrics: std::sync::Arc<Metrics>,
    log: slog::Logger,
}

/// Whether the writer's last commit failed because the store would not
/// take it (full disk, lost connection, lock timeout).
#[derive(Debug, Default)]
struct Health {
    failing: std::sync::Mutex<Option<String>>,
}

impl Health {
    fn record<T>(&self, result: &StoreResult<T>) {
        let mut failing = self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(_) => *failing = None,
            Err(error @ (StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_))) => {
                *failing = Some(error.to_string());
            }
            Err(_) => {}
        }
    }

    fn failing(&self) -> Option<String> {
        self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the decision writer has stopped".into())
}

fn unexpected() -> StoreError {
    StoreError::Database("the writer answered a different kind of job".into())
}

impl AuditWriter {
    /// Starts the writer task. `events` hears every change other gateways
    /// may cache, once it commits.
    pub fn start(
        store: Store,
        keys: Keys,
        events: Events,
        max_batch: usize,
        (metrics, log): (std::sync::Arc<Metrics>, slog::Logger),
    ) -> (AuditWriter, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(max_batch.max(1) * 8);
        let health = std::sync::Arc::new(Health::default());
        let handle = AuditWriter {
            sender,
            health: health.clone(),
            unsettled: Default::default(),
            metrics: std::sync::Arc::clone(&metrics),
            log: log.clone(),
        };
        let writer = Writer { store, keys, events, log, reported: Default::default(), health, metrics };
        let task = tokio::spawn(run_writer(writer, receiver, max_batch.max(1)));
        (handle, task)
    }

    /// Answers `Ok` when the writer can commit: at once while its last
    /// commit succeeded; after its last failed, only once a probe write
    /// through it succeeds (which also clears the failure).
    pub async fn writable(&self) -> StoreResult<()> {
        if self.health.failing().is_none() {
            return Ok(());
        }
        match self.send(WriteJob::Probe).await? {
            WriteOutcome::Probed => Ok(()),
            _ => Err(unexpected()),
        }
    }

    async fn send(&self, job: WriteJob) -> StoreResult<WriteOutcome> {
        let started = std::time::Instant::now();
        let (reply, answer) = oneshot::channel();
        self.sender.send((job, reply)).await.map_err(|_| stopped())?;
        let outcome = answer.await.map_err(|_| stopped())?;
        self.metrics.appended(started.elapsed());
        outcome
    }

    /// The metrics the writer reports to.
    pub fn metrics(&self) -> &std::sync::Arc<Metrics> {
        &self.metrics
    }

    /// Commits a decision and waits until it is durable.
    pub async fn append_decision(&self, job: CommitJob) -> StoreResult<CommitOutcome> {
        match self.send(WriteJob::Decision(Box::new(job))).await? {
            WriteOutcome::Decision(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    /// Records a forwarded tool call's outcome (none in `test`).
    pub async fn append_tool_result(&self, job: ToolResultJob) -> StoreResult<Option<AuditRef>> {
        match self.send(WriteJob::ToolResult(job)).await? {
            WriteOutcome::Entry(entry) => Ok(entry),
            _ => Err(unexpected()),
        }
    }

    /// Queues a forwarded tool call's outcome and returns without waiting
    /// for its commit: the entry rides the writer's next group commit, and
    /// [`AuditWriter::settled`] waits for it. A failure to commit it is
    /// logged and marks the writer unhealthy, as any failed commit does.
    pub async fn record_tool_result(&self, job: ToolResultJob) -> StoreResult<()> {
        use std::sync::atomic::Ordering;
        let (intent, tenant) = (job.intent_id.clone(), job.tenant.clone());
        let (reply, answer) = oneshot::channel();
        self.unsettled.fetch_add(1, Ordering::SeqCst);
        if self.sender.send((WriteJob::ToolResult(job), reply)).await.is_err() {
            self.unsettled.fetch_sub(1, Ordering::SeqCst);
            return Err(stopped());
        }
        let (unsettled, log) = (std::sync::Arc::clone(&self.unsettled), self.log.clone());
        tokio::spawn(async move {
            let outcome = answer.await.map_err(|_| stopped()).and_then(|r| r);
            unsettled.fetch_sub(1, Ordering::SeqCst);
            if let Err(error) = outcome {
                slog::error!(log, "a tool call's result entry was not recorded";
                    "tenant" => %tenant, "intent_id" => %intent, "error" => %error);
            }
        });
        Ok(())
    }

    /// Waits until every tool result queued before this call is committed
    /// (or has failed): audit reads call it first, so they see every entry
    /// whose call has been answered. Answers at once when none is queued.
    /// A group that failed is settled too: the read goes on and finds what
    /// the store holds.
    pub async fn settled(&self) {
        if self.unsettled.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            let _ = self.send(WriteJob::Barrier).await;
        }
    }

    /// Revokes a jti (idempotently) and answers the stored revocation.
    pub async fn append_revocation(&self, job: RevocationJob) -> StoreResult<crate::store::RevocationRow> {
        match self.send(WriteJob::Revocation(job)).await? {
            WriteOutcome::Revocation(row) => Ok(row),
            _ => Err(unexpected()),
        }
    }

    /// Makes an administrative change and records it, in one transaction.
    pub async fn append_admin_change(&self, job: AdminJob) -> StoreResult<AdminOutcome> {
        match self.send(WriteJob::Admin(Box::new(job))).await? {
            WriteOutcome::Admin(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    /// Brings `tenant`'s Merkle tree up to its chain (entries written before
    /// the tree existed).
    pub async fn catch_up_tree(&self, tenant: TenantId) -> StoreResult<()> {
        match self.send(WriteJob::CatchUp(tenant)).await? {
            WriteOutcome::CaughtUp => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Records a human's decision on an approval.
    pub async fn append_approval_decision(
        &self,
        job: ApprovalDecisionJob,
    ) -> StoreResult<ApprovalDecisionOutcome> {
        match self.send(WriteJob::ApprovalDecision(job)).await? {
            WriteOutcome::ApprovalDecision(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }
}

/// What the writer task works with.
struct Writer {
    store: Store,
    keys: Keys,
    events: Events,
    log: slog::Logger,
    /// Tenants whose unsealed head was reported (once each).
    reported: std::sync::Mutex<BTreeSet<TenantId>>,
    health: std::sync::Arc<Health>,
    metrics: std::sync::Arc<Metrics>,
}

async fn run_writer(writer: Writer, mut receiver: mpsc::Receiver<(WriteJob, Reply)>, max_batch: usize) {
    let Writer { events, log, health, metrics, .. } = &writer;
    let mut batch = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        let (jobs, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        if jobs.iter().all(|job| matches!(job, WriteJob::Barrier)) {
            // Everything queued before them is settled: nothing to write.
            for reply in replies {
                let _ = reply.send(Ok(WriteOutcome::Settled));
            }
            continue;
        }
        let started = std::time::Instant::now();
        let result = commit_batch(&writer, &jobs).await;
        metrics.committed(jobs.len(), started.elapsed(), result.is_ok());
        health.record(&result);
        match result {
            Ok((outcomes, published)) => {
                published.into_iter().for_each(|event| events.publish(event));
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error @ StoreError::Unavailable(_)) => {
                slog::warn!(log, "batch failed: store unavailable"; "jobs" => jobs.len(), "error" => %error);
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(error.to_string().into())));
                }
            }
            Err(error @ StoreError::OutcomeUnknown(_)) => {
                // Retrying here could record the batch twice.
                for reply in replies {
                    let _ = reply.send(Err(StoreError::OutcomeUnknown(error.to_string().into())));
                }
            }
            Err(error) => {
                // Isolate the job that fails so it cannot take the others down.
                slog::warn!(log, "batch failed, retrying one by one"; "jobs" => jobs.len(), "error" => %error);
                for (job, reply) in jobs.into_iter().zip(replies) {
                    let result = commit_batch(&writer, std::slice::from_ref(&job)).await.and_then(
                        |(mut v, published)| {
                            published.into_iter().for_each(|event| events.publish(event));
                            v.pop().ok_or_else(|| StoreError::Database("empty commit result".into()))
                        },
                    );
                    health.record(&result);
                    let _ = reply.send(result);
                }
            }
        }
    }
}

/// Entries hashed into a catching-up tree per read.
const CATCH_UP_PAGE: u32 = 5_000;

/// The chain heads of a batch's tenants, locked for the transaction, and
/// their Merkle trees: every entry appended is also a leaf, and the nodes
/// it completes are stored in the same transaction.
///
/// A head whose seal does not verify was changed outside the gateway: the
/// writer keeps appending to it (decisions are still recorded) but leaves
/// the new head unsealed, so the forgery is never sealed over.
pub(crate) struct Chains {
    heads: BTreeMap<TenantId, StoredHead>,
    locked: BTreeMap<TenantId, StoredHead>,
    trees: BTreeMap<TenantId, Frontier>,
    nodes: BTreeMap<TenantId, Vec<(NodeId, merkle::Hash)>>,
    unsealed: BTreeMap<TenantId, SealFault>,
    ring: std::sync::Arc<Keyring>,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string().into())
}

impl Chains {
    async fn lock(tx: &mut StoreTx, keys: &Keys, tenants: BTreeSet<&TenantId>) -> StoreResult<Chains> {
        let mut chains = Chains {
            heads: BTreeMap::new(),
            locked: BTreeMap::new(),
            trees: BTreeMap::new(),
            nodes: BTreeMap::new(),
            unsealed: BTreeMap::new(),
            ring: keys.ring(),
        };
        for tenant in tenants {
            let (head, tree) = tx.lock_audit_head(tenant).await?;
            if let Err(fault) = seal::check(keys, tenant, &head) {
                chains.unsealed.insert(tenant.clone(), fault);
            }
            let hashes = tree.frontier.iter().map(|h| decode_hash(h)).collect::<StoreResult<Vec<_>>>()?;
            let mut frontier = Frontier::restore(tree.size, hashes).map_err(corrupt)?;
            // Entries older than the tree (or a tree behind for any other
            // reason) are hashed in first, in order.
            while frontier.size() < head.seq {
                let page = tx.audit_entry_hashes(tenant, frontier.size(), head.seq, CATCH_UP_PAGE).await?;
                if page.is_empty() {
                    return Err(StoreError::Corrupt(
                        format!("the chain of `{tenant}` is shorter than its head").into(),
                    ));
                }
                for (seq, hash) in page {
                    if seq != frontier.size() + 1 {
                        return Err(StoreError::Corrupt(
                            format!("the chain of `{tenant}` has a gap at {seq}").into(),
                        ));
                    }
                    let created = frontier.push(&decode_hash(&hash)?);
                    chains.nodes.entry(tenant.clone()).or_default().extend(created);
                }
            }
            chains.locked.insert(tenant.clone(), head.clone());
            chains.heads.insert(tenant.clone(), head);
            chains.trees.insert(tenant.clone(), frontier);
        }
        Ok(chains)
    }

    /// The next record of `tenant`'s chain: its `seq` and `prev_hash` set.
    pub(crate) fn next(
        &self,
        kind: lictor_api::audit::AuditKind,
        tenant: &TenantId,
        ts: Timestamp,
    ) -> StoreResult<AuditRecord> {
        let head = self
            .heads
            .get(tenant)
            .ok_or_else(|| StoreError::Corrupt(format!("no locked audit head for `{tenant}`").into()))?;
        Ok(AuditRecord::new(
            crate::ids::audit_entry_id(),
            kind,
            tenant.clone(),
            head.seq + 1,
            ts.micros(),
            head.hash.clone(),
        ))
    }

    /// Appends `record` (built by [`Chains::next`]) to its chain and the
    /// store; answers its reference.
    pub(crate) async fn append(
        &mut self,
        tx: &mut StoreTx,
        record: &AuditRecord,
        payload: Option<&(String, String)>,
    ) -> StoreResult<AuditRef> {
        let reference = self.reserve(record)?;
        Chains::insert(tx, record.clone(), &reference, payload);
        Ok(reference)
    }

    /// Stores `record` as [`Chains::reserve`] placed it (its hash taken once,
    /// there), with its payload apart from the chain.
    /// The entry is written when the transaction is flushed, with the
    /// others of its group.
    pub(crate) fn insert(
        tx: &mut StoreTx,
        record: AuditRecord,
        reference: &AuditRef,
        payload: Option<&(String, String)>,
    ) {
        tx.defer_audit_entry(record, reference.hash.clone(), payload.cloned());
    }

    /// Makes `record` the head of its chain and a leaf of its tree; answers
    /// the reference it will have once inserted (decisions carry it in the
    /// stored Decision, so they insert the entry themselves).
    pub(crate) fn reserve(&mut self, record: &AuditRecord) -> StoreResult<AuditRef> {
        let hash = record.hash();
        let tree = self.trees.get_mut(&record.tenant).ok_or_else(|| {
            StoreError::Corrupt(format!("no locked audit tree for `{}`", record.tenant).into())
        })?;
        let created = tree.push(&decode_hash(&hash)?);
        self.nodes.entry(record.tenant.clone()).or_default().extend(created);
        let head = StoredHead { seq: record.seq, hash: hash.clone(), seal: None };
        self.heads.insert(record.tenant.clone(), head);
        Ok(AuditRef { entry_id: record.entry_id.clone(), seq: record.seq, hash })
    }

    async fn persist(&self, tx: &mut StoreTx) -> StoreResult<()> {
        for (tenant, nodes) in &self.nodes {
            tx.insert_tree_nodes(tenant, nodes).await?;
        }
        for (tenant, head) in &self.heads {
            let tree = self.trees.get(tenant);
            let grown = self.nodes.get(tenant).is_some_and(|n| !n.is_empty());
            if self.locked.get(tenant) != Some(head) || grown {
                let tree = tree.map(|t| TreeState {
                    size: t.size(),
                    frontier: t.nodes().into_iter().map(|(_, hash)| hex::encode(hash)).collect(),
                });
                let sealed = match self.unsealed.contains_key(tenant) {
                    true => None,
                    false => seal::seal(&self.ring, tenant, head.seq, &head.hash),
                };
                let head = StoredHead { seal: sealed, ..head.clone() };
                tx.set_audit_head(tenant, &head, &tree.unwrap_or_default()).await?;
            }
        }
        Ok(())
    }
}

impl WriteJob {
    /// The tenant whose chain this job appends to, if any.
    fn audited_tenant(&self) -> Option<&TenantId> {
        match self {
            WriteJob::Decision(job) => job.audited().then_some(&job.draft.decision.tenant),
            WriteJob::ToolResult(job) => job.audited().then_some(&job.tenant),
            WriteJob::Revocation(job) => Some(&job.revocation.tenant),
            WriteJob::ApprovalDecision(job) => Some(&job.tenant),
            WriteJob::Admin(job) => Some(&job.tenant),
            WriteJob::CatchUp(tenant) => Some(tenant),
            WriteJob::Probe | WriteJob::Barrier => None,
        }
    }
}

/// Commits `jobs` in one transaction; answers their outcomes and the events
/// to publish in-process.
async fn commit_batch(writer: &Writer, jobs: &[WriteJob]) -> StoreResult<(Vec<WriteOutcome>, Vec<Event>)> {
    let mut tx = writer.store.begin().await?;
    let decisions = || jobs.iter().filter_map(|j| if let WriteJob::Decision(d) = j { Some(d) } else { None });
    let admins = || jobs.iter().filter_map(|j| if let WriteJob::Admin(a) = j { Some(&**a) } else { None });
    let agents: BTreeSet<(&TenantId, &AgentId)> = decisions()
        .filter(|d| d.rechecks_budget())
        .map(|d| (&d.draft.decision.tenant, &d.draft.decision.agent_id))
        .chain(admins().filter_map(AdminJob::locked_agent))
        .collect();
    for (tenant, agent) in agents {
        tx.lock_agent(tenant, agent).await?;
    }
    let scopes: BTreeSet<(&TenantId, &str)> =
        decisions().flat_map(|d| d.token_scopes().map(move |s| (&d.draft.decision.tenant, s))).collect();
    for (tenant, scope) in scopes {
        tx.lock_token_usage(tenant, scope).await?;
    }
    // Administrative changes apply before the chain heads are locked: a
    // new tenant must exist before its head.
    let now = crate::clock::Timestamp::now();
    let mut applied = Vec::new();
    for job in admins() {
        applied.push(admin::apply(&mut tx, job, now).await?);
    }
    let mut applied = applied.into_iter();
    let tenants: BTreeSet<&TenantId> = jobs.iter().filter_map(WriteJob::audited_tenant).collect();
    let mut chains = Chains::lock(&mut tx, &writer.keys, tenants).await?;
    if !chains.unsealed.is_empty() {
        let mut reported = writer.reported.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (tenant, fault) in &chains.unsealed {
            if reported.insert(tenant.clone()) {
                slog::error!(writer.log, "audit head changed outside the gateway: appending without sealing";
                    "tenant" => %tenant, "found" => %fault);
            }
        }
    }

    // The idempotency keys of a group's decisions, looked up in one query
    // per tenant (a decision alone claims its key with its own statement).
    let mut keys: BTreeMap<&TenantId, Vec<&str>> = BTreeMap::new();
    for job in decisions() {
        if let Some(record) = &job.idempotency {
            keys.entry(&job.draft.decision.tenant).or_default().push(&record.key);
        }
    }
    if keys.values().map(Vec::len).sum::<usize>() > 1 {
        for (tenant, keys) in &keys {
            tx.prefetch_idempotency(tenant, keys).await?;
        }
    }

    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut published = Vec::new();
    for job in jobs {
        if matches!(job, WriteJob::ApprovalDecision(_)) {
            // It reads intents and approvals the group may have written.
            tx.flush().await?;
        }
        outcomes.push(match job {
            WriteJob::Decision(job) => {
                WriteOutcome::Decision(decision::commit(&mut tx, job, &mut chains).await?)
            }
            WriteJob::ToolResult(job) => {
                WriteOutcome::Entry(entries::tool_result(&mut tx, job, &mut chains).await?)
            }
            WriteJob::Revocation(job) => {
                let (row, event) = entries::revocation(&mut tx, job, &mut chains).await?;
                published.extend(event);
                WriteOutcome::Revocation(row)
            }
            WriteJob::ApprovalDecision(job) => {
                let (outcome, event) = entries::approval_decision(&mut tx, job, &mut chains).await?;
                published.extend(event);
                WriteOutcome::ApprovalDecision(outcome)
            }
            WriteJob::CatchUp(_) => WriteOutcome::CaughtUp,
            WriteJob::Probe => {
                tx.write_probe().await?;
                WriteOutcome::Probed
            }
            WriteJob::Barrier => WriteOutcome::Settled,
            WriteJob::Admin(job) => {
                let change = applied.next().flatten();
                WriteOutcome::Admin(
                    admin::record(&mut tx, job, change, &mut chains, now, &mut published).await?,
                )
            }
        });
    }
    for event in &published {
        Events::notify_in(&mut tx, event).await?;
    }
    chains.persist(&mut tx).await?;
    if let Err(error) = tx.commit().await {
        resolve(writer, &Landmark::of(&chains, jobs), error).await?;
    }
    Ok((outcomes, published))
}

/// What shows whether a batch whose COMMIT failed took effect.
#[derive(Debug)]
enum Landmark {
    /// An entry the batch appended to a chain (the last of that chain).
    Entry { tenant: TenantId, seq: u64, hash: String },
    /// A decision the batch recorded outside any chain (`test`).
    Decided { tenant: TenantId, intent: lictor_api::ids::IntentId },
    /// Nothing a client would see twice (probes, tree catch-ups).
    Nothing,
}

impl Landmark {
    fn of(chains: &Chains, jobs: &[WriteJob]) -> Landmark {
        let grown = chains
            .heads
            .iter()
            .find(|(tenant, head)| chains.locked.get(*tenant).is_some_and(|locked| locked.seq < head.seq));
        if let Some((tenant, head)) = grown {
            return Landmark::Entry { tenant: tenant.clone(), seq: head.seq, hash: head.hash.clone() };
        }
        jobs.iter()
            .find_map(|job| match job {
                WriteJob::Decision(d) => Some(Landmark::Decided {
                    tenant: d.draft.decision.tenant.clone(),
                    intent: d.draft.decision.intent_id.clone(),
                }),
                _ => None,
            })
            .unwrap_or(Landmark::Nothing)
    }
}

/// How long a COMMIT that failed with a lost connection is read back
/// before the outcome is declared unknown.
const RESOLVE_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// After a COMMIT failed: answers `Ok` if the batch was written all the
/// same, the original error if it provably was not, and
/// [`StoreError::OutcomeUnknown`] if the store cannot tell within
/// [`RESOLVE_FOR`].
///
/// An error the database answered (a constraint, a serialization failure)
/// means the COMMIT did not happen. A store that became unavailable while
/// the COMMIT was in flight (PostgreSQL restarted, a proxy dropped the
/// connection, an I/O error) leaves it open: the COMMIT may have been
/// applied before the reply was lost. The batch is then read back once the
/// store answers, under the lock the batch held — so the transaction has
/// ended, one way or the other, before it is looked for.
async fn resolve(writer: &Writer, landmark: &Landmark, error: StoreError) -> StoreResult<()> {
    if !matches!(error, StoreError::Unavailable(_)) || matches!(landmark, Landmark::Nothing) {
        return Err(error);
    }
    let deadline = tokio::time::Instant::now() + RESOLVE_FOR;
    loop {
        match written(&writer.store, landmark).await {
            Ok(Some(true)) => {
                slog::warn!(writer.log, "a commit went unanswered but was written"; "error" => %error);
                return Ok(());
            }
            Ok(Some(false)) => return Err(error),
            Ok(None) => break,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(_) => break,
        }
    }
    slog::error!(writer.log, "a commit went unanswered and could not be read back"; "error" => %error,
        "landmark" => ?landmark);
    Err(StoreError::OutcomeUnknown(
        format!("the commit went unanswered ({error}) and could not be read back").into(),
    ))
}

/// Whether `landmark` is in the store: `None` when its absence proves
/// nothing.
async fn written(store: &Store, landmark: &Landmark) -> StoreResult<Option<bool>> {
    let mut tx = store.begin().await?;
    match landmark {
        Landmark::Entry { tenant, seq, hash } => {
            // The batch held this head's lock: taking it waits for the
            // unanswered transaction to end.
            tx.lock_audit_head(tenant).await?;
            let found = tx.audit_entry_hashes(tenant, seq.saturating_sub(1), *seq, 1).await?;
            Ok(Some(found.first().is_some_and(|(s, h)| s == seq && h == hash)))
        }
        Landmark::Decided { tenant, intent } => {
            let decided = tx.intent_decided(tenant, intent).await?;
            // SQLite's `BEGIN IMMEDIATE` waited for the writer's lock;
            // PostgreSQL holds no lock here that the batch held.
            Ok(match (decided, store.backend()) {
                (true, _) => Some(true),
                (false, crate::store::Backend::Sqlite) => Some(false),
                (false, crate::store::Backend::Postgres) => None,
            })
        }
        Landmark::Nothing => Ok(None),
    }
}
