//! Test support: a real gateway on loopback over a real store, an HTTP
//! client, and fixtures that provision tenants, keys and agents through
//! the API itself.

pub mod cut_proxy;
pub mod mcp_server;
pub mod moto;
pub mod oidc;
pub mod postgres;
pub mod process;

use std::time::Duration;

use lictor_server::{Config, Gateway};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The superadmin key every test gateway is started with.
pub const ADMIN_KEY: &str = "lictor_admin_test_0123456789abcdefghijklmnopqrstuvwxyz";

/// Which store a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in a temporary directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each named async test
/// function `fn(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self.body
    }

    /// Asserts an error answer: status, `error_code`, a request id matching
    /// the header; returns the body.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        let header_id = self
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_default();
        let body = self.expect(status);
        assert_eq!(body["error_code"], code, "wrong error_code in {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "no message in {body}");
        assert_eq!(body["request_id"].as_str(), Some(header_id.as_str()), "request_id must match the header");
        body
    }
}

/// A gateway under test.
pub struct TestGateway {
    /// `http://127.0.0.1:port`.
    pub url: String,
    /// The store's URL (SQLite file URL or PostgreSQL database URL).
    pub database_url: String,
    /// Where its signing keys are (a gateway joining its store needs them).
    pub keys_file: std::path::PathBuf,
    client: reqwest::Client,
    gateway: Option<Gateway>,
    _dir: tempfile::TempDir,
}

/// Settings suited to tests: quiet logs, fast retries and sweeps.
pub fn test_config() -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        admin_key: Some(ADMIN_KEY.to_string()),
        log_level: std::env::var("LICTOR_TEST_LOG").unwrap_or_else(|_| "critical".into()),
        ..Config::default()
    };
    config.webhooks.base_delay = Duration::from_millis(50);
    config.webhooks.poll_interval = Duration::from_millis(50);
    config.webhooks.timeout = Duration::from_secs(2);
    config.pending.sweep_interval = Duration::from_millis(200);
    // A loaded 2-core CI machine must not turn policy evaluations into
    // time-limit blocks; the limit itself is tested with its own setting.
    config.policy_time_limit = Duration::from_secs(5);
    config
}

impl TestGateway {
    /// A gateway with [`test_config`].
    pub async fn start(backend: Backend) -> TestGateway {
        TestGateway::start_with(backend, |_| {}).await
    }

    /// A gateway with [`test_config`] adjusted by `tweak`.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestGateway {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut config = test_config();
        config.data_dir = dir.path().join("data");
        if backend == Backend::Postgres {
            config.database_url = Some(postgres::fresh_database().await);
        }
        tweak(&mut config);
        let database_url = config
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", config.data_dir.join("lictor.db").display()));
        if config.keys.is_none() && config.keys_file.is_none() {
            config.keys_file = Some(dir.path().join("keys.json"));
        }
        TestGateway::launch(config, database_url, dir).await
    }

    async fn launch(config: Config, database_url: String, dir: tempfile::TempDir) -> TestGateway {
        let config_keys_file = config.keys_file.clone();
        // LICTOR_TEST_LOG=debug (any filter) shows the gateways' logs.
        if std::env::var_os("LICTOR_TEST_LOG").is_some() {
            let format = lictor_server::telemetry::LogFormat::Text;
            let _ = lictor_server::telemetry::init(format, &config.log_level);
        }
        let log = lictor_server::gateway::logger(&config).unwrap_or_else(|e| panic!("{e}"));
        let gateway =
            lictor_server::start(config, log).await.unwrap_or_else(|e| panic!("gateway start: {e}"));
        let keys_file = match config_keys_file {
            Some(path) => path,
            None => dir.path().join("keys.json"),
        };
        TestGateway {
            url: format!("{}://{}", gateway.scheme(), gateway.local_addr()),
            database_url,
            keys_file,
            client: reqwest::Client::new(),
            gateway: Some(gateway),
            _dir: dir,
        }
    }

    /// A second gateway on this one's store and keys, with `tweak` applied.
    pub async fn replica(&self, backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestGateway {
        let (url, keys) = (self.database_url.clone(), self.keys_file.clone());
        TestGateway::start_with(backend, move |c| {
            c.database_url = Some(url);
            c.keys_file = Some(keys);
            tweak(c);
        })
        .await
    }

    /// Adds a new generation of `purpose`'s key, as `lictor keys rotate`.
    pub async fn rotate_key(
        &self,
        purpose: lictor_server::signing::Purpose,
    ) -> lictor_server::store::KeyIdRow {
        let source = lictor_server::signing::KeySource::File(self.keys_file.clone());
        lictor_server::signing::rotate(&self.open_store().await, &source, purpose)
            .await
            .unwrap_or_else(|e| panic!("rotate: {e}"))
    }

    /// This gateway, reached by a client that trusts `ca` (an HTTPS
    /// gateway's certificate authority) besides the system's roots.
    pub fn trusting(mut self, ca: reqwest::Certificate) -> TestGateway {
        self.client =
            reqwest::Client::builder().tls_certs_merge([ca]).build().unwrap_or_else(|e| panic!("{e}"));
        self
    }

    /// `http://address` of the `--metrics-listen` listener, if configured.
    pub fn metrics_url(&self) -> Option<String> {
        self.gateway.as_ref().and_then(Gateway::metrics_addr).map(|a| format!("http://{a}"))
    }

    /// Stops the gateway (its store stays).
    pub async fn stop(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            let _ = gateway.stop().await;
        }
    }

    /// Sends a request; `body` is sent as JSON.
    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, body, headers }
    }

    /// A request builder for custom headers or bodies.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// `GET`.
    pub async fn get(&self, path: &str, key: &str) -> Answer {
        self.call(Method::GET, path, Some(key), None).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Answer {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// `PATCH` with a JSON body.
    pub async fn patch(&self, path: &str, key: &str, body: &Value) -> Answer {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str, key: &str) -> Answer {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// Creates a tenant with a unique id; returns its id.
    pub async fn create_tenant(&self, prefix: &str) -> String {
        let id = format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        self.post("/v1/admin/tenants", ADMIN_KEY, &json!({"id": id, "name": format!("Tenant {prefix}")}))
            .await
            .expect(201);
        id
    }

    /// Creates an API key; returns the secret.
    pub async fn create_key(&self, tenant: &str, environment: &str, role: &str) -> String {
        let body = json!({"tenant": tenant, "environment": environment, "role": role, "name": format!("{role} {environment}")});
        let created = self.post("/v1/admin/api-keys", ADMIN_KEY, &body).await.expect(201);
        created["key"].as_str().unwrap_or_else(|| panic!("no key in {created}")).to_string()
    }

    /// Registers an agent in `tenant` with the tenant's admin key.
    pub async fn create_agent(&self, admin_key: &str, id: &str, budget: Option<Value>) -> Value {
        let mut body = json!({"id": id, "name": format!("Agent {id}"), "owner": "payments-team"});
        if let Some(budget) = budget {
            body["budget"] = budget;
        }
        self.post("/v1/agents", admin_key, &body).await.expect(201)
    }

    /// A tenant with an admin key, one agent key per environment and one
    /// registered agent (`agent-1`).
    pub async fn tenant_fixture(&self) -> Fixture {
        let tenant = self.create_tenant("t").await;
        let admin = self.create_key(&tenant, "live", "admin").await;
        let live = self.create_key(&tenant, "live", "agent").await;
        let shadow = self.create_key(&tenant, "shadow", "agent").await;
        let test = self.create_key(&tenant, "test", "agent").await;
        self.create_agent(&admin, "agent-1", None).await;
        // Provisioning is audited too: the chain's length before any decision.
        let base = self.verify(&tenant).await["verified"].as_u64().unwrap_or_else(|| panic!("verify failed"));
        Fixture { tenant, admin, live, shadow, test, base }
    }

    /// Lifts `tenant`'s rate limits to their highest, for tests that put
    /// it under load rather than test its limits.
    pub async fn unthrottle(&self, tenant: &str) {
        self.patch(&format!("/v1/admin/tenants/{tenant}"), ADMIN_KEY, &json!({"rate_limits": *UNTHROTTLED}))
            .await
            .expect(200);
    }

    /// Declares `intent` (the `intent` object) with `key`.
    pub async fn declare(&self, key: &str, intent: Value) -> Answer {
        self.post("/v1/intents", key, &json!({ "intent": intent })).await
    }

    /// The tenant's chain verification.
    pub async fn verify(&self, tenant: &str) -> Value {
        self.get(&format!("/v1/admin/audit/verify?tenant={tenant}"), ADMIN_KEY).await.expect(200)
    }

    /// A direct connection to the store, for tests that must tamper with
    /// or inspect rows the API never exposes.
    pub async fn db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.database_url))
    }

    /// The gateway's store, opened a second time as another process would.
    pub async fn open_store(&self) -> lictor_server::store::Store {
        lictor_server::store::Store::open(&lictor_server::store::StoreConfig {
            database_url: Some(self.database_url.clone()),
            data_dir: std::env::temp_dir(),
            lock_timeout: Duration::from_secs(5),
            max_connections: 2,
        })
        .await
        .unwrap()
    }
}

/// The highest rate limits a tenant can have.
pub static UNTHROTTLED: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({
        "per_key": {"per_minute": 6_000_000, "burst": 100_000},
        "per_tenant": {"per_minute": 6_000_000, "burst": 100_000},
    })
});

/// What [`TestGateway::tenant_fixture`] provisions.
pub struct Fixture {
    /// Tenant id.
    pub tenant: String,
    /// Its admin key.
    pub admin: String,
    /// Agent key, live.
    pub live: String,
    /// Agent key, shadow.
    pub shadow: String,
    /// Agent key, test.
    pub test: String,
    /// Entries in the tenant's chain once provisioned (its creation, the
    /// keys, the agent).
    pub base: u64,
}

/// An intent of `agent-1` with the given action.
pub fn intent(action: Value) -> Value {
    json!({"agent": {"id": "agent-1", "framework": "test-suite"}, "action": action})
}

/// The four verdicts the default bundle produces, one intent each.
pub fn approve_intent() -> Value {
    intent(
        json!({"type": "access", "verb": "read", "target": {"type": "table", "identifier": "orders", "sensitivity": "internal"}}),
    )
}

/// Redaction: a card number in an outgoing email.
pub fn modify_intent() -> Value {
    intent(json!({
        "type": "communicate", "verb": "send",
        "target": {"type": "email", "identifier": "customer@example.com", "sensitivity": "confidential"},
        "payload": {"summary": "receipt", "content": "Your card 4111 1111 1111 1111 was charged.",
                    "estimated_impact": {"reversible": false, "audience_size": 1}}
    }))
}

/// Escalation: an irreversible payment above 1,000 USD.
pub fn escalate_intent() -> Value {
    intent(json!({
        "type": "transact", "verb": "pay",
        "payload": {"estimated_impact": {"reversible": false, "financial_exposure_usd": 2500}}
    }))
}

/// Block: a transfer above 10,000 USD.
pub fn block_intent() -> Value {
    intent(json!({
        "type": "transact", "verb": "transfer",
        "payload": {"estimated_impact": {"reversible": true, "financial_exposure_usd": 25000}}
    }))
}

/// Polls `check` every 20 ms for up to `timeout`.
pub async fn eventually<T>(timeout: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An MCP client speaking the legacy (session) era to `/v1/mcp`, with raw
/// JSON-RPC so tests see exactly what travels.
pub struct LegacyMcp<'a> {
    gw: &'a TestGateway,
    credential: String,
    /// The session `initialize` opened.
    pub session: Option<String>,
    next_id: u64,
}

impl<'a> LegacyMcp<'a> {
    /// Opens a session with `credential` (a capability token or a restricted key).
    pub async fn connect(gw: &'a TestGateway, credential: &str) -> LegacyMcp<'a> {
        let mut client = LegacyMcp { gw, credential: credential.into(), session: None, next_id: 1 };
        let init = client
            .send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "lictor-tests", "version": "1"}}}))
            .await;
        assert_eq!(init.status.as_u16(), 200, "initialize: {}", init.body);
        assert_eq!(init.body["result"]["protocolVersion"], "2025-11-25");
        let session = init.headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        assert!(session.is_some(), "initialize must open a session");
        client.session = session;
        let ack = client.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        assert_eq!(ack.status.as_u16(), 202);
        client
    }

    /// Posts a raw message with this client's credential and session.
    pub async fn send(&self, message: Value) -> Answer {
        let mut request =
            self.gw.request(Method::POST, "/v1/mcp").bearer_auth(&self.credential).json(&message);
        if let Some(session) = &self.session {
            request = request.header("Mcp-Session-Id", session).header("MCP-Protocol-Version", "2025-11-25");
        }
        self.gw.send(request).await
    }

    /// A request; answers the HTTP answer.
    pub async fn request(&mut self, method: &str, params: Value) -> Answer {
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})).await
    }

    /// `tools/call`, optionally resuming with an approval.
    pub async fn call_tool(&mut self, name: &str, arguments: Value, approval: Option<&str>) -> Answer {
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": format!("call-{}", self.next_id), "method": "tools/call",
            "params": {"name": name, "arguments": arguments}});
        let mut request =
            self.gw.request(Method::POST, "/v1/mcp").bearer_auth(&self.credential).json(&message);
        if let Some(session) = &self.session {
            request = request.header("Mcp-Session-Id", session);
        }
        if let Some(approval) = approval {
            request = request.header("Lictor-Approval-Id", approval);
        }
        self.gw.send(request).await
    }
}

/// A modern-era (2026-07-28) request to `/v1/mcp`: `_meta` and mirrored headers.
pub async fn modern_mcp(
    gw: &TestGateway,
    credential: &str,
    id: Value,
    method: &str,
    mut params: Value,
) -> Answer {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "lictor-tests", "version": "1"},
    });
    let mut request = gw
        .request(Method::POST, "/v1/mcp")
        .bearer_auth(credential)
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", method);
    if method == "tools/call"
        && let Some(name) = params["name"].as_str()
    {
        request = request.header("Mcp-Name", name);
    }
    gw.send(request.json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))).await
}

impl TestGateway {
    /// Mints a capability token with the tenant's admin key.
    pub async fn mint(&self, admin_key: &str, body: Value) -> Value {
        self.post("/v1/admin/mint", admin_key, &body).await.expect(201)
    }
}
