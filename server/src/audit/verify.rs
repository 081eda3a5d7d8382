//! Verification of a tenant's audit log: walks the entries in `seq` order,
//! a page at a time (constant memory), recomputing every hash and link,
//! hashes them into an RFC 6962 tree, and checks the tree against the
//! latest signed checkpoint and the walk against the recorded head.
//!
//! Detects: an edited entry (`hash_mismatch`; re-hashed to cover it up:
//! `broken_link`, or with every later entry re-hashed too:
//! `checkpoint_mismatch`), a deleted or inserted entry (`sequence_gap`,
//! `broken_link`), reordered entries (`broken_link`), a truncated tail
//! (`head_mismatch`, or `truncated` against the checkpoint when the head
//! was rewritten too), a forged checkpoint (`bad_checkpoint`) and rows that
//! no longer decode (`undecodable_entry`).
//!
//! A range (`from_seq`..`to_seq`) is verified the same way inside the
//! range, and anchored by inclusion proofs of its first and last entries
//! in the latest checkpoint that covers them (`not_in_checkpoint`).

use lictor_api::audit::{AuditCheckpoint, AuditVerification, ChainFailure, ChainHead, SeqRange};
use lictor_api::ids::TenantId;

use super::GENESIS_HASH;
use super::checkpoint::Checkpoint;
use super::checkpointer::{AnchorError, Checkpointer};
use super::merkle::{self, Frontier};
use super::pages::{Page, Pages};
use crate::clock;
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
        signed_at: clock::datetime(row.created_at),
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

/// Verifies `tenant`'s log, or the range `from..=to` of it.
pub async fn verify_log(
    store: &Store,
    checkpoints: &Checkpointer,
    tenant: &TenantId,
    range: Option<(u64, u64)>,
) -> Result<AuditVerification, AnchorError> {
    let head = store.audit_head(tenant).await?.filter(|h| h.seq > 0);
    let latest = latest_checkpoint(store, checkpoints, tenant).await?;
    let checkpoint_view = latest.as_ref().map(|(row, _)| view(row));
    let (mut first_failure, signed) = match latest {
        Some((_, Err(failure))) => (Some(failure), None),
        Some((_, Ok(checkpoint))) => (None, Some(checkpoint)),
        None => (None, None),
    };
    let (from, to) = range.unwrap_or((1, u64::MAX));

    let mut prev = GENESIS_HASH.to_string();
    let mut next_seq = from;
    let mut verified: u64 = 0;
    let mut tree = Frontier::new();
    let whole = range.is_none();

    let mut pages = Pages::new(store, tenant, (from.saturating_sub(1), to), hashed);
    'walk: while first_failure.is_none() && next_seq <= to {
        let Some(rows) = pages.next_page().await? else {
            break;
        };
        for (row, computed) in rows {
            let row = match row {
                Ok(row) => row,
                Err(bad) => {
                    let seq = bad.seq.unwrap_or(next_seq);
                    first_failure = Some(failure(seq, "a decodable entry", bad.message, "undecodable_entry"));
                    break 'walk;
                }
            };
            let record = &row.record;
            if record.seq > to {
                break 'walk;
            }
            if record.seq != next_seq {
                first_failure =
                    Some(failure(next_seq, next_seq.to_string(), record.seq.to_string(), "sequence_gap"));
                break 'walk;
            }
            // A range's first entry is anchored by its inclusion proof instead.
            if (whole || record.seq > from) && record.prev_hash != prev {
                first_failure =
                    Some(failure(record.seq, prev.clone(), record.prev_hash.clone(), "broken_link"));
                break 'walk;
            }
            if computed != row.hash {
                first_failure = Some(failure(record.seq, computed, row.hash.clone(), "hash_mismatch"));
                break 'walk;
            }
            if whole {
                tree.push(&decode_hash(&row.hash)?);
                if let Some(signed) = &signed
                    && tree.size() == signed.tree_size
                    && tree.root() != signed.root_hash
                {
                    first_failure = Some(failure(
                        signed.tree_size,
                        hex::encode(signed.root_hash),
                        hex::encode(tree.root()),
                        "checkpoint_mismatch",
                    ));
                    break 'walk;
                }
            } else if (record.seq == from || record.seq == to)
                && let Some(failed) =
                    anchor(checkpoints, tenant, signed.as_ref(), record.seq, &row.hash).await?
            {
                first_failure = Some(failed);
                break 'walk;
            }
            prev = row.hash;
            next_seq += 1;
            verified += 1;
        }
    }

    if first_failure.is_none() {
        if whole {
            if let Some(signed) = signed.as_ref().filter(|s| s.tree_size > verified) {
                first_failure = Some(failure(
                    verified + 1,
                    format!("{} entries", signed.tree_size),
                    format!("{verified} entries"),
                    "truncated",
                ));
            }
        } else if to != u64::MAX && verified < to.saturating_sub(from) + 1 {
            first_failure = Some(failure(next_seq, next_seq.to_string(), "no entry", "sequence_gap"));
        }
    }
    if first_failure.is_none() && whole {
        match &head {
            Some(h) if h.seq != verified || h.hash != prev => {
                first_failure = Some(failure(
                    h.seq,
                    format!("{}:{}", h.seq, h.hash),
                    format!("{verified}:{prev}"),
                    "head_mismatch",
                ));
            }
            None if verified > 0 => {
                first_failure = Some(failure(
                    verified,
                    "no entries (no recorded head)",
                    format!("{verified}:{prev}"),
                    "head_mismatch",
                ));
            }
            _ => {}
        }
    }
    Ok(AuditVerification {
        tenant: tenant.clone(),
        ok: first_failure.is_none(),
        verified,
        head: head.map(|h| ChainHead { seq: h.seq, hash: h.hash }),
        checkpoint: checkpoint_view,
        range: range.map(|(from_seq, to_seq)| SeqRange { from_seq, to_seq }),
        first_failure,
    })
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
