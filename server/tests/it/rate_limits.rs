//! Rate limits per credential and per tenant: `429 rate_limited` with
//! `Retry-After` and the `RateLimit-*` headers exactly where configured,
//! never for `test` keys, and counted across replicas on PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{ADMIN_KEY, Answer, Backend, Fixture, TestGateway, approve_intent};

async fn set_limits(gw: &TestGateway, tenant: &str, limits: Value) -> Value {
    gw.patch(&format!("/v1/admin/tenants/{tenant}"), ADMIN_KEY, &json!({"rate_limits": limits}))
        .await
        .expect(200)
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name}: {answer:?}"))
}

/// Declares `n` approvable intents as fast as one connection goes.
async fn burst(gw: &TestGateway, key: &str, n: usize) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(n);
    for _ in 0..n {
        answers.push(gw.declare(key, approve_intent()).await);
    }
    answers
}

fn statuses(answers: &[Answer]) -> Vec<u16> {
    answers.iter().map(|a| a.status.as_u16()).collect()
}

async fn live_and_shadow_keys_are_limited_and_test_keys_are_not(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    // One a second, five at once: nothing comes back within the test.
    let tenant = set_limits(&gw, &f.tenant, json!({"per_key": {"per_minute": 60, "burst": 5}})).await;
    assert_eq!(tenant["rate_limits"]["per_key"], json!({"per_minute": 60, "burst": 5}));
    assert_eq!(tenant["rate_limits"]["per_tenant"], json!({"per_minute": 30000, "burst": 1000}));

    let answers = burst(&gw, &f.live, 8).await;
    let got = statuses(&answers);
    assert_eq!(&got[..5], [200; 5], "{got:?}");
    assert!(got[5..].iter().all(|s| *s == 429), "{got:?}");
    // Each answer says how much is left.
    assert_eq!(header(&answers[0], "ratelimit-limit"), "5");
    assert_eq!(header(&answers[0], "ratelimit-remaining"), "4");
    assert_eq!(header(&answers[4], "ratelimit-remaining"), "0");
    assert_eq!(header(&answers[0], "ratelimit-policy"), "5;w=5, 1000;w=2");
    assert!(answers[0].headers.get("retry-after").is_none());

    let refused = &answers[5];
    assert_eq!(refused.body["error_code"], "rate_limited", "{:?}", refused.body);
    assert!(refused.body["message"].as_str().unwrap().contains("the credential's"), "{:?}", refused.body);
    assert!(refused.body["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    let retry: u64 = header(refused, "retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(header(refused, "ratelimit-remaining"), "0");
    assert!(header(refused, "ratelimit-reset").parse::<u64>().unwrap() >= retry);

    // A refused request wrote nothing: five decisions are audited.
    assert_eq!(gw.verify(&f.tenant).await["verified"], f.base + 5 + 1, "the limits change is audited too");

    // Shadow keys are limited on their own bucket; test keys never.
    let shadow = statuses(&burst(&gw, &f.shadow, 6).await);
    assert_eq!(shadow, [200, 200, 200, 200, 200, 429]);
    let test = burst(&gw, &f.test, 20).await;
    assert!(statuses(&test).iter().all(|s| *s == 200), "{:?}", statuses(&test));
    assert!(test[0].headers.get("ratelimit-limit").is_none());

    // The limit is in the key listing: the key's own bucket, none for test.
    let keys = gw.get("/v1/admin/api-keys", &f.admin).await.expect(200);
    for key in keys["items"].as_array().unwrap() {
        let want =
            if key["environment"] == "test" { json!(null) } else { json!({"per_minute": 60, "burst": 5}) };
        assert_eq!(key["rate_limit"], want, "{key}");
    }
    // The admin key is a live credential too; its own bucket is fresh.
    assert_eq!(header(&gw.get("/v1/admin/api-keys", &f.admin).await, "ratelimit-remaining"), "3");
}

async fn the_tenant_bucket_binds_every_credential(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let other = gw.create_key(&f.tenant, "live", "agent").await;
    let minted = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 600})).await;
    let token = minted["token"].as_str().unwrap();
    set_limits(&gw, &f.tenant, json!({"per_tenant": {"per_minute": 60, "burst": 6}})).await;
    assert_eq!(statuses(&burst(&gw, &f.live, 4).await), [200; 4]);
    let answers = burst(&gw, &other, 3).await;
    assert_eq!(statuses(&answers), [200, 200, 429]);
    assert!(answers[2].body["message"].as_str().unwrap().contains("the tenant's"), "{:?}", answers[2].body);
    assert_eq!(header(&answers[2], "ratelimit-limit"), "6");
    // Another tenant is untouched.
    let g = gw.tenant_fixture().await;
    assert_eq!(statuses(&burst(&gw, &g.live, 3).await), [200; 3]);

    // A capability token counts against its root token's bucket and its
    // tenant's; the tenant's is empty.
    gw.declare(token, approve_intent()).await.expect_error(429, "rate_limited");
}

/// Agents that empty their tenant's bucket never lock its administrators
/// out: an admin key draws on a tenant bucket of its own, and revokes the
/// flooding key.
async fn an_administrator_revokes_a_key_that_emptied_the_tenants_bucket(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    // Limits where one credential can empty the whole tenant (and that
    // refill too slowly to matter within the test).
    let four = json!({"per_minute": 1, "burst": 4});
    set_limits(&gw, &f.tenant, json!({"per_key": four, "per_tenant": four})).await;
    let create = |role: &str| {
        let name = format!("another {role}");
        json!({"tenant": f.tenant, "environment": "live", "role": role, "name": name})
    };
    let flood = gw.post("/v1/admin/api-keys", ADMIN_KEY, &create("agent")).await.expect(201);
    let (key, id) = (flood["key"].as_str().unwrap(), flood["api_key"]["id"].as_str().unwrap());
    assert_eq!(statuses(&burst(&gw, key, 6).await), [200, 200, 200, 200, 429, 429]);
    // The other agents are out of allowance with it ...
    let refused = gw.declare(&f.live, approve_intent()).await;
    assert!(refused.expect_error(429, "rate_limited")["message"].as_str().unwrap().contains("the tenant's"));
    // ... the administrator is not, and revokes it.
    gw.get("/v1/admin/api-keys", &f.admin).await.expect(200);
    gw.delete(&format!("/v1/admin/api-keys/{id}"), &f.admin).await.expect(204);
    gw.declare(key, approve_intent()).await.expect_error(401, "unauthenticated");
    // Administrators share a tenant bucket of their own, as large as the
    // agents': two calls above, two more from another admin key.
    let other = gw.post("/v1/admin/api-keys", ADMIN_KEY, &create("admin")).await.expect(201);
    let other = other["key"].as_str().unwrap();
    let answers = burst_get(&gw, other, 3).await;
    assert_eq!(statuses(&answers), [200, 200, 429]);
    assert!(answers[2].body["message"].as_str().unwrap().contains("the tenant's"), "{:?}", answers[2].body);
}

async fn burst_get(gw: &TestGateway, key: &str, n: usize) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(n);
    for _ in 0..n {
        answers.push(gw.get("/v1/admin/api-keys", key).await);
    }
    answers
}

/// A revoked (or expired) token is charged to a bucket its root's spent
/// descendants share: its holder cannot drain what the root may still do.
async fn a_revoked_token_cannot_drain_its_roots_bucket(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let root = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 600})).await;
    let root = root["token"].as_str().unwrap().to_string();
    set_limits(&gw, &f.tenant, json!({"per_key": {"per_minute": 1, "burst": 3}})).await;
    let child = lictor_offline::token::attenuate(&root, "leaked-child", &[]).unwrap();
    gw.post("/v1/admin/revoke", &f.admin, &json!({"jti": "leaked-child", "reason": "leaked"}))
        .await
        .expect(200);
    // Still answered (an audited block) until its own bucket is empty;
    // children minted from it offline are spent too, and share it.
    let grandchild = lictor_offline::token::attenuate(&child, "leaked-grandchild", &[]).unwrap();
    let mut got = Vec::new();
    for credential in [&child, &grandchild, &child, &grandchild] {
        let answer = gw.declare(credential, approve_intent()).await;
        if answer.status == 200 {
            assert_eq!(answer.body["verdict"], "block", "{:?}", answer.body);
            assert_eq!(answer.body["reasons"][0]["code"], "token_revoked", "{:?}", answer.body);
        }
        got.push(answer.status.as_u16());
    }
    assert_eq!(got, [200, 200, 200, 429]);
    // The root's own allowance is whole.
    for _ in 0..3 {
        let decided = gw.declare(&root, approve_intent()).await.expect(200);
        assert_eq!(decided["verdict"], "approve", "{decided}");
    }
    gw.declare(&root, approve_intent()).await.expect_error(429, "rate_limited");
}

async fn an_attenuated_token_shares_its_roots_bucket(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let root = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 600})).await;
    let root = root["token"].as_str().unwrap().to_string();
    set_limits(&gw, &f.tenant, json!({"per_key": {"per_minute": 60, "burst": 3}})).await;
    let children: Vec<String> = (0..3)
        .map(|i| lictor_offline::token::attenuate(&root, &format!("child-{i}"), &[]).unwrap())
        .collect();
    // Attenuating offline makes a new jti, not a new allowance.
    for child in &children {
        gw.declare(child, approve_intent()).await.expect(200);
    }
    gw.declare(&root, approve_intent()).await.expect_error(429, "rate_limited");
    // The agent key is a credential of its own.
    gw.declare(&f.live, approve_intent()).await.expect(200);
}

async fn a_batch_costs_one_per_intent(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    set_limits(&gw, &f.tenant, json!({"per_key": {"per_minute": 60, "burst": 5}})).await;
    let batch = |n: usize| json!({"intents": vec![json!({"intent": approve_intent()}); n]});
    gw.post("/v1/intents/batch", &f.live, &batch(3)).await.expect(200);
    let refused = gw.post("/v1/intents/batch", &f.live, &batch(3)).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(header(&refused, "ratelimit-remaining"), "2");
    // More than a burst can never pass: a typed error, not a wait.
    let error = gw.post("/v1/intents/batch", &f.live, &batch(6)).await.expect_error(400, "invalid_field");
    assert_eq!(error["path"], "$.intents", "{error}");
    gw.post("/v1/intents:batch", &f.live, &batch(2)).await.expect(200);
    gw.post("/v1/intents", &f.live, &json!({"intent": approve_intent()}))
        .await
        .expect_error(429, "rate_limited");
}

async fn only_the_superadmin_sets_limits_and_bad_ones_are_refused(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f: Fixture = gw.tenant_fixture().await;
    let path = format!("/v1/admin/tenants/{}", f.tenant);
    let raise = json!({"rate_limits": {"per_tenant": {"per_minute": 6000000, "burst": 100000}}});
    gw.patch(&path, &f.admin, &raise).await.expect_error(403, "forbidden");
    for (body, at) in [
        (json!({"per_key": {"per_minute": 0, "burst": 5}}), "$.rate_limits.per_key.per_minute"),
        (json!({"per_key": {"per_minute": 60, "burst": 100001}}), "$.rate_limits.per_key.burst"),
        (json!({"per_tenant": {"per_minute": 6000001, "burst": 1}}), "$.rate_limits.per_tenant.per_minute"),
    ] {
        let error = gw
            .patch(&path, ADMIN_KEY, &json!({"rate_limits": body}))
            .await
            .expect_error(400, "invalid_field");
        assert_eq!(error["path"], at, "{error}");
    }
    let error = gw
        .patch(&path, ADMIN_KEY, &json!({"rate_limits": {"per_key": {"per_minute": 60}}}))
        .await
        .expect_error(400, "missing_field");
    assert_eq!(error["path"], "$.rate_limits.per_key.burst", "{error}");

    // Set, then `null` restores the default; nothing else changes.
    set_limits(&gw, &f.tenant, json!({"per_key": {"per_minute": 120, "burst": 7}})).await;
    let tenant = set_limits(&gw, &f.tenant, json!({"per_tenant": {"per_minute": 600, "burst": 50}})).await;
    assert_eq!(tenant["rate_limits"]["per_key"], json!({"per_minute": 120, "burst": 7}));
    let tenant = set_limits(&gw, &f.tenant, json!({"per_key": null})).await;
    assert_eq!(tenant["rate_limits"]["per_key"], json!({"per_minute": 3000, "burst": 100}));
    assert_eq!(tenant["rate_limits"]["per_tenant"], json!({"per_minute": 600, "burst": 50}));

    // A new tenant may start with its own limits.
    let created = gw
        .post(
            "/v1/admin/tenants",
            ADMIN_KEY,
            &json!({"id": "limited-from-the-start", "name": "Limited", "rate_limits": {"per_key": {"per_minute": 1, "burst": 1}}}),
        )
        .await
        .expect(201);
    assert_eq!(created["tenant"]["rate_limits"]["per_key"], json!({"per_minute": 1, "burst": 1}));

    // Each change is in the audit log, with the limits it set.
    let entries =
        gw.get(&format!("/v1/admin/audit?tenant={}&limit=500", f.tenant), ADMIN_KEY).await.expect(200);
    let changes =
        entries["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "tenant_updated").count();
    assert_eq!(changes, 3, "{entries}");
}

/// Two replicas share every bucket: together they let through exactly
/// what one would, and a new limit reaches both at once.
async fn replicas_share_the_buckets(backend: Backend) {
    let a = TestGateway::start(backend).await;
    let f = a.tenant_fixture().await;
    let b = a.replica(backend, |_| {}).await;
    set_limits(&a, &f.tenant, json!({"per_key": {"per_minute": 6, "burst": 6}})).await;
    // The new limit reached the other replica (a change event).
    let seen = crate::support::eventually(Duration::from_secs(5), async || {
        let keys = b.get("/v1/admin/api-keys", &f.admin).await;
        (keys.body["items"][0]["rate_limit"]["burst"] == 6).then_some(())
    })
    .await;
    assert!(seen.is_some(), "the other replica kept the old limit");
    let mut granted = 0;
    for round in 0..12 {
        let gw = if round % 2 == 0 { &a } else { &b };
        let answer = gw.declare(&f.live, approve_intent()).await;
        match answer.status.as_u16() {
            200 => granted += 1,
            429 => {}
            other => panic!("{other}: {:?}", answer.body),
        }
    }
    // Six at once, and one more every ten seconds at most.
    assert!((6..=7).contains(&granted), "{granted} granted across two replicas");
}

crate::on_both_backends!(
    live_and_shadow_keys_are_limited_and_test_keys_are_not,
    the_tenant_bucket_binds_every_credential,
    an_administrator_revokes_a_key_that_emptied_the_tenants_bucket,
    a_revoked_token_cannot_drain_its_roots_bucket,
    a_batch_costs_one_per_intent,
    an_attenuated_token_shares_its_roots_bucket,
    only_the_superadmin_sets_limits_and_bad_ones_are_refused,
);

mod replicas {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_share_the_buckets() {
        super::replicas_share_the_buckets(crate::support::Backend::Postgres).await
    }
}
