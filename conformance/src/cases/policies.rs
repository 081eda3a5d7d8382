//! The policy lifecycle: located compile errors, drafts, dry-runs, promotion
//! live on every replica, rollback and the two-person rule.

use lictor_client::{ErrorCode, Gateway, types};
use serde_json::{Value, json};

use crate::{Case, CaseFuture, Context, Group, check, curl, expect_refusal, failed, typed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "policies.compile_error_is_located",
            group: Group::Policies,
            title: "a draft that does not compile is 400 policy_compile_error with file, line and column",
            disruptive: false,
            operations: &["policy_draft_create"],
            run: compile_error_is_located,
        },
        Case {
            id: "policies.draft_lifecycle",
            group: Group::Policies,
            title: "templates are listed; a draft is saved from one, listed, read, updated (new hash) and deleted",
            disruptive: false,
            operations: &[
                "policy_template_list",
                "policy_draft_list",
                "policy_draft_get",
                "policy_draft_update",
                "policy_draft_delete",
            ],
            run: draft_lifecycle,
        },
        Case {
            id: "policies.dry_run_promote_rollback",
            group: Group::Policies,
            title: "a draft is dry-run, promoted atomically (live on every replica) and rolled back",
            disruptive: false,
            operations: &["policy_dry_run", "policy_promote", "policy_active_get", "policy_rollback"],
            run: dry_run_promote_rollback,
        },
        Case {
            id: "policies.two_person_rule",
            group: Group::Policies,
            title: "with the two-person rule a promotion is a proposal: the proposer cannot approve, another admin can, or reject",
            disruptive: false,
            operations: &[
                "policy_proposal_list",
                "policy_proposal_approve",
                "policy_proposal_reject",
                "tenant_update",
            ],
            run: two_person_rule,
        },
    ]
}

fn compile_error_is_located(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (gw, url) = ctx.client(&ctx.admin_key);
        let body: types::PolicyDraftWrite = serde_json::from_value(json!({
            "name": "broken",
            "modules": {"rules.rego": "package lictor\nimport rego.v1\n\ndecision := {\n  x :=\n}\n"}
        }))
        .map_err(|e| failed("draft body", e, None))?;
        let repro = curl("POST", &url, "/v1/admin/policies/drafts", &ctx.admin_key, Some(&body));
        let api = match gw.retrying(|| gw.api().policy_draft_create().body(body.clone()).send()).await {
            Ok(_) => return Err(failed("a broken draft was saved", "want 400", Some(repro))),
            Err(error) => error.api().cloned(),
        };
        check(
            api.as_ref().is_some_and(|a| {
                a.status == 400
                    && a.error_code == ErrorCode::PolicyCompileError
                    && a.path.as_deref() == Some("$.modules['rules.rego']")
                    && a.location.as_ref().is_some_and(|l| l.file == "rules.rego" && l.line == 5)
            }),
            || format!("want 400 policy_compile_error at rules.rego:5, got {api:?}"),
            Some(repro),
        )
    })
}

/// A bundle that blocks only the verb `conformance_probe`.
const PROBE: &str = r#"package lictor

import rego.v1

default decision := {"verdict": "approve", "reasons": []}

decision := {"verdict": "block", "reasons": [{"code": "conformance_frozen", "message": "frozen by the conformance suite"}]} if {
	input.intent.action.verb == "conformance_probe"
}
"#;

fn value<T: serde::Serialize>(item: &T) -> Value {
    serde_json::to_value(item).unwrap_or_default()
}

async fn save_draft(
    ctx: &Context,
    gw: &Gateway,
    url: &str,
    name: &str,
    modules: Value,
) -> Result<Value, crate::Failure> {
    let body: types::PolicyDraftWrite = typed("draft body", json!({"name": name, "modules": modules}))?;
    let repro = curl("POST", url, "/v1/admin/policies/drafts", &ctx.admin_key, Some(&body));
    let draft = gw
        .retrying(|| gw.api().policy_draft_create().body(body.clone()).send())
        .await
        .map_err(|e| failed("saving a draft", e, Some(repro)))?;
    Ok(value(&draft))
}

/// Declares the probe intent on every replica: whether each blocked it as frozen.
async fn probe_frozen(ctx: &Context) -> Result<Vec<bool>, crate::Failure> {
    let mut frozen = Vec::new();
    for url in ctx.urls() {
        let gw = Gateway::new(url).api_key(&ctx.live_key);
        let intent =
            super::intents::intent(&ctx.agent, json!({"type": "access", "verb": "conformance_probe"}))?;
        let decision = gw.declare_intent(intent).await.map_err(|e| failed("the probe intent", e, None))?;
        frozen.push(decision.reasons.iter().any(|r| r.code == "conformance_frozen"));
    }
    Ok(frozen)
}

/// Waits (≤ 10 s) until every replica answers the probe as `want`.
async fn until_every_replica(ctx: &Context, want: bool) -> Result<Vec<bool>, crate::Failure> {
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = probe_frozen(ctx).await?;
        if seen.iter().all(|f| *f == want) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(seen)
}

fn draft_lifecycle(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (gw, url) = ctx.client(&ctx.admin_key);
        let repro = curl("GET", &url, "/v1/admin/policies/templates", &ctx.admin_key, None::<&()>);
        let templates = gw
            .retrying(|| gw.api().policy_template_list().send())
            .await
            .map_err(|e| failed("listing templates", e, Some(repro.clone())))?;
        let templates = value(&templates);
        let first =
            templates["items"].as_array().and_then(|items| items.first()).cloned().unwrap_or_default();
        let modules: serde_json::Map<String, Value> = first["files"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| name.ends_with(".rego"))
            .map(|(name, text)| (name.clone(), text.clone()))
            .collect();
        check(!modules.is_empty(), || format!("no template with Rego files: {templates}"), Some(repro))?;
        let draft = save_draft(ctx, &gw, &url, "conformance template", Value::Object(modules)).await?;
        let id = draft["id"].as_str().unwrap_or_default().to_string();
        let repro = curl("GET", &url, "/v1/admin/policies/drafts", &ctx.admin_key, None::<&()>);
        let listed = gw
            .retrying(|| gw.api().policy_draft_list().limit(100).send())
            .await
            .map_err(|e| failed("listing drafts", e, Some(repro.clone())))?;
        check(
            listed.items.iter().any(|d| d.id.to_string() == id),
            || format!("draft {id} is not listed"),
            Some(repro),
        )?;
        let path = format!("/v1/admin/policies/drafts/{id}");
        let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
        let got = gw
            .retrying(|| gw.api().policy_draft_get().draft_id(id.as_str()).send())
            .await
            .map_err(|e| failed("reading the draft", e, Some(repro.clone())))?;
        let got = value(&got);
        check(
            got["modules"] == draft["modules"] && got["bundle_hash"] == draft["bundle_hash"],
            || "the draft read back differs from the one saved".into(),
            Some(repro),
        )?;
        let body: types::PolicyDraftWrite =
            typed("draft body", json!({"name": "conformance probe", "modules": {"probe.rego": PROBE}}))?;
        let repro = curl("PUT", &url, &path, &ctx.admin_key, Some(&body));
        let updated = gw
            .retrying(|| gw.api().policy_draft_update().draft_id(id.as_str()).body(body.clone()).send())
            .await
            .map_err(|e| failed("updating the draft", e, Some(repro.clone())))?;
        let updated = value(&updated);
        check(
            updated["bundle_hash"] != draft["bundle_hash"] && updated["name"] == "conformance probe",
            || "an update with new modules must change the bundle hash".into(),
            Some(repro),
        )?;
        let repro = curl("DELETE", &url, &path, &ctx.admin_key, None::<&()>);
        gw.retrying(|| gw.api().policy_draft_delete().draft_id(id.as_str()).send())
            .await
            .map_err(|e| failed("deleting the draft", e, Some(repro.clone())))?;
        let gone = gw.retrying(|| gw.api().policy_draft_get().draft_id(id.as_str()).send()).await;
        expect_refusal("a deleted draft", &gone, 404, ErrorCode::NotFound, Some(repro))
    })
}

fn dry_run_promote_rollback(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (gw, url) = ctx.client(&ctx.admin_key);
        let draft = save_draft(ctx, &gw, &url, "conformance probe", json!({"probe.rego": PROBE})).await?;
        let body: types::PolicyDryRunRequest = typed(
            "dry-run body",
            json!({"draft_id": draft["id"], "inputs": [
                {"intent": {"action": {"type": "access", "verb": "conformance_probe"}}},
                {"intent": {"action": {"type": "access", "verb": "read"}}}]}),
        )?;
        let repro = curl("POST", &url, "/v1/admin/policies/dry-run", &ctx.admin_key, Some(&body));
        let run = gw
            .retrying(|| gw.api().policy_dry_run().body(body.clone()).send())
            .await
            .map_err(|e| failed("dry-running the draft", e, Some(repro.clone())))?;
        let run = value(&run);
        check(
            run["bundle_hash"] == draft["bundle_hash"]
                && run["inputs"][0]["verdict"] == "block"
                && run["inputs"][0]["reasons"][0]["code"] == "conformance_frozen"
                && run["inputs"][1]["verdict"] == "approve",
            || format!("dry-run: want block (conformance_frozen) then approve, got {}", run["inputs"]),
            Some(repro),
        )?;
        check(
            probe_frozen(ctx).await?.iter().all(|f| !f),
            || "a dry-run changed live decisions".into(),
            None,
        )?;
        let body: types::PolicyPromote =
            typed("promote body", json!({"draft_id": draft["id"], "expected_hash": draft["bundle_hash"]}))?;
        let repro = curl("POST", &url, "/v1/admin/policies/active", &ctx.admin_key, Some(&body));
        let promoted = gw
            .retrying(|| gw.api().policy_promote().body(body.clone()).send())
            .await
            .map_err(|e| failed("promoting the draft", e, Some(repro.clone())))?;
        let promoted = value(&promoted);
        check(
            promoted["outcome"] == "promoted"
                && promoted["active"]["current"]["bundle_hash"] == draft["bundle_hash"],
            || format!("want outcome promoted with the draft's hash, got {promoted}"),
            Some(repro.clone()),
        )?;
        let frozen = until_every_replica(ctx, true).await?;
        let outcome = check(
            frozen.iter().all(|f| *f),
            || format!("the promoted bundle is not live on every replica within 10 s: {frozen:?}"),
            Some(repro),
        );
        // Read back on every replica, then roll back whatever happened.
        let mut actives = Vec::new();
        for url in ctx.urls() {
            let gw = Gateway::new(url).api_key(&ctx.admin_key);
            let active = gw
                .retrying(|| gw.api().policy_active_get().send())
                .await
                .map_err(|e| failed("GET /v1/admin/policies/active", e, None))?;
            actives.push(value(&active)["current"]["bundle_hash"].clone());
        }
        let body: types::PolicyRollback =
            typed("rollback body", json!({"expected_hash": draft["bundle_hash"]}))?;
        let repro = curl("POST", &url, "/v1/admin/policies/rollback", &ctx.admin_key, Some(&body));
        let rolled = gw
            .retrying(|| gw.api().policy_rollback().body(body.clone()).send())
            .await
            .map_err(|e| failed("rolling back", e, Some(repro.clone())))?;
        outcome?;
        check(
            actives.iter().all(|h| *h == draft["bundle_hash"]),
            || {
                format!(
                    "GET /v1/admin/policies/active on the replicas: {actives:?}, want {}",
                    draft["bundle_hash"]
                )
            },
            None,
        )?;
        let rolled = value(&rolled);
        check(
            rolled["active"]["current"]["bundle_hash"] != draft["bundle_hash"],
            || format!("the rollback left the draft active: {rolled}"),
            Some(repro.clone()),
        )?;
        let frozen = until_every_replica(ctx, false).await?;
        check(
            frozen.iter().all(|f| !f),
            || format!("the rollback is not live on every replica: {frozen:?}"),
            Some(repro),
        )
    })
}

fn two_person_rule(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (gw, url) = ctx.client(&ctx.admin_key);
        let root = Gateway::new(ctx.url()).api_key(ctx.superadmin_key());
        // A second admin of the run's tenant.
        let body: types::ApiKeyCreate = typed(
            "key body",
            json!({"tenant": ctx.tenant, "environment": "live", "role": "admin", "name": "conformance-second-admin"}),
        )?;
        let second = root
            .retrying(|| root.api().api_key_create().body(body.clone()).send())
            .await
            .map_err(|e| failed("creating a second admin key", e, None))?;
        let second_gw = Gateway::new(ctx.url()).api_key(&second.key);
        let path = format!("/v1/admin/tenants/{}", ctx.tenant);
        let set = |gw: Gateway, on: bool| async move {
            let body: types::TenantUpdate = typed("tenant update", json!({"policy_two_person_rule": on}))?;
            gw.retrying(|| gw.api().tenant_update().tenant_id(ctx.tenant.as_str()).body(body.clone()).send())
                .await
                .map(|t| t.policy_two_person_rule)
                .map_err(|e| failed("setting the two-person rule", e, None))
        };
        check(set(gw.clone(), true).await?, || "the rule did not turn on".into(), None)?;
        let outcome = proposals(ctx, &gw, &second_gw, &url).await;
        // Only the superadmin turns it off; always restore.
        let repro =
            curl("PATCH", &url, &path, &ctx.admin_key, Some(&json!({"policy_two_person_rule": false})));
        let body: types::TenantUpdate = typed("tenant update", json!({"policy_two_person_rule": false}))?;
        let refused = gw
            .retrying(|| gw.api().tenant_update().tenant_id(ctx.tenant.as_str()).body(body.clone()).send())
            .await;
        let off = set(root.clone(), false).await?;
        let rolled = if outcome.as_ref().is_ok_and(|promoted| *promoted) {
            let body: types::PolicyRollback = typed("rollback body", json!({}))?;
            gw.retrying(|| gw.api().policy_rollback().body(body.clone()).send())
                .await
                .map(|_| ())
                .map_err(|e| failed("rolling back after the case", e, None))
        } else {
            Ok(())
        };
        let _ = root.retrying(|| root.api().api_key_revoke().key_id(second.api_key.id.as_str()).send()).await;
        outcome?;
        rolled?;
        expect_refusal(
            "a tenant admin turning the rule off",
            &refused,
            403,
            ErrorCode::Forbidden,
            Some(repro),
        )?;
        check(!off, || "the superadmin could not turn the rule off".into(), None)
    })
}

/// The proposal flow under the rule; whether a bundle was promoted.
async fn proposals(ctx: &Context, gw: &Gateway, second: &Gateway, url: &str) -> Result<bool, crate::Failure> {
    let draft = save_draft(ctx, gw, url, "conformance probe", json!({"probe.rego": PROBE})).await?;
    let body: types::PolicyPromote =
        typed("promote body", json!({"draft_id": draft["id"], "expected_hash": draft["bundle_hash"]}))?;
    let repro = curl("POST", url, "/v1/admin/policies/active", &ctx.admin_key, Some(&body));
    let proposed = gw
        .retrying(|| gw.api().policy_promote().body(body.clone()).send())
        .await
        .map_err(|e| failed("promoting under the two-person rule", e, Some(repro.clone())))?;
    let proposed = value(&proposed);
    let id = proposed["proposal"]["id"].as_str().unwrap_or_default().to_string();
    check(
        proposed["outcome"] == "proposed" && !id.is_empty(),
        || format!("want outcome proposed with a proposal, got {proposed}"),
        Some(repro),
    )?;
    check(probe_frozen(ctx).await?.iter().all(|f| !f), || "a proposal changed live decisions".into(), None)?;
    let repro = curl("GET", url, "/v1/admin/policies/proposals?status=pending", &ctx.admin_key, None::<&()>);
    let listed = gw
        .retrying(|| gw.api().policy_proposal_list().status(types::ProposalStatus::Pending).send())
        .await
        .map_err(|e| failed("listing proposals", e, Some(repro.clone())))?;
    check(
        listed.items.iter().any(|p| p.id.to_string() == id),
        || format!("proposal {id} is not listed"),
        Some(repro),
    )?;
    let path = format!("/v1/admin/policies/proposals/{id}/approve");
    let repro = curl("POST", url, &path, &ctx.admin_key, None::<&()>);
    let own = gw.retrying(|| gw.api().policy_proposal_approve().proposal_id(id.as_str()).send()).await;
    expect_refusal(
        "the proposer approving its own proposal",
        &own,
        403,
        ErrorCode::Forbidden,
        Some(repro.clone()),
    )?;
    let approved = second
        .retrying(|| second.api().policy_proposal_approve().proposal_id(id.as_str()).send())
        .await
        .map_err(|e| failed("a second admin approving", e, Some(repro.clone())))?;
    let approved = value(&approved);
    check(
        approved["outcome"] == "promoted"
            && approved["active"]["current"]["bundle_hash"] == draft["bundle_hash"],
        || format!("want the proposal promoted, got {approved}"),
        Some(repro),
    )?;
    let frozen = until_every_replica(ctx, true).await?;
    check(
        frozen.iter().all(|f| *f),
        || format!("the approved bundle is not live everywhere: {frozen:?}"),
        None,
    )?;
    // A rejected proposal changes nothing.
    let other = save_draft(
        ctx,
        gw,
        url,
        "conformance probe 2",
        json!({"probe.rego": format!("{PROBE}\n# second\n")}),
    )
    .await?;
    let body: types::PolicyPromote =
        typed("promote body", json!({"draft_id": other["id"], "expected_hash": other["bundle_hash"]}))?;
    let proposed = second
        .retrying(|| second.api().policy_promote().body(body.clone()).send())
        .await
        .map_err(|e| failed("proposing a second bundle", e, None))?;
    let id = value(&proposed)["proposal"]["id"].as_str().unwrap_or_default().to_string();
    let path = format!("/v1/admin/policies/proposals/{id}/reject");
    let repro = curl("POST", url, &path, &ctx.admin_key, None::<&()>);
    let rejected = gw
        .retrying(|| gw.api().policy_proposal_reject().proposal_id(id.as_str()).send())
        .await
        .map_err(|e| failed("rejecting the proposal", e, Some(repro.clone())))?;
    let rejected = value(&rejected);
    check(
        rejected["outcome"] == "rejected"
            && rejected["active"]["current"]["bundle_hash"] == draft["bundle_hash"],
        || format!("want rejected with the active bundle unchanged, got {rejected}"),
        Some(repro),
    )?;
    Ok(true)
}
