//! Gateway secrets: the superadmin key's hash and the signing keys.

use crate::clock::Timestamp;
use sqlx::Row;

use super::{Store, StoreError, StoreResult};

/// A signing key as stored.
#[derive(Clone, Debug)]
pub struct SigningKeyRow {
    /// Key id.
    pub kid: String,
    /// What it signs (`token-hmac`, `checkpoint-ed25519`).
    pub purpose: String,
    /// 1 for the first key of a purpose, +1 per rotation.
    pub generation: i64,
    /// Secret material (base64url).
    pub secret: String,
    /// Public half, for asymmetric keys (base64url).
    pub public_key: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
}

fn key_from_row(row: &sqlx::any::AnyRow) -> StoreResult<SigningKeyRow> {
    Ok(SigningKeyRow {
        kid: row.try_get("kid")?,
        purpose: row.try_get("purpose")?,
        generation: row.try_get("generation")?,
        secret: row.try_get("secret")?,
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

    /// The newest key of `purpose`, creating generation 1 with `generate`
    /// if there is none. Safe when several replicas start at once: one
    /// insert wins and every replica reads the winner.
    pub async fn ensure_signing_key(
        &self,
        purpose: &str,
        generate: impl FnOnce() -> (String, String, Option<String>),
        now: Timestamp,
    ) -> StoreResult<SigningKeyRow> {
        if let Some(row) = self.latest_signing_key(purpose).await? {
            return Ok(row);
        }
        let (kid, secret, public_key) = generate();
        sqlx::query(
            "INSERT INTO signing_keys (kid, purpose, generation, secret, public_key, created_at)
             VALUES ($1, $2, 1, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&kid)
        .bind(purpose)
        .bind(&secret)
        .bind(public_key)
        .bind(now)
        .execute(self.pool())
        .await?;
        self.latest_signing_key(purpose).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("signing key `{purpose}` vanished after insert").into())
        })
    }

    /// Every generation of `purpose`, oldest first.
    pub async fn signing_keys(&self, purpose: &str) -> StoreResult<Vec<SigningKeyRow>> {
        let rows = sqlx::query(
            "SELECT kid, purpose, generation, secret, public_key, created_at FROM signing_keys
             WHERE purpose = $1 ORDER BY generation",
        )
        .bind(purpose)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Adds the next generation of `purpose` (retrying if another process
    /// rotates at the same moment).
    pub async fn add_signing_key_generation(
        &self,
        purpose: &str,
        kid: &str,
        secret: &str,
        public_key: Option<String>,
        now: Timestamp,
    ) -> StoreResult<SigningKeyRow> {
        for _ in 0..5 {
            let next: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(MAX(generation), 0) + 1 AS BIGINT) FROM signing_keys WHERE purpose = $1",
            )
            .bind(purpose)
            .fetch_one(self.pool())
            .await?;
            let inserted = sqlx::query(
                "INSERT INTO signing_keys (kid, purpose, generation, secret, public_key, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(kid)
            .bind(purpose)
            .bind(next)
            .bind(secret)
            .bind(public_key.clone())
            .bind(now)
            .execute(self.pool())
            .await?;
            if inserted.rows_affected() == 1 {
                return self.latest_signing_key(purpose).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!("signing key `{purpose}` vanished after insert").into())
                });
            }
        }
        Err(StoreError::Unavailable(format!("could not rotate `{purpose}`: too much contention").into()))
    }

    async fn latest_signing_key(&self, purpose: &str) -> StoreResult<Option<SigningKeyRow>> {
        let row = sqlx::query(
            "SELECT kid, purpose, generation, secret, public_key, created_at FROM signing_keys
             WHERE purpose = $1 ORDER BY generation DESC LIMIT 1",
        )
        .bind(purpose)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }
}
