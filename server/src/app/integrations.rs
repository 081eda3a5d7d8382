//! `/v1/admin/integrations`: audit sinks and notification channels, their
//! health and their dead letters.
//!
//! A tenant administrator sees and changes its own tenant's integrations,
//! and sees those of the environment (which serve every tenant) with its
//! tenant's health but without their endpoint or settings; the superadmin
//! sees everything. Secrets are accepted and never returned.

use lictor_api::ApiError;
use lictor_api::agents::TenantScope;
use lictor_api::ids::TenantId;
use lictor_api::integrations::{
    DeadLetter, DeadLetterListParams, DeadLetterPage, HealthState, Integration, IntegrationCreate,
    IntegrationError, IntegrationHealth, IntegrationId, IntegrationListParams, IntegrationName,
    IntegrationPage, IntegrationPath, IntegrationSource, IntegrationUpdate, RedriveRequest, RedriveResult,
};

use crate::audit::writer::{AdminJob, AdminOp, AdminOutcome};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::cursor;
use crate::error::{Error, Object};
use crate::integrations::seal::{self, Binding};
use crate::integrations::{Configured, Settings, runtime};
use crate::store::{IntegrationRow, StoreError};

const LIST: &str = "integrations";
const LETTERS: &str = "dead-letters";

/// Most integrations a tenant may have (each is a sender at work).
const MAX_PER_TENANT: usize = 20;

/// Checks settings a tenant administrator gives: their fields, and that
/// they send to public addresses (unless private networks are allowed).
fn checked(caller: &Caller<'_>, settings: &Settings) -> Result<(), Error> {
    settings.check().map_err(|e| Error::InvalidField {
        path: format!("$.settings{}", e.path.trim_start_matches('$')),
        message: e.message,
    })?;
    if !caller.state.integrations.allow_private {
        for (field, url) in settings.urls() {
            crate::integrations::egress::check_url(&url)
                .map_err(|message| Error::InvalidField { path: format!("$.settings.{field}"), message })?;
        }
    }
    Ok(())
}

/// The health of `id`'s delivery of `tenant`'s log.
async fn health(
    caller: &Caller<'_>,
    id: &str,
    tenant: &TenantId,
    (enabled, problem, max_lag): (bool, Option<String>, u64),
) -> Result<IntegrationHealth, Error> {
    let row = caller.state.store.sink_status(id, Some(tenant)).await?.pop();
    let now = Timestamp::now();
    let mut health = IntegrationHealth {
        state: HealthState::Ok,
        delivered: 0,
        failed: 0,
        last_success_at: None,
        last_error: None,
        lag_entries: 0,
        lag_seconds: 0.0,
        dead_letters: 0,
    };
    if let Some(row) = row {
        health.delivered = row.delivered;
        health.failed = row.failed;
        health.last_success_at = row.last_success_at.map(Timestamp::to_datetime);
        health.last_error =
            row.last_error.clone().map(|(message, at)| IntegrationError { message, at: at.to_datetime() });
        health.lag_entries = row.head.saturating_sub(row.cursor.seq);
        health.lag_seconds = row.oldest_pending.map_or(0.0, |t| now.since(t).as_secs_f64());
        health.dead_letters = row.dead_letters;
        let failing = match (&row.last_error, row.last_success_at) {
            (Some((_, error_at)), Some(success)) => *error_at > success,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if health.lag_seconds > max_lag as f64 {
            health.state = HealthState::Lagging;
        } else if failing && health.lag_entries > 0 {
            health.state = HealthState::Failing;
        }
    }
    if let Some(problem) = problem {
        health.state = HealthState::Misconfigured;
        health.last_error = Some(IntegrationError { message: problem, at: now.to_datetime() });
    } else if !enabled {
        health.state = HealthState::Disabled;
    }
    Ok(health)
}

fn max_lag(settings: Option<&Settings>) -> u64 {
    match settings {
        Some(Settings::Sink(s)) => s.max_lag_seconds(),
        _ => 300,
    }
}

/// The view of an integration from the environment.
async fn configured_view(
    caller: &Caller<'_>,
    configured: &Configured,
    tenant: &TenantId,
    full: bool,
) -> Result<Integration, Error> {
    let settings = &configured.settings;
    let name = configured.id.as_str().trim_start_matches("env:");
    Ok(Integration {
        id: configured.id.clone(),
        name: IntegrationName::parse(name).map_err(|e| Error::Internal(e.to_string()))?,
        tenant: None,
        source: IntegrationSource::Environment,
        category: settings.category(),
        kind: settings.kind().to_string(),
        enabled: true,
        endpoint: full.then(|| settings.endpoint()),
        settings: full.then(|| settings.to_api()),
        secrets: settings.secret_names(),
        health: health(caller, configured.id.as_str(), tenant, (true, None, max_lag(Some(settings)))).await?,
        created_at: None,
        updated_at: None,
    })
}

/// The view of a stored integration (its secrets opened only to check
/// them and to name the fields set).
async fn stored_view(caller: &Caller<'_>, row: &IntegrationRow) -> Result<Integration, Error> {
    let opened = runtime::open(&caller.state.keys, row);
    let problem = match &opened {
        Ok(configured) => {
            let probe: runtime::WatchedSinks = std::sync::Arc::default();
            let context = caller.state.integrations.clone();
            let configured = Configured {
                id: row.id.clone(),
                settings: configured.clone(),
                tenant: Some(row.tenant.clone()),
            };
            runtime::destination(&context, &configured, &probe).err()
        }
        Err(error) => Some(error.clone()),
    };
    let public = Settings::from_public_json(&row.category, &row.settings).ok();
    let secrets = opened.as_ref().map(Settings::secret_names).unwrap_or_default();
    Ok(Integration {
        id: row.id.clone(),
        name: row.name.clone(),
        tenant: Some(row.tenant.clone()),
        source: IntegrationSource::Api,
        category: public
            .as_ref()
            .map_or(lictor_api::integrations::IntegrationCategory::Sink, Settings::category),
        kind: row.kind.clone(),
        enabled: row.enabled,
        endpoint: public.as_ref().map(Settings::endpoint),
        settings: public.as_ref().map(Settings::to_api),
        secrets,
        health: health(
            caller,
            row.id.as_str(),
            &row.tenant,
            (row.enabled, problem, max_lag(public.as_ref())),
        )
        .await?,
        created_at: Some(row.created_at.to_datetime()),
        updated_at: Some(row.updated_at.to_datetime()),
    })
}

/// Seals `settings`' secrets for the row `id` of `tenant`, and the row's
/// public settings.
fn sealed(
    caller: &Caller<'_>,
    (id, tenant, enabled): (&IntegrationId, &TenantId, bool),
    settings: &Settings,
) -> Result<(String, String), Error> {
    let public = settings.public_json();
    let binding = Binding {
        id: id.as_str(),
        tenant: tenant.as_str(),
        category: settings.category_name(),
        kind: settings.kind(),
        enabled,
        settings: &public,
    };
    let sealed = seal::seal(&caller.state.keys.ring(), &binding, &settings.secrets())
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok((public.to_string(), sealed))
}

/// `POST /v1/admin/integrations`.
pub(crate) async fn create(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<IntegrationCreate, ApiError>,
) -> Result<Integration, Error> {
    let (principal, tenant, (_, body)) =
        caller.admin((scope, body), |(scope, _)| scope.tenant.as_ref()).await?;
    let settings = Settings::from(body.settings);
    checked(caller, &settings)?;
    let configured = Configured {
        id: IntegrationId::parse("itg_probe").map_err(|e| Error::Internal(e.to_string()))?,
        settings: settings.clone(),
        tenant: Some(tenant.clone()),
    };
    let probe: runtime::WatchedSinks = std::sync::Arc::default();
    if let Err(error) = runtime::destination(&caller.state.integrations, &configured, &probe) {
        return Err(Error::InvalidField { path: "$.settings".into(), message: error });
    }
    if caller.state.store.list_integrations(&tenant).await?.len() >= MAX_PER_TENANT {
        return Err(Error::conflict(
            Object::Integration,
            &body.name,
            format!("cannot be added: a tenant has at most {MAX_PER_TENANT} integrations"),
        ));
    }
    let id = crate::ids::integration_id();
    let (public, sealed) = sealed(caller, (&id, &tenant, body.enabled), &settings)?;
    let now = Timestamp::now();
    let row = IntegrationRow {
        id,
        tenant: tenant.clone(),
        name: body.name.clone(),
        category: settings.category_name().into(),
        kind: settings.kind().into(),
        enabled: body.enabled,
        settings: public,
        sealed,
        created_at: now,
        updated_at: now,
    };
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::CreateIntegration(Box::new(row.clone())),
    };
    match caller.state.pipeline.writer().append_admin_change(job).await {
        Ok(_) => stored_view(caller, &row).await,
        Err(StoreError::Duplicate(_)) => Err(Error::already_exists(Object::Integration, &body.name)),
        Err(e) => Err(e.into()),
    }
}

/// The tenant's stored integration `id`; the environment's answer
/// `conflict` (they change only with the environment).
async fn stored(caller: &Caller<'_>, tenant: &TenantId, id: &IntegrationId) -> Result<IntegrationRow, Error> {
    if caller.state.config.integrations.iter().any(|c| c.id == *id) {
        return Err(Error::conflict(
            Object::Integration,
            id,
            "comes from the gateway's environment and changes only there",
        ));
    }
    caller
        .state
        .store
        .get_integration(tenant, id)
        .await?
        .ok_or_else(|| Error::not_found(Object::Integration, id))
}

/// `GET /v1/admin/integrations`: the environment's, then the tenant's.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<IntegrationListParams, ApiError>,
) -> Result<IntegrationPage, Error> {
    let (principal, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<String> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let full = principal.is_superadmin();
    let mut ids: Vec<(String, Option<IntegrationRow>, Option<&Configured>)> =
        caller.state.config.integrations.iter().map(|c| (c.id.to_string(), None, Some(c))).collect();
    ids.extend(
        caller
            .state
            .store
            .list_integrations(&tenant)
            .await?
            .into_iter()
            .map(|r| (r.id.to_string(), Some(r), None)),
    );
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    let page: Vec<_> = ids
        .into_iter()
        .filter(|(id, _, _)| after.as_deref().is_none_or(|a| id.as_str() > a))
        .take(limit as usize + 1)
        .collect();
    let mut views = Vec::with_capacity(page.len());
    for (_, row, configured) in page {
        views.push(match (row, configured) {
            (Some(row), _) => stored_view(caller, &row).await?,
            (None, Some(configured)) => configured_view(caller, configured, &tenant, full).await?,
            (None, None) => continue,
        });
    }
    let (items, next_cursor) = cursor::page(LIST, views, limit, |i| i.id.to_string());
    Ok(IntegrationPage { items, next_cursor })
}

/// `GET /v1/admin/integrations/{id}`.
pub(crate) async fn get(
    caller: &Caller<'_>,
    path: Result<IntegrationPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<Integration, Error> {
    let (principal, tenant, (path, _)) =
        caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    if let Some(configured) = caller.state.config.integrations.iter().find(|c| c.id == path.id) {
        return configured_view(caller, configured, &tenant, principal.is_superadmin()).await;
    }
    let row = stored(caller, &tenant, &path.id).await?;
    stored_view(caller, &row).await
}

/// `PATCH /v1/admin/integrations/{id}`.
pub(crate) async fn update(
    caller: &Caller<'_>,
    path: Result<IntegrationPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
    body: Result<IntegrationUpdate, ApiError>,
) -> Result<Integration, Error> {
    let (principal, tenant, (path, _, body)) =
        caller.admin((path, scope, body), |(_, scope, _)| scope.tenant.as_ref()).await?;
    let mut row = stored(caller, &tenant, &path.id).await?;
    let current = runtime::open(&caller.state.keys, &row);
    let mut secrets_changed = false;
    if let Some(settings) = body.settings {
        let mut settings = Settings::from(settings);
        if settings.category_name() != row.category || settings.kind() != row.kind {
            return Err(Error::InvalidField {
                path: "$.settings.kind".into(),
                message: format!(
                    "the kind cannot change (this is a {} {}): add another integration",
                    row.kind, row.category
                ),
            });
        }
        let before = current.as_ref().map(Settings::secrets).unwrap_or_default();
        if let Ok(current) = &current {
            settings.keep_secrets_from(current);
        }
        checked(caller, &settings)?;
        let configured =
            Configured { id: row.id.clone(), settings: settings.clone(), tenant: Some(tenant.clone()) };
        let probe: runtime::WatchedSinks = std::sync::Arc::default();
        if let Err(error) = runtime::destination(&caller.state.integrations, &configured, &probe) {
            return Err(Error::InvalidField { path: "$.settings".into(), message: error });
        }
        secrets_changed = settings.secrets() != before;
        row.enabled = body.enabled.unwrap_or(row.enabled);
        let (public, sealed) = sealed(caller, (&row.id, &tenant, row.enabled), &settings)?;
        row.settings = public;
        row.sealed = sealed;
    } else if let Some(enabled) = body.enabled {
        match &current {
            // Sealed again: the state is part of what the seal binds.
            Ok(settings) => {
                row.enabled = enabled;
                let (public, sealed) = sealed(caller, (&row.id, &tenant, enabled), settings)?;
                row.settings = public;
                row.sealed = sealed;
            }
            // One that does not open may be turned off, never on.
            Err(_) if !enabled => row.enabled = false,
            Err(problem) => {
                return Err(Error::conflict(
                    Object::Integration,
                    &row.id,
                    format!(
                        "cannot be turned on as it is ({problem}); give its settings again, secrets included"
                    ),
                ));
            }
        }
    }
    row.updated_at = Timestamp::now();
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::UpdateIntegration { row: Box::new(row.clone()), secrets_changed },
    };
    match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Unchanged => Err(Error::not_found(Object::Integration, &row.id)),
        _ => stored_view(caller, &row).await,
    }
}

/// `DELETE /v1/admin/integrations/{id}`.
pub(crate) async fn delete(
    caller: &Caller<'_>,
    path: Result<IntegrationPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<(), Error> {
    let (principal, tenant, (path, _)) =
        caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    stored(caller, &tenant, &path.id).await?;
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::DeleteIntegration(path.id.clone()),
    };
    match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Unchanged => Err(Error::not_found(Object::Integration, &path.id)),
        _ => Ok(()),
    }
}

/// The integration `id` the caller may see for `tenant` (the
/// environment's, or the tenant's own).
async fn visible(caller: &Caller<'_>, tenant: &TenantId, id: &IntegrationId) -> Result<(), Error> {
    if caller.state.config.integrations.iter().any(|c| c.id == *id) {
        return Ok(());
    }
    caller
        .state
        .store
        .get_integration(tenant, id)
        .await?
        .map(drop)
        .ok_or_else(|| Error::not_found(Object::Integration, id))
}

/// `GET /v1/admin/integrations/{id}/dead-letters`: the tenant's.
pub(crate) async fn dead_letters(
    caller: &Caller<'_>,
    path: Result<IntegrationPath, ApiError>,
    params: Result<DeadLetterListParams, ApiError>,
) -> Result<DeadLetterPage, Error> {
    let (_, tenant, (path, params)) =
        caller.admin((path, params), |(_, params)| params.tenant.as_ref()).await?;
    visible(caller, &tenant, &path.id).await?;
    let limit = cursor::limit(params.limit)?;
    let after: u64 = cursor::decode_opt(LETTERS, params.cursor.as_deref())?.unwrap_or(0);
    let rows = caller.state.store.tenant_dead_letters(path.id.as_str(), &tenant, after, limit + 1).await?;
    let letters: Vec<DeadLetter> = rows
        .into_iter()
        .map(|row| DeadLetter {
            tenant: row.tenant,
            seq: row.seq,
            event_id: row.entry_id,
            status: row.status,
            error: row.error,
            created_at: row.created_at.to_datetime(),
            redriven_at: row.redriven_at.map(Timestamp::to_datetime),
        })
        .collect();
    let (items, next_cursor) = cursor::page(LETTERS, letters, limit, |l| l.seq);
    Ok(DeadLetterPage { items, next_cursor })
}

/// `POST /v1/admin/integrations/{id}/dead-letters/redrive`.
pub(crate) async fn redrive(
    caller: &Caller<'_>,
    path: Result<IntegrationPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
    body: Result<RedriveRequest, ApiError>,
) -> Result<RedriveResult, Error> {
    let (principal, tenant, (path, _, body)) =
        caller.admin((path, scope, body), |(_, scope, _)| scope.tenant.as_ref()).await?;
    visible(caller, &tenant, &path.id).await?;
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::RedriveDeadLetters { sink: path.id.to_string(), seq: body.seq },
    };
    Ok(match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Counted(redriven, _) => RedriveResult { redriven },
        _ => RedriveResult { redriven: 0 },
    })
}
