//! The gateway's Prometheus metrics, kept with the `prometheus-client`
//! crate and exposed by `GET /metrics` in the Prometheus text format
//! (version 0.0.4). Every metric is listed in `docs/observability.md`.
//!
//! Counters and histograms are updated where the work happens (a request's
//! answer, a committed decision, a group commit, an upstream call). What
//! the gateway already keeps — cache hit counts, the store's pool, the
//! process's memory, CPU time and open files — is read when scraped.
//!
//! Tenant labels are bounded: the first `max_tenants` tenants this
//! process sees get their own label value, every later one shares
//! [`OTHER_TENANTS`], so a gateway with thousands of tenants exposes at
//! most `max_tenants + 1` values per tenant-labelled series.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use lictor_api::ids::TenantId;
use lictor_api::intents::{Decision, StageName, Verdict};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of `GET /metrics`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The tenant label of tenants past the bound.
pub const OTHER_TENANTS: &str = "_other";

/// Tenants with a label value of their own, by default.
pub const DEFAULT_MAX_TENANTS: usize = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    tenant: String,
    environment: &'static str,
    verdict: &'static str,
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    tenant: String,
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    tenant: String,
    upstream: String,
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkFailureLabels {
    sink: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApprovalLabels {
    tenant: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    provider: String,
    result: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets in seconds: 50 µs to about 26 s, doubling.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// Human waits in seconds: 1 s to about 36 h, doubling.
fn waits() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 18))
}

/// Group sizes: 1 to 512, doubling.
fn sizes() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    tenants: TenantLabels,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<OperationLabels>,
    decisions: Family<DecisionLabels, Counter>,
    stage_seconds: Histograms<StageLabels>,
    decision_seconds: Histogram,
    commit_jobs: Histogram,
    commit_seconds: Histogram,
    commit_failures: Counter,
    append_lag_seconds: Histogram,
    upstream_seconds: Histograms<UpstreamLabels>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    approval_seconds: Histograms<ApprovalLabels>,
    store_errors: Family<KindLabels, Counter>,
    token_verifications: Family<ResultLabels, Counter>,
    sign_ins: Family<SignInLabels, Counter>,
    step_ups: Family<OperationLabels, Counter>,
    sink_delivered: Family<SinkLabels, Counter>,
    sink_failures: Family<SinkFailureLabels, Counter>,
    sink_lag_entries: Family<SinkLabels, Gauge>,
    sink_lag_seconds: Family<SinkLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    sink_lagging: Family<SinkLabels, Gauge>,
    sink_lease: Family<SinkLabels, Gauge>,
}

impl Metrics {
    /// Empty metrics; at most `max_tenants` tenants get a label of their own.
    pub fn new(max_tenants: usize) -> Metrics {
        let mut registry = Registry::with_prefix("lictor");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "API requests answered, by operation (the OpenAPI operation id) and HTTP status",
            requests.clone(),
        );
        let request_seconds: Histograms<OperationLabels> = Family::new_with_constructor(seconds);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's handler starting to its answer, by operation",
            request_seconds.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Decisions committed, by tenant, environment, verdict and the stage that decided it",
            decisions.clone(),
        );
        let stage_seconds: Histograms<StageLabels> = Family::new_with_constructor(seconds);
        registry.register(
            "pipeline_stage_duration_seconds",
            "Time each pipeline stage took, per decision (`policy` is the policy evaluation)",
            stage_seconds.clone(),
        );
        let decision_seconds = seconds();
        registry.register(
            "decision_duration_seconds",
            "Time from receiving a request to its decision being durable",
            decision_seconds.clone(),
        );
        let commit_jobs = sizes();
        registry.register(
            "audit_commit_jobs",
            "Jobs (decisions, tool results, revocations, changes) per group commit",
            commit_jobs.clone(),
        );
        let commit_seconds = seconds();
        registry.register(
            "audit_commit_duration_seconds",
            "Time one group commit took, from its transaction's start to its durable commit",
            commit_seconds.clone(),
        );
        let commit_failures = Counter::default();
        registry.register(
            "audit_commit_failures",
            "Group commits that failed (every job of the group was answered with the error)",
            commit_failures.clone(),
        );
        let append_lag_seconds = seconds();
        registry.register(
            "audit_append_lag_seconds",
            "Time a job waited for the writer and its group commit, from being handed over to being durable",
            append_lag_seconds.clone(),
        );
        let upstream_seconds: Histograms<UpstreamLabels> = Family::new_with_constructor(seconds);
        registry.register(
            "upstream_call_duration_seconds",
            "Time a forwarded tool call took at its upstream MCP server, by tenant and upstream",
            upstream_seconds.clone(),
        );
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Forwarded tool calls the upstream did not answer with a result, by tenant, upstream and error",
            upstream_errors.clone(),
        );
        let approval_seconds: Histograms<ApprovalLabels> = Family::new_with_constructor(waits);
        registry.register(
            "approval_decision_seconds",
            "Time from an approval request being opened to a human deciding it, by tenant and decision",
            approval_seconds.clone(),
        );
        let store_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "store_errors",
            "Requests that failed on the store, by kind (unavailable, outcome_unknown, conflict, corrupt, database, duplicate)",
            store_errors.clone(),
        );
        let token_verifications = Family::<ResultLabels, Counter>::default();
        registry.register(
            "token_verifications",
            "Capability tokens presented as credentials, by result (valid, or why not)",
            token_verifications.clone(),
        );
        let sign_ins = Family::<SignInLabels, Counter>::default();
        registry.register(
            "operator_sign_ins",
            "People's sign-ins through an identity provider, by provider and result (`ok`, `refused`: the provider or the checks refused it, `error`: the provider could not be reached)",
            sign_ins.clone(),
        );
        let step_ups = Family::<OperationLabels, Counter>::default();
        registry.register(
            "step_ups_required",
            "Destructive operations answered `step_up_required`, by operation",
            step_ups.clone(),
        );
        let sink_delivered = Family::<SinkLabels, Counter>::default();
        registry.register(
            "sink_delivered_events",
            "Audit events (entries and checkpoints) a sink's destination acknowledged, by sink",
            sink_delivered.clone(),
        );
        let sink_failures = Family::<SinkFailureLabels, Counter>::default();
        registry.register(
            "sink_failures",
            "Failed deliveries, by sink and kind (`retry`: tried again later; `rejected`: the batch was refused; `dead_letter`: an event was set aside)",
            sink_failures.clone(),
        );
        let sink_lag_entries = Family::<SinkLabels, Gauge>::default();
        registry.register(
            "sink_lag_entries",
            "Audit entries written but not yet delivered, summed over tenants, by sink (on the gateway sending for it)",
            sink_lag_entries.clone(),
        );
        let sink_lag_seconds = Family::<SinkLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "sink_lag_seconds",
            "Age of the oldest audit entry not yet delivered, by sink (on the gateway sending for it)",
            sink_lag_seconds.clone(),
        );
        let sink_lagging = Family::<SinkLabels, Gauge>::default();
        registry.register(
            "sink_lagging",
            "1 while a sink's lag is above its `max_lag_seconds`, by sink",
            sink_lagging.clone(),
        );
        let sink_lease = Family::<SinkLabels, Gauge>::default();
        registry.register(
            "sink_lease_held",
            "1 while this gateway holds a sink's lease and sends for it, by sink",
            sink_lease.clone(),
        );
        Metrics {
            registry,
            sink_delivered,
            sink_failures,
            sink_lag_entries,
            sink_lag_seconds,
            sink_lagging,
            sink_lease,
            approval_seconds,
            store_errors,
            token_verifications,
            sign_ins,
            step_ups,
            tenants: TenantLabels::new(max_tenants),
            requests,
            request_seconds,
            decisions,
            stage_seconds,
            decision_seconds,
            commit_jobs,
            commit_seconds,
            commit_failures,
            append_lag_seconds,
            upstream_seconds,
            upstream_errors,
        }
    }

    /// A request of `operation` answered with `status` after `elapsed`.
    pub fn request(&self, operation: &str, status: u16, elapsed: Duration) {
        let operation = operation.to_string();
        self.requests
            .get_or_create(&RequestLabels { operation: operation.clone(), status: status.to_string() })
            .inc();
        self.request_seconds.get_or_create(&OperationLabels { operation }).observe(elapsed.as_secs_f64());
    }

    /// A decision was committed.
    pub fn decided(&self, decision: &Decision) {
        let labels = DecisionLabels {
            tenant: self.tenants.label(&decision.tenant),
            environment: decision.environment.as_str(),
            verdict: decision.verdict.as_str(),
            stage: deciding_stage(decision).map(StageName::as_str).unwrap_or("none"),
        };
        self.decisions.get_or_create(&labels).inc();
        for stage in &decision.stages {
            self.stage_seconds
                .get_or_create(&StageLabels { stage: stage.name.as_str() })
                .observe(micros(stage.duration_us));
        }
        self.decision_seconds.observe(micros(decision.latency_us));
    }

    /// A group commit of `jobs` jobs ended after `elapsed`, `ok` or not.
    pub fn committed(&self, jobs: usize, elapsed: Duration, ok: bool) {
        self.commit_jobs.observe(jobs as f64);
        self.commit_seconds.observe(elapsed.as_secs_f64());
        if !ok {
            self.commit_failures.inc();
        }
    }

    /// A job handed to the writer `waited` before its group was durable.
    pub fn appended(&self, waited: Duration) {
        self.append_lag_seconds.observe(waited.as_secs_f64());
    }

    /// A call forwarded to `upstream` took `elapsed`; `error` names why it
    /// gave no result (`None`: it did).
    pub fn upstream_call(&self, tenant: &TenantId, upstream: &str, elapsed: Duration, error: Option<&str>) {
        let tenant = self.tenants.label(tenant);
        let upstream = upstream.to_string();
        self.upstream_seconds
            .get_or_create(&UpstreamLabels { tenant: tenant.clone(), upstream: upstream.clone() })
            .observe(elapsed.as_secs_f64());
        if let Some(error) = error {
            self.upstream_errors
                .get_or_create(&UpstreamErrorLabels { tenant, upstream, error: error.into() })
                .inc();
        }
    }

    /// A human decided an approval of `tenant` (`approve` or `deny`)
    /// `waited` after it was opened.
    pub fn approval_decided(&self, tenant: &TenantId, decision: &str, waited: Duration) {
        let labels = ApprovalLabels { tenant: self.tenants.label(tenant), decision: decision.into() };
        self.approval_seconds.get_or_create(&labels).observe(waited.as_secs_f64());
    }

    /// A request failed on the store with an error of `kind`.
    pub fn store_error(&self, kind: &str) {
        self.store_errors.get_or_create(&KindLabels { kind: kind.into() }).inc();
    }

    /// A capability token was checked as a credential: `valid`, or the
    /// code of why not.
    pub fn token_verified(&self, result: &str) {
        self.token_verifications.get_or_create(&ResultLabels { result: result.into() }).inc();
    }

    /// A sign-in through `provider` ended (`ok`, `refused` or `error`).
    pub fn sign_in(&self, provider: &str, result: &'static str) {
        self.sign_ins.get_or_create(&SignInLabels { provider: provider.into(), result }).inc();
    }

    /// `operation` answered `step_up_required`.
    pub fn step_up_required(&self, operation: &str) {
        self.step_ups.get_or_create(&OperationLabels { operation: operation.into() }).inc();
    }

    /// `sink`'s destination acknowledged `events` events.
    pub fn sink_delivered(&self, sink: &str, events: usize) {
        self.sink_delivered.get_or_create(&SinkLabels { sink: sink.into() }).inc_by(events as u64);
    }

    /// A delivery of `sink` failed (`retry`, `rejected` or `dead_letter`).
    pub fn sink_failed(&self, sink: &str, kind: &'static str) {
        self.sink_failures.get_or_create(&SinkFailureLabels { sink: sink.into(), kind }).inc();
    }

    /// `sink`'s lag: entries not delivered, the oldest one's age, and
    /// whether that is above its limit.
    pub fn sink_lag(&self, sink: &str, entries: u64, seconds: f64, lagging: bool) {
        let labels = SinkLabels { sink: sink.into() };
        self.sink_lag_entries.get_or_create(&labels).set(i64::try_from(entries).unwrap_or(i64::MAX));
        self.sink_lag_seconds.get_or_create(&labels).set(seconds);
        self.sink_lagging.get_or_create(&labels).set(i64::from(lagging));
    }

    /// Whether this gateway holds `sink`'s lease.
    pub fn sink_lease(&self, sink: &str, held: bool) {
        self.sink_lease.get_or_create(&SinkLabels { sink: sink.into() }).set(i64::from(held));
    }

    /// `tenant`'s label value (bounded, see the module's docs).
    pub fn tenant_label(&self, tenant: &TenantId) -> String {
        self.tenants.label(tenant)
    }

    /// The exposition: every metric kept here, then `scraped`'s.
    pub fn encode(&self, scraped: &Scraped) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)?;
        for registry in scraped.registries() {
            prometheus_text::encode(&mut text, &registry)?;
        }
        Ok(text)
    }
}

/// The stage whose outcome set the verdict: the first stage that did not
/// pass (`None` for a decision every stage passed).
fn deciding_stage(decision: &Decision) -> Option<StageName> {
    if decision.verdict == Verdict::Approve && decision.would_be_verdict.is_none() {
        return None;
    }
    decision.reasons.first().map(|reason| reason.stage)
}

fn micros(us: u64) -> f64 {
    us as f64 / 1e6
}

/// Bounded tenant label values.
#[derive(Debug)]
struct TenantLabels {
    max: usize,
    seen: Mutex<HashSet<TenantId>>,
}

impl TenantLabels {
    fn new(max: usize) -> TenantLabels {
        TenantLabels { max, seen: Mutex::new(HashSet::new()) }
    }

    fn label(&self, tenant: &TenantId) -> String {
        let Ok(mut seen) = self.seen.lock() else { return OTHER_TENANTS.into() };
        if seen.contains(tenant) || (seen.len() < self.max && seen.insert(tenant.clone())) {
            tenant.to_string()
        } else {
            OTHER_TENANTS.into()
        }
    }
}

/// What is read at scrape time.
#[derive(Debug, Default)]
pub struct Scraped {
    /// Cache name → (hits, misses).
    pub caches: Vec<(&'static str, u64, u64)>,
    /// The store pool's connections: open, idle, and the most it opens.
    pub pool: (u32, usize, u32),
    /// Process figures from `/proc/self` (absent off Linux).
    pub process: Option<ProcessFigures>,
    /// What the store said at scrape time; `None` if it could not answer.
    pub store: Option<StoreFigures>,
    /// Audit logs the checkpointer refuses to sign over (they do not verify).
    pub audit_logs_refused: u64,
}

/// What a scrape reads from the store, tenant labels already bounded.
#[derive(Clone, Debug, Default)]
pub struct StoreFigures {
    /// Open approval requests by tenant label.
    pub approvals_pending: Vec<(String, i64)>,
    /// Per tenant label: entries no checkpoint covers yet, and the seconds
    /// since that tenant's latest checkpoint (`None`: it has none).
    pub unanchored: Vec<(String, u64, Option<f64>)>,
}

/// The process, as `/proc/self` tells it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessFigures {
    /// Resident set, in bytes.
    pub resident_bytes: u64,
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
}

impl ProcessFigures {
    /// Reads `/proc/self`; `None` where there is none.
    pub fn read() -> Option<ProcessFigures> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let resident_kib: u64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())?;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces) follow ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        // utime and stime are the 14th and 15th fields of the line.
        let cpu_seconds = (ticks(11) + ticks(12)) as f64 / CLOCK_TICKS;
        let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
        Some(ProcessFigures { resident_bytes: resident_kib * 1024, cpu_seconds, open_fds })
    }
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux the gateway is built for.
const CLOCK_TICKS: f64 = 100.0;

impl Scraped {
    /// The gateway's (prefix `lictor`), then the process's (`process`, as
    /// Prometheus' client libraries name them).
    fn registries(&self) -> Vec<Registry> {
        let mut registry = Registry::with_prefix("lictor");
        let lookups = Family::<CacheLabels, Counter>::default();
        for (cache, hits, misses) in &self.caches {
            for (result, count) in [("hit", hits), ("miss", misses)] {
                lookups
                    .get_or_create(&CacheLabels { cache: (*cache).into(), result: result.into() })
                    .inc_by(*count);
            }
        }
        registry.register(
            "cache_lookups",
            "Request-path cache lookups, by cache (api_keys, agents, revocations, upstreams, mcp_sessions) and result",
            lookups,
        );
        let connections = Family::<StateLabels, Gauge>::default();
        let (open, idle, max) = self.pool;
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        connections.get_or_create(&StateLabels { state: "idle".into() }).set(idle);
        connections.get_or_create(&StateLabels { state: "in_use".into() }).set(i64::from(open) - idle);
        registry.register("store_connections", "The store pool's connections, idle or in use", connections);
        let most = Gauge::<i64>::default();
        most.set(i64::from(max));
        registry.register("store_connections_max", "The most connections the store pool opens", most);
        let up = Gauge::<i64>::default();
        up.set(i64::from(self.store.is_some()));
        registry.register("store_up", "Whether the store answered this scrape's queries (1) or not (0)", up);
        let refused = Gauge::<i64>::default();
        refused.set(i64::try_from(self.audit_logs_refused).unwrap_or(i64::MAX));
        registry.register(
            "audit_logs_refused",
            "Tenants' audit logs that failed verification: the checkpointer signs nothing over them",
            refused,
        );
        if let Some(store) = &self.store {
            let pending = Family::<TenantLabel, Gauge>::default();
            for (tenant, count) in &store.approvals_pending {
                pending.get_or_create(&TenantLabel { tenant: tenant.clone() }).inc_by(*count);
            }
            registry.register(
                "approvals_pending",
                "Approval requests waiting for a human, by tenant",
                pending,
            );
            let entries = Family::<TenantLabel, Gauge>::default();
            let age = Family::<TenantLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
            for (tenant, count, seconds) in &store.unanchored {
                let label = TenantLabel { tenant: tenant.clone() };
                entries.get_or_create(&label).inc_by(i64::try_from(*count).unwrap_or(i64::MAX));
                if let Some(seconds) = seconds {
                    let gauge = age.get_or_create(&label);
                    gauge.set(gauge.get().max(*seconds));
                }
            }
            registry.register(
                "audit_unanchored_entries",
                "Audit entries no signed checkpoint covers yet, by tenant",
                entries,
            );
            registry.register(
                "audit_checkpoint_age_seconds",
                "For tenants with entries no checkpoint covers: seconds since their latest checkpoint",
                age,
            );
        }
        if let Some(process) = self.process {
            let mut process_registry = Registry::with_prefix("process");
            let resident = Gauge::<i64>::default();
            resident.set(i64::try_from(process.resident_bytes).unwrap_or(i64::MAX));
            process_registry.register("resident_memory_bytes", "Resident memory size in bytes", resident);
            let cpu = Counter::<f64, std::sync::atomic::AtomicU64>::default();
            cpu.inc_by(process.cpu_seconds);
            process_registry.register("cpu_seconds", "Total user and system CPU time spent in seconds", cpu);
            let fds = Gauge::<i64>::default();
            fds.set(i64::try_from(process.open_fds).unwrap_or(i64::MAX));
            process_registry.register("open_fds", "Number of open file descriptors", fds);
            return vec![registry, process_registry];
        }
        vec![registry]
    }
}
