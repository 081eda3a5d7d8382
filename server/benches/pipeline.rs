//! Micro-benchmarks of the decision pipeline's stages, in process, without
//! HTTP: what one decision costs the gateway before and after the network.
//!
//! | group / bench                          | what one iteration is | target it feeds |
//! |----------------------------------------|-----------------------|-----------------|
//! | `pipeline_risk/assess`                 | `risk::assess` of a realistic payment intent | pipeline ≤ 25 µs per decision |
//! | `pipeline_capability/check_caveats_7`  | `capability::check` of a token with 7 caveats against a tool call | pipeline ≤ 25 µs |
//! | `pipeline_policy/evaluate_{approve,redact,block,escalate}` | one evaluation of the default bundle (`policies/default`) by the gateway's pooled `PolicyEngine`, taken from the `PolicyRegistry` as the pipeline does | pipeline ≤ 25 µs |
//! | `pipeline_templates/evaluate_<template>` | one evaluation of a built-in template (`policies/templates/<name>`) alone, on the routine read | pipeline ≤ 25 µs |
//! | `pipeline_cpu/decide_{approve,redact,block}` | the CPU part of one decision: validate (strict JSON parse of the body) → identity → capability → risk → policy → budget → decide, up to the job handed to the writer; the store's answers (agent, budget usage) come from memory | pipeline ≤ 25 µs |
//! | `pipeline_sqlite/decide_approve`       | `Pipeline::decide` end to end, one decision at a time: store reads, policy, the writer's transaction, durable (SQLite in a temp dir, WAL, `synchronous=FULL`) | pipeline ≤ 25 µs (CPU) + the fsync |
//! | `pipeline_sqlite/decide_approve_x64`   | 64 concurrent `Pipeline::decide`s, group-committed (throughput in decisions) | — |
//! | `audit_group_commit/batch_{1,16,64}`   | N ready decisions through the commit writer in one transaction, durable (throughput in decisions) | — |
//! | `audit_verify/sqlite_50k`              | `audit::verify::verify_log` of a ~50,000-entry chain against its signed checkpoint (throughput in entries) | audit verify ≥ 1 M entries/s |
//! | `audit_export/ndjson_50k`              | the export handler's work: the checkpoint at the head, then `audit::stream::write_export` (pages of 1,000 entries, 64 KiB chunks) into `io::sink` (throughput in entries; peak RSS printed) | export ≥ 200 k entries/s, flat memory |
//!
//! `pipeline_cpu` runs [`Pipeline::prepare`] — every stage of `decide`,
//! with the store's answers given — and `pipeline_sqlite` runs `decide`
//! itself. Figures
//! are printed, never asserted. Criterion writes each estimate to
//! `target/criterion/<group>/<bench>/new/estimates.json`.
//!
//! `cargo bench -p lictor-server --bench pipeline` (add `-- --test` to run
//! each once as a smoke test; the audit chain is then 2,000 entries).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cell::OnceCell;
use std::collections::HashSet;
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use futures::future::join_all;
use lictor_api::agents::{AgentBudget, AgentStatus};
use lictor_api::api_keys::Environment;
use lictor_api::ids::{AgentId, ApprovalId, TenantId};
use lictor_api::intents::{ActionType, Decision, IntentRequest, RiskLevel, Verdict};
use lictor_api::money::UsdAmount;
use lictor_server::audit::checkpointer::{CheckpointSettings, Checkpointer};
use lictor_server::audit::export::{ExportFormat, verify_export};
use lictor_server::audit::stream::{ExportEnd, ExportSink, write_export};
use lictor_server::audit::verify::verify_log;
use lictor_server::audit::writer::{AdminJob, AdminOp, AuditWriter, CommitJob, CommitOutcome};
use lictor_server::events::Events;
use lictor_server::pipeline::approval::Resume;
use lictor_server::pipeline::capability::{self, CapabilityRequest, ToolTarget};
use lictor_server::pipeline::{
    FrontTimings, KeyContext, Pipeline, PipelineSettings, Reads, Submission, policy, risk,
};
use lictor_server::policy::{
    Bundle, EvaluationLimits, PolicyEngine, PolicyRegistry, apply_memory_limit, templates,
};
use lictor_server::revocations::RevocationCache;
use lictor_server::store::{AgentRow, BudgetUsage, NewTenant, Store, StoreConfig, StoreResult, TokenUsage};
use lictor_server::token::{CapabilityToken, Caveat, Jti, TokenHeader, derive_root_key, mint};
use lictor_server::{clock, ids, signing};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// Entries in the chain `audit_verify` and `audit_export` read.
const AUDIT_ENTRIES: u64 = 50_000;
const SMOKE_AUDIT_ENTRIES: u64 = 2_000;

/// `cargo bench -- --test`, or `cargo test --bench …` (which runs the
/// binary without `--bench`): criterion runs each benchmark once, so the
/// data is small too.
fn smoke() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--test") || !args.iter().any(|arg| arg == "--bench")
}

/// Which runtime an in-process gateway runs on.
#[derive(Clone, Copy)]
enum Threads {
    /// The one `lictor serve` runs on (`#[tokio::main]`: one worker per
    /// core), so that work the gateway spreads over its workers is spread
    /// here too.
    AsServed,
    /// One thread: jobs handed to the writer together wait until the
    /// benchmark yields, so they form one transaction.
    One,
}

fn runtime(threads: Threads) -> Runtime {
    match threads {
        Threads::AsServed => tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap(),
        Threads::One => tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
    }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

// ---------------------------------------------------------------- inputs

/// A payment an agent asks to make: approved by the default bundle.
fn approve_body() -> Value {
    json!({
        "intent": {
            "agent": {"id": "billing-bot", "framework": "langchain"},
            "action": {
                "type": "transact",
                "verb": "pay",
                "target": {"type": "account", "identifier": "DE89370400440532013000", "sensitivity": "confidential"},
                "payload": {
                    "summary": "pay supplier invoice INV-2026-0042",
                    "arguments": {"invoice": "INV-2026-0042", "currency": "EUR", "iban": "DE89370400440532013000"},
                    "estimated_impact": {"financial_exposure_usd": 250, "reversible": true, "audience_size": 1,
                                         "regulatory_domains": ["psd2"]}
                }
            }
        },
        "context": {"ticket": "OPS-42", "conversation_id": "conv_8f2a", "user": "alice@example.com"}
    })
}

/// A customer email quoting a card number: `approve_modified` (redacted).
fn redact_body() -> Value {
    json!({
        "intent": {
            "agent": {"id": "billing-bot"},
            "action": {
                "type": "communicate",
                "verb": "send",
                "target": {"type": "email", "identifier": "customer@example.com", "sensitivity": "internal"},
                "payload": {
                    "summary": "reply to a billing question",
                    "content": "Hello, the card 4111 1111 1111 1111 on file was charged 42.00 EUR on 2026-01-03. \
                                Reply to this email if anything looks wrong. Kind regards, Billing",
                    "estimated_impact": {"audience_size": 1, "reversible": false}
                }
            }
        },
        "context": {"ticket": "SUP-1337"}
    })
}

/// A transfer above the default bundle's limit: blocked.
fn block_body() -> Value {
    json!({
        "intent": {
            "agent": {"id": "billing-bot", "framework": "langchain"},
            "action": {
                "type": "transact",
                "verb": "transfer",
                "target": {"type": "account", "identifier": "DE89370400440532013000", "sensitivity": "restricted"},
                "payload": {"summary": "pay the supplier invoice",
                            "estimated_impact": {"financial_exposure_usd": 25000, "reversible": true}}
            }
        },
        "context": {"ticket": "OPS-42"}
    })
}

/// An irreversible payment above 1,000 USD: escalated.
fn escalate_body() -> Value {
    json!({
        "intent": {
            "agent": {"id": "billing-bot"},
            "action": {
                "type": "transact",
                "verb": "pay",
                "payload": {"estimated_impact": {"reversible": false, "financial_exposure_usd": 2500,
                                                 "regulatory_domains": ["psd2"]}}
            }
        }
    })
}

fn agent_row() -> AgentRow {
    AgentRow {
        tenant: tenant(),
        id: AgentId::parse("billing-bot").unwrap(),
        name: "Billing bot".into(),
        owner: "finance-team".into(),
        description: Some("pays supplier invoices".into()),
        status: AgentStatus::Active,
        budget: AgentBudget {
            max_decisions_24h: Some(1_000_000_000),
            max_exposure_usd_24h: Some(UsdAmount::new(1_000_000_000.0).unwrap()),
        },
        created_at: clock::Timestamp::now(),
        updated_at: clock::Timestamp::now(),
    }
}

fn key() -> KeyContext {
    KeyContext {
        credential: "key_0190f3a2b4c5d6e7f8091a2b3c4d5e6f".into(),
        environment: Environment::Live,
        bound_agent: None,
    }
}

/// A submission as the intents handler builds it.
fn submission(request: IntentRequest, received: Instant) -> Submission {
    Submission {
        intent_id: ids::intent_id(),
        tenant: tenant(),
        key: key(),
        token: None,
        request,
        tool: None,
        approval_id: None,
        received,
        created_at: clock::Timestamp::now(),
        pending: false,
        idempotency: None,
        callback_url: None,
        front: FrontTimings::default(),
        invalid: None,
    }
}

fn request(body: &Value) -> IntentRequest {
    lictor_api::extract::parse_value(body.clone()).unwrap()
}

fn policies() -> PolicyRegistry {
    let limits = EvaluationLimits::default();
    apply_memory_limit(limits);
    PolicyRegistry::new(PolicyEngine::compile(Bundle::default_bundle(), limits).unwrap(), limits)
}

// ---------------------------------------------------------------- the CPU part

/// The store's answers to a decision, fixed: the agent row and its budget
/// usage, no revoked tokens, no token usage.
struct Fixed {
    agent: AgentRow,
    usage: BudgetUsage,
}

impl Reads for Fixed {
    async fn agent(&self, _: &TenantId, _: &AgentId) -> StoreResult<Option<AgentRow>> {
        Ok(Some(self.agent.clone()))
    }

    async fn revoked(&self, _: &TenantId) -> StoreResult<Arc<HashSet<String>>> {
        Ok(Arc::default())
    }

    async fn token_usage(&self, _: &TenantId, _: &str, _: i64) -> StoreResult<TokenUsage> {
        Ok(TokenUsage::default())
    }

    async fn budget_usage(&self, _: &TenantId, _: &AgentId, _: i64) -> StoreResult<BudgetUsage> {
        Ok(self.usage)
    }

    async fn resume(&self, _: &TenantId, _: &ApprovalId, _: &str) -> StoreResult<Resume> {
        Ok(Resume::StillPending)
    }
}

/// One decision's CPU work: the HTTP layer's strict parse of the body, then
/// [`Pipeline::prepare`] — the pipeline's own code, every stage, up to the
/// job handed to the writer — with the store's answers given. Its futures
/// never wait (every read is ready), so `block_on` only polls them once.
fn decide_in_memory(pipeline: &Pipeline, reads: &Fixed, body: &[u8]) -> CommitJob {
    let received = Instant::now();
    let request: IntentRequest = lictor_api::extract::parse_json(body).unwrap();
    futures::executor::block_on(pipeline.prepare(reads, submission(request, received))).unwrap()
}

// ---------------------------------------------------------------- a gateway without HTTP

/// The gateway's store, writer and pipeline over SQLite in a temp dir, with
/// tenant `acme` and its agent `billing-bot` created through the writer.
struct InProcess {
    _dir: TempDir,
    rt: Runtime,
    store: Store,
    writer: AuditWriter,
    pipeline: Pipeline,
    /// The approved payment (`approve_body`), as a request.
    approve: IntentRequest,
    /// The same, decided in memory: a ready job for the writer.
    approve_job: CommitJob,
}

impl InProcess {
    fn start(threads: Threads) -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(threads);
        let policies = policies();
        let (store, writer, pipeline) = rt.block_on(async {
            let store = Store::open(&StoreConfig {
                database_url: None,
                data_dir: dir.path().join("data"),
                lock_timeout: Duration::from_secs(5),
                max_connections: 16,
            })
            .await
            .unwrap();
            let keys =
                signing::open(&store, signing::KeySource::File(dir.path().join("keys.json"))).await.unwrap();
            let events = Events::new();
            let log = slog::Logger::root(slog::Discard, slog::o!());
            let revocations = RevocationCache::new(store.clone(), &events, Duration::from_secs(5));
            let metrics = Arc::new(lictor_server::metrics::Metrics::new(100));
            let (writer, _) = AuditWriter::start(store.clone(), keys, events.clone(), 512, (metrics, log));
            let pipeline = Pipeline::new(
                store.clone(),
                policies.clone(),
                writer.clone(),
                revocations,
                &events,
                PipelineSettings::default(),
            );
            let admin = |op| AdminJob { tenant: tenant(), principal: "superadmin".into(), person: None, op };
            let new_tenant = NewTenant {
                id: tenant(),
                name: "Acme".into(),
                webhook_secret: "lictor_whsec_bench_0123456789abcdef".into(),
                created_at: clock::Timestamp::now(),
                rate_limits: Default::default(),
            };
            writer.append_admin_change(admin(AdminOp::CreateTenant(new_tenant))).await.unwrap();
            writer.append_admin_change(admin(AdminOp::CreateAgent(agent_row()))).await.unwrap();
            (store, writer, pipeline)
        });
        let body = serde_json::to_vec(&approve_body()).unwrap();
        let reads = Fixed { agent: agent_row(), usage: BudgetUsage::default() };
        let approve_job = decide_in_memory(&pipeline, &reads, &body);
        assert_eq!(approve_job.draft.verdict, Verdict::Approve);
        InProcess { _dir: dir, rt, store, writer, pipeline, approve: request(&approve_body()), approve_job }
    }

    /// A ready decision for the writer (fresh intent id), built as the
    /// pipeline builds it.
    fn job(&self, template: &CommitJob) -> CommitJob {
        let mut job = template.clone();
        job.draft.decision.intent_id = ids::intent_id();
        job.record.created_at = clock::Timestamp::now();
        job.received = Instant::now();
        job.enqueued = Instant::now();
        job
    }

    /// `Pipeline::decide` of the approved payment, as the intents handler
    /// calls it.
    fn decide_approve(&self) -> impl Future<Output = Result<CommitOutcome, lictor_server::error::Error>> {
        self.pipeline.decide(submission(self.approve.clone(), Instant::now()))
    }
}

fn committed(outcome: CommitOutcome) -> Decision {
    match outcome {
        CommitOutcome::Committed(decision) => *decision,
        other => panic!("not committed: {other:?}"),
    }
}

// ---------------------------------------------------------------- benches

fn bench_stages(c: &mut Criterion) {
    let policies = policies();
    let agent = agent_row();

    let mut group = c.benchmark_group("pipeline_risk");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    let intent = request(&approve_body()).intent;
    group.bench_function("assess", |b| b.iter(|| risk::assess(black_box(&intent))));
    group.finish();

    // A token as `POST /v1/admin/mint` and one attenuation would leave it.
    let root_key = derive_root_key(b"bench: the gateway's token signing secret, 32+ bytes");
    let now = clock::Timestamp::now().seconds();
    let header = TokenHeader::root(
        "tgk-bench",
        Jti::parse("tok_0190f3a2b4c5d6e7f8091a2b3c4d5e6f").unwrap(),
        tenant(),
        agent.id.clone(),
        now,
    );
    let caveats = [
        Caveat::Expires { at: now + 3600 },
        Caveat::Audience { aud: "lictor".into() },
        Caveat::Servers { allow: vec!["mail".into(), "github".into()] },
        Caveat::Tools {
            allow: vec!["mail.*".into(), "github.create_issue".into()],
            deny: vec!["mail.delete*".into()],
        },
        Caveat::ActionTypes { allow: vec![ActionType::Communicate, ActionType::Access] },
        Caveat::MaxCalls { n: 1000 },
        Caveat::RatePerMin { n: 60 },
    ];
    let token = CapabilityToken::parse(&mint(&root_key, &header, &caveats).unwrap()).unwrap();
    let revoked: HashSet<String> = (0..100).map(|i| format!("tok_revoked_{i:04}")).collect();
    let tool = ToolTarget { upstream: "mail".into(), tool: "send".into() };
    let capability_request = CapabilityRequest {
        action_type: ActionType::Communicate,
        tool: Some(&tool),
        risk_level: RiskLevel::Medium,
        now,
        audience: "lictor",
        step_up_window: Duration::from_secs(15 * 60),
        cents: 0,
    };
    capability::check(&token, &revoked, &capability_request).unwrap();
    let mut group = c.benchmark_group("pipeline_capability");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    group.bench_function("check_caveats_7", |b| {
        b.iter(|| capability::check(black_box(&token), &revoked, &capability_request).unwrap())
    });
    group.finish();

    // The policy input exactly as the pipeline builds it, per intent.
    let cases = [
        ("approve", approve_body(), Verdict::Approve),
        ("redact", redact_body(), Verdict::ApproveModified),
        ("block", block_body(), Verdict::Block),
        ("escalate", escalate_body(), Verdict::Escalate),
    ];
    let mut group = c.benchmark_group("pipeline_policy");
    group.sample_size(50).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    for (name, body, want) in &cases {
        let sub = submission(request(body), Instant::now());
        let input = policy::input(&sub, Some(&agent), &risk::assess(&sub.request.intent));
        let engine = policies.for_tenant(&sub.tenant);
        assert_eq!(engine.evaluate(&input).unwrap().verdict, *want, "{name}");
        group.bench_function(format!("evaluate_{name}"), |b| b.iter(|| engine.evaluate(black_box(&input))));
    }
    group.finish();

    // Each built-in template on its own, on the routine read: what each
    // adds to a bundle that combines them (the `cargo xtask bench` bundle
    // is the default bundle and all of these).
    let sub = submission(request(&approve_body()), Instant::now());
    let input = policy::input(&sub, Some(&agent), &risk::assess(&sub.request.intent));
    let mut group = c.benchmark_group("pipeline_templates");
    group.sample_size(50).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    for template in templates::templates() {
        let engine = PolicyEngine::compile(template.bundle(), EvaluationLimits::default()).unwrap();
        engine.evaluate(&input).unwrap();
        group.bench_function(format!("evaluate_{}", template.name), |b| {
            b.iter(|| engine.evaluate(black_box(&input)))
        });
    }
    group.finish();
}

/// The whole pipeline's CPU work per decision (`Pipeline::prepare`, store
/// answers given), on the in-process gateway's pipeline.
fn bench_cpu(c: &mut Criterion) {
    let gateway = InProcess::start(Threads::AsServed);
    let reads = Fixed { agent: agent_row(), usage: BudgetUsage { decisions: 1_234, exposure_usd: 56_789.0 } };
    let cases = [
        ("approve", approve_body(), Verdict::Approve),
        ("redact", redact_body(), Verdict::ApproveModified),
        ("block", block_body(), Verdict::Block),
    ];
    let mut group = c.benchmark_group("pipeline_cpu");
    group.sample_size(50).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    for (name, body, want) in &cases {
        let body = serde_json::to_vec(body).unwrap();
        let job = decide_in_memory(&gateway.pipeline, &reads, &body);
        assert_eq!(job.draft.verdict, *want, "{name}");
        group.bench_function(format!("decide_{name}"), |b| {
            b.iter(|| decide_in_memory(&gateway.pipeline, &reads, black_box(&body)))
        });
    }
    group.finish();
}

/// The gateway of `pipeline_sqlite` and `audit_group_commit`, with a
/// decision already made through it (so its first measured one is warm).
fn sqlite_gateway(threads: Threads) -> InProcess {
    let gateway = InProcess::start(threads);
    let decision = committed(gateway.rt.block_on(gateway.decide_approve()).unwrap());
    assert_eq!(decision.verdict, Verdict::Approve);
    assert!(decision.audit.is_some());
    gateway
}

/// A group of benchmarks through the store: each iteration takes
/// milliseconds, so few flat samples.
fn store_group<'a>(c: &'a mut Criterion, name: &str, measurement: Duration) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(measurement)
        .warm_up_time(Duration::from_millis(500));
    group
}

fn bench_sqlite(c: &mut Criterion) {
    let (served, single) = (&OnceCell::new(), &OnceCell::new());
    // Set up the first time a benchmark needs it: a filtered run
    // (`cargo bench -- pipeline_policy`) skips the store work.
    let gateway = || served.get_or_init(|| sqlite_gateway(Threads::AsServed));

    let mut group = store_group(c, "pipeline_sqlite", Duration::from_secs(3));
    group.bench_function("decide_approve", |b| {
        let gateway = gateway();
        b.to_async(&gateway.rt)
            .iter(move || async move { committed(gateway.decide_approve().await.unwrap()) })
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("decide_approve_x64", |b| {
        let gateway = gateway();
        b.to_async(&gateway.rt).iter(move || async move {
            for outcome in join_all((0..64).map(|_| gateway.decide_approve())).await {
                black_box(committed(outcome.unwrap()));
            }
        })
    });
    group.finish();

    // Ready decisions: on a current-thread runtime every job is queued
    // before the writer runs, so the N form exactly one transaction.
    let mut group = store_group(c, "audit_group_commit", Duration::from_secs(3));
    for n in [1u64, 16, 64] {
        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("batch_{n}"), |b| {
            let gateway = single.get_or_init(|| sqlite_gateway(Threads::One));
            let template = &gateway.approve_job;
            b.to_async(&gateway.rt).iter_batched(
                || (0..n).map(|_| gateway.job(template)).collect::<Vec<_>>(),
                |jobs| async move {
                    for outcome in
                        join_all(jobs.into_iter().map(|job| gateway.writer.append_decision(job))).await
                    {
                        black_box(committed(outcome.unwrap()));
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// A value of `/proc/self/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// An export's destination: writes every chunk to `out` (`io::sink` in the
/// benchmark).
struct Out<W: Write + Send>(W);

impl<W: Write + Send> ExportSink for Out<W> {
    async fn send(&mut self, chunk: Vec<u8>) -> bool {
        self.0.write_all(&chunk).is_ok()
    }
}

/// `GET /v1/admin/audit/export`'s work without HTTP: the checkpoint at the
/// head, then `audit::stream::write_export` into `out`. The entries written.
async fn export(store: &Store, checkpoints: &Checkpointer, tenant: &TenantId, out: impl Write + Send) -> u64 {
    let checkpoint = checkpoints.at_head(tenant).await.unwrap();
    match write_export(store, checkpoints, tenant, &checkpoint, ExportFormat::Ndjson, &mut Out(out))
        .await
        .unwrap()
    {
        ExportEnd::Complete { entries, .. } => entries,
        ExportEnd::Stopped => panic!("the export stopped"),
    }
}

/// The chain `audit_verify` and `audit_export` read: `entries` decisions
/// (the tenant's and agent's creation included) and a checkpoint at the
/// head, checked to verify — online and as an export — before anything is
/// timed.
struct AuditChain {
    gateway: InProcess,
    checkpoints: Checkpointer,
    tenant: TenantId,
}

fn audit_chain(entries: u64) -> AuditChain {
    let gateway = InProcess::start(Threads::AsServed);
    let tenant = tenant();
    let checkpoints = gateway.rt.block_on(async {
        let started = Instant::now();
        let mut written = gateway.store.audit_head(&tenant).await.unwrap().map_or(0, |h| h.seq);
        while written < entries {
            let jobs: Vec<_> =
                (0..(entries - written).min(500)).map(|_| gateway.job(&gateway.approve_job)).collect();
            for outcome in join_all(jobs.into_iter().map(|job| gateway.writer.append_decision(job))).await {
                committed(outcome.unwrap());
                written += 1;
            }
        }
        println!(
            "audit: seeded {written} entries in {:.1} s ({:.0} decisions/s through the writer, batches of 500)",
            started.elapsed().as_secs_f64(),
            written as f64 / started.elapsed().as_secs_f64()
        );
        let keys = signing::open(
            &gateway.store,
            signing::KeySource::File(gateway._dir.path().join("keys.json")),
        )
        .await
        .unwrap();
        let checkpoints = Checkpointer::load(gateway.store.clone(), keys, CheckpointSettings::default()).unwrap();
        checkpoints.at_head(&tenant).await.unwrap();
        let verified = verify_log(&gateway.store, &checkpoints, &tenant, None).await.unwrap();
        assert!(verified.ok, "{verified:?}");
        assert!(verified.checkpoint.is_some());
        assert_eq!(verified.verified, entries);
        // The export must verify offline, or its figure means nothing.
        let mut file = Vec::new();
        let exported = export(&gateway.store, &checkpoints, &tenant, &mut file).await;
        let report = verify_export(file.as_slice(), &checkpoints.verifiers(), |_| {}).unwrap();
        assert_eq!(report.entries, entries);
        assert_eq!(exported, entries);
        println!(
            "audit: {entries} entries, export {:.1} MB ({} bytes per entry)",
            file.len() as f64 / 1e6,
            file.len() as u64 / exported
        );
        checkpoints
    });

    // Peak memory of one export: reset the high-water mark (Linux
    // `clear_refs` 5), export, read it back.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = status_kb("VmRSS:");
    gateway.rt.block_on(export(&gateway.store, &checkpoints, &tenant, std::io::sink()));
    match (reset, before, status_kb("VmHWM:")) {
        (true, Some(before), Some(peak)) => println!(
            "audit_export: RSS {:.1} MB before, peak {:.1} MB during one export of {entries} entries (+{:.1} MB)",
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(before) as f64 / 1024.0
        ),
        _ => println!("audit_export: peak RSS not available (no /proc/self/clear_refs)"),
    }
    AuditChain { gateway, checkpoints, tenant }
}

fn bench_audit(c: &mut Criterion) {
    let entries = if smoke() { SMOKE_AUDIT_ENTRIES } else { AUDIT_ENTRIES };
    let fixture = &OnceCell::new();
    let chain = || fixture.get_or_init(|| audit_chain(entries));

    let mut group = store_group(c, "audit_verify", Duration::from_secs(5));
    group.throughput(Throughput::Elements(entries));
    group.bench_function("sqlite_50k", |b| {
        let AuditChain { gateway, checkpoints, tenant } = chain();
        b.to_async(&gateway.rt).iter(move || async move {
            let verified = verify_log(&gateway.store, checkpoints, tenant, None).await.unwrap();
            assert_eq!(verified.verified, entries);
            verified
        })
    });
    group.finish();

    let mut group = store_group(c, "audit_export", Duration::from_secs(5));
    group.throughput(Throughput::Elements(entries));
    group.bench_function("ndjson_50k", |b| {
        let AuditChain { gateway, checkpoints, tenant } = chain();
        b.to_async(&gateway.rt).iter(move || export(&gateway.store, checkpoints, tenant, std::io::sink()))
    });
    group.finish();
}

criterion_group!(benches, bench_stages, bench_cpu, bench_sqlite, bench_audit);
criterion_main!(benches);
