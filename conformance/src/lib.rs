//! `lictor-conformance`: the black-box suite that checks a Lictor
//! deployment honours the contract.
//!
//! It talks to a deployment only through the generated Rust client
//! (`lictor-client`), as an integrator would. It provisions a tenant of
//! its own with unique names, never touches other tenants, and reports
//! every case by a stable id (`<group>.<name>`), with a one-line `curl`
//! command that reproduces each failure.

pub mod cases;
pub mod contract;
pub mod disrupt;
pub mod report;
pub mod upstream;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lictor_client::{Gateway, types};
use serde::Serialize;

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
    /// The MCP endpoint and tool calls forwarded upstream.
    Mcp,
    /// The audit log.
    Audit,
    /// The policy lifecycle.
    Policies,
    /// The approvals queue.
    Approvals,
    /// Credentials on every operation.
    Auth,
    /// Audit sinks and notification channels.
    Integrations,
    /// People: whoami, operator access, SCIM.
    Operators,
    /// Discovery: vendor records in, discovered agents out.
    Discovery,
    /// Governance reports.
    Reports,
}

impl Group {
    /// The group's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Group::Core => "core",
            Group::Intents => "intents",
            Group::Tokens => "tokens",
            Group::Mcp => "mcp",
            Group::Audit => "audit",
            Group::Policies => "policies",
            Group::Approvals => "approvals",
            Group::Auth => "auth",
            Group::Integrations => "integrations",
            Group::Operators => "operators",
            Group::Discovery => "discovery",
            Group::Reports => "reports",
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
    /// The spec operations (`operationId`) it exercises and checks; the
    /// coverage test compares their union with the spec.
    pub operations: &'static [&'static str],
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

/// A typed request body from JSON (the generated types validate it).
pub fn typed<T: serde::de::DeserializeOwned>(what: &str, value: serde_json::Value) -> Result<T, Failure> {
    serde_json::from_value(value).map_err(|e| failed(what, e, None))
}

/// The status and error code of a failed call (`None` when it succeeded
/// or did not reach the gateway).
pub fn refusal<T>(result: &Result<T, lictor_client::Error>) -> Option<(u16, lictor_client::ErrorCode)> {
    result.as_ref().err().and_then(|error| error.api()).map(|api| (api.status, api.error_code.clone()))
}

/// Fails unless `result` was refused with `status` and `code`.
pub fn expect_refusal<T>(
    what: &str,
    result: &Result<T, lictor_client::Error>,
    status: u16,
    code: lictor_client::ErrorCode,
    curl: Option<String>,
) -> Outcome {
    let got = refusal(result);
    check(
        got.as_ref().is_some_and(|(s, c)| *s == status && *c == code),
        || match (&got, result) {
            (_, Ok(_)) => format!("{what}: want {status} {}, but it succeeded", code.as_str()),
            (Some((s, c)), _) => format!("{what}: want {status} {}, got {s} {}", code.as_str(), c.as_str()),
            (None, Err(e)) => format!("{what}: want {status} {}, got {e}", code.as_str()),
        },
        curl,
    )
}

/// The deployment under test.
#[derive(Clone)]
pub struct Target {
    /// Base URLs: several are replicas of one deployment.
    pub base_urls: Vec<String>,
    /// A superadmin key.
    pub admin_key: String,
    /// Where the suite's upstream MCP server listens (`127.0.0.1:0` picks a
    /// free loopback port).
    pub upstream_listen: std::net::SocketAddr,
    /// The URL the deployment is given for it, when it cannot use the bound
    /// address (containers, another host).
    pub upstream_url: Option<String>,
    /// The operator's hand for `--disruptive` cases (key rotation, store
    /// faults); `None`: those cases fail saying which hook they need.
    pub disruptor: Option<std::sync::Arc<dyn disrupt::Disruptor>>,
}

impl Target {
    /// A deployment at `base_urls` with superadmin key `admin_key`; the
    /// upstream listens on a free loopback port.
    pub fn new(base_urls: Vec<String>, admin_key: impl Into<String>) -> Target {
        Target {
            base_urls,
            admin_key: admin_key.into(),
            upstream_listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream_url: None,
            disruptor: None,
        }
    }
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
    /// A `live` agent key of the run's tenant, revoked during provisioning.
    pub revoked_key: String,
    /// A `live` agent key restricted to [`Context::agent`] (what `/v1/mcp`
    /// needs).
    pub agent_key: String,
    /// A second tenant provisioned for the run (isolation checks).
    pub other_tenant: String,
    /// Its admin key.
    pub other_admin_key: String,
    /// The suite's upstream MCP server, registered in the run's tenant as
    /// [`UPSTREAM`].
    pub upstream: upstream::Upstream,
    /// The property cases' seed (printed in every property failure).
    pub seed: u64,
    /// How many generated inputs each property case tries.
    pub property_cases: u32,
    /// Ids of keys the run created, revoked when it ends.
    created_keys: std::sync::Mutex<Vec<String>>,
}

/// The name the suite's upstream is registered under.
pub const UPSTREAM: &str = "conformance";

impl Context {
    /// Provisions the run's tenant (and a second one) with unique names
    /// through the superadmin key, and registers the suite's upstream.
    pub async fn provision(target: Target, selection: &Selection) -> Result<Context, Failure> {
        let upstream = upstream::Upstream::start(target.upstream_listen, target.upstream_url.clone())
            .map_err(|e| failed("starting the suite's upstream MCP server", e, None))?;
        let root = Gateway::new(&target.base_urls[0]).api_key(&target.admin_key);
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let tenant = format!("conformance-{}", &suffix[..12]);
        let other_tenant = format!("conformance-{}-other", &suffix[..12]);
        let mut created = Vec::new();
        create_tenant(&root, &target, &tenant).await?;
        create_tenant(&root, &target, &other_tenant).await?;
        let mut keys = Vec::new();
        for (owner, environment, role) in [
            (&tenant, types::Environment::Live, types::Role::Admin),
            (&tenant, types::Environment::Live, types::Role::Agent),
            (&tenant, types::Environment::Shadow, types::Role::Agent),
            (&tenant, types::Environment::Test, types::Role::Agent),
            (&tenant, types::Environment::Live, types::Role::Agent),
            (&other_tenant, types::Environment::Live, types::Role::Admin),
        ] {
            let body = types::ApiKeyCreate {
                tenant: owner.as_str().try_into().map_err(|e| failed("tenant id", e, None))?,
                environment,
                role,
                name: "conformance".try_into().map_err(|e| failed("key name", e, None))?,
                agent_id: None,
            };
            let repro =
                curl("POST", &target.base_urls[0], "/v1/admin/api-keys", &target.admin_key, Some(&body));
            let made = root
                .retrying(|| root.api().api_key_create().body(body.clone()).send())
                .await
                .map_err(|e| failed("creating an api key", e, Some(repro)))?;
            created.push(made.api_key.id.to_string());
            keys.push(made.key.clone());
        }
        let [admin_key, live_key, shadow_key, test_key, revoked_key, other_admin_key] =
            <[String; 6]>::try_from(keys).map_err(|_| failed("api keys", "six expected", None))?;
        let admin = Gateway::new(&target.base_urls[0]).api_key(&admin_key);
        // The fifth key is revoked at once by the tenant's admin.
        let revoked_id = created.remove(4);
        let repro = curl(
            "DELETE",
            &target.base_urls[0],
            &format!("/v1/admin/api-keys/{revoked_id}"),
            &admin_key,
            None::<&()>,
        );
        admin
            .retrying(|| admin.api().api_key_revoke().key_id(revoked_id.as_str()).send())
            .await
            .map_err(|e| failed("revoking a key", e, Some(repro)))?;
        let agent = "conformance-agent".to_string();
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
        // An agent key restricted to the agent: `/v1/mcp` acts for one agent.
        let body = types::ApiKeyCreate {
            tenant: tenant.as_str().try_into().map_err(|e| failed("tenant id", e, None))?,
            environment: types::Environment::Live,
            role: types::Role::Agent,
            name: "conformance-mcp".try_into().map_err(|e| failed("key name", e, None))?,
            agent_id: Some(agent.as_str().try_into().map_err(|e| failed("agent id", e, None))?),
        };
        let made = admin
            .retrying(|| admin.api().api_key_create().body(body.clone()).send())
            .await
            .map_err(|e| failed("creating an agent-restricted key", e, None))?;
        created.push(made.api_key.id.to_string());
        let agent_key = made.key.clone();
        // Payments carry their amount, so the default policy limits apply.
        let body: types::UpstreamCreate = serde_json::from_value(serde_json::json!({
            "name": UPSTREAM, "url": upstream.url(),
            "tools": {"transfer_funds": {"action_type": "transact", "financial_exposure_from": "/amount_usd"}}
        }))
        .map_err(|e| failed("upstream body", e, None))?;
        let repro = curl("POST", &target.base_urls[0], "/v1/admin/upstreams", &admin_key, Some(&body));
        admin
            .retrying(|| admin.api().upstream_create().body(body.clone()).send())
            .await
            .map_err(|e| failed("registering the suite's upstream", e, Some(repro)))?;
        Ok(Context {
            target,
            next: AtomicUsize::new(0),
            tenant,
            admin_key,
            live_key,
            shadow_key,
            test_key,
            agent,
            revoked_key,
            agent_key,
            other_tenant,
            other_admin_key,
            upstream,
            seed: selection.seed.unwrap_or_else(rand_seed),
            property_cases: selection.property_cases,
            created_keys: std::sync::Mutex::new(created),
        })
    }

    /// Removes what the run can: its upstream and every key it made (the
    /// tenants stay, as their audit logs must).
    pub async fn clean_up(&self) -> Result<(), Failure> {
        let admin = Gateway::new(&self.target.base_urls[0]).api_key(&self.admin_key);
        match admin.retrying(|| admin.api().upstream_delete().name(UPSTREAM).send()).await {
            Ok(_) => {}
            Err(error) if error.api().map(|a| a.status) == Some(404) => {}
            Err(error) => return Err(failed("deleting the suite's upstream", error, None)),
        }
        let root = Gateway::new(&self.target.base_urls[0]).api_key(&self.target.admin_key);
        let keys =
            std::mem::take(&mut *self.created_keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for id in keys {
            match root.retrying(|| root.api().api_key_revoke().key_id(id.as_str()).send()).await {
                Ok(_) => {}
                Err(error) if error.api().map(|a| a.status) == Some(404) => {}
                Err(error) => return Err(failed("revoking the run's keys", error, None)),
            }
        }
        Ok(())
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

    /// Records a key a case made, so the run revokes it when it ends.
    pub fn remember_key(&self, id: String) {
        self.created_keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(id);
    }

    /// The superadmin key.
    pub fn superadmin_key(&self) -> &str {
        &self.target.admin_key
    }

    /// The operator's hand, for disruptive cases.
    pub fn disruptor(&self) -> Result<&dyn disrupt::Disruptor, Failure> {
        self.target.disruptor.as_deref().ok_or_else(|| Failure {
            message: "disruptive cases need the operator's hooks: --hook-rotate-keys, --hook-store-down, --hook-store-up, --hook-sql"
                .into(),
            curl: None,
        })
    }
}

async fn create_tenant(root: &Gateway, target: &Target, id: &str) -> Result<(), Failure> {
    // The run checks behaviour, not throughput: its tenant gets the highest
    // rate limits, so a busy case is never refused for its pace (the
    // `rate_limits` cases set their own).
    let highest = types::RateLimit {
        per_minute: std::num::NonZeroU32::new(6_000_000).unwrap_or(std::num::NonZeroU32::MIN),
        burst: std::num::NonZeroU32::new(100_000).unwrap_or(std::num::NonZeroU32::MIN),
    };
    let body = types::TenantCreate {
        id: id.try_into().map_err(|e| failed("tenant id", e, None))?,
        name: "Lictor conformance run".try_into().map_err(|e| failed("tenant name", e, None))?,
        rate_limits: Some(types::RateLimitsUpdate {
            per_key: Some(highest.clone()),
            per_tenant: Some(highest),
        }),
    };
    let repro = curl("POST", &target.base_urls[0], "/v1/admin/tenants", &target.admin_key, Some(&body));
    root.retrying(|| root.api().tenant_create().body(body.clone()).send())
        .await
        .map_err(|e| failed("creating the run's tenant", e, Some(repro)))?;
    Ok(())
}

fn rand_seed() -> u64 {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// A `curl` command for a request. Reports replace the superadmin key with
/// `$LICTOR_ADMIN_KEY` (see [`run`]); the run's own tenant keys are shown.
pub fn curl(method: &str, base: &str, path: &str, key: &str, body: Option<&impl Serialize>) -> String {
    let mut command = format!("curl -sS -X {method} '{base}{path}' -H 'Authorization: Bearer {key}'");
    if let Some(body) = body {
        let json = serde_json::to_string(body).unwrap_or_default().replace('\'', "'\\''");
        command.push_str(&format!(" -H 'Content-Type: application/json' -d '{json}'"));
    }
    command
}

/// Sends one request on the next replica, outside the typed client (for
/// checks on the raw wire: status, body shape). The status, the body as JSON
/// (`null` when empty, a string when not JSON) and a curl reproducing it.
pub async fn raw(
    ctx: &Context,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&impl Serialize>,
) -> Result<(u16, serde_json::Value, String), Failure> {
    let (gw, url) = ctx.client(key);
    let repro = curl(method, &url, path, key, body);
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| failed("method", e, None))?;
    let mut request = gw.http().request(method, format!("{url}{path}")).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(|e| failed("sending the request", e, Some(repro.clone())))?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| failed("reading the answer", e, Some(repro.clone())))?;
    let value = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    Ok((status, value, repro))
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
#[derive(Clone, Debug)]
pub struct Selection {
    /// Only these groups or ids (empty: all).
    pub only: Vec<String>,
    /// Not these groups or ids.
    pub skip: Vec<String>,
    /// Run disruptive cases too.
    pub disruptive: bool,
    /// The property cases' seed (random when `None`; every property failure
    /// prints the seed that shows it).
    pub seed: Option<u64>,
    /// Generated inputs per property case.
    pub property_cases: u32,
}

impl Default for Selection {
    fn default() -> Selection {
        Selection { only: Vec::new(), skip: Vec::new(), disruptive: false, seed: None, property_cases: 24 }
    }
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
        failure.message = failure.message.replace(&secret, "$LICTOR_ADMIN_KEY");
        failure.curl = failure.curl.map(|c| c.replace(&secret, "$LICTOR_ADMIN_KEY"));
        failure
    };
    let context = Context::provision(target, selection).await.map_err(&mask)?;
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
    // A failing run keeps its keys, so the reproductions in its report work.
    if results.iter().all(|r| r.status != Status::Failed) {
        context.clean_up().await.map_err(&mask)?;
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
        /// Where its SQLite store lives.
        pub data_dir: std::path::PathBuf,
        _gateway: lictor_server::Gateway,
        _dir: tempfile::TempDir,
    }

    impl Embedded {
        /// A target for the suite: this gateway, with in-process hooks for
        /// the disruptive cases.
        pub fn target(&self) -> crate::Target {
            let mut target = crate::Target::new(vec![self.url.clone()], self.admin_key.clone());
            target.disruptor =
                Some(std::sync::Arc::new(crate::disrupt::EmbeddedStore::new(self.data_dir.clone())));
            target
        }
    }

    /// Starts one on an ephemeral loopback port.
    pub async fn start() -> anyhow::Result<Embedded> {
        let dir = tempfile::tempdir()?;
        let admin_key = format!("lictor_admin_conformance_{}", uuid::Uuid::new_v4().simple());
        let mut config = lictor_server::Config {
            listen: "127.0.0.1:0".parse()?,
            admin_key: Some(admin_key.clone()),
            log_level: "critical".into(),
            ..lictor_server::Config::default()
        };
        config.data_dir = dir.path().join("data");
        // Short, so the store-fault case answers quickly.
        config.lock_timeout = std::time::Duration::from_secs(2);
        // Checkpoints often, so inclusion proofs are there within a run.
        config.checkpoints.interval = std::time::Duration::from_secs(1);
        let log = lictor_server::gateway::logger(&config)?;
        let gateway = lictor_server::start(config, log).await?;
        Ok(Embedded {
            url: format!("http://{}", gateway.local_addr()),
            admin_key,
            data_dir: dir.path().join("data"),
            _gateway: gateway,
            _dir: dir,
        })
    }
}
