//! `/v1/admin/policies`: drafts, dry-runs, promotion, rollback and
//! two-person proposals.

use std::collections::BTreeMap;
use std::sync::Arc;

use lictor_api::agents::TenantScope;
use lictor_api::error::SourceLocation;
use lictor_api::ids::{PolicyDraftId, TenantId};
use lictor_api::policies::{
    ActivePolicy, MAX_MODULES, PolicyChange, PolicyChangeOutcome, PolicyDraft, PolicyDraftListParams,
    PolicyDraftPage, PolicyDraftPath, PolicyDraftSummary, PolicyDraftWrite, PolicyDryRun,
    PolicyDryRunRequest, PolicyPromote, PolicyProposal, PolicyProposalListParams, PolicyProposalPage,
    PolicyProposalPath, PolicyRollback, PolicySource, PolicyTemplate, PolicyTemplateList, PolicyVersion,
    ProposalStatus,
};
use lictor_api::{ApiError, ErrorCode};
use serde_json::{Map, Value};

use crate::audit::writer::{AdminJob, AdminOp, AdminOutcome};
use crate::auth::Principal;
use crate::caller::Caller;
use crate::clock;
use crate::clock::Timestamp;
use crate::cursor;
use crate::error::{Error, Object};
use crate::ids;
use crate::policy::registry::recorded_sample;
use crate::policy::{
    Bundle, PolicyEngine, PolicyError, bundle::is_test_module, check_tests, dry_run, rego_tests, templates,
};
use crate::store::{ActiveRow, BundleRow, DraftRow, ProposalRow, SlotRow};

const DRAFTS: &str = "policy-drafts";
const PROPOSALS: &str = "policy-proposals";

/// Most modules in one draft.
/// Most synthetic inputs in one dry-run.
const MAX_INPUTS: usize = 100;
/// Default and largest number of recorded decisions a dry-run replays.
const DEFAULT_REPLAY: u32 = 1000;
const MAX_REPLAY: u32 = 5000;

fn invalid(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::InvalidField { path: path.into(), message: message.into() }
}

fn module_path(file: &str) -> String {
    format!("$.modules['{}']", file.replace('\'', "\\'"))
}

/// Checks a candidate's modules and data and compiles it: the engine, or a
/// typed error naming the module (and line and column).
fn compile(
    caller: &Caller<'_>,
    tenant: &TenantId,
    name: &str,
    modules: &BTreeMap<String, String>,
    data: &Map<String, Value>,
) -> Result<Arc<PolicyEngine>, Error> {
    if modules.is_empty() {
        return Err(invalid("$.modules", "a bundle needs at least one module"));
    }
    if u32::try_from(modules.len()).map_or(true, |n| n > MAX_MODULES) {
        return Err(invalid("$.modules", format!("at most {MAX_MODULES} modules")));
    }
    for file in modules.keys() {
        let valid = file.len() <= 200
            && file.ends_with(".rego")
            && file.len() > ".rego".len()
            && file.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
            && !file.starts_with('/')
            && !file.contains("..");
        if !valid {
            return Err(invalid(
                module_path(file),
                format!("`{file}` is not a module name: letters, digits, `_ - . /`, ending in `.rego`"),
            ));
        }
    }
    if modules.keys().all(|file| is_test_module(file)) {
        return Err(invalid(
            "$.modules",
            "every module is a test module (`*_test.rego`); add the policy itself",
        ));
    }
    let bundle = Bundle::new(name, modules.clone(), Value::Object(data.clone()));
    let limits = caller.state.policies.limits();
    let compiled = check_tests(&bundle, limits).and_then(|()| caller.state.policies.compile(tenant, bundle));
    compiled.map_err(|error| compile_error(&error, modules))
}

fn compile_error(error: &PolicyError, modules: &BTreeMap<String, String>) -> Error {
    let mut api = ApiError::new(ErrorCode::PolicyCompileError, error.summary());
    match error.location() {
        Some((file, line, column)) => {
            let path = if modules.contains_key(&file) { module_path(&file) } else { "$.modules".into() };
            api = api.at_path(path).at_location(SourceLocation { file: file.clone(), line, column });
            api.message = format!("{file}:{line}:{column}: {}", error.summary());
        }
        None => api = api.at_path("$.modules"),
    }
    Error::Invalid(api)
}

fn draft_flags(id: &PolicyDraftId, active: Option<&ActiveRow>) -> (bool, bool) {
    let is = |slot: Option<&SlotRow>| slot.and_then(|s| s.draft_id.as_ref()) == Some(id);
    (is(active.map(|a| &a.current)), is(active.and_then(|a| a.previous.as_ref())))
}

fn draft_view(row: DraftRow, active: Option<&ActiveRow>) -> PolicyDraft {
    let (is_active, rollback_target) = draft_flags(&row.id, active);
    PolicyDraft {
        id: row.id,
        tenant: row.tenant,
        name: row.name,
        description: row.description,
        modules: row.modules,
        data: row.data,
        bundle_hash: row.bundle_hash,
        active: is_active,
        rollback_target,
        created_at: row.created_at.to_datetime(),
        created_by: row.created_by,
        updated_at: row.updated_at.to_datetime(),
        updated_by: row.updated_by,
    }
}

fn draft_not_found(id: &PolicyDraftId) -> Error {
    Error::not_found(Object::PolicyDraft, id)
}

/// `POST /v1/admin/policies/drafts` and `PUT …/drafts/{draft_id}`.
pub(crate) async fn save_draft(
    caller: &Caller<'_>,
    path: Option<Result<PolicyDraftPath, ApiError>>,
    scope: Result<TenantScope, ApiError>,
    body: Result<PolicyDraftWrite, ApiError>,
) -> Result<PolicyDraft, Error> {
    let (principal, tenant, (path, _, body)) =
        caller.admin((path.transpose(), scope, body), |(_, scope, _)| scope.tenant.as_ref()).await?;
    let data = body.data.clone().unwrap_or_default();
    let engine = compile(caller, &tenant, &body.name.to_string(), &body.modules, &data)?;
    let now = Timestamp::now();
    let created = path.is_none();
    let id = match path {
        Some(path) => path.draft_id,
        None => ids::policy_draft_id(),
    };
    let draft = DraftRow {
        id: id.clone(),
        tenant: tenant.clone(),
        name: body.name.to_string(),
        description: body.description.map(String::from),
        modules: body.modules,
        data,
        bundle_hash: engine.bundle().hash().to_string(),
        created_at: now,
        created_by: principal.describe(),
        updated_at: now,
        updated_by: principal.describe(),
    };
    let bundle = BundleRow {
        hash: engine.bundle().hash().to_string(),
        name: engine.bundle().name().to_string(),
        modules: engine.bundle().modules().clone(),
        data: engine.bundle().data().clone(),
    };
    let job = AdminJob {
        tenant: tenant.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::SaveDraft { draft: Box::new(draft), bundle: Box::new(bundle), created },
    };
    if let AdminOutcome::Unchanged = caller.state.pipeline.writer().append_admin_change(job).await? {
        return Err(draft_not_found(&id));
    }
    let row = caller.state.store.get_draft(&tenant, &id).await?.ok_or_else(|| draft_not_found(&id))?;
    let active = caller.state.store.get_active_policy(&tenant).await?;
    Ok(draft_view(row, active.as_ref()))
}

/// `GET /v1/admin/policies/drafts/{draft_id}`.
pub(crate) async fn get_draft(
    caller: &Caller<'_>,
    path: Result<PolicyDraftPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<PolicyDraft, Error> {
    let (_, tenant, (path, _)) = caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    let row = caller.state.store.get_draft(&tenant, &path.draft_id).await?;
    let row = row.ok_or_else(|| draft_not_found(&path.draft_id))?;
    let active = caller.state.store.get_active_policy(&tenant).await?;
    Ok(draft_view(row, active.as_ref()))
}

/// `GET /v1/admin/policies/drafts`.
pub(crate) async fn list_drafts(
    caller: &Caller<'_>,
    params: Result<PolicyDraftListParams, ApiError>,
) -> Result<PolicyDraftPage, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<String> = cursor::decode_opt(DRAFTS, params.cursor.as_deref())?;
    let rows = caller.state.store.list_drafts(&tenant, after.as_deref(), limit + 1).await?;
    let (rows, next_cursor) = cursor::page(DRAFTS, rows, limit, |d| d.id.to_string());
    let active = caller.state.store.get_active_policy(&tenant).await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let (is_active, rollback_target) = draft_flags(&row.id, active.as_ref());
            PolicyDraftSummary {
                files: row.modules.keys().cloned().collect(),
                id: row.id,
                tenant: row.tenant,
                name: row.name,
                description: row.description,
                bundle_hash: row.bundle_hash,
                active: is_active,
                rollback_target,
                updated_at: row.updated_at.to_datetime(),
                updated_by: row.updated_by,
            }
        })
        .collect();
    Ok(PolicyDraftPage { items, next_cursor })
}

/// `DELETE /v1/admin/policies/drafts/{draft_id}`.
pub(crate) async fn delete_draft(
    caller: &Caller<'_>,
    path: Result<PolicyDraftPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<(), Error> {
    let (principal, tenant, (path, _)) =
        caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::DeleteDraft(path.draft_id.clone()),
    };
    match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Unchanged => Err(draft_not_found(&path.draft_id)),
        _ => Ok(()),
    }
}

fn version(slot: &SlotRow, default_hash: &str) -> PolicyVersion {
    PolicyVersion {
        bundle_hash: slot.bundle_hash.clone(),
        bundle_name: slot.bundle_name.clone(),
        source: if slot.draft_id.is_none() && slot.bundle_hash == default_hash {
            PolicySource::Default
        } else {
            PolicySource::Draft
        },
        draft_id: slot.draft_id.clone(),
        promoted_by: slot.promoted_by.clone(),
        promoted_at: slot.promoted_at.map(Timestamp::to_datetime),
    }
}

fn active_view(
    caller: &Caller<'_>,
    tenant: &TenantId,
    row: Option<&ActiveRow>,
    two_person: bool,
) -> ActivePolicy {
    let default = caller.state.policies.default_engine();
    let default_hash = default.bundle().hash();
    let default_slot = SlotRow {
        bundle_hash: default_hash.to_string(),
        bundle_name: default.bundle().name().to_string(),
        draft_id: None,
        promoted_by: None,
        promoted_at: None,
    };
    ActivePolicy {
        tenant: tenant.clone(),
        current: version(row.map_or(&default_slot, |r| &r.current), default_hash),
        previous: row.and_then(|r| r.previous.as_ref()).map(|p| version(p, default_hash)),
        generation: row.map_or(0, |r| u64::try_from(r.generation).unwrap_or_default()),
        two_person_rule: two_person,
    }
}

async fn two_person_rule(caller: &Caller<'_>, tenant: &TenantId) -> Result<bool, Error> {
    Ok(caller.state.store.get_tenant(tenant).await?.is_some_and(|t| t.policy_two_person))
}

/// `GET /v1/admin/policies/active`.
pub(crate) async fn active(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
) -> Result<ActivePolicy, Error> {
    let (_, tenant, _) = caller.admin(scope, |scope| scope.tenant.as_ref()).await?;
    let row = caller.state.store.get_active_policy(&tenant).await?;
    let two_person = two_person_rule(caller, &tenant).await?;
    Ok(active_view(caller, &tenant, row.as_ref(), two_person))
}

fn proposal_view(row: ProposalRow) -> PolicyProposal {
    PolicyProposal {
        id: row.id,
        tenant: row.tenant,
        draft_id: row.draft_id,
        bundle_hash: row.bundle_hash,
        bundle_name: row.bundle_name,
        proposed_by: row.proposed_by,
        proposed_at: row.proposed_at.to_datetime(),
        status: row.status,
        decided_by: row.decided_by,
        decided_at: row.decided_at.map(Timestamp::to_datetime),
    }
}

fn default_bundle_row(caller: &Caller<'_>) -> BundleRow {
    let default = caller.state.policies.default_engine();
    let bundle = default.bundle();
    BundleRow {
        hash: bundle.hash().to_string(),
        name: bundle.name().to_string(),
        modules: bundle.modules().clone(),
        data: bundle.data().clone(),
    }
}

/// Sends a lifecycle change to the writer and, when it changed the active
/// bundle, makes it decide here before answering (other replicas follow
/// through `NOTIFY`).
async fn change(
    caller: &Caller<'_>,
    tenant: &TenantId,
    principal: &Principal,
    op: AdminOp,
    outcome: PolicyChangeOutcome,
) -> Result<PolicyChange, Error> {
    let job =
        AdminJob { tenant: tenant.clone(), principal: principal.describe(), person: principal.person(), op };
    let AdminOutcome::Policy { active, proposal, audit } =
        caller.state.pipeline.writer().append_admin_change(job).await?
    else {
        return Err(Error::Internal("a policy change answered no policy".into()));
    };
    if matches!(outcome, PolicyChangeOutcome::Promoted | PolicyChangeOutcome::RolledBack)
        && let Some(row) = active.as_deref()
    {
        // Loaded from the store like any replica would; the engine is
        // usually compiled already (the draft was compiled on save).
        caller.state.policies.reload(&caller.state.store, tenant).await.map_err(|e| {
            Error::Internal(format!("loading the promoted bundle {}: {e}", row.current.bundle_hash))
        })?;
    }
    let two_person = two_person_rule(caller, tenant).await?;
    Ok(PolicyChange {
        outcome,
        active: active_view(caller, tenant, active.as_deref(), two_person),
        proposal: proposal.map(|p| proposal_view(*p)),
        audit,
    })
}

fn check_hash(path: &str, hash: &str) -> Result<(), Error> {
    let valid = hash.len() == 64 && hash.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    if valid { Ok(()) } else { Err(invalid(path, "a bundle hash is 64 lowercase hex digits")) }
}

/// `POST /v1/admin/policies/active`.
pub(crate) async fn promote(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<PolicyPromote, ApiError>,
) -> Result<PolicyChange, Error> {
    let principal = caller.principal().await?;
    let (scope, body) = (scope?, body?);
    check_hash("$.expected_hash", &body.expected_hash)?;
    let tenant = caller.tenant_scope(&principal, scope.tenant.as_ref()).await?;
    let draft = caller.state.store.get_draft(&tenant, &body.draft_id).await?;
    let draft = draft.ok_or_else(|| draft_not_found(&body.draft_id))?;
    // Compiled before anything changes, its engines compared on the
    // tenant's recent traffic too.
    let bundle = Bundle::new(&draft.name, draft.modules.clone(), Value::Object(draft.data.clone()));
    let recorded = recorded_sample(&caller.state.store, &tenant, &bundle).await?;
    let (policies, scope, compiling) = (caller.state.policies.clone(), tenant.clone(), bundle.clone());
    tokio::task::spawn_blocking(move || policies.compile_confirmed(&scope, compiling, &recorded))
        .await
        .map_err(|e| PolicyError::Compile(format!("compiling was interrupted: {e}")))
        .and_then(|compiled| compiled)
        .map_err(|e| compile_error(&e, &draft.modules))?;
    within_limits(caller, bundle).await.map_err(|e| compile_error(&e, &draft.modules))??;
    if two_person_rule(caller, &tenant).await? {
        let proposal = ProposalRow {
            id: ids::policy_proposal_id(),
            tenant: tenant.clone(),
            draft_id: draft.id.clone(),
            bundle_hash: body.expected_hash.clone(),
            bundle_name: draft.name.clone(),
            proposed_by: principal.describe(),
            proposer: Some(principal.actor()),
            proposed_at: Timestamp::now(),
            status: ProposalStatus::Pending,
            decided_by: None,
            decided_at: None,
        };
        let op = AdminOp::Propose(Box::new(proposal));
        return change(caller, &tenant, &principal, op, PolicyChangeOutcome::Proposed).await;
    }
    let op = AdminOp::Promote {
        draft_id: body.draft_id,
        expected_hash: body.expected_hash,
        proposal: None,
        default: Box::new(default_bundle_row(caller)),
    };
    change(caller, &tenant, &principal, op, PolicyChangeOutcome::Promoted).await
}

/// Runs the draft's own tests under the limits decisions run under: a
/// bundle whose tests run into them would block decisions once promoted.
async fn within_limits(caller: &Caller<'_>, bundle: Bundle) -> Result<Result<(), Error>, PolicyError> {
    let limits = caller.state.policies.limits();
    let results = tokio::task::spawn_blocking(move || rego_tests::run_within(&bundle, limits))
        .await
        .map_err(|e| PolicyError::Evaluation(format!("the draft's tests did not finish: {e}")))??;
    Ok(match results.iter().find(|r| r.limited) {
        Some(test) => Err(invalid(
            "$.draft_id",
            format!(
                "the draft's test `{}` runs into the evaluation limits ({}): promoted, decisions would block",
                test.name,
                test.error.as_deref().unwrap_or("limit exceeded")
            ),
        )),
        None => Ok(()),
    })
}

/// `POST /v1/admin/policies/rollback`.
pub(crate) async fn rollback(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<PolicyRollback, ApiError>,
) -> Result<PolicyChange, Error> {
    let principal = caller.principal().await?;
    let (scope, body) = (scope?, body?);
    if let Some(hash) = &body.expected_hash {
        check_hash("$.expected_hash", hash)?;
    }
    let tenant = caller.tenant_scope(&principal, scope.tenant.as_ref()).await?;
    let op = AdminOp::Rollback { expected_hash: body.expected_hash };
    change(caller, &tenant, &principal, op, PolicyChangeOutcome::RolledBack).await
}

/// `GET /v1/admin/policies/proposals`.
pub(crate) async fn list_proposals(
    caller: &Caller<'_>,
    params: Result<PolicyProposalListParams, ApiError>,
) -> Result<PolicyProposalPage, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let before: Option<String> = cursor::decode_opt(PROPOSALS, params.cursor.as_deref())?;
    let rows =
        caller.state.store.list_proposals(&tenant, params.status, before.as_deref(), limit + 1).await?;
    let (rows, next_cursor) = cursor::page(PROPOSALS, rows, limit, |p| p.id.to_string());
    Ok(PolicyProposalPage { items: rows.into_iter().map(proposal_view).collect(), next_cursor })
}

/// `POST /v1/admin/policies/proposals/{proposal_id}/approve|reject`.
pub(crate) async fn decide_proposal(
    caller: &Caller<'_>,
    path: Result<PolicyProposalPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
    approve: bool,
) -> Result<PolicyChange, Error> {
    let (principal, tenant, (path, _)) =
        caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    let id = path.proposal_id;
    let proposal = caller.state.store.get_proposal(&tenant, &id).await?;
    let proposal = proposal.ok_or_else(|| Error::not_found(Object::PolicyProposal, &id))?;
    if proposal.status != ProposalStatus::Pending {
        return Err(Error::conflict(
            Object::PolicyProposal,
            &id,
            format!("is already {}", proposal.status.as_str()),
        ));
    }
    if !approve {
        return change(
            caller,
            &tenant,
            &principal,
            AdminOp::RejectProposal(id),
            PolicyChangeOutcome::Rejected,
        )
        .await;
    }
    // Two people: not the same person under other credentials, nor a key
    // made by the proposer (or by a key they made).
    let proposer = proposal.proposer.clone().unwrap_or_else(|| proposal.proposed_by.clone());
    let approver = match proposal.proposer {
        Some(_) => principal.actor(),
        None => principal.describe(),
    };
    if proposer == approver {
        return Err(Error::Forbidden(
            "two-person rule: the proposal must be approved by another person than the one who proposed it"
                .into(),
        ));
    }
    let op = AdminOp::Promote {
        draft_id: proposal.draft_id.clone(),
        expected_hash: proposal.bundle_hash.clone(),
        proposal: Some((id, proposal.proposed_by.clone())),
        default: Box::new(default_bundle_row(caller)),
    };
    change(caller, &tenant, &principal, op, PolicyChangeOutcome::Promoted).await
}

/// `POST /v1/admin/policies/dry-run`.
pub(crate) async fn dry_run(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<PolicyDryRunRequest, ApiError>,
) -> Result<PolicyDryRun, Error> {
    let (_, tenant, (_, body)) = caller.admin((scope, body), |(scope, _)| scope.tenant.as_ref()).await?;
    if body.inputs.len() > MAX_INPUTS {
        return Err(invalid("$.inputs", format!("at most {MAX_INPUTS} inputs")));
    }
    if let Some(index) = body.inputs.iter().position(|input| !input.is_object()) {
        return Err(invalid(format!("$.inputs[{index}]"), "an input document is a JSON object"));
    }
    let engine = match (&body.draft_id, &body.modules) {
        (Some(id), None) => {
            if body.data.is_some() {
                return Err(invalid("$.data", "`data` goes with `modules`; a draft has its own"));
            }
            let draft =
                caller.state.store.get_draft(&tenant, id).await?.ok_or_else(|| draft_not_found(id))?;
            compile(caller, &tenant, &draft.name, &draft.modules, &draft.data)?
        }
        (None, Some(modules)) => {
            compile(caller, &tenant, "dry-run", modules, &body.data.clone().unwrap_or_default())?
        }
        _ => return Err(invalid("$", "give exactly one of `draft_id` and `modules`")),
    };
    let window = match &body.history {
        Some(history) => {
            let to = history.to.map_or_else(Timestamp::now, Timestamp::from_datetime);
            let from = history.from.map_or(to - clock::DAY, Timestamp::from_datetime);
            if from >= to {
                return Err(invalid("$.history.to", "`to` must be after `from`"));
            }
            let limit = history.limit.unwrap_or(DEFAULT_REPLAY);
            if !(1..=MAX_REPLAY).contains(&limit) {
                return Err(invalid("$.history.limit", format!("between 1 and {MAX_REPLAY}")));
            }
            let mut rows = caller
                .state
                .store
                .replay_rows(&tenant, from, to, history.agent_id.as_ref(), limit + 1)
                .await?;
            let truncated = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            Some((rows, from, to, truncated))
        }
        None => None,
    };
    let active_bundle_hash = caller.state.policies.for_tenant(&tenant).bundle().hash().to_string();
    let bundle_hash = engine.bundle().hash().to_string();
    let inputs = body.inputs;
    // Evaluation is CPU work: off the request threads.
    let (evaluations, history) = tokio::task::spawn_blocking(move || {
        let evaluations: Vec<_> = inputs.iter().map(|input| dry_run::evaluate(&engine, input)).collect();
        let history =
            window.map(|(rows, from, to, truncated)| dry_run::replay(&engine, &rows, from, to, truncated));
        (evaluations, history)
    })
    .await
    .map_err(|e| Error::Internal(format!("dry-run interrupted: {e}")))?;
    let warnings = dry_run::warnings(&evaluations, history.as_ref().map(|(h, s)| (h, *s)));
    Ok(PolicyDryRun {
        bundle_hash,
        active_bundle_hash,
        inputs: evaluations,
        history: history.map(|(h, _)| h),
        warnings,
    })
}

/// `GET /v1/admin/policies/templates`.
pub(crate) async fn templates(caller: &Caller<'_>) -> Result<PolicyTemplateList, Error> {
    caller.principal().await?;
    let items = templates::templates()
        .iter()
        .map(|t| PolicyTemplate {
            name: t.name.to_string(),
            description: t.description.to_string(),
            files: t.files.iter().map(|(name, text)| (name.to_string(), text.to_string())).collect(),
            bundle_hash: t.bundle().hash().to_string(),
        })
        .collect();
    Ok(PolicyTemplateList { items })
}
