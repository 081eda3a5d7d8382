//! `tollgate`: the gateway binary.
//!
//! - `tollgate serve` runs the gateway (SQLite in `./tollgate-data` unless
//!   `--database-url` names PostgreSQL).
//! - `tollgate policy test DIR` runs a policy bundle's Rego unit tests.
//! - `tollgate token attenuate TOKEN …` narrows a capability token offline;
//!   `tollgate token inspect TOKEN` shows what a token carries.
//! - `tollgate keys rotate` adds a new capability-token signing key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tollgate_api::intents::ActionType;
use tollgate_api::tokens::UpstreamName;
use tollgate_server::Config;
use tollgate_server::catalog::ConfiguredUpstream;
use tollgate_server::policy::{Bundle, rego_tests};
use tollgate_server::token::{self, CapabilityToken, Caveat};

#[derive(Parser)]
#[command(name = "tollgate", version, about = "Governance gateway for AI agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(Box<ServeArgs>),
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
    /// Add a new capability-token signing key; tokens of earlier keys keep
    /// verifying until they expire.
    Rotate(StoreArgs),
}

#[derive(clap::Args)]
struct StoreArgs {
    /// Directory of the embedded SQLite database.
    #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = "tollgate-data")]
    data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory of the embedded SQLite database and its files.
    #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = "tollgate-data")]
    data_dir: PathBuf,
    /// `postgres://user:pass@host/db` to use PostgreSQL instead of SQLite.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "TOLLGATE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Most decisions written in one transaction.
    #[arg(long, env = "TOLLGATE_COMMIT_MAX_BATCH", default_value_t = 512)]
    commit_max_batch: usize,
    /// Pooled database connections.
    #[arg(long, env = "TOLLGATE_MAX_CONNECTIONS", default_value_t = 16)]
    max_connections: u32,
    /// How long a writer waits for a database lock before answering 503, in milliseconds.
    #[arg(long, env = "TOLLGATE_LOCK_TIMEOUT_MS", default_value_t = 5000)]
    lock_timeout_ms: u64,
    /// Time limit of one policy evaluation, in milliseconds.
    #[arg(long, env = "TOLLGATE_POLICY_TIME_LIMIT_MS", default_value_t = 100)]
    policy_time_limit_ms: u64,
    /// Webhook delivery attempts before giving up.
    #[arg(long, env = "TOLLGATE_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8)]
    webhook_max_attempts: u32,
    /// Delay before the second webhook attempt, in milliseconds (doubles each time).
    #[arg(long, env = "TOLLGATE_WEBHOOK_BASE_DELAY_MS", default_value_t = 1000)]
    webhook_base_delay_ms: u64,
    /// Log level: trace, debug, info, warn, error, critical.
    #[arg(long, env = "TOLLGATE_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// An upstream MCP server every tenant reaches: `NAME=URL` (repeatable).
    #[arg(long = "upstream", value_name = "NAME=URL")]
    upstreams: Vec<String>,
    /// A credential for a configured upstream: `NAME=HEADER:VALUE`
    /// (repeatable; also `TOLLGATE_UPSTREAM_CREDENTIALS`, `;`-separated).
    #[arg(
        long = "upstream-credential",
        value_name = "NAME=HEADER:VALUE",
        env = "TOLLGATE_UPSTREAM_CREDENTIALS",
        value_delimiter = ';'
    )]
    upstream_credentials: Vec<String>,
    /// This gateway's audience (tokens with an `audience` caveat must name it).
    #[arg(long, env = "TOLLGATE_AUDIENCE", default_value = "tollgate")]
    audience: String,
    /// How long an approval request stays open, and usable once approved, in seconds.
    #[arg(long, env = "TOLLGATE_APPROVAL_TTL_SECONDS", default_value_t = 900)]
    approval_ttl_seconds: u64,
    /// Most open approval requests per agent.
    #[arg(long, env = "TOLLGATE_MAX_OPEN_APPROVALS", default_value_t = 100)]
    max_open_approvals_per_agent: u64,
    /// How long after a token's `step_up` time high-risk actions stay allowed, in seconds.
    #[arg(long, env = "TOLLGATE_STEP_UP_WINDOW_SECONDS", default_value_t = 900)]
    step_up_window_seconds: u64,
    /// Time limit of one request to an upstream MCP server, in milliseconds.
    #[arg(long, env = "TOLLGATE_UPSTREAM_TIMEOUT_MS", default_value_t = 30_000)]
    upstream_timeout_ms: u64,
    /// How long an upstream's tool list is cached, in seconds.
    #[arg(long, env = "TOLLGATE_TOOLS_TTL_SECONDS", default_value_t = 30)]
    tools_ttl_seconds: u64,
    /// Longest a replica trusts its revocation cache without a notification
    /// (PostgreSQL pushes revocations at once; SQLite replicas rely on this), in seconds.
    #[arg(long, env = "TOLLGATE_REVOCATION_CACHE_TTL_SECONDS", default_value_t = 60)]
    revocation_cache_ttl_seconds: u64,
}

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
    /// Run the Rego unit tests (`test_*` rules of `*_test.rego`) of a bundle directory.
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
        revocation_cache_ttl: Duration::from_secs(args.revocation_cache_ttl_seconds),
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url.filter(|u| !u.is_empty()),
        admin_key: std::env::var("TOLLGATE_ADMIN_KEY").ok().filter(|k| !k.is_empty()),
        max_body_bytes: args.max_body_bytes,
        commit_max_batch: args.commit_max_batch,
        max_connections: args.max_connections,
        lock_timeout: Duration::from_millis(args.lock_timeout_ms),
        policy_time_limit: Duration::from_millis(args.policy_time_limit_ms),
        log_level: args.log_level,
        ..Config::default()
    };
    config.webhooks.max_attempts = args.webhook_max_attempts;
    config.webhooks.base_delay = Duration::from_millis(args.webhook_base_delay_ms);
    Ok(config)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = config(args)?;
    let log = tollgate_server::app::logger(&config)?;
    let gateway = tollgate_server::start(config, log).await?;
    if let Some(key) = gateway.generated_admin_key() {
        eprintln!();
        eprintln!("  Generated the superadmin key (shown once, stored only as a hash):");
        eprintln!();
        eprintln!("      {key}");
        eprintln!();
        eprintln!("  Keep it safe; set TOLLGATE_ADMIN_KEY to choose your own instead.");
        eprintln!();
    }
    let addr = gateway.local_addr();
    println!("tollgate listening on http://{addr}");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stopped_by_itself = tokio::select! {
        result = gateway.wait_for_stop() => Some(result),
        _ = tokio::signal::ctrl_c() => None,
        _ = terminate.recv() => None,
    };
    match stopped_by_itself {
        Some(result) => result.map_err(anyhow::Error::msg),
        // Stop accepting, let requests in flight finish, then stop the workers.
        None => gateway.stop().await.map_err(anyhow::Error::msg),
    }
}

fn policy_test(dir: PathBuf) -> anyhow::Result<bool> {
    let bundle = Bundle::load_dir(&dir)?;
    let results = rego_tests::run(&bundle)?;
    let failed = results.iter().filter(|r| !r.passed).count();
    for r in &results {
        let mark = if r.passed { "PASS" } else { "FAIL" };
        match &r.error {
            Some(error) => println!("{mark} {} ({error})", r.name),
            None => println!("{mark} {}", r.name),
        }
    }
    println!(
        "{} passed, {failed} failed (bundle {} {})",
        results.len() - failed,
        bundle.name(),
        bundle.hash()
    );
    Ok(failed == 0 && !results.is_empty())
}

fn list(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

fn attenuate(args: AttenuateArgs) -> anyhow::Result<bool> {
    let mut caveats = Vec::new();
    if let Some(seconds) = args.expires_in {
        let now = chrono::Utc::now().timestamp();
        caveats.push(Caveat::Expires { at: now + i64::try_from(seconds)? });
    }
    match (list(&args.tools), list(&args.deny_tools)) {
        (Some(allow), deny) => caveats.push(Caveat::Tools { allow, deny: deny.unwrap_or_default() }),
        (None, Some(deny)) => caveats.push(Caveat::Tools { allow: vec!["*".into()], deny }),
        (None, None) => {}
    }
    if let Some(allow) = list(&args.servers) {
        caveats.push(Caveat::Servers { allow });
    }
    if !args.action_types.is_empty() {
        let allow = args
            .action_types
            .iter()
            .map(|t| ActionType::parse(t).ok_or_else(|| anyhow::anyhow!("unknown action type `{t}`")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        caveats.push(Caveat::ActionTypes { allow });
    }
    if let Some(n) = args.max_calls {
        caveats.push(Caveat::MaxCalls { n });
    }
    if let Some(usd) = args.max_usd {
        anyhow::ensure!(usd.is_finite() && usd >= 0.0, "--max-usd must be a non-negative amount");
        caveats.push(Caveat::MaxUsd { cents: (usd * 100.0).round() as u64 });
    }
    if let Some(n) = args.rate_per_min {
        caveats.push(Caveat::RatePerMin { n });
    }
    if let Some(aud) = args.audience {
        caveats.push(Caveat::Audience { aud });
    }
    anyhow::ensure!(!caveats.is_empty(), "name at least one restriction to add");
    let jti = args.jti.unwrap_or_else(|| tollgate_server::ids::token_jti().to_string());
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

async fn rotate(args: StoreArgs) -> anyhow::Result<bool> {
    let config = Config {
        data_dir: args.data_dir,
        database_url: args.database_url.filter(|u| !u.is_empty()),
        ..Config::default()
    };
    let store = tollgate_server::store::Store::open(&tollgate_server::store::StoreConfig {
        database_url: config.database_url.clone(),
        data_dir: config.data_dir.clone(),
        lock_timeout: config.lock_timeout,
        max_connections: 2,
    })
    .await?;
    tollgate_server::signing::ensure(&store).await?;
    let key = tollgate_server::signing::rotate_token_key(&store).await?;
    println!("new capability-token key `{}` (generation {})", key.kid, key.generation);
    Ok(true)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args).await.map(|()| true),
        Command::Policy { command: PolicyCommand::Test { dir } } => policy_test(dir),
        Command::Token { command: TokenCommand::Attenuate(args) } => attenuate(*args),
        Command::Token { command: TokenCommand::Inspect { token } } => inspect(&token),
        Command::Keys { command: KeysCommand::Rotate(args) } => rotate(args).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("tollgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}
