//! `/v1/admin/api-keys`.

use lictor_api::ApiError;
use lictor_api::api_keys::{
    ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyListParams, ApiKeyPage, ApiKeyPath, Environment, Role,
};
use lictor_api::tenants::RateLimit;

use crate::audit::writer::{AdminJob, AdminOp};
use crate::auth::{Principal, not_found_tenant};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::credentials;
use crate::cursor;
use crate::error::{Error, Object};
use crate::ids;
use crate::store::{ApiKeyRow, NewApiKey};

const LIST: &str = "api-keys";

/// The key as its tenant's administrators see it, with the limit of its
/// own bucket (`per_key`, its tenant's) unless it is a `test` key.
fn view(row: ApiKeyRow, per_key: RateLimit) -> ApiKey {
    ApiKey {
        rate_limit: (row.environment != Environment::Test).then_some(per_key),
        id: row.id,
        tenant: row.tenant,
        environment: row.environment,
        role: row.role,
        name: row.name,
        prefix: row.prefix,
        agent_id: row.agent_id,
        created_at: row.created_at.to_datetime(),
        revoked_at: row.revoked_at.map(Timestamp::to_datetime),
        person: row.person,
    }
}

/// `POST /v1/admin/api-keys`.
pub(crate) async fn create(
    caller: &Caller<'_>,
    body: Result<ApiKeyCreate, ApiError>,
) -> Result<ApiKeyCreated, Error> {
    let principal = caller.principal().await?;
    let body = body?;
    caller.visible(&principal, &body.tenant).await?;
    if caller.state.store.get_tenant(&body.tenant).await?.is_none() {
        return Err(not_found_tenant(&body.tenant));
    }
    principal.require_environment(body.environment, "create this key")?;
    if let Some(agent) = &body.agent_id {
        if body.role != Role::Agent {
            return Err(Error::InvalidField {
                path: "$.agent_id".into(),
                message: "only agent keys can be restricted to an agent".into(),
            });
        }
        if caller.state.store.get_agent(&body.tenant, agent).await?.is_none() {
            return Err(Error::InvalidField {
                path: "$.agent_id".into(),
                message: format!("agent `{agent}` is not registered in tenant `{}`", body.tenant),
            });
        }
    }
    // The key acts for whoever made it: a person, or the actor of the key
    // that made it; a key the superadmin key makes stands for itself.
    let (acts_for, person) = match &principal {
        Principal::Superadmin => (None, None),
        _ => (Some(principal.actor()), principal.person()),
    };
    let issued = credentials::new_api_key(body.environment);
    let row = NewApiKey {
        id: ids::api_key_id(),
        tenant: body.tenant,
        name: body.name.to_string(),
        environment: body.environment,
        role: body.role,
        agent_id: body.agent_id,
        prefix: issued.prefix,
        key_hash: issued.hash,
        created_at: Timestamp::now(),
        acts_for,
        person,
    };
    let job = AdminJob {
        tenant: row.tenant.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::CreateApiKey(row.clone()),
    };
    caller.state.pipeline.writer().append_admin_change(job).await?;
    let per_key = caller.state.rate_limits.limits(&row.tenant).await.per_key;
    Ok(ApiKeyCreated {
        key: issued.key,
        api_key: view(
            ApiKeyRow {
                id: row.id,
                tenant: row.tenant,
                name: row.name,
                environment: row.environment,
                role: row.role,
                agent_id: row.agent_id,
                prefix: row.prefix,
                created_at: row.created_at,
                revoked_at: None,
                acts_for: row.acts_for,
                person: row.person,
            },
            per_key,
        ),
    })
}

/// `GET /v1/admin/api-keys`.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<ApiKeyListParams, ApiError>,
) -> Result<ApiKeyPage, Error> {
    let principal = caller.principal().await?;
    let params = params?;
    let tenant = match (principal.is_superadmin(), params.tenant) {
        (true, tenant) => tenant,
        (false, tenant) => Some(caller.tenant_scope(&principal, tenant.as_ref()).await?),
    };
    let limit = cursor::limit(params.limit)?;
    let after: Option<(i64, String)> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let rows = caller.state.store.list_api_keys(tenant.as_ref(), after, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |k| (k.created_at, k.id.to_string()));
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let per_key = caller.state.rate_limits.limits(&row.tenant).await.per_key;
        items.push(view(row, per_key));
    }
    Ok(ApiKeyPage { items, next_cursor })
}

/// `DELETE /v1/admin/api-keys/{key_id}`.
pub(crate) async fn revoke(caller: &Caller<'_>, path: Result<ApiKeyPath, ApiError>) -> Result<(), Error> {
    let principal = caller.principal().await?;
    let path = path?;
    let not_found = || Error::not_found(Object::ApiKey, &path.key_id);
    let key = caller.state.store.get_api_key(&path.key_id).await?.ok_or_else(not_found)?;
    if !principal.can_access(&key.tenant) {
        return Err(not_found());
    }
    caller.visible(&principal, &key.tenant).await?;
    principal.require_environment(key.environment, "revoke this key")?;
    caller.state.degraded.forget_key(&key.id);
    let job = AdminJob {
        tenant: key.tenant.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::RevokeApiKey(key.id),
    };
    caller.state.pipeline.writer().append_admin_change(job).await?;
    Ok(())
}
