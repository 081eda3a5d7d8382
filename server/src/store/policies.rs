//! The policy lifecycle's rows: content-addressed bundles, drafts, each
//! tenant's active bundle (with its rollback target) and promotion
//! proposals; and the recorded decisions a dry-run replays.

use crate::clock::Timestamp;
use std::collections::BTreeMap;

use lictor_api::ids::{AgentId, IntentId, PolicyDraftId, PolicyProposalId, TenantId};
use lictor_api::intents::Verdict;
use lictor_api::policies::ProposalStatus;
use serde_json::{Map, Value};
use sqlx::Row;

use super::{Store, StoreError, StoreResult, StoreTx, corrupt, parse_req, tenant_column};

/// A bundle as stored: runtime modules and data, addressed by hash.
#[derive(Clone, Debug, PartialEq)]
pub struct BundleRow {
    /// Its hash.
    pub hash: String,
    /// Its name.
    pub name: String,
    /// Runtime modules by file name.
    pub modules: BTreeMap<String, String>,
    /// The data document.
    pub data: Value,
}

/// A stored draft.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftRow {
    /// Identifier.
    pub id: PolicyDraftId,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Every module as saved (tests included).
    pub modules: BTreeMap<String, String>,
    /// The data document.
    pub data: Map<String, Value>,
    /// The bundle it makes.
    pub bundle_hash: String,
    /// Created.
    pub created_at: Timestamp,
    /// By whom.
    pub created_by: String,
    /// Last saved.
    pub updated_at: Timestamp,
    /// By whom.
    pub updated_by: String,
}

/// One slot (active or previous) of a tenant's policy.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotRow {
    /// The bundle.
    pub bundle_hash: String,
    /// Its name.
    pub bundle_name: String,
    /// The draft it was promoted from (`None`: the built-in default).
    pub draft_id: Option<PolicyDraftId>,
    /// Who put it there (`None`: nobody, the built-in default).
    pub promoted_by: Option<String>,
    /// When.
    pub promoted_at: Option<Timestamp>,
}

/// A tenant's active bundle and rollback target.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveRow {
    /// The tenant.
    pub tenant: TenantId,
    /// Grows with every change.
    pub generation: i64,
    /// What decides.
    pub current: SlotRow,
    /// What a rollback restores.
    pub previous: Option<SlotRow>,
}

/// A stored proposal.
#[derive(Clone, Debug, PartialEq)]
pub struct ProposalRow {
    /// Identifier.
    pub id: PolicyProposalId,
    /// The tenant.
    pub tenant: TenantId,
    /// The draft proposed.
    pub draft_id: PolicyDraftId,
    /// Its bundle when proposed.
    pub bundle_hash: String,
    /// The bundle's name.
    pub bundle_name: String,
    /// Who proposed.
    pub proposed_by: String,
    /// Who that is for the two-person rule (`Principal::actor`); `None`
    /// for proposals made before it was recorded (`proposed_by` then).
    pub proposer: Option<String>,
    /// When.
    pub proposed_at: Timestamp,
    /// Status.
    pub status: ProposalStatus,
    /// Who approved or rejected.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<Timestamp>,
}

/// A recorded decision, as a dry-run replays it.
#[derive(Clone, Debug)]
pub struct ReplayRow {
    /// The intent.
    pub intent_id: IntentId,
    /// Its agent.
    pub agent_id: AgentId,
    /// When it was decided.
    pub decided_at: Timestamp,
    /// The policy input recorded with it (canonical JSON).
    pub policy_input: Option<String>,
    /// The policy stage's own verdict, when recorded.
    pub policy_verdict: Option<Verdict>,
    /// The stored Decision (for rows recorded before `policy_verdict`).
    pub decision: Option<String>,
}

fn modules_of(text: &str) -> StoreResult<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(corrupt)
}

fn draft_from_row(row: &sqlx::any::AnyRow) -> StoreResult<DraftRow> {
    let data: Value = serde_json::from_str(&row.try_get::<String, _>("data")?).map_err(corrupt)?;
    Ok(DraftRow {
        id: PolicyDraftId::parse(row.try_get::<String, _>("id")?).map_err(corrupt)?,
        tenant: tenant_column(row)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        modules: modules_of(&row.try_get::<String, _>("modules")?)?,
        data: match data {
            Value::Object(map) => map,
            _ => return Err(StoreError::Corrupt("a draft's data is not an object".into())),
        },
        bundle_hash: row.try_get("bundle_hash")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

fn draft_id_of(value: Option<String>) -> StoreResult<Option<PolicyDraftId>> {
    value.map(|v| PolicyDraftId::parse(v).map_err(corrupt)).transpose()
}

fn active_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ActiveRow> {
    let previous_hash: Option<String> = row.try_get("previous_hash")?;
    let previous = match previous_hash {
        Some(bundle_hash) => Some(SlotRow {
            bundle_hash,
            bundle_name: row.try_get::<Option<String>, _>("previous_name")?.unwrap_or_default(),
            draft_id: draft_id_of(row.try_get("previous_draft_id")?)?,
            promoted_by: row.try_get("previous_promoted_by")?,
            promoted_at: row.try_get("previous_promoted_at")?,
        }),
        None => None,
    };
    Ok(ActiveRow {
        tenant: tenant_column(row)?,
        generation: row.try_get("generation")?,
        current: SlotRow {
            bundle_hash: row.try_get("bundle_hash")?,
            bundle_name: row.try_get("bundle_name")?,
            draft_id: draft_id_of(row.try_get("draft_id")?)?,
            promoted_by: Some(row.try_get("promoted_by")?),
            promoted_at: Some(row.try_get("promoted_at")?),
        },
        previous,
    })
}

fn proposal_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ProposalRow> {
    Ok(ProposalRow {
        id: PolicyProposalId::parse(row.try_get::<String, _>("id")?).map_err(corrupt)?,
        tenant: tenant_column(row)?,
        draft_id: PolicyDraftId::parse(row.try_get::<String, _>("draft_id")?).map_err(corrupt)?,
        bundle_hash: row.try_get("bundle_hash")?,
        bundle_name: row.try_get("bundle_name")?,
        proposed_by: row.try_get("proposed_by")?,
        proposer: row.try_get("proposer")?,
        proposed_at: row.try_get("proposed_at")?,
        status: parse_req(&row.try_get::<String, _>("status")?, ProposalStatus::parse, "proposal status")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
    })
}

const DRAFT_COLUMNS: &str = "id, tenant_id, name, description, modules, data, bundle_hash, created_at, \
                             created_by, updated_at, updated_by";
const ACTIVE_COLUMNS: &str = "tenant_id, generation, bundle_hash, bundle_name, draft_id, promoted_by, \
                              promoted_at, previous_hash, previous_name, previous_draft_id, \
                              previous_promoted_by, previous_promoted_at";
const PROPOSAL_COLUMNS: &str = "id, tenant_id, draft_id, bundle_hash, bundle_name, proposed_by, proposed_at, \
                                status, decided_by, decided_at, proposer";

impl Store {
    /// A stored bundle.
    pub async fn get_bundle(&self, tenant: &TenantId, hash: &str) -> StoreResult<Option<BundleRow>> {
        let row = sqlx::query(
            "SELECT bundle_hash, name, modules, data FROM policy_bundles WHERE tenant_id = $1 AND bundle_hash = $2",
        )
        .bind(tenant.as_str())
        .bind(hash)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(BundleRow {
                hash: row.try_get("bundle_hash")?,
                name: row.try_get("name")?,
                modules: modules_of(&row.try_get::<String, _>("modules")?)?,
                data: serde_json::from_str(&row.try_get::<String, _>("data")?).map_err(corrupt)?,
            })
        })
        .transpose()
    }

    /// One draft of `tenant`.
    pub async fn get_draft(&self, tenant: &TenantId, id: &PolicyDraftId) -> StoreResult<Option<DraftRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAFT_COLUMNS} FROM policy_drafts WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(draft_from_row).transpose()
    }

    /// A page of `tenant`'s drafts, oldest first, after `after`.
    pub async fn list_drafts(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<DraftRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAFT_COLUMNS} FROM policy_drafts WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        )))
        .bind(tenant.as_str())
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(draft_from_row).collect()
    }

    /// `tenant`'s active bundle (`None`: the built-in default, never changed).
    pub async fn get_active_policy(&self, tenant: &TenantId) -> StoreResult<Option<ActiveRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACTIVE_COLUMNS} FROM policy_active WHERE tenant_id = $1"
        )))
        .bind(tenant.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(active_from_row).transpose()
    }

    /// Every tenant's active bundle (tenants on the built-in default have none).
    pub async fn list_active_policies(&self) -> StoreResult<Vec<ActiveRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACTIVE_COLUMNS} FROM policy_active ORDER BY tenant_id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(active_from_row).collect()
    }

    /// One proposal of `tenant`.
    pub async fn get_proposal(
        &self,
        tenant: &TenantId,
        id: &PolicyProposalId,
    ) -> StoreResult<Option<ProposalRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROPOSAL_COLUMNS} FROM policy_proposals WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(proposal_from_row).transpose()
    }

    /// A page of `tenant`'s proposals, newest first, before `before`.
    pub async fn list_proposals(
        &self,
        tenant: &TenantId,
        status: Option<ProposalStatus>,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ProposalRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROPOSAL_COLUMNS} FROM policy_proposals
             WHERE tenant_id = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR id < $3)
             ORDER BY id DESC LIMIT $4"
        )))
        .bind(tenant.as_str())
        .bind(status.map(ProposalStatus::as_str).unwrap_or(""))
        .bind(before.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(proposal_from_row).collect()
    }

    /// Decided intents of `tenant` in `[from, to)`, newest first, at most
    /// `limit`.
    pub async fn replay_rows(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
        agent: Option<&AgentId>,
        limit: u32,
    ) -> StoreResult<Vec<ReplayRow>> {
        let rows = sqlx::query(
            "SELECT id, agent_id, decided_at, policy_input, policy_verdict, decision FROM intents
             WHERE tenant_id = $1 AND status = 'decided' AND decided_at >= $2 AND decided_at < $3
               AND ($4 = '' OR agent_id = $4)
             ORDER BY decided_at DESC, id DESC LIMIT $5",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .bind(agent.map(AgentId::as_str).unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let verdict: Option<String> = row.try_get("policy_verdict")?;
                Ok(ReplayRow {
                    intent_id: IntentId::parse(row.try_get::<String, _>("id")?).map_err(corrupt)?,
                    agent_id: AgentId::parse(row.try_get::<String, _>("agent_id")?).map_err(corrupt)?,
                    decided_at: row.try_get("decided_at")?,
                    policy_input: row.try_get("policy_input")?,
                    policy_verdict: verdict
                        .map(|v| parse_req(&v, Verdict::parse, "policy verdict"))
                        .transpose()?,
                    decision: row.try_get("decision")?,
                })
            })
            .collect()
    }
}

impl StoreTx {
    /// Stores a bundle (a no-op when that content is already stored).
    pub async fn insert_bundle(
        &mut self,
        tenant: &TenantId,
        bundle: &BundleRow,
        now: Timestamp,
    ) -> StoreResult<()> {
        let modules = serde_json::to_string(&bundle.modules).map_err(corrupt)?;
        let data = serde_json::to_string(&bundle.data).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO policy_bundles (tenant_id, bundle_hash, name, modules, data, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, bundle_hash) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(&bundle.hash)
        .bind(&bundle.name)
        .bind(modules)
        .bind(data)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// A draft, locked for the rest of the transaction on PostgreSQL (so a
    /// concurrent save and promotion of it are serialized).
    pub async fn lock_draft(
        &mut self,
        tenant: &TenantId,
        id: &PolicyDraftId,
    ) -> StoreResult<Option<DraftRow>> {
        let lock = if self.backend() == super::Backend::Postgres { " FOR UPDATE" } else { "" };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAFT_COLUMNS} FROM policy_drafts WHERE tenant_id = $1 AND id = $2{lock}"
        )))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(draft_from_row).transpose()
    }

    /// Inserts or replaces a draft.
    pub async fn upsert_draft(&mut self, draft: &DraftRow) -> StoreResult<()> {
        let modules = serde_json::to_string(&draft.modules).map_err(corrupt)?;
        let data = serde_json::to_string(&draft.data).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO policy_drafts (id, tenant_id, name, description, modules, data, bundle_hash,
                                        created_at, created_by, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
                 modules = excluded.modules, data = excluded.data, bundle_hash = excluded.bundle_hash,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(draft.id.as_str())
        .bind(draft.tenant.as_str())
        .bind(&draft.name)
        .bind(draft.description.clone())
        .bind(modules)
        .bind(data)
        .bind(&draft.bundle_hash)
        .bind(draft.created_at)
        .bind(&draft.created_by)
        .bind(draft.updated_at)
        .bind(&draft.updated_by)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Deletes a draft; `true` if it existed.
    pub async fn delete_draft(&mut self, tenant: &TenantId, id: &PolicyDraftId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM policy_drafts WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `tenant`'s active bundle, read inside the transaction.
    pub async fn active_policy(&mut self, tenant: &TenantId) -> StoreResult<Option<ActiveRow>> {
        let lock = if self.backend() == super::Backend::Postgres { " FOR UPDATE" } else { "" };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACTIVE_COLUMNS} FROM policy_active WHERE tenant_id = $1{lock}"
        )))
        .bind(tenant.as_str())
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(active_from_row).transpose()
    }

    /// Writes `tenant`'s slots as generation `row.generation`, which must
    /// follow `expected` (the generation read, 0 when there was no row):
    /// [`StoreError::Conflict`] if another change came first.
    pub async fn set_active_policy(&mut self, row: &ActiveRow, expected: i64) -> StoreResult<()> {
        let previous = row.previous.as_ref();
        let sql = if expected == 0 {
            "INSERT INTO policy_active (tenant_id, generation, bundle_hash, bundle_name, draft_id, promoted_by,
                 promoted_at, previous_hash, previous_name, previous_draft_id, previous_promoted_by,
                 previous_promoted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        } else {
            "UPDATE policy_active SET generation = $2, bundle_hash = $3, bundle_name = $4, draft_id = $5,
                 promoted_by = $6, promoted_at = $7, previous_hash = $8, previous_name = $9,
                 previous_draft_id = $10, previous_promoted_by = $11, previous_promoted_at = $12
             WHERE tenant_id = $1 AND generation = $13"
        };
        let done = sqlx::query(sql)
            .bind(row.tenant.as_str())
            .bind(row.generation)
            .bind(&row.current.bundle_hash)
            .bind(&row.current.bundle_name)
            .bind(row.current.draft_id.as_ref().map(|d| d.to_string()))
            .bind(row.current.promoted_by.clone().unwrap_or_default())
            .bind(row.current.promoted_at.unwrap_or(Timestamp::EPOCH))
            .bind(previous.map(|p| p.bundle_hash.clone()))
            .bind(previous.map(|p| p.bundle_name.clone()))
            .bind(previous.and_then(|p| p.draft_id.as_ref().map(|d| d.to_string())))
            .bind(previous.and_then(|p| p.promoted_by.clone()))
            .bind(previous.and_then(|p| p.promoted_at));
        let done = if expected == 0 { done } else { done.bind(expected) };
        match done.execute(self.conn()).await.map_err(StoreError::from) {
            Ok(done) if done.rows_affected() == 1 => Ok(()),
            Ok(_) | Err(StoreError::Duplicate(_)) => Err(StoreError::Conflict(
                "another policy change came first; read the active policy again".into(),
            )),
            Err(error) => Err(error),
        }
    }

    /// Records a proposal.
    pub async fn insert_proposal(&mut self, proposal: &ProposalRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO policy_proposals (id, tenant_id, draft_id, bundle_hash, bundle_name, proposed_by,
                                           proposed_at, status, decided_by, decided_at, proposer)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(proposal.id.as_str())
        .bind(proposal.tenant.as_str())
        .bind(proposal.draft_id.as_str())
        .bind(&proposal.bundle_hash)
        .bind(&proposal.bundle_name)
        .bind(&proposal.proposed_by)
        .bind(proposal.proposed_at)
        .bind(proposal.status.as_str())
        .bind(proposal.decided_by.clone())
        .bind(proposal.decided_at)
        .bind(&proposal.proposer)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Decides a pending proposal; `false` if it is not pending any more.
    pub async fn decide_proposal(
        &mut self,
        tenant: &TenantId,
        id: &PolicyProposalId,
        status: ProposalStatus,
        by: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE policy_proposals SET status = $1, decided_by = $2, decided_at = $3
             WHERE tenant_id = $4 AND id = $5 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(by)
        .bind(now)
        .bind(tenant.as_str())
        .bind(id.as_str())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One proposal, read inside the transaction.
    pub async fn proposal(
        &mut self,
        tenant: &TenantId,
        id: &PolicyProposalId,
    ) -> StoreResult<Option<ProposalRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROPOSAL_COLUMNS} FROM policy_proposals WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(proposal_from_row).transpose()
    }
}
