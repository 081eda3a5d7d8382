//! Discovery (migration `0015_discovery`): discovered agents, what each
//! source saw of them, the digests of records already ingested, and what
//! IPAM says of addresses.

use std::collections::{BTreeMap, HashMap, HashSet};

use lictor_api::discovery::{DiscoveryStatus, IdentityKind};
use lictor_api::ids::{AgentId, DiscoveredAgentId, TenantId};
use sqlx::Row;

use super::{Store, StoreResult, StoreTx, corrupt, parse_opt, tenant_column};
use crate::clock::Timestamp;

/// A discovered agent as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoveredRow {
    /// Its id.
    pub id: DiscoveredAgentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// What the identity is.
    pub identity_kind: IdentityKind,
    /// The identity.
    pub identity: String,
    /// The service's catalogue id (or `unlisted:<name>`).
    pub service: String,
    /// The service's name when it was first seen.
    pub service_name: String,
    /// First seen.
    pub first_seen: Timestamp,
    /// Last seen.
    pub last_seen: Timestamp,
    /// Requests.
    pub requests: u64,
    /// Bytes.
    pub bytes: u64,
    /// Department, as last named.
    pub department: Option<String>,
    /// The tenant's decision.
    pub status: DiscoveryStatus,
    /// Why.
    pub status_reason: Option<String>,
    /// Linked registered agent.
    pub agent_id: Option<AgentId>,
    /// Linked since.
    pub governed_at: Option<Timestamp>,
    /// Owner.
    pub owner: Option<String>,
    /// Last attested.
    pub attested_at: Option<Timestamp>,
    /// Added.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// What one source saw of a discovered agent.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceRow {
    /// The source.
    pub source: String,
    /// First seen by it.
    pub first_seen: Timestamp,
    /// Last seen by it.
    pub last_seen: Timestamp,
    /// Requests.
    pub requests: u64,
    /// Bytes.
    pub bytes: u64,
}

/// New traffic of one identity to one service, from one source, to add.
#[derive(Clone, Debug, PartialEq)]
pub struct Sighting {
    /// The discovered agent's id.
    pub id: DiscoveredAgentId,
    /// What the identity is.
    pub identity_kind: IdentityKind,
    /// The identity.
    pub identity: String,
    /// The service.
    pub service: String,
    /// The service's name.
    pub service_name: String,
    /// The source.
    pub source: String,
    /// Earliest of the traffic.
    pub first_seen: Timestamp,
    /// Latest of the traffic.
    pub last_seen: Timestamp,
    /// Requests.
    pub requests: u64,
    /// Bytes.
    pub bytes: u64,
    /// Department, if named.
    pub department: Option<String>,
}

/// An owner's attestation as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AttestationRow {
    /// Its id (`att_…`).
    pub id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The discovered agent.
    pub discovered_id: DiscoveredAgentId,
    /// Who attested, as audit entries name principals.
    pub attester: String,
    /// The person, as JSON.
    pub person: Option<String>,
    /// The statement.
    pub statement: String,
    /// When.
    pub attested_at: Timestamp,
}

/// Which discovered agents to list.
#[derive(Clone, Debug, Default)]
pub struct DiscoveredFilter {
    /// Only this status.
    pub status: Option<DiscoveryStatus>,
    /// Only this service.
    pub service: Option<String>,
    /// Only this kind of identity.
    pub identity_kind: Option<IdentityKind>,
    /// Only this identity.
    pub identity: Option<String>,
    /// Linked (`true`) or not.
    pub governed: Option<bool>,
    /// Owned (`true`) or not.
    pub owned: Option<bool>,
    /// Seen at or after.
    pub seen_after: Option<Timestamp>,
}

/// The wire name of an identity kind.
pub fn identity_kind_str(kind: IdentityKind) -> &'static str {
    match kind {
        IdentityKind::User => "user",
        IdentityKind::Host => "host",
        IdentityKind::ServiceAccount => "service_account",
        IdentityKind::Ip => "ip",
    }
}

fn identity_kind(value: &str) -> Option<IdentityKind> {
    [IdentityKind::User, IdentityKind::Host, IdentityKind::ServiceAccount, IdentityKind::Ip]
        .into_iter()
        .find(|k| identity_kind_str(*k) == value)
}

/// The wire name of a status.
pub fn status_str(status: DiscoveryStatus) -> &'static str {
    match status {
        DiscoveryStatus::Unreviewed => "unreviewed",
        DiscoveryStatus::Sanctioned => "sanctioned",
        DiscoveryStatus::Unsanctioned => "unsanctioned",
        DiscoveryStatus::Ignored => "ignored",
    }
}

fn status(value: &str) -> Option<DiscoveryStatus> {
    [
        DiscoveryStatus::Unreviewed,
        DiscoveryStatus::Sanctioned,
        DiscoveryStatus::Unsanctioned,
        DiscoveryStatus::Ignored,
    ]
    .into_iter()
    .find(|s| status_str(*s) == value)
}

fn count(row: &sqlx::any::AnyRow, column: &str) -> StoreResult<u64> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(corrupt)
}

/// Saturating conversion for the store's signed columns.
fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

const COLUMNS: &str = "id, tenant_id, identity_kind, identity, service, service_name, first_seen, last_seen,
    requests, bytes, department, status, status_reason, agent_id, governed_at, owner, attested_at, created_at,
    updated_at";

fn discovered_from_row(row: &sqlx::any::AnyRow) -> StoreResult<DiscoveredRow> {
    let kind: String = row.try_get("identity_kind")?;
    let state: String = row.try_get("status")?;
    Ok(DiscoveredRow {
        id: DiscoveredAgentId::parse(row.try_get::<String, _>("id")?).map_err(corrupt)?,
        tenant: tenant_column(row)?,
        identity_kind: identity_kind(&kind).ok_or_else(|| corrupt(format!("identity kind `{kind}`")))?,
        identity: row.try_get("identity")?,
        service: row.try_get("service")?,
        service_name: row.try_get("service_name")?,
        first_seen: row.try_get("first_seen")?,
        last_seen: row.try_get("last_seen")?,
        requests: count(row, "requests")?,
        bytes: count(row, "bytes")?,
        department: row.try_get("department")?,
        status: status(&state).ok_or_else(|| corrupt(format!("discovery status `{state}`")))?,
        status_reason: row.try_get("status_reason")?,
        agent_id: parse_opt(row.try_get("agent_id")?, |s| AgentId::parse(s).ok(), "agent id")?,
        governed_at: row.try_get("governed_at")?,
        owner: row.try_get("owner")?,
        attested_at: row.try_get("attested_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// A page of the tenant's discovered agents, most recently seen first,
    /// after `after` (a `(last_seen, id)` position).
    pub async fn list_discovered(
        &self,
        tenant: &TenantId,
        filter: &DiscoveredFilter,
        after: Option<(Timestamp, String)>,
        limit: u32,
    ) -> StoreResult<Vec<DiscoveredRow>> {
        let mut sql = format!("SELECT {COLUMNS} FROM discovered_agents WHERE tenant_id = $1");
        let mut n = 1;
        let mut next = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace('?', &format!("${n}")));
        };
        if filter.status.is_some() {
            next(&mut sql, " AND status = ?");
        }
        if filter.service.is_some() {
            next(&mut sql, " AND service = ?");
        }
        if filter.identity_kind.is_some() {
            next(&mut sql, " AND identity_kind = ?");
        }
        if filter.identity.is_some() {
            next(&mut sql, " AND identity = ?");
        }
        if filter.seen_after.is_some() {
            next(&mut sql, " AND last_seen >= ?");
        }
        match filter.governed {
            Some(true) => sql.push_str(" AND agent_id IS NOT NULL"),
            Some(false) => sql.push_str(" AND agent_id IS NULL"),
            None => {}
        }
        match filter.owned {
            Some(true) => sql.push_str(" AND owner IS NOT NULL"),
            Some(false) => sql.push_str(" AND owner IS NULL"),
            None => {}
        }
        if after.is_some() {
            next(&mut sql, " AND (last_seen < ?");
            next(&mut sql, " OR (last_seen = ?");
            next(&mut sql, " AND id > ?))");
        }
        next(&mut sql, " ORDER BY last_seen DESC, id LIMIT ?");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
        if let Some(status) = filter.status {
            query = query.bind(status_str(status));
        }
        if let Some(service) = &filter.service {
            query = query.bind(service.clone());
        }
        if let Some(kind) = filter.identity_kind {
            query = query.bind(identity_kind_str(kind));
        }
        if let Some(identity) = &filter.identity {
            query = query.bind(identity.clone());
        }
        if let Some(seen) = filter.seen_after {
            query = query.bind(seen);
        }
        if let Some((seen, id)) = after {
            query = query.bind(seen).bind(seen).bind(id);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(discovered_from_row).collect()
    }

    /// One discovered agent.
    pub async fn get_discovered(
        &self,
        tenant: &TenantId,
        id: &DiscoveredAgentId,
    ) -> StoreResult<Option<DiscoveredRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM discovered_agents WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(discovered_from_row).transpose()
    }

    /// What each source saw of the discovered agents `ids`, by agent.
    pub async fn discovered_sources(
        &self,
        ids: &[&DiscoveredAgentId],
    ) -> StoreResult<HashMap<String, Vec<SourceRow>>> {
        let mut sources: HashMap<String, Vec<SourceRow>> = HashMap::new();
        for chunk in ids.chunks(200) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT discovered_id, source, first_seen, last_seen, requests, bytes FROM discovered_agent_sources
                 WHERE discovered_id IN ({}) ORDER BY discovered_id, source",
                marks.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(self.pool()).await? {
                let id: String = row.try_get("discovered_id")?;
                sources.entry(id).or_default().push(SourceRow {
                    source: row.try_get("source")?,
                    first_seen: row.try_get("first_seen")?,
                    last_seen: row.try_get("last_seen")?,
                    requests: count(&row, "requests")?,
                    bytes: count(&row, "bytes")?,
                });
            }
        }
        Ok(sources)
    }

    /// The host names IPAM gave for `ips` in the tenant.
    pub async fn discovery_hosts(
        &self,
        tenant: &TenantId,
        ips: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        let mut hosts = HashMap::new();
        for chunk in ips.chunks(200) {
            let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT ip, name FROM discovery_hosts WHERE tenant_id = $1 AND ip IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
            for ip in chunk {
                query = query.bind(ip.clone());
            }
            for row in query.fetch_all(self.pool()).await? {
                hosts.insert(row.try_get("ip")?, row.try_get("name")?);
            }
        }
        Ok(hosts)
    }

    /// How many days an attestation holds in the tenant (90 when the
    /// tenant is unknown).
    pub async fn attestation_days(&self, tenant: &TenantId) -> StoreResult<u32> {
        let days: Option<i64> = sqlx::query_scalar("SELECT attestation_days FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(days.and_then(|d| u32::try_from(d).ok()).unwrap_or(90))
    }

    /// Forgets the digests of records ingested before `before`; how many.
    pub async fn prune_discovery_records(&self, before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM discovery_records WHERE seen_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

fn attestation_from_row(row: &sqlx::any::AnyRow) -> StoreResult<AttestationRow> {
    Ok(AttestationRow {
        id: row.try_get("id")?,
        tenant: tenant_column(row)?,
        discovered_id: DiscoveredAgentId::parse(row.try_get::<String, _>("discovered_id")?)
            .map_err(corrupt)?,
        attester: row.try_get("attester")?,
        person: row.try_get("person")?,
        statement: row.try_get("statement")?,
        attested_at: row.try_get("attested_at")?,
    })
}

impl Store {
    /// A page of the tenant's attestations, newest first, after `after`
    /// (an `(attested_at, id)` position).
    pub async fn list_attestations(
        &self,
        tenant: &TenantId,
        discovered: Option<&DiscoveredAgentId>,
        after: Option<(Timestamp, String)>,
        limit: u32,
    ) -> StoreResult<Vec<AttestationRow>> {
        let mut sql = String::from(
            "SELECT id, tenant_id, discovered_id, attester, person, statement, attested_at
             FROM discovery_attestations WHERE tenant_id = $1",
        );
        let mut n = 1;
        if discovered.is_some() {
            n += 1;
            sql.push_str(&format!(" AND discovered_id = ${n}"));
        }
        if after.is_some() {
            sql.push_str(&format!(
                " AND (attested_at < ${} OR (attested_at = ${} AND id < ${}))",
                n + 1,
                n + 2,
                n + 3
            ));
            n += 3;
        }
        sql.push_str(&format!(" ORDER BY attested_at DESC, id DESC LIMIT ${}", n + 1));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
        if let Some(id) = discovered {
            query = query.bind(id.as_str());
        }
        if let Some((at, id)) = after {
            query = query.bind(at).bind(at).bind(id);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(attestation_from_row).collect()
    }
}

impl Store {
    /// Attestations made in `[from, to)` with their discovered agents,
    /// newest first, after `after` (an `(attested_at, id)` position).
    pub async fn attestations_between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
        after: Option<(Timestamp, String)>,
        limit: u32,
    ) -> StoreResult<Vec<(AttestationRow, DiscoveredRow)>> {
        let agent_columns: Vec<String> = COLUMNS.split(',').map(|c| format!("d.{}", c.trim())).collect();
        let position = if after.is_some() {
            " AND (a.attested_at < $4 OR (a.attested_at = $5 AND a.id < $6))"
        } else {
            ""
        };
        let sql = format!(
            "SELECT a.id AS attestation_id, a.attester, a.person, a.statement, a.attested_at AS attestation_at,
                {} FROM discovery_attestations a JOIN discovered_agents d ON d.id = a.discovered_id
             WHERE a.tenant_id = $1 AND a.attested_at >= $2 AND a.attested_at < $3{position}
             ORDER BY a.attested_at DESC, a.id DESC LIMIT {limit}",
            agent_columns.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str()).bind(from).bind(to);
        if let Some((at, id)) = after {
            query = query.bind(at).bind(at).bind(id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                let agent = discovered_from_row(row)?;
                let attestation = AttestationRow {
                    id: row.try_get("attestation_id")?,
                    tenant: agent.tenant.clone(),
                    discovered_id: agent.id.clone(),
                    attester: row.try_get("attester")?,
                    person: row.try_get("person")?,
                    statement: row.try_get("statement")?,
                    attested_at: row.try_get("attestation_at")?,
                };
                Ok((attestation, agent))
            })
            .collect()
    }

    /// Discovered agents, not ignored, last attested (or, never, discovered)
    /// before `cutoff`: longest overdue first.
    pub async fn overdue_discovered(
        &self,
        tenant: &TenantId,
        cutoff: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DiscoveredRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM discovered_agents
             WHERE tenant_id = $1 AND status <> 'ignored' AND COALESCE(attested_at, created_at) < $2
             ORDER BY COALESCE(attested_at, created_at), id LIMIT $3"
        )))
        .bind(tenant.as_str())
        .bind(cutoff)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(discovered_from_row).collect()
    }
}

impl Store {
    /// The tenant's own catalogue services: `(id, service JSON)`, by id.
    pub async fn discovery_services(&self, tenant: &TenantId) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT id, service FROM discovery_services WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant.as_str())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| Ok((row.try_get("id")?, row.try_get("service")?))).collect()
    }
}

impl StoreTx {
    /// Adds or replaces one of the tenant's catalogue services; whether it
    /// is new.
    pub async fn put_discovery_service(
        &mut self,
        tenant: &TenantId,
        id: &str,
        service: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE discovery_services SET service = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
        )
        .bind(service)
        .bind(now)
        .bind(tenant.as_str())
        .bind(id)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO discovery_services (tenant_id, id, service, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(service)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(true)
    }

    /// Removes one of the tenant's catalogue services; whether it existed.
    pub async fn delete_discovery_service(&mut self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM discovery_services WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Changes a discovered agent under a row lock; `(before, after)`, or
    /// `None` if there is no such agent in the tenant.
    pub async fn update_discovered(
        &mut self,
        tenant: &TenantId,
        id: &DiscoveredAgentId,
        change: impl FnOnce(&mut DiscoveredRow),
    ) -> StoreResult<Option<(DiscoveredRow, DiscoveredRow)>> {
        let lock = self.backend().for_update();
        let sql = format!("SELECT {COLUMNS} FROM discovered_agents WHERE tenant_id = $1 AND id = $2{lock}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.conn())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let before = discovered_from_row(&row)?;
        let mut after = before.clone();
        change(&mut after);
        sqlx::query(
            "UPDATE discovered_agents SET status = $1, status_reason = $2, owner = $3, agent_id = $4,
                attested_at = $5, updated_at = $6, governed_at = $7
             WHERE tenant_id = $8 AND id = $9",
        )
        .bind(status_str(after.status))
        .bind(after.status_reason.clone())
        .bind(after.owner.clone())
        .bind(after.agent_id.as_ref().map(|a| a.to_string()))
        .bind(after.attested_at)
        .bind(after.updated_at)
        .bind(after.governed_at)
        .bind(tenant.as_str())
        .bind(id.as_str())
        .execute(self.conn())
        .await?;
        Ok(Some((before, after)))
    }

    /// Records an attestation.
    pub async fn insert_attestation(&mut self, row: &AttestationRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO discovery_attestations (id, tenant_id, discovered_id, attester, person, statement, attested_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(row.id.clone())
        .bind(row.tenant.as_str())
        .bind(row.discovered_id.as_str())
        .bind(row.attester.clone())
        .bind(row.person.clone())
        .bind(row.statement.clone())
        .bind(row.attested_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Sets how many days an attestation holds in the tenant; the days
    /// before.
    pub async fn set_attestation_days(&mut self, tenant: &TenantId, days: u32) -> StoreResult<Option<u32>> {
        let before: Option<i64> = sqlx::query_scalar("SELECT attestation_days FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .fetch_optional(self.conn())
            .await?;
        let Some(before) = before else { return Ok(None) };
        sqlx::query("UPDATE tenants SET attestation_days = $1 WHERE id = $2")
            .bind(i64::from(days))
            .bind(tenant.as_str())
            .execute(self.conn())
            .await?;
        Ok(Some(u32::try_from(before).unwrap_or(90)))
    }

    /// Records `digests` as ingested in the tenant; the ones that were not
    /// already.
    pub async fn new_discovery_records(
        &mut self,
        tenant: &TenantId,
        digests: &[String],
        now: Timestamp,
    ) -> StoreResult<HashSet<String>> {
        let mut new = HashSet::new();
        for chunk in digests.chunks(300) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${}, $2)", i + 3)).collect();
            let sql = format!(
                "INSERT INTO discovery_records (tenant_id, digest, seen_at) VALUES {}
                 ON CONFLICT (tenant_id, digest) DO NOTHING RETURNING digest",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str()).bind(now);
            for digest in chunk {
                query = query.bind(digest.clone());
            }
            for row in query.fetch_all(self.conn()).await? {
                new.insert(row.try_get("digest")?);
            }
        }
        Ok(new)
    }

    /// Adds `sightings` to the tenant's discovered agents (creating the
    /// ones first seen); `(new, updated)` agent counts.
    pub async fn add_sightings(
        &mut self,
        tenant: &TenantId,
        sightings: &[Sighting],
        now: Timestamp,
    ) -> StoreResult<(u64, u64)> {
        // One row per agent first (several sources may have seen it).
        let mut agents: BTreeMap<&str, Sighting> = BTreeMap::new();
        for sighting in sightings {
            agents
                .entry(sighting.id.as_str())
                .and_modify(|total| {
                    total.first_seen = total.first_seen.min(sighting.first_seen);
                    total.last_seen = total.last_seen.max(sighting.last_seen);
                    total.requests = total.requests.saturating_add(sighting.requests);
                    total.bytes = total.bytes.saturating_add(sighting.bytes);
                    if sighting.department.is_some() {
                        total.department.clone_from(&sighting.department);
                    }
                })
                .or_insert_with(|| sighting.clone());
        }
        let mut existing = HashSet::new();
        let ids: Vec<&str> = agents.keys().copied().collect();
        for chunk in ids.chunks(300) {
            let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id FROM discovered_agents WHERE tenant_id = $1 AND id IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
            for id in chunk {
                query = query.bind(*id);
            }
            existing.extend(query.fetch_all(self.conn()).await?);
        }
        for agent in agents.values() {
            sqlx::query(
                "INSERT INTO discovered_agents (id, tenant_id, identity_kind, identity, service, service_name,
                    first_seen, last_seen, requests, bytes, department, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'unreviewed', $12, $12)
                 ON CONFLICT (id) DO UPDATE SET
                    first_seen = CASE WHEN excluded.first_seen < discovered_agents.first_seen
                        THEN excluded.first_seen ELSE discovered_agents.first_seen END,
                    last_seen = CASE WHEN excluded.last_seen > discovered_agents.last_seen
                        THEN excluded.last_seen ELSE discovered_agents.last_seen END,
                    requests = discovered_agents.requests + excluded.requests,
                    bytes = discovered_agents.bytes + excluded.bytes,
                    department = COALESCE(excluded.department, discovered_agents.department),
                    updated_at = excluded.updated_at",
            )
            .bind(agent.id.as_str())
            .bind(tenant.as_str())
            .bind(identity_kind_str(agent.identity_kind))
            .bind(agent.identity.clone())
            .bind(agent.service.clone())
            .bind(agent.service_name.clone())
            .bind(agent.first_seen)
            .bind(agent.last_seen)
            .bind(signed(agent.requests))
            .bind(signed(agent.bytes))
            .bind(agent.department.clone())
            .bind(now)
            .execute(self.conn())
            .await?;
        }
        for sighting in sightings {
            sqlx::query(
                "INSERT INTO discovered_agent_sources (discovered_id, source, first_seen, last_seen, requests, bytes)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (discovered_id, source) DO UPDATE SET
                    first_seen = CASE WHEN excluded.first_seen < discovered_agent_sources.first_seen
                        THEN excluded.first_seen ELSE discovered_agent_sources.first_seen END,
                    last_seen = CASE WHEN excluded.last_seen > discovered_agent_sources.last_seen
                        THEN excluded.last_seen ELSE discovered_agent_sources.last_seen END,
                    requests = discovered_agent_sources.requests + excluded.requests,
                    bytes = discovered_agent_sources.bytes + excluded.bytes",
            )
            .bind(sighting.id.as_str())
            .bind(sighting.source.clone())
            .bind(sighting.first_seen)
            .bind(sighting.last_seen)
            .bind(signed(sighting.requests))
            .bind(signed(sighting.bytes))
            .execute(self.conn())
            .await?;
        }
        let new = agents.len() - existing.len();
        Ok((new as u64, existing.len() as u64))
    }

    /// Records what IPAM says of addresses: `(ip, name)` pairs.
    pub async fn put_discovery_hosts(
        &mut self,
        tenant: &TenantId,
        hosts: &[(String, String)],
        source: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        for (ip, name) in hosts {
            sqlx::query(
                "INSERT INTO discovery_hosts (tenant_id, ip, name, source, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, ip) DO UPDATE SET name = excluded.name, source = excluded.source,
                    updated_at = excluded.updated_at",
            )
            .bind(tenant.as_str())
            .bind(ip.clone())
            .bind(name.clone())
            .bind(source)
            .bind(now)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }
}
