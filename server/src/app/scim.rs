//! The SCIM 2.0 service (RFC 7643, RFC 7644) that provisions a tenant's
//! people and groups: `/scim/v2/Users`, `/scim/v2/Groups` and the
//! discovery resources, authenticated with the tenant's SCIM token.
//!
//! Answers and errors are SCIM's own (`application/scim+json`, the
//! `Error` message schema with `status` and `scimType`). Every change is
//! written with its audit entry (`scim_user_*`, `scim_group_*`); a user
//! deactivated or deleted has their console sessions ended, and their
//! tokens refused, in the same transaction.

use serde_json::{Map, Value};

use crate::audit::writer::{AdminJob, AdminOp, ScimChange};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::credentials::{SCIM_TOKEN_PREFIX, hash_key};
use crate::error::Error;
use crate::operators::scim::{self as protocol, Failure, ScimType};
use crate::store::{ScimGroupRow, ScimUserRow, StoreError};
use lictor_api::ids::TenantId;

/// SCIM's media type.
pub(crate) const CONTENT_TYPE: &str = "application/scim+json";

/// The most users, and groups, a tenant has.
const MAX_RESOURCES: u64 = 10_000;

/// What a request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum Resource {
    /// `/ServiceProviderConfig`.
    ServiceProviderConfig,
    /// `/ResourceTypes`.
    ResourceTypes,
    /// `/Schemas`.
    Schemas,
    /// `/Users`.
    Users,
    /// `/Groups`.
    Groups,
}

/// A SCIM request as it arrived.
pub(crate) struct Request {
    /// Its method.
    pub method: http::Method,
    /// Its resource type.
    pub resource: Resource,
    /// The resource's id, for `/Users/{id}` and `/Groups/{id}`.
    pub id: Option<String>,
    /// The query string.
    pub query: String,
    /// The body's media type.
    pub content_type: Option<String>,
    /// The body.
    pub body: Option<Vec<u8>>,
}

/// A SCIM answer.
pub(crate) struct Reply {
    /// Its status.
    pub status: u16,
    /// Its body.
    pub body: Option<Value>,
    /// `Location`, for a created resource.
    pub location: Option<String>,
    /// `ETag`.
    pub etag: Option<String>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        let etag = body.pointer("/meta/version").and_then(Value::as_str).map(str::to_string);
        Reply { status, body: Some(body), location: None, etag }
    }

    fn failed(failure: Failure) -> Reply {
        Reply { status: failure.status, body: Some(failure.body()), location: None, etag: None }
    }
}

/// Answers one SCIM request (`Err` only for what SCIM cannot say: the
/// store failing).
pub(crate) async fn handle(caller: &Caller<'_>, request: Request) -> Result<Reply, Error> {
    let tenant = match authenticate(caller).await {
        Ok(tenant) => tenant,
        Err(failure) => return Ok(Reply::failed(failure)),
    };
    let base = base_url(caller);
    let outcome = match (request.resource, &request.method, request.id.as_deref()) {
        (Resource::ServiceProviderConfig, _, _) => {
            Ok(Reply::json(200, protocol::service_provider_config(&base)))
        }
        (Resource::ResourceTypes, _, _) => Ok(Reply::json(200, protocol::resource_types(&base))),
        (Resource::Schemas, _, _) => Ok(Reply::json(200, protocol::schemas(&base))),
        (Resource::Users, &http::Method::GET, None) => {
            list_users(caller, &tenant, &request.query, &base).await
        }
        (Resource::Users, &http::Method::POST, None) => create_user(caller, &tenant, &request, &base).await,
        (Resource::Users, &http::Method::GET, Some(id)) => {
            get_user(caller, &tenant, id, &base).await.map(|u| Reply::json(200, project(u, &request.query)))
        }
        (Resource::Users, &http::Method::PUT, Some(id)) => {
            change_user(caller, &tenant, id, &request, &base).await
        }
        (Resource::Users, &http::Method::PATCH, Some(id)) => {
            change_user(caller, &tenant, id, &request, &base).await
        }
        (Resource::Users, &http::Method::DELETE, Some(id)) => delete_user(caller, &tenant, id).await,
        (Resource::Groups, &http::Method::GET, None) => {
            list_groups(caller, &tenant, &request.query, &base).await
        }
        (Resource::Groups, &http::Method::POST, None) => create_group(caller, &tenant, &request, &base).await,
        (Resource::Groups, &http::Method::GET, Some(id)) => {
            get_group(caller, &tenant, id, &base).await.map(|g| Reply::json(200, project(g, &request.query)))
        }
        (Resource::Groups, &http::Method::PUT | &http::Method::PATCH, Some(id)) => {
            change_group(caller, &tenant, id, &request, &base).await
        }
        (Resource::Groups, &http::Method::DELETE, Some(id)) => delete_group(caller, &tenant, id).await,
        _ => Err(Failure::new(405, None, "this method is not supported here")),
    };
    Ok(outcome.unwrap_or_else(Reply::failed))
}

/// The tenant whose SCIM token the request carries.
async fn authenticate(caller: &Caller<'_>) -> Result<TenantId, Failure> {
    let refused = || {
        Failure::new(401, None, "a tenant's SCIM token is required (`Authorization: Bearer lictor_scim_…`)")
    };
    let header = caller.authorization().and_then(|h| h.to_str().ok()).ok_or_else(refused)?;
    let (scheme, token) = header.split_once(' ').ok_or_else(refused)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || !token.starts_with(SCIM_TOKEN_PREFIX)
        || !crate::credentials::is_well_formed(token)
    {
        return Err(refused());
    }
    match caller.state.store.scim_tenant(&hash_key(token)).await {
        Ok(Some(tenant)) => Ok(tenant),
        Ok(None) => Err(refused()),
        Err(error) => Err(Failure::internal(error)),
    }
}

fn base_url(caller: &Caller<'_>) -> String {
    let public = caller.state.config.public_url.as_deref().unwrap_or("").trim_end_matches('/');
    format!("{public}/scim/v2")
}

fn store_failure(error: StoreError) -> Failure {
    match error {
        StoreError::Duplicate(_) => {
            Failure::new(409, Some(ScimType::Uniqueness), "a resource with this name already exists")
        }
        StoreError::Conflict(message) if message.starts_with("no user") => {
            Failure::new(400, Some(ScimType::InvalidValue), format!("members: {message}"))
        }
        StoreError::Conflict(message) => Failure::new(412, None, message),
        error => Failure::internal(error),
    }
}

/// Writes a SCIM change with its audit entry; `false` when the resource
/// was not there.
async fn write(caller: &Caller<'_>, tenant: &TenantId, change: ScimChange) -> Result<bool, Failure> {
    let job = AdminJob {
        tenant: tenant.clone(),
        principal: "scim".into(),
        person: None,
        op: AdminOp::Scim(Box::new(change)),
    };
    match caller.state.pipeline.writer().append_admin_change(job).await {
        Ok(crate::audit::writer::AdminOutcome::Unchanged) => Ok(false),
        Ok(_) => Ok(true),
        Err(error) => Err(store_failure(error)),
    }
}

/// The request's body as a JSON object.
fn body(request: &Request) -> Result<Map<String, Value>, Failure> {
    let media = request
        .content_type
        .as_deref()
        .map(|t| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if !matches!(media.as_deref(), Some("application/scim+json" | "application/json")) {
        return Err(Failure::new(
            415,
            Some(ScimType::InvalidSyntax),
            "the body must be `application/scim+json` (or `application/json`)",
        ));
    }
    let bytes = request.body.as_deref().unwrap_or_default();
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Failure::new(400, Some(ScimType::InvalidSyntax), "the body must be a JSON object")),
        Err(e) => Err(Failure::new(400, Some(ScimType::InvalidSyntax), format!("the body is not JSON: {e}"))),
    }
}

/// The tenant's provider (whose sessions a deactivation ends).
async fn provider(caller: &Caller<'_>, tenant: &TenantId) -> Result<Option<String>, Failure> {
    let row = caller.state.store.operator_access(tenant).await.map_err(Failure::internal)?;
    Ok(row.and_then(|r| r.provider))
}

// ----------------------------------------------------------------- users

async fn user_resource(caller: &Caller<'_>, row: &ScimUserRow, base: &str) -> Result<Value, Failure> {
    let groups = caller.state.store.scim_groups_of(&row.tenant, &row.id).await.map_err(Failure::internal)?;
    Ok(protocol::user_resource(row, &groups, base))
}

async fn get_user(caller: &Caller<'_>, tenant: &TenantId, id: &str, base: &str) -> Result<Value, Failure> {
    let row = caller.state.store.scim_user(tenant, id).await.map_err(Failure::internal)?;
    let row = row.ok_or_else(|| Failure::not_found("User", id))?;
    user_resource(caller, &row, base).await
}

async fn list_users(
    caller: &Caller<'_>,
    tenant: &TenantId,
    query: &str,
    base: &str,
) -> Result<Reply, Failure> {
    let params = protocol::ListParams::parse(query)?;
    let store = &caller.state.store;
    // `userName eq "…"` (how Okta and Entra ID look a person up) reads one
    // row; any other filter reads the tenant's users.
    let rows = match params.user_name_lookup() {
        Some(name) => store
            .scim_user_by_name(tenant, &name.to_lowercase())
            .await
            .map_err(Failure::internal)?
            .into_iter()
            .collect(),
        None => store.scim_users(tenant, MAX_RESOURCES as u32).await.map_err(Failure::internal)?,
    };
    let mut groups: std::collections::HashMap<String, Vec<(String, String)>> =
        std::collections::HashMap::new();
    for (user, id, name) in store.scim_memberships(tenant).await.map_err(Failure::internal)? {
        groups.entry(user).or_default().push((id, name));
    }
    let resources = rows
        .iter()
        .map(|row| protocol::user_resource(row, groups.get(&row.id).map_or(&[][..], Vec::as_slice), base))
        .collect();
    Ok(Reply::json(200, protocol::list(resources, &params)?))
}

async fn create_user(
    caller: &Caller<'_>,
    tenant: &TenantId,
    request: &Request,
    base: &str,
) -> Result<Reply, Failure> {
    let body = body(request)?;
    let attributes = protocol::user_attributes(body)?;
    let count = caller.state.store.count_scim_users(tenant).await.map_err(Failure::internal)?;
    if count >= MAX_RESOURCES {
        return Err(Failure::new(
            400,
            Some(ScimType::InvalidValue),
            format!("a tenant has at most {MAX_RESOURCES} users"),
        ));
    }
    let now = Timestamp::now();
    let row = protocol::user_row(tenant, crate::ids::scim_id("usr"), &attributes, 1, (now, now))?;
    write(caller, tenant, ScimChange::CreateUser(row.clone())).await?;
    let resource = user_resource(caller, &row, base).await?;
    let mut reply = Reply::json(201, resource);
    reply.location = Some(format!("{base}/Users/{}", row.id));
    Ok(reply)
}

async fn change_user(
    caller: &Caller<'_>,
    tenant: &TenantId,
    id: &str,
    request: &Request,
    base: &str,
) -> Result<Reply, Failure> {
    let body = body(request)?;
    let current = caller.state.store.scim_user(tenant, id).await.map_err(Failure::internal)?;
    let current = current.ok_or_else(|| Failure::not_found("User", id))?;
    let attributes = if request.method == http::Method::PUT {
        protocol::user_attributes(body)?
    } else {
        let stored: Map<String, Value> = serde_json::from_str(&current.resource).unwrap_or_default();
        protocol::user_attributes(protocol::patch(stored, &body, protocol::Kind::User)?)?
    };
    let row = protocol::user_row(
        tenant,
        id.to_string(),
        &attributes,
        current.version + 1,
        (current.created_at, Timestamp::now()),
    )?;
    let provider = provider(caller, tenant).await?;
    let change = ScimChange::UpdateUser { row: row.clone(), expected_version: current.version, provider };
    if !write(caller, tenant, change).await? {
        return Err(Failure::not_found("User", id));
    }
    Ok(Reply::json(200, user_resource(caller, &row, base).await?))
}

async fn delete_user(caller: &Caller<'_>, tenant: &TenantId, id: &str) -> Result<Reply, Failure> {
    let provider = provider(caller, tenant).await?;
    if !write(caller, tenant, ScimChange::DeleteUser { id: id.to_string(), provider }).await? {
        return Err(Failure::not_found("User", id));
    }
    Ok(Reply { status: 204, body: None, location: None, etag: None })
}

// ---------------------------------------------------------------- groups

async fn group_resource(caller: &Caller<'_>, row: &ScimGroupRow, base: &str) -> Result<Value, Failure> {
    let members =
        caller.state.store.scim_named_members(&row.tenant, &row.id).await.map_err(Failure::internal)?;
    Ok(protocol::group_resource(row, &members, base))
}

async fn get_group(caller: &Caller<'_>, tenant: &TenantId, id: &str, base: &str) -> Result<Value, Failure> {
    let row = caller.state.store.scim_group(tenant, id).await.map_err(Failure::internal)?;
    let row = row.ok_or_else(|| Failure::not_found("Group", id))?;
    group_resource(caller, &row, base).await
}

async fn list_groups(
    caller: &Caller<'_>,
    tenant: &TenantId,
    query: &str,
    base: &str,
) -> Result<Reply, Failure> {
    let params = protocol::ListParams::parse(query)?;
    let rows =
        caller.state.store.scim_groups(tenant, MAX_RESOURCES as u32).await.map_err(Failure::internal)?;
    let mut resources = Vec::with_capacity(rows.len());
    for row in &rows {
        resources.push(group_resource(caller, row, base).await?);
    }
    Ok(Reply::json(200, protocol::list(resources, &params)?))
}

async fn create_group(
    caller: &Caller<'_>,
    tenant: &TenantId,
    request: &Request,
    base: &str,
) -> Result<Reply, Failure> {
    let body = body(request)?;
    let group = protocol::group_attributes(&body)?;
    let count = caller.state.store.count_scim_groups(tenant).await.map_err(Failure::internal)?;
    if count >= MAX_RESOURCES {
        return Err(Failure::new(
            400,
            Some(ScimType::InvalidValue),
            format!("a tenant has at most {MAX_RESOURCES} groups"),
        ));
    }
    let now = Timestamp::now();
    let row = ScimGroupRow {
        tenant: tenant.clone(),
        id: crate::ids::scim_id("grp"),
        display_name: group.display_name,
        external_id: group.external_id,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let change = ScimChange::PutGroup {
        row: row.clone(),
        created: true,
        members: Some(group.members),
        add: Vec::new(),
        remove: Vec::new(),
        expected_version: None,
    };
    write(caller, tenant, change).await?;
    let mut reply = Reply::json(201, group_resource(caller, &row, base).await?);
    reply.location = Some(format!("{base}/Groups/{}", row.id));
    Ok(reply)
}

async fn change_group(
    caller: &Caller<'_>,
    tenant: &TenantId,
    id: &str,
    request: &Request,
    base: &str,
) -> Result<Reply, Failure> {
    let body = body(request)?;
    let current = caller.state.store.scim_group(tenant, id).await.map_err(Failure::internal)?;
    let current = current.ok_or_else(|| Failure::not_found("Group", id))?;
    let (display_name, external_id, members, add, remove) = if request.method == http::Method::PUT {
        let group = protocol::group_attributes(&body)?;
        (group.display_name, group.external_id, Some(group.members), Vec::new(), Vec::new())
    } else {
        let members = caller.state.store.scim_group_members(tenant, id).await.map_err(Failure::internal)?;
        let change = protocol::patch_group(&current, &members, &body)?;
        (change.display_name, change.external_id, change.members, change.add, change.remove)
    };
    let row = ScimGroupRow {
        display_name,
        external_id,
        version: current.version + 1,
        updated_at: Timestamp::now(),
        ..current.clone()
    };
    let change = ScimChange::PutGroup {
        row: row.clone(),
        created: false,
        members,
        add,
        remove,
        expected_version: Some(current.version),
    };
    if !write(caller, tenant, change).await? {
        return Err(Failure::not_found("Group", id));
    }
    // Entra ID asks a group's PATCH to answer 204 (its members can be
    // many); Okta takes 200 or 204.
    if request.method == http::Method::PATCH {
        return Ok(Reply { status: 204, body: None, location: None, etag: None });
    }
    Ok(Reply::json(200, group_resource(caller, &row, base).await?))
}

async fn delete_group(caller: &Caller<'_>, tenant: &TenantId, id: &str) -> Result<Reply, Failure> {
    if !write(caller, tenant, ScimChange::DeleteGroup(id.to_string())).await? {
        return Err(Failure::not_found("Group", id));
    }
    Ok(Reply { status: 204, body: None, location: None, etag: None })
}

/// `attributes` / `excludedAttributes` of a single resource's answer.
fn project(resource: Value, query: &str) -> Value {
    protocol::ListParams::parse(query).map(|p| p.project(resource.clone())).unwrap_or(resource)
}
