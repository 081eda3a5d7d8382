//! The token buckets replicas share on PostgreSQL (`lictor_rate_take`,
//! migration 0008). SQLite keeps none: its gateway counts in memory
//! (`crate::rate_limit`).

use sqlx::Row;

use super::{Backend, Store, StoreError, StoreResult};

/// One bucket to charge: its scope, capacity and refill rate (tokens a
/// second).
#[derive(Clone, Debug, PartialEq)]
pub struct BucketCharge<'a> {
    /// `key:<id>`, `token:<root jti>`, `spent:<root jti>` (its revoked or
    /// expired descendants), `tenant:<id>` or `tenant-admin:<id>`.
    pub scope: &'a str,
    /// Capacity.
    pub burst: f64,
    /// Refill, tokens a second.
    pub rate: f64,
}

/// What the database answered: each bucket's tokens afterwards, in the
/// order given, and whether the cost was taken from both.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketsTaken {
    /// The tokens left in each bucket.
    pub left: [f64; 2],
    /// Whether both held the cost (and paid it).
    pub granted: bool,
}

impl Store {
    /// Takes `cost` from both buckets, or from neither, atomically across
    /// every replica (PostgreSQL only).
    pub async fn take_rate(&self, buckets: [&BucketCharge<'_>; 2], cost: f64) -> StoreResult<BucketsTaken> {
        if self.backend() != Backend::Postgres {
            return Err(StoreError::Database("shared rate buckets need PostgreSQL".to_string().into()));
        }
        // Locked in scope order (the function locks in argument order).
        let swapped = buckets[0].scope > buckets[1].scope;
        let [a, b] = if swapped { [buckets[1], buckets[0]] } else { buckets };
        // The statement's own transaction commits without waiting for its
        // WAL to reach the disk (`set_config(…, true)` lasts until that
        // commit): a bucket is advisory, and a durable commit per request
        // — each holding the bucket's row lock until its flush — made
        // every request of a credential wait for the one before it to be
        // flushed. A crash forgets at most the last moments' charges;
        // every later durable commit flushes these too.
        let row = sqlx::query(
            "SELECT t.left_a, t.left_b, t.granted
                   FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed,
                        lictor_rate_take($1, $2, $3, $4, $5, $6, $7) AS t",
        )
        .bind(a.scope)
        .bind(a.burst)
        .bind(a.rate)
        .bind(b.scope)
        .bind(b.burst)
        .bind(b.rate)
        .bind(cost)
        .fetch_one(self.pool())
        .await?;
        let left_a: f64 = row.try_get("left_a")?;
        let left_b: f64 = row.try_get("left_b")?;
        let granted: bool = row.try_get("granted")?;
        let left = if swapped { [left_b, left_a] } else { [left_a, left_b] };
        Ok(BucketsTaken { left, granted })
    }
}
