//! Administrative changes, each recorded with its audit entry in the same
//! transaction: the change happened if and only if the chain says so, and
//! the entry names the principal that made it.
//!
//! An entry's details (what was created or changed — never a secret) are
//! its payload, stored apart from the chain and referenced by digest, so
//! they can be erased later while the chain still verifies.

use lictor_api::agents::AgentUpdate;
use lictor_api::audit::AuditKind;
use lictor_api::discovery::DiscoveryStatus;
use lictor_api::ids::{AgentId, ApiKeyId, DiscoveredAgentId, PolicyDraftId, PolicyProposalId, TenantId};
use lictor_api::integrations::IntegrationId;
use lictor_api::intents::AuditRef;
use lictor_api::policies::ProposalStatus;
use lictor_api::tenants::StoreFailureMode;
use lictor_api::tokens::UpstreamName;
use serde_json::{Value, json};

use super::Chains;
use crate::audit::digested;
use crate::clock::Timestamp;
use crate::events::Event;
use crate::store::{
    ActiveRow, AgentRow, AttestationRow, BundleRow, DiscoveredRow, DraftRow, IntegrationRow, MintedTokenRow,
    NewApiKey, NewTenant, ProposalRow, ScimGroupRow, ScimUserRow, SlotRow, StoreError, StoreResult, StoreTx,
    TenantRateLimits, UpstreamRow,
};

/// A change an administrator asks for.
#[derive(Clone, Debug)]
pub enum AdminOp {
    /// Create a tenant (its chain starts with this entry).
    CreateTenant(NewTenant),
    /// Change a tenant's settings.
    UpdateTenant {
        /// How decisions behave when the store is down.
        store_failure: Option<StoreFailureMode>,
        /// Whether promotions need a second administrator.
        policy_two_person: Option<bool>,
        /// The tenant's rate limits, as they will be.
        rate_limits: Option<TenantRateLimits>,
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
        /// When.
        now: Timestamp,
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
    /// Create or replace a policy draft (refused while it is active or the
    /// rollback target).
    SaveDraft {
        /// The draft as it will be.
        draft: Box<DraftRow>,
        /// The bundle it makes.
        bundle: Box<BundleRow>,
        /// Whether it is new.
        created: bool,
    },
    /// Delete a policy draft (refused while it is active or the rollback
    /// target).
    DeleteDraft(PolicyDraftId),
    /// Make a draft's bundle the tenant's active one.
    Promote {
        /// The draft.
        draft_id: PolicyDraftId,
        /// Its bundle hash as the caller saw it.
        expected_hash: String,
        /// The proposal this approves, and the proposer.
        proposal: Option<(PolicyProposalId, String)>,
        /// The built-in bundle (stored when it becomes the rollback target).
        default: Box<BundleRow>,
    },
    /// Restore the previous bundle.
    Rollback {
        /// The active bundle hash as the caller saw it.
        expected_hash: Option<String>,
    },
    /// Propose a promotion (two-person rule).
    Propose(Box<ProposalRow>),
    /// Reject a pending proposal.
    RejectProposal(PolicyProposalId),
    /// Add an integration (its secrets sealed; recorded without them).
    CreateIntegration(Box<IntegrationRow>),
    /// Replace an integration's settings or state.
    UpdateIntegration {
        /// The integration as it will be.
        row: Box<IntegrationRow>,
        /// Whether its secrets changed (recorded; never their values).
        secrets_changed: bool,
    },
    /// Remove an integration.
    DeleteIntegration(IntegrationId),
    /// Mark a sink's dead letters of the tenant to be sent again.
    RedriveDeadLetters {
        /// The sink.
        sink: String,
        /// Only this entry.
        seq: Option<u64>,
    },
    /// Replace the tenant's operator access.
    SetOperatorAccess {
        /// The provider its people sign in with.
        provider: Option<String>,
        /// Role mappings and step-up policy (JSON).
        settings: String,
    },
    /// Issue the tenant's SCIM token (its hash; never the token).
    RotateScimToken {
        /// SHA-256 of the token.
        hash: String,
    },
    /// End a person's sessions and cut off their tokens.
    EndOperatorSessions(SessionsOf),
    /// A SCIM change to the tenant's people.
    Scim(Box<ScimChange>),
    /// Govern a discovered agent: review, owner, link.
    UpdateDiscovered {
        /// The discovered agent.
        id: DiscoveredAgentId,
        /// What changes.
        change: DiscoveredChange,
        /// When.
        now: Timestamp,
    },
    /// An owner's attestation.
    Attest(AttestationRow),
    /// Replace the tenant's discovery settings.
    SetDiscoverySettings {
        /// Days an attestation holds.
        attestation_days: u32,
    },
    /// Add or replace one of the tenant's catalogue services.
    SaveDiscoveryService {
        /// Its id.
        id: String,
        /// The service (JSON, as the catalogue reads it).
        service: String,
    },
    /// Remove one of the tenant's catalogue services.
    DeleteDiscoveryService(String),
}

/// What changes of a discovered agent (the fields present).
#[derive(Clone, Debug, Default)]
pub struct DiscoveredChange {
    /// The review: a status and its reason.
    pub review: Option<(DiscoveryStatus, String)>,
    /// The owner (`Some(None)` removes it).
    pub owner: Option<Option<String>>,
    /// The linked registered agent (`Some(None)` unlinks).
    pub agent_id: Option<Option<AgentId>>,
}

/// Who is cut off in the tenant (and whose sessions end).
#[derive(Clone, Debug)]
pub enum SessionsOf {
    /// The people of `provider` with this user name (lowercased).
    UserName {
        /// The provider.
        provider: String,
        /// The user name's key.
        key: String,
        /// Whether their sessions end too (they are the tenant's people).
        end: bool,
    },
    /// One person.
    Person {
        /// Their issuer.
        issuer: String,
        /// Their subject.
        subject: String,
        /// Whether their sessions end too.
        end: bool,
    },
}

/// A SCIM change, as the SCIM service decided it.
#[derive(Clone, Debug)]
pub enum ScimChange {
    /// A new user.
    CreateUser(ScimUserRow),
    /// A user as they will be (replaced or patched); their sessions end
    /// when they are no longer active, under the tenant's `provider`.
    UpdateUser {
        /// The user as they will be.
        row: ScimUserRow,
        /// The version it replaces (refused when it changed meanwhile).
        expected_version: i64,
        /// The tenant's provider.
        provider: Option<String>,
    },
    /// Delete a user, ending their sessions.
    DeleteUser {
        /// The user's id.
        id: String,
        /// The tenant's provider.
        provider: Option<String>,
    },
    /// A group as it will be, with its members changes.
    PutGroup {
        /// The group.
        row: ScimGroupRow,
        /// Whether it is new.
        created: bool,
        /// Its members, replaced (`Some`), or changed by `add`/`remove`.
        members: Option<Vec<String>>,
        /// Members to add.
        add: Vec<String>,
        /// Members to remove.
        remove: Vec<String>,
        /// The version it replaces (an update refused when it changed).
        expected_version: Option<i64>,
    },
    /// Delete a group.
    DeleteGroup(String),
}

/// An administrative change for the writer.
#[derive(Clone, Debug)]
pub struct AdminJob {
    /// The tenant whose chain records it.
    pub tenant: TenantId,
    /// Who asks (`superadmin`, `key:<id>`, `session:<id>`).
    pub principal: String,
    /// The person acting, if one is (their own credentials, or a key they
    /// made).
    pub person: Option<lictor_api::operators::Person>,
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
    /// The tenant's policy as it now is, and the proposal made or decided.
    Policy {
        /// The active row after the change (`None`: never promoted).
        active: Option<Box<ActiveRow>>,
        /// The proposal.
        proposal: Option<Box<ProposalRow>>,
        /// The entry.
        audit: AuditRef,
    },
    /// Done and recorded, concerning this many objects (redriven dead
    /// letters).
    Counted(u64, AuditRef),
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
    count: Option<u64>,
    agent_id: Option<AgentId>,
    jti: Option<String>,
    details: Value,
    agent: Option<Box<AgentRow>>,
    event: Option<Event>,
    policy: Option<PolicyState>,
}

/// A tenant's policy after a lifecycle change: the active row and the
/// proposal made or decided.
type PolicyState = (Option<Box<ActiveRow>>, Option<Box<ProposalRow>>);

fn applied(kind: AuditKind, details: Value) -> Applied {
    Applied { kind, count: None, agent_id: None, jti: None, details, agent: None, event: None, policy: None }
}

fn conflict(message: String) -> StoreError {
    StoreError::Conflict(message)
}

/// Refuses changing a draft that decides now or that a rollback returns to.
fn check_draft_free(active: Option<&ActiveRow>, id: &PolicyDraftId, action: &str) -> StoreResult<()> {
    let Some(active) = active else { return Ok(()) };
    if active.current.draft_id.as_ref() == Some(id) {
        return Err(conflict(format!(
            "draft `{id}` is active and cannot be {action}; save a new draft instead"
        )));
    }
    if active.previous.as_ref().and_then(|p| p.draft_id.as_ref()) == Some(id) {
        return Err(conflict(format!(
            "draft `{id}` is the rollback target and cannot be {action}; save a new draft instead"
        )));
    }
    Ok(())
}

fn slot_details(slot: &SlotRow) -> Value {
    json!({
        "bundle_hash": slot.bundle_hash,
        "bundle_name": slot.bundle_name,
        "draft_id": slot.draft_id.as_ref().map(PolicyDraftId::as_str),
    })
}

/// The slot of the built-in bundle, for a tenant that never promoted.
fn default_slot(default: &BundleRow) -> SlotRow {
    SlotRow {
        bundle_hash: default.hash.clone(),
        bundle_name: default.name.clone(),
        draft_id: None,
        promoted_by: None,
        promoted_at: None,
    }
}

fn policy_applied(kind: AuditKind, details: Value, tenant: &TenantId, active: ActiveRow) -> Applied {
    let mut done = applied(kind, details);
    done.event = Some(Event::Policy { tenant: tenant.clone() });
    done.policy = Some((Some(Box::new(active)), None));
    done
}

/// What an integration's entry records: never its secrets (they are not
/// in `settings`).
fn integration_details(row: &IntegrationRow) -> Value {
    json!({
        "id": row.id.as_str(),
        "name": row.name.as_str(),
        "category": row.category,
        "kind": row.kind,
        "enabled": row.enabled,
        "settings": serde_json::from_str::<Value>(&row.settings).unwrap_or(Value::Null),
    })
}

/// What the tenant decided of a discovered agent (its audit payload).
fn governance(row: &DiscoveredRow) -> Value {
    json!({
        "status": crate::store::status_str(row.status),
        "status_reason": row.status_reason,
        "owner": row.owner,
        "agent_id": row.agent_id.as_ref().map(|a| a.as_str()),
    })
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
pub(super) async fn apply(tx: &mut StoreTx, job: &AdminJob, now: Timestamp) -> StoreResult<Option<Applied>> {
    let tenant = &job.tenant;
    Ok(match &job.op {
        AdminOp::CreateTenant(row) => {
            tx.insert_tenant(row).await?;
            Some(applied(AuditKind::TenantCreated, json!({"tenant": row.id.as_str(), "name": row.name})))
        }
        AdminOp::UpdateTenant { store_failure, policy_two_person, rate_limits } => {
            let mut changed = json!({});
            let mut event = None;
            if let Some(limits) = rate_limits
                && tx.set_rate_limits(tenant, *limits).await?
            {
                changed["rate_limits"] = json!(limits.effective());
                event = Some(Event::Tenant { tenant: tenant.clone() });
            }
            if let Some(mode) = store_failure
                && tx.set_store_failure(tenant, *mode).await?
            {
                changed["store_failure"] = json!(mode.as_str());
            }
            if let Some(on) = policy_two_person
                && tx.set_policy_two_person(tenant, *on).await?
            {
                changed["policy_two_person_rule"] = json!(on);
            }
            (changed != json!({})).then(|| Applied { event, ..applied(AuditKind::TenantUpdated, changed) })
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
        AdminOp::RevokeApiKey(id) => tx.revoke_api_key(id, now).await?.then(|| Applied {
            event: Some(Event::ApiKey { tenant: tenant.clone() }),
            ..applied(AuditKind::ApiKeyRevoked, json!({"api_key_id": id.as_str()}))
        }),
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
            tx.insert_minted_token(row, caveats).await?;
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
            Some(Applied {
                event: Some(Event::Upstream { tenant: tenant.clone() }),
                ..applied(
                    AuditKind::UpstreamCreated,
                    json!({
                        "name": upstream.name.as_str(),
                        "url": upstream.url,
                        "credential_header": upstream.credential.as_ref().map(|(header, _)| header),
                        "tools": upstream.tools,
                    }),
                )
            })
        }
        AdminOp::DeleteUpstream(name) => tx.delete_upstream(tenant, name).await?.then(|| Applied {
            event: Some(Event::Upstream { tenant: tenant.clone() }),
            ..applied(AuditKind::UpstreamDeleted, json!({"name": name.as_str()}))
        }),
        AdminOp::CreateIntegration(row) => {
            tx.insert_integration(row).await?;
            Some(Applied {
                event: Some(Event::Integration { tenant: tenant.clone() }),
                ..applied(AuditKind::IntegrationCreated, integration_details(row))
            })
        }
        AdminOp::UpdateIntegration { row, secrets_changed } => tx.update_integration(row).await?.then(|| {
            let mut details = integration_details(row);
            details["secrets_changed"] = json!(secrets_changed);
            Applied {
                event: Some(Event::Integration { tenant: tenant.clone() }),
                ..applied(AuditKind::IntegrationUpdated, details)
            }
        }),
        AdminOp::DeleteIntegration(id) => tx.delete_integration(tenant, id).await?.then(|| Applied {
            event: Some(Event::Integration { tenant: tenant.clone() }),
            ..applied(AuditKind::IntegrationDeleted, json!({"id": id.as_str()}))
        }),
        AdminOp::UpdateDiscovered { id, change, now } => {
            let change = change.clone();
            let updated = tx
                .update_discovered(tenant, id, |row| {
                    if let Some((status, reason)) = change.review {
                        row.status = status;
                        row.status_reason = Some(reason);
                    }
                    if let Some(owner) = change.owner {
                        row.owner = owner;
                    }
                    if let Some(agent) = change.agent_id
                        && agent != row.agent_id
                    {
                        row.governed_at = agent.as_ref().map(|_| *now);
                        row.agent_id = agent;
                    }
                    row.updated_at = *now;
                })
                .await?;
            updated.map(|(before, after)| {
                applied(
                    AuditKind::DiscoveredAgentUpdated,
                    json!({"discovered_id": id.as_str(), "before": governance(&before), "after": governance(&after)}),
                )
            })
        }
        AdminOp::Attest(row) => {
            let at = row.attested_at;
            let updated = tx
                .update_discovered(tenant, &row.discovered_id, |agent| agent.attested_at = Some(at))
                .await?;
            match updated {
                None => None,
                Some((agent, _)) => {
                    tx.insert_attestation(row).await?;
                    Some(applied(
                        AuditKind::DiscoveredAgentAttested,
                        json!({
                            "attestation_id": row.id,
                            "discovered_id": row.discovered_id.as_str(),
                            "owner": agent.owner,
                            "statement": row.statement,
                        }),
                    ))
                }
            }
        }
        AdminOp::SetDiscoverySettings { attestation_days } => {
            let before = tx.set_attestation_days(tenant, *attestation_days).await?;
            before.map(|before| {
                applied(
                    AuditKind::DiscoverySettingsChanged,
                    json!({"before": {"attestation_days": before}, "after": {"attestation_days": attestation_days}}),
                )
            })
        }
        AdminOp::SaveDiscoveryService { id, service } => {
            let created = tx.put_discovery_service(tenant, id, service, now).await?;
            Some(applied(
                AuditKind::DiscoveryServiceSaved,
                json!({
                    "id": id,
                    "created": created,
                    "service": serde_json::from_str::<Value>(service).unwrap_or(Value::Null),
                }),
            ))
        }
        AdminOp::DeleteDiscoveryService(id) => tx
            .delete_discovery_service(tenant, id)
            .await?
            .then(|| applied(AuditKind::DiscoveryServiceDeleted, json!({"id": id}))),
        AdminOp::RedriveDeadLetters { sink, seq } => {
            let count = tx.redrive_dead_letters(sink, tenant, *seq, now).await?;
            (count > 0).then(|| Applied {
                count: Some(count),
                ..applied(AuditKind::DeadLettersRedriven, json!({"sink": sink, "seq": seq, "count": count}))
            })
        }
        AdminOp::SetOperatorAccess { provider, settings } => {
            tx.put_operator_access(tenant, provider.as_deref(), settings, now).await?;
            Some(applied(
                AuditKind::OperatorAccessChanged,
                json!({
                    "provider": provider,
                    "settings": serde_json::from_str::<Value>(settings).unwrap_or(Value::Null),
                }),
            ))
        }
        AdminOp::RotateScimToken { hash } => {
            tx.set_scim_token(tenant, hash, now).await?;
            Some(applied(
                AuditKind::ScimTokenRotated,
                json!({"token_sha256_prefix": &hash[..hash.len().min(8)]}),
            ))
        }
        AdminOp::EndOperatorSessions(who) => {
            let (ended, details) = match who {
                SessionsOf::UserName { provider, key, end } => (
                    tx.cut_off_username(tenant, (provider, key), *end, now).await?,
                    json!({"provider": provider, "user_name": key}),
                ),
                SessionsOf::Person { issuer, subject, end } => (
                    tx.cut_off_person(tenant, (issuer, subject), *end, now).await?,
                    json!({"issuer": issuer, "subject": subject}),
                ),
            };
            let mut details = details;
            details["sessions_ended"] = json!(ended);
            Some(Applied { count: Some(ended), ..applied(AuditKind::OperatorSessionsEnded, details) })
        }
        AdminOp::Scim(change) => scim(tx, tenant, change, now).await?,
        AdminOp::ErasePayload { digest, reason } => tx
            .erase_audit_payload(tenant, digest, &job.principal, now)
            .await?
            .then(|| applied(AuditKind::PayloadErased, json!({"digest": digest, "reason": reason}))),
        AdminOp::SaveDraft { draft, bundle, created } => {
            let mut draft = (**draft).clone();
            if !created {
                let Some(existing) = tx.lock_draft(tenant, &draft.id).await? else { return Ok(None) };
                check_draft_free(tx.active_policy(tenant).await?.as_ref(), &draft.id, "changed")?;
                draft.created_at = existing.created_at;
                draft.created_by = existing.created_by;
            }
            tx.insert_bundle(tenant, bundle, now).await?;
            tx.upsert_draft(&draft).await?;
            Some(applied(
                AuditKind::PolicyDraftSaved,
                json!({
                    "draft_id": draft.id.as_str(),
                    "name": draft.name,
                    "bundle_hash": draft.bundle_hash,
                    "files": draft.modules.keys().collect::<Vec<_>>(),
                    "created": created,
                }),
            ))
        }
        AdminOp::DeleteDraft(id) => {
            let Some(draft) = tx.lock_draft(tenant, id).await? else { return Ok(None) };
            check_draft_free(tx.active_policy(tenant).await?.as_ref(), id, "deleted")?;
            tx.delete_draft(tenant, id).await?;
            Some(applied(
                AuditKind::PolicyDraftDeleted,
                json!({"draft_id": id.as_str(), "name": draft.name, "bundle_hash": draft.bundle_hash}),
            ))
        }
        AdminOp::Promote { draft_id, expected_hash, proposal, default } => {
            let draft = tx
                .lock_draft(tenant, draft_id)
                .await?
                .ok_or_else(|| conflict(format!("draft `{draft_id}` was deleted")))?;
            if draft.bundle_hash != *expected_hash {
                return Err(conflict(format!(
                    "draft `{draft_id}` now has bundle hash {}, not {expected_hash}: it changed since; review it and promote again",
                    draft.bundle_hash
                )));
            }
            let active = tx.active_policy(tenant).await?;
            let generation = active.as_ref().map_or(0, |a| a.generation);
            let current = active.map_or_else(|| default_slot(default), |a| a.current);
            if current.bundle_hash == draft.bundle_hash && current.draft_id.as_ref() == Some(draft_id) {
                return Err(conflict(format!("draft `{draft_id}` is already active")));
            }
            if current.draft_id.is_none() {
                tx.insert_bundle(tenant, default, now).await?;
            }
            let mut details = json!({
                "draft_id": draft_id.as_str(),
                "bundle_hash": draft.bundle_hash,
                "bundle_name": draft.name,
                "previous": slot_details(&current),
                "generation": generation + 1,
            });
            let mut decided = None;
            if let Some((id, proposed_by)) = proposal {
                if !tx.decide_proposal(tenant, id, ProposalStatus::Approved, &job.principal, now).await? {
                    return Err(conflict(format!("proposal `{id}` is no longer pending")));
                }
                details["proposal_id"] = json!(id.as_str());
                details["proposed_by"] = json!(proposed_by);
                decided = tx.proposal(tenant, id).await?.map(Box::new);
            }
            let row = ActiveRow {
                tenant: tenant.clone(),
                generation: generation + 1,
                current: SlotRow {
                    bundle_hash: draft.bundle_hash.clone(),
                    bundle_name: draft.name.clone(),
                    draft_id: Some(draft_id.clone()),
                    promoted_by: Some(job.principal.clone()),
                    promoted_at: Some(now),
                },
                previous: Some(current),
            };
            tx.set_active_policy(&row, generation).await?;
            let mut done = policy_applied(AuditKind::PolicyPromoted, details, tenant, row);
            if let Some((_, proposal)) = done.policy.as_mut() {
                *proposal = decided;
            }
            Some(done)
        }
        AdminOp::Rollback { expected_hash } => {
            let active = tx.active_policy(tenant).await?.ok_or_else(|| {
                conflict("nothing to roll back: the tenant still decides with the built-in bundle".into())
            })?;
            if let Some(expected) = expected_hash
                && *expected != active.current.bundle_hash
            {
                return Err(conflict(format!(
                    "the active bundle is {}, not {expected}: another change came first",
                    active.current.bundle_hash
                )));
            }
            let previous =
                active.previous.clone().ok_or_else(|| conflict("nothing to roll back to".into()))?;
            let row = ActiveRow {
                tenant: tenant.clone(),
                generation: active.generation + 1,
                current: SlotRow {
                    promoted_by: Some(job.principal.clone()),
                    promoted_at: Some(now),
                    ..previous
                },
                previous: Some(active.current.clone()),
            };
            tx.set_active_policy(&row, active.generation).await?;
            let details = json!({
                "bundle_hash": row.current.bundle_hash,
                "bundle_name": row.current.bundle_name,
                "draft_id": row.current.draft_id.as_ref().map(PolicyDraftId::as_str),
                "rolled_back": slot_details(&active.current),
                "generation": row.generation,
            });
            Some(policy_applied(AuditKind::PolicyRolledBack, details, tenant, row))
        }
        AdminOp::Propose(proposal) => {
            let draft = tx
                .lock_draft(tenant, &proposal.draft_id)
                .await?
                .ok_or_else(|| conflict(format!("draft `{}` was deleted", proposal.draft_id)))?;
            if draft.bundle_hash != proposal.bundle_hash {
                return Err(conflict(format!(
                    "draft `{}` now has bundle hash {}, not {}: it changed since; review it and propose again",
                    proposal.draft_id, draft.bundle_hash, proposal.bundle_hash
                )));
            }
            tx.insert_proposal(proposal).await?;
            let mut done = applied(
                AuditKind::PolicyProposed,
                json!({
                    "proposal_id": proposal.id.as_str(),
                    "draft_id": proposal.draft_id.as_str(),
                    "bundle_hash": proposal.bundle_hash,
                    "bundle_name": proposal.bundle_name,
                }),
            );
            done.policy = Some((tx.active_policy(tenant).await?.map(Box::new), Some(proposal.clone())));
            Some(done)
        }
        AdminOp::RejectProposal(id) => {
            if !tx.decide_proposal(tenant, id, ProposalStatus::Rejected, &job.principal, now).await? {
                return Err(conflict(format!("proposal `{id}` is no longer pending")));
            }
            let proposal = tx.proposal(tenant, id).await?.map(Box::new);
            let mut done = applied(
                AuditKind::PolicyProposalRejected,
                json!({
                    "proposal_id": id.as_str(),
                    "bundle_hash": proposal.as_ref().map(|p| p.bundle_hash.clone()),
                    "proposed_by": proposal.as_ref().map(|p| p.proposed_by.clone()),
                }),
            );
            done.policy = Some((tx.active_policy(tenant).await?.map(Box::new), proposal));
            Some(done)
        }
    })
}

fn user_details(row: &ScimUserRow) -> Value {
    json!({
        "id": row.id,
        "user_name": row.user_name,
        "external_id": row.external_id,
        "active": row.active,
    })
}

/// Applies a SCIM change; a person no longer active (or deleted) has their
/// sessions ended in the same transaction.
async fn scim(
    tx: &mut StoreTx,
    tenant: &lictor_api::ids::TenantId,
    change: &ScimChange,
    now: Timestamp,
) -> StoreResult<Option<Applied>> {
    let ended = |count: u64, mut details: Value| {
        details["sessions_ended"] = json!(count);
        details
    };
    Ok(match change {
        ScimChange::CreateUser(row) => {
            tx.insert_scim_user(row).await?;
            Some(applied(AuditKind::ScimUserCreated, user_details(row)))
        }
        ScimChange::UpdateUser { row, expected_version, provider } => {
            let Some(before) = tx.lock_scim_user(tenant, &row.id).await? else { return Ok(None) };
            if before.version != *expected_version {
                return Err(conflict(format!("user `{}` changed meanwhile: read it again", row.id)));
            }
            tx.update_scim_user(row).await?;
            let mut count = 0;
            if let Some(provider) = provider {
                // Off: their sessions end. Renamed: the old name's too.
                if !row.active || before.user_name.to_lowercase() != row.user_name.to_lowercase() {
                    count += tx
                        .cut_off_username(tenant, (provider, &before.user_name.to_lowercase()), true, now)
                        .await?;
                }
                if !row.active {
                    count += tx
                        .cut_off_username(tenant, (provider, &row.user_name.to_lowercase()), true, now)
                        .await?;
                }
            }
            let mut details = ended(count, user_details(row));
            details["was_active"] = json!(before.active);
            Some(applied(AuditKind::ScimUserUpdated, details))
        }
        ScimChange::DeleteUser { id, provider } => {
            let Some(before) = tx.lock_scim_user(tenant, id).await? else { return Ok(None) };
            tx.delete_scim_user(tenant, id).await?;
            let count = match provider {
                Some(provider) => {
                    tx.cut_off_username(tenant, (provider, &before.user_name.to_lowercase()), true, now)
                        .await?
                }
                None => 0,
            };
            Some(applied(AuditKind::ScimUserDeleted, ended(count, user_details(&before))))
        }
        ScimChange::PutGroup { row, created, members, add, remove, expected_version } => {
            if !created {
                let Some(before) = tx.lock_scim_group(tenant, &row.id).await? else { return Ok(None) };
                if expected_version.is_some_and(|v| v != before.version) {
                    return Err(conflict(format!("group `{}` changed meanwhile: read it again", row.id)));
                }
            }
            let wanted: Vec<String> = members.iter().flatten().chain(add).cloned().collect();
            if let Some(missing) = tx.scim_users_exist(tenant, &wanted).await? {
                return Err(StoreError::Conflict(format!("no user `{missing}`")));
            }
            tx.upsert_scim_group(row).await?;
            if let Some(members) = members {
                for user in tx.scim_members(tenant, &row.id).await? {
                    if !members.contains(&user) {
                        tx.remove_scim_member(tenant, &row.id, &user).await?;
                    }
                }
            }
            for user in &wanted {
                tx.add_scim_member(tenant, &row.id, user).await?;
            }
            for user in remove {
                tx.remove_scim_member(tenant, &row.id, user).await?;
            }
            let kind = if *created { AuditKind::ScimGroupCreated } else { AuditKind::ScimGroupUpdated };
            Some(applied(
                kind,
                json!({
                    "id": row.id,
                    "display_name": row.display_name,
                    "external_id": row.external_id,
                    "members": tx.scim_members(tenant, &row.id).await?,
                }),
            ))
        }
        ScimChange::DeleteGroup(id) => {
            let Some(before) = tx.lock_scim_group(tenant, id).await? else { return Ok(None) };
            tx.delete_scim_group(tenant, id).await?;
            Some(applied(AuditKind::ScimGroupDeleted, json!({"id": id, "display_name": before.display_name})))
        }
    })
}

/// Appends the entry of an applied change.
pub(super) async fn record(
    tx: &mut StoreTx,
    job: &AdminJob,
    applied: Option<Applied>,
    chains: &mut Chains,
    now: Timestamp,
    published: &mut Vec<Event>,
) -> StoreResult<AdminOutcome> {
    let Some(applied) = applied else { return Ok(AdminOutcome::Unchanged) };
    let mut record = chains.next(applied.kind, &job.tenant, now)?;
    record.principal = Some(job.principal.clone());
    record.person = job.person.clone();
    record.agent_id = applied.agent_id;
    record.jti = applied.jti;
    let payload = digested(&applied.details);
    record.payload_digest = Some(payload.0.clone());
    let entry = chains.append(tx, &record, Some(&payload)).await?;
    published.extend(applied.event);
    if let Some(count) = applied.count {
        return Ok(AdminOutcome::Counted(count, entry));
    }
    Ok(match (applied.agent, applied.policy) {
        (Some(agent), _) => AdminOutcome::Agent(agent, entry),
        (None, Some((active, proposal))) => AdminOutcome::Policy { active, proposal, audit: entry },
        (None, None) => AdminOutcome::Done(entry),
    })
}
