//! Rows a group commit writes together.
//!
//! The audit writer records many decisions in one transaction. Each one
//! used to insert its intent, its audit entry and payload, and update its
//! budget and token counters with statements of its own; every statement is
//! a round trip (on SQLite a hand-off to the driver's worker thread and
//! back), and at 64 decisions a transaction those round trips, not SQLite,
//! were the commit's cost. The transaction now keeps those rows and writes
//! each kind with multi-row statements when it is flushed: before it
//! commits, and before anything that reads them (see [`StoreTx::flush`]).
//!
//! Reads the writer makes inside the transaction still see its own writes:
//! budget and token usage add the counts kept here to what the store
//! holds, and an idempotency key claimed earlier in the transaction is a
//! duplicate of that claim.

use std::collections::{BTreeMap, HashMap};

use lictor_api::ids::{AgentId, TenantId};
use lictor_offline::audit::{AuditRecord, canonical_string, person_document};

use super::{
    Backend, BudgetUsage, DecidedIntent, IdempotencyRecord, StoreError, StoreResult, StoreTx, TokenUsage,
    corrupt,
};
use crate::clock::Timestamp;

/// Rows per statement, largest first: a group is written with as few
/// statements as these sizes allow, and each size is one prepared
/// statement the connection keeps (a size per group would prepare a new
/// statement for almost every commit).
const CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// The lengths a looked-up list of idempotency keys is padded to.
const KEY_LIST_SIZES: [usize; 3] = [8, 64, 512];

/// What a transaction will write when flushed.
#[derive(Default)]
pub(crate) struct Deferred {
    intents: Vec<DecidedIntent>,
    entries: Vec<(AuditRecord, String)>,
    payloads: BTreeMap<(TenantId, String), String>,
    /// Decisions and exposure per (tenant, agent, minute).
    budget: BTreeMap<(TenantId, AgentId, i64), (i64, f64)>,
    /// Usage the store held when first read, per (tenant, agent, first minute).
    budget_read: HashMap<(TenantId, AgentId, i64), BudgetUsage>,
    /// Calls and cents per (tenant, scope), calls per (tenant, scope, minute).
    token_totals: BTreeMap<(TenantId, String), (i64, i64)>,
    token_rate: BTreeMap<(TenantId, String, i64), i64>,
    token_read: HashMap<(TenantId, String, i64), TokenUsage>,
    /// Keys claimed in this transaction.
    keys: Vec<(TenantId, IdempotencyRecord, Timestamp)>,
    /// Keys looked up ahead, per tenant: the stored record, or `None` when
    /// the key was unused then.
    known_keys: HashMap<(TenantId, String), Option<IdempotencyRecord>>,
}

impl Deferred {
    fn is_empty(&self) -> bool {
        self.intents.is_empty()
            && self.entries.is_empty()
            && self.payloads.is_empty()
            && self.budget.is_empty()
            && self.token_totals.is_empty()
            && self.token_rate.is_empty()
            && self.keys.is_empty()
    }
}

/// `n` rows of `columns` placeholders each: numbered on PostgreSQL,
/// anonymous `?` on SQLite. (The SQLite driver looks up each numbered
/// parameter's name, and SQLite finds a name by scanning the statement's
/// list of names: with a thousand parameters that scan was a third of a
/// group commit's CPU.)
pub(super) fn placeholders(backend: Backend, n: usize, columns: usize) -> String {
    let mut out = String::with_capacity(n * columns * 5);
    for row in 0..n {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            match backend {
                Backend::Sqlite => out.push('?'),
                Backend::Postgres => {
                    out.push('$');
                    out.push_str(&(row * columns + column + 1).to_string());
                }
            }
        }
        out.push(')');
    }
    out
}

/// Splits `rows` into runs of the sizes in [`CHUNKS`].
pub(super) fn chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNKS.iter().copied().find(|size| *size <= rows.len())?;
        let (head, tail) = rows.split_at(size);
        rows = tail;
        Some(head)
    })
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl StoreTx {
    /// Keeps a decided intent's row for the next flush.
    pub(crate) fn defer_decided_intent(&mut self, intent: DecidedIntent) {
        self.deferred.intents.push(intent);
    }

    /// Keeps an audit entry (and its payload) for the next flush.
    pub(crate) fn defer_audit_entry(
        &mut self,
        record: AuditRecord,
        hash: String,
        payload: Option<(String, String)>,
    ) {
        if let Some((digest, body)) = payload {
            self.deferred.payloads.entry((record.tenant.clone(), digest)).or_insert(body);
        }
        self.deferred.entries.push((record, hash));
    }

    /// Budget usage in buckets `>= first_minute`, with this transaction's
    /// charges (the store is read once per transaction and key).
    pub async fn budget_usage(
        &mut self,
        tenant: &TenantId,
        agent: &AgentId,
        first_minute: i64,
    ) -> StoreResult<BudgetUsage> {
        let key = (tenant.clone(), agent.clone(), first_minute);
        let stored = match self.deferred.budget_read.get(&key) {
            Some(usage) => *usage,
            None => {
                let usage = super::budget::read_usage(self.conn(), tenant, agent, first_minute).await?;
                self.deferred.budget_read.insert(key, usage);
                usage
            }
        };
        let (mut decisions, mut exposure_usd) = (stored.decisions, stored.exposure_usd);
        for ((t, a, minute), (n, usd)) in &self.deferred.budget {
            if t == tenant && a == agent && *minute >= first_minute {
                decisions += u64::try_from(*n).unwrap_or(0);
                exposure_usd += usd;
            }
        }
        Ok(BudgetUsage { decisions, exposure_usd })
    }

    /// Adds one decision and `exposure_usd` to the agent's bucket `minute`.
    pub fn charge_budget(&mut self, tenant: &TenantId, agent: &AgentId, minute: i64, exposure_usd: f64) {
        let entry = self.deferred.budget.entry((tenant.clone(), agent.clone(), minute)).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += exposure_usd;
    }

    /// Usage under a token scope, with this transaction's charges.
    pub async fn token_usage(
        &mut self,
        tenant: &TenantId,
        scope_jti: &str,
        minute: i64,
    ) -> StoreResult<TokenUsage> {
        let key = (tenant.clone(), scope_jti.to_string(), minute);
        let stored = match self.deferred.token_read.get(&key) {
            Some(usage) => *usage,
            None => {
                let usage = super::tokens::read_usage(self.conn(), tenant, scope_jti, minute).await?;
                self.deferred.token_read.insert(key.clone(), usage);
                usage
            }
        };
        let (calls, cents) =
            self.deferred.token_totals.get(&(key.0.clone(), key.1.clone())).copied().unwrap_or((0, 0));
        let this_minute = self.deferred.token_rate.get(&key).copied().unwrap_or(0);
        let add = |a: u64, b: i64| a.saturating_add(u64::try_from(b).unwrap_or(0));
        Ok(TokenUsage {
            calls: add(stored.calls, calls),
            cents: add(stored.cents, cents),
            calls_this_minute: add(stored.calls_this_minute, this_minute),
        })
    }

    /// Counts one allowed call of `cents` under a scope.
    pub fn charge_token(&mut self, tenant: &TenantId, scope_jti: &str, cents: u64, minute: i64) {
        let totals =
            self.deferred.token_totals.entry((tenant.clone(), scope_jti.to_string())).or_insert((0, 0));
        totals.0 += 1;
        totals.1 = totals.1.saturating_add(to_i64(cents));
        *self.deferred.token_rate.entry((tenant.clone(), scope_jti.to_string(), minute)).or_insert(0) += 1;
    }

    /// Looks up a tenant's idempotency keys in one query, so that claiming
    /// each of them in this transaction needs no statement of its own.
    pub async fn prefetch_idempotency(&mut self, tenant: &TenantId, keys: &[&str]) -> StoreResult<()> {
        for chunk in keys.chunks(KEY_LIST_SIZES[KEY_LIST_SIZES.len() - 1]) {
            // The list is padded (with its first key) to one of a few sizes,
            // so the statement is one of a few prepared ones, not one per
            // group size crowding the writer's others out of the cache.
            let size =
                KEY_LIST_SIZES.iter().copied().find(|size| *size >= chunk.len()).unwrap_or(chunk.len());
            // One row of placeholders: the tenant, then the keys.
            let list = placeholders(self.backend(), 1, size + 1);
            let (tenant_slot, slots) = list.trim_matches(['(', ')']).split_once(", ").unwrap_or_default();
            let sql = format!(
                "SELECT key, request_hash, intent_id FROM idempotency_keys WHERE tenant_id = {tenant_slot} AND key IN ({slots})"
            );
            // Only placeholders are formatted in; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
            let padding = chunk.first().map(|first| std::iter::repeat_n(*first, size - chunk.len()));
            for key in chunk.iter().copied().chain(padding.into_iter().flatten()) {
                query = query.bind(key);
            }
            let rows = query.fetch_all(self.conn()).await?;
            for key in chunk {
                self.deferred.known_keys.insert((tenant.clone(), (*key).to_string()), None);
            }
            for row in &rows {
                let record = super::intents::idempotency_from_row(row)?;
                self.deferred.known_keys.insert((tenant.clone(), record.key.clone()), Some(record));
            }
        }
        Ok(())
    }

    /// Claims `record`'s key for this transaction, or answers the record
    /// that already holds it. `None` when the key was not looked up ahead.
    pub(crate) fn claim_prefetched(
        &mut self,
        tenant: &TenantId,
        record: &IdempotencyRecord,
        now: Timestamp,
    ) -> Option<Option<IdempotencyRecord>> {
        if let Some((_, claimed, _)) =
            self.deferred.keys.iter().find(|(t, claimed, _)| t == tenant && claimed.key == record.key)
        {
            return Some(Some(claimed.clone()));
        }
        match self.deferred.known_keys.get(&(tenant.clone(), record.key.clone()))? {
            Some(stored) => Some(Some(stored.clone())),
            None => {
                self.deferred.keys.push((tenant.clone(), record.clone(), now));
                Some(None)
            }
        }
    }

    /// Writes everything kept for this transaction. Called before it
    /// commits, and by the writer before work that reads these tables.
    pub async fn flush(&mut self) -> StoreResult<()> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        let deferred = std::mem::take(&mut self.deferred);
        self.flush_intents(&deferred.intents).await?;
        self.flush_entries(&deferred.entries).await?;
        let payloads: Vec<_> = deferred.payloads.iter().collect();
        for chunk in chunks(&payloads) {
            let sql = format!(
                "INSERT INTO audit_payloads (tenant_id, digest, body) VALUES {} ON CONFLICT DO NOTHING",
                placeholders(self.backend(), chunk.len(), 3)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((tenant, digest), body) in chunk {
                query = query.bind(tenant.as_str()).bind(digest.as_str()).bind(body.as_str());
            }
            query.execute(self.conn()).await?;
        }
        let budget: Vec<_> = deferred.budget.iter().collect();
        for chunk in chunks(&budget) {
            let sql = format!(
                "INSERT INTO budget_usage (tenant_id, agent_id, minute, decisions, exposure_usd) VALUES {}
                 ON CONFLICT (tenant_id, agent_id, minute) DO UPDATE
                 SET decisions = budget_usage.decisions + excluded.decisions,
                     exposure_usd = budget_usage.exposure_usd + excluded.exposure_usd",
                placeholders(self.backend(), chunk.len(), 5)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((tenant, agent, minute), (decisions, usd)) in chunk {
                query = query
                    .bind(tenant.as_str())
                    .bind(agent.as_str())
                    .bind(*minute)
                    .bind(*decisions)
                    .bind(*usd);
            }
            query.execute(self.conn()).await?;
        }
        let totals: Vec<_> = deferred.token_totals.iter().collect();
        for chunk in chunks(&totals) {
            let sql = format!(
                "INSERT INTO token_usage (tenant_id, scope_jti, calls, cents) VALUES {}
                 ON CONFLICT (tenant_id, scope_jti) DO UPDATE
                 SET calls = token_usage.calls + excluded.calls, cents = token_usage.cents + excluded.cents",
                placeholders(self.backend(), chunk.len(), 4)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((tenant, scope), (calls, cents)) in chunk {
                query = query.bind(tenant.as_str()).bind(scope.as_str()).bind(*calls).bind(*cents);
            }
            query.execute(self.conn()).await?;
        }
        let rate: Vec<_> = deferred.token_rate.iter().collect();
        for chunk in chunks(&rate) {
            let sql = format!(
                "INSERT INTO token_rate (tenant_id, scope_jti, minute, calls) VALUES {}
                 ON CONFLICT (tenant_id, scope_jti, minute) DO UPDATE SET calls = token_rate.calls + excluded.calls",
                placeholders(self.backend(), chunk.len(), 4)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((tenant, scope, minute), calls) in chunk {
                query = query.bind(tenant.as_str()).bind(scope.as_str()).bind(*minute).bind(*calls);
            }
            query.execute(self.conn()).await?;
        }
        for chunk in chunks(&deferred.keys) {
            let sql = format!(
                "INSERT INTO idempotency_keys (tenant_id, key, request_hash, intent_id, created_at) VALUES {}
                 ON CONFLICT DO NOTHING",
                placeholders(self.backend(), chunk.len(), 5)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (tenant, record, now) in chunk {
                query = query
                    .bind(tenant.as_str())
                    .bind(record.key.as_str())
                    .bind(record.request_hash.as_str())
                    .bind(record.intent_id.as_str())
                    .bind(*now);
            }
            let inserted = query.execute(self.conn()).await?.rows_affected();
            if inserted != chunk.len() as u64 {
                // Another gateway claimed one of them after it was looked
                // up: the writer retries each job alone, which claims its key
                // with a statement of its own and answers the duplicate.
                return Err(StoreError::Conflict("an idempotency key was claimed concurrently".into()));
            }
        }
        Ok(())
    }

    async fn flush_intents(&mut self, intents: &[DecidedIntent]) -> StoreResult<()> {
        for chunk in chunks(intents) {
            let sql = format!(
                "INSERT INTO intents (id, tenant_id, agent_id, credential, bound_agent_id, environment, action_type,
                     verb, status, verdict, would_be_verdict, request, decision, policy_input, created_at,
                     decided_at, callback_url, callback_state, callback_next_at, policy_verdict)
                 VALUES {}",
                placeholders(self.backend(), chunk.len(), 20)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for intent in chunk {
                let callback_state = intent.callback_url.as_ref().map(|_| "pending");
                let callback_next_at = intent.callback_url.as_ref().map(|_| intent.decided_at);
                query = query
                    .bind(intent.id.as_str())
                    .bind(intent.tenant.as_str())
                    .bind(intent.agent_id.as_str())
                    .bind(intent.credential.as_str())
                    .bind(intent.bound_agent_id.as_ref().map(|a| a.as_str().to_string()))
                    .bind(intent.environment.as_str())
                    .bind(intent.action_type.as_str())
                    .bind(intent.verb.as_str())
                    .bind("decided")
                    .bind(intent.verdict.as_str())
                    .bind(intent.would_be_verdict.map(|v| v.as_str().to_string()))
                    .bind(intent.request_json.as_str())
                    .bind(intent.decision_json.as_str())
                    .bind(intent.policy_input_json.as_str())
                    .bind(intent.created_at)
                    .bind(intent.decided_at)
                    .bind(intent.callback_url.clone())
                    .bind(callback_state)
                    .bind(callback_next_at)
                    .bind(intent.policy_verdict.map(|v| v.as_str().to_string()));
            }
            query.execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn flush_entries(&mut self, entries: &[(AuditRecord, String)]) -> StoreResult<()> {
        for chunk in chunks(entries) {
            let sql = format!(
                "INSERT INTO audit_entries (version, entry_id, tenant_id, seq, ts, kind, intent_id, agent_id,
                     environment, enforced, verdict, stage, reasons, bundle_hash, input_digest, payload_digest,
                     principal, person, jti, tool, approval_id, outcome, prev_hash, hash)
                 VALUES {}",
                placeholders(self.backend(), chunk.len(), 24)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (record, hash) in chunk {
                let reasons = serde_json::to_string(&record.reasons).map_err(corrupt)?;
                // The hashed form of the person, so that the column reads
                // back to the same record.
                let person = record.person.as_ref().map(|p| canonical_string(&person_document(p)));
                query = query
                    .bind(i64::from(record.version))
                    .bind(record.entry_id.as_str())
                    .bind(record.tenant.as_str())
                    .bind(to_i64(record.seq))
                    .bind(record.ts)
                    .bind(record.kind.as_str())
                    .bind(record.intent_id.as_ref().map(|v| v.as_str().to_string()))
                    .bind(record.agent_id.as_ref().map(|v| v.as_str().to_string()))
                    .bind(record.environment.map(|v| v.as_str().to_string()))
                    .bind(record.enforced.map(i64::from))
                    .bind(record.verdict.map(|v| v.as_str().to_string()))
                    .bind(record.stage.map(|v| v.as_str().to_string()))
                    .bind(reasons)
                    .bind(record.bundle_hash.clone())
                    .bind(record.input_digest.clone())
                    .bind(record.payload_digest.clone())
                    .bind(record.principal.clone())
                    .bind(person)
                    .bind(record.jti.clone())
                    .bind(record.tool.clone())
                    .bind(record.approval_id.clone())
                    .bind(record.outcome.clone())
                    .bind(record.prev_hash.as_str())
                    .bind(hash.as_str());
            }
            query.execute(self.conn()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::{Store, StoreConfig};

    async fn store(dir: &tempfile::TempDir) -> Store {
        let config = StoreConfig {
            database_url: None,
            data_dir: dir.path().to_path_buf(),
            lock_timeout: Duration::from_millis(500),
            max_connections: 2,
        };
        Store::open(&config).await.unwrap()
    }

    /// What a group commit defers, its own later reads still see: before
    /// the flush, after it, and once committed.
    #[tokio::test]
    async fn a_transaction_reads_its_own_deferred_counts() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let (tenant, agent) = (TenantId::parse("acme").unwrap(), AgentId::parse("agent-1").unwrap());
        let usage = |decisions, exposure_usd| BudgetUsage { decisions, exposure_usd };

        let mut tx = store.begin().await.unwrap();
        tx.charge_budget(&tenant, &agent, 10, 1.5);
        tx.charge_budget(&tenant, &agent, 10, 2.0);
        tx.charge_budget(&tenant, &agent, 12, 1.0);
        assert_eq!(tx.budget_usage(&tenant, &agent, 0).await.unwrap(), usage(3, 4.5));
        assert_eq!(tx.budget_usage(&tenant, &agent, 11).await.unwrap(), usage(1, 1.0));
        tx.charge_token(&tenant, "jti-1", 7, 10);
        tx.charge_token(&tenant, "jti-1", 3, 11);
        let tokens = tx.token_usage(&tenant, "jti-1", 11).await.unwrap();
        assert_eq!(tokens, TokenUsage { calls: 2, cents: 10, calls_this_minute: 1 });
        tx.flush().await.unwrap();
        assert_eq!(tx.budget_usage(&tenant, &agent, 0).await.unwrap(), usage(3, 4.5));
        tx.charge_budget(&tenant, &agent, 12, 1.0);
        tx.charge_token(&tenant, "jti-1", 5, 11);
        assert_eq!(tx.budget_usage(&tenant, &agent, 0).await.unwrap(), usage(4, 5.5));
        let tokens = tx.token_usage(&tenant, "jti-1", 11).await.unwrap();
        assert_eq!(tokens, TokenUsage { calls: 3, cents: 15, calls_this_minute: 2 });
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.budget_usage(&tenant, &agent, 0).await.unwrap(), usage(4, 5.5));
        assert_eq!(tx.budget_usage(&tenant, &agent, 12).await.unwrap(), usage(2, 2.0));
        let tokens = tx.token_usage(&tenant, "jti-1", 10).await.unwrap();
        assert_eq!(tokens, TokenUsage { calls: 3, cents: 15, calls_this_minute: 1 });
    }

    /// A key claimed earlier in the group is a duplicate of that claim; a
    /// key someone else stored after it was looked up fails the flush
    /// (the writer then retries each job alone) instead of being lost.
    #[tokio::test]
    async fn idempotency_keys_claimed_in_a_group_stay_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let tenant = TenantId::parse("acme").unwrap();
        let record = |key: &str| IdempotencyRecord {
            key: key.into(),
            request_hash: format!("hash-{key}"),
            intent_id: crate::ids::intent_id(),
        };
        let now = Timestamp::now();
        let (first, again) = (record("k1"), record("k1"));

        let mut tx = store.begin().await.unwrap();
        tx.prefetch_idempotency(&tenant, &["k1", "k2"]).await.unwrap();
        assert_eq!(tx.claim_idempotency(&tenant, &first, now).await.unwrap(), None);
        assert_eq!(tx.claim_idempotency(&tenant, &again, now).await.unwrap(), Some(first.clone()));
        // A key not looked up ahead is claimed with a statement of its own.
        assert_eq!(tx.claim_idempotency(&tenant, &record("k3"), now).await.unwrap(), None);
        tx.commit().await.unwrap();
        assert_eq!(store.find_idempotency(&tenant, "k1").await.unwrap(), Some(first.clone()));
        assert!(store.find_idempotency(&tenant, "k3").await.unwrap().is_some());

        let mut tx = store.begin().await.unwrap();
        tx.prefetch_idempotency(&tenant, &["k1", "k4"]).await.unwrap();
        assert_eq!(tx.claim_idempotency(&tenant, &again, now).await.unwrap(), Some(first));
        // Another gateway stores k4 after it was looked up.
        sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, intent_id, created_at)
             VALUES ('acme', 'k4', 'other', 'int_other', 0)",
        )
        .execute(tx.conn())
        .await
        .unwrap();
        assert_eq!(tx.claim_idempotency(&tenant, &record("k4"), now).await.unwrap(), None);
        assert!(matches!(tx.flush().await, Err(StoreError::Conflict(_))));
        drop(tx);

        // More keys than one padded list holds: each is looked up.
        let many: Vec<String> = (0..600).map(|n| format!("m{n}")).collect();
        let mut tx = store.begin().await.unwrap();
        let mut keys: Vec<&str> = many.iter().map(String::as_str).collect();
        keys.push("k1");
        tx.prefetch_idempotency(&tenant, &keys).await.unwrap();
        assert_eq!(
            tx.claim_prefetched(&tenant, &again, now),
            Some(Some(record_of_k1(&store, &tenant).await))
        );
        assert_eq!(tx.claim_prefetched(&tenant, &record("m599"), now), Some(None));
    }

    async fn record_of_k1(store: &Store, tenant: &TenantId) -> IdempotencyRecord {
        store.find_idempotency(tenant, "k1").await.unwrap().unwrap()
    }

    #[test]
    fn groups_are_split_into_the_fixed_sizes() {
        let rows: Vec<u32> = (0..150).collect();
        let sizes: Vec<usize> = chunks(&rows).map(<[u32]>::len).collect();
        assert_eq!(sizes, [64, 64, 16, 4, 1, 1]);
        assert_eq!(chunks(&rows).flatten().copied().collect::<Vec<_>>(), rows);
        assert_eq!(chunks::<u32>(&[]).count(), 0);
    }

    #[test]
    fn placeholders_number_every_column_of_every_row() {
        assert_eq!(placeholders(Backend::Postgres, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }
}
