//! Integrations configured through the API (migration `0011_integrations`)
//! and what notification channels have said (`notification_state`).

use lictor_api::ids::TenantId;
use lictor_api::integrations::{IntegrationId, IntegrationName};
use sqlx::Row;

use super::{Store, StoreResult, StoreTx, corrupt, tenant_column};
use crate::clock::Timestamp;

/// A stored integration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegrationRow {
    /// Its id (`itg_…`).
    pub id: IntegrationId,
    /// The owning tenant.
    pub tenant: TenantId,
    /// Its name.
    pub name: IntegrationName,
    /// `sink` or `channel`.
    pub category: String,
    /// The kind (`splunk`, `slack`, …).
    pub kind: String,
    /// Whether it runs.
    pub enabled: bool,
    /// The settings' JSON, without secrets.
    pub settings: String,
    /// The secrets, sealed (`crate::integrations::seal`).
    pub sealed: String,
    /// Made.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// The columns every query below reads, in order.
macro_rules! columns {
    () => {
        "id, tenant_id, name, category, kind, enabled, settings, sealed, created_at, updated_at"
    };
}

fn integration_from_row(row: &sqlx::any::AnyRow) -> StoreResult<IntegrationRow> {
    let enabled: i64 = row.try_get("enabled")?;
    Ok(IntegrationRow {
        id: IntegrationId::parse(row.try_get::<String, _>("id")?).map_err(corrupt)?,
        tenant: tenant_column(row)?,
        name: IntegrationName::parse(row.try_get::<String, _>("name")?).map_err(corrupt)?,
        category: row.try_get("category")?,
        kind: row.try_get("kind")?,
        enabled: enabled != 0,
        settings: row.try_get("settings")?,
        sealed: row.try_get("sealed")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// What a channel has said about one kind of alert for one tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotificationState {
    /// When it last alerted.
    pub sent_at: Option<Timestamp>,
    /// When it last saw an occurrence.
    pub last_seen_at: Option<Timestamp>,
    /// Occurrences since the last alert, not yet said.
    pub suppressed: u64,
    /// Whether an alert is open (not yet resolved).
    pub open: bool,
    /// How far the channel has looked (approval expiries).
    pub watermark: Option<Timestamp>,
    /// What the open alert said (for its resolution).
    pub detail: Option<String>,
}

impl Store {
    /// A tenant's integrations, by id.
    pub async fn list_integrations(&self, tenant: &TenantId) -> StoreResult<Vec<IntegrationRow>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM integrations WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(tenant.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(integration_from_row).collect()
    }

    /// Every tenant's integrations (the runtime starts the enabled ones).
    pub async fn all_integrations(&self) -> StoreResult<Vec<IntegrationRow>> {
        let rows = sqlx::query(concat!("SELECT ", columns!(), " FROM integrations ORDER BY id"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(integration_from_row).collect()
    }

    /// One of a tenant's integrations.
    pub async fn get_integration(
        &self,
        tenant: &TenantId,
        id: &IntegrationId,
    ) -> StoreResult<Option<IntegrationRow>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM integrations WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(integration_from_row).transpose()
    }

    /// What `channel` has said about `alert` for `tenant`.
    pub async fn notification_state(
        &self,
        channel: &str,
        tenant: &TenantId,
        alert: &str,
    ) -> StoreResult<NotificationState> {
        let row = sqlx::query(
            "SELECT sent_at, last_seen_at, suppressed, is_open, watermark, detail FROM notification_state
             WHERE channel = $1 AND tenant_id = $2 AND alert = $3",
        )
        .bind(channel)
        .bind(tenant.as_str())
        .bind(alert)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(NotificationState::default()) };
        let at = |column: &str| -> StoreResult<Option<Timestamp>> {
            Ok(row.try_get::<Option<i64>, _>(column)?.map(Timestamp::from_micros))
        };
        let suppressed: i64 = row.try_get("suppressed")?;
        let open: i64 = row.try_get("is_open")?;
        Ok(NotificationState {
            sent_at: at("sent_at")?,
            last_seen_at: at("last_seen_at")?,
            suppressed: u64::try_from(suppressed).unwrap_or(0),
            open: open != 0,
            watermark: at("watermark")?,
            detail: row.try_get("detail")?,
        })
    }

    /// Records what `channel` has said about `alert` for `tenant`.
    pub async fn set_notification_state(
        &self,
        channel: &str,
        tenant: &TenantId,
        alert: &str,
        state: &NotificationState,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO notification_state
                 (channel, tenant_id, alert, sent_at, last_seen_at, suppressed, is_open, watermark, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (channel, tenant_id, alert) DO UPDATE SET
                 sent_at = excluded.sent_at, last_seen_at = excluded.last_seen_at,
                 suppressed = excluded.suppressed, is_open = excluded.is_open,
                 watermark = excluded.watermark, detail = excluded.detail",
        )
        .bind(channel)
        .bind(tenant.as_str())
        .bind(alert)
        .bind(state.sent_at.map(Timestamp::micros))
        .bind(state.last_seen_at.map(Timestamp::micros))
        .bind(i64::try_from(state.suppressed).unwrap_or(i64::MAX))
        .bind(i64::from(state.open))
        .bind(state.watermark.map(Timestamp::micros))
        .bind(state.detail.as_deref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The alerts of `channel` still open, by tenant.
    pub async fn open_notifications(&self, channel: &str) -> StoreResult<Vec<(TenantId, String)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, alert FROM notification_state
             WHERE channel = $1 AND tenant_id <> '*' AND (is_open = 1 OR suppressed > 0)
             ORDER BY tenant_id, alert",
        )
        .bind(channel)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok((tenant_column(row)?, row.try_get("alert")?))).collect()
    }
}

impl Store {
    /// How far `channel` has looked for expired approvals.
    pub async fn notification_watermark(&self, channel: &str) -> StoreResult<Option<Timestamp>> {
        let at: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT watermark FROM notification_state WHERE channel = $1 AND tenant_id = '*' AND alert = 'watermark'",
        )
        .bind(channel)
        .fetch_optional(self.pool())
        .await?;
        Ok(at.flatten().map(Timestamp::from_micros))
    }

    /// Records how far `channel` has looked for expired approvals.
    pub async fn set_notification_watermark(&self, channel: &str, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO notification_state (channel, tenant_id, alert, watermark) VALUES ($1, '*', 'watermark', $2)
             ON CONFLICT (channel, tenant_id, alert) DO UPDATE SET watermark = excluded.watermark",
        )
        .bind(channel)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

impl StoreTx {
    /// Adds an integration; [`super::StoreError::Duplicate`] if the tenant
    /// has one of that name.
    pub async fn insert_integration(&mut self, row: &IntegrationRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO integrations (id, tenant_id, name, category, kind, enabled, settings, sealed, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(row.id.as_str())
        .bind(row.tenant.as_str())
        .bind(row.name.as_str())
        .bind(&row.category)
        .bind(&row.kind)
        .bind(i64::from(row.enabled))
        .bind(&row.settings)
        .bind(&row.sealed)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Replaces an integration's settings and state; `false` if it does
    /// not exist.
    pub async fn update_integration(&mut self, row: &IntegrationRow) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE integrations SET enabled = $3, settings = $4, sealed = $5, updated_at = $6
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(row.tenant.as_str())
        .bind(row.id.as_str())
        .bind(i64::from(row.enabled))
        .bind(&row.settings)
        .bind(&row.sealed)
        .bind(row.updated_at)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes an integration with its delivery state; `false` if it did
    /// not exist.
    pub async fn delete_integration(&mut self, tenant: &TenantId, id: &IntegrationId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM integrations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        for statement in [
            "DELETE FROM sink_cursors WHERE sink = $1",
            "DELETE FROM sink_dead_letters WHERE sink = $1",
            "DELETE FROM sink_leases WHERE sink = $1",
            "DELETE FROM notification_state WHERE channel = $1",
        ] {
            sqlx::query(statement).bind(id.as_str()).execute(self.conn()).await?;
        }
        Ok(true)
    }

    /// Marks `tenant`'s dead letters of `sink` (only `seq`, when given) to
    /// be sent again: answers how many.
    pub async fn redrive_dead_letters(
        &mut self,
        sink: &str,
        tenant: &TenantId,
        seq: Option<u64>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE sink_dead_letters SET redriven_at = $4
             WHERE sink = $1 AND tenant_id = $2 AND ($3 IS NULL OR seq = $3) AND redriven_at IS NULL",
        )
        .bind(sink)
        .bind(tenant.as_str())
        .bind(seq.map(|s| i64::try_from(s).unwrap_or(i64::MAX)))
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected())
    }
}

/// An approval request that expired undecided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedOutApproval {
    /// Its tenant.
    pub tenant: TenantId,
    /// Its id.
    pub id: String,
    /// The agent that asked.
    pub agent_id: String,
    /// What for (`<action type>.<verb>`, or the tool).
    pub action: String,
    /// When it expired.
    pub expires_at: Timestamp,
}

impl Store {
    /// Approval requests still pending whose deadline fell in `(after,
    /// upto]`, of `only` or of every tenant, oldest first, at most `limit`.
    pub async fn approvals_timed_out(
        &self,
        only: Option<&TenantId>,
        (after, upto): (Timestamp, Timestamp),
        limit: u32,
    ) -> StoreResult<Vec<TimedOutApproval>> {
        let rows = sqlx::query(
            "SELECT tenant_id, id, agent_id, action_type, verb, tool, expires_at FROM approvals
             WHERE status = 'pending' AND expires_at > $1 AND expires_at <= $2 AND ($3 IS NULL OR tenant_id = $3)
             ORDER BY expires_at, id LIMIT $4",
        )
        .bind(after)
        .bind(upto)
        .bind(only.map(TenantId::as_str))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let tool: Option<String> = row.try_get("tool")?;
                let action_type: String = row.try_get("action_type")?;
                let verb: String = row.try_get("verb")?;
                Ok(TimedOutApproval {
                    tenant: tenant_column(row)?,
                    id: row.try_get("id")?,
                    agent_id: row.try_get("agent_id")?,
                    action: tool.unwrap_or_else(|| format!("{action_type}.{verb}")),
                    expires_at: row.try_get("expires_at")?,
                })
            })
            .collect()
    }

    /// Gives up every sink lease `holder` holds (a stopping gateway).
    pub async fn release_sink_leases_of(&self, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sink_leases WHERE holder = $1").bind(holder).execute(self.pool()).await?;
        Ok(())
    }
}
