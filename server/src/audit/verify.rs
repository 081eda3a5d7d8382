//! Verification of a tenant's audit log: walks the entries in `seq` order,
//! a page at a time (constant memory), recomputing every hash and link,
//! hashes them into an RFC 6962 tree, and checks the tree against every
//! signed checkpoint (and the stored tree's consistency proof between each
//! consecutive pair), and the walk against the recorded head and its seal.
//! The checkpointer runs the same walk before it signs anything.
//!
//! Detects: an edited entry (`hash_mismatch`; re-hashed to cover it up:
//! `broken_link`, or with every later entry re-hashed too:
//! `checkpoint_mismatch`), a deleted or inserted entry (`sequence_gap`,
//! `broken_link`), reordered entries (`broken_link`), a truncated tail
//! (`head_mismatch`, or `truncated` against the checkpoint when the head
//! was rewritten too), a forged checkpoint (`bad_checkpoint`), a damaged
//! stored tree (`tree_mismatch`), a head the gateway did not seal
//! (`unsealed_head`) and rows that no longer decode (`undecodable_entry`).
//!
//! A range (`from_seq`..`to_seq`) is verified the same way inside the
//! range, and anchored by inclusion proofs of its first and last entries
//! in the latest checkpoint that covers them (`not_in_checkpoint`).

use lictor_api::audit::{AuditCheckpoint, AuditVerification, ChainFailure, ChainHead, SeqRange};
use lictor_api::ids::TenantId;

use super::GENESIS_HASH;
use super::checkpoint::Checkpoint;
use super::checkpointer::{AnchorError, Checkpointer, head_fault};
use super::merkle::{self, Frontier};
use super::pages::{Page, Pages};
use crate::store::{AuditRow, CheckpointRow, Store, StoreError, UndecodableEntry, decode_hash};

fn failure(seq: u64, expected: impl Into<String>, found: impl Into<String>, reason: &str) -> ChainFailure {
    ChainFailure { seq, expected: expected.into(), found: found.into(), reason: reason.into() }
}

/// The wire form of a stored checkpoint (its origin read from the note).
pub fn view(row: &CheckpointRow) -> AuditCheckpoint {
    AuditCheckpoint {
        tenant: row.tenant.clone(),
        origin: row.note.split('\n').next().unwrap_or_default().to_string(),
        tree_size: row.tree_size,
        root_hash: row.root_hash.clone(),
        signed_at: row.created_at.to_datetime(),
        key_id: row.key_id.clone(),
        note: row.note.clone(),
    }
}

/// The latest checkpoint, opened with the gateway's keys; `Err` is the
/// failure to report when its note is not a valid checkpoint of this
/// tenant's log.
async fn latest_checkpoint(
    store: &Store,
    checkpoints: &Checkpointer,
    tenant: &TenantId,
) -> Result<Option<(CheckpointRow, Result<Checkpoint, ChainFailure>)>, AnchorError> {
    let Some(row) = store.list_checkpoints(tenant, None, 1).await?.into_iter().next() else {
        return Ok(None);
    };
    let opened = match checkpoints.open(&row.note) {
        Ok(checkpoint) if checkpoint.origin != checkpoints.origin_of(tenant) => {
            Err(failure(row.tree_size, checkpoints.origin_of(tenant), checkpoint.origin, "bad_checkpoint"))
        }
        Ok(checkpoint) => Ok(checkpoint),
        Err(error) => {
            Err(failure(row.tree_size, "a note signed by the gateway", error.to_string(), "bad_checkpoint"))
        }
    };
    Ok(Some((row, opened)))
}

/// A page's entries, each with the hash computed from its record (empty
/// for an entry that does not decode): hashing needs nothing but the entry,
/// so it runs beside the walk over the previous page.
fn hashed(page: Page) -> Vec<(Result<AuditRow, UndecodableEntry>, String)> {
    page.into_iter()
        .map(|row| {
            let computed = row.as_ref().map(|row| row.record.hash()).unwrap_or_default();
            (row, computed)
        })
        .collect()
}

/// A tenant's log as verified up to `size` entries: the last entry's hash
/// and the tree of the first `size` entries, recomputed from the entries
/// themselves (never read from the stored tree).
#[derive(Clone, Debug)]
pub(crate) struct Verified {
    /// Entries verified.
    pub(crate) size: u64,
    /// The hash of entry `size` (the genesis hash for none).
    pub(crate) prev: String,
    /// Their tree.
    pub(crate) tree: Frontier,
}

impl Verified {
    /// Nothing verified yet.
    pub(crate) fn genesis() -> Verified {
        Verified { size: 0, prev: GENESIS_HASH.to_string(), tree: Frontier::new() }
    }
}

/// A tenant's checkpoints of more than `after` entries, smallest first, a
/// page at a time.
pub(crate) struct Anchors {
    tenant: TenantId,
    after: u64,
    ahead: std::collections::VecDeque<CheckpointRow>,
    exhausted: bool,
}

impl Anchors {
    pub(crate) fn new(tenant: &TenantId, after: u64) -> Anchors {
        Anchors { tenant: tenant.clone(), after, ahead: Default::default(), exhausted: false }
    }

    /// The next checkpoint, if any.
    pub(crate) async fn peek(&mut self, store: &Store) -> Result<Option<&CheckpointRow>, AnchorError> {
        if self.ahead.is_empty() && !self.exhausted {
            let page = store.checkpoints_after(&self.tenant, self.after, 500).await?;
            self.exhausted = page.len() < 500;
            if let Some(last) = page.last() {
                self.after = last.tree_size;
            }
            self.ahead.extend(page);
        }
        Ok(self.ahead.front())
    }

    pub(crate) fn pop(&mut self) {
        self.ahead.pop_front();
    }
}

/// Why `row`, a checkpoint of `tenant`'s log, is not one its tree at that
/// size may have: not signed by the gateway, of another log, or of another
/// root than `root`.
fn check_anchor(
    checkpoints: &Checkpointer,
    tenant: &TenantId,
    row: &CheckpointRow,
    root: &merkle::Hash,
) -> Option<ChainFailure> {
    match checkpoints.open(&row.note) {
        Ok(checkpoint) if checkpoint.origin != checkpoints.origin_of(tenant) => {
            Some(failure(row.tree_size, checkpoints.origin_of(tenant), checkpoint.origin, "bad_checkpoint"))
        }
        Ok(checkpoint) if checkpoint.tree_size != row.tree_size => Some(failure(
            row.tree_size,
            row.tree_size.to_string(),
            checkpoint.tree_size.to_string(),
            "bad_checkpoint",
        )),
        Ok(checkpoint) if checkpoint.root_hash != *root => Some(failure(
            row.tree_size,
            hex::encode(checkpoint.root_hash),
            hex::encode(root),
            "checkpoint_mismatch",
        )),
        Ok(_) => None,
        Err(error) => {
            Some(failure(row.tree_size, "a note signed by the gateway", error.to_string(), "bad_checkpoint"))
        }
    }
}

/// The stored tree's consistency proof that the checkpoint `to` (size,
/// root) extends `from`, checked against both roots; `Err` is the failure
/// when it does not hold. The proofs the gateway serves (and exports
/// carry) come from the stored tree, so a damaged node is a failure even
/// when the entries are whole.
pub(crate) async fn consistency(
    checkpoints: &Checkpointer,
    tenant: &TenantId,
    from: (u64, merkle::Hash),
    to: (u64, merkle::Hash),
) -> Result<Result<Vec<merkle::Hash>, ChainFailure>, AnchorError> {
    let ((old_size, old_root), (new_size, new_root)) = (from, to);
    let proof = match checkpoints.consistency_proof(tenant, old_size, new_size).await {
        Ok(proof) => proof,
        Err(AnchorError::Store(error @ StoreError::Unavailable(_))) => return Err(error.into()),
        Err(error) => {
            return Ok(Err(failure(new_size, "a consistency proof", error.to_string(), "tree_mismatch")));
        }
    };
    Ok(merkle::verify_consistency(old_size, new_size, &old_root, &new_root, &proof).map(|()| proof).map_err(
        |error| {
            failure(
                new_size,
                format!("a proof from the checkpoint of {old_size}"),
                format!("the stored tree's does not hold: {error}"),
                "tree_mismatch",
            )
        },
    ))
}

/// An entry that does not decode, at its own `seq` if that still reads (at
/// `expected` otherwise).
fn undecodable(bad: UndecodableEntry, expected: u64) -> ChainFailure {
    failure(bad.seq.unwrap_or(expected), "a decodable entry", bad.message, "undecodable_entry")
}

/// Why `row` (hashing to `computed`) cannot follow entry `seq - 1` with
/// hash `prev` (`None`: its link is not checked).
fn check_entry(seq: u64, prev: Option<&str>, row: &AuditRow, computed: &str) -> Option<ChainFailure> {
    let record = &row.record;
    if record.seq != seq {
        return Some(failure(seq, seq.to_string(), record.seq.to_string(), "sequence_gap"));
    }
    if let Some(prev) = prev
        && record.prev_hash != prev
    {
        return Some(failure(record.seq, prev, record.prev_hash.clone(), "broken_link"));
    }
    (computed != row.hash).then(|| failure(record.seq, computed, row.hash.clone(), "hash_mismatch"))
}

/// Walks `tenant`'s entries after `from.size` up to `to` (at most):
/// recomputes each entry's hash, checks its `seq` and its link to the one
/// before, hashes it into the tree, and checks every checkpoint on the way
/// (signed by the gateway, of this log, with the recomputed root). A
/// checkpoint beyond the last entry read is a truncation. Answers how far
/// the log verified and the first failure, if any.
pub(crate) async fn walk(
    store: &Store,
    checkpoints: &Checkpointer,
    tenant: &TenantId,
    from: Verified,
    to: u64,
) -> Result<(Verified, Option<ChainFailure>), AnchorError> {
    let mut at = from;
    let mut anchors = Anchors::new(tenant, at.size);
    // The last checkpoint passed on this walk: the stored tree must prove
    // each next one extends it.
    let mut passed: Option<(u64, merkle::Hash)> = None;
    let mut pages = Pages::new(store, tenant, (at.size, to), hashed);
    'walk: while at.size < to {
        let Some(rows) = pages.next_page().await? else { break };
        for (row, computed) in rows {
            let next = at.size + 1;
            let row = match row {
                Ok(row) => row,
                Err(bad) => return Ok((at, Some(undecodable(bad, next)))),
            };
            if row.record.seq > to {
                break 'walk;
            }
            if let Some(failed) = check_entry(next, Some(&at.prev), &row, &computed) {
                return Ok((at, Some(failed)));
            }
            at.tree.push(&decode_hash(&row.hash)?);
            at.prev = row.hash;
            at.size = next;
            while let Some(anchor) = anchors.peek(store).await? {
                if anchor.tree_size > at.size {
                    break;
                }
                let root = at.tree.root();
                if let Some(failed) = check_anchor(checkpoints, tenant, anchor, &root) {
                    return Ok((at, Some(failed)));
                }
                if let Some(from) = passed.filter(|(size, _)| *size > 0)
                    && let Err(failed) =
                        consistency(checkpoints, tenant, from, (anchor.tree_size, root)).await?
                {
                    return Ok((at, Some(failed)));
                }
                passed = Some((anchor.tree_size, root));
                anchors.pop();
            }
        }
    }
    if let Some(anchor) = anchors.peek(store).await?
        && anchor.tree_size > at.size
        && at.size < to
    {
        let expected = format!("{} entries", anchor.tree_size);
        let failed = failure(at.size + 1, expected, format!("{} entries", at.size), "truncated");
        return Ok((at, Some(failed)));
    }
    Ok((at, None))
}

/// Verifies `tenant`'s log, or the range `from..=to` of it.
///
/// The whole log is checked against every checkpoint ever signed for it
/// (see [`walk`]), so a rewrite that a later checkpoint was signed over is
/// still caught by the earlier ones. A range is anchored by inclusion
/// proofs in the latest checkpoint that covers it.
pub async fn verify_log(
    store: &Store,
    checkpoints: &Checkpointer,
    tenant: &TenantId,
    range: Option<(u64, u64)>,
) -> Result<AuditVerification, AnchorError> {
    let head = store.audit_head(tenant).await?.filter(|h| h.seq > 0);
    let latest = latest_checkpoint(store, checkpoints, tenant).await?;
    let checkpoint_view = latest.as_ref().map(|(row, _)| view(row));
    let (verified, first_failure) = match range {
        None => {
            // One consistent snapshot: the head, read first, bounds the
            // walk, so entries committed meanwhile are never taken for a
            // forgery; what lies beyond it is checked against the head as
            // it is afterwards.
            let bound = head.as_ref().map_or(0, |h| h.seq);
            let (walked, mut first_failure) =
                walk(store, checkpoints, tenant, Verified::genesis(), bound).await?;
            if first_failure.is_none() {
                let largest = largest_checkpoint(store, tenant).await?;
                let now = store.audit_head(tenant).await?.map_or(0, |h| h.seq);
                first_failure = cut_below(largest, now);
            }
            if first_failure.is_none() {
                // Entries without a head are entries beyond it (below).
                first_failure = head.as_ref().and_then(|head| head_fault(checkpoints, tenant, head, &walked));
            }
            if first_failure.is_none() {
                first_failure = entries_beyond_head(store, tenant).await?;
            }
            // What the verification found, the checkpointer must not sign
            // over either.
            if let Some(failure) = &first_failure {
                checkpoints.refuse(tenant, failure.clone());
            }
            (walked.size, first_failure)
        }
        Some((from, to)) => {
            let signed = match latest {
                Some((_, Err(failure))) => {
                    return Ok(report(tenant, head, checkpoint_view, range, 0, Some(failure)));
                }
                Some((_, Ok(checkpoint))) => Some(checkpoint),
                None => None,
            };
            verify_range(store, checkpoints, tenant, signed.as_ref(), from, to).await?
        }
    };
    Ok(report(tenant, head, checkpoint_view, range, verified, first_failure))
}

fn report(
    tenant: &TenantId,
    head: Option<crate::store::StoredHead>,
    checkpoint: Option<AuditCheckpoint>,
    range: Option<(u64, u64)>,
    verified: u64,
    first_failure: Option<ChainFailure>,
) -> AuditVerification {
    AuditVerification {
        tenant: tenant.clone(),
        ok: first_failure.is_none(),
        verified,
        head: head.map(|h| ChainHead { seq: h.seq, hash: h.hash }),
        checkpoint,
        range: range.map(|(from_seq, to_seq)| SeqRange { from_seq, to_seq }),
        first_failure,
    }
}

/// The size of `tenant`'s largest checkpoint (0 for none). Read it before
/// the head it is compared with ([`cut_below`]).
pub(crate) async fn largest_checkpoint(store: &Store, tenant: &TenantId) -> Result<u64, AnchorError> {
    Ok(store.list_checkpoints(tenant, None, 1).await?.first().map_or(0, |c| c.tree_size))
}

/// A checkpoint (of `largest` entries) beyond the head at `head`: entries
/// it covered were cut and the head moved back. The checkpoint must have
/// been read before the head: a checkpoint only ever covers committed
/// entries, so a log growing meanwhile (or another replica signing) never
/// trips it.
pub(crate) fn cut_below(largest: u64, head: u64) -> Option<ChainFailure> {
    (largest > head)
        .then(|| failure(head + 1, format!("{largest} entries"), format!("{head} entries"), "truncated"))
}

/// An entry after the head: appended without moving the head. The last
/// entry is read before the head, so commits landing meanwhile only move
/// the head further.
async fn entries_beyond_head(store: &Store, tenant: &TenantId) -> Result<Option<ChainFailure>, AnchorError> {
    let last = store.audit_last_seq(tenant).await?.unwrap_or(0);
    let head = store.audit_head(tenant).await?.map_or(0, |h| h.seq);
    Ok((last > head).then(|| {
        failure(
            head + 1,
            format!("no entry after the head ({head})"),
            format!("entry {last}"),
            "head_mismatch",
        )
    }))
}

/// Verifies entries `from..=to`: hashes and links inside the range, its
/// ends proven into `signed` when it covers them.
async fn verify_range(
    store: &Store,
    checkpoints: &Checkpointer,
    tenant: &TenantId,
    signed: Option<&Checkpoint>,
    from: u64,
    to: u64,
) -> Result<(u64, Option<ChainFailure>), AnchorError> {
    let mut prev = String::new();
    let mut next_seq = from;
    let mut verified: u64 = 0;
    let mut pages = Pages::new(store, tenant, (from.saturating_sub(1), to), hashed);
    while next_seq <= to {
        let Some(rows) = pages.next_page().await? else { break };
        for (row, computed) in rows {
            let row = match row {
                Ok(row) => row,
                Err(bad) => return Ok((verified, Some(undecodable(bad, next_seq)))),
            };
            let record = &row.record;
            if record.seq > to {
                return Ok((verified, None));
            }
            // The range's first entry is anchored by its inclusion proof instead.
            let link = (next_seq > from).then_some(prev.as_str());
            if let Some(failed) = check_entry(next_seq, link, &row, &computed) {
                return Ok((verified, Some(failed)));
            }
            if (record.seq == from || record.seq == to)
                && let Some(failed) = anchor(checkpoints, tenant, signed, record.seq, &row.hash).await?
            {
                return Ok((verified, Some(failed)));
            }
            prev = row.hash;
            next_seq += 1;
            verified += 1;
        }
    }
    if to != u64::MAX && verified < to.saturating_sub(from) + 1 {
        return Ok((verified, Some(failure(next_seq, next_seq.to_string(), "no entry", "sequence_gap"))));
    }
    Ok((verified, None))
}

/// Checks that entry `seq` (with `hash`) is in the signed tree, when the
/// checkpoint covers it; answers the failure otherwise.
async fn anchor(
    checkpoints: &Checkpointer,
    tenant: &TenantId,
    signed: Option<&Checkpoint>,
    seq: u64,
    hash: &str,
) -> Result<Option<ChainFailure>, AnchorError> {
    let Some(signed) = signed.filter(|s| s.tree_size >= seq) else { return Ok(None) };
    let leaf = merkle::leaf_hash(&decode_hash(hash)?);
    let proof = match checkpoints.inclusion_proof(tenant, seq - 1, signed.tree_size).await {
        Ok(proof) => proof,
        Err(AnchorError::Store(error @ StoreError::Unavailable(_))) => return Err(error.into()),
        Err(error) => {
            return Ok(Some(failure(seq, "an inclusion proof", error.to_string(), "not_in_checkpoint")));
        }
    };
    Ok(merkle::verify_inclusion(&leaf, seq - 1, signed.tree_size, &proof, &signed.root_hash)
        .err()
        .map(|e| failure(seq, hex::encode(signed.root_hash), e.to_string(), "not_in_checkpoint")))
}
