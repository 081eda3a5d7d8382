//! What `shadow` decisions do while the store cannot be reached, for
//! tenants that chose `store_failure: open_in_shadow`.
//!
//! Nothing is answered as recorded that is not: every decision fails with
//! `503 store_unavailable` by default. A tenant may instead let its
//! `shadow` intents — never enforced — still get an answer: `approve`,
//! `enforced: false`, no audit reference, and the reason
//! `store_unavailable_unaudited`, so the agent (and whoever reads its
//! logs) knows this one was neither decided by policy nor recorded. `live`
//! and `test` decisions, and tool calls (which the gateway would perform),
//! always fail closed.
//!
//! Keys cannot be looked up without the store, so the last shadow keys
//! seen live are remembered (in this process only), as is each tenant's
//! choice; a key revoked while the store is down cannot be seen as revoked
//! here, which only matters for these unenforced answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lictor_api::api_keys::Environment;
use lictor_api::ids::TenantId;
use lictor_api::tenants::StoreFailureMode;

use crate::store::{ApiKeyRow, Store};

/// How long a tenant's choice is trusted before it is read again.
const MODE_TTL: Duration = Duration::from_secs(30);

/// Most shadow keys remembered.
const MAX_KEYS: usize = 10_000;

/// Remembered shadow keys and tenant choices.
#[derive(Debug)]
pub struct Degraded {
    store: Store,
    keys: Mutex<HashMap<String, ApiKeyRow>>,
    modes: Mutex<HashMap<TenantId, (StoreFailureMode, Instant)>>,
}

impl Degraded {
    /// An empty memory.
    pub fn new(store: Store) -> Degraded {
        Degraded { store, keys: Mutex::new(HashMap::new()), modes: Mutex::new(HashMap::new()) }
    }

    /// Remembers a shadow key that authenticated (its hash and row).
    pub fn remember_key(&self, hash: &str, key: &ApiKeyRow) {
        if key.environment != Environment::Shadow {
            return;
        }
        if let Ok(mut keys) = self.keys.lock() {
            if keys.len() >= MAX_KEYS && !keys.contains_key(hash) {
                keys.clear();
            }
            keys.insert(hash.to_string(), key.clone());
        }
    }

    /// Forgets a key (revoked).
    pub fn forget_key(&self, id: &lictor_api::ids::ApiKeyId) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.retain(|_, key| key.id != *id);
        }
    }

    /// The shadow key with this hash, as last seen live.
    pub fn known_shadow_key(&self, hash: &str) -> Option<ApiKeyRow> {
        self.keys.lock().ok().and_then(|keys| keys.get(hash).cloned())
    }

    /// Reads `tenant`'s choice again if it is older than a while (errors
    /// keep the previous one).
    pub async fn refresh_mode(&self, tenant: &TenantId) {
        let fresh = self
            .modes
            .lock()
            .ok()
            .and_then(|modes| modes.get(tenant).map(|(_, at)| at.elapsed() < MODE_TTL))
            .unwrap_or(false);
        if fresh {
            return;
        }
        if let Ok(Some(row)) = self.store.get_tenant(tenant).await {
            self.set_mode(tenant, row.store_failure);
        }
    }

    /// Records `tenant`'s choice (after a change).
    pub fn set_mode(&self, tenant: &TenantId, mode: StoreFailureMode) {
        if let Ok(mut modes) = self.modes.lock() {
            modes.insert(tenant.clone(), (mode, Instant::now()));
        }
    }

    /// `tenant`'s choice as last known (`closed` when never read).
    pub fn mode(&self, tenant: &TenantId) -> StoreFailureMode {
        self.modes.lock().ok().and_then(|modes| modes.get(tenant).map(|(mode, _)| *mode)).unwrap_or_default()
    }
}
