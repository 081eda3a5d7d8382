//! The policy lifecycle over HTTP: drafts compiled on save, dry-runs that
//! replay recorded decisions, atomic promotion, rollback, the two-person
//! rule, and hot reload across replicas.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    ADMIN_KEY, Backend, Fixture, TestGateway, approve_intent, block_intent, escalate_intent, eventually,
    intent,
};

/// Blocks every `access` intent (which the default bundle approves); the
/// rest as the default bundle would not matter here: everything else is
/// approved.
pub(crate) const STRICT: &str = r#"package lictor

import rego.v1

decision := {"verdict": "block", "reasons": [{"code": "reads_frozen", "message": "reads are frozen"}]} if {
	input.intent.action.type == "access"
}

decision := {"verdict": "approve", "reasons": []} if {
	input.intent.action.type != "access"
}
"#;

const STRICT_TEST: &str = r#"package lictor_test

import rego.v1

test_reads_are_blocked if {
	data.lictor.decision.verdict == "block" with input as {"intent": {"action": {"type": "access"}}}
}
"#;

fn strict_draft(name: &str) -> Value {
    json!({
        "name": name,
        "description": "freeze reads",
        "modules": {"strict.rego": STRICT, "strict_test.rego": STRICT_TEST},
    })
}

fn codes(decision: &Value) -> Vec<String> {
    decision["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()
}

async fn create_draft(gw: &TestGateway, f: &Fixture, body: &Value) -> Value {
    gw.post("/v1/admin/policies/drafts", &f.admin, body).await.expect(201)
}

async fn promote(gw: &TestGateway, key: &str, draft: &Value) -> crate::support::Answer {
    let body = json!({"draft_id": draft["id"], "expected_hash": draft["bundle_hash"]});
    gw.post("/v1/admin/policies/active", key, &body).await
}

async fn audit_kinds(gw: &TestGateway, f: &Fixture, kind: &str) -> Vec<Value> {
    let page = gw.get(&format!("/v1/admin/audit?kind={kind}&limit=500"), &f.admin).await.expect(200);
    page["items"].as_array().unwrap().clone()
}

async fn drafts_compile_on_save_and_bad_ones_say_where(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let draft = create_draft(&gw, &f, &strict_draft("strict")).await;
    assert!(draft["id"].as_str().unwrap().starts_with("pol_"), "{draft}");
    let hash = draft["bundle_hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);
    // The hash is the content's: test modules and names do not change it.
    let bundle = lictor_server::policy::Bundle::new(
        "other",
        [("strict.rego".to_string(), STRICT.to_string())],
        json!({}),
    );
    assert_eq!(bundle.hash(), hash);
    assert_eq!(draft["active"], false);
    assert_eq!(draft["modules"]["strict_test.rego"], STRICT_TEST);
    assert_eq!(draft["created_by"], draft["updated_by"]);

    // A compile error names the module, line and column; nothing is saved.
    let broken = json!({"name": "broken", "modules": {"rules.rego": "package lictor\nimport rego.v1\n\ndecision := {\n  x :=\n}\n"}});
    let e = gw
        .post("/v1/admin/policies/drafts", &f.admin, &broken)
        .await
        .expect_error(400, "policy_compile_error");
    assert_eq!(e["path"], "$.modules['rules.rego']", "{e}");
    assert_eq!(e["location"]["file"], "rules.rego");
    assert_eq!(e["location"]["line"], 5);
    assert!(e["location"]["column"].as_u64().unwrap() >= 1);
    assert!(e["message"].as_str().unwrap().starts_with("rules.rego:5:"), "{e}");
    // A bundle without the entry point does not compile either.
    let no_entry =
        json!({"name": "x", "modules": {"a.rego": "package other\nimport rego.v1\nallow := true\n"}});
    let e = gw
        .post("/v1/admin/policies/drafts", &f.admin, &no_entry)
        .await
        .expect_error(400, "policy_compile_error");
    assert_eq!(e["path"], "$.modules");
    // Test modules must parse too.
    let bad_test = json!({"name": "x", "modules": {"strict.rego": STRICT, "strict_test.rego": "package t\ntest_x if {"}});
    let e = gw
        .post("/v1/admin/policies/drafts", &f.admin, &bad_test)
        .await
        .expect_error(400, "policy_compile_error");
    assert_eq!(e["location"]["file"], "strict_test.rego", "{e}");

    for (body, path) in [
        (json!({"name": "x", "modules": {}}), "$.modules"),
        (json!({"name": "x", "modules": {"../evil.rego": STRICT}}), "$.modules['../evil.rego']"),
        (json!({"name": "x", "modules": {"notes.txt": STRICT}}), "$.modules['notes.txt']"),
        (json!({"name": "x", "modules": {"only_test.rego": STRICT_TEST}}), "$.modules"),
        (json!({"name": "x", "modules": {"a.rego": 1}}), "$.modules['a.rego']"),
        (json!({"name": "", "modules": {"a.rego": STRICT}}), "$.name"),
        (json!({"name": "x", "modules": {"a.rego": STRICT}, "data": [1]}), "$.data"),
    ] {
        let answer = gw.post("/v1/admin/policies/drafts", &f.admin, &body).await;
        assert_eq!(answer.status.as_u16(), 400, "{body}: {}", answer.body);
        assert_eq!(answer.body["path"], path, "{body}: {}", answer.body);
    }
    let e = gw
        .post(
            "/v1/admin/policies/drafts",
            &f.admin,
            &json!({"name": "x", "modules": {"a.rego": STRICT}, "extra": 1}),
        )
        .await
        .expect_error(400, "unknown_field");
    assert_eq!(e["path"], "$.extra");

    // Read, list, replace, delete.
    let id = draft["id"].as_str().unwrap();
    let path = format!("/v1/admin/policies/drafts/{id}");
    assert_eq!(gw.get(&path, &f.admin).await.expect(200)["bundle_hash"], hash);
    let list = gw.get("/v1/admin/policies/drafts", &f.admin).await.expect(200);
    assert_eq!(list["items"][0]["files"], json!(["strict.rego", "strict_test.rego"]));
    assert!(list["items"][0].get("modules").is_none());
    let replaced = gw
        .call(
            reqwest::Method::PUT,
            &path,
            Some(&f.admin),
            Some(
                &json!({"name": "strict v2", "modules": {"strict.rego": STRICT.replace("frozen", "paused")}}),
            ),
        )
        .await
        .expect(200);
    assert_ne!(replaced["bundle_hash"], hash);
    assert_eq!(replaced["created_at"], draft["created_at"]);
    assert_eq!(replaced["name"], "strict v2");
    let kinds = audit_kinds(&gw, &f, "policy_draft_saved").await;
    assert_eq!(kinds.len(), 2, "creation and replacement are audited");

    // Tenants are isolated; agents may not touch policies.
    let other = gw.tenant_fixture().await;
    gw.get(&path, &other.admin).await.expect_error(404, "not_found");
    gw.get(&path, &f.live).await.expect_error(403, "forbidden");
    gw.get("/v1/admin/policies/drafts/pol_nope", &f.admin).await.expect_error(404, "not_found");
    gw.get("/v1/admin/policies/drafts/bad-id!", &f.admin).await.expect_error(400, "invalid_parameter");

    gw.delete(&path, &f.admin).await.expect(204);
    gw.get(&path, &f.admin).await.expect_error(404, "not_found");
    gw.delete(&path, &f.admin).await.expect_error(404, "not_found");
    assert_eq!(audit_kinds(&gw, &f, "policy_draft_deleted").await.len(), 1);
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);
}

async fn dry_run_shows_what_a_draft_would_change(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let mut recorded = Vec::new();
    for intent in [approve_intent(), approve_intent(), block_intent(), escalate_intent()] {
        recorded.push(gw.declare(&f.live, intent).await.expect(200));
    }
    let draft = create_draft(&gw, &f, &strict_draft("strict")).await;
    let run = gw
        .post(
            "/v1/admin/policies/dry-run",
            &f.admin,
            &json!({
                "draft_id": draft["id"],
                "inputs": [{"intent": {"action": {"type": "access"}}}, {"intent": {"action": {"type": "transact"}}}],
                "history": {},
            }),
        )
        .await
        .expect(200);
    assert_eq!(run["bundle_hash"], draft["bundle_hash"]);
    assert_eq!(run["active_bundle_hash"], recorded[0]["policy"]["bundle_hash"]);
    assert_eq!(run["inputs"][0]["verdict"], "block");
    assert_eq!(run["inputs"][0]["reasons"][0]["code"], "reads_frozen");
    assert_eq!(run["inputs"][1]["verdict"], "approve");
    let history = &run["history"];
    assert_eq!(history["replayed"], 4, "{run}");
    assert_eq!(history["changed"], 4, "{run}");
    let changes = history["changes"].as_array().unwrap();
    let find = |from: &str, to: &str| changes.iter().find(|c| c["from"] == from && c["to"] == to).cloned();
    let read_blocks = find("approve", "block").unwrap_or_else(|| panic!("{run}"));
    assert_eq!(read_blocks["count"], 2);
    let sampled: Vec<&str> =
        read_blocks["samples"].as_array().unwrap().iter().map(|s| s["intent_id"].as_str().unwrap()).collect();
    assert!(sampled.contains(&recorded[0]["intent_id"].as_str().unwrap()), "{run}");
    assert_eq!(read_blocks["samples"][0]["reasons"][0]["code"], "reads_frozen");
    assert_eq!(find("block", "approve").unwrap()["count"], 1);
    assert_eq!(find("escalate", "approve").unwrap()["count"], 1);
    assert_eq!(history["verdicts"]["block"], 2);
    let warnings: Vec<&str> =
        run["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(warnings.contains(&"mass_block"), "{run}");

    // The active bundle replayed on its own history changes nothing;
    // unsaved modules work too; an agent filter narrows the replay.
    let same = gw
        .post(
            "/v1/admin/policies/dry-run",
            &f.admin,
            &json!({"modules": {"lictor.rego": include_str!("../../../policies/default/lictor.rego")}, "history": {"agent_id": "agent-1"}}),
        )
        .await
        .expect(200);
    assert_eq!(same["bundle_hash"], same["active_bundle_hash"]);
    assert_eq!(same["history"]["changed"], 0, "{same}");
    assert_eq!(same["history"]["unchanged"], 4);
    let nobody = gw
        .post(
            "/v1/admin/policies/dry-run",
            &f.admin,
            &json!({"draft_id": draft["id"], "history": {"agent_id": "nobody"}}),
        )
        .await
        .expect(200);
    assert_eq!(nobody["history"]["replayed"], 0);
    assert_eq!(nobody["warnings"][0]["code"], "no_history");
    let limited = gw
        .post(
            "/v1/admin/policies/dry-run",
            &f.admin,
            &json!({"draft_id": draft["id"], "history": {"limit": 2}}),
        )
        .await
        .expect(200);
    assert_eq!(limited["history"]["replayed"], 2);
    assert_eq!(limited["history"]["truncated"], true);

    // A runaway policy is cut off and blocks, with its reason.
    let runaway = "package lictor\nimport rego.v1\ndecision := {\"verdict\": \"approve\"} if {\n some x in numbers.range(1, 100000)\n some y in numbers.range(1, 100000)\n x * y == -1\n}\n";
    let gw2 = TestGateway::start_with(backend, |c| c.policy_time_limit = Duration::from_millis(50)).await;
    let f2 = gw2.tenant_fixture().await;
    let cut = gw2
        .post(
            "/v1/admin/policies/dry-run",
            &f2.admin,
            &json!({"modules": {"p.rego": runaway}, "inputs": [{}]}),
        )
        .await
        .expect(200);
    assert_eq!(cut["inputs"][0]["verdict"], "block");
    assert_eq!(cut["inputs"][0]["error"]["code"], "policy_limit_exceeded", "{cut}");
    assert_eq!(cut["warnings"][0]["code"], "policy_errors");

    // Nothing was changed by any of it.
    assert!(audit_kinds(&gw, &f, "policy_promoted").await.is_empty());
    for (body, path) in [
        (json!({}), "$"),
        (json!({"draft_id": draft["id"], "modules": {"a.rego": STRICT}}), "$"),
        (json!({"draft_id": draft["id"], "data": {}}), "$.data"),
        (json!({"modules": {"a.rego": STRICT}, "inputs": [1]}), "$.inputs[0]"),
        (json!({"draft_id": draft["id"], "history": {"limit": 0}}), "$.history.limit"),
        (
            json!({"draft_id": draft["id"], "history": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}}),
            "$.history.to",
        ),
        (json!({"draft_id": draft["id"], "history": {"from": "yesterday"}}), "$.history.from"),
    ] {
        let answer = gw.post("/v1/admin/policies/dry-run", &f.admin, &body).await;
        assert_eq!(answer.status.as_u16(), 400, "{body}: {}", answer.body);
        assert_eq!(answer.body["path"], path, "{body}: {}", answer.body);
    }
}

async fn promotion_is_atomic_audited_and_rolls_back(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let before = gw.declare(&f.live, approve_intent()).await.expect(200);
    let default_hash = before["policy"]["bundle_hash"].as_str().unwrap().to_string();
    let active = gw.get("/v1/admin/policies/active", &f.admin).await.expect(200);
    assert_eq!(active["current"]["source"], "default");
    assert_eq!(active["current"]["bundle_hash"], default_hash);
    assert_eq!(active["generation"], 0);
    assert!(active["previous"].is_null());
    gw.post("/v1/admin/policies/rollback", &f.admin, &json!({})).await.expect_error(409, "conflict");

    let draft = create_draft(&gw, &f, &strict_draft("strict")).await;
    // A stale hash is refused: someone changed the draft since it was reviewed.
    let stale = json!({"draft_id": draft["id"], "expected_hash": "0".repeat(64)});
    gw.post("/v1/admin/policies/active", &f.admin, &stale).await.expect_error(409, "conflict");
    let bad = json!({"draft_id": draft["id"], "expected_hash": "nope"});
    assert_eq!(
        gw.post("/v1/admin/policies/active", &f.admin, &bad).await.expect_error(400, "invalid_field")["path"],
        "$.expected_hash"
    );
    let missing = json!({"draft_id": "pol_missing", "expected_hash": "0".repeat(64)});
    gw.post("/v1/admin/policies/active", &f.admin, &missing).await.expect_error(404, "not_found");
    gw.post("/v1/admin/policies/active", &f.live, &stale).await.expect_error(403, "forbidden");

    let promoted = promote(&gw, &f.admin, &draft).await.expect(200);
    assert_eq!(promoted["outcome"], "promoted");
    assert_eq!(promoted["active"]["current"]["bundle_hash"], draft["bundle_hash"]);
    assert_eq!(promoted["active"]["current"]["draft_id"], draft["id"]);
    assert_eq!(promoted["active"]["previous"]["source"], "default");
    assert_eq!(promoted["active"]["generation"], 1);
    assert!(promoted["active"]["current"]["promoted_by"].as_str().unwrap().starts_with("key:"));
    // In effect at once on this gateway, named on every decision.
    let after = gw.declare(&f.live, approve_intent()).await.expect(200);
    assert_eq!(after["verdict"], "block", "{after}");
    assert_eq!(codes(&after), ["reads_frozen"]);
    assert_eq!(after["policy"]["bundle_hash"], draft["bundle_hash"]);
    assert_eq!(after["policy"]["bundle_name"], "strict");
    let tenant = gw.get(&format!("/v1/admin/tenants/{}", f.tenant), ADMIN_KEY).await.expect(200);
    assert_eq!(tenant["active_policy"]["bundle_hash"], draft["bundle_hash"]);
    promote(&gw, &f.admin, &draft).await.expect_error(409, "conflict");

    // The active draft cannot be changed or deleted.
    let path = format!("/v1/admin/policies/drafts/{}", draft["id"].as_str().unwrap());
    let listed = gw.get(&path, &f.admin).await.expect(200);
    assert_eq!(listed["active"], true);
    gw.call(reqwest::Method::PUT, &path, Some(&f.admin), Some(&strict_draft("again")))
        .await
        .expect_error(409, "conflict");
    gw.delete(&path, &f.admin).await.expect_error(409, "conflict");

    // A second promotion makes the first the rollback target.
    let second = create_draft(
        &gw,
        &f,
        &json!({"name": "open", "modules": {"open.rego": "package lictor\nimport rego.v1\ndecision := {\"verdict\": \"approve\", \"reasons\": []}\n"}}),
    )
    .await;
    let promoted = promote(&gw, &f.admin, &second).await.expect(200);
    assert_eq!(promoted["active"]["previous"]["draft_id"], draft["id"]);
    assert_eq!(gw.declare(&f.live, block_intent()).await.expect(200)["verdict"], "approve");
    gw.delete(&path, &f.admin).await.expect_error(409, "conflict");

    // Rollback restores the previous bundle at once; the one rolled back
    // becomes the rollback target.
    let stale_rollback = json!({"expected_hash": draft["bundle_hash"]});
    gw.post("/v1/admin/policies/rollback", &f.admin, &stale_rollback).await.expect_error(409, "conflict");
    let rolled = gw
        .post("/v1/admin/policies/rollback", &f.admin, &json!({"expected_hash": second["bundle_hash"]}))
        .await
        .expect(200);
    assert_eq!(rolled["outcome"], "rolled_back");
    assert_eq!(rolled["active"]["current"]["bundle_hash"], draft["bundle_hash"]);
    assert_eq!(rolled["active"]["previous"]["bundle_hash"], second["bundle_hash"]);
    assert_eq!(rolled["active"]["generation"], 3);
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "block");

    // Each promotion and rollback is an entry naming who did it.
    let promotions = audit_kinds(&gw, &f, "policy_promoted").await;
    assert_eq!(promotions.len(), 2);
    assert!(promotions.iter().all(|e| e["principal"].as_str().unwrap().starts_with("key:")));
    let rollbacks = audit_kinds(&gw, &f, "policy_rolled_back").await;
    assert_eq!(rollbacks.len(), 1);
    let digest = rollbacks[0]["payload_digest"].as_str().unwrap();
    let details = gw.get(&format!("/v1/admin/audit/payloads/{digest}"), &f.admin).await.expect(200);
    assert_eq!(details["body"]["rolled_back"]["bundle_hash"], second["bundle_hash"], "{details}");
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);

    // Another tenant is untouched.
    let other = gw.tenant_fixture().await;
    assert_eq!(
        gw.declare(&other.live, approve_intent()).await.expect(200)["policy"]["bundle_hash"],
        default_hash
    );

    // A restart loads what is active.
    let mut gw = gw;
    gw.stop().await;
    let again = gw.replica(backend, |_| {}).await;
    let decided = again.declare(&f.live, approve_intent()).await.expect(200);
    assert_eq!(decided["verdict"], "block", "{decided}");
    assert_eq!(decided["policy"]["bundle_hash"], draft["bundle_hash"]);
    let active = again.get("/v1/admin/policies/active", &f.admin).await.expect(200);
    assert_eq!(active["generation"], 3);
}

async fn the_two_person_rule_needs_a_second_admin(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let second_admin = gw.create_key(&f.tenant, "live", "admin").await;
    let tenant_path = format!("/v1/admin/tenants/{}", f.tenant);
    let on = gw.patch(&tenant_path, &f.admin, &json!({"policy_two_person_rule": true})).await.expect(200);
    assert_eq!(on["policy_two_person_rule"], true);
    gw.patch(&tenant_path, &f.admin, &json!({"policy_two_person_rule": false}))
        .await
        .expect_error(403, "forbidden");

    let draft = create_draft(&gw, &f, &strict_draft("strict")).await;
    let proposed = promote(&gw, &f.admin, &draft).await.expect(200);
    assert_eq!(proposed["outcome"], "proposed");
    assert_eq!(proposed["active"]["current"]["source"], "default", "nothing changed yet");
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
    let proposal = &proposed["proposal"];
    assert_eq!(proposal["status"], "pending");
    let id = proposal["id"].as_str().unwrap();
    let approve = format!("/v1/admin/policies/proposals/{id}/approve");
    gw.post(&approve, &f.admin, &json!({})).await.expect_error(403, "forbidden");
    let listed = gw.get("/v1/admin/policies/proposals?status=pending", &f.admin).await.expect(200);
    assert_eq!(listed["items"][0]["id"], id);

    let approved = gw.post(&approve, &second_admin, &json!({})).await.expect(200);
    assert_eq!(approved["outcome"], "promoted");
    assert_eq!(approved["proposal"]["status"], "approved");
    assert_eq!(approved["active"]["current"]["bundle_hash"], draft["bundle_hash"]);
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "block");
    gw.post(&approve, &second_admin, &json!({})).await.expect_error(409, "conflict");

    // A rejected proposal changes nothing.
    let other = create_draft(&gw, &f, &strict_draft("strict 2")).await;
    let proposed = promote(&gw, &second_admin, &other).await.expect(200);
    let reject =
        format!("/v1/admin/policies/proposals/{}/reject", proposed["proposal"]["id"].as_str().unwrap());
    let rejected = gw.post(&reject, &f.admin, &json!({})).await.expect(200);
    assert_eq!(rejected["outcome"], "rejected");
    assert_eq!(rejected["proposal"]["status"], "rejected");
    assert_eq!(rejected["active"]["current"]["bundle_hash"], draft["bundle_hash"]);
    for kind in ["policy_proposed", "policy_promoted", "policy_proposal_rejected"] {
        assert!(!audit_kinds(&gw, &f, kind).await.is_empty(), "{kind}");
    }
    gw.post("/v1/admin/policies/proposals/prp_nope/approve", &f.admin, &json!({}))
        .await
        .expect_error(404, "not_found");

    // Only the superadmin turns the rule off.
    let off = gw.patch(&tenant_path, ADMIN_KEY, &json!({"policy_two_person_rule": false})).await.expect(200);
    assert_eq!(off["policy_two_person_rule"], false);
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);
}

async fn templates_are_listed_and_make_drafts(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let list = gw.get("/v1/admin/policies/templates", &f.admin).await.expect(200);
    let items = list["items"].as_array().unwrap();
    assert!(items.len() >= 5, "{list}");
    for template in items {
        let modules: serde_json::Map<String, Value> = template["files"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| name.ends_with(".rego"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let data = template["files"]
            .get("data.json")
            .map(|d| serde_json::from_str::<Value>(d.as_str().unwrap()).unwrap());
        let mut body = json!({"name": template["name"], "modules": modules});
        if let Some(data) = data {
            body["data"] = data;
        }
        let draft = create_draft(&gw, &f, &body).await;
        assert_eq!(draft["bundle_hash"], template["bundle_hash"], "{}", template["name"]);
    }
    gw.get("/v1/admin/policies/templates", &f.live).await.expect_error(403, "forbidden");
}

/// A policy asking a builtin for more memory than exists in one step is
/// cut off for its own request — never an abort of the gateway, neither
/// in a dry-run nor promoted and deciding.
async fn a_policy_cannot_abort_the_gateway(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let greedy = "package lictor\nimport rego.v1\nn := count(numbers.range(1, 1000000000000))\n\
                  decision := {\"verdict\": \"approve\"} if n > 0\n";
    let stepped = "package lictor\nimport rego.v1\nn := count(numbers.range_step(-9000000000000000000, 9000000000000000000, 1))\n\
                   decision := {\"verdict\": \"approve\"} if n > 0\n";
    for module in [greedy, stepped] {
        let cut = gw
            .post(
                "/v1/admin/policies/dry-run",
                &f.admin,
                &json!({"modules": {"p.rego": module}, "inputs": [{}]}),
            )
            .await
            .expect(200);
        assert_eq!(cut["inputs"][0]["verdict"], "block", "{cut}");
        assert_eq!(cut["inputs"][0]["error"]["code"], "policy_limit_exceeded", "{cut}");
    }
    // Promoted, it blocks each decision, fail closed, and the gateway lives on.
    let draft = create_draft(&gw, &f, &json!({"name": "greedy", "modules": {"p.rego": greedy}})).await;
    promote(&gw, &f.admin, &draft).await.expect(200);
    for _ in 0..2 {
        let decision = gw.declare(&f.live, approve_intent()).await.expect(200);
        assert_eq!(decision["verdict"], "block", "{decision}");
        assert_eq!(codes(&decision), ["policy_limit_exceeded"], "{decision}");
    }
    gw.call(reqwest::Method::GET, "/healthz", None, None).await.expect(200);
    // Small ranges answer as the builtins do.
    let small = "package lictor\nimport rego.v1\ndecision := {\"verdict\": \"approve\"} if {\n\
                 numbers.range(1, 3) == [1, 2, 3]\n numbers.range(3, 1) == [3, 2, 1]\n\
                 numbers.range_step(1, 10, 4) == [1, 5, 9]\n}\n";
    let ok = gw
        .post("/v1/admin/policies/dry-run", &f.admin, &json!({"modules": {"p.rego": small}, "inputs": [{}]}))
        .await
        .expect(200);
    assert_eq!(ok["inputs"][0]["verdict"], "approve", "{ok}");

    // sprintf sizes its padding from the format: a width beyond what Go's
    // fmt allows (10^6) is refused, as is a width in non-ASCII digits
    // (which made regorus panic), with the format from the policy or from
    // the input alike. The builtin answers as before otherwise.
    let widths = [
        ("%4000000000d", json!({})),
        ("%99999999999999999999s", json!({})),
        ("%.4000000000f", json!({})),
        ("%\\u00b2d", json!({})),
        ("%\\u0663d", json!({})),
    ];
    for (format, input) in widths {
        let module = format!(
            "package lictor\nimport rego.v1\nm := sprintf(\"{format}\", [1])\n\
             decision := {{\"verdict\": \"approve\"}} if count(m) > 0\n"
        );
        let cut = gw
            .post(
                "/v1/admin/policies/dry-run",
                &f.admin,
                &json!({"modules": {"p.rego": module}, "inputs": [input]}),
            )
            .await
            .expect(200);
        assert_eq!(cut["inputs"][0]["verdict"], "block", "{format}: {cut}");
        assert!(cut["inputs"][0]["error"]["code"].as_str().unwrap().starts_with("policy_"), "{cut}");
    }
    let from_input = "package lictor\nimport rego.v1\nm := sprintf(input.f, [1])\n\
                      decision := {\"verdict\": \"approve\"} if count(m) > 0\n";
    let cut = gw
        .post(
            "/v1/admin/policies/dry-run",
            &f.admin,
            &json!({"modules": {"p.rego": from_input}, "inputs": [{"f": "%4000000000d"}, {"f": "%5d"}]}),
        )
        .await
        .expect(200);
    assert_eq!(cut["inputs"][0]["verdict"], "block", "{cut}");
    assert_eq!(cut["inputs"][1]["verdict"], "approve", "{cut}");
    let formats = "package lictor\nimport rego.v1\ndecision := {\"verdict\": \"approve\"} if {\n\
                   sprintf(\"%5d|%.2f|%05d|%v|%%|%x\", [42, 3.14159, 7, [1, \"a\"], 255]) == \
                   \"   42|3.14|00007|[1, \\\"a\\\"]|%|ff\"\n}\n";
    let ok = gw
        .post(
            "/v1/admin/policies/dry-run",
            &f.admin,
            &json!({"modules": {"p.rego": formats}, "inputs": [{}]}),
        )
        .await
        .expect(200);
    assert_eq!(ok["inputs"][0]["verdict"], "approve", "{ok}");
}

/// A bundle whose own tests run into the evaluation limits would block
/// decisions once promoted: promotion refuses it, and the active bundle
/// stays.
async fn promotion_refuses_a_bundle_whose_tests_exceed_the_limits(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let active = gw.get("/v1/admin/policies/active", &f.admin).await.expect(200);
    let policy = "package lictor\nimport rego.v1\ndecision := {\"verdict\": \"approve\"}\n";
    let greedy_test = "package lictor_test\nimport rego.v1\n\
                       test_ranges if count(numbers.range(1, 1000000000000)) > 0\n";
    let body = json!({"name": "greedy tests", "modules": {"p.rego": policy, "p_test.rego": greedy_test}});
    let draft = create_draft(&gw, &f, &body).await;
    let refused = promote(&gw, &f.admin, &draft).await.expect_error(400, "invalid_field");
    assert_eq!(refused["path"], "$.draft_id", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("data.lictor_test.test_ranges") && message.contains("limit"), "{message}");
    let still = gw.get("/v1/admin/policies/active", &f.admin).await.expect(200);
    assert_eq!(still["bundle_hash"], active["bundle_hash"]);

    // Tests within the limits, passing or not, do not stand in the way.
    let fine_test = "package lictor_test\nimport rego.v1\ntest_small if count(numbers.range(1, 10)) == 10\n";
    let body = json!({"name": "fine tests", "modules": {"p.rego": policy, "p_test.rego": fine_test}});
    let draft = create_draft(&gw, &f, &body).await;
    promote(&gw, &f.admin, &draft).await.expect(200);
}

crate::on_both_backends!(
    a_policy_cannot_abort_the_gateway,
    promotion_refuses_a_bundle_whose_tests_exceed_the_limits,
    drafts_compile_on_save_and_bad_ones_say_where,
    dry_run_shows_what_a_draft_would_change,
    promotion_is_atomic_audited_and_rolls_back,
    the_two_person_rule_needs_a_second_admin,
    templates_are_listed_and_make_drafts,
);

/// Two gateways on one PostgreSQL database: a promotion on one decides on
/// the other within a second (LISTEN/NOTIFY), and so does a rollback.
mod replicas {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_promotion_reaches_the_other_replica_within_a_second() {
        // The poll is far away: only the notification can be this fast.
        let slow_poll = |c: &mut lictor_server::Config| c.policy_poll_interval = Duration::from_secs(3600);
        let a = TestGateway::start_with(Backend::Postgres, slow_poll).await;
        let b = a.replica(Backend::Postgres, slow_poll).await;
        let f = a.tenant_fixture().await;
        assert_eq!(b.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
        let draft = create_draft(&a, &f, &strict_draft("strict")).await;

        for (step, want) in [("promote", "block"), ("rollback", "approve")] {
            let started = Instant::now();
            match step {
                "promote" => promote(&a, &f.admin, &draft).await.expect(200),
                _ => a.post("/v1/admin/policies/rollback", &f.admin, &json!({})).await.expect(200),
            };
            let seen = eventually(Duration::from_secs(5), async || {
                let d =
                    b.declare(&f.live, intent(json!({"type": "access", "verb": "read"}))).await.expect(200);
                (d["verdict"] == want).then_some(d)
            })
            .await
            .unwrap_or_else(|| panic!("B follows the {step}"));
            assert!(started.elapsed() < Duration::from_secs(1), "{step} took {:?}", started.elapsed());
            if step == "promote" {
                assert_eq!(seen["policy"]["bundle_hash"], draft["bundle_hash"]);
            }
        }
        // A replica started later loads the active bundle from the store.
        promote(&a, &f.admin, &draft).await.expect(200);
        let c = a.replica(Backend::Postgres, |_| {}).await;
        let decided = c.declare(&f.live, approve_intent()).await.expect(200);
        assert_eq!(decided["verdict"], "block", "{decided}");
    }

    /// The same with two `lictor serve` processes, sharing nothing but
    /// the database.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_promotion_reaches_another_gateway_process_within_a_second() {
        use crate::support::process::{Deployment, call, client, provision, send};
        use reqwest::Method;

        let slow_poll = ["--policy-poll-seconds", "3600"];
        let mut a = Deployment::new(Backend::Postgres).await;
        let mut b = Deployment::replica_of(&a);
        let (url_a, url_b) = (a.start_with(&slow_poll).await, b.start_with(&slow_poll).await);
        let http = client();
        let tenant = provision(&http, &url_a).await;
        let read = json!({"intent": intent(json!({"type": "access", "verb": "read"}))});
        let declare_on_b = async || {
            send(call(&http, Method::POST, format!("{url_b}/v1/intents"), &tenant.live).json(&read))
                .await
                .expect(200)
        };
        assert_eq!(declare_on_b().await["verdict"], "approve");

        let draft = send(
            call(&http, Method::POST, format!("{url_a}/v1/admin/policies/drafts"), &tenant.admin)
                .json(&strict_draft("strict")),
        )
        .await
        .expect(201);
        let body = json!({"draft_id": draft["id"], "expected_hash": draft["bundle_hash"]});
        let started = Instant::now();
        send(
            call(&http, Method::POST, format!("{url_a}/v1/admin/policies/active"), &tenant.admin).json(&body),
        )
        .await
        .expect(200);
        let seen = eventually(Duration::from_secs(5), async || {
            let d = declare_on_b().await;
            (d["verdict"] == "block").then_some(d)
        })
        .await
        .expect("process B follows the promotion");
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
        assert_eq!(seen["policy"]["bundle_hash"], draft["bundle_hash"]);

        let started = Instant::now();
        send(
            call(&http, Method::POST, format!("{url_a}/v1/admin/policies/rollback"), &tenant.admin)
                .json(&json!({})),
        )
        .await
        .expect(200);
        eventually(Duration::from_secs(5), async || {
            (declare_on_b().await["verdict"] == "approve").then_some(())
        })
        .await
        .expect("process B follows the rollback");
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    }
}
