//! `/v1/agents`.

use lictor_api::ApiError;
use lictor_api::agents::{
    Agent, AgentCreate, AgentListParams, AgentPage, AgentPath, AgentStatus, AgentUpdate, TenantScope,
};

use crate::audit::writer::{AdminJob, AdminOp, AdminOutcome};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::cursor;
use crate::error::{Error, Object};
use crate::store::{AgentRow, StoreError};

const LIST: &str = "agents";

fn view(row: AgentRow) -> Agent {
    Agent {
        id: row.id,
        tenant: row.tenant,
        name: row.name,
        owner: row.owner,
        description: row.description,
        status: row.status,
        budget: row.budget,
        created_at: row.created_at.to_datetime(),
        updated_at: row.updated_at.to_datetime(),
    }
}

/// `POST /v1/agents`.
pub(crate) async fn create(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<AgentCreate, ApiError>,
) -> Result<Agent, Error> {
    let (principal, tenant, (_, body)) =
        caller.admin((scope, body), |(scope, _)| scope.tenant.as_ref()).await?;
    let now = Timestamp::now();
    let row = AgentRow {
        tenant,
        id: body.id,
        name: body.name.to_string(),
        owner: body.owner.to_string(),
        description: body.description.map(String::from),
        status: AgentStatus::Active,
        budget: body.budget.unwrap_or_default(),
        created_at: now,
        updated_at: now,
    };
    let job = AdminJob {
        tenant: row.tenant.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::CreateAgent(row.clone()),
    };
    match caller.state.pipeline.writer().append_admin_change(job).await {
        Ok(_) => Ok(view(row)),
        Err(StoreError::Duplicate(_)) => Err(Error::already_exists(Object::Agent, &row.id)),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/agents`.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<AgentListParams, ApiError>,
) -> Result<AgentPage, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<String> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let rows = caller.state.store.list_agents(&tenant, params.status, after.as_deref(), limit + 1).await?;
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |a| a.id.to_string());
    Ok(AgentPage { items: rows.into_iter().map(view).collect(), next_cursor })
}

/// `GET /v1/agents/{agent_id}`.
pub(crate) async fn get(
    caller: &Caller<'_>,
    path: Result<AgentPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<Agent, Error> {
    let (_, tenant, (path, _)) = caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    let row = caller.state.store.get_agent(&tenant, &path.agent_id).await?;
    row.map(view).ok_or_else(|| Error::not_found(Object::Agent, &path.agent_id))
}

/// `PATCH /v1/agents/{agent_id}`.
pub(crate) async fn update(
    caller: &Caller<'_>,
    path: Result<AgentPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
    body: Result<AgentUpdate, ApiError>,
) -> Result<Agent, Error> {
    let (principal, tenant, (path, _, body)) =
        caller.admin((path, scope, body), |(_, scope, _)| scope.tenant.as_ref()).await?;
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::UpdateAgent { id: path.agent_id.clone(), update: body, now: Timestamp::now() },
    };
    let updated = match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Agent(agent, _) => Some(*agent),
        _ => None,
    };
    updated.map(view).ok_or_else(|| Error::not_found(Object::Agent, &path.agent_id))
}
