//! Chain verification: walks a tenant's entries in `seq` order, a page at
//! a time (constant memory), recomputing every hash and link, then checks
//! the walk ends at the recorded head.
//!
//! Detects: an edited entry (`hash_mismatch`), a deleted or inserted entry
//! (`sequence_gap`, `broken_link`), reordered entries (`broken_link`), a
//! truncated tail (`head_mismatch`) and rows that no longer decode
//! (`undecodable_entry`).

use tollgate_api::audit::{AuditVerification, ChainFailure, ChainHead};
use tollgate_api::ids::TenantId;

use super::GENESIS_HASH;
use crate::store::{Store, StoreResult};

const PAGE: u32 = 1000;

fn failure(seq: u64, expected: impl Into<String>, found: impl Into<String>, reason: &str) -> ChainFailure {
    ChainFailure { seq, expected: expected.into(), found: found.into(), reason: reason.into() }
}

/// Verifies `tenant`'s chain.
pub async fn verify_chain(store: &Store, tenant: &TenantId) -> StoreResult<AuditVerification> {
    let head = store.audit_head(tenant).await?;
    let mut prev = GENESIS_HASH.to_string();
    let mut next_seq: u64 = 1;
    let mut verified: u64 = 0;
    let mut first_failure = None;

    'walk: loop {
        let rows = store.audit_entries_after(tenant, verified, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let row = match row {
                Ok(row) => row,
                Err(bad) => {
                    let seq = bad.seq.unwrap_or(next_seq);
                    first_failure = Some(failure(seq, "a decodable entry", bad.message, "undecodable_entry"));
                    break 'walk;
                }
            };
            let record = &row.record;
            if record.seq != next_seq {
                first_failure =
                    Some(failure(next_seq, next_seq.to_string(), record.seq.to_string(), "sequence_gap"));
                break 'walk;
            }
            if record.prev_hash != prev {
                first_failure =
                    Some(failure(record.seq, prev.clone(), record.prev_hash.clone(), "broken_link"));
                break 'walk;
            }
            let computed = record.hash();
            if computed != row.hash {
                first_failure = Some(failure(record.seq, computed, row.hash.clone(), "hash_mismatch"));
                break 'walk;
            }
            prev = row.hash;
            next_seq += 1;
            verified += 1;
        }
    }

    let recorded = head.filter(|h| h.seq > 0);
    if first_failure.is_none() {
        match &recorded {
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
        head: recorded.map(|h| ChainHead { seq: h.seq, hash: h.hash }),
        first_failure,
    })
}
