//! Provisions a gateway for a benchmark through its API, as an operator
//! would: a tenant, its admin key, an agent, an agent key restricted to it,
//! the bench upstream, and a realistic policy bundle — the default bundle
//! and every template, each in its own package, combined by a module that
//! keeps the most restrictive verdict and every reason.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// What the benchmark needs to drive the gateway.
#[derive(Debug, Serialize)]
pub struct Provisioned {
    /// The tenant.
    pub tenant: String,
    /// Its admin key.
    pub admin_key: String,
    /// The agent.
    pub agent: String,
    /// A `live` agent key restricted to the agent.
    pub agent_key: String,
    /// The hash of the promoted bundle.
    pub bundle_hash: String,
    /// How many Rego modules it has.
    pub modules: usize,
    /// A `live` agent key of tenant `bench-default`, which decides with
    /// the default bundle alone (same agent id, the same upstream).
    pub default_agent_key: String,
}

/// The combining module: every part's decision, the most restrictive verdict.
const COMBINER: &str = r#"# The bench bundle: the default bundle and every template, each in its own
# package under lictor.bundles, combined here.
package lictor

import rego.v1

rank := {"approve": 0, "approve_modified": 1, "escalate": 2, "block": 3}

parts := array.concat(
	array.concat(
		array.concat([d | d := data.lictor.bundles.default.decision], [d | d := data.lictor.bundles.destructive_verbs.decision]),
		array.concat([d | d := data.lictor.bundles.bulk_rows.decision], [d | d := data.lictor.bundles.value_thresholds.decision]),
	),
	array.concat([d | d := data.lictor.bundles.regulated_domains.decision], [d | d := data.lictor.bundles.pii_redaction.decision]),
)

worst := max([rank[p.verdict] | some p in parts])

verdict := v if {
	some v, r in rank
	r == worst
}

reasons := [r | some p in parts; some r in p.reasons]

patches := [p.patch | some p in parts; p.verdict == "approve_modified"; p.patch]

decision := {"verdict": verdict, "reasons": reasons, "patch": patches[0]} if count(patches) > 0

decision := {"verdict": verdict, "reasons": reasons} if count(patches) == 0
"#;

/// The bench bundle's modules and data from the `policies/` directory.
pub fn bundle(policies: &Path) -> anyhow::Result<(Map<String, Value>, Map<String, Value>)> {
    let mut modules = Map::new();
    let mut data = Map::new();
    let mut parts = vec![("default".to_string(), policies.join("default"))];
    let mut templates: Vec<_> = std::fs::read_dir(policies.join("templates"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    templates.sort();
    for path in templates {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().replace('-', "_");
        parts.push((name, path));
    }
    for (name, dir) in parts {
        let mut files: Vec<_> = std::fs::read_dir(&dir)?.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let file_name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if file_name.ends_with(".rego") && !file_name.ends_with("_test.rego") {
                let text = std::fs::read_to_string(&file)?;
                let renamed =
                    text.replacen("\npackage lictor\n", &format!("\npackage lictor.bundles.{name}\n"), 1);
                if renamed == text {
                    bail!("{} does not declare `package lictor`", file.display());
                }
                modules.insert(format!("{name}/{file_name}"), Value::String(renamed));
            } else if file_name == "data.json" {
                let settings: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)
                    .with_context(|| format!("reading {}", file.display()))?;
                for (key, value) in settings.as_object().into_iter().flatten() {
                    data.insert(key.clone(), value.clone());
                }
            }
        }
    }
    modules.insert("combine.rego".into(), Value::String(COMBINER.into()));
    Ok((modules, data))
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = http.request(method.clone(), &url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{method} {url}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Provisions `base` (superadmin `admin_key`) with the bench upstream at
/// `upstream` and the bundle from `policies`.
pub async fn provision(
    base: &str,
    admin_key: &str,
    upstream: &str,
    policies: &Path,
) -> anyhow::Result<Provisioned> {
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let tenant = "bench".to_string();
    let agent = "bench-agent".to_string();
    let (tenant_admin, agent_key) = tenant_with_agent(&http, base, admin_key, &tenant, &agent).await?;
    let (default_admin, default_agent_key) =
        tenant_with_agent(&http, base, admin_key, "bench-default", &agent).await?;
    for admin in [&tenant_admin, &default_admin] {
        call(
            &http,
            post.clone(),
            format!("{base}/v1/admin/upstreams"),
            admin,
            Some(json!({"name": "bench", "url": upstream})),
        )
        .await?;
    }
    let (modules, data) = bundle(policies)?;
    let count = modules.len();
    let draft = call(
        &http,
        post.clone(),
        format!("{base}/v1/admin/policies/drafts"),
        &tenant_admin,
        Some(json!({"name": "bench", "modules": modules, "data": data})),
    )
    .await?;
    let promoted = call(
        &http,
        post,
        format!("{base}/v1/admin/policies/active"),
        &tenant_admin,
        Some(json!({"draft_id": draft["id"], "expected_hash": draft["bundle_hash"]})),
    )
    .await?;
    let bundle_hash =
        promoted["active"]["current"]["bundle_hash"].as_str().context("no active bundle")?.to_string();
    Ok(Provisioned {
        tenant,
        admin_key: tenant_admin,
        agent,
        agent_key,
        bundle_hash,
        modules: count,
        default_agent_key,
    })
}

/// Creates `tenant` (rate limits at their highest: the runs measure the
/// gateway at full speed, with the limits checked on every request but
/// refusing none), its admin key, `agent` and a `live` agent key
/// restricted to it; the admin key and the agent key.
async fn tenant_with_agent(
    http: &reqwest::Client,
    base: &str,
    admin_key: &str,
    tenant: &str,
    agent: &str,
) -> anyhow::Result<(String, String)> {
    let post = reqwest::Method::POST;
    let limits = json!({"per_minute": 6_000_000, "burst": 100_000});
    let body =
        json!({"id": tenant, "name": tenant, "rate_limits": {"per_key": limits, "per_tenant": limits}});
    call(http, post.clone(), format!("{base}/v1/admin/tenants"), admin_key, Some(body)).await?;
    let key = |role: &str, agent: Option<&str>| json!({"tenant": tenant, "environment": "live", "role": role, "name": format!("bench-{role}"), "agent_id": agent});
    let admin =
        call(http, post.clone(), format!("{base}/v1/admin/api-keys"), admin_key, Some(key("admin", None)))
            .await?;
    let tenant_admin = admin["key"].as_str().context("no admin key")?.to_string();
    let agent_body = json!({"id": agent, "name": "Bench agent", "owner": "bench"});
    call(http, post.clone(), format!("{base}/v1/agents"), &tenant_admin, Some(agent_body)).await?;
    let agent_key =
        call(http, post, format!("{base}/v1/admin/api-keys"), &tenant_admin, Some(key("agent", Some(agent))))
            .await?["key"]
            .as_str()
            .context("no agent key")?
            .to_string();
    Ok((tenant_admin, agent_key))
}

/// The policy inputs the gateway builds for [`intent_bodies`] (as
/// docs/policies.md describes them), each as the body of a query to OPA's
/// data API: `{"input": …}`.
pub fn policy_input_bodies(agent: &str) -> Vec<Value> {
    intent_bodies(agent)
        .into_iter()
        .enumerate()
        .map(|(n, body)| {
            json!({"input": {
                "intent": body["intent"],
                "agent": {"id": agent, "name": agent, "owner": "bench", "status": "active"},
                "tenant": {"id": "bench-default"},
                "environment": "live",
                "risk": {"score": 0.2, "level": "low", "factors": []},
                "tool": null,
                "capability": null,
                "request": {"intent_id": format!("int_{n:026}"), "time": "2026-12-07T10:00:00.000000Z"},
            }})
        })
        .collect()
}

/// The intents the benchmark declares, in turn: mostly routine reads and
/// messages, some redactions, some blocks — what an agent fleet sends.
pub fn intent_bodies(agent: &str) -> Vec<Value> {
    let intent = |action: Value| json!({"intent": {"agent": {"id": agent}, "action": action}});
    vec![
        intent(
            json!({"type": "access", "verb": "read", "target": {"type": "table", "identifier": "orders", "sensitivity": "internal"}}),
        ),
        intent(
            json!({"type": "communicate", "verb": "send", "target": {"type": "email", "identifier": "ops@example.com"},
            "payload": {"summary": "daily report", "content": "All systems nominal.", "estimated_impact": {"audience_size": 3, "reversible": false}}}),
        ),
        intent(
            json!({"type": "access", "verb": "list", "target": {"type": "bucket", "identifier": "invoices"}}),
        ),
        intent(
            json!({"type": "communicate", "verb": "send", "target": {"type": "email", "identifier": "customer@example.com", "sensitivity": "confidential"},
            "payload": {"summary": "receipt", "content": "Your card 4111 1111 1111 1111 was charged.", "estimated_impact": {"audience_size": 1, "reversible": false}}}),
        ),
        intent(
            json!({"type": "transact", "verb": "pay", "payload": {"estimated_impact": {"financial_exposure_usd": 120, "reversible": true}}}),
        ),
        intent(
            json!({"type": "modify", "verb": "update", "target": {"type": "table", "identifier": "customers"},
            "payload": {"estimated_impact": {"audience_size": 3, "reversible": true}}}),
        ),
        intent(
            json!({"type": "transact", "verb": "transfer", "payload": {"estimated_impact": {"financial_exposure_usd": 25000}}}),
        ),
        intent(
            json!({"type": "modify", "verb": "delete", "target": {"type": "table", "identifier": "orders"},
            "payload": {"estimated_impact": {"audience_size": 5000, "reversible": false}}}),
        ),
    ]
}

/// The MCP `tools/call` bodies: the upstream's echo.
pub fn tool_call_bodies() -> Vec<Value> {
    (0..8)
        .map(|i| {
            json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
            "params": {"name": "bench.echo", "arguments": {"text": format!("hello {i}")}}})
        })
        .collect()
}

/// What `audit-read` did.
#[derive(Debug, Serialize)]
pub struct AuditRead {
    /// Entries verified.
    pub verified: u64,
    /// Whether the log verified.
    pub ok: bool,
    /// Seconds the verification took.
    pub verify_s: f64,
    /// Bytes of the export.
    pub export_bytes: u64,
    /// Seconds the export took.
    pub export_s: f64,
}

/// Verifies `tenant`'s whole log, then streams its whole export.
pub async fn audit_read(url: &str, admin_key: &str, tenant: &str) -> anyhow::Result<AuditRead> {
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let verification: serde_json::Value = http
        .get(format!("{url}/v1/admin/audit/verify?tenant={tenant}"))
        .bearer_auth(admin_key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let verify_s = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let mut export = http
        .get(format!("{url}/v1/admin/audit/export?tenant={tenant}"))
        .bearer_auth(admin_key)
        .send()
        .await?
        .error_for_status()?;
    let mut export_bytes = 0u64;
    while let Some(chunk) = export.chunk().await? {
        export_bytes += chunk.len() as u64;
    }
    Ok(AuditRead {
        verified: verification["verified"].as_u64().unwrap_or(0),
        ok: verification["ok"].as_bool().unwrap_or(false),
        verify_s,
        export_bytes,
        export_s: started.elapsed().as_secs_f64(),
    })
}
