//! Which compiled bundle decides for each tenant, kept current across
//! replicas.
//!
//! Each tenant's active bundle is a row of `policy_active` with a growing
//! `generation`. A promotion or rollback announces [`Event::Policy`]: in
//! process at once (SQLite's only gateway swaps before it answers), and on
//! PostgreSQL through `NOTIFY`, so every replica reloads that tenant within
//! moments. A slow poll of the generations is the safety net for a missed
//! notification. Engines are compiled once per bundle hash and shared;
//! a request holds its engine's `Arc` to the end, so it finishes on the
//! bundle it started with.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use lictor_api::ids::TenantId;

use super::{Bundle, EngineKind, EvaluationLimits, PolicyEngine, PolicyError};
use crate::events::{Event, Events};
use crate::store::{ActiveRow, Store, StoreError};

/// Why a tenant's bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored bundle does not compile.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

#[derive(Clone, Debug)]
struct Loaded {
    generation: i64,
    engine: Arc<PolicyEngine>,
}

#[derive(Debug)]
struct Inner {
    default: Arc<PolicyEngine>,
    limits: EvaluationLimits,
    tenants: RwLock<HashMap<TenantId, Loaded>>,
    /// Compiled engines by `tenant/hash`, while anything holds them.
    compiled: std::sync::Mutex<HashMap<String, Weak<PolicyEngine>>>,
}

/// The compiled bundle of every tenant.
#[derive(Clone, Debug)]
pub struct PolicyRegistry {
    inner: Arc<Inner>,
}

/// How many of a tenant's latest recorded policy inputs a bundle's two
/// engines are compared on when it is loaded or promoted.
const RECORDED_SAMPLE: u32 = 200;

/// The tenant's latest recorded policy inputs, for a bundle that may run
/// on the compiled VM (read only for those).
pub(crate) async fn recorded_sample(
    store: &Store,
    tenant: &TenantId,
    bundle: &Bundle,
) -> Result<Vec<serde_json::Value>, StoreError> {
    match bundle.is_shipped() {
        true => store.recent_policy_inputs(tenant, RECORDED_SAMPLE).await,
        false => Ok(Vec::new()),
    }
}

impl PolicyRegistry {
    /// A registry deciding with `default` for every tenant until their
    /// active bundles are loaded.
    pub fn new(default: PolicyEngine, limits: EvaluationLimits) -> PolicyRegistry {
        PolicyRegistry {
            inner: Arc::new(Inner {
                default: Arc::new(default),
                limits,
                tenants: RwLock::new(HashMap::new()),
                compiled: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The engine deciding for `tenant`. The caller keeps the `Arc` for the
    /// whole request, so a request finishes on the bundle it started with.
    pub fn for_tenant(&self, tenant: &TenantId) -> Arc<PolicyEngine> {
        let tenants = match self.inner.tenants.read() {
            Ok(tenants) => tenants,
            Err(poisoned) => poisoned.into_inner(),
        };
        tenants.get(tenant).map(|l| Arc::clone(&l.engine)).unwrap_or_else(|| Arc::clone(&self.inner.default))
    }

    /// The built-in default bundle's engine.
    pub fn default_engine(&self) -> Arc<PolicyEngine> {
        Arc::clone(&self.inner.default)
    }

    /// The evaluation limits every engine is compiled with.
    pub fn limits(&self) -> EvaluationLimits {
        self.inner.limits
    }

    /// Compiles `bundle` for `tenant`, or answers the engine already
    /// compiled for that hash.
    pub fn compile(&self, tenant: &TenantId, bundle: Bundle) -> Result<Arc<PolicyEngine>, PolicyError> {
        if bundle.hash() == self.inner.default.bundle().hash() {
            return Ok(self.default_engine());
        }
        let key = format!("{tenant}/{}", bundle.hash());
        if let Some(engine) = self.cached(&key) {
            return Ok(engine);
        }
        let engine = Arc::new(PolicyEngine::compile(bundle, self.inner.limits)?);
        if let Ok(mut compiled) = self.inner.compiled.lock() {
            compiled.retain(|_, weak| weak.strong_count() > 0);
            compiled.insert(key, Arc::downgrade(&engine));
        }
        Ok(engine)
    }

    /// Compiles `bundle` for `tenant` and, where it runs on the compiled
    /// VM, compares the two engines on `recorded` too (the tenant's recent
    /// policy inputs): any difference and it keeps the interpreter. (The
    /// default bundle, one engine for every tenant, is compared on the
    /// shipped corpora only.)
    pub fn compile_confirmed(
        &self,
        tenant: &TenantId,
        bundle: Bundle,
        recorded: &[serde_json::Value],
    ) -> Result<Arc<PolicyEngine>, PolicyError> {
        let compiled = self.compile(tenant, bundle.clone())?;
        if recorded.is_empty()
            || compiled.engine_kind() == EngineKind::Interpreter
            || bundle.hash() == self.inner.default.bundle().hash()
        {
            return Ok(compiled);
        }
        let key = format!("{tenant}/{}", bundle.hash());
        let mut engine = PolicyEngine::compile(bundle, self.inner.limits)?;
        engine.confirm_on(recorded);
        let engine = Arc::new(engine);
        if let Ok(mut compiled) = self.inner.compiled.lock() {
            compiled.retain(|_, weak| weak.strong_count() > 0);
            compiled.insert(key, Arc::downgrade(&engine));
        }
        Ok(engine)
    }

    fn cached(&self, key: &str) -> Option<Arc<PolicyEngine>> {
        self.inner.compiled.lock().ok()?.get(key)?.upgrade()
    }

    /// Makes `engine` decide for `tenant` as of `generation` (ignored if a
    /// later generation is already loaded).
    pub fn install(&self, tenant: &TenantId, generation: i64, engine: Arc<PolicyEngine>) {
        let mut tenants = match self.inner.tenants.write() {
            Ok(tenants) => tenants,
            Err(poisoned) => poisoned.into_inner(),
        };
        if tenants.get(tenant).is_none_or(|loaded| loaded.generation < generation) {
            tenants.insert(tenant.clone(), Loaded { generation, engine });
        }
    }

    fn loaded_generation(&self, tenant: &TenantId) -> Option<i64> {
        let tenants = match self.inner.tenants.read() {
            Ok(tenants) => tenants,
            Err(poisoned) => poisoned.into_inner(),
        };
        tenants.get(tenant).map(|l| l.generation)
    }

    /// The engine of a stored active row.
    async fn engine_of(&self, store: &Store, row: &ActiveRow) -> Result<Arc<PolicyEngine>, LoadError> {
        let hash = &row.current.bundle_hash;
        if *hash == self.inner.default.bundle().hash() {
            return Ok(self.default_engine());
        }
        if let Some(engine) = self.cached(&format!("{}/{hash}", row.tenant)) {
            return Ok(engine);
        }
        let stored = store.get_bundle(&row.tenant, hash).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("the active bundle {hash} of `{}` is not stored", row.tenant).into())
        })?;
        let bundle = Bundle::new(&stored.name, stored.modules, stored.data);
        if bundle.hash() != hash {
            return Err(StoreError::Corrupt(
                format!("stored bundle {hash} hashes to {}", bundle.hash()).into(),
            )
            .into());
        }
        let recorded = recorded_sample(store, &row.tenant, &bundle).await?;
        let this = self.clone();
        let tenant = row.tenant.clone();
        tokio::task::spawn_blocking(move || this.compile_confirmed(&tenant, bundle, &recorded))
            .await
            .map_err(|e| PolicyError::Compile(format!("compiling was interrupted: {e}")))?
            .map_err(LoadError::from)
    }

    async fn apply(&self, store: &Store, row: &ActiveRow) -> Result<bool, LoadError> {
        if self.loaded_generation(&row.tenant).is_some_and(|g| g >= row.generation) {
            return Ok(false);
        }
        let engine = self.engine_of(store, row).await?;
        self.install(&row.tenant, row.generation, engine);
        Ok(true)
    }

    /// Loads `tenant`'s active bundle if it changed; `true` if it did.
    pub async fn reload(&self, store: &Store, tenant: &TenantId) -> Result<bool, LoadError> {
        match store.get_active_policy(tenant).await? {
            Some(row) => self.apply(store, &row).await,
            None => Ok(false),
        }
    }

    /// Loads every tenant's active bundle that changed; answers how many did.
    pub async fn reload_all(&self, store: &Store, log: &slog::Logger) -> Result<usize, LoadError> {
        let mut changed = 0;
        for row in store.list_active_policies().await? {
            match self.apply(store, &row).await {
                Ok(true) => changed += 1,
                Ok(false) => {}
                // One tenant's unloadable bundle must not keep the others
                // from loading.
                Err(error) => slog::error!(log, "loading a tenant's active policy failed";
                    "tenant" => %row.tenant, "error" => %error),
            }
        }
        Ok(changed)
    }

    /// Follows promotions: reloads a tenant on [`Event::Policy`], everything
    /// on [`Event::Resync`] and every `poll`.
    pub fn start(
        &self,
        store: Store,
        events: &Events,
        poll: Duration,
        log: slog::Logger,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let mut receiver = events.subscribe();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(poll);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                let result = tokio::select! {
                    event = receiver.recv() => match event {
                        Ok(Event::Policy { tenant }) => this.reload(&store, &tenant).await.map(usize::from),
                        Ok(Event::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            this.reload_all(&store, &log).await
                        }
                        Ok(_) => Ok(0),
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                    _ = ticker.tick() => this.reload_all(&store, &log).await,
                };
                match result {
                    Ok(0) => {}
                    Ok(n) => slog::info!(log, "loaded new active policies"; "tenants" => n),
                    Err(error) => slog::warn!(log, "loading active policies failed"; "error" => %error),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A shipped bundle stays on the VM unless the tenant's own traffic
    /// shows the engines disagree; the sample changes nothing else.
    #[test]
    fn recorded_inputs_that_the_engines_disagree_on_keep_the_interpreter() {
        let limits = EvaluationLimits::offline();
        let default =
            PolicyEngine::compile(Bundle::default_bundle(), limits).unwrap_or_else(|e| panic!("{e}"));
        let registry = PolicyRegistry::new(default, limits);
        // The default bundle's modules with data of its own: shipped Rego,
        // a bundle of its own.
        let tuned = Bundle::new("tuned", Bundle::default_bundle().modules().clone(), json!({"note": 1}));
        let tenant = |id: &str| TenantId::parse(id).unwrap_or_else(|e| panic!("{e}"));
        let agreeing =
            json!({"intent": {"agent": {"id": "a"}, "action": {"type": "access", "verb": "read"}}});
        let engine = registry
            .compile_confirmed(&tenant("acme"), tuned.clone(), std::slice::from_ref(&agreeing))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.engine_kind(), EngineKind::Vm, "{:?}", engine.interpreted_because());
        // A verb that is not a string (the API refuses it; a recorded input
        // someone wrote into the database) fails on the interpreter and
        // decides on the VM.
        let disagreeing =
            json!({"intent": {"agent": {"id": "a"}, "action": {"type": "transact", "verb": 5}}});
        let engine = registry
            .compile_confirmed(&tenant("globex"), tuned, &[agreeing, disagreeing])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.engine_kind(), EngineKind::Interpreter);
        assert!(engine.interpreted_because().unwrap_or_default().contains("input 1"));
    }
}
