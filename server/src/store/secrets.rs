//! Gateway secrets: the superadmin key's hash and the signing keys.

use crate::clock::Timestamp;
use sqlx::Row;

use super::{Store, StoreError, StoreResult};

/// A signing key as the store knows it: its id, never its secret.
#[derive(Clone, Debug)]
pub struct KeyIdRow {
    /// Key id.
    pub kid: String,
    /// What it signs (`token-hmac`, `checkpoint-ed25519`).
    pub purpose: String,
    /// 1 for the first key of a purpose, +1 per rotation.
    pub generation: i64,
    /// Public half, for asymmetric keys (base64url).
    pub public_key: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A secret an earlier version kept in the store, to be moved out.
#[derive(Clone, Debug)]
pub struct LegacySecret {
    /// Key id.
    pub kid: String,
    /// What it signs.
    pub purpose: String,
    /// The secret (base64url).
    pub secret: String,
    /// Creation time.
    pub created_at: Timestamp,
}

fn key_id_from_row(row: &sqlx::any::AnyRow) -> StoreResult<KeyIdRow> {
    Ok(KeyIdRow {
        kid: row.try_get("kid")?,
        purpose: row.try_get("purpose")?,
        generation: row.try_get("generation")?,
        public_key: row.try_get("public_key")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Whether a generated superadmin key was ever stored.
    pub async fn admin_key_count(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM admin_keys").fetch_one(self.pool()).await?)
    }

    /// Stores a superadmin key's hash.
    pub async fn insert_admin_key(&self, id: &str, key_hash: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query("INSERT INTO admin_keys (id, key_hash, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(key_hash)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Replaces every stored superadmin key with one new key's hash, in one
    /// transaction: the earlier keys stop working on the next request.
    pub async fn replace_admin_keys(&self, id: &str, key_hash: &str, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM admin_keys").execute(tx.conn()).await?;
        sqlx::query("INSERT INTO admin_keys (id, key_hash, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(key_hash)
            .bind(now)
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }

    /// Whether `key_hash` is a stored superadmin key.
    pub async fn admin_key_matches(&self, key_hash: &str) -> StoreResult<bool> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM admin_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(self.pool())
            .await?;
        Ok(found.is_some())
    }

    /// Every signing key id, by purpose, oldest first.
    pub async fn key_ids(&self) -> StoreResult<Vec<KeyIdRow>> {
        let rows = sqlx::query(
            "SELECT kid, purpose, generation, public_key, created_at FROM key_ids ORDER BY purpose, generation",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(key_id_from_row).collect()
    }

    /// Records `kid` as the next generation of `purpose` (retrying if
    /// another process records one at the same moment); a key already
    /// recorded is answered as it is.
    pub async fn add_key_id(
        &self,
        purpose: &str,
        kid: &str,
        public_key: Option<String>,
        created_at: Timestamp,
    ) -> StoreResult<KeyIdRow> {
        for _ in 0..5 {
            if let Some(row) = self.key_id(kid).await? {
                return Ok(row);
            }
            let next: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(MAX(generation), 0) + 1 AS BIGINT) FROM key_ids WHERE purpose = $1",
            )
            .bind(purpose)
            .fetch_one(self.pool())
            .await?;
            sqlx::query(
                "INSERT INTO key_ids (kid, purpose, generation, public_key, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(kid)
            .bind(purpose)
            .bind(next)
            .bind(public_key.clone())
            .bind(created_at)
            .execute(self.pool())
            .await?;
        }
        self.key_id(kid).await?.ok_or_else(|| {
            StoreError::Unavailable(format!("could not record key `{kid}`: too much contention").into())
        })
    }

    async fn key_id(&self, kid: &str) -> StoreResult<Option<KeyIdRow>> {
        let row = sqlx::query(
            "SELECT kid, purpose, generation, public_key, created_at FROM key_ids WHERE kid = $1",
        )
        .bind(kid)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(key_id_from_row).transpose()
    }

    /// Secrets an earlier version kept in the store, oldest first.
    pub async fn legacy_signing_secrets(&self) -> StoreResult<Vec<LegacySecret>> {
        let rows = sqlx::query(
            "SELECT kid, purpose, secret, created_at FROM signing_keys ORDER BY purpose, generation",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LegacySecret {
                    kid: row.try_get("kid")?,
                    purpose: row.try_get("purpose")?,
                    secret: row.try_get("secret")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Forgets the secrets an earlier version kept (once they are in the
    /// key file).
    pub async fn drop_legacy_signing_secrets(&self) -> StoreResult<()> {
        sqlx::query("DELETE FROM signing_keys").execute(self.pool()).await?;
        Ok(())
    }
}
