//! The approvals queue.
//!
//! An approval's status is stored, but `pending` and `approved` approvals
//! whose `expires_at` has passed read as `expired`: expiry needs no
//! background job and is the same on every gateway.

use crate::clock::Timestamp;
use lictor_api::approvals::{ApprovalKind, ApprovalStatus};
use lictor_api::ids::{AgentId, ApprovalId, IntentId, TenantId};
use lictor_api::intents::{ActionType, Modifications, Reason, RiskLevel};
use sqlx::Row;

use super::{Store, StoreResult, StoreTx, corrupt, parse_req, tenant_column};

/// A stored approval request.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalRow {
    /// Identifier.
    pub id: ApprovalId,
    /// Tenant.
    pub tenant: TenantId,
    /// The asking agent.
    pub agent_id: AgentId,
    /// Intent or tool call.
    pub kind: ApprovalKind,
    /// The escalated intent.
    pub intent_id: IntentId,
    /// The tool, for tool calls.
    pub tool: Option<String>,
    /// The capability token's jti.
    pub jti: Option<String>,
    /// Action type.
    pub action_type: ActionType,
    /// Verb.
    pub verb: String,
    /// One-line summary.
    pub summary: Option<String>,
    /// Why it escalated.
    pub reasons: Vec<Reason>,
    /// Risk level.
    pub risk_level: RiskLevel,
    /// Stored status (see [`ApprovalRow::status_at`]).
    pub status: ApprovalStatus,
    /// Request digest.
    pub digest: String,
    /// Opened.
    pub created_at: Timestamp,
    /// Deadline: to decide while pending, to use once approved.
    pub expires_at: Timestamp,
    /// Decided.
    pub decided_at: Option<Timestamp>,
    /// Decider.
    pub decided_by: Option<String>,
    /// Decider's note.
    pub note: Option<String>,
    /// Used.
    pub used_at: Option<Timestamp>,
    /// The modifications the policy required alongside the escalation
    /// (a human's approval of an intent answers `approve_modified` with them).
    pub modifications: Option<Modifications>,
}

impl ApprovalRow {
    /// The status as of `now`: pending or approved past the deadline is expired.
    pub fn status_at(&self, now: Timestamp) -> ApprovalStatus {
        match self.status {
            ApprovalStatus::Pending | ApprovalStatus::Approved if self.expires_at <= now => {
                ApprovalStatus::Expired
            }
            status => status,
        }
    }
}

fn kind_str(kind: ApprovalKind) -> &'static str {
    match kind {
        ApprovalKind::Intent => "intent",
        ApprovalKind::ToolCall => "tool_call",
    }
}

fn parse_kind(s: &str) -> Option<ApprovalKind> {
    match s {
        "intent" => Some(ApprovalKind::Intent),
        "tool_call" => Some(ApprovalKind::ToolCall),
        _ => None,
    }
}

/// The wire string of a risk level.
pub fn risk_level_str(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "low",
        RiskLevel::Medium => "medium",
        RiskLevel::High => "high",
        RiskLevel::Critical => "critical",
    }
}

fn parse_risk_level(s: &str) -> Option<RiskLevel> {
    [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High, RiskLevel::Critical]
        .into_iter()
        .find(|l| risk_level_str(*l) == s)
}

macro_rules! select_approvals {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, agent_id, kind, intent_id, tool, jti, action_type, verb, summary, reasons, ",
            "risk_level, status, digest, created_at, expires_at, decided_at, decided_by, note, used_at, modifications ",
            "FROM approvals ",
            $rest
        )
    };
}

fn approval_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ApprovalRow> {
    let kind: String = row.try_get("kind")?;
    let action_type: String = row.try_get("action_type")?;
    let risk_level: String = row.try_get("risk_level")?;
    let status: String = row.try_get("status")?;
    let reasons: String = row.try_get("reasons")?;
    Ok(ApprovalRow {
        id: ApprovalId::parse(row.try_get::<String, _>("id")?).map_err(corrupt)?,
        tenant: tenant_column(row)?,
        agent_id: AgentId::parse(row.try_get::<String, _>("agent_id")?).map_err(corrupt)?,
        kind: parse_req(&kind, parse_kind, "approval kind")?,
        intent_id: IntentId::parse(row.try_get::<String, _>("intent_id")?).map_err(corrupt)?,
        tool: row.try_get("tool")?,
        jti: row.try_get("jti")?,
        action_type: parse_req(&action_type, ActionType::parse, "action type")?,
        verb: row.try_get("verb")?,
        summary: row.try_get("summary")?,
        reasons: serde_json::from_str(&reasons).map_err(corrupt)?,
        risk_level: parse_req(&risk_level, parse_risk_level, "risk level")?,
        status: parse_req(&status, ApprovalStatus::parse, "approval status")?,
        digest: row.try_get("digest")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        decided_at: row.try_get("decided_at")?,
        decided_by: row.try_get("decided_by")?,
        note: row.try_get("note")?,
        used_at: row.try_get("used_at")?,
        modifications: match row.try_get::<Option<String>, _>("modifications")? {
            Some(json) => Some(serde_json::from_str(&json).map_err(corrupt)?),
            None => None,
        },
    })
}

/// How the human decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HumanDecision {
    /// Approved: usable once until the new deadline.
    Approved {
        /// Until when it may be used.
        usable_until: Timestamp,
    },
    /// Rejected.
    Rejected,
}

impl StoreTx {
    /// A pending, unexpired approval for the same request, to reuse.
    pub async fn find_open_approval(
        &mut self,
        tenant: &TenantId,
        digest: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ApprovalId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM approvals WHERE tenant_id = $1 AND digest = $2 AND status = 'pending' AND expires_at > $3
             ORDER BY created_at LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(digest)
        .bind(now)
        .fetch_optional(self.conn())
        .await?;
        id.map(|id| ApprovalId::parse(id).map_err(corrupt)).transpose()
    }

    /// Pending, unexpired approvals of an agent.
    pub async fn count_open_approvals(
        &mut self,
        tenant: &TenantId,
        agent: &AgentId,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM approvals WHERE tenant_id = $1 AND agent_id = $2 AND status = 'pending'
             AND expires_at > $3",
        )
        .bind(tenant.as_str())
        .bind(agent.as_str())
        .bind(now)
        .fetch_one(self.conn())
        .await?;
        u64::try_from(n).map_err(|_| corrupt(format!("a negative count of pending approvals: {n}")))
    }

    /// Opens an approval request.
    pub async fn insert_approval(&mut self, row: &ApprovalRow) -> StoreResult<()> {
        // It references its intent, which may be among the deferred rows.
        self.flush().await?;
        let reasons = serde_json::to_string(&row.reasons).map_err(corrupt)?;
        let modifications =
            row.modifications.as_ref().map(serde_json::to_string).transpose().map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO approvals (id, tenant_id, intent_id, agent_id, status, created_at, kind, tool, jti,
                 action_type, verb, summary, reasons, risk_level, digest, expires_at, modifications)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(row.id.as_str())
        .bind(row.tenant.as_str())
        .bind(row.intent_id.as_str())
        .bind(row.agent_id.as_str())
        .bind(row.status.as_str())
        .bind(row.created_at)
        .bind(kind_str(row.kind))
        .bind(row.tool.clone())
        .bind(row.jti.clone())
        .bind(row.action_type.as_str())
        .bind(&row.verb)
        .bind(row.summary.clone())
        .bind(reasons)
        .bind(risk_level_str(row.risk_level))
        .bind(&row.digest)
        .bind(row.expires_at)
        .bind(modifications)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Consumes an approved approval for the request with `digest`; `false`
    /// if it is not (or no longer) approved, usable and for this request.
    pub async fn use_approval(
        &mut self,
        tenant: &TenantId,
        id: &ApprovalId,
        digest: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE approvals SET status = 'used', used_at = $1
             WHERE tenant_id = $2 AND id = $3 AND digest = $4 AND status = 'approved' AND expires_at > $1",
        )
        .bind(now)
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(digest)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a human decision on a pending, unexpired approval; `false`
    /// if it was already decided or has expired.
    pub async fn decide_approval(
        &mut self,
        tenant: &TenantId,
        id: &ApprovalId,
        decision: HumanDecision,
        decided_by: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (status, expires_at) = match decision {
            HumanDecision::Approved { usable_until } => ("approved", Some(usable_until)),
            HumanDecision::Rejected => ("rejected", None),
        };
        let done = sqlx::query(
            "UPDATE approvals SET status = $1, decided_at = $2, decided_by = $3, note = $4,
                    expires_at = COALESCE($5, expires_at)
             WHERE tenant_id = $6 AND id = $7 AND status = 'pending' AND expires_at > $2",
        )
        .bind(status)
        .bind(now)
        .bind(decided_by)
        .bind(note.map(str::to_string))
        .bind(expires_at)
        .bind(tenant.as_str())
        .bind(id.as_str())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One approval, read inside the transaction.
    pub async fn get_approval(
        &mut self,
        tenant: &TenantId,
        id: &ApprovalId,
    ) -> StoreResult<Option<ApprovalRow>> {
        let row = sqlx::query(select_approvals!("WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.conn())
            .await?;
        row.as_ref().map(approval_from_row).transpose()
    }
}

/// Filters of the approval list.
#[derive(Clone, Debug, Default)]
pub struct ApprovalFilter {
    /// Only this status (as of now).
    pub status: Option<ApprovalStatus>,
    /// Only this agent.
    pub agent_id: Option<AgentId>,
}

impl Store {
    /// Open approval requests (pending, not expired at `now`) per tenant.
    pub async fn pending_approvals_by_tenant(&self, now: Timestamp) -> StoreResult<Vec<(TenantId, i64)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, COUNT(*) AS open FROM approvals \
             WHERE status = 'pending' AND expires_at > $1 GROUP BY tenant_id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let tenant = tenant_column(row)?;
                Ok((tenant, row.try_get::<i64, _>("open")?))
            })
            .collect()
    }

    /// One approval of a tenant.
    pub async fn get_approval(&self, tenant: &TenantId, id: &ApprovalId) -> StoreResult<Option<ApprovalRow>> {
        let row = sqlx::query(select_approvals!("WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(approval_from_row).transpose()
    }

    /// A tenant's approvals, newest first, strictly before `(created_at, id)`.
    pub async fn list_approvals(
        &self,
        tenant: &TenantId,
        filter: &ApprovalFilter,
        now: Timestamp,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRow>> {
        let (before_ts, before_id) = before.unwrap_or((i64::MAX, String::new()));
        // Status as of `now`: pending/approved past their deadline are expired.
        let status = filter.status.map(ApprovalStatus::as_str).unwrap_or("");
        let rows = sqlx::query(select_approvals!(
            "WHERE tenant_id = $1
               AND ($2 = '' OR agent_id = $2)
               AND ($3 = ''
                    OR ($3 IN ('pending', 'approved') AND status = $3 AND expires_at > $4)
                    OR ($3 = 'expired' AND (status = 'expired' OR (status IN ('pending', 'approved') AND expires_at <= $4)))
                    OR ($3 IN ('rejected', 'used') AND status = $3))
               AND (created_at < $5 OR (created_at = $5 AND $6 <> '' AND id < $6))
             ORDER BY created_at DESC, id DESC LIMIT $7"
        ))
        .bind(tenant.as_str())
        .bind(filter.agent_id.as_ref().map(|a| a.as_str()).unwrap_or(""))
        .bind(status)
        .bind(now)
        .bind(before_ts)
        .bind(before_id)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(approval_from_row).collect()
    }
}
