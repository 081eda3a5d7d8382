//! `lictor-load`: the benchmark's load generator, its upstream MCP server
//! and its provisioning, as one binary `cargo xtask bench` drives. Every
//! subcommand prints JSON on stdout.

mod load;
mod provision;
mod upstream;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(version, about = "Load generator, upstream and provisioning for `cargo xtask bench`")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// `POST /v1/intents`, a realistic mix of intents.
    Intents,
    /// MCP `tools/call` on `/v1/mcp`, forwarded to the bench upstream.
    Mcp,
    /// OPA's data API (`POST /v1/data/lictor/decision`) serving the default
    /// bundle, with the policy inputs of the intents mix: the side-by-side
    /// row (no authentication, no audit, no store).
    Opa,
}

#[derive(Subcommand)]
enum Command {
    /// Drives a gateway and prints what it measured.
    Load {
        /// The gateway's base URL (`http://host:port`).
        #[arg(long)]
        url: String,
        /// An agent key restricted to `--agent`.
        #[arg(long)]
        key: String,
        /// The agent.
        #[arg(long)]
        agent: String,
        /// What to send.
        #[arg(long, value_enum)]
        scenario: Scenario,
        /// Keep-alive connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Unmeasured seconds first.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Requests per second (open loop); none: closed loop.
        #[arg(long)]
        rate: Option<u64>,
        /// Open loop: seconds behind the rate after which requests are not
        /// sent but counted as errors.
        #[arg(long, default_value_t = 2.0)]
        backlog_limit: f64,
    },
    /// Serves the bench upstream MCP server; prints its URL.
    Upstream {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Verifies a tenant's whole audit log, then exports it whole (read and
    /// discarded); prints how long each took and what it covered.
    AuditRead {
        /// The gateway's base URL.
        #[arg(long)]
        url: String,
        /// Its superadmin key.
        #[arg(long, env = "LICTOR_ADMIN_KEY")]
        admin_key: String,
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Provisions a gateway for the benchmark; prints the keys.
    Provision {
        /// The gateway's base URL.
        #[arg(long)]
        url: String,
        /// Its superadmin key.
        #[arg(long, env = "LICTOR_ADMIN_KEY")]
        admin_key: String,
        /// The bench upstream's URL.
        #[arg(long)]
        upstream: String,
        /// The `policies/` directory (default bundle and templates).
        #[arg(long)]
        policies: PathBuf,
    },
}

fn address(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url.strip_prefix("http://").with_context(|| format!("{url}: only http:// is benchmarked"))?;
    let host = rest.split('/').next().unwrap_or_default();
    host.to_socket_addrs()?.next().with_context(|| format!("{url}: no address"))
}

async fn main_inner(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Load { url, key, agent, scenario, connections, duration, warmup, rate, backlog_limit } => {
            let (path, bodies, mcp_session) = match scenario {
                Scenario::Intents => ("/v1/intents", provision::intent_bodies(&agent), false),
                Scenario::Mcp => ("/v1/mcp", provision::tool_call_bodies(), true),
                Scenario::Opa => ("/v1/data/lictor/decision", provision::policy_input_bodies(&agent), false),
            };
            let expect_result = !matches!(scenario, Scenario::Intents);
            let plan = load::Plan {
                addr: address(&url)?,
                path: path.into(),
                key,
                bodies: bodies.iter().map(|b| Bytes::from(b.to_string())).collect(),
                mcp_session,
                expect_result,
            };
            let shape = load::Shape {
                connections,
                duration: Duration::from_secs_f64(duration),
                warmup: Duration::from_secs_f64(warmup),
                rate,
                backlog_limit: Duration::from_secs_f64(backlog_limit),
            };
            let outcome = load::run(plan, shape).await?;
            println!("{}", serde_json::to_string(&outcome)?);
        }
        Command::Upstream { listen } => upstream::serve(listen).await?,
        Command::AuditRead { url, admin_key, tenant } => {
            let read = provision::audit_read(url.trim_end_matches('/'), &admin_key, &tenant).await?;
            println!("{}", serde_json::to_string(&read)?);
        }
        Command::Provision { url, admin_key, upstream, policies } => {
            let provisioned =
                provision::provision(url.trim_end_matches('/'), &admin_key, &upstream, &policies).await?;
            println!("{}", serde_json::to_string(&provisioned)?);
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    // One worker thread per core is left to the gateway's own runtime on a
    // shared box; the generator needs little.
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lictor-load: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(main_inner(Args::parse())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lictor-load: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
