//! Read-through caches for what every request reads and almost nothing
//! changes: API keys by hash, agents by id.
//!
//! A change is announced as an [`Event`] when it commits (on PostgreSQL to
//! every replica through `LISTEN/NOTIFY`), and the caches drop what it
//! names *synchronously*, before the writer answers the call that made the
//! change ([`Events::on_change`]): on the gateway that made it, the next
//! request already reads the store. Another replica drops it when the
//! notification arrives (milliseconds); if its listener loses the
//! connection it drops everything ([`Event::Resync`]), and every entry
//! expires after `ttl` regardless, the bound on how long a missed
//! notification could keep a revoked key working.
//!
//! A read that raced a change is never cached: each cache counts its
//! invalidations, and a value read from the store is kept only if none
//! happened while it was being read.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lictor_api::ids::TenantId;

use crate::events::{Event, Events};

/// Entries one cache holds at most; past it, it starts over empty.
pub const CAPACITY: usize = 65_536;

/// A bounded map from `K` to `V`, each value belonging to one tenant.
#[derive(Debug)]
pub struct Cache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, Entry<V>>>,
    /// Invalidations so far (a read that overlapped one is not kept).
    epoch: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    tenant: TenantId,
    at: Instant,
}

/// What a lookup found, and what to hand back to [`Cache::keep`] on a miss.
pub enum Lookup<V> {
    /// The cached value.
    Hit(V),
    /// Not cached: read the store, then [`Cache::keep`] with this ticket.
    Miss(Ticket),
}

/// The cache's epoch when a miss began.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

/// How often a cache answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from memory.
    pub hits: u64,
    /// Lookups that read the store.
    pub misses: u64,
}

impl CacheStats {
    /// Lookups so far.
    pub fn lookups(&self) -> u64 {
        self.hits + self.misses
    }

    /// Hits over lookups, 0 before any.
    pub fn hit_rate(&self) -> f64 {
        let total = self.lookups();
        if total == 0 { 0.0 } else { self.hits as f64 / total as f64 }
    }
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    /// An empty cache whose entries live at most `ttl`.
    pub fn new(ttl: Duration) -> Cache<K, V> {
        Cache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// A cache (entries live at most `ttl`) that drops a tenant's entries
    /// whenever `events` announce a change `names` maps to that tenant, and
    /// everything on [`Event::Resync`] — synchronously, as the change is
    /// published ([`Events::on_change`]).
    pub fn following(
        ttl: Duration,
        events: &Events,
        names: fn(&Event) -> Option<&TenantId>,
    ) -> Arc<Cache<K, V>>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let cache = Arc::new(Cache::new(ttl));
        let forget = Arc::clone(&cache);
        events.on_change(move |event| match (event, names(event)) {
            (Event::Resync, _) => forget.clear(),
            (_, Some(tenant)) => forget.forget_tenant(tenant),
            (_, None) => {}
        });
        cache
    }

    /// The value cached for `key`, or a ticket to read it with.
    pub fn get(&self, key: &K) -> Lookup<V> {
        // Taken before the lookup: an invalidation after it makes the
        // ticket stale, whatever the lookup found.
        let ticket = Ticket(self.epoch.load(Ordering::Acquire));
        if let Ok(entries) = self.entries.lock()
            && let Some(entry) = entries.get(key)
            && entry.at.elapsed() < self.ttl
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Lookup::Hit(entry.value.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        Lookup::Miss(ticket)
    }

    /// Keeps `value`, read from the store after `ticket` was issued, unless
    /// an invalidation happened since.
    pub fn keep(&self, ticket: Ticket, key: K, tenant: &TenantId, value: V) {
        let Ok(mut entries) = self.entries.lock() else { return };
        // Checked under the lock that invalidations take too.
        if self.epoch.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, Entry { value, tenant: tenant.clone(), at: Instant::now() });
    }

    /// Drops every entry of `tenant`.
    pub fn forget_tenant(&self, tenant: &TenantId) {
        self.forget_where(|entry_tenant| entry_tenant == tenant);
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.forget_where(|_| true);
    }

    fn forget_where(&self, doomed: impl Fn(&TenantId) -> bool) {
        // A poisoned lock still gets the epoch bumped, so nothing read
        // before it is kept; the entries themselves are then unreachable.
        let entries = self.entries.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = entries {
            entries.retain(|_, entry| !doomed(&entry.tenant));
        }
    }

    /// The cache's hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats { hits: self.hits.load(Ordering::Relaxed), misses: self.misses.load(Ordering::Relaxed) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    fn miss(lookup: Lookup<u32>) -> Ticket {
        match lookup {
            Lookup::Miss(ticket) => ticket,
            Lookup::Hit(v) => panic!("unexpected hit {v}"),
        }
    }

    #[test]
    fn a_kept_value_is_a_hit_until_its_tenant_changes() {
        let cache: Cache<&str, u32> = Cache::new(Duration::from_secs(60));
        let ticket = miss(cache.get(&"k"));
        cache.keep(ticket, "k", &tenant("acme"), 7);
        cache.keep(miss(cache.get(&"other")), "other", &tenant("globex"), 8);
        assert!(matches!(cache.get(&"k"), Lookup::Hit(7)));
        cache.forget_tenant(&tenant("acme"));
        assert!(matches!(cache.get(&"k"), Lookup::Miss(_)));
        assert!(matches!(cache.get(&"other"), Lookup::Hit(8)), "another tenant's entries stay");
        assert_eq!(cache.stats(), CacheStats { hits: 2, misses: 3 });
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_kept() {
        let cache: Cache<&str, u32> = Cache::new(Duration::from_secs(60));
        let ticket = miss(cache.get(&"k"));
        // The store was read (the old value), then the change committed.
        cache.forget_tenant(&tenant("acme"));
        cache.keep(ticket, "k", &tenant("acme"), 7);
        assert!(matches!(cache.get(&"k"), Lookup::Miss(_)), "the stale read must not be served");
    }

    #[test]
    fn entries_expire() {
        let cache: Cache<&str, u32> = Cache::new(Duration::ZERO);
        cache.keep(miss(cache.get(&"k")), "k", &tenant("acme"), 7);
        assert!(matches!(cache.get(&"k"), Lookup::Miss(_)));
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache: Cache<usize, u32> = Cache::new(Duration::from_secs(60));
        for i in 0..=CAPACITY {
            let Lookup::Miss(ticket) = cache.get(&i) else { panic!() };
            cache.keep(ticket, i, &tenant("acme"), 1);
        }
        assert!(matches!(cache.get(&CAPACITY), Lookup::Hit(1)));
        assert!(matches!(cache.get(&0), Lookup::Miss(_)));
    }
}
