//! `tollgate-conformance`: the black-box suite that checks a Tollgate
//! deployment honours the contract.
//!
//! It talks to a deployment only through the generated Rust client
//! (`tollgate-client`), as an integrator would. It provisions a tenant of
//! its own with unique names, never touches other tenants, and reports
//! every case by a stable id (`<group>.<name>`), with a one-line `curl`
//! command that reproduces each failure.

pub mod cases;
pub mod report;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tollgate_client::{Gateway, types};

/// The groups cases belong to (`--only` / `--skip` take groups or ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Liveness, readiness, the error shape.
    Core,
    /// Declaring intents and reading decisions.
    Intents,
    /// Capability tokens.
    Tokens,
    /// The audit log.
    Audit,
    /// Credentials on every operation.
    Auth,
    /// The policy lifecycle.
    Policies,
}

impl Group {
    /// The group's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Group::Core => "core",
            Group::Intents => "intents",
            Group::Tokens => "tokens",
            Group::Audit => "audit",
            Group::Auth => "auth",
            Group::Policies => "policies",
        }
    }
}

/// Why a case failed, and how to see it with `curl`.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// What was expected and what came.
    pub message: String,
    /// A command that reproduces the request that showed it.
    pub curl: Option<String>,
}

/// A case's result.
pub type Outcome = Result<(), Failure>;

/// The future a case runs.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One conformance case.
pub struct Case {
    /// Stable id: `<group>.<name>`.
    pub id: &'static str,
    /// Its group.
    pub group: Group,
    /// What it checks, in one line.
    pub title: &'static str,
    /// Whether it changes the deployment beyond its own tenant (runs only
    /// with `--disruptive`).
    pub disruptive: bool,
    /// The check.
    pub run: for<'a> fn(&'a Context) -> CaseFuture<'a>,
}

/// Fails with `message` unless `condition`.
pub fn check(condition: bool, message: impl FnOnce() -> String, curl: Option<String>) -> Outcome {
    if condition { Ok(()) } else { Err(Failure { message: message(), curl }) }
}

/// A client error as a failure.
pub fn failed(what: &str, error: impl std::fmt::Display, curl: Option<String>) -> Failure {
    Failure { message: format!("{what}: {error}"), curl }
}

/// The deployment under test.
#[derive(Clone, Debug)]
pub struct Target {
    /// Base URLs: several are replicas of one deployment.
    pub base_urls: Vec<String>,
    /// A superadmin key.
    pub admin_key: String,
}

/// What cases share: the deployment and a tenant provisioned for the run.
pub struct Context {
    target: Target,
    next: AtomicUsize,
    /// The run's tenant.
    pub tenant: String,
    /// Its admin key.
    pub admin_key: String,
    /// Agent keys per environment.
    pub live_key: String,
    /// A `shadow` agent key.
    pub shadow_key: String,
    /// A `test` agent key.
    pub test_key: String,
    /// The registered agent.
    pub agent: String,
}

impl Context {
    /// Provisions a tenant with unique names through the superadmin key.
    pub async fn provision(target: Target) -> Result<Context, Failure> {
        let root = Gateway::new(&target.base_urls[0]).api_key(&target.admin_key);
        let tenant = format!("conformance-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let body = types::TenantCreate {
            id: tenant.as_str().try_into().map_err(|e| failed("tenant id", e, None))?,
            name: "Tollgate conformance run".try_into().map_err(|e| failed("tenant name", e, None))?,
        };
        let curl = curl("POST", &target.base_urls[0], "/v1/admin/tenants", &target.admin_key, Some(&body));
        root.retrying(|| root.api().tenant_create().body(body.clone()).send())
            .await
            .map_err(|e| failed("creating the run's tenant", e, Some(curl)))?;
        let mut keys = Vec::new();
        for (environment, role) in [
            (types::Environment::Live, types::Role::Admin),
            (types::Environment::Live, types::Role::Agent),
            (types::Environment::Shadow, types::Role::Agent),
            (types::Environment::Test, types::Role::Agent),
        ] {
            let body = types::ApiKeyCreate {
                tenant: body.id.clone(),
                environment,
                role,
                name: "conformance".try_into().map_err(|e| failed("key name", e, None))?,
                agent_id: None,
            };
            let created = root
                .retrying(|| root.api().api_key_create().body(body.clone()).send())
                .await
                .map_err(|e| failed("creating an api key", e, None))?;
            keys.push(created.key.clone());
        }
        let [admin_key, live_key, shadow_key, test_key] =
            <[String; 4]>::try_from(keys).map_err(|_| failed("api keys", "four expected", None))?;
        let agent = "conformance-agent".to_string();
        let admin = Gateway::new(&target.base_urls[0]).api_key(&admin_key);
        let body = types::AgentCreate {
            id: agent.as_str().try_into().map_err(|e| failed("agent id", e, None))?,
            name: "Conformance agent".try_into().map_err(|e| failed("agent name", e, None))?,
            owner: "conformance".try_into().map_err(|e| failed("agent owner", e, None))?,
            description: None,
            budget: None,
        };
        admin
            .retrying(|| admin.api().agent_create().body(body.clone()).send())
            .await
            .map_err(|e| failed("registering the agent", e, None))?;
        Ok(Context {
            target,
            next: AtomicUsize::new(0),
            tenant,
            admin_key,
            live_key,
            shadow_key,
            test_key,
            agent,
        })
    }

    /// The next replica's base URL (requests spread across replicas).
    pub fn url(&self) -> &str {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.target.base_urls.len();
        &self.target.base_urls[i]
    }

    /// Every replica's base URL.
    pub fn urls(&self) -> &[String] {
        &self.target.base_urls
    }

    /// A client on the next replica with `key`.
    pub fn client(&self, key: &str) -> (Gateway, String) {
        let url = self.url().to_string();
        (Gateway::new(&url).api_key(key), url)
    }

    /// The superadmin key.
    pub fn superadmin_key(&self) -> &str {
        &self.target.admin_key
    }
}

/// A `curl` command for a request. Reports replace the superadmin key with
/// `$TOLLGATE_ADMIN_KEY` (see [`run`]); the run's own tenant keys are shown.
pub fn curl(method: &str, base: &str, path: &str, key: &str, body: Option<&impl Serialize>) -> String {
    let mut command = format!("curl -sS -X {method} '{base}{path}' -H 'Authorization: Bearer {key}'");
    if let Some(body) = body {
        let json = serde_json::to_string(body).unwrap_or_default().replace('\'', "'\\''");
        command.push_str(&format!(" -H 'Content-Type: application/json' -d '{json}'"));
    }
    command
}

/// How one case went.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// The case id.
    pub id: &'static str,
    /// Its group.
    pub group: Group,
    /// What it checks.
    pub title: &'static str,
    /// `passed`, `failed` or `skipped`.
    pub status: Status,
    /// The failure.
    pub failure: Option<Failure>,
    /// How long it took.
    pub duration_ms: u64,
}

/// A case's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It passed.
    Passed,
    /// It failed.
    Failed,
    /// It did not run (filtered, or disruptive without `--disruptive`).
    Skipped,
}

/// Which cases run.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only these groups or ids (empty: all).
    pub only: Vec<String>,
    /// Not these groups or ids.
    pub skip: Vec<String>,
    /// Run disruptive cases too.
    pub disruptive: bool,
}

impl Selection {
    fn matches(list: &[String], case: &Case) -> bool {
        list.iter().any(|item| item == case.id || item == case.group.as_str())
    }

    /// Whether `case` runs.
    pub fn selects(&self, case: &Case) -> bool {
        (self.only.is_empty() || Selection::matches(&self.only, case))
            && !Selection::matches(&self.skip, case)
            && (self.disruptive || !case.disruptive)
    }
}

/// Runs the selected cases in order against `target`; `progress` hears each
/// result as it comes.
pub async fn run(
    target: Target,
    selection: &Selection,
    mut progress: impl FnMut(&CaseResult),
) -> Result<Vec<CaseResult>, Failure> {
    let secret = target.admin_key.clone();
    let mask = move |mut failure: Failure| {
        failure.message = failure.message.replace(&secret, "$TOLLGATE_ADMIN_KEY");
        failure.curl = failure.curl.map(|c| c.replace(&secret, "$TOLLGATE_ADMIN_KEY"));
        failure
    };
    let context = Context::provision(target).await.map_err(&mask)?;
    let mut results = Vec::new();
    for case in cases::all() {
        let started = Instant::now();
        let (status, failure) = if !selection.selects(&case) {
            (Status::Skipped, None)
        } else {
            match tokio::time::timeout(Duration::from_secs(60), (case.run)(&context)).await {
                Ok(Ok(())) => (Status::Passed, None),
                Ok(Err(failure)) => (Status::Failed, Some(failure)),
                Err(_) => {
                    (Status::Failed, Some(Failure { message: "timed out after 60 s".into(), curl: None }))
                }
            }
        };
        let result = CaseResult {
            id: case.id,
            group: case.group,
            title: case.title,
            status,
            failure: failure.map(&mask),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        progress(&result);
        results.push(result);
    }
    Ok(results)
}

pub mod embedded {
    //! A gateway in this process, for runs without `--base-url` and for
    //! the suite's own tests: SQLite in a temporary directory.

    /// A running embedded gateway.
    pub struct Embedded {
        /// Its base URL.
        pub url: String,
        /// Its superadmin key.
        pub admin_key: String,
        _gateway: tollgate_server::Gateway,
        _dir: tempfile::TempDir,
    }

    /// Starts one on an ephemeral loopback port.
    pub async fn start() -> anyhow::Result<Embedded> {
        let dir = tempfile::tempdir()?;
        let admin_key = format!("tg_admin_conformance_{}", uuid::Uuid::new_v4().simple());
        let mut config = tollgate_server::Config {
            listen: "127.0.0.1:0".parse()?,
            admin_key: Some(admin_key.clone()),
            log_level: "critical".into(),
            ..tollgate_server::Config::default()
        };
        config.data_dir = dir.path().join("data");
        // Checkpoints often, so inclusion proofs are there within a run.
        config.checkpoints.interval = std::time::Duration::from_secs(1);
        let log = tollgate_server::app::logger(&config)?;
        let gateway = tollgate_server::start(config, log).await?;
        Ok(Embedded {
            url: format!("http://{}", gateway.local_addr()),
            admin_key,
            _gateway: gateway,
            _dir: dir,
        })
    }
}
