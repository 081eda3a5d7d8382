//! The audit log's Merkle tree nodes and signed checkpoints.

use std::collections::HashMap;

use lictor_api::ids::TenantId;
use sqlx::Row;

use super::{Store, StoreError, StoreResult, StoreTx, corrupt};
use crate::audit::merkle::{Hash, NodeId};
use crate::clock::Timestamp;

/// Nodes per read of stored tree nodes.
const NODES_PER_READ: usize = 200;

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Decodes a stored 32-byte hash.
pub fn decode_hash(text: &str) -> StoreResult<Hash> {
    let bytes = hex::decode(text).map_err(corrupt)?;
    bytes.try_into().map_err(|_| StoreError::Corrupt(format!("`{text}` is not a 32-byte hash").into()))
}

/// A stored checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRow {
    /// Tenant.
    pub tenant: TenantId,
    /// Entries covered.
    pub tree_size: u64,
    /// Root hash (hex).
    pub root_hash: String,
    /// When it was signed.
    pub created_at: Timestamp,
    /// The signing key's id (8 hex digits).
    pub key_id: String,
    /// The signed note.
    pub note: String,
}

fn checkpoint_from_row(row: &sqlx::any::AnyRow) -> StoreResult<CheckpointRow> {
    let tenant: String = row.try_get("tenant_id")?;
    let size: i64 = row.try_get("tree_size")?;
    Ok(CheckpointRow {
        tenant: TenantId::parse(tenant).map_err(corrupt)?,
        tree_size: u64::try_from(size).map_err(corrupt)?,
        root_hash: row.try_get("root_hash")?,
        created_at: row.try_get("created_at")?,
        key_id: row.try_get("key_id")?,
        note: row.try_get("note")?,
    })
}

/// A tenant whose tree has grown since its last checkpoint.
#[derive(Clone, Debug)]
pub struct UncheckpointedTree {
    /// Tenant.
    pub tenant: TenantId,
    /// The tree's size now.
    pub tree_size: u64,
    /// Its frontier (hex, largest first).
    pub frontier: Vec<String>,
    /// The last checkpoint's size (0 if none).
    pub checkpointed_size: u64,
    /// When the last checkpoint was signed (µs; 0 if none).
    pub checkpointed_at: Timestamp,
}

impl StoreTx {
    /// Stores tree nodes (a node already stored keeps its hash).
    pub async fn insert_tree_nodes(
        &mut self,
        tenant: &TenantId,
        nodes: &[(NodeId, Hash)],
    ) -> StoreResult<()> {
        for chunk in super::deferred::chunks(nodes) {
            let sql = format!(
                "INSERT INTO audit_tree (tenant_id, level, idx, hash) VALUES {} ON CONFLICT DO NOTHING",
                super::deferred::placeholders(self.backend(), chunk.len(), 4)
            );
            // Only placeholders are formatted in; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (node, hash) in chunk {
                query = query
                    .bind(tenant.as_str())
                    .bind(i64::from(node.level))
                    .bind(to_i64(node.index))
                    .bind(hex::encode(hash));
            }
            query.execute(self.conn()).await?;
        }
        Ok(())
    }

    /// Entry hashes with `after < seq <= until`, in order, at most `limit`.
    pub async fn audit_entry_hashes(
        &mut self,
        tenant: &TenantId,
        after: u64,
        until: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, String)>> {
        let rows = sqlx::query(
            "SELECT seq, hash FROM audit_entries WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(to_i64(after))
        .bind(to_i64(until))
        .bind(i64::from(limit))
        .fetch_all(self.conn())
        .await?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq")?;
                Ok((u64::try_from(seq).map_err(corrupt)?, row.try_get("hash")?))
            })
            .collect()
    }
}

impl Store {
    /// The stored hashes of `nodes` (missing ones are absent from the map).
    pub async fn tree_nodes(
        &self,
        tenant: &TenantId,
        nodes: &[NodeId],
    ) -> StoreResult<HashMap<NodeId, Hash>> {
        let mut found = HashMap::with_capacity(nodes.len());
        for chunk in nodes.chunks(NODES_PER_READ) {
            let conditions: Vec<String> = (0..chunk.len())
                .map(|i| format!("(level = ${} AND idx = ${})", 2 * i + 2, 2 * i + 3))
                .collect();
            let sql = format!(
                "SELECT level, idx, hash FROM audit_tree WHERE tenant_id = $1 AND ({})",
                conditions.join(" OR ")
            );
            // Only numbered placeholders are formatted in; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
            for node in chunk {
                query = query.bind(i64::from(node.level)).bind(to_i64(node.index));
            }
            for row in query.fetch_all(self.pool()).await? {
                let level: i64 = row.try_get("level")?;
                let index: i64 = row.try_get("idx")?;
                let hash: String = row.try_get("hash")?;
                let node = NodeId {
                    level: u32::try_from(level).map_err(corrupt)?,
                    index: u64::try_from(index).map_err(corrupt)?,
                };
                found.insert(node, decode_hash(&hash)?);
            }
        }
        Ok(found)
    }

    /// Stores a checkpoint; `false` if one of that size exists already (a
    /// replica signed it first).
    pub async fn insert_checkpoint(&self, row: &CheckpointRow) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO audit_checkpoints (tenant_id, tree_size, root_hash, created_at, key_id, note)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(row.tenant.as_str())
        .bind(to_i64(row.tree_size))
        .bind(&row.root_hash)
        .bind(row.created_at)
        .bind(&row.key_id)
        .bind(&row.note)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A tenant's checkpoints, largest first, below `before` (a size).
    pub async fn list_checkpoints(
        &self,
        tenant: &TenantId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<CheckpointRow>> {
        let rows = sqlx::query(
            "SELECT tenant_id, tree_size, root_hash, created_at, key_id, note FROM audit_checkpoints
             WHERE tenant_id = $1 AND tree_size < $2 ORDER BY tree_size DESC LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(before.map(to_i64).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    /// A tenant's checkpoints of more than `after` entries, smallest first.
    pub async fn checkpoints_after(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<CheckpointRow>> {
        let rows = sqlx::query(
            "SELECT tenant_id, tree_size, root_hash, created_at, key_id, note FROM audit_checkpoints
             WHERE tenant_id = $1 AND tree_size > $2 ORDER BY tree_size LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(to_i64(after))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    /// A tenant's checkpoint of exactly `tree_size` entries.
    pub async fn get_checkpoint(
        &self,
        tenant: &TenantId,
        tree_size: u64,
    ) -> StoreResult<Option<CheckpointRow>> {
        let row = sqlx::query(
            "SELECT tenant_id, tree_size, root_hash, created_at, key_id, note FROM audit_checkpoints
             WHERE tenant_id = $1 AND tree_size = $2",
        )
        .bind(tenant.as_str())
        .bind(to_i64(tree_size))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    /// Tenants whose tree grew since their last checkpoint.
    pub async fn uncheckpointed_trees(&self) -> StoreResult<Vec<UncheckpointedTree>> {
        let rows = sqlx::query(
            "SELECT h.tenant_id, h.tree_size, h.frontier,
                    COALESCE(c.size, 0) AS checkpointed_size, COALESCE(c.at, 0) AS checkpointed_at
             FROM audit_heads h
             LEFT JOIN (SELECT tenant_id, MAX(tree_size) AS size, MAX(created_at) AS at
                        FROM audit_checkpoints GROUP BY tenant_id) c ON c.tenant_id = h.tenant_id
             WHERE h.tree_size > COALESCE(c.size, 0)",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let tenant: String = row.try_get("tenant_id")?;
                let size: i64 = row.try_get("tree_size")?;
                let frontier: String = row.try_get("frontier")?;
                let checkpointed: i64 = row.try_get("checkpointed_size")?;
                Ok(UncheckpointedTree {
                    tenant: TenantId::parse(tenant).map_err(corrupt)?,
                    tree_size: u64::try_from(size).map_err(corrupt)?,
                    frontier: serde_json::from_str(&frontier).map_err(corrupt)?,
                    checkpointed_size: u64::try_from(checkpointed).map_err(corrupt)?,
                    checkpointed_at: row.try_get("checkpointed_at")?,
                })
            })
            .collect()
    }

    /// Tenants whose tree does not yet cover their whole chain (entries
    /// written before the tree existed).
    pub async fn trees_behind(&self) -> StoreResult<Vec<TenantId>> {
        let tenants: Vec<String> =
            sqlx::query_scalar("SELECT tenant_id FROM audit_heads WHERE tree_size < seq ORDER BY tenant_id")
                .fetch_all(self.pool())
                .await?;
        tenants.into_iter().map(|t| TenantId::parse(t).map_err(corrupt)).collect()
    }
}
