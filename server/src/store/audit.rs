//! Audit chain storage: entries, per-tenant heads and payloads.

use lictor_api::api_keys::Environment;
use lictor_api::audit::AuditKind;
use lictor_api::ids::{AgentId, AuditEntryId, IntentId, TenantId};
use lictor_api::intents::{Reason, StageName, Verdict};
use lictor_api::operators::Person;
use sqlx::{Any, Executor, Row};

use super::{Store, StoreError, StoreResult, StoreTx, parse_opt, parse_req, tenant_column};
use crate::audit::{AuditRecord, GENESIS_HASH};
use crate::clock::Timestamp;

/// An entry as stored: the record and the hash written beside it.
#[derive(Clone, Debug)]
pub struct AuditRow {
    /// What the hash covers.
    pub record: AuditRecord,
    /// The stored hash.
    pub hash: String,
}

/// Filters of [`Store::list_audit_entries`]; `None` matches anything.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// The agent.
    pub agent_id: Option<AgentId>,
    /// The verdict.
    pub verdict: Option<Verdict>,
    /// The deciding stage.
    pub stage: Option<StageName>,
    /// The kind.
    pub kind: Option<AuditKind>,
    /// The intent.
    pub intent_id: Option<IntentId>,
    /// The token jti.
    pub jti: Option<String>,
    /// Written at or after.
    pub from: Option<Timestamp>,
    /// Written before.
    pub to: Option<Timestamp>,
}

/// A stored entry that no longer decodes (its columns were damaged).
#[derive(Clone, Debug)]
pub struct UndecodableEntry {
    /// Its `seq`, if that column still reads.
    pub seq: Option<u64>,
    /// What does not decode.
    pub message: String,
}

/// A chain's recorded head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredHead {
    /// Last sequence number (0 for an empty chain).
    pub seq: u64,
    /// Last hash ([`GENESIS_HASH`] for an empty chain).
    pub hash: String,
    /// The gateway's seal over the head (`crate::audit::seal`); `None`
    /// for an empty chain, and for a head the writer found unsealed.
    pub seal: Option<String>,
}

/// How far a tenant's Merkle tree covers its chain: its size and the
/// hashes of the perfect subtrees of that size, largest first (hex).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeState {
    /// Leaves (entries) in the tree.
    pub size: u64,
    /// The frontier's hashes.
    pub frontier: Vec<String>,
}

/// The columns of an entry, in the order every query below reads them.
macro_rules! entry_columns {
    () => {
        "version, entry_id, tenant_id, seq, ts, kind, intent_id, agent_id, environment, enforced, \
         verdict, stage, reasons, bundle_hash, input_digest, payload_digest, principal, person, jti, tool, \
         approval_id, outcome, prev_hash, hash"
    };
}

macro_rules! select_entries {
    ($rest:literal) => {
        concat!("SELECT ", entry_columns!(), " FROM audit_entries ", $rest)
    };
}

/// A page of a tenant's entries (`$2 < seq <= $3`, at most `$4`) as one JSON
/// array of arrays of [`entry_columns!`]: one row crosses from the database
/// to the gateway instead of one per entry, which is what bounded reading
/// the log (docs/performance.md). SQLite aggregates the ordered subquery in
/// its order; an `ORDER BY` inside the aggregate would sort the page again
/// in a temporary b-tree, so the order is checked on decoding instead.
const SQLITE_PAGE: &str = concat!(
    "SELECT json_group_array(json_array(",
    entry_columns!(),
    ")) FROM (",
    select_entries!("WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"),
    ")"
);
const POSTGRES_PAGE: &str = concat!(
    "SELECT json_agg(json_build_array(",
    entry_columns!(),
    ") ORDER BY seq)::text FROM (",
    select_entries!("WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"),
    ") page"
);

/// An entry's columns as stored, before their values are checked: read
/// from a row, or from one element of a page's JSON array (its fields in
/// [`entry_columns!`] order).
#[derive(serde::Deserialize)]
struct RawEntry {
    version: i64,
    entry_id: String,
    tenant_id: String,
    seq: i64,
    ts: Timestamp,
    kind: String,
    intent_id: Option<String>,
    agent_id: Option<String>,
    environment: Option<String>,
    enforced: Option<i64>,
    verdict: Option<String>,
    stage: Option<String>,
    reasons: String,
    bundle_hash: Option<String>,
    input_digest: Option<String>,
    payload_digest: Option<String>,
    principal: Option<String>,
    /// The person's JSON object, as text.
    person: Option<String>,
    jti: Option<String>,
    tool: Option<String>,
    approval_id: Option<String>,
    outcome: Option<String>,
    prev_hash: String,
    hash: String,
}

impl RawEntry {
    fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<RawEntry> {
        Ok(RawEntry {
            version: row.try_get("version")?,
            entry_id: row.try_get("entry_id")?,
            tenant_id: row.try_get("tenant_id")?,
            seq: row.try_get("seq")?,
            ts: row.try_get("ts")?,
            kind: row.try_get("kind")?,
            intent_id: row.try_get("intent_id")?,
            agent_id: row.try_get("agent_id")?,
            environment: row.try_get("environment")?,
            enforced: row.try_get("enforced")?,
            verdict: row.try_get("verdict")?,
            stage: row.try_get("stage")?,
            reasons: row.try_get("reasons")?,
            bundle_hash: row.try_get("bundle_hash")?,
            input_digest: row.try_get("input_digest")?,
            payload_digest: row.try_get("payload_digest")?,
            principal: row.try_get("principal")?,
            person: row.try_get("person")?,
            jti: row.try_get("jti")?,
            tool: row.try_get("tool")?,
            approval_id: row.try_get("approval_id")?,
            outcome: row.try_get("outcome")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    fn into_row(self) -> StoreResult<AuditRow> {
        fn id<T>(
            v: String,
            parse: impl Fn(String) -> Result<T, lictor_api::ids::InvalidId>,
        ) -> StoreResult<T> {
            parse(v).map_err(|e| StoreError::Corrupt(e.to_string().into()))
        }
        let reasons: Vec<Reason> = serde_json::from_str(&self.reasons)
            .map_err(|e| StoreError::Corrupt(format!("audit reasons: {e}").into()))?;
        let person: Option<Person> = self
            .person
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("audit person: {e}").into()))?;
        let record = AuditRecord {
            version: u32::try_from(self.version).map_err(|e| StoreError::Corrupt(e.to_string().into()))?,
            entry_id: id(self.entry_id, AuditEntryId::parse)?,
            tenant: id(self.tenant_id, TenantId::parse)?,
            seq: u64::try_from(self.seq).map_err(|e| StoreError::Corrupt(e.to_string().into()))?,
            ts: self.ts.micros(),
            kind: parse_req(&self.kind, AuditKind::parse, "audit kind")?,
            intent_id: self.intent_id.map(|v| id(v, IntentId::parse)).transpose()?,
            agent_id: self.agent_id.map(|v| id(v, AgentId::parse)).transpose()?,
            environment: parse_opt(self.environment, Environment::parse, "environment")?,
            enforced: self.enforced.map(|v| v != 0),
            verdict: parse_opt(self.verdict, Verdict::parse, "verdict")?,
            stage: parse_opt(self.stage, StageName::parse, "stage")?,
            reasons,
            bundle_hash: self.bundle_hash,
            input_digest: self.input_digest,
            payload_digest: self.payload_digest,
            principal: self.principal,
            person,
            jti: self.jti,
            tool: self.tool,
            approval_id: self.approval_id,
            outcome: self.outcome,
            prev_hash: self.prev_hash,
        };
        Ok(AuditRow { record, hash: self.hash })
    }
}

/// Whether the entries whose `seq` reads are in ascending order.
fn in_seq_order(entries: &[Result<AuditRow, UndecodableEntry>]) -> bool {
    let seqs = entries.iter().filter_map(|entry| match entry {
        Ok(row) => Some(row.record.seq),
        Err(bad) => bad.seq,
    });
    seqs.clone().zip(seqs.skip(1)).all(|(a, b)| a < b)
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> StoreResult<AuditRow> {
    RawEntry::from_row(row)?.into_row()
}

/// Decodes one element of a page's JSON array; an element that does not
/// decode is reported with its `seq` when that still reads.
fn entry_from_json(element: &serde_json::value::RawValue) -> Result<AuditRow, UndecodableEntry> {
    let undecodable = |message: String| {
        let seq = serde_json::from_str::<Vec<serde_json::Value>>(element.get())
            .ok()
            .and_then(|columns| columns.get(3).and_then(serde_json::Value::as_u64));
        UndecodableEntry { seq, message }
    };
    let raw: RawEntry = serde_json::from_str(element.get())
        .map_err(|e| undecodable(StoreError::Corrupt(format!("audit entry: {e}").into()).to_string()))?;
    raw.into_row().map_err(|e| undecodable(e.to_string()))
}

async fn read_head<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    tenant: &TenantId,
    lock: &str,
) -> StoreResult<Option<(StoredHead, TreeState)>> {
    let sql =
        format!("SELECT seq, hash, seal, tree_size, frontier FROM audit_heads WHERE tenant_id = $1{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str()).fetch_optional(executor).await?;
    row.map(|row| {
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string().into());
        let seq: i64 = row.try_get("seq")?;
        let size: i64 = row.try_get("tree_size")?;
        let frontier: String = row.try_get("frontier")?;
        Ok((
            StoredHead {
                seq: u64::try_from(seq).map_err(|e| corrupt(&e))?,
                hash: row.try_get("hash")?,
                seal: row.try_get("seal")?,
            },
            TreeState {
                size: u64::try_from(size).map_err(|e| corrupt(&e))?,
                frontier: serde_json::from_str(&frontier).map_err(|e| corrupt(&e))?,
            },
        ))
    })
    .transpose()
}

impl StoreTx {
    /// The tenant's chain head, locked until commit (created empty if the
    /// chain has none yet). Two gateways appending to one tenant serialise
    /// here.
    pub async fn lock_audit_head(&mut self, tenant: &TenantId) -> StoreResult<(StoredHead, TreeState)> {
        sqlx::query(
            "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(GENESIS_HASH)
        .execute(self.conn())
        .await?;
        let lock = self.backend().for_update();
        read_head(self.conn(), tenant, lock)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("audit head of `{tenant}` vanished").into()))
    }

    /// Appends an entry at once (the writer defers its entries to the
    /// group's flush).
    pub async fn insert_audit_entry(&mut self, record: &AuditRecord, hash: &str) -> StoreResult<()> {
        self.defer_audit_entry(record.clone(), hash.to_string(), None);
        self.flush().await
    }

    /// Erases a stored payload's body (its digest stays referenced by the
    /// chain); `true` if it was there and is now erased.
    pub async fn erase_audit_payload(
        &mut self,
        tenant: &TenantId,
        digest: &str,
        by: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE audit_payloads SET body = '', erased_at = $1, erased_by = $2
             WHERE tenant_id = $3 AND digest = $4 AND erased_at IS NULL",
        )
        .bind(now)
        .bind(by)
        .bind(tenant.as_str())
        .bind(digest)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves the tenant's head.
    pub async fn set_audit_head(
        &mut self,
        tenant: &TenantId,
        head: &StoredHead,
        tree: &TreeState,
    ) -> StoreResult<()> {
        let frontier =
            serde_json::to_string(&tree.frontier).map_err(|e| StoreError::Corrupt(e.to_string().into()))?;
        sqlx::query(
            "UPDATE audit_heads SET seq = $1, hash = $2, seal = $3, tree_size = $4, frontier = $5
             WHERE tenant_id = $6",
        )
        .bind(i64::try_from(head.seq).unwrap_or(i64::MAX))
        .bind(&head.hash)
        .bind(head.seal.clone())
        .bind(i64::try_from(tree.size).unwrap_or(i64::MAX))
        .bind(frontier)
        .bind(tenant.as_str())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// The tenant's recorded head, if it ever wrote an entry.
    pub async fn audit_head(&self, tenant: &TenantId) -> StoreResult<Option<StoredHead>> {
        Ok(read_head(self.pool(), tenant, "").await?.map(|(head, _)| head))
    }

    /// The largest `seq` among the tenant's entries, if it has any.
    pub async fn audit_last_seq(&self, tenant: &TenantId) -> StoreResult<Option<u64>> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_entries WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_one(self.pool())
            .await?;
        last.map(|seq| u64::try_from(seq).map_err(|e| StoreError::Corrupt(e.to_string().into()))).transpose()
    }

    /// The heads with entries and no seal, as `(tenant, head)`.
    pub async fn unsealed_audit_heads(&self) -> StoreResult<Vec<(TenantId, StoredHead)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, seq, hash FROM audit_heads WHERE seal IS NULL AND seq > 0 ORDER BY tenant_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let tenant = tenant_column(row)?;
                let seq: i64 = row.try_get("seq")?;
                let seq = u64::try_from(seq).map_err(|e| StoreError::Corrupt(e.to_string().into()))?;
                Ok((tenant, StoredHead { seq, hash: row.try_get("hash")?, seal: None }))
            })
            .collect()
    }

    /// Seals `tenant`'s head if it is still `head` and unsealed; `true` if
    /// it was.
    pub async fn seal_audit_head(
        &self,
        tenant: &TenantId,
        head: &StoredHead,
        seal: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE audit_heads SET seal = $1 WHERE tenant_id = $2 AND seq = $3 AND hash = $4 AND seal IS NULL",
        )
        .bind(seal)
        .bind(tenant.as_str())
        .bind(i64::try_from(head.seq).unwrap_or(i64::MAX))
        .bind(&head.hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The tenant's recorded head and tree state, if it ever wrote an entry.
    pub async fn audit_tree_state(&self, tenant: &TenantId) -> StoreResult<Option<(StoredHead, TreeState)>> {
        read_head(self.pool(), tenant, "").await
    }

    /// Entries of a tenant with `seq > after`, in order, at most `limit`;
    /// each entry decoded on its own, so verification can name a damaged one.
    pub async fn audit_entries_after(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<Result<AuditRow, UndecodableEntry>>> {
        self.audit_entries_between(tenant, after, u64::MAX, limit).await
    }

    /// Entries of a tenant with `after < seq <= upto`, in order, at most
    /// `limit`; each entry decoded on its own.
    ///
    /// The page is read as one JSON document (`SQLITE_PAGE`); when the
    /// database cannot build it (a column was damaged into something JSON
    /// cannot hold), the page is read again row by row.
    pub async fn audit_entries_between(
        &self,
        tenant: &TenantId,
        after: u64,
        upto: u64,
        limit: u32,
    ) -> StoreResult<Vec<Result<AuditRow, UndecodableEntry>>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let upto = i64::try_from(upto).unwrap_or(i64::MAX);
        let sql = match self.backend() {
            super::Backend::Sqlite => SQLITE_PAGE,
            super::Backend::Postgres => POSTGRES_PAGE,
        };
        let page: Result<Option<String>, StoreError> = sqlx::query_scalar(sql)
            .bind(tenant.as_str())
            .bind(after)
            .bind(upto)
            .bind(i64::from(limit))
            .fetch_one(self.pool())
            .await
            .map_err(StoreError::from);
        match page {
            Ok(None) => return Ok(Vec::new()),
            Ok(Some(text)) => {
                if let Ok(elements) = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(&text) {
                    let entries: Vec<_> = elements.into_iter().map(entry_from_json).collect();
                    if in_seq_order(&entries) {
                        return Ok(entries);
                    }
                }
            }
            Err(error @ StoreError::Unavailable(_)) => return Err(error),
            Err(_) => {}
        }
        let rows = sqlx::query(select_entries!(
            "WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"
        ))
        .bind(tenant.as_str())
        .bind(after)
        .bind(upto)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                entry_from_row(row).map_err(|e| UndecodableEntry {
                    seq: row.try_get::<i64, _>("seq").ok().and_then(|s| u64::try_from(s).ok()),
                    message: e.to_string(),
                })
            })
            .collect())
    }

    /// A tenant's entries matching `filter`, with `seq > after`, in order.
    pub async fn list_audit_entries(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        let text = |v: Option<&str>| v.unwrap_or("").to_string();
        let rows = sqlx::query(select_entries!(
            "WHERE tenant_id = $1 AND seq > $2
               AND ($3 = '' OR agent_id = $3) AND ($4 = '' OR verdict = $4) AND ($5 = '' OR stage = $5)
               AND ($6 = '' OR kind = $6) AND ($7 = '' OR intent_id = $7) AND ($8 = '' OR jti = $8)
               AND ts >= $9 AND ts < $10
             ORDER BY seq LIMIT $11"
        ))
        .bind(tenant.as_str())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(text(filter.agent_id.as_ref().map(|v| v.as_str())))
        .bind(text(filter.verdict.map(|v| v.as_str())))
        .bind(text(filter.stage.map(|v| v.as_str())))
        .bind(text(filter.kind.map(|v| v.as_str())))
        .bind(text(filter.intent_id.as_ref().map(|v| v.as_str())))
        .bind(text(filter.jti.as_deref()))
        .bind(filter.from.unwrap_or(Timestamp::MIN))
        .bind(filter.to.unwrap_or(Timestamp::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// A stored payload: `(body, erased_at, erased_by)`; the body is empty
    /// once erased.
    pub async fn get_audit_payload(
        &self,
        tenant: &TenantId,
        digest: &str,
    ) -> StoreResult<Option<(String, Option<Timestamp>, Option<String>)>> {
        let row = sqlx::query(
            "SELECT body, erased_at, erased_by FROM audit_payloads WHERE tenant_id = $1 AND digest = $2",
        )
        .bind(tenant.as_str())
        .bind(digest)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| Ok((row.try_get("body")?, row.try_get("erased_at")?, row.try_get("erased_by")?)))
            .transpose()
    }

    /// Entries recorded for one intent, in order.
    pub async fn intent_audit_entries(
        &self,
        tenant: &TenantId,
        intent: &IntentId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        let rows = sqlx::query(select_entries!(
            "WHERE tenant_id = $1 AND intent_id = $2 AND seq > $3 ORDER BY seq LIMIT $4"
        ))
        .bind(tenant.as_str())
        .bind(intent.as_str())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }
}
