//! `lictor serve --demo`: a gateway a newcomer can call tools through in
//! one command.
//!
//! It starts the [demo bank](bank) (an MCP server with `echo`,
//! `get_balance` and `transfer_funds`) beside the gateway and provisions,
//! through the gateway's own HTTP API and the superadmin key, what the
//! quickstarts need: tenant `demo`, agent `billing-bot`, the bank as
//! upstream `bank` (with `transfer_funds` mapped to a `transact`/`transfer`
//! intent whose exposure is its `amount_usd`, so the default policy blocks
//! large transfers and escalates irreversible ones above 1,000 USD), a
//! tenant admin key, an agent key restricted to `billing-bot`, and a
//! capability token for it. The credentials are printed as `export`
//! lines to paste into another shell.
//!
//! It provisions over HTTP on purpose: the demo is built exactly as a user
//! would build it, so it can never disagree with the API.

pub mod bank;

use serde_json::{Value, json};

/// The tenant the demo creates.
pub const TENANT: &str = "demo";
/// The agent the demo registers.
pub const AGENT: &str = "billing-bot";
/// The name the bank is registered under.
pub const UPSTREAM: &str = "bank";
/// How long the demo's capability token lives, in seconds (a day).
pub(crate) const TOKEN_TTL_SECONDS: u32 = 86_400;

/// What the demo provisioned: everything a quickstart needs. Its `Debug`
/// leaves the secrets out.
#[derive(Clone)]
pub struct Demo {
    /// The gateway's base URL.
    pub url: String,
    /// The superadmin key.
    pub admin_key: String,
    /// An admin key of tenant `demo`.
    pub tenant_admin_key: String,
    /// A live agent key restricted to `billing-bot`.
    pub api_key: String,
    /// A capability token for `billing-bot`.
    pub token: String,
    /// The bank's MCP endpoint.
    pub bank_url: String,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("url", &self.url)
            .field("bank_url", &self.bank_url)
            .finish_non_exhaustive()
    }
}

impl Demo {
    /// Shell lines that put the credentials in the environment the SDKs'
    /// quickstarts read.
    pub fn export_lines(&self) -> Vec<String> {
        vec![
            format!("export LICTOR_URL={}", self.url),
            format!("export LICTOR_ADMIN_KEY={}", self.admin_key),
            format!("export LICTOR_TENANT_ADMIN_KEY={}", self.tenant_admin_key),
            format!("export LICTOR_API_KEY={}", self.api_key),
            format!("export LICTOR_TOKEN={}", self.token),
        ]
    }
}

/// Why provisioning the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The gateway could not be reached.
    #[error("demo: {step}: {error}")]
    Transport {
        /// What was being done.
        step: &'static str,
        /// The transport error.
        error: reqwest::Error,
    },
    /// The gateway refused a step.
    #[error("demo: {step}: HTTP {status}: {body}")]
    Refused {
        /// What was being done.
        step: &'static str,
        /// The answer's status.
        status: u16,
        /// The answer's body.
        body: String,
    },
}

/// A string the gateway's answer must carry.
fn field(step: &'static str, answer: &Value, name: &str) -> Result<String, DemoError> {
    answer[name].as_str().map(str::to_string).ok_or_else(|| DemoError::Refused {
        step,
        status: 200,
        body: format!("the answer has no `{name}`: {answer}"),
    })
}

struct Admin<'a> {
    http: reqwest::Client,
    url: &'a str,
    key: &'a str,
}

impl Admin<'_> {
    async fn post(&self, step: &'static str, path: &str, body: Value) -> Result<Value, DemoError> {
        let answer = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(self.key)
            .json(&body)
            .send()
            .await
            .map_err(|error| DemoError::Transport { step, error })?;
        let status = answer.status().as_u16();
        let text = answer.text().await.map_err(|error| DemoError::Transport { step, error })?;
        if !(200..300).contains(&status) {
            return Err(DemoError::Refused { step, status, body: text });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn key(&self, step: &'static str, body: Value) -> Result<String, DemoError> {
        let created = self.post(step, "/v1/admin/api-keys", body).await?;
        field(step, &created, "key")
    }
}

/// Provisions the demo on the gateway at `url` with the superadmin key.
pub async fn provision(url: &str, admin_key: &str, bank_url: &str) -> Result<Demo, DemoError> {
    let admin = Admin { http: reqwest::Client::new(), url, key: admin_key };
    let scope = format!("?tenant={TENANT}");
    admin.post("creating tenant `demo`", "/v1/admin/tenants", json!({"id": TENANT, "name": "Demo"})).await?;
    admin
        .post(
            "registering agent `billing-bot`",
            &format!("/v1/agents{scope}"),
            json!({"id": AGENT, "name": "Billing bot", "owner": "demo"}),
        )
        .await?;
    admin
        .post(
            "registering the demo bank as upstream `bank`",
            &format!("/v1/admin/upstreams{scope}"),
            json!({
                "name": UPSTREAM,
                "url": bank_url,
                "tools": {
                    "echo": {"action_type": "access", "verb": "read"},
                    "get_balance": {"action_type": "access", "verb": "read"},
                    "transfer_funds": {
                        "action_type": "transact",
                        "verb": "transfer",
                        "reversible": false,
                        "financial_exposure_from": "/amount_usd",
                    },
                },
            }),
        )
        .await?;
    let tenant_admin_key = admin
        .key(
            "creating the tenant admin key",
            json!({"tenant": TENANT, "environment": "live", "role": "admin", "name": "demo admin"}),
        )
        .await?;
    let api_key = admin
        .key(
            "creating the agent key",
            json!({"tenant": TENANT, "environment": "live", "role": "agent", "name": "demo agent", "agent_id": AGENT}),
        )
        .await?;
    let minted = admin
        .post(
            "minting the capability token",
            &format!("/v1/admin/mint{scope}"),
            json!({"subject": AGENT, "ttl_seconds": TOKEN_TTL_SECONDS}),
        )
        .await?;
    Ok(Demo {
        url: url.to_string(),
        admin_key: admin_key.to_string(),
        tenant_admin_key,
        api_key,
        token: field("minting the capability token", &minted, "token")?,
        bank_url: bank_url.to_string(),
    })
}
