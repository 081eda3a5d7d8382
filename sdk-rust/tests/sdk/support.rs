//! A real gateway on an ephemeral loopback port (started in-process on
//! embedded SQLite), a real upstream MCP server, and a tenant provisioned
//! through the SDK itself.

use std::time::Duration;

use lictor_client::types;
use lictor_client::{Gateway, intent};

#[allow(dead_code, missing_docs)]
#[path = "../../../server/tests/it/support/mcp_server.rs"]
pub mod mcp_server;

use mcp_server::McpServer;

/// The superadmin key of every test gateway.
pub const ADMIN_KEY: &str = "lictor_admin_sdk_0123456789abcdefghijklmnopqrstuvwxyz";

/// A running gateway and upstream; both stop when dropped.
pub struct Live {
    /// The gateway's address.
    pub url: String,
    /// The gateway as the superadmin.
    pub superadmin: Gateway,
    /// The upstream MCP server, registered for every tenant as `mail` and `bank`.
    pub upstream: McpServer,
    _gateway: lictor_server::Gateway,
    _dir: tempfile::TempDir,
}

/// A tenant with an admin key, an agent key and a registered agent.
pub struct Tenant {
    /// Its id.
    pub id: String,
    /// The tenant's administrator.
    pub admin: Gateway,
    /// An agent key (any agent of the tenant).
    pub agent: Gateway,
    /// The registered agent's id.
    pub agent_id: String,
    /// The tenant's webhook secret.
    pub webhook_secret: String,
}

impl Live {
    /// Starts an upstream and a gateway.
    pub async fn start() -> Live {
        let upstream = McpServer::builder().start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = lictor_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_key: Some(ADMIN_KEY.to_string()),
            log_level: std::env::var("LICTOR_TEST_LOG").unwrap_or_else(|_| "critical".into()),
            ..lictor_server::Config::default()
        };
        config.data_dir = dir.path().join("data");
        // A loaded 2-core machine must not turn evaluations into time-limit blocks.
        config.policy_time_limit = Duration::from_secs(5);
        let log = lictor_server::gateway::logger(&config).unwrap();
        let gateway = lictor_server::start(config, log).await.unwrap();
        let url = format!("http://{}", gateway.local_addr());
        Live {
            superadmin: Gateway::new(&url).api_key(ADMIN_KEY),
            url,
            upstream,
            _gateway: gateway,
            _dir: dir,
        }
    }

    /// A fresh tenant `id`, provisioned through the SDK.
    pub async fn tenant(&self, id: &str) -> Tenant {
        let api = &self.superadmin;
        let created = api
            .retrying(|| {
                api.api()
                    .tenant_create()
                    .body(types::TenantCreate {
                        id: id.try_into().unwrap(),
                        name: "SDK test tenant".try_into().unwrap(),
                        rate_limits: None,
                    })
                    .send()
            })
            .await
            .unwrap();
        let key = |role: types::Role| {
            let body = types::ApiKeyCreate {
                tenant: id.try_into().unwrap(),
                environment: types::Environment::Live,
                role,
                name: "sdk test".try_into().unwrap(),
                agent_id: None,
            };
            async move { api.retrying(|| api.api().api_key_create().body(body.clone()).send()).await.unwrap().key }
        };
        let admin = Gateway::new(&self.url).api_key(key(types::Role::Admin).await);
        let agent_key = key(types::Role::Agent).await;
        let agent = Gateway::new(&self.url).api_key(&agent_key);
        let agent_id = "billing-bot".to_string();
        register_agent(&admin, &agent_id, None).await;
        for (name, tools) in [
            ("mail", Default::default()),
            (
                "bank",
                [(
                    "transfer_funds".to_string(),
                    types::ToolOverride::builder()
                        .action_type(Some(types::ActionType::Transact))
                        .financial_exposure_from(Some("/amount_usd".parse().unwrap()))
                        .try_into()
                        .unwrap(),
                )]
                .into_iter()
                .collect(),
            ),
        ] {
            let body = types::UpstreamCreate {
                name: name.try_into().unwrap(),
                url: self.upstream.url().parse().unwrap(),
                credential: None,
                tools,
            };
            admin.retrying(|| admin.api().upstream_create().body(body.clone()).send()).await.unwrap();
        }
        Tenant { id: id.into(), admin, agent, agent_id, webhook_secret: created.webhook_secret }
    }
}

/// Registers agent `id`, with a budget of `max_decisions` a day if given.
pub async fn register_agent(admin: &Gateway, id: &str, max_decisions: Option<u64>) {
    let body = types::AgentCreate {
        id: id.try_into().unwrap(),
        name: "SDK test agent".try_into().unwrap(),
        owner: "sdk-team".try_into().unwrap(),
        description: None,
        budget: max_decisions
            .map(|n| types::AgentBudget { max_decisions_24h: Some(n), max_exposure_usd_24h: None }),
    };
    admin.retrying(|| admin.api().agent_create().body(body.clone()).send()).await.unwrap();
}

impl Tenant {
    /// A capability token for `agent`, minted by the tenant's admin.
    pub async fn mint(&self, agent: &str) -> types::MintedToken {
        let body = types::TokenMint::builder().subject(agent.to_string()).ttl_seconds(3600u32);
        let body: types::TokenMint = body.try_into().unwrap();
        self.admin.retrying(|| self.admin.api().token_mint().body(body.clone()).send()).await.unwrap()
    }
}

/// An intent of the tenant's agent.
pub fn intent_of(agent: &str, action_type: types::ActionType, verb: &str) -> types::Intent {
    intent(agent, action_type, verb).unwrap()
}

/// An estimated impact: `usd` of exposure, `reversible` or not.
pub fn impact(usd: f64, reversible: Option<bool>) -> types::Payload {
    types::Payload {
        arguments: None,
        content: None,
        summary: None,
        estimated_impact: Some(types::EstimatedImpact {
            audience_size: None,
            financial_exposure_usd: Some(types::UsdAmount(usd)),
            regulatory_domains: None,
            reversible,
        }),
    }
}
