//! Administrative changes, each recorded with its audit entry in the same
//! transaction: the change happened if and only if the chain says so, and
//! the entry names the principal that made it.
//!
//! An entry's details (what was created or changed — never a secret) are
//! its payload, stored apart from the chain and referenced by digest, so
//! they can be erased later while the chain still verifies.

use serde_json::{Value, json};
use tollgate_api::agents::AgentUpdate;
use tollgate_api::audit::AuditKind;
use tollgate_api::ids::{AgentId, ApiKeyId, TenantId};
use tollgate_api::intents::AuditRef;
use tollgate_api::tenants::StoreFailureMode;
use tollgate_api::tokens::UpstreamName;

use super::Chains;
use crate::audit::{canonical_string, digest_json};
use crate::events::Event;
use crate::store::{AgentRow, MintedTokenRow, NewApiKey, NewTenant, StoreResult, StoreTx, UpstreamRow};

/// A change an administrator asks for.
#[derive(Clone, Debug)]
pub enum AdminOp {
    /// Create a tenant (its chain starts with this entry).
    CreateTenant(NewTenant),
    /// Change a tenant's settings.
    UpdateTenant {
        /// How decisions behave when the store is down.
        store_failure: Option<StoreFailureMode>,
    },
    /// Replace the webhook signing secret.
    RotateWebhookSecret {
        /// The new secret (not recorded).
        secret: String,
    },
    /// Create an API key (its hash only; the key is never recorded).
    CreateApiKey(NewApiKey),
    /// Revoke an API key.
    RevokeApiKey(ApiKeyId),
    /// Register an agent.
    CreateAgent(AgentRow),
    /// Change an agent.
    UpdateAgent {
        /// The agent.
        id: AgentId,
        /// The fields to change.
        update: AgentUpdate,
        /// When (µs).
        now: i64,
    },
    /// Record a minted root token.
    MintToken {
        /// The token's record.
        row: MintedTokenRow,
        /// Its caveats, for the entry's details.
        caveats: Value,
    },
    /// Add an upstream MCP server.
    CreateUpstream(UpstreamRow),
    /// Remove an upstream MCP server.
    DeleteUpstream(UpstreamName),
    /// Erase a stored payload's body.
    ErasePayload {
        /// The payload's digest.
        digest: String,
        /// Why (recorded).
        reason: String,
    },
}

/// An administrative change for the writer.
#[derive(Clone, Debug)]
pub struct AdminJob {
    /// The tenant whose chain records it.
    pub tenant: TenantId,
    /// Who asks (`superadmin`, `key:<id>`).
    pub principal: String,
    /// What.
    pub op: AdminOp,
}

/// What became of an administrative change.
#[derive(Clone, Debug)]
pub enum AdminOutcome {
    /// Done and recorded.
    Done(AuditRef),
    /// The agent as it now is (updates).
    Agent(Box<AgentRow>, AuditRef),
    /// Nothing to do (the object does not exist, or is already in that
    /// state): nothing changed, nothing recorded.
    Unchanged,
}

impl AdminJob {
    /// The agent row this job locks (with the batch's other agent locks).
    pub(super) fn locked_agent(&self) -> Option<(&TenantId, &AgentId)> {
        match &self.op {
            AdminOp::UpdateAgent { id, .. } => Some((&self.tenant, id)),
            _ => None,
        }
    }
}

/// A change applied, waiting for its entry.
#[derive(Debug)]
pub(super) struct Applied {
    kind: AuditKind,
    agent_id: Option<AgentId>,
    jti: Option<String>,
    details: Value,
    agent: Option<Box<AgentRow>>,
    event: Option<Event>,
}

fn applied(kind: AuditKind, details: Value) -> Applied {
    Applied { kind, agent_id: None, jti: None, details, agent: None, event: None }
}

fn agent_details(agent: &AgentRow) -> Value {
    json!({
        "agent_id": agent.id.as_str(),
        "name": agent.name,
        "owner": agent.owner,
        "description": agent.description,
        "status": agent.status.as_str(),
        "budget": agent.budget,
    })
}

/// Applies the change (before the batch's chain heads are locked, so a new
/// tenant exists when its head is created); `None` when nothing changed.
pub(super) async fn apply(tx: &mut StoreTx, job: &AdminJob, now: i64) -> StoreResult<Option<Applied>> {
    let tenant = &job.tenant;
    Ok(match &job.op {
        AdminOp::CreateTenant(row) => {
            tx.insert_tenant(row).await?;
            Some(applied(AuditKind::TenantCreated, json!({"tenant": row.id.as_str(), "name": row.name})))
        }
        AdminOp::UpdateTenant { store_failure } => {
            let mut changed = json!({});
            if let Some(mode) = store_failure
                && tx.set_store_failure(tenant, *mode).await?
            {
                changed["store_failure"] = json!(mode.as_str());
            }
            (changed != json!({})).then(|| applied(AuditKind::TenantUpdated, changed))
        }
        AdminOp::RotateWebhookSecret { secret } => tx
            .set_webhook_secret(tenant, secret)
            .await?
            .then(|| applied(AuditKind::WebhookSecretRotated, json!({"tenant": tenant.as_str()}))),
        AdminOp::CreateApiKey(key) => {
            tx.insert_api_key(key).await?;
            let mut done = applied(
                AuditKind::ApiKeyCreated,
                json!({
                    "api_key_id": key.id.as_str(),
                    "name": key.name,
                    "environment": key.environment.as_str(),
                    "role": key.role.as_str(),
                    "agent_id": key.agent_id.as_ref().map(|a| a.as_str()),
                    "prefix": key.prefix,
                }),
            );
            done.agent_id = key.agent_id.clone();
            Some(done)
        }
        AdminOp::RevokeApiKey(id) => tx
            .revoke_api_key(id, now)
            .await?
            .then(|| applied(AuditKind::ApiKeyRevoked, json!({"api_key_id": id.as_str()}))),
        AdminOp::CreateAgent(agent) => {
            tx.insert_agent(agent).await?;
            let mut done = applied(AuditKind::AgentCreated, agent_details(agent));
            done.agent_id = Some(agent.id.clone());
            done.event = Some(Event::Agent { tenant: tenant.clone(), agent: agent.id.clone() });
            Some(done)
        }
        AdminOp::UpdateAgent { id, update, now } => {
            let update = update.clone();
            let changed = tx
                .update_agent(tenant, id, |agent| {
                    if let Some(name) = update.name {
                        agent.name = name.to_string();
                    }
                    if let Some(owner) = update.owner {
                        agent.owner = owner.to_string();
                    }
                    if let Some(description) = update.description {
                        agent.description = description.map(String::from);
                    }
                    if let Some(status) = update.status {
                        agent.status = status;
                    }
                    if let Some(budget) = update.budget {
                        agent.budget = budget;
                    }
                    agent.updated_at = *now;
                })
                .await?;
            changed.map(|(before, after)| {
                let mut done = applied(
                    AuditKind::AgentUpdated,
                    json!({"before": agent_details(&before), "after": agent_details(&after)}),
                );
                done.agent_id = Some(after.id.clone());
                done.event = Some(Event::Agent { tenant: tenant.clone(), agent: after.id.clone() });
                done.agent = Some(Box::new(after));
                done
            })
        }
        AdminOp::MintToken { row, caveats } => {
            tx.insert_minted_token(row).await?;
            let mut done = applied(
                AuditKind::TokenMinted,
                json!({
                    "jti": row.jti,
                    "subject": row.subject.as_str(),
                    "kid": row.kid,
                    "issued_at": row.issued_at,
                    "expires_at": row.expires_at,
                    "caveats": caveats,
                }),
            );
            done.agent_id = Some(row.subject.clone());
            done.jti = Some(row.jti.clone());
            Some(done)
        }
        AdminOp::CreateUpstream(upstream) => {
            tx.insert_upstream(upstream).await?;
            Some(applied(
                AuditKind::UpstreamCreated,
                json!({
                    "name": upstream.name.as_str(),
                    "url": upstream.url,
                    "credential_header": upstream.credential.as_ref().map(|(header, _)| header),
                    "tools": upstream.tools,
                }),
            ))
        }
        AdminOp::DeleteUpstream(name) => tx
            .delete_upstream(tenant, name)
            .await?
            .then(|| applied(AuditKind::UpstreamDeleted, json!({"name": name.as_str()}))),
        AdminOp::ErasePayload { digest, reason } => tx
            .erase_audit_payload(tenant, digest, &job.principal, now)
            .await?
            .then(|| applied(AuditKind::PayloadErased, json!({"digest": digest, "reason": reason}))),
    })
}

/// Appends the entry of an applied change.
pub(super) async fn record(
    tx: &mut StoreTx,
    job: &AdminJob,
    applied: Option<Applied>,
    chains: &mut Chains,
    now: i64,
    published: &mut Vec<Event>,
) -> StoreResult<AdminOutcome> {
    let Some(applied) = applied else { return Ok(AdminOutcome::Unchanged) };
    let mut record = chains.next(applied.kind, &job.tenant, now)?;
    record.principal = Some(job.principal.clone());
    record.agent_id = applied.agent_id;
    record.jti = applied.jti;
    let payload = (digest_json(&applied.details), canonical_string(&applied.details));
    record.payload_digest = Some(payload.0.clone());
    let entry = chains.append(tx, &record, Some(&payload)).await?;
    published.extend(applied.event);
    Ok(match applied.agent {
        Some(agent) => AdminOutcome::Agent(agent, entry),
        None => AdminOutcome::Done(entry),
    })
}
