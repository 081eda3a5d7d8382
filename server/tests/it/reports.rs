//! Governance reports: JSON and CSV, totals cross-checked against the audit
//! log and the inventory.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{ADMIN_KEY, Backend, TestGateway, approve_intent, block_intent, escalate_intent};

const T0: i64 = 1_772_359_200; // 2026-03-01T10:00:00Z

fn nss(id: u64, login: &str, url: &str) -> Value {
    json!({"epochtime": T0.to_string(), "login": login, "url": url, "action": "Allowed", "totalsize": "10",
        "recordid": id.to_string()})
}

/// A report as CSV, parsed back: its header and its records.
async fn csv(gw: &TestGateway, path: &str, key: &str, accept: bool) -> (Vec<String>, Vec<Vec<String>>) {
    let request = if accept {
        gw.request(Method::GET, path).bearer_auth(key).header("Accept", "text/csv")
    } else {
        let separator = if path.contains('?') { '&' } else { '?' };
        gw.request(Method::GET, &format!("{path}{separator}format=csv")).bearer_auth(key)
    };
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains(".csv"));
    let text = response.text().await.unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let records = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, records)
}

/// Every decision entry of the tenant in the range, walking the audit log.
async fn audit_decisions(gw: &TestGateway, tenant: &str, from: &str, to: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/admin/audit?tenant={tenant}&kind=decision&from={from}&to={to}&limit=500");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = gw.get(&path, ADMIN_KEY).await.expect(200);
        entries.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return entries,
        }
    }
}

async fn reports_agree_with_the_audit_log_and_the_inventory(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.unthrottle(&f.tenant).await;
    let from = chrono::Utc::now() - chrono::Duration::minutes(5);
    // Decisions of every verdict, live and shadow.
    for _ in 0..3 {
        gw.declare(&f.live, approve_intent()).await.expect(200);
    }
    gw.declare(&f.live, block_intent()).await.expect(200);
    gw.declare(&f.live, escalate_intent()).await.expect(200);
    gw.declare(&f.shadow, approve_intent()).await.expect(200);
    let minted = gw
        .post(
            "/v1/admin/mint",
            &f.admin,
            &json!({"subject": "agent-1", "ttl_seconds": 3600, "max_calls": 5,
            "action_types": ["communicate"]}),
        )
        .await
        .expect(201);
    // Three discovered agents: one governed and sanctioned, one unsanctioned.
    let body: String = [
        nss(1, "ann@example.com", "api.openai.com/v1/chat/completions"),
        nss(2, "ben@example.com", "api.openai.com/v1/chat/completions"),
        nss(3, "cat@example.com", "claude.ai/chat"),
    ]
    .iter()
    .map(|r| format!("{r}\n"))
    .collect();
    gw.send(
        gw.request(Method::POST, "/api/discovery/ingest?format=zscaler_nss_json")
            .bearer_auth(&f.admin)
            .body(body),
    )
    .await
    .expect(200);
    let page = gw.get("/api/discovery/agents?identity=ann@example.com", &f.admin).await.expect(200);
    let ann = page["items"][0]["id"].as_str().unwrap().to_string();
    let page = gw.get("/api/discovery/agents?identity=ben@example.com", &f.admin).await.expect(200);
    let ben = page["items"][0]["id"].as_str().unwrap().to_string();
    gw.patch(
        &format!("/api/discovery/agents/{ann}"),
        &f.admin,
        &json!({"status": "sanctioned", "reason": "ok", "owner": "ann@example.com", "agent_id": "agent-1"}),
    )
    .await
    .expect(200);
    gw.patch(
        &format!("/api/discovery/agents/{ben}"),
        &f.admin,
        &json!({"status": "unsanctioned", "reason": "no"}),
    )
    .await
    .expect(200);
    let to = chrono::Utc::now() + chrono::Duration::minutes(1);
    let (from_q, to_q) = (
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    // The inventory's range: the records are from March 2026.
    let inventory = "from=2026-02-20T00:00:00Z&to=2026-03-05T00:00:00Z";

    // Activity: the audit log's decisions, grouped.
    let range = format!("from={from_q}&to={to_q}");
    let auditor = gw.create_key(&f.tenant, "live", "auditor").await;
    let activity = gw.get(&format!("/api/reports/activity?{range}&bucket=hour"), &auditor).await.expect(200);
    let entries = audit_decisions(&gw, &f.tenant, &from_q, &to_q).await;
    assert_eq!(activity["decisions"].as_u64().unwrap(), entries.len() as u64, "{activity}");
    assert_eq!(entries.len(), 6);
    let rows = activity["rows"].as_array().unwrap();
    let summed: u64 = rows.iter().map(|r| r["decisions"].as_u64().unwrap()).sum();
    assert_eq!(summed, entries.len() as u64);
    for verdict in ["approve", "block", "escalate"] {
        let in_log = entries.iter().filter(|e| e["verdict"] == verdict).count() as u64;
        assert_eq!(activity["by_verdict"][verdict].as_u64().unwrap_or(0), in_log, "{verdict}: {activity}");
    }
    let shadow: u64 =
        rows.iter().filter(|r| r["environment"] == "shadow").map(|r| r["decisions"].as_u64().unwrap()).sum();
    assert_eq!(shadow, 1, "{activity}");
    assert_eq!(activity["truncated"], false);
    let (header, records) =
        csv(&gw, &format!("/api/reports/activity?{range}&bucket=hour"), &f.admin, true).await;
    assert_eq!(header, ["bucket_start", "verdict", "stage", "agent_id", "tool", "environment", "decisions"]);
    let from_csv: u64 = records.iter().map(|r| r[6].parse::<u64>().unwrap()).sum();
    assert_eq!(from_csv, entries.len() as u64);
    assert_eq!(records.len(), rows.len());

    // Posture: the inventory, counted.
    let posture = gw.get(&format!("/api/reports/posture?{inventory}"), &f.admin).await.expect(200);
    assert_eq!(posture["tenant"], f.tenant.as_str());
    assert_eq!(
        (posture["discovered"].as_u64(), posture["governed"].as_u64()),
        (Some(3), Some(1)),
        "{posture}"
    );
    assert!((posture["coverage"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        posture["by_status"],
        json!({"unreviewed": 1, "sanctioned": 1, "unsanctioned": 1, "ignored": 0})
    );
    assert_eq!(posture["without_owner"], 2);
    let services = posture["unsanctioned_services"].as_array().unwrap();
    let ids: Vec<&str> = services.iter().map(|s| s["service"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["claude", "openai-api"], "{posture}");
    let trend = posture["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 13);
    let day = trend.iter().find(|d| d["day"] == "2026-03-01").unwrap();
    assert_eq!(day["discovered"], 3);
    let before = trend.iter().find(|d| d["day"] == "2026-02-28").unwrap();
    assert_eq!(before["discovered"], 0);
    let (header, records) = csv(&gw, &format!("/api/reports/posture?{inventory}"), &f.admin, false).await;
    assert_eq!(header, ["metric", "dimension", "value"]);
    let figure = |metric: &str, dimension: &str| {
        records.iter().find(|r| r[0] == metric && r[1] == dimension).map(|r| r[2].clone())
    };
    assert_eq!(figure("discovered", "").as_deref(), Some("3"));
    assert_eq!(figure("status", "unsanctioned").as_deref(), Some("1"));
    assert_eq!(figure("trend_discovered", "2026-03-01").as_deref(), Some("3"));

    // Access: agent-1 with the tenant's unbound agent keys and its token.
    let access = gw.get(&format!("/api/reports/access?{range}"), &f.admin).await.expect(200);
    let rows = access["rows"].as_array().unwrap();
    let token = rows.iter().find(|r| r["credential"] == "token").unwrap();
    assert_eq!(token["credential_id"], minted["jti"], "{access}");
    let caveats = token["caveats"].as_array().unwrap();
    assert!(caveats.contains(&json!({"type": "max_calls", "n": 5})), "{token}");
    assert_eq!(token["discovered"], json!([ann]));
    let keys: Vec<&Value> = rows.iter().filter(|r| r["credential"] == "api_key").collect();
    assert_eq!(keys.len(), 3, "live, shadow and test agent keys: {access}");
    let used: Vec<&Value> = keys.iter().copied().filter(|r| r["last_used_at"].is_string()).collect();
    assert_eq!(used.len(), 2, "the live and the shadow key decided: {access}");
    let (header, records) = csv(&gw, &format!("/api/reports/access?{range}"), &f.admin, true).await;
    assert_eq!(header[0], "agent_id");
    assert_eq!(records.len(), rows.len());
    assert!(records.iter().any(|r| r[4] == "token" && r[7].contains("max_calls")));

    // Attestation: nothing attested; with a one-day interval and an agent
    // discovered two days ago, it is overdue.
    gw.send(
        gw.request(Method::PUT, "/api/discovery/settings")
            .bearer_auth(&f.admin)
            .json(&json!({"attestation_days": 1})),
    )
    .await
    .expect(200);
    let two_days_ago = chrono::Utc::now().timestamp_micros() - 2 * 86_400_000_000;
    sqlx::query("UPDATE discovered_agents SET created_at = $1 WHERE id = $2")
        .bind(two_days_ago)
        .bind(&ben)
        .execute(&gw.db().await)
        .await
        .unwrap();
    let evidence = gw.get(&format!("/api/reports/attestation?{range}"), &f.admin).await.expect(200);
    assert_eq!(evidence["attestation_days"], 1);
    let overdue: Vec<&Value> =
        evidence["rows"].as_array().unwrap().iter().filter(|r| r["kind"] == "overdue").collect();
    assert_eq!(overdue.len(), 1, "{evidence}");
    assert_eq!(overdue[0]["discovered_id"], ben.as_str());
    let (header, records) = csv(&gw, &format!("/api/reports/attestation?{range}"), &f.admin, false).await;
    assert_eq!(header[0], "kind");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0][0], "overdue");

    // Bad ranges, and who may read.
    let e = gw
        .get(&format!("/api/reports/activity?from={to_q}&to={from_q}"), &f.admin)
        .await
        .expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "from");
    let e = gw
        .get("/api/reports/posture?from=2025-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", &f.admin)
        .await
        .expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "to");
    gw.get("/api/reports/posture", &f.live).await.expect_error(403, "forbidden");
    let other = gw.tenant_fixture().await;
    let theirs = gw.get(&format!("/api/reports/posture?{inventory}"), &other.admin).await.expect(200);
    assert_eq!(theirs["discovered"], 0);
    assert_eq!(theirs["coverage"], 1.0);
}

crate::on_both_backends!(reports_agree_with_the_audit_log_and_the_inventory);
