//! The revocation list, cached per tenant.
//!
//! Every request carrying a capability token checks its jti chain against
//! its tenant's revoked jtis. The set is loaded from the store on first use
//! and dropped the moment a revocation commits on this gateway, when its
//! notification arrives from another (PostgreSQL), or after `ttl` as a
//! safety net ([`crate::cache`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lictor_api::ids::TenantId;

use crate::cache::{Cache, CacheStats, Lookup};
use crate::events::{Event, Events};
use crate::store::{Store, StoreResult};

/// Revoked jtis by tenant.
#[derive(Clone, Debug)]
pub struct RevocationCache {
    store: Store,
    sets: Arc<Cache<TenantId, Arc<HashSet<String>>>>,
}

impl RevocationCache {
    /// A cache over `store`, kept current by `events`.
    pub fn new(store: Store, events: &Events, ttl: Duration) -> RevocationCache {
        let sets = Cache::following(ttl, events, |event| match event {
            Event::Revocation { tenant } => Some(tenant),
            _ => None,
        });
        RevocationCache { store, sets }
    }

    /// The tenant's revoked jtis.
    pub async fn revoked(&self, tenant: &TenantId) -> StoreResult<Arc<HashSet<String>>> {
        let ticket = match self.sets.get(tenant) {
            Lookup::Hit(set) => return Ok(set),
            Lookup::Miss(ticket) => ticket,
        };
        let set: Arc<HashSet<String>> =
            Arc::new(self.store.revoked_jtis(tenant).await?.into_iter().collect());
        self.sets.keep(ticket, tenant.clone(), tenant, Arc::clone(&set));
        Ok(set)
    }

    /// How often the cache answered.
    pub fn stats(&self) -> CacheStats {
        self.sets.stats()
    }
}
