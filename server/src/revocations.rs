//! The revocation list, cached per tenant.
//!
//! Every request carrying a capability token checks its jti chain against
//! its tenant's revoked jtis. The set is loaded from the store on first use
//! and dropped when a revocation event arrives (on PostgreSQL from any
//! gateway, through LISTEN/NOTIFY) or after `ttl` as a safety net.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use lictor_api::ids::TenantId;

use crate::events::{Event, Events};
use crate::store::{Store, StoreResult};

type Entry = (Arc<HashSet<String>>, Instant);

/// Revoked jtis by tenant.
#[derive(Clone, Debug)]
pub struct RevocationCache {
    store: Store,
    ttl: Duration,
    entries: Arc<RwLock<HashMap<TenantId, Entry>>>,
}

impl RevocationCache {
    /// A cache over `store`, kept current by `events`.
    pub fn start(
        store: Store,
        events: &Events,
        ttl: Duration,
    ) -> (RevocationCache, tokio::task::JoinHandle<()>) {
        let cache = RevocationCache { store, ttl, entries: Arc::new(RwLock::new(HashMap::new())) };
        let mut receiver = events.subscribe();
        let entries = Arc::clone(&cache.entries);
        let task = tokio::spawn(async move {
            loop {
                let event = receiver.recv().await;
                let Ok(mut map) = entries.write() else { continue };
                match event {
                    Ok(Event::Revocation { tenant }) => {
                        map.remove(&tenant);
                    }
                    Ok(Event::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        map.clear()
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        (cache, task)
    }

    /// The tenant's revoked jtis.
    pub async fn revoked(&self, tenant: &TenantId) -> StoreResult<Arc<HashSet<String>>> {
        if let Ok(map) = self.entries.read()
            && let Some((set, loaded)) = map.get(tenant)
            && loaded.elapsed() < self.ttl
        {
            return Ok(Arc::clone(set));
        }
        let set: Arc<HashSet<String>> =
            Arc::new(self.store.revoked_jtis(tenant).await?.into_iter().collect());
        if let Ok(mut map) = self.entries.write() {
            map.insert(tenant.clone(), (Arc::clone(&set), Instant::now()));
        }
        Ok(set)
    }

    /// Drops the tenant's set (after a revocation in this process).
    pub fn invalidate(&self, tenant: &TenantId) {
        if let Ok(mut map) = self.entries.write() {
            map.remove(tenant);
        }
    }
}
