//! Signs checkpoints of every tenant's audit tree: as soon as `every`
//! entries have accumulated since the last checkpoint, or `interval` after
//! it when fewer have. Any replica may sign; the first checkpoint of a size
//! wins (the table's key), so replicas never publish two roots for one size.
//!
//! Also serves the tree: roots, inclusion and consistency proofs from the
//! stored nodes, and the checkpoint covering a tenant's current head.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use lictor_api::ids::TenantId;
use tokio::task::JoinHandle;

use super::checkpoint::{Checkpoint, CheckpointError, NoteSigner, NoteVerifier};
use super::merkle::{self, Frontier, Hash, TreeError};
use super::seal::{self, SealFault};
use super::verify::{Verified, cut_below, largest_checkpoint, walk};
use crate::clock::Timestamp;
use crate::signing::{KeyError, Keyring, Keys, Purpose};
use crate::store::{CheckpointRow, Store, StoreError, StoreResult, StoredHead, decode_hash};
use lictor_api::audit::ChainFailure;
use std::collections::HashMap;
use std::sync::Mutex;

/// When checkpoints are signed, and under which name.
#[derive(Clone, Debug)]
pub struct CheckpointSettings {
    /// The gateway's log name: checkpoints of tenant `t` have the origin
    /// `<origin>/tenants/<t>`, and the signing key is named `<origin>`.
    pub origin: String,
    /// Sign once this many entries have accumulated.
    pub every: u64,
    /// Sign at the latest this long after the previous checkpoint.
    pub interval: Duration,
}

impl Default for CheckpointSettings {
    fn default() -> CheckpointSettings {
        CheckpointSettings { origin: "lictor".into(), every: 1000, interval: Duration::from_secs(10) }
    }
}

/// Why the tree could not be served.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored node is missing or arguments are out of range.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A key or note is unusable.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The log does not verify, so nothing is signed over it.
    #[error(
        "the audit log of tenant `{tenant}` does not verify ({} at entry {}: expected {}, found {}); \
         no checkpoint is signed over it",
        failure.reason, failure.seq, failure.expected, failure.found
    )]
    Refused {
        /// The tenant.
        tenant: TenantId,
        /// What failed.
        failure: ChainFailure,
    },
    /// The gateway's keys could not be read again.
    #[error(transparent)]
    Keys(#[from] KeyError),
}

/// Why `head` does not end the chain walked up to `walked`, if it does not.
fn ends_at(head: &StoredHead, walked: &Verified) -> Option<ChainFailure> {
    (head.seq != walked.size || head.hash != walked.prev).then(|| ChainFailure {
        seq: head.seq,
        expected: format!("{}:{}", head.seq, head.hash),
        found: format!("{}:{}", walked.size, walked.prev),
        reason: "head_mismatch".into(),
    })
}

/// Why `head` does not vouch for the chain walked up to `walked`: it does
/// not end it, or its seal is not the gateway's.
pub(crate) fn head_fault(
    checkpoints: &Checkpointer,
    tenant: &TenantId,
    head: &StoredHead,
    walked: &Verified,
) -> Option<ChainFailure> {
    if let Some(failure) = ends_at(head, walked) {
        return Some(failure);
    }
    checkpoints.check_seal(tenant, head).err().map(|fault| ChainFailure {
        seq: head.seq,
        expected: "a head sealed with the gateway's keys".into(),
        found: fault.to_string(),
        reason: "unsealed_head".into(),
    })
}

/// A public checkpoint key.
#[derive(Clone, Debug)]
pub struct PublishedKey {
    /// The verifier.
    pub verifier: NoteVerifier,
    /// When the key was created.
    pub created_at: Timestamp,
}

/// The newest key signs; every generation verifies. Built from the keys
/// the gateway was given, never from the store: a key an attacker adds to
/// the store neither signs nor verifies.
#[derive(Debug)]
struct KeyRing {
    kids: Vec<String>,
    signer: NoteSigner,
    keys: Vec<PublishedKey>,
}

impl KeyRing {
    fn from_keys(origin: &str, keys: &Keyring) -> Result<KeyRing, CheckpointError> {
        let generations = keys.keys(Purpose::Checkpoint);
        let newest = generations
            .last()
            .ok_or_else(|| CheckpointError::MalformedKey("no checkpoint signing key".into()))?;
        let signer = NoteSigner::new(origin, &newest.secret)?;
        let mut published = Vec::with_capacity(generations.len());
        for key in generations {
            let verifier = NoteSigner::new(origin, &key.secret)?.verifier().clone();
            published.push(PublishedKey { verifier, created_at: key.created_at });
        }
        Ok(KeyRing { kids: generations.iter().map(|k| k.kid.clone()).collect(), signer, keys: published })
    }
}

#[derive(Debug)]
struct Inner {
    store: Store,
    keys: Keys,
    settings: CheckpointSettings,
    ring: RwLock<Arc<KeyRing>>,
    /// Each tenant's log as last verified, to resume from.
    verified: Mutex<HashMap<TenantId, Verified>>,
    /// Tenants whose log does not verify: nothing is signed over it until
    /// an operator has looked (a restart verifies it again).
    refused: Mutex<HashMap<TenantId, ChainFailure>>,
}

/// Signs and serves checkpoints.
#[derive(Clone, Debug)]
pub struct Checkpointer {
    inner: Arc<Inner>,
}

fn rfc3339_seconds(time: Timestamp) -> String {
    time.to_datetime().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Checkpointer {
    /// A checkpointer signing with `keys` (the newest signs; all verify).
    pub fn load(store: Store, keys: Keys, settings: CheckpointSettings) -> Result<Checkpointer, AnchorError> {
        let ring = RwLock::new(Arc::new(KeyRing::from_keys(&settings.origin, &keys.ring())?));
        let (verified, refused) = (Mutex::default(), Mutex::default());
        Ok(Checkpointer { inner: Arc::new(Inner { store, keys, settings, ring, verified, refused }) })
    }

    fn ring(&self) -> Arc<KeyRing> {
        match self.inner.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Picks up keys added since loading (`lictor keys rotate --key
    /// checkpoint`, possibly on another replica): when the store names a
    /// checkpoint key this gateway does not hold, its keys are read again
    /// from their source. Answers whether the signing keys changed.
    pub async fn reload_keys(&self) -> Result<bool, AnchorError> {
        let stored = self.inner.store.key_ids().await?;
        let ring = self.ring();
        let unknown = stored
            .iter()
            .find(|row| row.purpose == Purpose::Checkpoint.tag() && !ring.kids.contains(&row.kid));
        let Some(unknown) = unknown else { return Ok(false) };
        self.inner.keys.reload()?;
        let keys = self.inner.keys.ring();
        if keys.get(Purpose::Checkpoint, &unknown.kid).is_none() {
            return Err(AnchorError::Keys(KeyError::NotHeld {
                purpose: "checkpoint",
                kid: unknown.kid.clone(),
                generation: unknown.generation,
                source_name: self.inner.keys.source().to_string(),
            }));
        }
        let ring = Arc::new(KeyRing::from_keys(&self.inner.settings.origin, &keys)?);
        match self.inner.ring.write() {
            Ok(mut slot) => *slot = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        Ok(true)
    }

    /// The log origin of `tenant`'s checkpoints.
    pub fn origin_of(&self, tenant: &TenantId) -> String {
        format!("{}/tenants/{tenant}", self.inner.settings.origin)
    }

    /// The signing key's name.
    pub fn key_name(&self) -> &str {
        &self.inner.settings.origin
    }

    /// Every key a checkpoint of this gateway may be signed with.
    pub fn keys(&self) -> Vec<PublishedKey> {
        self.ring().keys.clone()
    }

    /// Verifiers of [`Checkpointer::keys`].
    pub fn verifiers(&self) -> Vec<NoteVerifier> {
        self.ring().keys.iter().map(|k| k.verifier.clone()).collect()
    }

    /// Opens a stored checkpoint with any of the gateway's keys.
    pub fn open(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let mut last = CheckpointError::NotSignedBy(self.key_name().to_string());
        for key in &self.ring().keys {
            match Checkpoint::open(note, &key.verifier) {
                Ok(checkpoint) => return Ok(checkpoint),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// Signs and stores the checkpoint of `tenant`'s tree at `tree_size`
    /// with `root`; answers the stored one (another replica's, if it was
    /// first).
    async fn sign(
        &self,
        tenant: &TenantId,
        tree_size: u64,
        root: Hash,
    ) -> Result<CheckpointRow, AnchorError> {
        let now = Timestamp::now();
        let checkpoint = Checkpoint {
            origin: self.origin_of(tenant),
            tree_size,
            root_hash: root,
            time: Some(rfc3339_seconds(now)),
        };
        let ring = self.ring();
        let note = ring.signer.sign(&checkpoint.to_text())?;
        let row = CheckpointRow {
            tenant: tenant.clone(),
            tree_size,
            root_hash: hex::encode(root),
            created_at: now,
            key_id: hex::encode(ring.signer.verifier().id),
            note,
        };
        if self.inner.store.insert_checkpoint(&row).await? {
            return Ok(row);
        }
        let stored = self.inner.store.get_checkpoint(tenant, tree_size).await?;
        stored.ok_or_else(|| AnchorError::Store(StoreError::Database("a checkpoint vanished".into())))
    }

    /// The checkpoint of `tenant`'s tree as it stands now, signed now if
    /// none covers exactly the current head (an empty log has a checkpoint
    /// of size 0 with the empty tree's root). Signed only over a log that
    /// verifies.
    pub async fn at_head(&self, tenant: &TenantId) -> Result<CheckpointRow, AnchorError> {
        let tree = self.inner.store.audit_tree_state(tenant).await?.map(|(_, tree)| tree).unwrap_or_default();
        let root = self.verified_root(tenant, tree.size, &tree.frontier).await?;
        if let Some(row) = self.inner.store.get_checkpoint(tenant, tree.size).await? {
            return Ok(row);
        }
        self.sign(tenant, tree.size, root).await
    }

    /// The tenants whose log does not verify, and why: nothing is signed
    /// over them.
    pub fn refused(&self) -> Vec<(TenantId, ChainFailure)> {
        let refused = self.inner.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        refused.iter().map(|(tenant, failure)| (tenant.clone(), failure.clone())).collect()
    }

    /// The root of `tenant`'s first `size` entries, recomputed from the
    /// entries (resuming from the last verified point) and checked against
    /// every checkpoint on the way and against `stored`, the stored tree's
    /// frontier at that size. A log that fails is refused from then on.
    async fn verified_root(
        &self,
        tenant: &TenantId,
        size: u64,
        stored: &[String],
    ) -> Result<Hash, AnchorError> {
        let refuse = |failure: ChainFailure| AnchorError::Refused {
            tenant: tenant.clone(),
            failure: self.refuse(tenant, failure),
        };
        let refused =
            self.inner.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(tenant).cloned();
        if let Some(failure) = refused {
            return Err(AnchorError::Refused { tenant: tenant.clone(), failure });
        }
        let start = {
            let verified = self.inner.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            verified.get(tenant).filter(|v| v.size <= size).cloned().unwrap_or_else(Verified::genesis)
        };
        let (reached, failure) = walk(&self.inner.store, self, tenant, start, size).await?;
        if let Some(failure) = failure {
            return Err(refuse(failure));
        }
        if reached.size != size {
            let found = format!("{} entries", reached.size);
            return Err(refuse(ChainFailure {
                seq: reached.size + 1,
                expected: format!("{size} entries"),
                found,
                reason: "truncated".into(),
            }));
        }
        // Read before the head: a checkpoint only ever covers committed
        // entries, so one beyond the head read after it (another replica
        // may have signed meanwhile) means the log lost entries it had.
        let largest = largest_checkpoint(&self.inner.store, tenant).await?;
        let root = reached.tree.root();
        let hashes = stored.iter().map(|h| decode_hash(h)).collect::<StoreResult<Vec<_>>>()?;
        let stored_root = Frontier::restore(size, hashes)?.root();
        if stored_root != root {
            return Err(refuse(ChainFailure {
                seq: size,
                expected: hex::encode(root),
                found: hex::encode(stored_root),
                reason: "tree_mismatch".into(),
            }));
        }
        // The rest of the chain, up to the head, and the head's seal: a
        // valid seal vouches for every entry chained into it.
        let head = self.inner.store.audit_head(tenant).await?.unwrap_or_else(|| StoredHead {
            seq: 0,
            hash: super::GENESIS_HASH.to_string(),
            seal: None,
        });
        if let Some(failure) = cut_below(largest, head.seq) {
            return Err(refuse(failure));
        }
        let (reached, failure) = walk(&self.inner.store, self, tenant, reached, head.seq).await?;
        if let Some(failure) = failure {
            return Err(refuse(failure));
        }
        if let Some(failure) = head_fault(self, tenant, &head, &reached) {
            return Err(refuse(failure));
        }
        let mut verified = self.inner.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.get(tenant).is_none_or(|v| v.size < reached.size) {
            verified.insert(tenant.clone(), reached);
        }
        Ok(root)
    }

    /// Stops signing for `tenant`, whose log failed as `failure` (the
    /// first failure found is kept); answers the failure on record.
    pub(crate) fn refuse(&self, tenant: &TenantId, failure: ChainFailure) -> ChainFailure {
        let mut refused = self.inner.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        refused.entry(tenant.clone()).or_insert(failure).clone()
    }

    /// Checks `head`'s seal with the gateway's keys.
    pub(crate) fn check_seal(&self, tenant: &TenantId, head: &StoredHead) -> Result<(), SealFault> {
        seal::check(&self.inner.keys, tenant, head)
    }

    /// Seals the heads a store of an earlier version left unsealed, each
    /// only after its whole log verifies against its checkpoints (run on
    /// the start that adds seals to the store, and never again: later, an
    /// unsealed head means the log was changed outside the gateway).
    /// Answers how many were sealed and the logs that did not verify.
    pub async fn seal_earlier_heads(&self) -> Result<(usize, Vec<(TenantId, ChainFailure)>), AnchorError> {
        let (mut sealed, mut failed) = (0, Vec::new());
        for (tenant, head) in self.inner.store.unsealed_audit_heads().await? {
            let (walked, failure) =
                walk(&self.inner.store, self, &tenant, Verified::genesis(), u64::MAX).await?;
            let failure = failure.or_else(|| ends_at(&head, &walked));
            if let Some(failure) = failure {
                failed.push((tenant, failure));
                continue;
            }
            let Some(mark) = seal::seal(&self.inner.keys.ring(), &tenant, head.seq, &head.hash) else {
                continue;
            };
            if self.inner.store.seal_audit_head(&tenant, &head, &mark).await? {
                sealed += 1;
            }
        }
        Ok((sealed, failed))
    }

    /// Signs what is due over logs that verify; answers how many
    /// checkpoints were signed. A log that does not verify is skipped (and
    /// reported by [`Checkpointer::refused`]).
    pub async fn tick(&self) -> Result<usize, AnchorError> {
        let now = Timestamp::now();
        let interval = self.inner.settings.interval;
        let mut signed = 0;
        for tree in self.inner.store.uncheckpointed_trees().await? {
            let grown = tree.tree_size - tree.checkpointed_size;
            let waited = now.since(tree.checkpointed_at);
            if grown < self.inner.settings.every && waited < interval {
                continue;
            }
            match self.verified_root(&tree.tenant, tree.tree_size, &tree.frontier).await {
                Ok(root) => {
                    self.sign(&tree.tenant, tree.tree_size, root).await?;
                    signed += 1;
                }
                Err(AnchorError::Refused { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(signed)
    }

    /// Runs [`Checkpointer::tick`] until aborted.
    pub fn start(&self, log: slog::Logger) -> JoinHandle<()> {
        let this = self.clone();
        let period = this.inner.settings.interval.clamp(Duration::from_millis(50), Duration::from_secs(1));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Said once, not every tick, until it changes.
            let mut key_problem: Option<String> = None;
            let mut reported = std::collections::HashSet::new();
            loop {
                ticker.tick().await;
                match this.reload_keys().await {
                    Ok(true) => slog::info!(log, "loaded a new checkpoint signing key"),
                    Ok(false) => {}
                    Err(error) => {
                        let message = error.to_string();
                        if key_problem.as_deref() != Some(message.as_str()) {
                            slog::warn!(log, "checkpoint keys: still signing with the keys held"; "error" => %message);
                            key_problem = Some(message);
                        }
                    }
                }
                if let Err(error) = this.tick().await {
                    slog::warn!(log, "signing checkpoints failed"; "error" => %error);
                }
                for (tenant, failure) in this.refused() {
                    if reported.insert(tenant.clone()) {
                        let error = AnchorError::Refused { tenant, failure };
                        slog::error!(log, "audit log tampered or damaged: checkpoints stop"; "error" => %error);
                    }
                }
            }
        })
    }

    /// The root of `tenant`'s tree at `tree_size`, from stored nodes.
    pub async fn root(&self, tenant: &TenantId, tree_size: u64) -> Result<Hash, AnchorError> {
        if tree_size == 0 {
            return Ok(merkle::empty_root());
        }
        let nodes = self.inner.store.tree_nodes(tenant, &merkle::root_nodes(tree_size)).await?;
        Ok(merkle::root(tree_size, |n| nodes.get(&n).copied())?)
    }

    /// The inclusion proof of leaf `leaf_index` in the tree of `tree_size`.
    pub async fn inclusion_proof(
        &self,
        tenant: &TenantId,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<Vec<Hash>, AnchorError> {
        let wanted: Vec<_> =
            merkle::inclusion_proof_nodes(leaf_index, tree_size).into_iter().flatten().collect();
        let nodes = self.inner.store.tree_nodes(tenant, &wanted).await?;
        Ok(merkle::inclusion_proof(leaf_index, tree_size, |n| nodes.get(&n).copied())?)
    }

    /// The consistency proof between the trees of `old_size` and `new_size`.
    pub async fn consistency_proof(
        &self,
        tenant: &TenantId,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, AnchorError> {
        let wanted: Vec<_> =
            merkle::consistency_proof_nodes(old_size, new_size).into_iter().flatten().collect();
        let nodes = self.inner.store.tree_nodes(tenant, &wanted).await?;
        Ok(merkle::consistency_proof(old_size, new_size, |n| nodes.get(&n).copied())?)
    }
}
