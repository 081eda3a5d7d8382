//! `/v1/admin/tenants`.

use lictor_api::ApiError;
use lictor_api::tenants::{
    RateLimit, RateLimitsUpdate, Tenant, TenantCreate, TenantCreated, TenantListParams, TenantPage,
    TenantPath, TenantUpdate, WebhookSecret,
};

use crate::audit::writer::{AdminJob, AdminOp, AdminOutcome};
use crate::auth::{Principal, not_found_tenant};
use crate::caller::Caller;
use crate::clock;
use crate::clock::Timestamp;
use crate::credentials;
use crate::cursor;
use crate::error::{Error, Object};
use crate::store::{NewTenant, StoreError, TenantRateLimits, TenantRow};

const LIST: &str = "tenants";

async fn view(caller: &Caller<'_>, row: TenantRow) -> Result<Tenant, Error> {
    let stats = caller.state.store.tenant_stats(&row.id, Timestamp::now() - clock::DAY).await?;
    let active_policy = caller.state.policies.for_tenant(&row.id).policy_ref();
    Ok(Tenant {
        id: row.id,
        name: row.name,
        created_at: row.created_at.to_datetime(),
        active_policy,
        pending_approvals: stats.pending_approvals,
        decisions_24h: stats.recent_decisions,
        store_failure: row.store_failure,
        policy_two_person_rule: row.policy_two_person,
        rate_limits: row.rate_limits.effective(),
    })
}

/// `current` with `update` applied, each limit checked (the JSON path of
/// a bad one is under `$.rate_limits`).
fn rate_limits(update: &RateLimitsUpdate, current: TenantRateLimits) -> Result<TenantRateLimits, Error> {
    let checked = |limit: Option<RateLimit>, field: &str| -> Result<Option<RateLimit>, Error> {
        let Some(limit) = limit else { return Ok(None) };
        for (name, value, max) in [
            ("per_minute", limit.per_minute, RateLimit::MAX_PER_MINUTE),
            ("burst", limit.burst, RateLimit::MAX_BURST),
        ] {
            if !(1..=max).contains(&value) {
                return Err(Error::InvalidField {
                    path: format!("$.rate_limits.{field}.{name}"),
                    message: format!("`{name}` must be 1 to {max}, got {value}"),
                });
            }
        }
        Ok(Some(limit))
    };
    Ok(TenantRateLimits {
        per_key: match update.per_key {
            Some(limit) => checked(limit, "per_key")?,
            None => current.per_key,
        },
        per_tenant: match update.per_tenant {
            Some(limit) => checked(limit, "per_tenant")?,
            None => current.per_tenant,
        },
    })
}

/// `POST /v1/admin/tenants`.
pub(crate) async fn create(
    caller: &Caller<'_>,
    body: Result<TenantCreate, ApiError>,
) -> Result<TenantCreated, Error> {
    let principal = caller.principal().await?;
    let body = body?;
    let limits = match &body.rate_limits {
        Some(update) => rate_limits(update, TenantRateLimits::default())?,
        None => TenantRateLimits::default(),
    };
    let webhook_secret = credentials::new_webhook_secret();
    let row = NewTenant {
        id: body.id.clone(),
        name: body.name.to_string(),
        webhook_secret: webhook_secret.clone(),
        created_at: Timestamp::now(),
        rate_limits: limits,
    };
    let job = AdminJob {
        tenant: row.id.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::CreateTenant(row.clone()),
    };
    match caller.state.pipeline.writer().append_admin_change(job).await {
        Ok(_) => {}
        Err(StoreError::Duplicate(_)) => {
            return Err(Error::already_exists(Object::Tenant, &body.id));
        }
        Err(e) => return Err(e.into()),
    }
    let tenant = TenantRow {
        id: row.id,
        name: row.name,
        created_at: row.created_at,
        store_failure: Default::default(),
        policy_two_person: false,
        rate_limits: row.rate_limits,
    };
    Ok(TenantCreated { tenant: view(caller, tenant).await?, webhook_secret })
}

/// `GET /v1/admin/tenants`.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<TenantListParams, ApiError>,
) -> Result<TenantPage, Error> {
    let principal = caller.principal().await?;
    let params = params?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<String> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let access = caller.access()?;
    let rows = match &principal {
        _ if principal.is_superadmin() => {
            caller.state.store.list_tenants(after.as_deref(), limit + 1).await?
        }
        // A person sees the tenants where a role they hold may list them.
        Principal::Operator(operator) => {
            let mut rows = Vec::new();
            for tenant in operator.tenants() {
                let listed = after.as_deref().is_none_or(|a| tenant.as_str() > a)
                    && principal.may_call_in(access, "tenant_list", tenant).is_ok();
                if listed && let Some(row) = caller.state.store.get_tenant(tenant).await? {
                    rows.push(row);
                }
            }
            rows
        }
        _ => match principal.tenant() {
            None => Vec::new(),
            Some(tenant) => {
                let own = caller.state.store.get_tenant(tenant).await?;
                own.into_iter().filter(|t| after.as_deref().is_none_or(|a| t.id.as_str() > a)).collect()
            }
        },
    };
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |t| t.id.to_string());
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(view(caller, row).await?);
    }
    Ok(TenantPage { items, next_cursor })
}

/// An administrator's request about one tenant it may see (another
/// tenant's is 404, as if it did not exist).
async fn visible_tenant(
    caller: &Caller<'_>,
    path: Result<TenantPath, ApiError>,
) -> Result<(Principal, TenantPath), Error> {
    let principal = caller.principal().await?;
    let path = path?;
    caller.visible(&principal, &path.tenant_id).await?;
    Ok((principal, path))
}

/// `GET /v1/admin/tenants/{tenant_id}`.
pub(crate) async fn get(caller: &Caller<'_>, path: Result<TenantPath, ApiError>) -> Result<Tenant, Error> {
    let (_, path) = visible_tenant(caller, path).await?;
    let row = caller
        .state
        .store
        .get_tenant(&path.tenant_id)
        .await?
        .ok_or_else(|| not_found_tenant(&path.tenant_id))?;
    view(caller, row).await
}

/// `POST /v1/admin/tenants/{tenant_id}/webhook-secret`.
pub(crate) async fn rotate_webhook_secret(
    caller: &Caller<'_>,
    path: Result<TenantPath, ApiError>,
) -> Result<WebhookSecret, Error> {
    let (principal, path) = visible_tenant(caller, path).await?;
    let secret = credentials::new_webhook_secret();
    let job = AdminJob {
        tenant: path.tenant_id.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::RotateWebhookSecret { secret: secret.clone() },
    };
    if caller.state.store.get_tenant(&path.tenant_id).await?.is_none()
        || matches!(caller.state.pipeline.writer().append_admin_change(job).await?, AdminOutcome::Unchanged)
    {
        return Err(not_found_tenant(&path.tenant_id));
    }
    Ok(WebhookSecret {
        tenant: path.tenant_id,
        webhook_secret: secret,
        rotated_at: Timestamp::now().to_datetime(),
    })
}

/// `PATCH /v1/admin/tenants/{tenant_id}`.
pub(crate) async fn update(
    caller: &Caller<'_>,
    path: Result<TenantPath, ApiError>,
    body: Result<TenantUpdate, ApiError>,
) -> Result<Tenant, Error> {
    let principal = caller.principal().await?;
    let (path, body) = (path?, body?);
    caller.visible(&principal, &path.tenant_id).await?;
    let current = match caller.state.store.get_tenant(&path.tenant_id).await? {
        Some(row) => row,
        None => return Err(not_found_tenant(&path.tenant_id)),
    };
    // A tenant's limits protect every other tenant of the gateway: the
    // operator sets them, not the tenant.
    if body.rate_limits.is_some() && !principal.is_superadmin() {
        return Err(Error::Forbidden("only the superadmin may change a tenant's rate limits".into()));
    }
    let limits =
        body.rate_limits.as_ref().map(|update| rate_limits(update, current.rate_limits)).transpose()?;
    if body.policy_two_person_rule == Some(false) && !principal.is_superadmin() {
        let tenant = caller.state.store.get_tenant(&path.tenant_id).await?;
        if tenant.is_some_and(|t| t.policy_two_person) {
            return Err(Error::Forbidden("only the superadmin may turn the two-person rule off".into()));
        }
    }
    let job = AdminJob {
        tenant: path.tenant_id.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::UpdateTenant {
            store_failure: body.store_failure,
            policy_two_person: body.policy_two_person_rule,
            rate_limits: limits,
        },
    };
    caller.state.pipeline.writer().append_admin_change(job).await?;
    let row = caller
        .state
        .store
        .get_tenant(&path.tenant_id)
        .await?
        .ok_or_else(|| not_found_tenant(&path.tenant_id))?;
    caller.state.degraded.set_mode(&row.id, row.store_failure);
    view(caller, row).await
}
