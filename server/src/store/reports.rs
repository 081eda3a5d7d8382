//! What the governance reports read: aggregates computed by the database,
//! so a report holds its answer, never the tables it summarises.

use futures::{Stream, StreamExt};
use lictor_api::ids::TenantId;
use sqlx::Row;

use super::{Store, StoreError, StoreResult, corrupt};
use crate::clock::Timestamp;

/// Discovered agents seen in a range, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostureCounts {
    /// Seen in the range.
    pub discovered: u64,
    /// Of them, linked.
    pub governed: u64,
    /// By status.
    pub unreviewed: u64,
    /// By status.
    pub sanctioned: u64,
    /// By status.
    pub unsanctioned: u64,
    /// By status.
    pub ignored: u64,
    /// Not ignored, without an owner.
    pub without_owner: u64,
    /// Not ignored, attestation past due.
    pub overdue: u64,
}

/// A service used by ungoverned, unsanctioned or unreviewed agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceUseRow {
    /// The service id.
    pub service: String,
    /// Its name as first seen.
    pub service_name: String,
    /// Agents.
    pub agents: u64,
    /// Their requests.
    pub requests: u64,
    /// Latest use.
    pub last_seen: Timestamp,
}

/// One credential row of the access register, before it is joined with
/// agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRow {
    /// `api_key` or `token`.
    pub kind: &'static str,
    /// The agent it is bound to (`None`: an agent key bound to none).
    pub agent_id: Option<String>,
    /// Key id or jti.
    pub id: String,
    /// The key's environment.
    pub environment: Option<String>,
    /// The token's caveats (JSON).
    pub caveats: Option<String>,
    /// Issued.
    pub issued_at: Timestamp,
    /// Expires.
    pub expires_at: Option<Timestamp>,
    /// Revoked.
    pub revoked_at: Option<Timestamp>,
}

/// One group of decisions of the activity report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityGroup {
    /// The bucket's index (`ts / bucket`).
    pub bucket: i64,
    /// Verdict.
    pub verdict: Option<String>,
    /// Stage.
    pub stage: Option<String>,
    /// Agent.
    pub agent_id: Option<String>,
    /// Tool.
    pub tool: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Decisions.
    pub decisions: u64,
}

fn count(row: &sqlx::any::AnyRow, column: &str) -> StoreResult<u64> {
    let value: Option<i64> = row.try_get(column)?;
    u64::try_from(value.unwrap_or(0)).map_err(corrupt)
}

/// `ts` per bucket, as the activity report groups it (a constant of the
/// SQL, never a parameter: PostgreSQL groups by the same expression only
/// when it is written the same).
pub fn bucket_micros(hour: bool) -> i64 {
    if hour { 3_600_000_000 } else { 86_400_000_000 }
}

impl Store {
    /// Discovered agents seen in `[from, to)`, counted; an attestation is
    /// overdue when made (or, never made, the agent discovered) before
    /// `overdue_before`.
    pub async fn posture_counts(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
        overdue_before: Timestamp,
    ) -> StoreResult<PostureCounts> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS discovered,
                SUM(CASE WHEN agent_id IS NOT NULL THEN 1 ELSE 0 END) AS governed,
                SUM(CASE WHEN status = 'unreviewed' THEN 1 ELSE 0 END) AS unreviewed,
                SUM(CASE WHEN status = 'sanctioned' THEN 1 ELSE 0 END) AS sanctioned,
                SUM(CASE WHEN status = 'unsanctioned' THEN 1 ELSE 0 END) AS unsanctioned,
                SUM(CASE WHEN status = 'ignored' THEN 1 ELSE 0 END) AS ignored,
                SUM(CASE WHEN status <> 'ignored' AND owner IS NULL THEN 1 ELSE 0 END) AS without_owner,
                SUM(CASE WHEN status <> 'ignored' AND COALESCE(attested_at, created_at) < $4 THEN 1 ELSE 0 END)
                    AS overdue
             FROM discovered_agents WHERE tenant_id = $1 AND last_seen >= $2 AND first_seen < $3",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .bind(overdue_before)
        .fetch_one(self.pool())
        .await?;
        Ok(PostureCounts {
            discovered: count(&row, "discovered")?,
            governed: count(&row, "governed")?,
            unreviewed: count(&row, "unreviewed")?,
            sanctioned: count(&row, "sanctioned")?,
            unsanctioned: count(&row, "unsanctioned")?,
            ignored: count(&row, "ignored")?,
            without_owner: count(&row, "without_owner")?,
            overdue: count(&row, "overdue")?,
        })
    }

    /// Services used in `[from, to)` by ungoverned agents that are
    /// unsanctioned or unreviewed, most agents first (at most `limit`).
    pub async fn unsanctioned_services(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ServiceUseRow>> {
        let rows = sqlx::query(
            "SELECT service, MAX(service_name) AS service_name, COUNT(*) AS agents,
                CAST(SUM(requests) AS BIGINT) AS requests, MAX(last_seen) AS last_seen
             FROM discovered_agents
             WHERE tenant_id = $1 AND last_seen >= $2 AND first_seen < $3 AND agent_id IS NULL
                AND status IN ('unsanctioned', 'unreviewed')
             GROUP BY service ORDER BY COUNT(*) DESC, service LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ServiceUseRow {
                    service: row.try_get("service")?,
                    service_name: row.try_get("service_name")?,
                    agents: count(row, "agents")?,
                    requests: count(row, "requests")?,
                    last_seen: row.try_get("last_seen")?,
                })
            })
            .collect()
    }

    /// How many discovered agents were first seen (`governed`: how many of
    /// today's governed agents were linked) before `start`, and per day
    /// (days since the epoch) in `[start, end)`.
    pub async fn posture_days(
        &self,
        tenant: &TenantId,
        governed: bool,
        start: Timestamp,
        end: Timestamp,
    ) -> StoreResult<(u64, Vec<(i64, u64)>)> {
        let column = if governed { "governed_at" } else { "first_seen" };
        let before: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM discovered_agents WHERE tenant_id = $1 AND {column} < $2"
        )))
        .bind(tenant.as_str())
        .bind(start)
        .fetch_one(self.pool())
        .await?;
        let day = bucket_micros(false);
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {column} / {day} AS day, COUNT(*) AS n FROM discovered_agents
             WHERE tenant_id = $1 AND {column} >= $2 AND {column} < $3 GROUP BY 1 ORDER BY 1"
        )))
        .bind(tenant.as_str())
        .bind(start)
        .bind(end)
        .fetch_all(self.pool())
        .await?;
        let days = rows
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>("day")?, count(row, "n")?)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((u64::try_from(before).map_err(corrupt)?, days))
    }

    /// The tenant's agent credentials: keys of role `agent` (bound or not)
    /// and tokens still valid at `from`.
    pub async fn agent_credentials(
        &self,
        tenant: &TenantId,
        from: Timestamp,
    ) -> StoreResult<Vec<CredentialRow>> {
        let keys = sqlx::query(
            "SELECT id, agent_id, environment, created_at, revoked_at FROM api_keys
             WHERE tenant_id = $1 AND role = 'agent' AND (revoked_at IS NULL OR revoked_at >= $2)
             ORDER BY id",
        )
        .bind(tenant.as_str())
        .bind(from)
        .fetch_all(self.pool())
        .await?;
        let tokens = sqlx::query(
            "SELECT t.jti, t.subject, t.issued_at, t.expires_at, t.caveats, r.revoked_at FROM tokens t
             LEFT JOIN token_revocations r ON r.tenant_id = t.tenant_id AND r.jti = t.jti
             WHERE t.tenant_id = $1 AND t.expires_at >= $2 ORDER BY t.jti",
        )
        .bind(tenant.as_str())
        .bind(from)
        .fetch_all(self.pool())
        .await?;
        let mut rows = Vec::with_capacity(keys.len() + tokens.len());
        for key in &keys {
            rows.push(CredentialRow {
                kind: "api_key",
                agent_id: key.try_get("agent_id")?,
                id: key.try_get("id")?,
                environment: key.try_get("environment")?,
                caveats: None,
                issued_at: key.try_get("created_at")?,
                expires_at: None,
                revoked_at: key.try_get("revoked_at")?,
            });
        }
        for token in &tokens {
            rows.push(CredentialRow {
                kind: "token",
                agent_id: token.try_get("subject")?,
                id: token.try_get("jti")?,
                environment: Some("live".into()),
                caveats: token.try_get("caveats")?,
                issued_at: token.try_get("issued_at")?,
                expires_at: token.try_get("expires_at")?,
                revoked_at: token.try_get("revoked_at")?,
            });
        }
        Ok(rows)
    }

    /// The latest decision of each principal (`key:<id>`, `token:<jti>`) in
    /// `[from, to)`.
    pub async fn last_decisions(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<std::collections::HashMap<String, Timestamp>> {
        let rows = sqlx::query(
            "SELECT principal, MAX(ts) AS last FROM audit_entries
             WHERE tenant_id = $1 AND kind = 'decision' AND ts >= $2 AND ts < $3 AND principal IS NOT NULL
             GROUP BY principal",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok((row.try_get("principal")?, row.try_get("last")?))).collect()
    }

    /// The tenant's registered agents: id, name, owner, status, by id.
    pub async fn agent_summaries(
        &self,
        tenant: &TenantId,
    ) -> StoreResult<Vec<(String, String, String, String)>> {
        let rows = sqlx::query("SELECT id, name, owner, status FROM agents WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant.as_str())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok((row.try_get("id")?, row.try_get("name")?, row.try_get("owner")?, row.try_get("status")?))
            })
            .collect()
    }

    /// The discovered agents linked to each registered agent.
    pub async fn discovered_links(&self, tenant: &TenantId) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT agent_id, id FROM discovered_agents WHERE tenant_id = $1 AND agent_id IS NOT NULL ORDER BY id",
        )
        .bind(tenant.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok((row.try_get("agent_id")?, row.try_get("id")?))).collect()
    }

    /// Decision entries in `[from, to)`, by verdict.
    pub async fn decisions_by_verdict(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<(Option<String>, u64)>> {
        let rows = sqlx::query(
            "SELECT verdict, COUNT(*) AS n FROM audit_entries
             WHERE tenant_id = $1 AND kind = 'decision' AND ts >= $2 AND ts < $3 GROUP BY verdict ORDER BY verdict",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok((row.try_get("verdict")?, count(row, "n")?))).collect()
    }

    /// Decision entries in `[from, to)`, grouped by bucket, verdict, stage,
    /// agent, tool and environment, in that order, as the database yields
    /// them (a stream: the groups are never all held).
    pub fn activity_groups(
        &self,
        tenant: TenantId,
        hour: bool,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Stream<Item = StoreResult<ActivityGroup>> + Send + 'static {
        let pool = self.pool().clone();
        let bucket = bucket_micros(hour);
        async_stream(move |sender| async move {
            let sql = format!(
                "SELECT ts / {bucket} AS bucket, verdict, stage, agent_id, tool, environment, COUNT(*) AS n
                 FROM audit_entries WHERE tenant_id = $1 AND kind = 'decision' AND ts >= $2 AND ts < $3
                 GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
            );
            let mut rows =
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str()).bind(from).bind(to).fetch(&pool);
            while let Some(row) = rows.next().await {
                let group = row.map_err(StoreError::from).and_then(|row| {
                    Ok(ActivityGroup {
                        bucket: row.try_get("bucket")?,
                        verdict: row.try_get("verdict")?,
                        stage: row.try_get("stage")?,
                        agent_id: row.try_get("agent_id")?,
                        tool: row.try_get("tool")?,
                        environment: row.try_get("environment")?,
                        decisions: count(&row, "n")?,
                    })
                });
                if sender.send(group).await.is_err() {
                    break;
                }
            }
        })
    }
}

/// A stream fed by a task: `produce` sends items until the receiver goes.
fn async_stream<T, F, Fut>(produce: F) -> impl Stream<Item = T> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, mut receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(sender));
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
