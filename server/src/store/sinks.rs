//! What audit sinks have delivered, who sends for each, and what their
//! destinations refused (migration `0009_sink_delivery`).
//!
//! Delivery is an outbox: a sender reads a tenant's log forward from its
//! sink's cursor and moves the cursor only once the destination
//! acknowledged. One gateway sends for a sink at a time, holding its
//! lease; a cursor moves only under a lease that is still held, so a
//! gateway that lost its lease (paused, partitioned) cannot move it back
//! or forward behind the new holder.

use sqlx::Row;

use crate::clock::Timestamp;

use super::{Store, StoreResult, tenant_column};

/// How far a sink delivered a tenant's log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkCursor {
    /// Every entry up to this sequence number was acknowledged.
    pub seq: u64,
    /// The checkpoints up to this tree size were delivered.
    pub checkpoint_size: u64,
}

/// An entry a destination refused for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterRow {
    /// The sink.
    pub sink: String,
    /// The entry's tenant.
    pub tenant: lictor_api::ids::TenantId,
    /// Its sequence number.
    pub seq: u64,
    /// Its id.
    pub entry_id: String,
    /// The destination's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What it said.
    pub error: String,
    /// When it was refused.
    pub created_at: Timestamp,
    /// When an operator asked for it to be sent again.
    pub redriven_at: Option<Timestamp>,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Takes or renews `sink`'s lease for `holder` until `until`: answers
    /// whether `holder` holds it now (another holder's unexpired lease is
    /// left alone).
    pub async fn acquire_sink_lease(
        &self,
        sink: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "INSERT INTO sink_leases (sink, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (sink) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE sink_leases.holder = excluded.holder OR sink_leases.expires_at <= $4
             RETURNING holder",
        )
        .bind(sink)
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// Gives `sink`'s lease up, if `holder` holds it (a stopping gateway).
    pub async fn release_sink_lease(&self, sink: &str, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sink_leases WHERE sink = $1 AND holder = $2")
            .bind(sink)
            .bind(holder)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// How far `sink` delivered `tenant`'s log (nothing yet: zeros).
    pub async fn sink_cursor(
        &self,
        sink: &str,
        tenant: &lictor_api::ids::TenantId,
    ) -> StoreResult<SinkCursor> {
        let row =
            sqlx::query("SELECT seq, checkpoint_size FROM sink_cursors WHERE sink = $1 AND tenant_id = $2")
                .bind(sink)
                .bind(tenant.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(match row {
            Some(row) => SinkCursor {
                seq: to_u64(row.try_get("seq")?),
                checkpoint_size: to_u64(row.try_get("checkpoint_size")?),
            },
            None => SinkCursor::default(),
        })
    }

    /// Moves `sink`'s cursor for `tenant` forward to `cursor`, if `holder`
    /// still holds the sink's lease at `now`: answers whether it moved. A
    /// cursor never moves back (a smaller `seq` or `checkpoint_size` is
    /// kept at the larger).
    pub async fn advance_sink_cursor(
        &self,
        (sink, holder): (&str, &str),
        tenant: &lictor_api::ids::TenantId,
        cursor: SinkCursor,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let moved = sqlx::query(
            "INSERT INTO sink_cursors (sink, tenant_id, seq, checkpoint_size, updated_at)
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (
                 SELECT 1 FROM sink_leases WHERE sink = $1 AND holder = $6 AND expires_at > $5)
             ON CONFLICT (sink, tenant_id) DO UPDATE SET
                 seq = CASE WHEN excluded.seq > sink_cursors.seq THEN excluded.seq ELSE sink_cursors.seq END,
                 checkpoint_size = CASE WHEN excluded.checkpoint_size > sink_cursors.checkpoint_size
                     THEN excluded.checkpoint_size ELSE sink_cursors.checkpoint_size END,
                 updated_at = excluded.updated_at
             WHERE excluded.seq > sink_cursors.seq OR excluded.checkpoint_size > sink_cursors.checkpoint_size",
        )
        .bind(sink)
        .bind(tenant.as_str())
        .bind(to_i64(cursor.seq))
        .bind(to_i64(cursor.checkpoint_size))
        .bind(now)
        .bind(holder)
        .execute(self.pool())
        .await?;
        Ok(moved.rows_affected() > 0)
    }

    /// Records that `sink`'s destination refused entry `seq` of `tenant`
    /// for good (once; a second refusal of the same entry is ignored).
    pub async fn add_sink_dead_letter(&self, letter: &DeadLetterRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sink_dead_letters (sink, tenant_id, seq, entry_id, status, error, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&letter.sink)
        .bind(letter.tenant.as_str())
        .bind(to_i64(letter.seq))
        .bind(&letter.entry_id)
        .bind(letter.status.map(i32::from))
        .bind(&letter.error)
        .bind(letter.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `sink`'s dead letters, oldest first.
    pub async fn sink_dead_letters(&self, sink: &str) -> StoreResult<Vec<DeadLetterRow>> {
        let rows = sqlx::query(
            "SELECT sink, tenant_id, seq, entry_id, status, error, created_at, redriven_at
             FROM sink_dead_letters WHERE sink = $1 ORDER BY created_at, tenant_id, seq",
        )
        .bind(sink)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let status: Option<i32> = row.try_get("status")?;
                let redriven: Option<i64> = row.try_get("redriven_at")?;
                Ok(DeadLetterRow {
                    sink: row.try_get("sink")?,
                    tenant: tenant_column(row)?,
                    seq: to_u64(row.try_get("seq")?),
                    entry_id: row.try_get("entry_id")?,
                    status: status.and_then(|s| u16::try_from(s).ok()),
                    error: row.try_get("error")?,
                    created_at: Timestamp::from_micros(row.try_get("created_at")?),
                    redriven_at: redriven.map(Timestamp::from_micros),
                })
            })
            .collect()
    }

    /// Marks a dead letter to be sent again: answers whether there was one
    /// not yet marked.
    pub async fn redrive_sink_dead_letter(
        &self,
        sink: &str,
        tenant: &lictor_api::ids::TenantId,
        seq: u64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let marked = sqlx::query(
            "UPDATE sink_dead_letters SET redriven_at = $4
             WHERE sink = $1 AND tenant_id = $2 AND seq = $3 AND redriven_at IS NULL",
        )
        .bind(sink)
        .bind(tenant.as_str())
        .bind(to_i64(seq))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(marked.rows_affected() > 0)
    }
}
