//! The auth sweep: every operation in the spec, tried with each kind of
//! wrong credential.
//!
//! The operations come from the spec itself ([`super::SPEC`]), so an
//! operation added to it is swept without touching this file. Every request
//! is judged on the wire: its status, and for a refusal the documented
//! error body (`error_code`, `message`, `request_id`, the status its code
//! has in `docs/errors.md`). A failure lists every operation that answered
//! wrongly, one per line, and reproduces the first with `curl`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use lictor_client::{Gateway, types};
use serde_json::{Value, json};

use crate::{Case, CaseFuture, Context, Failure, Group, Outcome, UPSTREAM, curl, failed, typed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "auth.sweep_no_credentials",
            group: Group::Auth,
            title: "every operation without credentials is 401 unauthenticated (public ones 200)",
            disruptive: false,
            operations: &[],
            run: no_credentials,
        },
        Case {
            id: "auth.sweep_malformed_key",
            group: Group::Auth,
            title: "every operation with a malformed bearer is 401 unauthenticated",
            disruptive: false,
            operations: &[],
            run: malformed_key,
        },
        Case {
            id: "auth.sweep_revoked_key",
            group: Group::Auth,
            title: "every operation with a revoked key is 401 unauthenticated",
            disruptive: false,
            operations: &[],
            run: revoked_key,
        },
        Case {
            id: "auth.sweep_agent_key_on_admin",
            group: Group::Auth,
            title: "every administrative operation with an agent key is 403 forbidden",
            disruptive: false,
            operations: &[],
            run: agent_key_on_admin,
        },
        Case {
            id: "auth.sweep_each_role",
            group: Group::Auth,
            title: "every operation with a key of each role: 403 forbidden where the spec's x-lictor-roles leaves the role out, never where it lists it",
            disruptive: false,
            operations: &[],
            run: each_role,
        },
        Case {
            id: "auth.sweep_other_tenant",
            group: Group::Auth,
            title: "another tenant's admin key gets 404 for every object of the run's tenant, and never its data",
            disruptive: false,
            operations: &[],
            run: other_tenant,
        },
    ]
}

/// Bearers that are not keys: a `lictor_live_` key of the wrong shape, garbage,
/// and a capability token that is not one.
const MALFORMED: [&str; 3] = ["lictor_live_not-a-key", "garbage-0123456789", "lictor_cap1.not-a-token"];

/// A path parameter no object has: it fits every id pattern of the spec.
const PLACEHOLDER: &str = "conformancesweep0";

/// Requests in flight at once.
const IN_FLIGHT: usize = 4;

/// The documented status of each error code (docs/errors.md).
const ERROR_STATUS: [(&str, u16); 20] = [
    ("malformed_json", 400),
    ("missing_field", 400),
    ("unknown_field", 400),
    ("invalid_field", 400),
    ("invalid_parameter", 400),
    ("invalid_cursor", 400),
    ("invalid_request", 400),
    ("policy_compile_error", 400),
    ("unauthenticated", 401),
    ("step_up_required", 401),
    ("forbidden", 403),
    ("not_found", 404),
    ("already_exists", 409),
    ("idempotency_conflict", 409),
    ("conflict", 409),
    ("body_too_large", 413),
    ("unsupported_media_type", 415),
    ("internal", 500),
    ("upstream_unavailable", 502),
    ("store_unavailable", 503),
];

/// One operation of the spec.
#[derive(Debug)]
struct Operation {
    id: String,
    method: String,
    /// The path template (`/v1/agents/{agent_id}`).
    path: String,
    /// `security: []`: no credentials needed.
    public: bool,
    /// The spec says only the superadmin may call it.
    superadmin_only: bool,
    /// Who may call it (`x-lictor-roles`: `superadmin`, the tenant roles,
    /// or `any`).
    roles: Vec<String>,
    /// Whether it has path parameters.
    has_path_params: bool,
    /// Its required query parameters, each with a valid value.
    required_query: Vec<(String, String)>,
    /// Whether it takes the `tenant` query parameter.
    takes_tenant: bool,
    /// Whether it has a request body.
    has_body: bool,
}

impl Operation {
    /// Whether the spec keeps agents out of it: `x-lictor-roles` names
    /// neither `agent` nor `any` (docs/operators.md, "Roles").
    fn administrative(&self) -> bool {
        !self.public && !self.allows("agent")
    }

    /// Whether `x-lictor-roles` lets a key of `role` call it.
    fn allows(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role || r == "any")
    }

    /// The request path: parameters from `ids` (else [`PLACEHOLDER`]), the
    /// required query, and `tenant` when given.
    fn target(&self, ids: &BTreeMap<&'static str, String>, tenant: Option<&str>) -> String {
        let mut path = String::new();
        let mut rest = self.path.as_str();
        while let Some((before, after)) = rest.split_once('{') {
            let (name, tail) = after.split_once('}').unwrap_or((after, ""));
            path.push_str(before);
            path.push_str(ids.get(name).map_or(PLACEHOLDER, String::as_str));
            rest = tail;
        }
        path.push_str(rest);
        let mut query: Vec<String> = self.required_query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(tenant) = tenant.filter(|_| self.takes_tenant) {
            query.push(format!("tenant={tenant}"));
        }
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        path
    }
}

/// Every operation of the spec, in its order.
fn operations() -> Result<Vec<Operation>, Failure> {
    let spec: Value = serde_json::from_str(super::SPEC).map_err(|e| failed("the embedded spec", e, None))?;
    let global_public = spec.get("security").and_then(Value::as_array).is_none_or(Vec::is_empty);
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(id) = op["operationId"].as_str() else { continue };
            let parameters: Vec<&Value> = [&item["parameters"], &op["parameters"]]
                .into_iter()
                .filter_map(Value::as_array)
                .flatten()
                .map(|p| resolve(&spec, p))
                .collect();
            let located = |place: &'static str| parameters.iter().filter(move |p| p["in"] == place);
            let summary = op["summary"].as_str().unwrap_or_default().to_lowercase();
            let roles: Vec<String> = op["x-lictor-roles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            operations.push(Operation {
                id: id.to_string(),
                method: method.to_uppercase(),
                path: path.clone(),
                public: op.get("security").and_then(Value::as_array).map_or(global_public, Vec::is_empty),
                superadmin_only: summary.contains("superadmin only") || roles == ["superadmin"],
                roles,
                has_path_params: located("path").next().is_some(),
                required_query: located("query")
                    .filter(|p| p["required"] == true)
                    .filter_map(|p| Some((p["name"].as_str()?.to_string(), sample(&spec, &p["schema"]))))
                    .collect(),
                takes_tenant: located("query").any(|p| p["name"] == "tenant"),
                has_body: op.get("requestBody").is_some(),
            });
        }
    }
    if operations.len() < 10 {
        return Err(failed("the embedded spec", format!("only {} operations", operations.len()), None));
    }
    Ok(operations)
}

/// `value`, or what its `$ref` (or its single `allOf`) points to.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    if let Some(pointer) = value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        return spec.pointer(pointer).map_or(value, |target| resolve(spec, target));
    }
    match value["allOf"].as_array().map(Vec::as_slice) {
        Some([only]) => resolve(spec, only),
        _ => value,
    }
}

/// A valid value for a query parameter of `schema`.
fn sample(spec: &Value, schema: &Value) -> String {
    let schema = resolve(spec, schema);
    let variants = schema["oneOf"].as_array().and_then(|v| v.first()).map(|v| resolve(spec, v));
    let choice = schema["enum"].as_array().or_else(|| variants.and_then(|v| v["enum"].as_array()));
    if let Some(first) = choice.and_then(|values| values.first()) {
        return first.as_str().map_or_else(|| first.to_string(), str::to_string);
    }
    match schema["type"].as_str() {
        Some("integer" | "number") => "1".into(),
        Some("boolean") => "true".into(),
        _ => PLACEHOLDER.into(),
    }
}

/// What an answer must be.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Anything but `403 forbidden`, a refusal with the documented error
    /// body (the credentials' role may call it).
    NotForbidden,
    /// This status (a public operation).
    Status(u16),
    /// This refusal, with the documented error body.
    Refusal(u16, &'static str),
    /// Anything, but a refusal has the documented error body.
    Any,
}

impl std::fmt::Display for Want {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Want::Status(status) => write!(f, "{status}"),
            Want::Refusal(status, code) => write!(f, "{status} {code}"),
            Want::Any => f.write_str("a success or a documented error body"),
            Want::NotForbidden => f.write_str("anything but 403 forbidden"),
        }
    }
}

const UNAUTHENTICATED: Want = Want::Refusal(401, "unauthenticated");
const FORBIDDEN: Want = Want::Refusal(403, "forbidden");
const NOT_FOUND: Want = Want::Refusal(404, "not_found");

/// One request of a sweep.
struct Probe<'a> {
    op: &'a Operation,
    /// The bearer sent (`None`: no `Authorization` header).
    key: Option<&'a str>,
    /// The credential, as a failure line names it.
    with: &'a str,
    /// The path and query.
    target: String,
    body: Option<Value>,
    want: Want,
}

impl<'a> Probe<'a> {
    fn new(op: &'a Operation, key: Option<&'a str>, with: &'a str, target: String, want: Want) -> Probe<'a> {
        Probe { op, key, with, target, body: op.has_body.then(|| json!({})), want }
    }

    fn body(mut self, body: Value) -> Probe<'a> {
        if self.op.has_body {
            self.body = Some(body);
        }
        self
    }

    fn curl(&self, base: &str) -> String {
        match self.key {
            Some(key) => curl(&self.op.method, base, &self.target, key, self.body.as_ref()),
            None => {
                let mut line = format!("curl -sS -X {} '{base}{}'", self.op.method, self.target);
                if let Some(body) = &self.body {
                    line.push_str(&format!(" -H 'Content-Type: application/json' -d '{body}'"));
                }
                line
            }
        }
    }

    /// "`op` METHOD /path with …".
    fn describe(&self) -> String {
        format!("{} {} {} with {}", self.op.id, self.op.method, self.target, self.with)
    }
}

/// What came back.
struct Answer {
    /// `0`: none came (`text` says why).
    status: u16,
    /// The body as text (an export is not JSON).
    text: String,
    curl: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// `404 not_found`, or the status and the start of the body.
    fn describe(&self) -> String {
        match self.json()["error_code"].as_str() {
            _ if self.status == 0 => format!("no answer: {}", self.text),
            Some(code) => format!("{} {code}", self.status),
            None if self.text.is_empty() => format!("{} with no body", self.status),
            None => {
                let excerpt: String = self.text.chars().take(100).collect();
                let more = if excerpt.len() < self.text.len() { "…" } else { "" };
                format!("{} {excerpt}{more}", self.status)
            }
        }
    }

    /// What is wrong with it as a refusal: the documented error body, with
    /// the status of its code.
    fn error_body_problem(&self) -> Option<String> {
        let body = self.json();
        let Some(fields) = body.as_object() else {
            return Some("the body is not the documented error object".into());
        };
        let missing: Vec<&str> = ["error_code", "message", "request_id"]
            .into_iter()
            .filter(|field| !fields.get(*field).is_some_and(Value::is_string))
            .collect();
        if !missing.is_empty() {
            return Some(format!("the error body lacks string {}", missing.join(", ")));
        }
        let code = fields["error_code"].as_str().unwrap_or_default();
        match ERROR_STATUS.iter().find(|(known, _)| *known == code) {
            None => Some(format!("`{code}` is not a documented error_code")),
            Some((_, status)) if *status != self.status => {
                Some(format!("`{code}` is documented as {status}, not {}", self.status))
            }
            Some(_) => None,
        }
    }

    /// Why it does not answer `want` (`None`: it does).
    fn problem(&self, want: Want) -> Option<String> {
        match want {
            _ if self.status == 0 => Some(String::new()),
            Want::Status(status) if self.status == status => None,
            Want::Status(_) => Some(String::new()),
            Want::Refusal(status, code) => {
                if self.status != status || self.json()["error_code"] != code {
                    Some(String::new())
                } else {
                    self.error_body_problem()
                }
            }
            Want::Any | Want::NotForbidden if self.status < 400 => None,
            Want::NotForbidden if self.status == 403 => Some(String::new()),
            Want::Any | Want::NotForbidden => self.error_body_problem(),
        }
    }
}

/// Sends `probe` to the next replica (retrying `429` and `503` a little).
async fn send<'a>(ctx: &Context, http: &reqwest::Client, probe: Probe<'a>) -> (Probe<'a>, Answer) {
    let base = ctx.url().to_string();
    let curl = probe.curl(&base);
    let unanswered = |why: String| Answer { status: 0, text: why, curl: curl.clone() };
    let Ok(method) = reqwest::Method::from_bytes(probe.op.method.as_bytes()) else {
        let answer = unanswered(format!("no HTTP method {}", probe.op.method));
        return (probe, answer);
    };
    for attempt in 1.. {
        let mut request = http.request(method.clone(), format!("{base}{}", probe.target));
        if let Some(key) = probe.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = &probe.body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (probe, unanswered(e.to_string())),
        };
        let status = response.status().as_u16();
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => return (probe, unanswered(format!("HTTP {status}, unreadable: {e}"))),
        };
        if matches!(status, 429 | 503) && attempt < 4 {
            tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
            continue;
        }
        return (probe, Answer { status, text, curl });
    }
    (probe, unanswered("no attempt".into()))
}

/// Sends the probes, a few at a time; the answers in order.
async fn sweep<'a>(ctx: &Context, probes: Vec<Probe<'a>>) -> Result<Vec<(Probe<'a>, Answer)>, Failure> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| failed("building an HTTP client", e, None))?;
    let sending: Vec<_> = probes.into_iter().map(|probe| send(ctx, &http, probe)).collect();
    Ok(stream::iter(sending).buffered(IN_FLIGHT).collect().await)
}

/// A wrong answer: its line and its curl.
struct Wrong {
    line: String,
    curl: String,
}

/// The answers that do not match their probe's `want`.
fn judge(results: &[(Probe<'_>, Answer)]) -> Vec<Wrong> {
    results
        .iter()
        .filter_map(|(probe, answer)| {
            let problem = answer.problem(probe.want)?;
            let got = answer.describe();
            let got = if problem.is_empty() { got } else { format!("{got} ({problem})") };
            let line = format!("{}: want {}, got {got}", probe.describe(), probe.want);
            Some(Wrong { line, curl: answer.curl.clone() })
        })
        .collect()
}

/// Fails listing every wrong answer; reproduces the first.
fn report(what: &str, requests: usize, wrong: Vec<Wrong>) -> Outcome {
    let Some(first) = wrong.first() else { return Ok(()) };
    let lines: Vec<String> = wrong.iter().map(|w| format!("  {}", w.line)).collect();
    Err(Failure {
        message: format!(
            "{what}: {} of {requests} requests answered wrongly:\n{}",
            wrong.len(),
            lines.join("\n")
        ),
        curl: Some(first.curl.clone()),
    })
}

/// Path parameters every sweep knows: the run's tenant, agent and upstream.
fn run_ids(ctx: &Context) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("tenant_id", ctx.tenant.clone()),
        ("agent_id", ctx.agent.clone()),
        ("name", UPSTREAM.to_string()),
    ])
}

/// Every operation that needs credentials, with `key`, must be `want`.
async fn with_key(ctx: &Context, what: &str, keys: &[(&str, String)], want: Want) -> Outcome {
    let operations = operations()?;
    let ids = run_ids(ctx);
    let probes: Vec<Probe<'_>> = keys
        .iter()
        .flat_map(|(key, with)| {
            operations
                .iter()
                .filter(|op| !op.public)
                .map(|op| Probe::new(op, Some(*key), with, op.target(&ids, None), want))
        })
        .collect();
    let count = probes.len();
    report(what, count, judge(&sweep(ctx, probes).await?))
}

fn no_credentials(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let operations = operations()?;
        let ids = run_ids(ctx);
        let probes: Vec<Probe<'_>> = operations
            .iter()
            .map(|op| {
                let want = if op.public { Want::Status(200) } else { UNAUTHENTICATED };
                Probe::new(op, None, "no credentials", op.target(&ids, None), want)
            })
            .collect();
        let count = probes.len();
        report("without credentials", count, judge(&sweep(ctx, probes).await?))
    })
}

fn malformed_key(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let keys: Vec<(&str, String)> = MALFORMED.iter().map(|key| (*key, format!("`{key}`"))).collect();
        with_key(ctx, "with malformed bearers", &keys, UNAUTHENTICATED).await
    })
}

fn revoked_key(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let keys = [(ctx.revoked_key.as_str(), "the revoked key".to_string())];
        with_key(ctx, "with a revoked key", &keys, UNAUTHENTICATED).await
    })
}

fn agent_key_on_admin(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let operations = operations()?;
        let ids = run_ids(ctx);
        let probes: Vec<Probe<'_>> = operations
            .iter()
            .filter(|op| op.administrative())
            .map(|op| Probe::new(op, Some(&ctx.live_key), "an agent key", op.target(&ids, None), FORBIDDEN))
            .collect();
        let count = probes.len();
        report("with an agent key", count, judge(&sweep(ctx, probes).await?))
    })
}

/// The tenant roles of people and keys, as `x-lictor-roles` names them
/// (`ingest` is a key's only).
const KEY_ROLES: [&str; 5] = ["admin", "approver", "auditor", "policy_author", "ingest"];

fn each_role(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let operations = operations()?;
        let (admin, url) = ctx.client(&ctx.admin_key);
        // A key of each role in the run's tenant (the run's admin key is
        // the `admin` one), revoked after the sweep.
        let mut keys: Vec<(&str, String, Option<String>)> = vec![("admin", ctx.admin_key.clone(), None)];
        for role in &KEY_ROLES[1..] {
            let body: types::ApiKeyCreate = typed(
                "key body",
                json!({"tenant": ctx.tenant, "environment": "live", "role": role, "name": format!("conformance-{role}")}),
            )?;
            let repro = curl("POST", &url, "/v1/admin/api-keys", &ctx.admin_key, Some(&body));
            let made = admin
                .retrying(|| admin.api().api_key_create().body(body.clone()).send())
                .await
                .map_err(|e| failed(&format!("creating a `{role}` key"), e, Some(repro)))?;
            keys.push((role, made.key.clone(), Some(made.api_key.id.to_string())));
        }
        let labels: Vec<String> = keys.iter().map(|(role, _, _)| format!("a `{role}` key")).collect();
        // Objects no one has (every path parameter a placeholder) and a
        // body of the wrong type: an allowed role learns `404` or `400`,
        // and changes nothing; a role left out is `403` before either.
        let none = BTreeMap::new();
        let none = &none;
        let probes: Vec<Probe<'_>> = operations
            .iter()
            .filter(|op| !op.public)
            .flat_map(|op| {
                keys.iter().zip(&labels).map(move |((role, key, _), label)| {
                    let want = if op.allows(role) { Want::NotForbidden } else { FORBIDDEN };
                    Probe::new(op, Some(key.as_str()), label, op.target(none, Some(&ctx.tenant)), want)
                        .body(json!("conformance: not an object"))
                })
            })
            .collect();
        let count = probes.len();
        let outcome = report("with a key of each role", count, judge(&sweep(ctx, probes).await?));
        for (_, _, id) in &keys {
            if let Some(id) = id {
                let _ = admin.retrying(|| admin.api().api_key_revoke().key_id(id.as_str()).send()).await;
            }
        }
        outcome
    })
}

/// Real objects of the run's tenant, for the other tenant to look for.
struct Planted {
    /// Path parameters by name.
    ids: BTreeMap<&'static str, String>,
    /// What must never appear in an answer to the other tenant.
    secrets: Vec<(&'static str, String)>,
    /// The draft's modules (a valid `PUT` body).
    modules: Value,
    /// Made here, removed after the sweep.
    key_id: String,
    draft_id: String,
    approval_id: Option<String>,
}

/// Creates an intent, an escalation, a draft, a key and a token in the
/// run's tenant, and finds a payload digest and a proposal.
async fn plant(ctx: &Context) -> Result<Planted, Failure> {
    let mut ids = run_ids(ctx);
    let mut secrets = vec![("tenant", ctx.tenant.clone()), ("agent", ctx.agent.clone())];
    let (admin, url) = ctx.client(&ctx.admin_key);
    let mark = format!("conformance-sweep-{}", uuid::Uuid::new_v4().simple());
    let note = super::intents::intent(
        &ctx.agent,
        json!({"type": "communicate", "verb": "send", "payload": {"content": mark}}),
    )?;
    let (decision, _) = super::intents::declare(ctx, &ctx.live_key, note).await?;
    let intent_id = decision.intent_id.to_string();
    ids.insert("intent_id", intent_id.clone());
    secrets.push(("intent", intent_id.clone()));
    let pay = super::intents::intent(
        &ctx.agent,
        json!({"type": "transact", "verb": "pay",
            "payload": {"estimated_impact": {"financial_exposure_usd": 2500, "reversible": false}}}),
    )?;
    let (escalated, _) = super::intents::declare(ctx, &ctx.live_key, pay).await?;
    secrets.push(("escalated intent", escalated.intent_id.to_string()));
    let approval_id = escalated.approval.as_ref().map(|a| a.approval_id.to_string());
    let known_approval = match &approval_id {
        Some(id) => Some(id.clone()),
        None => admin
            .retrying(|| admin.api().approval_list().limit(1).send())
            .await
            .ok()
            .and_then(|page| page.items.first().map(|a| a.id.to_string())),
    };
    if let Some(id) = known_approval {
        ids.insert("approval_id", id.clone());
        secrets.push(("approval", id));
    }
    let path = format!("/v1/admin/audit?intent_id={intent_id}");
    let entries = admin
        .retrying(|| admin.api().audit_list().intent_id(intent_id.as_str()).send())
        .await
        .map_err(|e| {
            failed(
                "listing the planted intent's audit entries",
                e,
                Some(curl("GET", &url, &path, &ctx.admin_key, None::<&()>)),
            )
        })?;
    if let Some(digest) = entries.items.iter().find_map(|e| e.payload_digest.clone()) {
        ids.insert("digest", digest.clone());
        secrets.push(("payload digest", digest));
    }
    let templates = admin
        .retrying(|| admin.api().policy_template_list().send())
        .await
        .map_err(|e| failed("listing policy templates", e, None))?;
    let modules: serde_json::Map<String, Value> = templates
        .items
        .first()
        .into_iter()
        .flat_map(|t| t.files.iter())
        .filter(|(name, _)| name.ends_with(".rego"))
        .map(|(name, text)| (name.clone(), Value::String(text.clone())))
        .collect();
    let modules = Value::Object(modules);
    let body: types::PolicyDraftWrite =
        typed("draft body", json!({"name": "conformance sweep", "modules": modules}))?;
    let draft = admin
        .retrying(|| admin.api().policy_draft_create().body(body.clone()).send())
        .await
        .map_err(|e| failed("saving a draft", e, None))?;
    let draft_id = draft.id.to_string();
    ids.insert("draft_id", draft_id.clone());
    secrets.push(("draft", draft_id.clone()));
    let body: types::ApiKeyCreate = typed(
        "key body",
        json!({"tenant": ctx.tenant, "environment": "live", "role": "agent", "name": "conformance-sweep"}),
    )?;
    let made = admin
        .retrying(|| admin.api().api_key_create().body(body.clone()).send())
        .await
        .map_err(|e| failed("creating an api key", e, None))?;
    let key_id = made.api_key.id.to_string();
    ids.insert("key_id", key_id.clone());
    secrets.push(("api key", key_id.clone()));
    let body: types::TokenMint = typed("mint body", json!({"subject": ctx.agent, "ttl_seconds": 600}))?;
    let minted = admin
        .retrying(|| admin.api().token_mint().body(body.clone()).send())
        .await
        .map_err(|e| failed("minting a token", e, None))?;
    secrets.push(("token jti", minted.jti.to_string()));
    let proposals = admin
        .retrying(|| admin.api().policy_proposal_list().limit(1).send())
        .await
        .map_err(|e| failed("listing proposals", e, None))?;
    if let Some(proposal) = proposals.items.first() {
        ids.insert("proposal_id", proposal.id.to_string());
        secrets.push(("proposal", proposal.id.to_string()));
    }
    // A discovered agent, from one NSS record naming the sweep's mark.
    let record = json!({"epochtime": "1772359200", "login": format!("{mark}@example.com"),
        "url": "api.openai.com/v1/chat/completions", "recordid": mark});
    let ingested = admin
        .retrying(|| {
            admin
                .api()
                .discovery_ingest()
                .format(types::DiscoveryFormat::ZscalerNssJson)
                .body(record.to_string())
                .send()
        })
        .await
        .map_err(|e| failed("ingesting a discovery record", e, None))?;
    if ingested.agents_new == 1 {
        let found = admin
            .retrying(|| admin.api().discovered_agent_list().identity(format!("{mark}@example.com")).send())
            .await
            .map_err(|e| failed("listing the discovered agent", e, None))?;
        if let Some(agent) = found.items.first() {
            ids.insert("discovered_id", agent.id.to_string());
            secrets.push(("discovered agent", agent.id.to_string()));
        }
    }
    Ok(Planted { ids, secrets, modules, key_id, draft_id, approval_id })
}

/// Removes what [`plant`] made (best effort: the tenant stays anyway).
async fn unplant(ctx: &Context, planted: &Planted) {
    let admin = Gateway::new(ctx.url()).api_key(&ctx.admin_key);
    let _ = admin.retrying(|| admin.api().api_key_revoke().key_id(planted.key_id.as_str()).send()).await;
    let _ =
        admin.retrying(|| admin.api().policy_draft_delete().draft_id(planted.draft_id.as_str()).send()).await;
    if let Some(id) = &planted.approval_id
        && let Ok(body) = typed::<types::ApprovalDecide>(
            "decision",
            json!({"decision": "reject", "note": "the conformance sweep's escalation"}),
        )
    {
        let _ = admin
            .retrying(|| admin.api().approval_decide().approval_id(id.as_str()).body(body.clone()).send())
            .await;
    }
}

/// Whether `text` names `id` as a whole token (so the other tenant's own id,
/// `<run tenant>-other`, does not count as the run tenant's).
fn names(text: &str, id: &str) -> bool {
    let part_of_id = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(id).any(|(at, _)| {
        let before = text.get(..at).and_then(|t| t.chars().next_back());
        let after = text.get(at + id.len()..).and_then(|t| t.chars().next());
        !before.is_some_and(part_of_id) && !after.is_some_and(part_of_id)
    })
}

fn other_tenant(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let operations = operations()?;
        let planted = plant(ctx).await?;
        let outcome = other_tenant_sweep(ctx, &operations, &planted).await;
        unplant(ctx, &planted).await;
        outcome
    })
}

/// How failure lines name the other tenant's admin key.
const OTHER: &str = "the other tenant's admin key";

async fn other_tenant_sweep(ctx: &Context, operations: &[Operation], planted: &Planted) -> Outcome {
    let key = Some(ctx.other_admin_key.as_str());
    let none = BTreeMap::new();
    let valid_body = |op: &Operation| match op.id.as_str() {
        // Bodies that pass validation, so the answer is about the object.
        "approval_decide" => json!({"decision": "reject", "note": "the conformance sweep"}),
        "policy_draft_update" => json!({"name": "conformance sweep", "modules": planted.modules}),
        "discovered_agent_attest" => json!({"statement": "the conformance sweep"}),
        "discovery_service_put" => {
            json!({"name": "sweep", "vendor": "sweep", "kind": "saas", "domains": {"exact": ["sweep.conformance.example"]}})
        }
        _ => json!({}),
    };
    let want_aimed = |op: &Operation| if op.superadmin_only { FORBIDDEN } else { NOT_FOUND };
    // First on its own tenant, before anything of the run's is named, so
    // its lists and audit log hold only its own doings…
    let own: Vec<Probe<'_>> = operations
        .iter()
        .filter(|op| !op.public && !op.has_path_params)
        .map(|op| {
            let want = if op.superadmin_only { FORBIDDEN } else { Want::Any };
            Probe::new(op, key, OTHER, op.target(&none, None), want)
        })
        .collect();
    // …then at the run's objects by their real ids, and every read naming
    // the run's tenant.
    let by_id = operations.iter().filter(|op| !op.public && op.has_path_params).map(|op| {
        let target = op.target(&planted.ids, None);
        Probe::new(op, key, OTHER, target, want_aimed(op)).body(valid_body(op))
    });
    let by_tenant =
        operations.iter().filter(|op| !op.public && op.takes_tenant && op.method == "GET").map(|op| {
            let target = op.target(&planted.ids, Some(&ctx.tenant));
            Probe::new(op, key, OTHER, target, want_aimed(op))
        });
    let aimed: Vec<Probe<'_>> = by_id.chain(by_tenant).collect();
    let count = own.len() + aimed.len();
    let mut results = sweep(ctx, own).await?;
    results.extend(sweep(ctx, aimed).await?);
    let mut wrong = judge(&results);
    for (probe, answer) in &results {
        if !(200..300).contains(&answer.status) {
            continue;
        }
        for (what, id) in planted.secrets.iter().filter(|(_, id)| names(&answer.text, id)) {
            wrong.push(Wrong {
                line: format!(
                    "{}: answered {} naming the run's {what} `{id}`",
                    probe.describe(),
                    answer.status
                ),
                curl: answer.curl.clone(),
            });
        }
    }
    report("with another tenant's admin key", count, wrong)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_spec_is_swept_whole() {
        let operations = operations().unwrap();
        assert_eq!(operations.len(), super::super::spec_operations().len());
        let mut public: Vec<&str> =
            operations.iter().filter(|op| op.public).map(|op| op.id.as_str()).collect();
        public.sort_unstable();
        assert_eq!(public, ["health_check", "public_keys", "ready_check"]);
        let superadmin: Vec<&str> =
            operations.iter().filter(|op| op.superadmin_only).map(|op| op.id.as_str()).collect();
        assert_eq!(superadmin, ["tenant_create"]);
        let proof = operations.iter().find(|op| op.id == "audit_inclusion_proof").unwrap();
        assert_eq!(proof.required_query, [("seq".to_string(), "1".to_string())]);
        let agent = operations.iter().find(|op| op.id == "agent_get").unwrap();
        assert!(agent.administrative() && agent.takes_tenant && agent.has_path_params);
        let ids = BTreeMap::from([("agent_id", "a-1".to_string())]);
        assert_eq!(agent.target(&ids, Some("t")), "/v1/agents/a-1?tenant=t");
        let mcp = operations.iter().find(|op| op.id == "mcp_session_delete").unwrap();
        assert!(!mcp.administrative() && !mcp.has_body);
    }

    #[test]
    fn ids_are_named_as_whole_tokens() {
        assert!(names(r#"{"tenant":"conformance-abc"}"#, "conformance-abc"));
        assert!(!names(r#"{"tenant":"conformance-abc-other"}"#, "conformance-abc"));
        assert!(names("by token:jti_1.", "jti_1"));
        assert!(!names("jti_12", "jti_1"));
    }
}
