//! SCIM 2.0's wire format: resources, list answers, errors, PATCH, and
//! the discovery documents (RFC 7643, RFC 7644).
//!
//! Attribute names are matched without regard to case, as RFC 7643 (2.1)
//! asks, and written back with their schema's spelling. `userName` is
//! unique regardless of case. A user's `password` is never kept. Values
//! some providers send as strings (`"active": "False"`) are read as the
//! booleans they mean.

use lictor_api::ids::TenantId;
use serde_json::{Map, Value, json};

use super::scim_filter::Filter;
use crate::clock::Timestamp;
use crate::store::{ScimGroupRow, ScimUserRow, StoreError};

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The longest `userName`, `displayName` or `externalId` kept.
const MAX_NAME: usize = 256;

/// The largest stored user resource, in bytes.
const MAX_RESOURCE: usize = 16 * 1024;

/// The most operations in one PATCH.
const MAX_OPERATIONS: usize = 100;

/// The most resources a list page holds.
pub const MAX_PAGE: usize = 1_000;

/// The most members a PUT or POST of a group names.
const MAX_MEMBERS: usize = 10_000;

/// SCIM's `scimType` error detail (RFC 7644, 3.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScimType {
    /// The filter is not understood.
    InvalidFilter,
    /// A value is unique and already taken.
    Uniqueness,
    /// An attribute cannot be changed.
    Mutability,
    /// The body is not a valid SCIM message.
    InvalidSyntax,
    /// A PATCH path is not understood.
    InvalidPath,
    /// A PATCH path matches nothing where it must.
    NoTarget,
    /// A value is missing or not acceptable.
    InvalidValue,
}

impl ScimType {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
        }
    }
}

/// A SCIM error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The HTTP status.
    pub status: u16,
    /// Its `scimType`.
    pub scim_type: Option<ScimType>,
    /// Its `detail`.
    pub detail: String,
}

impl Failure {
    /// A failure of `status`.
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Failure {
        Failure { status, scim_type, detail: detail.into() }
    }

    /// `404`: no such resource.
    pub fn not_found(kind: &str, id: &str) -> Failure {
        Failure::new(404, None, format!("{kind} {} not found", crate::logging::escape(id)))
    }

    /// The store failed: `503` when unreachable, else `500`.
    pub fn internal(error: impl Into<StoreError>) -> Failure {
        match error.into() {
            StoreError::Unavailable(_) => Failure::new(503, None, "the store is unavailable: retry later"),
            error => Failure::new(500, None, format!("internal error: {error}")),
        }
    }

    /// `400 invalidValue`.
    pub fn invalid(detail: impl Into<String>) -> Failure {
        Failure::new(400, Some(ScimType::InvalidValue), detail)
    }

    /// The error message (RFC 7644, 3.12).
    pub fn body(&self) -> Value {
        let mut body =
            json!({"schemas": [ERROR_SCHEMA], "status": self.status.to_string(), "detail": self.detail});
        if let Some(kind) = self.scim_type {
            body["scimType"] = json!(kind.as_str());
        }
        body
    }
}

fn rfc3339(at: Timestamp) -> String {
    at.to_datetime().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

// ------------------------------------------------------------ attributes

/// The spelling of a core attribute named `name` in any case.
fn canonical(name: &str, kind: Kind) -> Option<&'static str> {
    let known: &[&str] = match kind {
        Kind::User => &[
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "entitlements",
            "roles",
            "x509Certificates",
            "externalId",
            "groups",
            "id",
            "meta",
            "schemas",
        ],
        Kind::Group => &["displayName", "members", "externalId", "id", "meta", "schemas"],
    };
    if name.len() > ENTERPRISE_SCHEMA.len()
        && name[..ENTERPRISE_SCHEMA.len()].eq_ignore_ascii_case(ENTERPRISE_SCHEMA)
    {
        return None;
    }
    known.iter().find(|k| k.eq_ignore_ascii_case(name)).copied()
}

/// Which resource a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A user.
    User,
    /// A group.
    Group,
}

/// `value`'s key spelled as the schema spells it.
fn normalized_key(key: &str, kind: Kind) -> String {
    if key.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
        return ENTERPRISE_SCHEMA.into();
    }
    canonical(key, kind).map_or_else(|| key.to_string(), str::to_string)
}

/// A boolean, or a string spelling one (`"True"`, `"false"`).
fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn short_text(map: &Map<String, Value>, key: &str, required: bool) -> Result<Option<String>, Failure> {
    match map.get(key) {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s))
            if !s.trim().is_empty() && s.chars().count() <= MAX_NAME && !s.chars().any(char::is_control) =>
        {
            Ok(Some(s.clone()))
        }
        None | Some(Value::Null) => Err(Failure::invalid(format!("`{key}` is required"))),
        Some(_) => Err(Failure::invalid(format!(
            "`{key}` must be a non-blank string of at most {MAX_NAME} characters without control characters"
        ))),
    }
}

/// A user's attributes as kept: keys in the schema's spelling, `id`,
/// `meta`, `schemas`, `groups` (read-only) and `password` (never kept)
/// dropped, `active` a boolean (default `true`), `userName` present.
pub fn user_attributes(body: Map<String, Value>) -> Result<Map<String, Value>, Failure> {
    let mut attributes = Map::new();
    for (key, value) in body {
        let key = normalized_key(&key, Kind::User);
        match key.as_str() {
            "id" | "meta" | "schemas" | "groups" | "password" => {}
            "active" => {
                let active = boolean(&value).ok_or_else(|| Failure::invalid("`active` must be a boolean"))?;
                attributes.insert(key, Value::Bool(active));
            }
            _ if value.is_null() => {}
            _ => {
                attributes.insert(key, value);
            }
        }
    }
    short_text(&attributes, "userName", true)?;
    short_text(&attributes, "externalId", false)?;
    attributes.entry("active").or_insert(Value::Bool(true));
    if serde_json::to_vec(&attributes).map_or(0, |b| b.len()) > MAX_RESOURCE {
        return Err(Failure::invalid(format!("a user's attributes take at most {MAX_RESOURCE} bytes")));
    }
    Ok(attributes)
}

/// The stored row of a user with `attributes`.
pub fn user_row(
    tenant: &TenantId,
    id: String,
    attributes: &Map<String, Value>,
    version: i64,
    (created_at, updated_at): (Timestamp, Timestamp),
) -> Result<ScimUserRow, Failure> {
    let user_name = short_text(attributes, "userName", true)?.unwrap_or_default();
    Ok(ScimUserRow {
        tenant: tenant.clone(),
        id,
        user_name,
        external_id: short_text(attributes, "externalId", false)?,
        active: attributes.get("active").and_then(boolean).unwrap_or(true),
        resource: Value::Object(attributes.clone()).to_string(),
        version,
        created_at,
        updated_at,
    })
}

fn meta(kind: &str, location: String, created: Timestamp, modified: Timestamp, version: i64) -> Value {
    json!({
        "resourceType": kind,
        "created": rfc3339(created),
        "lastModified": rfc3339(modified),
        "location": location,
        "version": format!("W/\"{version}\""),
    })
}

/// A user as SCIM answers it: its attributes, `id`, `schemas`, `meta` and
/// the groups it is in.
pub fn user_resource(row: &ScimUserRow, groups: &[(String, String)], base: &str) -> Value {
    let mut resource: Map<String, Value> = serde_json::from_str(&row.resource).unwrap_or_default();
    let mut schemas = vec![json!(USER_SCHEMA)];
    if resource.contains_key(ENTERPRISE_SCHEMA) {
        schemas.push(json!(ENTERPRISE_SCHEMA));
    }
    resource.insert("schemas".into(), Value::Array(schemas));
    resource.insert("id".into(), json!(row.id));
    resource.insert("active".into(), json!(row.active));
    resource.insert(
        "groups".into(),
        Value::Array(
            groups
                .iter()
                .map(|(id, name)| json!({"value": id, "display": name, "$ref": format!("{base}/Groups/{id}"), "type": "direct"}))
                .collect(),
        ),
    );
    resource.insert(
        "meta".into(),
        meta("User", format!("{base}/Users/{}", row.id), row.created_at, row.updated_at, row.version),
    );
    Value::Object(resource)
}

/// A group as a POST or PUT states it.
pub struct GroupInput {
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Its members' ids.
    pub members: Vec<String>,
}

fn member_ids(value: &Value) -> Result<Vec<String>, Failure> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        Value::Null => &[],
        single @ Value::Object(_) => std::slice::from_ref(single),
        _ => return Err(Failure::invalid("`members` must be a list of `{\"value\": <user id>}`")),
    };
    if items.len() > MAX_MEMBERS {
        return Err(Failure::invalid(format!("at most {MAX_MEMBERS} members at once")));
    }
    items
        .iter()
        .map(|item| {
            let value =
                item.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")));
            match value.map(|(_, v)| v) {
                Some(Value::String(id)) if !id.is_empty() && id.len() <= 128 => Ok(id.clone()),
                _ => Err(Failure::invalid("each member is `{\"value\": <user id>}`")),
            }
        })
        .collect()
}

fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// Reads a group's POST or PUT body.
pub fn group_attributes(body: &Map<String, Value>) -> Result<GroupInput, Failure> {
    let normalized: Map<String, Value> =
        body.iter().map(|(k, v)| (normalized_key(k, Kind::Group), v.clone())).collect();
    Ok(GroupInput {
        display_name: short_text(&normalized, "displayName", true)?.unwrap_or_default(),
        external_id: short_text(&normalized, "externalId", false)?,
        members: normalized.get("members").map(member_ids).transpose()?.unwrap_or_default(),
    })
}

/// A group as SCIM answers it.
pub fn group_resource(row: &ScimGroupRow, members: &[(String, Option<String>)], base: &str) -> Value {
    let mut resource = json!({
        "schemas": [GROUP_SCHEMA],
        "id": row.id,
        "displayName": row.display_name,
        "members": members.iter().map(|(id, name)| {
            let mut member = json!({"value": id, "$ref": format!("{base}/Users/{id}"), "type": "User"});
            if let Some(name) = name {
                member["display"] = json!(name);
            }
            member
        }).collect::<Vec<_>>(),
        "meta": meta("Group", format!("{base}/Groups/{}", row.id), row.created_at, row.updated_at, row.version),
    });
    if let Some(external) = &row.external_id {
        resource["externalId"] = json!(external);
    }
    resource
}

// ------------------------------------------------------------------ lists

/// A list request's parameters (RFC 7644, 3.4.2).
#[derive(Debug, Default)]
pub struct ListParams {
    filter: Option<Filter>,
    start_index: usize,
    count: Option<usize>,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

impl ListParams {
    /// Reads a query string.
    pub fn parse(query: &str) -> Result<ListParams, Failure> {
        let mut params = ListParams { start_index: 1, ..ListParams::default() };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let number = || {
                value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| Failure::invalid(format!("`{key}` must be an integer")))
            };
            match key.to_ascii_lowercase().as_str() {
                "filter" => {
                    params.filter = Some(
                        Filter::parse(&value)
                            .map_err(|e| Failure::new(400, Some(ScimType::InvalidFilter), e))?,
                    );
                }
                // Below 1 is read as 1 (RFC 7644, 3.4.2.4).
                "startindex" => params.start_index = usize::try_from(number()?.max(1)).unwrap_or(1),
                "count" => params.count = Some(usize::try_from(number()?.max(0)).unwrap_or(0).min(MAX_PAGE)),
                "attributes" => params.attributes = value.split(',').map(|a| a.trim().to_string()).collect(),
                "excludedattributes" => {
                    params.excluded = value.split(',').map(|a| a.trim().to_string()).collect()
                }
                // Sorting is not offered (`sort.supported: false`).
                _ => {}
            }
        }
        Ok(params)
    }

    /// The user name a `userName eq "…"` filter (alone) looks up.
    pub fn user_name_lookup(&self) -> Option<&str> {
        self.filter.as_ref()?.single_equality("username")
    }

    /// `resource` with only the attributes asked for (`id` always), or
    /// without the ones excluded.
    pub fn project(&self, resource: Value) -> Value {
        let Value::Object(map) = resource else { return resource };
        let top = |a: &String| a.split('.').next().unwrap_or(a).to_string();
        let kept: Map<String, Value> = if !self.attributes.is_empty() {
            let wanted: Vec<String> = self.attributes.iter().map(top).collect();
            map.into_iter()
                .filter(|(k, _)| {
                    matches!(k.as_str(), "id" | "schemas" | "meta")
                        || wanted.iter().any(|w| w.eq_ignore_ascii_case(k))
                })
                .collect()
        } else {
            let excluded: Vec<String> = self.excluded.iter().map(top).collect();
            map.into_iter()
                .filter(|(k, _)| k == "id" || !excluded.iter().any(|e| e.eq_ignore_ascii_case(k)))
                .collect()
        };
        Value::Object(kept)
    }
}

/// The page of `resources` a list request asks for (RFC 7644, 3.4.2).
pub fn list(resources: Vec<Value>, params: &ListParams) -> Result<Value, Failure> {
    let matching: Vec<Value> = match &params.filter {
        Some(filter) => resources.into_iter().filter(|r| filter.matches(r)).collect(),
        None => resources,
    };
    let total = matching.len();
    let count = params.count.unwrap_or(MAX_PAGE / 10);
    let page: Vec<Value> =
        matching.into_iter().skip(params.start_index - 1).take(count).map(|r| params.project(r)).collect();
    Ok(json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": params.start_index,
        "itemsPerPage": page.len(),
        "Resources": page,
    }))
}

// ------------------------------------------------------------------ PATCH

/// A PATCH path: an attribute (with its schema, for extensions), an
/// optional filter on its values, an optional sub-attribute.
#[derive(Debug)]
struct PatchPath {
    /// The top-level key (`emails`, or the extension's URN).
    attribute: String,
    /// A sub-attribute (`name.givenName`, an extension's attribute).
    sub: Option<String>,
    /// `emails[type eq "work"]`.
    filter: Option<Filter>,
    /// After the filter: `emails[type eq "work"].value`.
    filtered_sub: Option<String>,
}

fn invalid_path(path: &str) -> Failure {
    Failure::new(
        400,
        Some(ScimType::InvalidPath),
        format!("the path `{}` is not understood", crate::logging::escape(path)),
    )
}

fn parse_path(path: &str, kind: Kind) -> Result<PatchPath, Failure> {
    use scim_v2::filter as parsed;
    let parsed: parsed::PatchPath = path.trim().parse().map_err(|_| invalid_path(path))?;
    let (attr, filter, filtered_sub) = match parsed {
        parsed::PatchPath::Attr(attr) => (attr, None, None),
        parsed::PatchPath::Value(value) => {
            (value.attr, Some(super::scim_filter::from_value_filter(&value.filter)), value.sub_attr)
        }
    };
    let core = match kind {
        Kind::User => USER_SCHEMA,
        Kind::Group => GROUP_SCHEMA,
    };
    let joined = |name: &str, sub: Option<String>| match sub {
        Some(sub) => format!("{name}.{sub}"),
        None => name.to_string(),
    };
    let (attribute, sub) = match attr.uri.as_deref() {
        // An extension's attribute lives in its object.
        Some(uri) if !uri.eq_ignore_ascii_case(core) => {
            let key = if uri.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
                ENTERPRISE_SCHEMA.to_string()
            } else {
                uri.to_string()
            };
            (key, Some(joined(&attr.name, attr.sub_attr)))
        }
        _ => (normalized_key(&attr.name, kind), attr.sub_attr),
    };
    Ok(PatchPath { attribute, sub, filter, filtered_sub })
}

fn key_ci(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// Sets `path` (dotted) under `target` to `value`.
fn set_dotted(target: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        Some((first, rest)) => {
            let key = key_ci(target, first).unwrap_or_else(|| first.to_string());
            let child = target.entry(key).or_insert_with(|| json!({}));
            if !child.is_object() {
                *child = json!({});
            }
            if let Value::Object(child) = child {
                set_dotted(child, rest, value);
            }
        }
        None => {
            let key = key_ci(target, path).unwrap_or_else(|| path.to_string());
            target.insert(key, value);
        }
    }
}

fn remove_dotted(target: &mut Map<String, Value>, path: &str) {
    match path.split_once('.') {
        Some((first, rest)) => {
            if let Some(Value::Object(child)) = key_ci(target, first).and_then(|k| target.get_mut(&k)) {
                remove_dotted(child, rest);
            }
        }
        None => {
            if let Some(key) = key_ci(target, path) {
                target.remove(&key);
            }
        }
    }
}

/// A filter's `attr eq "x"` comparisons, as the attributes a new value
/// must carry to match it (`emails[type eq "work"]` → `{"type": "work"}`).
fn implied(filter: &Filter) -> Map<String, Value> {
    filter.equalities().into_iter().collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

fn apply(
    document: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), Failure> {
    let value_or =
        |value: Option<Value>| value.ok_or_else(|| Failure::invalid("the operation needs a `value`"));
    let key = key_ci(document, &path.attribute).unwrap_or_else(|| path.attribute.clone());
    match (&path.filter, op) {
        (None, Op::Remove) => match &path.sub {
            Some(sub) => {
                if let Some(Value::Object(child)) = document.get_mut(&key) {
                    remove_dotted(child, sub);
                }
            }
            None => {
                document.remove(&key);
            }
        },
        (None, _) => {
            let value = value_or(value)?;
            match &path.sub {
                Some(sub) => {
                    let child = document.entry(key).or_insert_with(|| json!({}));
                    if !child.is_object() {
                        *child = json!({});
                    }
                    if let Value::Object(child) = child {
                        set_dotted(child, sub, value);
                    }
                }
                None => match (op, document.get_mut(&key), value) {
                    // `add` to a multi-valued attribute appends.
                    (Op::Add, Some(Value::Array(items)), Value::Array(new)) => {
                        for item in new {
                            if !items.contains(&item) {
                                items.push(item);
                            }
                        }
                    }
                    (Op::Add, Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
                    (_, _, value) => {
                        document.insert(key, value);
                    }
                },
            }
        }
        (Some(filter), op) => {
            let items = match document.get_mut(&key) {
                Some(Value::Array(items)) => items,
                _ if op == Op::Remove => return Ok(()),
                _ => {
                    document.insert(key.clone(), json!([]));
                    match document.get_mut(&key) {
                        Some(Value::Array(items)) => items,
                        _ => return Err(Failure::internal(StoreError::Corrupt("patch target".into()))),
                    }
                }
            };
            let matched: Vec<usize> =
                items.iter().enumerate().filter(|(_, v)| filter.matches(v)).map(|(i, _)| i).collect();
            match (op, &path.filtered_sub) {
                (Op::Remove, None) => {
                    for i in matched.into_iter().rev() {
                        items.remove(i);
                    }
                }
                (Op::Remove, Some(sub)) => {
                    for i in matched {
                        if let Some(Value::Object(item)) = items.get_mut(i) {
                            remove_dotted(item, sub);
                        }
                    }
                }
                (_, sub) => {
                    let value = value_or(value)?;
                    if matched.is_empty() {
                        // Nothing matches: the value is added with what the
                        // filter names (`emails[type eq "work"].value`).
                        let mut item = implied(filter);
                        match (sub, value.clone()) {
                            (Some(sub), value) => set_dotted(&mut item, sub, value),
                            (None, Value::Object(fields)) => item.extend(fields),
                            (None, _) => {
                                return Err(Failure::invalid("a filtered path's value is an object"));
                            }
                        }
                        items.push(Value::Object(item));
                    }
                    for i in matched {
                        match (items.get_mut(i), sub, &value) {
                            (Some(Value::Object(item)), Some(sub), value) => {
                                set_dotted(item, sub, value.clone())
                            }
                            (Some(Value::Object(item)), None, Value::Object(fields)) => {
                                if op == Op::Replace {
                                    item.clear();
                                }
                                item.extend(fields.clone());
                            }
                            _ => return Err(Failure::invalid("a filtered path's value is an object")),
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// One operation of a PatchOp message: what, where, with what.
type Operation = (Op, Option<String>, Option<Value>);

/// The operations of a PatchOp message.
fn operations(body: &Map<String, Value>) -> Result<Vec<Operation>, Failure> {
    let schemas = get_ci(body, "schemas").and_then(Value::as_array);
    if !schemas
        .is_some_and(|s| s.iter().any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(PATCH_SCHEMA))))
    {
        return Err(Failure::new(
            400,
            Some(ScimType::InvalidSyntax),
            format!("a PATCH body has `schemas: [\"{PATCH_SCHEMA}\"]`"),
        ));
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::new(400, Some(ScimType::InvalidSyntax), "a PATCH body has `Operations`"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(Failure::invalid(format!("at most {MAX_OPERATIONS} operations at once")));
    }
    ops.iter()
        .map(|op| {
            let op = op.as_object().ok_or_else(|| {
                Failure::new(400, Some(ScimType::InvalidSyntax), "each operation is an object")
            })?;
            let kind = match get_ci(op, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref()
            {
                Some("add") => Op::Add,
                Some("replace") => Op::Replace,
                Some("remove") => Op::Remove,
                _ => {
                    return Err(Failure::new(
                        400,
                        Some(ScimType::InvalidSyntax),
                        "`op` is `add`, `replace` or `remove`",
                    ));
                }
            };
            let path = match get_ci(op, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(path)) => Some(path.clone()),
                Some(_) => return Err(invalid_path("(not a string)")),
            };
            if kind == Op::Remove && path.is_none() {
                return Err(Failure::new(400, Some(ScimType::NoTarget), "`remove` needs a `path`"));
            }
            Ok((kind, path, get_ci(op, "value").cloned()))
        })
        .collect()
}

/// A user's stored attributes after a PatchOp `body`.
pub fn patch(
    mut document: Map<String, Value>,
    body: &Map<String, Value>,
    kind: Kind,
) -> Result<Map<String, Value>, Failure> {
    for (op, path, value) in operations(body)? {
        match path {
            Some(path) => {
                let path = parse_path(&path, kind)?;
                refuse_read_only(&path.attribute)?;
                apply(&mut document, op, &path, value)?;
            }
            // No path: each attribute of the value is its own operation.
            None => {
                let Some(Value::Object(fields)) = value else {
                    return Err(Failure::invalid("without a `path`, the value is an object of attributes"));
                };
                for (name, field) in fields {
                    // Okta sends the resource's read-only attributes back.
                    if ["id", "meta", "schemas"].iter().any(|k| k.eq_ignore_ascii_case(&name)) {
                        continue;
                    }
                    let path = parse_path(&name, kind)?;
                    refuse_read_only(&path.attribute)?;
                    if path.sub.is_none()
                        && path.filter.is_none()
                        && field.is_object()
                        && path.attribute == ENTERPRISE_SCHEMA
                    {
                        // The extension's object: its attributes one by one.
                        if let Value::Object(inner) = field {
                            for (sub, v) in inner {
                                let path = PatchPath {
                                    attribute: ENTERPRISE_SCHEMA.into(),
                                    sub: Some(sub),
                                    filter: None,
                                    filtered_sub: None,
                                };
                                apply(&mut document, op, &path, Some(v))?;
                            }
                        }
                        continue;
                    }
                    apply(&mut document, op, &path, Some(field))?;
                }
            }
        }
    }
    Ok(document)
}

fn refuse_read_only(attribute: &str) -> Result<(), Failure> {
    if matches!(attribute, "id" | "meta" | "groups") {
        return Err(Failure::new(
            400,
            Some(ScimType::Mutability),
            format!("`{attribute}` cannot be changed"),
        ));
    }
    Ok(())
}

/// A group's change by PATCH.
pub struct GroupChange {
    /// `displayName` after it.
    pub display_name: String,
    /// `externalId` after it.
    pub external_id: Option<String>,
    /// Members replaced by it.
    pub members: Option<Vec<String>>,
    /// Members added.
    pub add: Vec<String>,
    /// Members removed.
    pub remove: Vec<String>,
}

/// What a PatchOp `body` does to a group with `members`.
pub fn patch_group(
    current: &ScimGroupRow,
    members: &[String],
    body: &Map<String, Value>,
) -> Result<GroupChange, Failure> {
    let mut change = GroupChange {
        display_name: current.display_name.clone(),
        external_id: current.external_id.clone(),
        members: None,
        add: Vec::new(),
        remove: Vec::new(),
    };
    let mut now: Vec<String> = members.to_vec();
    for (op, path, value) in operations(body)? {
        // Without a path, the value's attributes are the operations.
        let targets: Vec<(PatchPath, Option<Value>)> = match path {
            Some(path) => vec![(parse_path(&path, Kind::Group)?, value)],
            None => match value {
                // Okta's rename sends the group's `id` in the value.
                Some(Value::Object(fields)) => fields
                    .into_iter()
                    .filter(|(name, _)| {
                        !["id", "meta", "schemas"].iter().any(|k| k.eq_ignore_ascii_case(name))
                    })
                    .map(|(name, v)| Ok((parse_path(&name, Kind::Group)?, Some(v))))
                    .collect::<Result<_, Failure>>()?,
                _ => return Err(Failure::invalid("without a `path`, the value is an object of attributes")),
            },
        };
        for (path, value) in targets {
            match path.attribute.as_str() {
                "displayName" => {
                    let name = match (op, value) {
                        (Op::Remove, _) => {
                            return Err(Failure::new(
                                400,
                                Some(ScimType::Mutability),
                                "`displayName` is required",
                            ));
                        }
                        (_, Some(Value::String(name))) => name,
                        (_, Some(Value::Object(o))) => {
                            get_ci(&o, "displayName").and_then(Value::as_str).unwrap_or_default().to_string()
                        }
                        _ => String::new(),
                    };
                    let map: Map<String, Value> =
                        [("displayName".to_string(), json!(name))].into_iter().collect();
                    change.display_name = short_text(&map, "displayName", true)?.unwrap_or_default();
                }
                "externalId" => {
                    change.external_id = match (op, value) {
                        (Op::Remove, _) => None,
                        (_, Some(Value::String(id))) if id.len() <= MAX_NAME => Some(id),
                        _ => return Err(Failure::invalid("`externalId` is a string")),
                    };
                }
                "members" => {
                    let ids = match (&path.filter, value) {
                        // `members[value eq "id"]`: the members it names.
                        (Some(filter), _) => {
                            now.iter().filter(|m| filter.matches(&json!({"value": m}))).cloned().collect()
                        }
                        (None, Some(value)) => member_ids(&value)?,
                        (None, None) => Vec::new(),
                    };
                    match op {
                        Op::Add => {
                            for id in ids {
                                change.remove.retain(|r| *r != id);
                                if !now.contains(&id) {
                                    now.push(id.clone());
                                }
                                change.add.push(id);
                            }
                        }
                        Op::Remove if path.filter.is_none() && ids.is_empty() => {
                            // `remove` of `members` itself: all of them.
                            change.remove.append(&mut now);
                            change.add.clear();
                        }
                        Op::Remove => {
                            for id in ids {
                                change.add.retain(|a| *a != id);
                                now.retain(|m| *m != id);
                                change.remove.push(id);
                            }
                        }
                        Op::Replace => {
                            now = ids;
                            change.members = Some(now.clone());
                            change.add.clear();
                            change.remove.clear();
                        }
                    }
                }
                "id" | "meta" => {
                    return Err(Failure::new(
                        400,
                        Some(ScimType::Mutability),
                        format!("`{}` cannot be changed", path.attribute),
                    ));
                }
                other => {
                    return Err(Failure::new(
                        400,
                        Some(ScimType::InvalidPath),
                        format!("groups have no attribute `{}`", crate::logging::escape(other)),
                    ));
                }
            }
        }
    }
    Ok(change)
}

// -------------------------------------------------------------- discovery

/// `/ServiceProviderConfig` (RFC 7643, 5).
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/lictor-dev/lictor/blob/main/docs/operators.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The tenant's SCIM token (POST /v1/admin/tenants/{tenant_id}/scim-token)",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

/// `/ResourceTypes` (RFC 7643, 6), as a list.
pub fn resource_types(base: &str) -> Value {
    let types = vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "A person who may operate the tenant",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "A group; the tenant maps groups to roles",
            "schema": GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ];
    json!({"schemas": [LIST_SCHEMA], "totalResults": types.len(), "startIndex": 1, "itemsPerPage": types.len(), "Resources": types})
}

fn attribute(
    name: &str,
    kind: &str,
    multi: bool,
    required: bool,
    mutability: &str,
    uniqueness: &str,
) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": multi, "required": required, "caseExact": false,
        "mutability": mutability, "returned": "default", "uniqueness": uniqueness,
    })
}

/// `/Schemas` (RFC 7643, 7): the attributes kept, as a list.
pub fn schemas(base: &str) -> Value {
    let mut name = attribute("name", "complex", false, false, "readWrite", "none");
    name["subAttributes"] = json!(
        ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"]
            .iter()
            .map(|n| attribute(n, "string", false, false, "readWrite", "none"))
            .collect::<Vec<_>>()
    );
    let mut emails = attribute("emails", "complex", true, false, "readWrite", "none");
    emails["subAttributes"] = json!([
        attribute("value", "string", false, false, "readWrite", "none"),
        attribute("type", "string", false, false, "readWrite", "none"),
        attribute("primary", "boolean", false, false, "readWrite", "none"),
    ]);
    let mut groups = attribute("groups", "complex", true, false, "readOnly", "none");
    groups["subAttributes"] = json!([
        attribute("value", "string", false, false, "readOnly", "none"),
        attribute("display", "string", false, false, "readOnly", "none")
    ]);
    let mut members = attribute("members", "complex", true, false, "readWrite", "none");
    members["subAttributes"] = json!([
        attribute("value", "string", false, false, "immutable", "none"),
        attribute("display", "string", false, false, "readOnly", "none")
    ]);
    let list = vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": USER_SCHEMA, "name": "User", "description": "A person who may operate the tenant",
            "attributes": [
                attribute("userName", "string", false, true, "readWrite", "server"),
                name,
                attribute("displayName", "string", false, false, "readWrite", "none"),
                attribute("title", "string", false, false, "readWrite", "none"),
                attribute("active", "boolean", false, false, "readWrite", "none"),
                emails,
                groups,
                attribute("externalId", "string", false, false, "readWrite", "none"),
            ],
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": GROUP_SCHEMA, "name": "Group", "description": "A group of people",
            "attributes": [
                attribute("displayName", "string", false, true, "readWrite", "none"),
                members,
                attribute("externalId", "string", false, false, "readWrite", "none"),
            ],
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": ENTERPRISE_SCHEMA, "name": "EnterpriseUser", "description": "Enterprise User (kept as sent)",
            "attributes": [
                attribute("employeeNumber", "string", false, false, "readWrite", "none"),
                attribute("department", "string", false, false, "readWrite", "none"),
                attribute("manager", "complex", false, false, "readWrite", "none"),
            ],
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{ENTERPRISE_SCHEMA}")},
        }),
    ];
    json!({"schemas": [LIST_SCHEMA], "totalResults": list.len(), "startIndex": 1, "itemsPerPage": list.len(), "Resources": list})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn user_attributes_are_normalised() {
        let attributes = user_attributes(object(json!({
            "USERNAME": "Alice@Example.com", "Active": "False", "password": "hunter2", "id": "x",
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        })))
        .expect("valid");
        assert_eq!(attributes["userName"], "Alice@Example.com");
        assert_eq!(attributes["active"], false);
        assert!(!attributes.contains_key("password") && !attributes.contains_key("id"));
        assert!(user_attributes(object(json!({"active": true}))).is_err());
    }

    #[test]
    fn okta_deactivation_and_entra_replacements_apply() {
        let stored = object(json!({
            "userName": "alice@example.com", "active": true, "name": {"givenName": "Alice"},
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        }));
        let okta = object(
            json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": {"active": false}}]}),
        );
        let patched = patch(stored.clone(), &okta, Kind::User).expect("patched");
        assert_eq!(patched["active"], false);
        let entra = object(json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice@new.example"},
            {"op": "Replace", "path": "name.familyName", "value": "Anders"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
        ]}));
        let patched = user_attributes(patch(stored, &entra, Kind::User).expect("patched")).expect("valid");
        assert_eq!(patched["emails"][0]["value"], "alice@new.example");
        assert_eq!(patched["name"]["familyName"], "Anders");
        assert_eq!(patched["name"]["givenName"], "Alice");
        assert_eq!(patched[ENTERPRISE_SCHEMA]["department"], "R&D");
        assert_eq!(patched["active"], false);
        assert_eq!(patched["phoneNumbers"][0], json!({"type": "mobile", "value": "+1 555"}));
        let bad = object(
            json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
        );
        assert_eq!(
            patch(Map::new(), &bad, Kind::User).expect_err("refused").scim_type,
            Some(ScimType::Mutability)
        );
    }

    #[test]
    fn group_members_are_added_and_removed() {
        let now = Timestamp::from_seconds(1);
        let group = ScimGroupRow {
            tenant: TenantId::parse("acme").expect("tenant"),
            id: "grp_1".into(),
            display_name: "Approvers".into(),
            external_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let members = vec!["usr_1".to_string(), "usr_2".to_string()];
        let body = object(json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Add", "path": "members", "value": [{"value": "usr_3"}]},
            {"op": "Remove", "path": "members[value eq \"usr_1\"]"},
            {"op": "Replace", "path": "displayName", "value": "Deciders"},
        ]}));
        let change = patch_group(&group, &members, &body).expect("patched");
        assert_eq!(change.add, vec!["usr_3"]);
        assert_eq!(change.remove, vec!["usr_1"]);
        assert_eq!(change.display_name, "Deciders");
        let entra = object(json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": "usr_2"}]},
        ]}));
        assert_eq!(patch_group(&group, &members, &entra).expect("patched").remove, vec!["usr_2"]);
    }

    #[test]
    fn lists_filter_and_page() {
        let users: Vec<Value> =
            (1..=5).map(|i| json!({"id": format!("u{i}"), "userName": format!("User{i}@x")})).collect();
        let params = ListParams::parse("filter=userName%20eq%20%22user3%40X%22&startIndex=1&count=10")
            .expect("params");
        let page = list(users.clone(), &params).expect("list");
        assert_eq!(page["totalResults"], 1);
        assert_eq!(page["Resources"][0]["id"], "u3");
        let params = ListParams::parse("startIndex=2&count=2").expect("params");
        let page = list(users, &params).expect("list");
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["itemsPerPage"], 2);
        assert_eq!(page["Resources"][0]["id"], "u2");
        assert_eq!(
            ListParams::parse("filter=userName%20zz%20x").expect_err("bad").scim_type,
            Some(ScimType::InvalidFilter)
        );
    }
}
