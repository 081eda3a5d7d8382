//! The gateway's shared state: what every request can reach.

use std::sync::Arc;

use crate::audit::checkpointer::Checkpointer;
use crate::auth::Authenticator;
use crate::cache::CacheStats;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::degraded::Degraded;
use crate::events::Events;
use crate::mcp::sessions::McpSessions;
use crate::metrics::{Metrics, ProcessFigures, Scraped};
use crate::pending::PendingIntents;
use crate::pipeline::Pipeline;
use crate::policy::PolicyRegistry;
use crate::rate_limit::RateLimiter;
use crate::signing::TokenKeys;
use crate::store::Store;

/// What every request can reach, whichever door it came in by.
#[derive(Debug)]
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
    pub catalog: Catalog,
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
    /// `GET /metrics`: the metrics kept, and what is read at scrape time.
    pub fn scrape_metrics(&self) -> Result<String, std::fmt::Error> {
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
