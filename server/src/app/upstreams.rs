//! `/v1/admin/upstreams`.

use lictor_api::ApiError;
use lictor_api::agents::TenantScope;
use lictor_api::intents::Verb;
use lictor_api::upstreams::{Upstream, UpstreamCreate, UpstreamListParams, UpstreamPage, UpstreamPath};

use crate::audit::writer::{AdminJob, AdminOp, AdminOutcome};
use crate::caller::Caller;
use crate::catalog;
use crate::clock::Timestamp;
use crate::cursor;
use crate::error::{Error, Object};
use crate::store::{StoreError, UpstreamRow};

const LIST: &str = "upstreams";

fn invalid(path: &str, message: String) -> Error {
    Error::InvalidField { path: path.into(), message }
}

fn check(body: &UpstreamCreate) -> Result<(), Error> {
    let url: http::Uri =
        body.url.parse().map_err(|e| invalid("$.url", format!("`{}` is not a url: {e}", body.url)))?;
    if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none_or(str::is_empty) {
        return Err(invalid("$.url", format!("`{}` must be an absolute http or https url", body.url)));
    }
    // A bracketed host is an IPv6 address (the URI parser takes `[0]`).
    if let Some(literal) = url.host().and_then(|h| h.strip_prefix('[')).and_then(|h| h.strip_suffix(']'))
        && literal.parse::<std::net::Ipv6Addr>().is_err()
    {
        return Err(invalid("$.url", format!("`{}`: `[{literal}]` is not an IPv6 address", body.url)));
    }
    if let Some(credential) = &body.credential {
        http::HeaderName::from_bytes(credential.header.as_bytes()).map_err(|_| {
            invalid("$.credential.header", format!("`{}` is not a header name", credential.header))
        })?;
        http::HeaderValue::from_str(&credential.value)
            .map_err(|_| invalid("$.credential.value", "the value is not a valid header value".into()))?;
    }
    for (tool, overrides) in &body.tools {
        let at = |field: &str| format!("$.tools['{tool}'].{field}");
        if let Some(verb) = &overrides.verb {
            Verb::parse(verb.clone()).map_err(|e| invalid(&at("verb"), e.to_string()))?;
        }
        for (field, pointer) in [
            ("financial_exposure_from", &overrides.financial_exposure_from),
            ("audience_size_from", &overrides.audience_size_from),
        ] {
            if pointer.as_ref().is_some_and(|p| !p.starts_with('/')) {
                return Err(invalid(&at(field), "must be a JSON Pointer such as `/amount_usd`".into()));
            }
        }
    }
    Ok(())
}

/// `POST /v1/admin/upstreams`.
pub(crate) async fn create(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<UpstreamCreate, ApiError>,
) -> Result<Upstream, Error> {
    let (principal, tenant, (_, body)) =
        caller.admin((scope, body), |(scope, _)| scope.tenant.as_ref()).await?;
    check(&body)?;
    // What the MCP client itself refuses (a URL the `url` crate cannot
    // read, a header the transport sets) is refused here, not on every
    // later listing and call.
    let credential = body.credential.as_ref().map(|c| (c.header.clone(), c.value.clone()));
    if let Err(error) = catalog::client_for(
        &body.name,
        &body.url,
        credential.as_ref(),
        (caller.state.catalog.timeout(), caller.state.catalog.roots()),
        &slog::Logger::root(slog::Discard, slog::o!()),
    ) {
        let reason = match &error {
            crate::mcp::upstream::UpstreamError::Config { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        let path = if reason.contains("`url`") {
            "$.url"
        } else if reason.starts_with("the value of header") {
            "$.credential.value"
        } else {
            "$.credential.header"
        };
        return Err(invalid(path, reason));
    }
    let exists = || Error::already_exists(Object::Upstream, &body.name);
    if caller.state.catalog.is_configured(&body.name) {
        return Err(exists());
    }
    let row = UpstreamRow {
        tenant,
        name: body.name.clone(),
        url: body.url.clone(),
        credential: body.credential.as_ref().map(|c| (c.header.clone(), c.value.clone())),
        tools: body.tools.clone(),
        created_at: Timestamp::now(),
    };
    let job = AdminJob {
        tenant: row.tenant.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::CreateUpstream(row.clone()),
    };
    match caller.state.pipeline.writer().append_admin_change(job).await {
        Ok(_) => Ok(catalog::view(&row)),
        Err(StoreError::Duplicate(_)) => Err(exists()),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/admin/upstreams`: the configured upstreams, then the tenant's.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<UpstreamListParams, ApiError>,
) -> Result<UpstreamPage, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<String> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let mut all: Vec<Upstream> = caller.state.catalog.views(&tenant).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<Upstream> = all
        .into_iter()
        .filter(|u| after.as_deref().is_none_or(|a| u.name.as_str() > a))
        .take(limit as usize + 1)
        .collect();
    let (items, next_cursor) = cursor::page(LIST, rows, limit, |u| u.name.to_string());
    Ok(UpstreamPage { items, next_cursor })
}

/// `DELETE /v1/admin/upstreams/{name}`.
pub(crate) async fn delete(
    caller: &Caller<'_>,
    path: Result<UpstreamPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<(), Error> {
    let (principal, tenant, (path, _)) =
        caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    if caller.state.catalog.is_configured(&path.name) {
        return Err(Error::conflict(
            Object::Upstream,
            &path.name,
            "comes from the gateway's configuration and cannot be removed through the api",
        ));
    }
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::DeleteUpstream(path.name.clone()),
    };
    if matches!(caller.state.pipeline.writer().append_admin_change(job).await?, AdminOutcome::Unchanged) {
        return Err(Error::not_found(Object::Upstream, &path.name));
    }
    Ok(())
}
