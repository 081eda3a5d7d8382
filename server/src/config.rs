//! Gateway configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::checkpointer::CheckpointSettings;
use crate::catalog::ConfiguredUpstream;
use crate::pending::PendingConfig;
use crate::webhooks::WebhookConfig;

/// Everything `lictor serve` can be told. [`Config::default`] is the
/// zero-configuration gateway: SQLite in `./lictor-data`, listening on
/// `127.0.0.1:8080`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where the embedded SQLite database lives.
    pub data_dir: PathBuf,
    /// `postgres://…` switches to PostgreSQL (`sqlite:` URLs also work).
    pub database_url: Option<String>,
    /// The signing keys' file (`--keys-file`, `LICTOR_KEYS_FILE`); `None`
    /// is `<data_dir>/keys.json`. Created `0600` on the first start of a
    /// new store.
    pub keys_file: Option<PathBuf>,
    /// The key file's contents given inline (`LICTOR_KEYS`, e.g. from a
    /// mounted secret); wins over `keys_file`.
    pub keys: Option<String>,
    /// The superadmin key (`LICTOR_ADMIN_KEY`); generated on first start
    /// when absent.
    pub admin_key: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Most decisions committed in one transaction.
    pub commit_max_batch: usize,
    /// Pooled database connections.
    pub max_connections: u32,
    /// How long a writer waits for a database lock (SQLite's busy timeout,
    /// PostgreSQL's `lock_timeout`) before the store counts as unavailable.
    pub lock_timeout: Duration,
    /// Time limit of one policy evaluation.
    pub policy_time_limit: Duration,
    /// The process heap (bytes) above which policy evaluations stop.
    pub policy_heap_limit: u64,
    /// How often replicas compare every tenant's active policy with the
    /// store (the safety net under `NOTIFY`).
    pub policy_poll_interval: Duration,
    /// Webhook delivery.
    pub webhooks: WebhookConfig,
    /// Async intent evaluation.
    pub pending: PendingConfig,
    /// This gateway's audience: tokens with an `audience` caveat must name it.
    pub audience: String,
    /// How long after a token's `step_up` high-risk actions stay allowed.
    pub step_up_window: Duration,
    /// How long an approval request stays open, and usable once approved.
    pub approval_ttl: Duration,
    /// Most open approval requests per agent (beyond: block).
    pub max_open_approvals_per_agent: u64,
    /// Upstream MCP servers every tenant reaches.
    pub upstreams: Vec<ConfiguredUpstream>,
    /// Timeout of one exchange with an upstream.
    pub upstream_timeout: Duration,
    /// How long an upstream's tool list is reused.
    pub tools_ttl: Duration,
    /// Bearer token `GET /metrics` on the API listener answers to (unset:
    /// it answers `404`).
    pub metrics_token: Option<String>,
    /// A second listener serving only `GET /metrics` (without a metrics
    /// token, to anyone who reaches it).
    pub metrics_listen: Option<SocketAddr>,
    /// On SIGTERM, how long readiness is false before the listener closes.
    pub drain_delay: Duration,
    /// How long requests in flight may take once the listener closed.
    pub shutdown_timeout: Duration,
    /// Serve TLS with this certificate (`--tls-cert`, `--tls-key`, …).
    pub tls: Option<crate::tls::TlsSettings>,
    /// CAs trusted beside the system's for outbound TLS (upstreams,
    /// webhooks).
    pub ca_file: Option<PathBuf>,
    /// Tenants with a metrics label of their own (later ones share `_other`).
    pub metrics_max_tenants: usize,
    /// Whether a forwarded call's `tool_result` entry is committed before
    /// the agent gets the upstream's answer (see docs/mcp.md).
    pub tool_results: ToolResults,
    /// Safety-net lifetime of cached revocation lists.
    pub revocation_cache_ttl: Duration,
    /// Safety-net lifetime of cached API keys and agents: the longest a
    /// replica that missed a change's notification keeps using the old row.
    pub cache_ttl: Duration,
    /// When audit checkpoints are signed, and the log's name.
    pub checkpoints: CheckpointSettings,
    /// Audit sinks and notification channels configured by environment
    /// (`LICTOR_SINK_<NAME>`, `LICTOR_CHANNEL_<NAME>`): each serves every
    /// tenant.
    pub integrations: Vec<crate::integrations::Configured>,
    /// Whether integrations made through the API may send to private,
    /// loopback and link-local addresses (the environment's always may).
    pub integrations_allow_private: bool,
    /// This gateway's public base URL (`https://lictor.example.com`), for
    /// links in alerts.
    pub public_url: Option<String>,
    /// Timing of the sinks' senders (lease, polling, backoff).
    pub sink_tuning: crate::sinks::SinkTuning,
    /// OpenID Connect providers operators sign in with
    /// (`LICTOR_OIDC_<NAME>`).
    pub oidc_providers: Vec<(lictor_api::operators::ProviderName, crate::operators::oidc::ProviderSettings)>,
    /// How long a console session lasts at most.
    pub session_ttl: Duration,
    /// How long a console session lasts unused.
    pub session_idle: Duration,
    /// Which log events are written: a `RUST_LOG`-style filter (`info`,
    /// `warn,lictor::request=info`…; `critical` reads as `error`).
    pub log_level: String,
}

impl Config {
    /// Where the signing keys come from.
    pub fn key_source(&self) -> crate::signing::KeySource {
        match (&self.keys, &self.keys_file) {
            (Some(inline), _) => crate::signing::KeySource::Inline(inline.clone()),
            (None, Some(path)) => crate::signing::KeySource::File(path.clone()),
            (None, None) => crate::signing::KeySource::File(self.data_dir.join("keys.json")),
        }
    }
}

/// The smallest admin key accepted from `LICTOR_ADMIN_KEY`.
pub(crate) const MIN_ADMIN_KEY_LEN: usize = 32;

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("lictor-data"),
            database_url: None,
            keys_file: None,
            keys: None,
            admin_key: None,
            max_body_bytes: 1024 * 1024,
            commit_max_batch: 512,
            max_connections: 16,
            lock_timeout: Duration::from_secs(5),
            policy_time_limit: crate::policy::EvaluationLimits::default().time,
            policy_poll_interval: Duration::from_secs(10),
            policy_heap_limit: crate::policy::DEFAULT_HEAP_LIMIT,
            webhooks: WebhookConfig::default(),
            checkpoints: CheckpointSettings::default(),
            pending: PendingConfig::default(),
            audience: "lictor".into(),
            step_up_window: Duration::from_secs(15 * 60),
            approval_ttl: Duration::from_secs(15 * 60),
            max_open_approvals_per_agent: 100,
            upstreams: Vec::new(),
            upstream_timeout: Duration::from_secs(30),
            tools_ttl: Duration::from_secs(30),
            tool_results: ToolResults::AfterAnswer,
            metrics_token: None,
            metrics_listen: None,
            tls: None,
            drain_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(30),
            ca_file: None,
            metrics_max_tenants: crate::metrics::DEFAULT_MAX_TENANTS,
            revocation_cache_ttl: Duration::from_secs(60),
            cache_ttl: Duration::from_secs(5),
            log_level: "info".into(),
            integrations: Vec::new(),
            public_url: None,
            integrations_allow_private: false,
            sink_tuning: crate::sinks::SinkTuning::default(),
            oidc_providers: Vec::new(),
            session_ttl: Duration::from_secs(8 * 3600),
            session_idle: Duration::from_secs(3600),
        }
    }
}

/// When a forwarded tool call's `tool_result` entry becomes durable. The
/// call's decision is durable before the call is forwarded either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolResults {
    /// The entry rides the writer's next group commit; the agent gets the
    /// upstream's answer without waiting for it, and every audit read waits
    /// for it. A crash in between loses that entry only.
    AfterAnswer,
    /// The agent gets the upstream's answer once the entry is committed.
    BeforeAnswer,
}
