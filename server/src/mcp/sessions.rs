//! Legacy-era MCP sessions, cached.
//!
//! Every request of a legacy-era client names its session, so the session
//! is read on every `tools/call`. Open sessions are kept in memory for at
//! most the request-path cache lifetime (`--cache-ttl-seconds`). Closing a
//! session on this gateway drops it at once; another replica may accept a
//! closed session until its entry expires. A session grants nothing by
//! itself: every request still authenticates its credential, which must be
//! the one that opened the session, and revoked credentials are refused
//! through their own caches.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::{Cache, CacheStats, Lookup};
use crate::clock::Timestamp;
use crate::store::{McpSessionRow, Store, StoreResult};

/// The sessions of every tenant, read through a cache.
#[derive(Clone, Debug)]
pub struct McpSessions {
    store: Store,
    open: Arc<Cache<String, McpSessionRow>>,
}

impl McpSessions {
    /// Sessions in `store`, each cached at most `ttl`.
    pub fn new(store: Store, ttl: Duration) -> McpSessions {
        McpSessions { store, open: Arc::new(Cache::new(ttl)) }
    }

    /// The session `id`, open or closed; `None` if there is none.
    pub async fn get(&self, id: &str) -> StoreResult<Option<McpSessionRow>> {
        let ticket = match self.open.get(&id.to_string()) {
            Lookup::Hit(session) => return Ok(Some(session)),
            Lookup::Miss(ticket) => ticket,
        };
        let session = self.store.get_mcp_session(id).await?;
        if let Some(session) = session.as_ref().filter(|s| s.closed_at.is_none()) {
            self.open.keep(ticket, id.to_string(), &session.tenant, session.clone());
        }
        Ok(session)
    }

    /// Stores a new session.
    pub async fn insert(&self, session: &McpSessionRow) -> StoreResult<()> {
        self.store.insert_mcp_session(session).await
    }

    /// Closes `session`; `false` if it was not open.
    pub async fn close(&self, session: &McpSessionRow, now: Timestamp) -> StoreResult<bool> {
        let closed = self.store.close_mcp_session(&session.id, now).await;
        // Dropped whatever the store answered: a close that failed midway
        // is read again.
        self.open.forget_tenant(&session.tenant);
        closed
    }

    /// How often the cache answered.
    pub fn stats(&self) -> CacheStats {
        self.open.stats()
    }
}
