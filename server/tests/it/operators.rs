//! Operators are people: they sign in through a real OpenID Provider
//! (code flow with PKCE, a session cookie, CSRF on changes), or present
//! its tokens as bearers; their roles come from their groups per tenant;
//! destructive operations demand a fresh, strong sign-in; audit entries
//! name them; the two-person rule needs two of them.

use lictor_api::operators::ProviderName;
use lictor_server::operators::oidc::ProviderSettings;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::oidc::{Browser, Provider};
use crate::support::{ADMIN_KEY, Answer, Backend, TestGateway};

/// A free loopback port (free when asked).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A gateway whose people sign in with `op` (the provider `test`), reached
/// at its public URL.
pub async fn gateway_with(backend: Backend, op: &Provider) -> TestGateway {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    op.register_gateway(&url).await;
    let settings: ProviderSettings = serde_json::from_value(op.settings()).unwrap();
    TestGateway::start_with(backend, |c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.public_url = Some(url);
        c.oidc_providers = vec![(ProviderName::parse("test").unwrap(), settings)];
        c.metrics_token = Some(crate::metrics::TOKEN.into());
    })
    .await
}

/// The test's role mappings.
pub fn mappings() -> Value {
    json!([
        {"group": "lictor-admins", "role": "admin"},
        {"group": "lictor-approvers", "role": "approver"},
        {"group": "lictor-auditors", "role": "auditor"},
        {"group": "lictor-authors", "role": "policy_author"},
    ])
}

/// A tenant whose people sign in with the provider `test`, with
/// [`mappings`] and `step_up`.
pub async fn tenant_with_people(gw: &TestGateway, step_up: Value) -> String {
    let tenant = gw.create_tenant("people").await;
    gw.unthrottle(&tenant).await;
    let body = json!({"provider": "test", "role_mappings": mappings(), "step_up": step_up});
    gw.send(
        gw.request(Method::PUT, &format!("/v1/admin/tenants/{tenant}/operator-access"))
            .bearer_auth(ADMIN_KEY)
            .json(&body),
    )
    .await
    .expect(200);
    tenant
}

/// A request with a browser's session: its cookie, and its CSRF token on
/// changes.
async fn as_browser(
    gw: &TestGateway,
    browser: &Browser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = browser.request(method.clone(), &format!("{}{path}", gw.url));
    if method != Method::GET {
        let whoami =
            gw.send(browser.request(Method::GET, &format!("{}/v1/whoami", gw.url))).await.expect(200);
        let csrf = whoami["session"]["csrf_token"].as_str().unwrap().to_string();
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    gw.send(request).await
}

async fn signed_in(gw: &TestGateway, who: &str) -> Browser {
    let mut browser = Browser::new();
    let landed = browser.sign_in(&gw.url, &format!("login_hint={who}&return_to=/v1/whoami")).await;
    assert_eq!(landed, "/v1/whoami");
    browser
}

async fn people_sign_in_with_code_and_pkce(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let tenant = tenant_with_people(&gw, json!({})).await;

    let mut browser = Browser::new();
    let landed = browser.sign_in(&gw.url, "login_hint=alice&return_to=/v1/whoami").await;
    assert_eq!(landed, "/v1/whoami");
    // The authorization request went to the provider with PKCE (S256), a
    // state and a nonce.
    let authorize = browser.visited.iter().find(|u| u.starts_with(&format!("{}/auth?", op.issuer))).unwrap();
    let query: std::collections::HashMap<String, String> =
        reqwest::Url::parse(authorize).unwrap().query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert!(query["state"].len() >= 43 && query["nonce"].len() >= 43);
    assert_eq!(query["redirect_uri"], format!("{}/v1/auth/callback", gw.url));
    // The session cookie: HttpOnly, SameSite=Lax (plain HTTP: no Secure).
    assert!(browser.jar.contains_key("lictor_session"), "{:?}", browser.jar);
    assert!(!browser.jar.contains_key("lictor_login"), "the sign-in's binding cookie is cleared");

    let whoami = gw.send(browser.request(Method::GET, &format!("{}/v1/whoami", gw.url))).await.expect(200);
    assert_eq!(whoami["credential"], "session");
    let series = crate::metrics::scrape(&gw).await;
    assert_eq!(
        crate::metrics::value(&series, r#"lictor_operator_sign_ins_total{provider="test",result="ok"}"#),
        1.0
    );
    assert_eq!(whoami["person"]["subject"], "alice");
    assert_eq!(whoami["person"]["issuer"], op.issuer);
    assert_eq!(whoami["person"]["email"], "alice@example.test");
    assert_eq!(whoami["person"]["name"], "Alice Anders");
    assert_eq!(whoami["person"]["provider"], "test");
    assert_eq!(whoami["superadmin"], false);
    assert_eq!(
        whoami["grants"],
        json!([{"tenant": tenant, "role": "admin"}, {"tenant": tenant, "role": "policy_author"}])
    );
    assert!(whoami["sign_in"]["auth_time"].is_string());
    let principal = whoami["principal"].as_str().unwrap();
    assert!(principal.starts_with("session:ses_"), "{principal}");

    // Reads need no CSRF token; changes do, and from the gateway's origin.
    let agents = format!("{}/v1/agents", gw.url);
    gw.send(browser.request(Method::GET, &agents)).await.expect(200);
    let agent = json!({"id": "billing-bot", "name": "Billing", "owner": "alice@example.test"});
    gw.send(browser.request(Method::POST, &agents).json(&agent)).await.expect_error(403, "forbidden");
    let csrf = whoami["session"]["csrf_token"].as_str().unwrap();
    gw.send(browser.request(Method::POST, &agents).header("x-csrf-token", "wrong").json(&agent))
        .await
        .expect_error(403, "forbidden");
    gw.send(
        browser
            .request(Method::POST, &agents)
            .header("x-csrf-token", csrf)
            .header("origin", "https://evil.example")
            .json(&agent),
    )
    .await
    .expect_error(403, "forbidden");
    let created = gw
        .send(
            browser
                .request(Method::POST, &agents)
                .header("x-csrf-token", csrf)
                .header("origin", gw.url.as_str())
                .json(&agent),
        )
        .await
        .expect(201);
    assert_eq!(created["id"], "billing-bot");

    // The audit entry names the person beside the session.
    let entries =
        gw.get(&format!("/v1/admin/audit?tenant={tenant}&kind=agent_created"), ADMIN_KEY).await.expect(200);
    let entry = &entries["items"][0];
    assert_eq!(entry["principal"], principal);
    assert_eq!(entry["person"]["subject"], "alice");
    assert_eq!(entry["person"]["issuer"], op.issuer);
    assert_eq!(entry["person"]["email"], "alice@example.test");
    assert_eq!(gw.verify(&tenant).await["ok"], true);

    // A forged, tampered or unknown cookie is nobody.
    let mut forged = Browser::new();
    let (id, _) = browser.jar["lictor_session"].split_once('.').unwrap();
    forged.jar.insert("lictor_session".into(), format!("{id}.not-the-secret"));
    gw.send(forged.request(Method::GET, &format!("{}/v1/whoami", gw.url)))
        .await
        .expect_error(401, "unauthenticated");

    // Signing out ends the session (CSRF token required), clears the
    // cookie and says where to sign out of the provider.
    let logout = format!("{}/v1/auth/logout", gw.url);
    let refused = gw.send(browser.request(Method::POST, &logout)).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let response = browser.request(Method::POST, &logout).header("x-csrf-token", csrf).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let old_cookie = browser.jar["lictor_session"].clone();
    browser.keep(&response);
    assert!(!browser.jar.contains_key("lictor_session"));
    let out: Value = response.json().await.unwrap();
    assert_eq!(out["ended"], true);
    let end = out["end_session_url"].as_str().unwrap();
    assert!(end.starts_with(&format!("{}/session/end?", op.issuer)), "{end}");
    assert!(end.contains("post_logout_redirect_uri="), "{end}");
    browser.jar.insert("lictor_session".into(), old_cookie);
    gw.send(browser.request(Method::GET, &format!("{}/v1/whoami", gw.url)))
        .await
        .expect_error(401, "unauthenticated");
    browser.jar.remove("lictor_session");

    // The browser signs out of the provider too (RP-initiated logout: its
    // confirmation form, posted), and lands back on the gateway.
    let end = end.to_string();
    let form = browser.get(&end).await.text().await.unwrap();
    let action = regex::Regex::new(r#"action="([^"]+)""#).unwrap().captures(&form).unwrap()[1].to_string();
    let fields: Vec<(String, String)> =
        regex::Regex::new(r#"<input type="hidden" name="([^"]+)" value="([^"]*)""#)
            .unwrap()
            .captures_iter(&form)
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect();
    let action = reqwest::Url::parse(&end).unwrap().join(&action).unwrap();
    let posted = browser.request(Method::POST, action.as_str()).form(&fields).send().await.unwrap();
    browser.keep(&posted);
    let next =
        reqwest::Url::parse(&end).unwrap().join(posted.headers()["location"].to_str().unwrap()).unwrap();
    let back = browser.follow(next.as_str(), |url| url.starts_with(&gw.url)).await;
    assert_eq!(back, format!("{}/", gw.url));
    // Signed out there: a silent sign-in (`prompt=none`) is refused.
    let silent = reqwest::Url::parse_with_params(
        &format!("{}/auth", op.issuer),
        &[
            ("response_type", "code"),
            ("client_id", crate::support::oidc::CLIENT_ID),
            ("redirect_uri", &format!("{}/v1/auth/callback", gw.url)),
            ("scope", "openid"),
            ("prompt", "none"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let landed = browser.follow(silent.as_str(), |url| url.starts_with(&gw.url)).await;
    assert!(landed.contains("error=login_required"), "{landed}");
}

async fn sign_in_refuses_what_it_did_not_start(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    // A callback without the browser that began the sign-in.
    let mut browser = Browser::new();
    let start = format!("{}/v1/auth/login?login_hint=alice", gw.url);
    let callback = format!("{}/v1/auth/callback", gw.url);
    let at_callback = browser.follow(&start, |url| url.starts_with(&callback)).await;
    let other = Browser::new();
    let answer = gw.send(other.request(Method::GET, &at_callback)).await;
    assert_eq!(answer.status, 401, "{:?}", answer.body);
    // The state is used once: the right browser now gets nothing either.
    let again = gw.send(browser.request(Method::GET, &at_callback)).await;
    assert_eq!(again.status, 401, "{:?}", again.body);
    // A provider's refusal is an error, not a session.
    op.next_login(json!({"sub": "alice", "deny": true})).await;
    let mut denied = Browser::new();
    let at_callback = denied.follow(&start, |url| url.starts_with(&callback)).await;
    assert!(at_callback.contains("error=access_denied"), "{at_callback}");
    let answer = gw.send(denied.request(Method::GET, &at_callback)).await;
    assert_eq!(answer.status, 401);
    assert!(!denied.jar.contains_key("lictor_session"));
    // Only paths of the gateway are places to return to.
    for bad in ["https://evil.example/", "//evil.example/", "/\\evil.example"] {
        let url =
            reqwest::Url::parse_with_params(&format!("{}/v1/auth/login", gw.url), &[("return_to", bad)])
                .unwrap();
        let answer = gw.send(reqwest::Client::new().get(url)).await;
        assert_eq!(answer.status, 400, "{bad}: {:?}", answer.body);
        assert_eq!(answer.body["parameter"], "return_to");
    }
}

async fn bearer_tokens_act_as_their_person(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let tenant = tenant_with_people(&gw, json!({})).await;
    let (access, id_token) = op.tokens("carol").await;
    for token in [&access, &id_token] {
        let whoami = gw.get("/v1/whoami", token).await.expect(200);
        assert_eq!(whoami["credential"], "bearer_token");
        assert_eq!(whoami["person"]["subject"], "carol");
        assert_eq!(whoami["grants"], json!([{"tenant": tenant, "role": "auditor"}]));
    }
    // An auditor reads, and changes nothing.
    gw.get("/v1/admin/audit", &access).await.expect(200);
    gw.get(&format!("/v1/admin/audit/verify?tenant={tenant}"), &access).await.expect(200);
    gw.post(
        "/v1/admin/api-keys",
        &access,
        &json!({"tenant": tenant, "environment": "live", "role": "agent", "name": "x"}),
    )
    .await
    .expect_error(403, "forbidden");
    gw.post("/v1/agents", &access, &json!({"id": "a", "name": "A", "owner": "o"}))
        .await
        .expect_error(403, "forbidden");
    // Another tenant is not theirs.
    let other = gw.create_tenant("other").await;
    gw.get(&format!("/v1/agents?tenant={other}"), &access).await.expect_error(404, "not_found");

    // The provider rotates its keys: tokens signed with the new one verify
    // once the gateway refetched the key set (at most once every 5 s,
    // however many unknown keys it is shown).
    op.rotate_keys(false).await;
    let (rotated, _) = op.tokens("carol").await;
    let verified = crate::support::eventually(std::time::Duration::from_secs(15), async || {
        (gw.get("/v1/whoami", &rotated).await.status == 200).then_some(())
    })
    .await;
    assert!(verified.is_some(), "a token signed with the new key never verified");
    gw.get("/v1/whoami", &access).await.expect(200);

    // An ID token issued to another client is not for the gateway; its
    // access token, for the gateway's API, is.
    let (foreign_access, foreign_id) = op.foreign_tokens("carol").await;
    gw.get("/v1/whoami", &foreign_id).await.expect_error(401, "unauthenticated");
    gw.get("/v1/whoami", &foreign_access).await.expect(200);
    // A tampered token is refused.
    let mut parts: Vec<String> = access.split('.').map(str::to_string).collect();
    parts[2] = parts[2].chars().rev().collect();
    gw.get("/v1/whoami", &parts.join(".")).await.expect_error(401, "unauthenticated");
    // An email the provider says it did not verify names nobody for SCIM,
    // and is not shown.
    let (_, dave) = op.tokens("dave").await;
    let whoami = gw.get("/v1/whoami", &dave).await.expect(200);
    assert!(
        whoami["person"].get("email").is_none() && whoami["person"].get("username").is_none(),
        "{whoami}"
    );
}

async fn roles_decide_what_people_may_do(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let tenant = tenant_with_people(&gw, json!({})).await;
    let admin = gw.create_key(&tenant, "live", "admin").await;
    gw.create_agent(&admin, "agent-1", None).await;
    let live = gw.create_key(&tenant, "live", "agent").await;
    let escalated = gw.declare(&live, crate::support::escalate_intent()).await.expect(200);
    let approval = escalated["approval"]["approval_id"].as_str().unwrap().to_string();

    let (bob, _) = op.tokens("bob").await; // approver + policy author
    let (carol, _) = op.tokens("carol").await; // auditor
    // The approver decides approvals, the auditor does not.
    if !approval.is_empty() {
        let decide = format!("/v1/admin/approvals/{approval}/decide");
        gw.post(&decide, &carol, &json!({"decision": "approve"})).await.expect_error(403, "forbidden");
        let decided = gw.post(&decide, &bob, &json!({"decision": "approve", "note": "ok"})).await.expect(200);
        assert_eq!(decided["status"], "approved");
        let entries = gw
            .get(&format!("/v1/admin/audit?tenant={tenant}&kind=approval_decision"), ADMIN_KEY)
            .await
            .expect(200);
        assert_eq!(entries["items"][0]["person"]["subject"], "bob");
    }
    // The policy author writes drafts; the auditor reads them.
    gw.post(
        "/v1/admin/policies/drafts",
        &bob,
        &json!({"name": "p", "modules": {"strict.rego": crate::policies::STRICT}}),
    )
    .await
    .expect(201);
    gw.get("/v1/admin/policies/drafts", &carol).await.expect(200);
    gw.post("/v1/admin/policies/drafts", &carol, &json!({"name": "p", "modules": {}}))
        .await
        .expect_error(403, "forbidden");
    // Nobody but an admin touches keys and integrations.
    gw.post(
        "/v1/admin/api-keys",
        &bob,
        &json!({"tenant": tenant, "environment": "live", "role": "agent", "name": "x"}),
    )
    .await
    .expect_error(403, "forbidden");
    gw.get("/v1/admin/integrations", &bob).await.expect_error(403, "forbidden");
    // A person with roles nowhere is forbidden, and no tenant is theirs.
    let (dave_less, _) = op.tokens("root").await;
    let whoami = gw.get("/v1/whoami", &dave_less).await.expect(200);
    assert_eq!(whoami["superadmin"], true, "root is in the superadmin group");
    gw.post("/v1/admin/tenants", &dave_less, &json!({"id": "made-by-root", "name": "R"})).await.expect(201);
}

async fn destructive_operations_need_a_fresh_strong_sign_in(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let tenant =
        tenant_with_people(&gw, json!({"max_age_seconds": 60, "acr_values": ["urn:example:loa:2"]})).await;

    // Signed in at the weaker class: reads work, a rollback does not.
    let mut browser = Browser::new();
    browser.sign_in(&gw.url, "login_hint=alice&acr_values=urn:example:loa:1").await;
    as_browser(&gw, &browser, Method::GET, "/v1/admin/policies/active", None).await.expect(200);
    let refused =
        as_browser(&gw, &browser, Method::POST, "/v1/admin/policies/rollback", Some(json!({}))).await;
    let body = refused.expect_error(401, "step_up_required");
    assert_eq!(body["step_up"]["acr_values"], json!(["urn:example:loa:2"]));
    assert_eq!(body["step_up"]["max_age_seconds"], 60);
    let login_url = body["step_up"]["login_url"].as_str().unwrap().to_string();
    let series = crate::metrics::scrape(&gw).await;
    assert_eq!(
        crate::metrics::value(&series, r#"lictor_step_ups_required_total{operation="policy_rollback"}"#),
        1.0
    );
    assert!(login_url.starts_with("/v1/auth/login?provider=test&max_age=0&acr_values="), "{login_url}");

    // Re-authenticating as the challenge says passes step-up (the rollback
    // itself then has nothing to restore: 409).
    browser.sign_in(&gw.url, &format!("{}&login_hint=alice", login_url.split_once('?').unwrap().1)).await;
    let whoami = as_browser(&gw, &browser, Method::GET, "/v1/whoami", None).await.expect(200);
    assert_eq!(whoami["sign_in"]["acr"], "urn:example:loa:2");
    as_browser(&gw, &browser, Method::POST, "/v1/admin/policies/rollback", Some(json!({})))
        .await
        .expect_error(409, "conflict");

    // An old authentication (backdated at the provider) is not fresh.
    let long_ago = chrono::Utc::now().timestamp() - 3600;
    op.next_login(json!({"sub": "alice", "acr": "urn:example:loa:2", "ts": long_ago})).await;
    let (stale, _) = op.tokens_with("alice", &[("acr_values", "urn:example:loa:2")]).await;
    let answer = gw.post(&format!("/v1/admin/tenants/{tenant}/webhook-secret"), &stale, &json!({})).await;
    let body = answer.expect_error(401, "step_up_required");
    assert!(body["message"].as_str().unwrap().contains("authenticated"), "{body}");
    let (fresh, _) = op.tokens_with("alice", &[("acr_values", "urn:example:loa:2")]).await;
    gw.post(&format!("/v1/admin/tenants/{tenant}/webhook-secret"), &fresh, &json!({})).await.expect(200);

    // Keys are exempt by default; a tenant may refuse them.
    let admin = gw.create_key(&tenant, "live", "admin").await;
    gw.post(&format!("/v1/admin/tenants/{tenant}/webhook-secret"), &admin, &json!({})).await.expect(200);
    let body = json!({"provider": "test", "role_mappings": mappings(), "step_up": {"api_keys": "refused"}});
    gw.send(
        gw.request(Method::PUT, &format!("/v1/admin/tenants/{tenant}/operator-access"))
            .bearer_auth(&fresh)
            .json(&body),
    )
    .await
    .expect(200);
    let answer = gw.post(&format!("/v1/admin/tenants/{tenant}/webhook-secret"), &admin, &json!({})).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error_code"], "step_up_required");
    assert!(
        answer
            .headers
            .get("www-authenticate")
            .is_some_and(|v| v.to_str().unwrap().contains("insufficient_user_authentication"))
    );

    // A `step_up` token carries the person's own authentication time.
    gw.create_agent(&fresh, "billing-bot", None).await;
    let minted = gw
        .post(
            &format!("/v1/admin/mint?tenant={tenant}"),
            &fresh,
            &json!({"subject": "billing-bot", "ttl_seconds": 600, "step_up": true}),
        )
        .await
        .expect(201);
    assert!(minted["token"].as_str().unwrap().starts_with("lictor_cap1"));
}

async fn two_person_rule_needs_two_people(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let tenant = tenant_with_people(&gw, json!({})).await;
    gw.patch(&format!("/v1/admin/tenants/{tenant}"), ADMIN_KEY, &json!({"policy_two_person_rule": true}))
        .await
        .expect(200);
    let (alice, _) = op.tokens("alice").await;
    let (bob, _) = op.tokens("bob").await;
    let draft = gw
        .post(
            &format!("/v1/admin/policies/drafts?tenant={tenant}"),
            &alice,
            &json!({"name": "two people", "modules": {"strict.rego": crate::policies::STRICT}}),
        )
        .await
        .expect(201);
    let proposed = gw
        .post(
            &format!("/v1/admin/policies/active?tenant={tenant}"),
            &alice,
            &json!({"draft_id": draft["id"], "expected_hash": draft["bundle_hash"]}),
        )
        .await
        .expect(200);
    let approve = format!(
        "/v1/admin/policies/proposals/{}/approve?tenant={tenant}",
        proposed["proposal"]["id"].as_str().unwrap()
    );
    // Alice again, through another credential: her session, or a key she made.
    let browser = signed_in(&gw, "alice").await;
    as_browser(&gw, &browser, Method::POST, &approve, Some(json!({}))).await.expect_error(403, "forbidden");
    let key = gw
        .post(
            "/v1/admin/api-keys",
            &alice,
            &json!({"tenant": tenant, "environment": "live", "role": "admin", "name": "alice-ci"}),
        )
        .await
        .expect(201);
    assert_eq!(key["api_key"]["person"]["subject"], "alice");
    let alices_key = key["key"].as_str().unwrap();
    gw.post(&approve, alices_key, &json!({})).await.expect_error(403, "forbidden");
    // A key made by that key still acts for her.
    let grandchild = gw
        .post(
            "/v1/admin/api-keys",
            alices_key,
            &json!({"tenant": tenant, "environment": "live", "role": "admin", "name": "x"}),
        )
        .await
        .expect(201);
    gw.post(&approve, grandchild["key"].as_str().unwrap(), &json!({})).await.expect_error(403, "forbidden");
    // Bob is someone else.
    let approved = gw.post(&approve, &bob, &json!({})).await.expect(200);
    assert_eq!(approved["outcome"], "promoted");
    let entries =
        gw.get(&format!("/v1/admin/audit?tenant={tenant}&kind=policy_promoted"), ADMIN_KEY).await.expect(200);
    assert_eq!(entries["items"][0]["person"]["subject"], "bob");
}

async fn approvals_above_the_tenants_exposure_need_a_step_up(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let tenant = tenant_with_people(&gw, json!({"max_age_seconds": 60, "approval_exposure_usd": 2000})).await;
    let admin = gw.create_key(&tenant, "live", "admin").await;
    gw.create_agent(&admin, "agent-1", None).await;
    let live = gw.create_key(&tenant, "live", "agent").await;
    let escalate = |usd: u64| {
        crate::support::intent(json!({
            "type": "transact", "verb": "pay",
            "payload": {"estimated_impact": {"reversible": false, "financial_exposure_usd": usd}}
        }))
    };
    let high = gw.declare(&live, escalate(2500)).await.expect(200);
    let low = gw.declare(&live, escalate(1500)).await.expect(200);
    let decide = |decision: &Value| {
        format!("/v1/admin/approvals/{}/decide", decision["approval"]["approval_id"].as_str().unwrap())
    };
    // Bob authenticated an hour ago.
    op.next_login(json!({"sub": "bob", "ts": chrono::Utc::now().timestamp() - 3600})).await;
    let (stale, _) = op.tokens("bob").await;
    gw.post(&decide(&low), &stale, &json!({"decision": "approve"})).await.expect(200);
    let refused = gw
        .post(&decide(&high), &stale, &json!({"decision": "approve"}))
        .await
        .expect_error(401, "step_up_required");
    assert_eq!(refused["step_up"]["max_age_seconds"], 60);
    let (fresh, _) = op.tokens("bob").await;
    gw.post(&decide(&high), &fresh, &json!({"decision": "approve"})).await.expect(200);
}

async fn a_person_in_several_tenants_names_one(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let first = tenant_with_people(&gw, json!({})).await;
    let second = tenant_with_people(&gw, json!({})).await;
    let (carol, _) = op.tokens("carol").await;
    let whoami = gw.get("/v1/whoami", &carol).await.expect(200);
    assert_eq!(whoami["grants"].as_array().unwrap().len(), 2);
    let answer = gw.get("/v1/admin/audit", &carol).await.expect_error(400, "invalid_parameter");
    assert_eq!(answer["parameter"], "tenant");
    gw.get(&format!("/v1/admin/audit?tenant={first}"), &carol).await.expect(200);
    gw.get(&format!("/v1/admin/audit?tenant={second}"), &carol).await.expect(200);
    let tenants = gw.get("/v1/admin/tenants", &carol).await.expect(200);
    let mut listed: Vec<&str> =
        tenants["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    listed.sort();
    let mut want = vec![first.as_str(), second.as_str()];
    want.sort();
    assert_eq!(listed, want, "only the tenants where she holds a role");
    // Her roles in one tenant are hers there only: the first drops her.
    let body = json!({"provider": "test", "role_mappings": [{"group": "lictor-admins", "role": "admin"}]});
    gw.send(
        gw.request(Method::PUT, &format!("/v1/admin/tenants/{first}/operator-access"))
            .bearer_auth(ADMIN_KEY)
            .json(&body),
    )
    .await
    .expect(200);
    gw.get(&format!("/v1/admin/audit?tenant={first}"), &carol).await.expect_error(404, "not_found");
    gw.get("/v1/admin/audit", &carol).await.expect(200);
}

async fn ending_a_persons_sessions_cuts_them_off_in_that_tenant(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let first = tenant_with_people(&gw, json!({})).await;
    let second = tenant_with_people(&gw, json!({})).await;
    let browser = signed_in(&gw, "carol").await;
    let (token, _) = op.tokens("carol").await;
    let admin = gw.create_key(&first, "live", "admin").await;
    let ended = gw
        .post(
            &format!("/v1/admin/operators/end-sessions?tenant={first}"),
            &admin,
            &json!({"subject": "carol"}),
        )
        .await
        .expect(200);
    assert_eq!(ended["ended"], 1);
    gw.send(browser.request(Method::GET, &format!("{}/v1/whoami", gw.url)))
        .await
        .expect_error(401, "unauthenticated");
    // Her token holds nothing in that tenant any more, and still holds the
    // other tenant's role: that tenant did not cut her off.
    let whoami = gw.get("/v1/whoami", &token).await.expect(200);
    assert_eq!(whoami["grants"], json!([{"tenant": second, "role": "auditor"}]));
    gw.get(&format!("/v1/admin/audit?tenant={first}"), &token).await.expect_error(404, "not_found");
    // A token issued later is hers again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (later, _) = op.tokens("carol").await;
    gw.get(&format!("/v1/admin/audit?tenant={first}"), &later).await.expect(200);
    // Another tenant's admin cannot reach her sessions through this tenant.
    let entries = gw
        .get(&format!("/v1/admin/audit?tenant={first}&kind=operator_sessions_ended"), ADMIN_KEY)
        .await
        .expect(200);
    assert_eq!(entries["items"][0]["principal"].as_str().unwrap().split(':').next(), Some("key"));
    gw.post(
        &format!("/v1/admin/operators/end-sessions?tenant={first}"),
        &admin,
        &json!({"subject": "carol", "user_name": "c"}),
    )
    .await
    .expect_error(400, "invalid_field");
}

async fn a_person_does_not_decide_for_their_own_agent(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let tenant = tenant_with_people(&gw, json!({})).await;
    let (alice, _) = op.tokens("alice").await;
    let (bob, _) = op.tokens("bob").await;
    gw.create_agent(&alice, "agent-1", None).await;
    let made = gw
        .post(
            "/v1/admin/api-keys",
            &alice,
            &json!({"tenant": tenant, "environment": "live", "role": "agent", "name": "alices-agent"}),
        )
        .await
        .expect(201);
    let escalated =
        gw.declare(made["key"].as_str().unwrap(), crate::support::escalate_intent()).await.expect(200);
    let decide =
        format!("/v1/admin/approvals/{}/decide", escalated["approval"]["approval_id"].as_str().unwrap());
    let refused =
        gw.post(&decide, &alice, &json!({"decision": "approve"})).await.expect_error(403, "forbidden");
    assert!(refused["message"].as_str().unwrap().contains("another person"), "{refused}");
    gw.post(&decide, &bob, &json!({"decision": "approve"})).await.expect(200);
}

crate::on_both_backends!(
    a_person_does_not_decide_for_their_own_agent,
    ending_a_persons_sessions_cuts_them_off_in_that_tenant,
    approvals_above_the_tenants_exposure_need_a_step_up,
    a_person_in_several_tenants_names_one,
    people_sign_in_with_code_and_pkce,
    sign_in_refuses_what_it_did_not_start,
    bearer_tokens_act_as_their_person,
    roles_decide_what_people_may_do,
    destructive_operations_need_a_fresh_strong_sign_in,
    two_person_rule_needs_two_people,
);

/// A provider a real one would never be: discovery and keys served by a
/// stand-in, tokens signed by the test (with the provider's key, or not).
mod forged {
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use lictor_api::operators::ProviderName;
    use lictor_server::operators::oidc::ProviderSettings;
    use serde_json::{Value, json};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::support::{Backend, TestGateway};

    struct Key {
        kid: String,
        encoding: EncodingKey,
        jwk: Value,
    }

    fn key(kid: &str) -> Key {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = pair.public_key_raw();
        let (x, y) = raw[1..].split_at(32);
        Key {
            kid: kid.to_string(),
            encoding: EncodingKey::from_ec_der(&pair.serialize_der()),
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)}),
        }
    }

    async fn discovery(server: &MockServer, issuer: &str) {
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{}/authorize", server.uri()),
                "token_endpoint": format!("{}/token", server.uri()),
                "jwks_uri": format!("{}/jwks", server.uri()),
            })))
            .mount(server)
            .await;
    }

    async fn serve_keys(server: &MockServer, keys: &[&Key]) {
        server.reset().await;
        discovery(server, &server.uri()).await;
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})),
            )
            .mount(server)
            .await;
    }

    fn claims(server: &MockServer, overrides: Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({"iss": server.uri(), "sub": "mallory", "aud": "api://lictor", "iat": now, "exp": now + 300,
                                 "auth_time": now, "groups": ["lictor-admins"]});
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn sign(key: &Key, typ: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
    }

    fn unsigned(header: Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    async fn gateway(backend: Backend, server: &MockServer) -> TestGateway {
        let settings: ProviderSettings = serde_json::from_value(json!({
            "issuer": server.uri(), "client_id": "lictor", "audiences": ["api://lictor"],
        }))
        .unwrap();
        TestGateway::start_with(backend, |c| {
            c.oidc_providers = vec![(ProviderName::parse("mock").unwrap(), settings)];
            c.public_url = Some("http://127.0.0.1:9".into());
        })
        .await
    }

    async fn status(gw: &TestGateway, token: &str) -> (u16, String) {
        let answer = gw.get("/v1/whoami", token).await;
        (answer.status.as_u16(), answer.body["message"].as_str().unwrap_or_default().to_string())
    }

    async fn tokens_a_provider_would_not_issue_are_refused(backend: Backend) {
        let server = MockServer::start().await;
        let (good, other) = (key("good"), key("other"));
        serve_keys(&server, &[&good]).await;
        let gw = gateway(backend, &server).await;
        assert_eq!(status(&gw, &sign(&good, "at+jwt", &claims(&server, json!({})))).await.0, 200);

        let forged = [
            ("signed by another key under the good kid", {
                let mut k = key("good");
                k.kid = "good".into();
                sign(&k, "at+jwt", &claims(&server, json!({})))
            }),
            (
                "alg none",
                unsigned(
                    json!({"alg": "none", "typ": "at+jwt", "kid": "good"}),
                    &claims(&server, json!({})),
                    b"",
                ),
            ),
            ("HS256 with the public key as its secret", {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some("good".into());
                header.typ = Some("at+jwt".into());
                let secret = serde_json::to_vec(&good.jwk).unwrap();
                jsonwebtoken::encode(
                    &header,
                    &claims(&server, json!({})),
                    &EncodingKey::from_secret(&secret).unwrap(),
                )
                .unwrap()
            }),
            (
                "expired",
                sign(&good, "at+jwt", &claims(&server, json!({"exp": chrono::Utc::now().timestamp() - 600}))),
            ),
            (
                "not yet valid",
                sign(&good, "at+jwt", &claims(&server, json!({"nbf": chrono::Utc::now().timestamp() + 600}))),
            ),
            (
                "issued in the future",
                sign(&good, "at+jwt", &claims(&server, json!({"iat": chrono::Utc::now().timestamp() + 600}))),
            ),
            (
                "for another audience",
                sign(&good, "at+jwt", &claims(&server, json!({"aud": "api://elsewhere"}))),
            ),
            (
                "from another issuer",
                sign(&good, "at+jwt", &claims(&server, json!({"iss": "https://evil.example"}))),
            ),
            ("without a subject", sign(&good, "at+jwt", &claims(&server, json!({"sub": null})))),
            (
                "an ID token of another client",
                sign(&good, "JWT", &claims(&server, json!({"aud": "someone-else"}))),
            ),
            ("an access token typed as an ID token", sign(&good, "JWT", &claims(&server, json!({})))),
            ("an unknown typ", sign(&good, "secevent+jwt", &claims(&server, json!({})))),
            ("an unknown key", sign(&other, "at+jwt", &claims(&server, json!({})))),
        ];
        for (what, token) in &forged {
            let (code, message) = status(&gw, token).await;
            assert_eq!(code, 401, "{what}: {message}");
        }

        // Unknown kids: one key-set fetch at most every 5 s, however many.
        let before =
            server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/jwks").count();
        for i in 0..20 {
            let stranger = key(&format!("stranger-{i}"));
            assert_eq!(status(&gw, &sign(&stranger, "at+jwt", &claims(&server, json!({})))).await.0, 401);
        }
        let after =
            server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/jwks").count();
        assert!(after - before <= 1, "{} key-set fetches for 20 unknown kids", after - before);

        // The provider down: known keys keep verifying; new ones cannot be
        // fetched.
        server.reset().await;
        Mock::given(method("GET")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
        tokio::time::sleep(Duration::from_millis(5100)).await;
        assert_eq!(status(&gw, &sign(&good, "at+jwt", &claims(&server, json!({})))).await.0, 200);
        let newcomer = key("newcomer");
        let (code, _) = status(&gw, &sign(&newcomer, "at+jwt", &claims(&server, json!({})))).await;
        assert!(code == 401 || code == 502, "{code}");
    }

    async fn a_provider_naming_another_issuer_is_not_trusted(backend: Backend) {
        let server = MockServer::start().await;
        discovery(&server, "https://evil.example").await;
        let good = key("good");
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [good.jwk]})))
            .mount(&server)
            .await;
        let gw = gateway(backend, &server).await;
        let answer = gw.get("/v1/whoami", &sign(&good, "at+jwt", &claims(&server, json!({})))).await;
        assert_eq!(answer.status, 502, "{:?}", answer.body);
        assert_eq!(answer.body["error_code"], "upstream_unavailable");
    }

    crate::on_both_backends!(
        tokens_a_provider_would_not_issue_are_refused,
        a_provider_naming_another_issuer_is_not_trusted
    );
}
