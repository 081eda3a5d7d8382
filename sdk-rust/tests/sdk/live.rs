//! The SDK against a real gateway: every verdict, tool calls through a real
//! upstream, every typed error, attenuation enforced, pagination, and a
//! real audit export verified offline with the published keys.

use std::time::Duration;

use futures::TryStreamExt as _;
use lictor_client::types::{self, ActionType, Verdict};
use lictor_client::{Attenuation, DeclareOptions, Error, ErrorCode, Gateway, attenuate, verify_audit_export};
use serde_json::json;

use crate::support::{Live, impact, intent_of, register_agent};

fn codes(decision: &types::Decision) -> Vec<&str> {
    decision.reasons.iter().map(|r| r.code.as_str()).collect()
}

async fn decide(admin: &Gateway, approval_id: &str, decision: types::ApprovalDecisionKind) {
    let body = types::ApprovalDecide { decision, note: Some("checked by the sdk test".try_into().unwrap()) };
    let id: types::ApprovalId = approval_id.try_into().unwrap();
    admin
        .retrying(|| admin.api().approval_decide().approval_id(id.clone()).body(body.clone()).send())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_intent_per_verdict_and_async_decisions() {
    let live = Live::start().await;
    let t = live.tenant("acme").await;

    let approve = t.agent.declare_intent(intent_of(&t.agent_id, ActionType::Access, "read")).await.unwrap();
    assert_eq!(approve.verdict, Verdict::Approve);

    let mut card = intent_of(&t.agent_id, ActionType::Communicate, "send");
    card.action.payload = Some(types::Payload {
        content: Some("Your card 4111 1111 1111 1111 was charged.".into()),
        arguments: None,
        summary: None,
        estimated_impact: None,
    });
    let modified = t.agent.declare_intent(card).await.unwrap();
    assert_eq!(modified.verdict, Verdict::ApproveModified);
    let content = modified.modifications.as_ref().and_then(|m| m.modified_payload.content.clone());
    assert_eq!(content, Some(json!("Your card [REDACTED CARD] was charged.")));

    let mut pay = intent_of(&t.agent_id, ActionType::Transact, "pay");
    pay.action.payload = Some(impact(2500.0, Some(false)));
    let escalated = t.agent.declare_intent(pay.clone()).await.unwrap();
    assert_eq!(escalated.verdict, Verdict::Escalate);
    assert_eq!(codes(&escalated), ["irreversible_high_value"]);
    let approval_id = escalated.approval.as_ref().unwrap().approval_id.to_string();

    // A block is a Decision, not an error.
    let mut transfer = intent_of(&t.agent_id, ActionType::Transact, "transfer");
    transfer.action.payload = Some(impact(25_000.0, None));
    let blocked = t.agent.declare_intent(transfer).await.unwrap();
    assert_eq!(blocked.verdict, Verdict::Block);
    assert_eq!(codes(&blocked), ["transact_over_limit"]);

    // The human approves; the agent waits, then resumes the identical request once.
    decide(&t.admin, &approval_id, types::ApprovalDecisionKind::Approve).await;
    let approval = t.agent.wait_for_approval(&approval_id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(approval.status, types::ApprovalStatus::Approved);
    let options = DeclareOptions { approval_id: Some(approval_id.clone()), ..DeclareOptions::default() };
    let resumed = t.agent.declare_intent_with(pay.clone(), options.clone()).await.unwrap();
    assert_eq!(resumed.verdict, Verdict::Approve);
    assert_eq!(codes(&resumed), ["irreversible_high_value", "approved_by_human"]);
    let again = t.agent.declare_intent_with(pay, options).await.unwrap();
    assert_eq!(codes(&again), ["irreversible_high_value", "approval_used"]);

    // The same idempotency key answers the same decision.
    let keyed = DeclareOptions { idempotency_key: Some("sdk-key-1".into()), ..DeclareOptions::default() };
    let first =
        t.agent.declare_intent_with(intent_of(&t.agent_id, ActionType::Access, "list"), keyed.clone()).await;
    let second = t.agent.declare_intent_with(intent_of(&t.agent_id, ActionType::Access, "list"), keyed).await;
    assert_eq!(first.unwrap().intent_id, second.unwrap().intent_id);

    // Async: accepted at once, decided later.
    let accepted =
        t.agent.declare_intent_async(intent_of(&t.agent_id, ActionType::Access, "read"), None).await.unwrap();
    let decision = t.agent.wait_for_decision(&accepted.intent_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(decision.verdict, Verdict::Approve);
    assert_eq!(decision.intent_id, accepted.intent_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_go_through_and_every_denial_is_typed() {
    let live = Live::start().await;
    let t = live.tenant("acme").await;
    let token = t.mint(&t.agent_id).await.token;
    let agent = Gateway::new(&live.url).token(&token);

    let tools = agent.list_tools().await.unwrap();
    assert!(tools.iter().any(|tool| tool["name"] == "mail.echo"), "{tools:?}");

    let echoed = agent.call_tool("mail.echo", json!({"text": "hello"})).await.unwrap();
    assert!(!echoed.is_error);
    assert!(echoed.text().contains("hello"), "{echoed:?}");
    assert!(live.upstream.calls().iter().any(|call| call.name == "echo"));

    // -32011: the exposure pointer names a missing argument.
    let error = agent.call_tool("bank.transfer_funds", json!({"to": "DE89"})).await.unwrap_err();
    let Error::Intent(denied) = &error else { panic!("{error:?}") };
    assert_eq!(denied.reason.as_deref(), Some("invalid_arguments"));

    // -32012: over the transfer limit.
    let error =
        agent.call_tool("bank.transfer_funds", json!({"amount_usd": 25000, "to": "DE89"})).await.unwrap_err();
    let Error::Policy(denied) = &error else { panic!("{error:?}") };
    assert_eq!(denied.reason.as_deref(), Some("transact_over_limit"));
    assert!(denied.intent_id.is_some());

    // -32014: a human approves, then the helper resumes the identical call.
    let arguments = json!({"amount_usd": 2500, "to": "DE89"});
    let error = agent.call_tool("bank.transfer_funds", arguments.clone()).await.unwrap_err();
    let Error::ApprovalRequired(required) = error else { panic!("{error:?}") };
    assert_eq!(required.status.as_deref(), Some("pending"));
    let approval_id = required.approval_id.clone().unwrap();
    let (admin, id) = (t.admin.clone(), approval_id.clone());
    let decider = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        decide(&admin, &id, types::ApprovalDecisionKind::Approve).await;
    });
    let done = agent.resume_after_approval(&required, Duration::from_secs(20)).await.unwrap();
    decider.await.unwrap();
    assert!(!done.is_error, "{done:?}");
    assert!(live.upstream.calls().iter().any(|call| call.name == "transfer_funds"));
    // Used once: resuming again is denied with the approval's status.
    let error =
        agent.call_tool_with_approval("bank.transfer_funds", arguments, &approval_id).await.unwrap_err();
    let Error::ApprovalRequired(again) = &error else { panic!("{error:?}") };
    assert_eq!(again.denied.reason.as_deref(), Some("approval_used"));

    // -32010: a token narrowed to one tool.
    let narrowed =
        attenuate(&token, &Attenuation { tools: vec!["mail.echo".into()], ..Attenuation::default() })
            .unwrap();
    let narrow = Gateway::new(&live.url).token(narrowed);
    let error = narrow
        .call_tool("mail.send_email", json!({"to": "a@example.com", "subject": "s", "body": "b"}))
        .await;
    let Err(Error::Capability(denied)) = &error else { panic!("{error:?}") };
    assert_eq!(denied.reason.as_deref(), Some("tool_not_allowed"));

    // -32013: an agent with a budget of one decision a day.
    register_agent(&t.admin, "frugal-bot", Some(1)).await;
    let frugal = Gateway::new(&live.url).token(t.mint("frugal-bot").await.token);
    frugal.call_tool("mail.echo", json!({"text": "one"})).await.unwrap();
    let error = frugal.call_tool("mail.echo", json!({"text": "two"})).await.unwrap_err();
    let Error::Budget(denied) = &error else { panic!("{error:?}") };
    assert_eq!(denied.stage.as_deref(), Some("budget"));

    // A session the gateway forgot is reopened transparently.
    agent.close_mcp_session().await.unwrap();
    agent.call_tool("mail.echo", json!({"text": "after close"})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_are_typed_by_error_code() {
    let live = Live::start().await;
    let t = live.tenant("acme").await;

    let nobody = Gateway::new(&live.url).api_key("lictor_live_not_a_key_0123456789abcdef");
    let error =
        nobody.declare_intent(intent_of("billing-bot", ActionType::Access, "read")).await.unwrap_err();
    let api = error.api().unwrap();
    assert_eq!((api.status, &api.error_code), (401, &ErrorCode::Unauthenticated));
    assert!(!api.request_id.is_empty());

    let error = t.agent.retrying(|| t.agent.api().tenant_list().send()).await.unwrap_err();
    assert_eq!(error.api().unwrap().error_code, ErrorCode::Forbidden);

    let missing: types::AgentId = "nobody-here".try_into().unwrap();
    let error =
        t.admin.retrying(|| t.admin.api().agent_get().agent_id(missing.clone()).send()).await.unwrap_err();
    assert_eq!(error.api().unwrap().error_code, ErrorCode::NotFound);

    let error = live
        .superadmin
        .retrying(|| {
            live.superadmin
                .api()
                .tenant_create()
                .body(types::TenantCreate {
                    id: "acme".try_into().unwrap(),
                    name: "again".try_into().unwrap(),
                    rate_limits: None,
                })
                .send()
        })
        .await
        .unwrap_err();
    assert_eq!(error.api().unwrap().error_code, ErrorCode::AlreadyExists);

    let error =
        t.admin.retrying(|| t.admin.api().agent_list().cursor("not-a-cursor").send()).await.unwrap_err();
    let api = error.api().unwrap();
    assert_eq!((api.status, &api.error_code), (400, &ErrorCode::InvalidCursor));

    // A body field the gateway rejects names its path.
    let draft = types::PolicyDraftWrite::builder().name("broken".to_string()).modules(
        [("rules.rego".to_string(), "package lictor\nthis is not rego".to_string())]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    );
    let draft: types::PolicyDraftWrite = draft.try_into().unwrap();
    let error = t
        .admin
        .retrying(|| t.admin.api().policy_draft_create().body(draft.clone()).send())
        .await
        .unwrap_err();
    let api = error.api().unwrap();
    assert_eq!(api.error_code, ErrorCode::PolicyCompileError);
    assert!(api.path.is_some() && api.location.is_some(), "{api:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attenuated_token_is_enforced_narrower() {
    let live = Live::start().await;
    let t = live.tenant("acme").await;
    let minted = t.mint(&t.agent_id).await;
    let parent = Gateway::new(&live.url).token(&minted.token);
    let reader = attenuate(
        &minted.token,
        &Attenuation {
            action_types: vec![ActionType::Access],
            max_calls: Some(2),
            expires_in: Some(Duration::from_secs(600)),
            ..Attenuation::default()
        },
    )
    .unwrap();
    let child = Gateway::new(&live.url).token(&reader);
    let read = || intent_of(&t.agent_id, ActionType::Access, "read");
    let mut pay = intent_of(&t.agent_id, ActionType::Transact, "pay");
    pay.action.payload = Some(impact(10.0, None));

    assert_eq!(child.declare_intent(read()).await.unwrap().verdict, Verdict::Approve);
    let blocked = child.declare_intent(pay.clone()).await.unwrap();
    assert_eq!((blocked.verdict, codes(&blocked)), (Verdict::Block, vec!["action_type_not_allowed"]));
    assert_eq!(child.declare_intent(read()).await.unwrap().verdict, Verdict::Approve);
    let third = child.declare_intent(read()).await.unwrap();
    assert_eq!(third.verdict, Verdict::Block, "{:?}", codes(&third));
    // The parent keeps its own, wider rights.
    assert_eq!(parent.declare_intent(pay).await.unwrap().verdict, Verdict::Approve);

    // Revoking the parent revokes the child.
    let revoke = types::TokenRevoke { jti: minted.jti.clone(), reason: "sdk test over".try_into().unwrap() };
    t.admin.retrying(|| t.admin.api().token_revoke().body(revoke.clone()).send()).await.unwrap();
    let revoked = Gateway::new(&live.url).token(&reader).declare_intent(read()).await.unwrap();
    assert_eq!(codes(&revoked), ["token_revoked"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_paginate_and_a_real_export_verifies_offline() {
    let live = Live::start().await;
    let t = live.tenant("acme").await;
    for i in 0..6 {
        register_agent(&t.admin, &format!("agent-{i}"), None).await;
        t.agent.declare_intent(intent_of(&format!("agent-{i}"), ActionType::Access, "read")).await.unwrap();
    }
    let agents: Vec<types::Agent> = t
        .admin
        .paginate(|cursor| {
            let call = t.admin.api().agent_list().limit(2u32);
            async move {
                match cursor {
                    Some(cursor) => call.cursor(cursor),
                    None => call,
                }
                .send()
                .await
            }
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(agents.len(), 7, "billing-bot and six more");
    let entries: Vec<types::AuditEntry> = t
        .admin
        .paginate(|cursor| {
            let call = t.admin.api().audit_list().limit(3u32);
            async move { if let Some(c) = cursor { call.cursor(c) } else { call }.send().await }
        })
        .try_collect()
        .await
        .unwrap();
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(seqs.len() >= 13, "{seqs:?}");

    let keys = Gateway::new(&live.url).audit_keys().await.unwrap();
    for format in [types::ExportFormatName::Ndjson, types::ExportFormatName::Csv] {
        let export = t.admin.audit_export(format, None).await.unwrap();
        let report = verify_audit_export(export.as_slice(), &keys).unwrap();
        assert_eq!((report.tenant.as_str(), report.entries), ("acme", seqs.len() as u64), "{format:?}");
        // One changed byte in an entry no longer verifies.
        let text = String::from_utf8(export.clone()).unwrap();
        let tampered = text.replacen("\"approve\"", "\"block\"", 1).replacen(",approve,", ",block,", 1);
        assert!(verify_audit_export(tampered.as_bytes(), &keys).is_err(), "{format:?}");
    }
    // The superadmin names the tenant.
    let export = live.superadmin.audit_export(types::ExportFormatName::Ndjson, Some(&t.id)).await.unwrap();
    verify_audit_export(export.as_slice(), &keys).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_verify_with_the_tenant_secret() {
    // A signature made the way the gateway signs deliveries verifies with
    // the secret the tenant was created with, and not with another.
    let live = Live::start().await;
    let t = live.tenant("acme").await;
    let body = br#"{"intent_id":"int_1","verdict":"approve"}"#;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let header = lictor_client::lictor_offline::webhook::signature(&t.webhook_secret, now, body);
    lictor_client::verify_webhook(&t.webhook_secret, &header, body).unwrap();
    let error = lictor_client::verify_webhook("lictor_whsec_other", &header, body).unwrap_err();
    assert_eq!(error.code(), "signature_mismatch");
}

/// A `429` from the gateway's rate limits is retried after its
/// `Retry-After`, and succeeds; without retries it is a typed error that
/// carries the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_intent_is_retried_after_retry_after() {
    let live = Live::start().await;
    let t = live.tenant("limited").await;
    let one = types::RateLimit {
        per_minute: std::num::NonZeroU32::new(60).unwrap(),
        burst: std::num::NonZeroU32::new(1).unwrap(),
    };
    let update = types::TenantUpdate {
        policy_two_person_rule: None,
        store_failure: None,
        rate_limits: Some(types::RateLimitsUpdate { per_key: Some(one), per_tenant: None }),
    };
    let tenant: types::TenantId = t.id.as_str().try_into().unwrap();
    live.superadmin
        .retrying(|| {
            live.superadmin.api().tenant_update().tenant_id(tenant.clone()).body(update.clone()).send()
        })
        .await
        .unwrap();

    let read = || intent_of(&t.agent_id, ActionType::Access, "read");
    t.agent.declare_intent(read()).await.unwrap();
    // The bucket is empty: the gateway answers 429 with `Retry-After: 1`,
    // the SDK waits that long and the retry passes.
    let started = std::time::Instant::now();
    let decision = t.agent.declare_intent(read()).await.unwrap();
    assert_eq!(decision.verdict, Verdict::Approve);
    assert!(started.elapsed() >= Duration::from_millis(900), "retried after {:?}", started.elapsed());

    let impatient =
        t.agent.clone().retry_policy(lictor_client::RetryPolicy { max_retries: 0, ..Default::default() });
    let error = impatient.declare_intent(read()).await.unwrap_err();
    let api = error.api().unwrap();
    assert_eq!((api.status, &api.error_code), (429, &ErrorCode::RateLimited));
    assert_eq!(api.retry_after, Some(1));
}
