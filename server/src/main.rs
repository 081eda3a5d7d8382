//! `lictor`: the gateway binary.
//!
//! - `lictor serve` runs the gateway (SQLite in `./lictor-data` unless
//!   `--database-url` names PostgreSQL).
//! - `lictor policy test DIR` runs a policy bundle's Rego unit tests and
//!   its decision corpus (`DIR/corpus.yaml`).
//! - `lictor token attenuate TOKEN …` narrows a capability token offline;
//!   `lictor token inspect TOKEN` shows what a token carries.
//! - `lictor keys rotate` adds a new capability-token signing key.
//! - `lictor audit verify-export FILE --key KEY [--trusted CHECKPOINT]`
//!   checks an audit export offline against the gateway's checkpoint key;
//!   `lictor audit monitor URL --key KEY --state FILE` witnesses its
//!   checkpoints.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lictor_api::intents::ActionType;
use lictor_api::tokens::UpstreamName;
use lictor_server::Config;
use lictor_server::audit::checkpoint::NoteVerifier;
use lictor_server::audit::checkpointer::CheckpointSettings;
use lictor_server::audit::export::{self, ExportFailureReason};
use lictor_server::catalog::ConfiguredUpstream;
use lictor_server::demo::{self, bank::Bank};
use lictor_server::gateway::AdminKey;
use lictor_server::policy::corpus::{self, CORPUS_FILE};
use lictor_server::policy::{Bundle, EvaluationLimits, PolicyEngine, rego_tests};
use lictor_server::signing;
use lictor_server::telemetry::{self, LogFormat};
use lictor_server::token::{self, CapabilityToken, Restrictions};

#[derive(Parser)]
#[command(name = "lictor", version, about = "Governance gateway for AI agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(Box<ServeArgs>),
    /// Run only the demo bank: an MCP server with `echo`, `get_balance` and
    /// `transfer_funds` to register as an upstream (`serve --demo` starts
    /// and registers it by itself).
    DemoUpstream {
        /// Address to listen on; its MCP endpoint is `http://ADDRESS/mcp`.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Exit 0 when the gateway on this machine answers `/healthz` (or
    /// `--path`) with 200, 1 otherwise: a container's HEALTHCHECK, in an
    /// image without a shell or curl. It asks the management listener
    /// (`LICTOR_METRICS_LISTEN`) when there is one, in plain HTTP whatever
    /// TLS the API uses; else the API's address.
    Healthcheck {
        /// The gateway's listening address (its port is used on loopback).
        #[arg(long, env = "LICTOR_LISTEN", default_value_t = DEFAULTS.listen)]
        listen: SocketAddr,
        /// The gateway's management listener, asked instead when set.
        #[arg(long, env = "LICTOR_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
        /// The API's TLS certificate: set, the API speaks only HTTPS, so
        /// the management listener is required.
        #[arg(long, env = "LICTOR_TLS_CERT", hide = true)]
        tls_cert: Option<PathBuf>,
        /// The path to ask.
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
    /// Work with policy bundles.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Work with capability tokens (offline).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the gateway's signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Work with audit exports (offline).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify an audit export (CSV or NDJSON) offline.
    ///
    /// Checks every entry's hash and link, every signed checkpoint in the
    /// file against the entries' tree and the consistency proof between
    /// each pair, and the checkpoint closing the file: the entries are then
    /// the tenant's complete, untampered log up to it. With `--trusted`,
    /// also that the log extends a checkpoint saved earlier. Exits 0 when
    /// valid, 1 when not, 2 when the file or a key cannot be read.
    VerifyExport(VerifyExportArgs),
    /// Watch a gateway's audit log as a witness: fetch its latest signed
    /// checkpoint, prove it extends the one saved in `--state` (a
    /// consistency proof from the gateway), and save it.
    ///
    /// Run it from cron or a CI schedule, outside the gateway's machine
    /// and database: a rewrite or truncation of checkpointed history, or a
    /// checkpoint signed by another key, fails it. Exits 0 when consistent,
    /// 1 when not (the state is left as it was), 2 when the gateway, the
    /// key or the state cannot be read.
    Monitor(MonitorArgs),
}

#[derive(clap::Args)]
struct MonitorArgs {
    /// The gateway's base URL.
    url: String,
    /// A checkpoint verifier key, or a file of them (as for
    /// `verify-export`). Pin the key: never fetch it from the gateway
    /// being watched. Repeatable.
    #[arg(long = "key", value_name = "KEY|FILE", required = true)]
    keys: Vec<String>,
    /// The file holding the last checkpoint seen (created on the first run).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// The tenant, when the API key is the superadmin's.
    #[arg(long)]
    tenant: Option<String>,
    /// A tenant admin key (or the superadmin key, with `--tenant`).
    #[arg(long, env = "LICTOR_API_KEY", hide_env_values = true)]
    api_key: String,
    /// CAs (PEM) trusted beside the system's, for a gateway whose
    /// certificate comes from a private CA.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct VerifyExportArgs {
    /// The export file (`-` for standard input).
    file: PathBuf,
    /// A checkpoint verifier key (`<name>+<key id>+<base64 key>`), or a file
    /// of them: one per line, or the JSON of `GET /.well-known/lictor/keys`.
    /// Repeatable.
    #[arg(long = "key", value_name = "KEY|FILE", required = true)]
    keys: Vec<String>,
    /// A checkpoint saved earlier (a signed note, as `audit monitor` saves
    /// it or the API's `note`): the export must extend it. Only this shows
    /// a whole rewrite or a truncation whose checkpoints were deleted too.
    #[arg(long, value_name = "FILE")]
    trusted: Option<PathBuf>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Append caveats to a token (no key needed); prints the narrower token.
    Attenuate(Box<AttenuateArgs>),
    /// Print a token's header, caveats and jti chain (without verifying it).
    Inspect {
        /// The token.
        token: String,
    },
}

#[derive(clap::Args)]
struct AttenuateArgs {
    /// The token to narrow.
    token: String,
    /// The new hop's jti (default: a fresh one).
    #[arg(long)]
    jti: Option<String>,
    /// Lifetime from now, in seconds.
    #[arg(long)]
    expires_in: Option<u64>,
    /// Allowed tools (patterns, comma-separated).
    #[arg(long, value_delimiter = ',')]
    tools: Vec<String>,
    /// Denied tools (patterns, comma-separated).
    #[arg(long, value_delimiter = ',')]
    deny_tools: Vec<String>,
    /// Allowed upstream servers (comma-separated).
    #[arg(long, value_delimiter = ',')]
    servers: Vec<String>,
    /// Allowed action types (comma-separated).
    #[arg(long, value_delimiter = ',')]
    action_types: Vec<String>,
    /// Most allowed calls.
    #[arg(long)]
    max_calls: Option<u64>,
    /// Most summed exposure, in USD.
    #[arg(long)]
    max_usd: Option<f64>,
    /// Most calls per minute.
    #[arg(long)]
    rate_per_min: Option<u64>,
    /// The gateway audience the token must be used at.
    #[arg(long)]
    audience: Option<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key, or replace the superadmin key. For `token`
    /// (the default), tokens of earlier keys keep verifying until they
    /// expire; for `checkpoint`, running gateways sign new checkpoints with
    /// the new key within a second and keep publishing the earlier keys; for
    /// `admin`, the new superadmin key is printed once and replaces the
    /// stored one at once, on running gateways too.
    Rotate(RotateArgs),
}

#[derive(clap::Args)]
struct RotateArgs {
    /// Which key to rotate.
    #[arg(long, value_enum, default_value_t = KeyKind::Token)]
    key: KeyKind,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KeyKind {
    /// The capability-token HMAC key.
    Token,
    /// The Ed25519 audit checkpoint key.
    Checkpoint,
    /// The generated superadmin key: prints a new one, shown once; the
    /// earlier one stops working (for a lost key; gateways run with
    /// LICTOR_ADMIN_KEY ignore it).
    Admin,
}

#[derive(clap::Args)]
struct StoreArgs {
    /// Directory of the embedded SQLite database.
    #[arg(long, env = "LICTOR_DATA_DIR", default_value_os_t = DEFAULTS.data_dir.clone())]
    data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The signing keys' file [default: DATA_DIR/keys.json].
    #[arg(long, env = "LICTOR_KEYS_FILE")]
    keys_file: Option<PathBuf>,
}

#[derive(clap::Args)]
#[command(after_help = SERVE_ENVIRONMENT)]
struct ServeArgs {
    /// Try it out: keep the data in a temporary directory (deleted on
    /// exit), start the demo bank MCP server beside the gateway, provision
    /// tenant `demo`, agent `billing-bot`, upstream `bank`, keys and a
    /// capability token, and print them as `export` lines for the SDKs'
    /// quickstarts.
    #[arg(long, conflicts_with_all = ["data_dir", "database_url"])]
    demo: bool,
    /// Address to listen on.
    #[arg(long, env = "LICTOR_LISTEN", default_value_t = DEFAULTS.listen)]
    listen: SocketAddr,
    /// Directory of the embedded SQLite database and its files.
    #[arg(long, env = "LICTOR_DATA_DIR", default_value_os_t = DEFAULTS.data_dir.clone())]
    data_dir: PathBuf,
    /// `postgres://user:pass@host/db` to use PostgreSQL instead of SQLite.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The signing keys' file, created 0600 on the first start of a new
    /// store; every replica of one store needs the same keys
    /// [default: DATA_DIR/keys.json].
    #[arg(long, env = "LICTOR_KEYS_FILE", conflicts_with = "demo")]
    keys_file: Option<PathBuf>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "LICTOR_MAX_BODY_BYTES", default_value_t = DEFAULTS.max_body_bytes)]
    max_body_bytes: usize,
    /// Most decisions written in one transaction.
    #[arg(long, env = "LICTOR_COMMIT_MAX_BATCH", default_value_t = DEFAULTS.commit_max_batch)]
    commit_max_batch: usize,
    /// Pooled database connections.
    #[arg(long, env = "LICTOR_MAX_CONNECTIONS", default_value_t = DEFAULTS.max_connections)]
    max_connections: u32,
    /// How long a writer waits for a database lock before answering 503, in milliseconds.
    #[arg(long, env = "LICTOR_LOCK_TIMEOUT_MS", default_value_t = millis(DEFAULTS.lock_timeout))]
    lock_timeout_ms: u64,
    /// Time limit of one policy evaluation, in milliseconds.
    #[arg(long, env = "LICTOR_POLICY_TIME_LIMIT_MS", default_value_t = millis(DEFAULTS.policy_time_limit))]
    policy_time_limit_ms: u64,
    /// How often to compare every tenant's active policy with the store,
    /// in seconds (promotions arrive at once through PostgreSQL `NOTIFY`;
    /// this is the safety net).
    #[arg(long, env = "LICTOR_POLICY_POLL_SECONDS", default_value_t = DEFAULTS.policy_poll_interval.as_secs())]
    policy_poll_seconds: u64,
    /// The process heap, in MiB, above which policy evaluations stop (and
    /// block with `policy_limit_exceeded`).
    #[arg(long, env = "LICTOR_POLICY_HEAP_LIMIT_MB", default_value_t = DEFAULTS.policy_heap_limit >> 20)]
    policy_heap_limit_mb: u64,
    /// Webhook delivery attempts before giving up.
    #[arg(long, env = "LICTOR_WEBHOOK_MAX_ATTEMPTS", default_value_t = DEFAULTS.webhooks.max_attempts)]
    webhook_max_attempts: u32,
    /// Delay before the second webhook attempt, in milliseconds (doubles each time).
    #[arg(long, env = "LICTOR_WEBHOOK_BASE_DELAY_MS", default_value_t = millis(DEFAULTS.webhooks.base_delay))]
    webhook_base_delay_ms: u64,
    /// Which log events are written: a RUST_LOG-style filter (`info`,
    /// `warn,lictor::request=info`, `lictor=debug`…) [default: RUST_LOG, else info].
    #[arg(long, env = "LICTOR_LOG_LEVEL")]
    log_level: Option<String>,
    /// How log events are written to standard error: `text` lines or one
    /// JSON object per line (for a log shipper).
    #[arg(long, env = "LICTOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// An upstream MCP server every tenant reaches: `NAME=URL` (repeatable).
    #[arg(long = "upstream", value_name = "NAME=URL")]
    upstreams: Vec<String>,
    /// A credential for a configured upstream: `NAME=HEADER:VALUE`
    /// (repeatable; also `LICTOR_UPSTREAM_CREDENTIALS`, `;`-separated).
    #[arg(
        long = "upstream-credential",
        value_name = "NAME=HEADER:VALUE",
        env = "LICTOR_UPSTREAM_CREDENTIALS",
        value_delimiter = ';'
    )]
    upstream_credentials: Vec<String>,
    /// This gateway's audience (tokens with an `audience` caveat must name it).
    #[arg(long, env = "LICTOR_AUDIENCE", default_value_t = DEFAULTS.audience.clone())]
    audience: String,
    /// How long an approval request stays open, and usable once approved, in seconds.
    #[arg(long, env = "LICTOR_APPROVAL_TTL_SECONDS", default_value_t = DEFAULTS.approval_ttl.as_secs())]
    approval_ttl_seconds: u64,
    /// Most open approval requests per agent.
    #[arg(long, env = "LICTOR_MAX_OPEN_APPROVALS", default_value_t = DEFAULTS.max_open_approvals_per_agent)]
    max_open_approvals_per_agent: u64,
    /// How long after a token's `step_up` time high-risk actions stay allowed, in seconds.
    #[arg(long, env = "LICTOR_STEP_UP_WINDOW_SECONDS", default_value_t = DEFAULTS.step_up_window.as_secs())]
    step_up_window_seconds: u64,
    /// Time limit of one request to an upstream MCP server, in milliseconds.
    #[arg(long, env = "LICTOR_UPSTREAM_TIMEOUT_MS", default_value_t = millis(DEFAULTS.upstream_timeout))]
    upstream_timeout_ms: u64,
    /// How long an upstream's tool list is cached, in seconds.
    #[arg(long, env = "LICTOR_TOOLS_TTL_SECONDS", default_value_t = DEFAULTS.tools_ttl.as_secs())]
    tools_ttl_seconds: u64,
    /// When a forwarded tool call's `tool_result` audit entry is committed:
    /// with the writer's next group, after the agent has the upstream's
    /// answer (`after-answer`), or before it (`before-answer`). The call's
    /// decision is committed before the call is forwarded either way.
    #[arg(long, env = "LICTOR_TOOL_RESULTS", value_enum, default_value_t = DEFAULTS.tool_results)]
    tool_results: lictor_server::config::ToolResults,
    /// The bearer token `GET /metrics` answers to (Prometheus'
    /// `authorization: credentials`); without one, `/metrics` is `404`.
    #[arg(long, env = "LICTOR_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); reloaded
    /// when the file changes or on SIGHUP, without dropping connections.
    #[arg(long, env = "LICTOR_TLS_CERT", requires = "tls_key", conflicts_with = "demo")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS #8, PKCS #1 or SEC 1).
    #[arg(long, env = "LICTOR_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Ask every client for a certificate chained to one of these CAs
    /// (PEM): mutual TLS. Read at start.
    #[arg(long, env = "LICTOR_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// How often --tls-cert and --tls-key are checked for a change, in seconds.
    #[arg(long, env = "LICTOR_TLS_RELOAD_SECONDS", default_value_t = 10)]
    tls_reload_seconds: u64,
    /// CAs (PEM) trusted beside the system's when the gateway calls out
    /// over TLS: upstream MCP servers and webhooks.
    #[arg(long, env = "LICTOR_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// On SIGTERM, how long `/readyz` answers `503 draining` while requests
    /// are still served, before the listener closes (the time a load
    /// balancer takes to stop sending), in seconds.
    #[arg(long, env = "LICTOR_DRAIN_DELAY_SECONDS", default_value_t = DEFAULTS.drain_delay.as_secs())]
    drain_delay_seconds: u64,
    /// On SIGTERM or Ctrl-C, how long requests in flight may take to
    /// finish once the listener closed, in seconds; past it the gateway
    /// exits with an error (what was queued for the audit log is still
    /// committed).
    #[arg(long, env = "LICTOR_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = DEFAULTS.shutdown_timeout.as_secs())]
    shutdown_timeout_seconds: u64,
    /// Also serve `GET /metrics` and the probes `/healthz` and `/readyz` (and
    /// nothing else) on this address, in plain HTTP; without --metrics-token
    /// it answers anyone who reaches it, so keep it private (a pod IP
    /// behind a NetworkPolicy, a management network).
    #[arg(long, env = "LICTOR_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Let integrations made through the API (by tenant administrators)
    /// send to private, loopback and link-local addresses; by default they
    /// reach public addresses only (integrations of the environment always
    /// may).
    #[arg(long, env = "LICTOR_INTEGRATIONS_ALLOW_PRIVATE_NETWORKS")]
    integrations_allow_private_networks: bool,
    /// This gateway's public base URL (`https://lictor.example.com`): links
    /// in alerts point there, identity providers send browsers back there
    /// (required with `LICTOR_OIDC_<NAME>` providers), the session cookie
    /// is `Secure` when it is `https`, and sessions' requests must come
    /// from its origin.
    #[arg(long, env = "LICTOR_PUBLIC_URL")]
    public_url: Option<String>,
    /// How long a person's console session lasts at most, in hours.
    /// (Identity providers are `LICTOR_OIDC_<NAME>` variables.)
    #[arg(long, env = "LICTOR_SESSION_HOURS", default_value_t = DEFAULTS.session_ttl.as_secs() / 3600)]
    session_hours: u64,
    /// How long a person's console session lasts unused, in minutes.
    #[arg(long, env = "LICTOR_SESSION_IDLE_MINUTES", default_value_t = DEFAULTS.session_idle.as_secs() / 60)]
    session_idle_minutes: u64,
    /// How long a replica's lease on an audit sink lasts without renewal:
    /// the longest another replica waits to take a dead one's sinks over,
    /// in seconds. (Sinks themselves are `LICTOR_SINK_<NAME>` variables.)
    #[arg(long, env = "LICTOR_SINKS_LEASE_SECONDS", default_value_t = DEFAULTS.sink_tuning.lease.as_secs())]
    sinks_lease_seconds: u64,
    /// How often a caught-up audit sink looks for new entries, in
    /// milliseconds.
    #[arg(long, env = "LICTOR_SINKS_POLL_MS", default_value_t = u64::try_from(DEFAULTS.sink_tuning.poll.as_millis()).unwrap_or(1000))]
    sinks_poll_ms: u64,
    /// The first retry's delay after a failed delivery to an audit sink,
    /// in milliseconds (doubled each time, with jitter, up to five minutes).
    #[arg(long, env = "LICTOR_SINKS_BACKOFF_MS", default_value_t = u64::try_from(DEFAULTS.sink_tuning.backoff_base.as_millis()).unwrap_or(1000))]
    sinks_backoff_ms: u64,
    /// Tenants that get a metrics label of their own; later ones share the
    /// label `_other` (bounds the series count).
    #[arg(long, env = "LICTOR_METRICS_MAX_TENANTS", default_value_t = DEFAULTS.metrics_max_tenants)]
    metrics_max_tenants: usize,
    /// Longest a replica trusts its revocation cache without a notification
    /// (PostgreSQL pushes revocations at once; SQLite replicas rely on this), in seconds.
    #[arg(long, env = "LICTOR_REVOCATION_CACHE_TTL_SECONDS", default_value_t = DEFAULTS.revocation_cache_ttl.as_secs())]
    revocation_cache_ttl_seconds: u64,
    /// Longest a replica trusts a cached API key or agent without a
    /// notification (PostgreSQL pushes changes at once; SQLite replicas
    /// rely on this), in seconds; 0 caches nothing.
    #[arg(long, env = "LICTOR_CACHE_TTL_SECONDS", default_value_t = DEFAULTS.cache_ttl.as_secs())]
    cache_ttl_seconds: u64,
    /// The audit log's name: checkpoints of tenant `t` have the origin
    /// `<ORIGIN>/tenants/<t>` and are signed by the key named `<ORIGIN>`.
    /// Give every deployment its own (e.g. its domain).
    #[arg(long, env = "LICTOR_AUDIT_ORIGIN", default_value_t = DEFAULTS.checkpoints.origin.clone())]
    audit_origin: String,
    /// Sign an audit checkpoint once this many entries have accumulated.
    #[arg(long, env = "LICTOR_CHECKPOINT_EVERY", default_value_t = DEFAULTS.checkpoints.every)]
    checkpoint_every: u64,
    /// Sign an audit checkpoint at the latest this long after the previous one, in seconds.
    #[arg(long, env = "LICTOR_CHECKPOINT_INTERVAL_SECONDS", default_value_t = DEFAULTS.checkpoints.interval.as_secs())]
    checkpoint_interval_seconds: u64,
}

/// Every default of `serve` (and of `keys rotate`'s store) is
/// `Config::default()`'s: stated once, there.
static DEFAULTS: std::sync::LazyLock<Config> = std::sync::LazyLock::new(Config::default);

/// A default duration in whole milliseconds, for an option counted in them.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Settings read only from the environment, listed under `serve --help`.
const SERVE_ENVIRONMENT: &str = "Environment (besides the variable beside each option):
  LICTOR_ADMIN_KEY  The superadmin key, chosen by you: at least 32 printable characters without
                    spaces. Kept out of the options so it never shows in the process list.
                    Without it, the first start generates one and shows it once; a lost generated
                    key is replaced with `lictor keys rotate --key admin`.
  LICTOR_KEYS       The signing keys' file contents, given inline (e.g. from a mounted secret);
                    wins over --keys-file. Read-only: rotate with a key file, then update it.
  DATABASE_URL      Same as --database-url.";

fn upstreams(args: &ServeArgs) -> anyhow::Result<Vec<ConfiguredUpstream>> {
    let mut credentials = std::collections::HashMap::new();
    for entry in &args.upstream_credentials {
        let (name, credential) =
            entry.split_once('=').ok_or_else(|| anyhow::anyhow!("`{entry}` is not NAME=HEADER:VALUE"))?;
        let (header, value) = credential
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("`{entry}` is not NAME=HEADER:VALUE"))?;
        credentials.insert(name.to_string(), (header.trim().to_string(), value.trim().to_string()));
    }
    let mut upstreams = Vec::new();
    for entry in &args.upstreams {
        let (name, url) =
            entry.split_once('=').ok_or_else(|| anyhow::anyhow!("`{entry}` is not NAME=URL"))?;
        let name = UpstreamName::parse(name).map_err(|e| anyhow::anyhow!("--upstream `{entry}`: {e}"))?;
        let credential = credentials.remove(name.as_str());
        upstreams.push(ConfiguredUpstream { name, url: url.to_string(), credential });
    }
    if let Some(name) = credentials.keys().next() {
        anyhow::bail!("--upstream-credential names `{name}`, which no --upstream defines");
    }
    Ok(upstreams)
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Run the Rego unit tests (`test_*` rules of `*_test.rego`) of a bundle directory,
    /// then its decision corpus (`corpus.yaml`) when it has one.
    Test {
        /// The bundle directory.
        dir: PathBuf,
    },
}

fn config(args: ServeArgs) -> anyhow::Result<Config> {
    let upstreams = upstreams(&args)?;
    let mut config = Config {
        upstreams,
        audience: args.audience,
        approval_ttl: Duration::from_secs(args.approval_ttl_seconds),
        max_open_approvals_per_agent: args.max_open_approvals_per_agent,
        step_up_window: Duration::from_secs(args.step_up_window_seconds),
        upstream_timeout: Duration::from_millis(args.upstream_timeout_ms),
        tools_ttl: Duration::from_secs(args.tools_ttl_seconds),
        tool_results: args.tool_results,
        metrics_token: args.metrics_token.filter(|t| !t.is_empty()),
        metrics_listen: args.metrics_listen,
        drain_delay: Duration::from_secs(args.drain_delay_seconds),
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout_seconds.max(1)),
        tls: args.tls_cert.zip(args.tls_key).map(|(cert, key)| lictor_server::tls::TlsSettings {
            cert,
            key,
            client_ca: args.tls_client_ca,
            reload_interval: Duration::from_secs(args.tls_reload_seconds.max(1)),
        }),
        ca_file: args.ca_file,
        metrics_max_tenants: args.metrics_max_tenants,
        revocation_cache_ttl: Duration::from_secs(args.revocation_cache_ttl_seconds),
        cache_ttl: Duration::from_secs(args.cache_ttl_seconds),
        checkpoints: CheckpointSettings {
            origin: args.audit_origin.clone(),
            every: args.checkpoint_every.max(1),
            interval: Duration::from_secs(args.checkpoint_interval_seconds.max(1)),
        },
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url.filter(|u| !u.is_empty()),
        keys_file: args.keys_file,
        keys: inline_keys(),
        admin_key: std::env::var("LICTOR_ADMIN_KEY").ok().filter(|k| !k.is_empty()),
        max_body_bytes: args.max_body_bytes,
        commit_max_batch: args.commit_max_batch,
        max_connections: args.max_connections,
        lock_timeout: Duration::from_millis(args.lock_timeout_ms),
        policy_time_limit: Duration::from_millis(args.policy_time_limit_ms),
        policy_poll_interval: Duration::from_secs(args.policy_poll_seconds.max(1)),
        policy_heap_limit: args.policy_heap_limit_mb.max(64).saturating_mul(1 << 20),
        log_level: args
            .log_level
            .or_else(|| std::env::var("RUST_LOG").ok())
            .filter(|l| !l.trim().is_empty())
            .unwrap_or_else(|| DEFAULTS.log_level.clone()),
        integrations: lictor_server::integrations::from_env(std::env::vars()).map_err(anyhow::Error::msg)?,
        public_url: public_url(args.public_url)?,
        oidc_providers: lictor_server::operators::oidc::from_env(std::env::vars())
            .map_err(anyhow::Error::msg)?,
        session_ttl: Duration::from_secs(args.session_hours.clamp(1, 24 * 30) * 3600),
        session_idle: Duration::from_secs(args.session_idle_minutes.clamp(1, 24 * 60) * 60),
        integrations_allow_private: args.integrations_allow_private_networks,
        sink_tuning: lictor_server::sinks::SinkTuning {
            lease: Duration::from_secs(args.sinks_lease_seconds.max(1)),
            poll: Duration::from_millis(args.sinks_poll_ms.max(10)),
            backoff_base: Duration::from_millis(args.sinks_backoff_ms.max(10)),
            ..DEFAULTS.sink_tuning
        },
        ..Config::default()
    };
    config.webhooks.max_attempts = args.webhook_max_attempts;
    config.webhooks.base_delay = Duration::from_millis(args.webhook_base_delay_ms);
    Ok(config)
}

/// `--public-url`, checked: an absolute `http`/`https` URL.
fn public_url(url: Option<String>) -> anyhow::Result<Option<String>> {
    match url.filter(|u| !u.is_empty()) {
        None => Ok(None),
        Some(url) => {
            lictor_server::sinks::settings::url(&url, "public_url")
                .map_err(|e| anyhow::anyhow!("LICTOR_PUBLIC_URL: {e}"))?;
            Ok(Some(url.trim_end_matches('/').to_string()))
        }
    }
}

/// Keeps the gateway's memory in 4 KiB pages. The allocator reserves large
/// arenas and asks for transparent huge pages on them, so every thread's
/// heap is backed by 2 MiB pages it mostly does not use: under load that
/// doubled the resident set (108 MiB, 57 MiB of it huge pages, against
/// 54 MiB without; docs/performance.md). A process-wide flag, set before
/// the runtime starts its threads.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("lictor: could not disable transparent huge pages: {error}");
    }
}

/// Printed on every start that neither generates nor is given the key.
const LOST_KEY_HINT: &str = "lictor: the superadmin key was generated and shown on the first start \
(only its hash is kept). Lost it? `lictor keys rotate --key admin` (with this --data-dir or \
--database-url) prints a new one, or restart with LICTOR_ADMIN_KEY set to a key of your choice.";

/// glibc's allocator settings `lictor serve` runs with, unless the
/// operator set any of them: two arenas instead of eight per core (each
/// SQLite connection has a thread of its own, and each thread its arena),
/// and a fixed threshold above which allocations are mapped on their own
/// and unmapped when freed, instead of one that rises with the largest
/// block freed so far. Without them, a verification or an export of a
/// large log (pages of entries built as one JSON text per connection) left
/// the process resident at ~145 MiB for good; with them it settles near
/// its working set (docs/performance.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_MALLOC: [(&str, &str); 3] =
    [("MALLOC_ARENA_MAX", "2"), ("MALLOC_MMAP_THRESHOLD_", "131072"), ("MALLOC_TRIM_THRESHOLD_", "131072")];

/// glibc reads its allocator settings from the environment once, before
/// `main`: `lictor serve` restarts itself (the same process, `exec`) with
/// them set. Anywhere else, or when the operator set any of them, it goes
/// on as it is.
fn with_bounded_glibc_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt as _;
        if GLIBC_MALLOC.iter().any(|(name, _)| std::env::var_os(name).is_some()) {
            return;
        }
        let Ok(exe) = std::env::current_exe() else { return };
        let error =
            std::process::Command::new(exe).args(std::env::args_os().skip(1)).envs(GLIBC_MALLOC).exec();
        eprintln!("lictor: could not restart with glibc's allocator bounded ({error}); going on without");
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    with_bounded_glibc_heap();
    without_huge_pages();
    let demo = args.demo;
    let log_format = args.log_format;
    let config = config(args)?;
    let telemetry = telemetry::init(log_format, &config.log_level)?;
    let result = serve_with(config, demo).await;
    telemetry.shutdown();
    result
}

async fn serve_with(mut config: Config, demo: bool) -> anyhow::Result<()> {
    // Kept until the gateway stops: dropping it deletes the demo's data.
    let demo_dir = if demo {
        if !config.listen.ip().is_loopback() {
            eprintln!(
                "lictor: warning: the demo listens on {}, beyond this machine; its keys and token are \
                 printed below and work for anyone who reaches it",
                config.listen
            );
        }
        let dir = tempfile::Builder::new().prefix("lictor-demo-").tempdir()?;
        config.data_dir = dir.path().to_path_buf();
        // The demo's keys are its own, beside its data.
        config.keys = None;
        config.keys_file = None;
        Some(dir)
    } else {
        None
    };
    let configured_admin_key = config.admin_key.clone();
    let (drain_delay, shutdown_timeout) = (config.drain_delay, config.shutdown_timeout);
    let log = lictor_server::gateway::logger(&config)?;
    let bank = match demo {
        true => Some(Bank::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            log.new(slog::o!("task" => "demo-bank")),
        )?),
        false => None,
    };
    let gateway = lictor_server::start(config, log).await?;
    match gateway.admin_key() {
        AdminKey::Generated(key) => {
            eprintln!();
            eprintln!("  Generated the superadmin key (shown once, stored only as a hash):");
            eprintln!();
            eprintln!("      {key}");
            eprintln!();
            eprintln!("  Keep it safe; set LICTOR_ADMIN_KEY to choose your own instead.");
            eprintln!();
        }
        AdminKey::Stored => eprintln!("{LOST_KEY_HINT}"),
        AdminKey::Configured => {}
    }
    let addr = gateway.local_addr();
    println!("lictor listening on {}://{addr}", gateway.scheme());
    if let (Some(bank), Some(dir)) = (&bank, &demo_dir) {
        let admin_key = match gateway.admin_key() {
            AdminKey::Generated(key) => key.clone(),
            AdminKey::Configured | AdminKey::Stored => configured_admin_key.unwrap_or_default(),
        };
        // Listening on every interface: loopback is the one address sure to work here.
        let reachable = match addr.ip().is_unspecified() {
            true => SocketAddr::from(([127, 0, 0, 1], addr.port())),
            false => addr,
        };
        let url = format!("http://{reachable}");
        match demo::provision(&url, &admin_key, bank.url()).await {
            Ok(demo) => print_demo(&demo, dir.path()),
            Err(error) => {
                let _ = gateway.stop().await;
                return Err(error.into());
            }
        }
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // SIGTERM (an orchestrator) drains first; Ctrl-C (someone at a
    // terminal) stops at once. Both let accepted requests finish.
    let stop = tokio::select! {
        result = gateway.wait_for_stop() => Err(result),
        _ = tokio::signal::ctrl_c() => Ok(Duration::ZERO),
        _ = terminate.recv() => Ok(drain_delay),
    };
    let result = match stop {
        Err(result) => result.map_err(anyhow::Error::msg),
        Ok(drain) => gateway.shutdown(drain, shutdown_timeout).await.map_err(anyhow::Error::msg),
    };
    if let Some(bank) = bank {
        let _ = bank.stop().await;
    }
    drop(demo_dir);
    result
}

/// `lictor healthcheck`: whether the local gateway answers `path` with 200
/// within 3 s (plain HTTP on loopback; with TLS, probe the orchestrator's
/// way or the metrics listener).
async fn healthcheck(listen: SocketAddr, path: &str) -> anyhow::Result<bool> {
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}{path}", SocketAddr::new(host, listen.port()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
    match client.get(&url).send().await {
        Ok(response) if response.status() == reqwest::StatusCode::OK => Ok(true),
        Ok(response) => {
            eprintln!("lictor: {url} answered {}", response.status());
            Ok(false)
        }
        Err(error) => {
            eprintln!("lictor: {url}: {error}");
            Ok(false)
        }
    }
}

/// The demo's credentials, as a block that can be pasted into a shell whole.
fn print_demo(demo: &demo::Demo, dir: &std::path::Path) {
    println!();
    println!(
        "# Lictor demo: tenant `{}`, agent `{}`, and the demo bank as upstream `{}`",
        demo::TENANT,
        demo::AGENT,
        demo::UPSTREAM
    );
    println!(
        "# (tools bank.echo, bank.get_balance, bank.transfer_funds at {}; nothing real happens).",
        demo.bank_url
    );
    println!("# The data lives in {} and is deleted when the gateway stops.", dir.display());
    println!("# Paste these lines into another shell, then run any SDK quickstart:");
    for line in demo.export_lines() {
        println!("{line}");
    }
    println!();
}

async fn demo_upstream(listen: SocketAddr) -> anyhow::Result<()> {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let bank = Bank::start(listen, log)?;
    println!("lictor demo bank listening on {}", bank.url());
    println!("register it: lictor serve --upstream bank={}  (or POST /v1/admin/upstreams)", bank.url());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = bank.wait_for_stop() => return result.map_err(anyhow::Error::msg),
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    bank.stop().await.map_err(anyhow::Error::msg)
}

fn policy_test(dir: PathBuf) -> anyhow::Result<bool> {
    let bundle = Bundle::load_dir(&dir)?;
    anyhow::ensure!(
        !bundle.modules().is_empty() || !bundle.tests().is_empty(),
        "`{}` has no `.rego` files: a bundle directory holds the policy's modules (`*.rego`), \
         their tests (`*_test.rego`) and optionally `data.json` and `corpus.yaml`, as `policies/default` does",
        dir.display()
    );
    // Read the corpus first: a malformed one is an error before anything runs.
    let corpus = corpus::load_corpus(&dir).with_context(|| dir.join(CORPUS_FILE).display().to_string())?;
    let results = rego_tests::run(&bundle)?;
    for r in &results {
        let mark = if r.passed { "PASS" } else { "FAIL" };
        match &r.error {
            Some(error) => println!("{mark} {} ({error})", r.name),
            None => println!("{mark} {}", r.name),
        }
    }
    let outcomes = match &corpus {
        Some(corpus) => {
            // The gateway's engine and limits, so a case decides as a request would.
            let engine = PolicyEngine::compile(bundle.clone(), EvaluationLimits::offline())?;
            corpus.run(&engine)
        }
        None => Vec::new(),
    };
    for outcome in &outcomes {
        let mark = if outcome.passed() { "PASS" } else { "FAIL" };
        println!("{mark} {CORPUS_FILE} {outcome}");
    }
    let total = results.len() + outcomes.len();
    let failed =
        results.iter().filter(|r| !r.passed).count() + outcomes.iter().filter(|o| !o.passed()).count();
    println!("{} passed, {failed} failed (bundle {} {})", total - failed, bundle.name(), bundle.hash());
    Ok(failed == 0 && total > 0)
}

fn list(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

fn attenuate(args: AttenuateArgs) -> anyhow::Result<bool> {
    let expires = match args.expires_in {
        Some(seconds) => vec![chrono::Utc::now().timestamp().saturating_add(i64::try_from(seconds)?)],
        None => Vec::new(),
    };
    let action_types = match list(&args.action_types) {
        Some(types) => Some(
            types
                .iter()
                .map(|t| ActionType::parse(t).ok_or_else(|| anyhow::anyhow!("unknown action type `{t}`")))
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let restrictions = Restrictions {
        expires,
        tools: list(&args.tools),
        deny_tools: list(&args.deny_tools),
        servers: list(&args.servers),
        action_types,
        max_calls: args.max_calls,
        max_usd: args.max_usd,
        rate_per_min: args.rate_per_min,
        step_up_at: None,
        audience: args.audience,
    };
    let caveats = restrictions
        .to_caveats()
        .map_err(|e| anyhow::anyhow!("--{}: {}", e.field.replace('_', "-"), e.message))?;
    anyhow::ensure!(!caveats.is_empty(), "name at least one restriction to add");
    let jti = args.jti.unwrap_or_else(|| lictor_server::ids::token_jti().to_string());
    println!("{}", token::attenuate(&args.token, &jti, &caveats)?);
    Ok(true)
}

fn inspect(text: &str) -> anyhow::Result<bool> {
    let token = CapabilityToken::parse(text)?;
    let report = serde_json::json!({
        "header": token.header(),
        "caveats": token.caveats(),
        "jti": token.jti(),
        "jti_chain": token.jti_chain(),
        "expires_at": token.expires_at(),
        "verified": false,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(true)
}

/// `LICTOR_KEYS`, when set.
fn inline_keys() -> Option<String> {
    std::env::var("LICTOR_KEYS").ok().filter(|k| !k.trim().is_empty())
}

async fn rotate(RotateArgs { key, store: args }: RotateArgs) -> anyhow::Result<bool> {
    let config = Config {
        data_dir: args.data_dir,
        database_url: args.database_url.filter(|u| !u.is_empty()),
        keys_file: args.keys_file,
        keys: inline_keys(),
        ..Config::default()
    };
    let store = lictor_server::store::Store::open(&lictor_server::store::StoreConfig {
        database_url: config.database_url.clone(),
        data_dir: config.data_dir.clone(),
        lock_timeout: config.lock_timeout,
        max_connections: 2,
    })
    .await?;
    let source = config.key_source();
    match key {
        KeyKind::Token => {
            let key = signing::rotate(&store, &source, signing::Purpose::Token).await?;
            println!("new capability-token key `{}` (generation {}) in {source}", key.kid, key.generation);
        }
        KeyKind::Checkpoint => {
            let key = signing::rotate(&store, &source, signing::Purpose::Checkpoint).await?;
            println!("new checkpoint key `{}` (generation {}) in {source}", key.kid, key.generation);
        }
        KeyKind::Admin => {
            let key = lictor_server::gateway::rotate_admin_key(&store).await?;
            eprintln!(
                "new superadmin key (shown once, stored only as a hash; the earlier one no longer works):"
            );
            println!("{key}");
            if std::env::var_os("LICTOR_ADMIN_KEY").is_some_and(|k| !k.is_empty()) {
                eprintln!(
                    "note: LICTOR_ADMIN_KEY is set here; gateways started with it accept only that key"
                );
            }
        }
    }
    Ok(true)
}

/// Files above this size get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 8 << 20;

fn verifier_keys(args: &[String]) -> anyhow::Result<Vec<NoteVerifier>> {
    let mut keys = Vec::new();
    for arg in args {
        let path = std::path::Path::new(arg);
        let parsed = if path.is_file() {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{arg}`"))?;
            export::parse_keys(&text).with_context(|| format!("keys file `{arg}`"))?
        } else {
            export::parse_keys(arg)
                .with_context(|| format!("`{arg}` is neither a keys file nor a verifier key"))?
        };
        keys.extend(parsed);
    }
    Ok(keys)
}

/// `error` and its causes, each said once (a cause whose text its
/// context already quotes is not repeated).
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Exit code 0 when the latest checkpoint extends the saved one, 1 when it
/// does not, 2 when the gateway, a key or the state cannot be read.
async fn monitor(args: MonitorArgs) -> ExitCode {
    use lictor_server::audit::monitor::{Monitor, MonitorError, Witnessed};
    let keys = match verifier_keys(&args.keys) {
        Ok(keys) => keys,
        Err(error) => {
            eprintln!("lictor: {}", describe(&error));
            return ExitCode::from(2);
        }
    };
    let roots = match lictor_server::tls::OutboundRoots::load(args.ca_file.as_deref()) {
        Ok(roots) => roots,
        Err(error) => {
            eprintln!("lictor: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = match Monitor::new(&args.url, &args.api_key, args.tenant, (keys, &roots)) {
        Ok(monitor) => monitor.run(&args.state).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(Witnessed::First { size }) => println!("ok: saved the first checkpoint seen, of {size} entries"),
        Ok(Witnessed::Unchanged { size }) => println!("ok: no new checkpoint (still {size} entries)"),
        Ok(Witnessed::Extended { from, to }) => {
            println!("ok: the checkpoint of {to} entries extends the one of {from} seen before; saved")
        }
        Err(error @ MonitorError::Inconsistent(_)) => {
            println!("{error}");
            return ExitCode::FAILURE;
        }
        Err(error @ MonitorError::Unavailable(_)) => {
            eprintln!("lictor: {error}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// The signed checkpoint in `path`, opened with `keys`.
fn trusted_checkpoint(
    path: &std::path::Path,
    keys: &[NoteVerifier],
) -> anyhow::Result<export::TrustedCheckpoint> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    export::TrustedCheckpoint::open(&text, keys)
        .map_err(|why| anyhow::anyhow!("the trusted checkpoint `{}` does not open: {why}", path.display()))
}

/// Exit code 0 when the export verifies, 1 when it does not, 2 when it or
/// a key cannot be read.
fn verify_export(args: VerifyExportArgs) -> ExitCode {
    let usage_error = |error: anyhow::Error| {
        eprintln!("lictor: {}", describe(&error));
        ExitCode::from(2)
    };
    let keys = match verifier_keys(&args.keys) {
        Ok(keys) => keys,
        Err(error) => return usage_error(error),
    };
    let trusted = match args.trusted.as_deref().map(|path| trusted_checkpoint(path, &keys)).transpose() {
        Ok(trusted) => trusted,
        Err(error) => return usage_error(error),
    };
    let name = args.file.display().to_string();
    let (input, size): (Box<dyn std::io::BufRead>, Option<u64>) = if name == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        match std::fs::File::open(&args.file) {
            Ok(file) => {
                let size = file.metadata().ok().map(|m| m.len());
                (Box::new(std::io::BufReader::with_capacity(1 << 20, file)), size)
            }
            Err(error) => {
                return usage_error(anyhow::Error::new(error).context(format!("cannot open `{name}`")));
            }
        }
    };
    let bar = size.filter(|&size| size > PROGRESS_MIN_BYTES && std::io::stderr().is_terminal()).map(|size| {
        let style = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::new(size).with_style(style)
    });
    let outcome = export::verify_export_trusting(input, &keys, trusted.as_ref(), |read| {
        if let Some(bar) = &bar {
            bar.set_position(read);
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match outcome {
        Ok(report) => {
            let time = report.checkpoint_time.as_deref().map(|t| format!(" at {t}")).unwrap_or_default();
            let extends = trusted
                .map(|t| format!("; extends the trusted checkpoint of {}", t.checkpoint().tree_size))
                .unwrap_or_default();
            println!(
                "ok: tenant `{}`: {} entries, complete and untampered; root {}; checkpoint `{}` signed by `{}`{time}; {} checkpoints checked{extends}",
                report.tenant,
                report.entries,
                report.root_hash,
                report.origin,
                report.key_name,
                report.checkpoints
            );
            ExitCode::SUCCESS
        }
        Err(failure) if failure.reason == ExportFailureReason::IoError => {
            usage_error(anyhow::anyhow!("`{name}` line {}: {}", failure.line, failure.message))
        }
        Err(failure) => {
            match failure.seq {
                Some(seq) => println!("FAILED at seq {seq}: {failure}"),
                None => println!("FAILED at line {}: {failure}", failure.line),
            }
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args).await.map(|()| true),
        Command::DemoUpstream { listen } => demo_upstream(listen).await.map(|()| true),
        Command::Healthcheck { listen, metrics_listen, tls_cert, path } => match (metrics_listen, tls_cert) {
            (Some(management), _) => healthcheck(management, &path).await,
            (None, None) => healthcheck(listen, &path).await,
            (None, Some(_)) => Err(anyhow::anyhow!(
                "the API speaks HTTPS: set LICTOR_METRICS_LISTEN and the health check asks that listener"
            )),
        },
        Command::Policy { command: PolicyCommand::Test { dir } } => policy_test(dir),
        Command::Token { command: TokenCommand::Attenuate(args) } => attenuate(*args),
        Command::Token { command: TokenCommand::Inspect { token } } => inspect(&token),
        Command::Keys { command: KeysCommand::Rotate(args) } => rotate(args).await,
        Command::Audit { command: AuditCommand::VerifyExport(args) } => return verify_export(args),
        Command::Audit { command: AuditCommand::Monitor(args) } => return monitor(args).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("lictor: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}
