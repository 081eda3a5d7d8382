//! The gateway's shared state: what every request can reach.

use std::sync::Arc;

use crate::audit::checkpointer::Checkpointer;
use crate::auth::Authenticator;
use crate::cache::CacheStats;
use crate::catalog::Catalog;
use crate::clock::Timestamp;
use crate::config::Config;
use crate::degraded::Degraded;
use crate::events::Events;
use crate::mcp::sessions::McpSessions;
use crate::metrics::{Metrics, ProcessFigures, Scraped, StoreFigures};
use crate::pending::PendingIntents;
use crate::pipeline::Pipeline;
use crate::policy::PolicyRegistry;
use crate::rate_limit::RateLimiter;
use crate::signing::TokenKeys;
use crate::store::{Store, StoreResult};

/// What every request can reach, whichever door it came in by.
#[derive(Clone, Debug)]
pub struct GatewayState {
    /// The store.
    pub store: Store,
    /// The decision pipeline.
    pub pipeline: Pipeline,
    /// Compiled policies.
    pub policies: PolicyRegistry,
    /// Background evaluation of async intents.
    pub pending: PendingIntents,
    /// Credential checks.
    pub auth: Authenticator,
    /// Rate limits per credential and per tenant.
    pub rate_limits: Arc<RateLimiter>,
    /// Capability-token keys.
    pub token_keys: TokenKeys,
    /// Upstream MCP servers and their tools.
    pub catalog: Arc<Catalog>,
    /// Legacy-era MCP sessions.
    pub mcp_sessions: McpSessions,
    /// Change events between gateways.
    pub events: Events,
    /// Signed checkpoints and proofs of the audit trees.
    pub checkpoints: Checkpointer,
    /// What shadow decisions do while the store is down.
    pub degraded: Arc<Degraded>,
    /// The configuration it started with.
    pub config: Config,
    /// Its Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The signing keys (they also open integrations' secrets).
    pub keys: crate::signing::Keys,
    /// What integrations run with (checks of new ones use it too).
    pub integrations: crate::integrations::runtime::Context,
    /// Set once the gateway began shutting down: `/readyz` answers `503
    /// draining` while what was accepted finishes.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

/// How often each of the request path's caches answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caches {
    /// API keys by hash.
    pub api_keys: CacheStats,
    /// Agents by id.
    pub agents: CacheStats,
    /// Revocation lists by tenant.
    pub revocations: CacheStats,
    /// Stored upstreams by tenant.
    pub upstreams: CacheStats,
    /// Open legacy-era MCP sessions by id.
    pub mcp_sessions: CacheStats,
}

impl GatewayState {
    async fn store_figures(&self) -> StoreResult<StoreFigures> {
        let now = Timestamp::now();
        let approvals_pending = self
            .store
            .pending_approvals_by_tenant(now)
            .await?
            .into_iter()
            .map(|(tenant, open)| (self.metrics.tenant_label(&tenant), open))
            .collect();
        let unanchored = self
            .store
            .uncheckpointed_trees()
            .await?
            .into_iter()
            .map(|tree| {
                let age = (tree.checkpointed_at.micros() > 0)
                    .then(|| now.since(tree.checkpointed_at).as_secs_f64());
                (self.metrics.tenant_label(&tree.tenant), tree.tree_size - tree.checkpointed_size, age)
            })
            .collect();
        Ok(StoreFigures { approvals_pending, unanchored })
    }

    /// `GET /metrics`: the metrics kept, and what is read at scrape time
    /// (the store's part left out, and `lictor_store_up` 0, when the store
    /// does not answer: metrics matter most then).
    pub async fn scrape_metrics(&self) -> Result<String, std::fmt::Error> {
        let caches = self.caches();
        let scraped = Scraped {
            caches: vec![
                ("api_keys", caches.api_keys.hits, caches.api_keys.misses),
                ("agents", caches.agents.hits, caches.agents.misses),
                ("revocations", caches.revocations.hits, caches.revocations.misses),
                ("upstreams", caches.upstreams.hits, caches.upstreams.misses),
                ("mcp_sessions", caches.mcp_sessions.hits, caches.mcp_sessions.misses),
            ],
            pool: self.store.pool_state(),
            process: ProcessFigures::read(),
            store: self.store_figures().await.ok(),
            audit_logs_refused: u64::try_from(self.checkpoints.refused().len()).unwrap_or(u64::MAX),
        };
        self.metrics.encode(&scraped)
    }

    /// The request path's caches' hits and misses so far.
    pub fn caches(&self) -> Caches {
        Caches {
            api_keys: self.auth.key_cache(),
            agents: self.pipeline.agent_cache(),
            revocations: self.pipeline.revocations().stats(),
            upstreams: self.catalog.cache_stats(),
            mcp_sessions: self.mcp_sessions.stats(),
        }
    }
}
