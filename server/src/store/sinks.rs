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

use lictor_api::ids::TenantId;

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
    pub async fn sink_cursor(&self, sink: &str, tenant: &TenantId) -> StoreResult<SinkCursor> {
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

    /// Moves `sink`'s cursor for `tenant` forward to `cursor`, counting
    /// `delivered` events, if `holder` still holds the sink's lease at
    /// `now`: answers whether it moved. A cursor never moves back (a
    /// smaller `seq` or `checkpoint_size` is kept at the larger).
    pub async fn advance_sink_cursor(
        &self,
        (sink, holder): (&str, &str),
        tenant: &TenantId,
        (cursor, delivered): (SinkCursor, u64),
        now: Timestamp,
    ) -> StoreResult<bool> {
        let moved = sqlx::query(
            "INSERT INTO sink_cursors (sink, tenant_id, seq, checkpoint_size, updated_at, delivered, last_success_at)
             SELECT $1, $2, $3, $4, $5, $7, $5 WHERE EXISTS (
                 SELECT 1 FROM sink_leases WHERE sink = $1 AND holder = $6 AND expires_at > $5)
             ON CONFLICT (sink, tenant_id) DO UPDATE SET
                 seq = CASE WHEN excluded.seq > sink_cursors.seq THEN excluded.seq ELSE sink_cursors.seq END,
                 checkpoint_size = CASE WHEN excluded.checkpoint_size > sink_cursors.checkpoint_size
                     THEN excluded.checkpoint_size ELSE sink_cursors.checkpoint_size END,
                 updated_at = excluded.updated_at,
                 delivered = sink_cursors.delivered + excluded.delivered,
                 last_success_at = excluded.last_success_at
             WHERE excluded.seq > sink_cursors.seq OR excluded.checkpoint_size > sink_cursors.checkpoint_size",
        )
        .bind(sink)
        .bind(tenant.as_str())
        .bind(to_i64(cursor.seq))
        .bind(to_i64(cursor.checkpoint_size))
        .bind(now)
        .bind(holder)
        .bind(to_i64(delivered))
        .execute(self.pool())
        .await?;
        Ok(moved.rows_affected() > 0)
    }

    /// Records that `sink`'s destination refused an event of `tenant` for
    /// good (once per event; a second refusal of the same one is ignored).
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
        rows.iter().map(dead_letter_from_row).collect()
    }

    /// `tenant`'s dead letters of `sink` past `after`, by `seq`, at most
    /// `limit`.
    pub async fn tenant_dead_letters(
        &self,
        sink: &str,
        tenant: &TenantId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<DeadLetterRow>> {
        let rows = sqlx::query(
            "SELECT sink, tenant_id, seq, entry_id, status, error, created_at, redriven_at
             FROM sink_dead_letters WHERE sink = $1 AND tenant_id = $2 AND seq > $3 ORDER BY seq, entry_id LIMIT $4",
        )
        .bind(sink)
        .bind(tenant.as_str())
        .bind(to_i64(after))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(dead_letter_from_row).collect()
    }
}

impl Store {
    /// The tenants `sink` has something to send for (entries or checkpoints
    /// past its cursor), with where it stands: every tenant, or only
    /// `only`.
    pub async fn sink_backlog(&self, sink: &str, only: Option<&TenantId>) -> StoreResult<Vec<SinkStatusRow>> {
        let mut rows = self.sink_status(sink, only).await?;
        rows.retain(|r| r.head > r.cursor.seq || r.checkpointed > r.cursor.checkpoint_size);
        Ok(rows)
    }

    /// Starts `sink`'s cursors at every tenant's current head (only `only`'s,
    /// when given) where it has none yet: a new notification channel alerts
    /// on what happens from now on, not on the history. Never moves an
    /// existing cursor.
    pub async fn start_sink_at_heads(
        &self,
        sink: &str,
        only: Option<&TenantId>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sink_cursors (sink, tenant_id, seq, checkpoint_size, updated_at)
             SELECT $1, h.tenant_id, h.seq,
                    COALESCE((SELECT MAX(k.tree_size) FROM audit_checkpoints k WHERE k.tenant_id = h.tenant_id), 0), $3
             FROM audit_heads h WHERE ($2 IS NULL OR h.tenant_id = $2)
             ON CONFLICT (sink, tenant_id) DO NOTHING",
        )
        .bind(sink)
        .bind(only.map(TenantId::as_str))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Counts a failed delivery attempt of `sink` for `tenant`, with what
    /// went wrong.
    pub async fn record_sink_failure(
        &self,
        sink: &str,
        tenant: &TenantId,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sink_cursors (sink, tenant_id, seq, checkpoint_size, updated_at, failed, last_error, last_error_at)
             VALUES ($1, $2, 0, 0, $4, 1, $3, $4)
             ON CONFLICT (sink, tenant_id) DO UPDATE SET
                 failed = sink_cursors.failed + 1, last_error = excluded.last_error,
                 last_error_at = excluded.last_error_at",
        )
        .bind(sink)
        .bind(tenant.as_str())
        .bind(error)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// How `sink` delivers each tenant's log (only `only`'s, when given),
    /// with each tenant's head and the time of the oldest entry not
    /// delivered.
    pub async fn sink_status(&self, sink: &str, only: Option<&TenantId>) -> StoreResult<Vec<SinkStatusRow>> {
        let rows = sqlx::query(
            "SELECT h.tenant_id, h.seq AS head, COALESCE(c.seq, 0) AS seq,
                    COALESCE(c.checkpoint_size, 0) AS checkpoint_size,
                    COALESCE(c.delivered, 0) AS delivered, COALESCE(c.failed, 0) AS failed,
                    (SELECT MAX(k.tree_size) FROM audit_checkpoints k WHERE k.tenant_id = h.tenant_id) AS checkpointed,
                    c.last_success_at, c.last_error, c.last_error_at,
                    (SELECT e.ts FROM audit_entries e WHERE e.tenant_id = h.tenant_id
                        AND e.seq = COALESCE(c.seq, 0) + 1) AS oldest_pending,
                    (SELECT COUNT(*) FROM sink_dead_letters d WHERE d.sink = $1 AND d.tenant_id = h.tenant_id)
                        AS dead_letters
             FROM audit_heads h LEFT JOIN sink_cursors c ON c.sink = $1 AND c.tenant_id = h.tenant_id
             WHERE ($2 IS NULL OR h.tenant_id = $2)
             ORDER BY h.tenant_id",
        )
        .bind(sink)
        .bind(only.map(TenantId::as_str))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let success: Option<i64> = row.try_get("last_success_at")?;
                let error_at: Option<i64> = row.try_get("last_error_at")?;
                let pending: Option<i64> = row.try_get("oldest_pending")?;
                let error: Option<String> = row.try_get("last_error")?;
                let checkpointed: Option<i64> = row.try_get("checkpointed")?;
                Ok(SinkStatusRow {
                    tenant: tenant_column(row)?,
                    head: to_u64(row.try_get("head")?),
                    cursor: SinkCursor {
                        seq: to_u64(row.try_get("seq")?),
                        checkpoint_size: to_u64(row.try_get("checkpoint_size")?),
                    },
                    checkpointed: checkpointed.map_or(0, to_u64),
                    delivered: to_u64(row.try_get("delivered")?),
                    failed: to_u64(row.try_get("failed")?),
                    last_success_at: success.map(Timestamp::from_micros),
                    last_error: error.zip(error_at.map(Timestamp::from_micros)),
                    oldest_pending: pending.map(Timestamp::from_micros),
                    dead_letters: to_u64(row.try_get("dead_letters")?),
                })
            })
            .collect()
    }

    /// Dead letters of `sink` an operator asked to send again, oldest
    /// first, at most `limit`.
    pub async fn redriven_dead_letters(
        &self,
        sink: &str,
        limit: u32,
    ) -> StoreResult<Vec<(TenantId, u64, String)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, seq, entry_id FROM sink_dead_letters
             WHERE sink = $1 AND redriven_at IS NOT NULL ORDER BY redriven_at, tenant_id, seq LIMIT $2",
        )
        .bind(sink)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((tenant_column(row)?, to_u64(row.try_get("seq")?), row.try_get("entry_id")?)))
            .collect()
    }

    /// Settles a redriven dead letter (`event` its event id): delivered
    /// (`refusal` `None`), it is gone; refused again, it stays, with the new
    /// refusal and no longer marked.
    pub async fn settle_dead_letter(
        &self,
        sink: &str,
        (tenant, event): (&TenantId, &str),
        refusal: Option<(Option<u16>, &str)>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let query = match refusal {
            None => sqlx::query(
                "DELETE FROM sink_dead_letters WHERE sink = $1 AND tenant_id = $2 AND entry_id = $3",
            )
            .bind(sink)
            .bind(tenant.as_str())
            .bind(event),
            Some((status, error)) => sqlx::query(
                "UPDATE sink_dead_letters SET redriven_at = NULL, status = $4, error = $5, created_at = $6
                 WHERE sink = $1 AND tenant_id = $2 AND entry_id = $3",
            )
            .bind(sink)
            .bind(tenant.as_str())
            .bind(event)
            .bind(status.map(i32::from))
            .bind(error)
            .bind(now),
        };
        query.execute(self.pool()).await?;
        Ok(())
    }
}

/// How a sink delivers one tenant's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkStatusRow {
    /// The tenant.
    pub tenant: TenantId,
    /// Its log's last `seq`.
    pub head: u64,
    /// How far the sink delivered it.
    pub cursor: SinkCursor,
    /// Its largest checkpoint's size.
    pub checkpointed: u64,
    /// Events acknowledged.
    pub delivered: u64,
    /// Failed attempts.
    pub failed: u64,
    /// The last acknowledged batch.
    pub last_success_at: Option<Timestamp>,
    /// The last failure and when.
    pub last_error: Option<(String, Timestamp)>,
    /// When the oldest entry not delivered was written.
    pub oldest_pending: Option<Timestamp>,
    /// Dead letters of this tenant.
    pub dead_letters: u64,
}

fn dead_letter_from_row(row: &sqlx::any::AnyRow) -> StoreResult<DeadLetterRow> {
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
}
