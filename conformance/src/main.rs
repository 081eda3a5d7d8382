//! `lictor-conformance`: run the conformance suite against a deployment,
//! or against an embedded gateway when no URL is given.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lictor_conformance::{Selection, Status, Target, report, run};

#[derive(Parser)]
#[command(version, about = "Checks that a Lictor deployment honours the Lictor contract")]
struct Args {
    /// Base URL of the deployment; repeat for replicas of one deployment
    /// (requests are spread across them). None: an embedded gateway.
    #[arg(long = "base-url", env = "LICTOR_BASE_URL", value_delimiter = ',')]
    base_urls: Vec<String>,
    /// A superadmin key of the deployment.
    #[arg(long, env = "LICTOR_ADMIN_KEY")]
    admin_key: Option<String>,
    /// Run only these groups or case ids.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Skip these groups or case ids.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Also run cases that change more than the run's own tenant.
    #[arg(long)]
    disruptive: bool,
    /// Seed for the property cases (a failure prints the seed that shows it).
    #[arg(long)]
    seed: Option<u64>,
    /// Generated inputs per property case.
    #[arg(long, default_value_t = 24)]
    property_cases: u32,
    /// Where the suite's upstream MCP server listens; the deployment must
    /// reach it.
    #[arg(long, default_value = "127.0.0.1:0")]
    upstream_listen: std::net::SocketAddr,
    /// The URL the deployment is given for that upstream (default: the
    /// bound address, `http://<listen>/mcp`).
    #[arg(long)]
    upstream_url: Option<String>,
    /// Shell command that adds a generation of both signing keys (e.g.
    /// `lictor keys rotate --key token --database-url … && lictor keys
    /// rotate --key checkpoint --database-url …`), for `--disruptive`.
    #[arg(long)]
    hook_rotate_keys: Option<String>,
    /// Shell command that makes the deployment's store refuse writes, for
    /// `--disruptive`.
    #[arg(long)]
    hook_store_down: Option<String>,
    /// Shell command that gives the store back, for `--disruptive`.
    #[arg(long)]
    hook_store_up: Option<String>,
    /// Shell command that runs the SQL on its standard input against the
    /// deployment's store (e.g. `psql "$DATABASE_URL" -v ON_ERROR_STOP=1
    /// -q`), for `--disruptive`: the audit tampering cases.
    #[arg(long)]
    hook_sql: Option<String>,
    /// List every case (id, title, the operations it covers) and exit.
    #[arg(long)]
    list: bool,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
}

async fn main_inner(args: Args) -> anyhow::Result<bool> {
    if args.list {
        for case in lictor_conformance::cases::all() {
            let disruptive = if case.disruptive { " (disruptive)" } else { "" };
            println!("{}{disruptive} — {}", case.id, case.title);
            if !case.operations.is_empty() {
                println!("    covers: {}", case.operations.join(", "));
            }
        }
        return Ok(true);
    }
    let embedded;
    let target = if args.base_urls.is_empty() {
        embedded = lictor_conformance_embedded::start().await?;
        eprintln!("no --base-url: testing an embedded gateway at {}", embedded.url);
        embedded.target()
    } else {
        let admin_key = args.admin_key.clone().ok_or_else(|| {
            anyhow::anyhow!("--admin-key (or LICTOR_ADMIN_KEY) is required with --base-url")
        })?;
        let mut target = Target::new(
            args.base_urls.iter().map(|u| u.trim_end_matches('/').to_string()).collect(),
            admin_key,
        );
        let hooks = lictor_conformance::disrupt::Commands {
            rotate_keys: args.hook_rotate_keys.clone(),
            store_down: args.hook_store_down.clone(),
            store_up: args.hook_store_up.clone(),
            sql: args.hook_sql.clone(),
        };
        target.disruptor = Some(std::sync::Arc::new(hooks));
        target
    };
    let target = Target { upstream_listen: args.upstream_listen, upstream_url: args.upstream_url, ..target };
    let selection = Selection {
        only: args.only,
        skip: args.skip,
        disruptive: args.disruptive,
        seed: args.seed,
        property_cases: args.property_cases,
    };
    let results = run(target, &selection, |result| eprintln!("{}", report::progress_line(result)))
        .await
        .map_err(|failure| {
            anyhow::anyhow!(
                "{}{}",
                failure.message,
                failure.curl.map(|c| format!("\n  reproduce: {c}")).unwrap_or_default()
            )
        })?;
    print!("{}", report::summary(&results));
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&results)?)?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&results))?;
    }
    Ok(results.iter().all(|r| r.status != Status::Failed))
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_inner(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("lictor-conformance: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The embedded gateway (SQLite in a temporary directory).
mod lictor_conformance_embedded {
    pub use lictor_conformance::embedded::start;
}
