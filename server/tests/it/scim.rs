//! SCIM 2.0 provisioning, with the request sequences Okta and Entra ID
//! send (Okta's SCIM 2.0 reference and spec test; Entra ID's provisioning
//! tutorial, with and without `aadOptscim062020`): people and groups are
//! created, found, changed, deactivated and deleted; deactivating or
//! deleting a person ends their sessions and refuses their tokens; group
//! membership decides their roles.

use reqwest::Method;
use serde_json::{Value, json};

use crate::operators::{gateway_with, mappings};
use crate::support::oidc::{Browser, Provider};
use crate::support::{ADMIN_KEY, Answer, Backend, TestGateway};

const SCIM: &str = "application/scim+json";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM client of one tenant.
struct Client<'a> {
    gw: &'a TestGateway,
    token: String,
    /// What Okta's spec test sends; Entra sends `; charset=utf-8` too.
    content_type: &'static str,
}

impl Client<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .gw
            .request(method, &format!("/scim/v2{path}"))
            .bearer_auth(&self.token)
            .header("user-agent", "Okta SCIM Client 1.0.0");
        if let Some(body) = body {
            request = request.header("content-type", self.content_type).body(body.to_string());
        }
        let answer = self.gw.send(request).await;
        if !answer.body.is_null() {
            let media = answer.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert_eq!(media, SCIM, "{path}: every SCIM answer is application/scim+json");
        }
        answer
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }
}

/// The tenant's SCIM token (issued by its admin).
async fn scim_token(gw: &TestGateway, tenant: &str) -> String {
    let issued =
        gw.post(&format!("/v1/admin/tenants/{tenant}/scim-token"), ADMIN_KEY, &json!({})).await.expect(200);
    assert!(issued["base_url"].as_str().unwrap().ends_with("/scim/v2"));
    issued["token"].as_str().unwrap().to_string()
}

fn expect_scim_error(answer: Answer, status: u16) -> Value {
    assert_eq!(answer.status.as_u16(), status, "{:?}", answer.body);
    assert_eq!(answer.body["schemas"], json!([ERROR]), "{:?}", answer.body);
    assert_eq!(answer.body["status"], status.to_string(), "`status` is a string");
    answer.body
}

fn filter(expression: &str) -> String {
    form_urlencoded::byte_serialize(expression.as_bytes()).collect()
}

async fn okta_provisions_people_and_groups(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let tenant = gw.create_tenant("okta").await;
    let okta = Client {
        gw: &gw,
        token: scim_token(&gw, &tenant).await,
        content_type: "application/scim+json; charset=utf-8",
    };

    // The user does not exist yet: an empty list, not a 404.
    let lookup =
        format!("/Users?filter={}&startIndex=1&count=100", filter(r#"userName eq "test.user@okta.local""#));
    let empty = okta.get(&lookup).await.expect(200);
    assert_eq!(
        empty,
        json!({"schemas": [LIST], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );

    // Create, with what Okta sends (a password and `groups: []` included).
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    });
    let created = okta.call(Method::POST, "/Users", Some(body.clone())).await;
    let location = created.headers.get("location").unwrap().to_str().unwrap().to_string();
    let user = created.expect(201);
    let id = user["id"].as_str().unwrap().to_string();
    assert!(location.ends_with(&format!("/scim/v2/Users/{id}")), "{location}");
    assert_eq!(user["meta"]["resourceType"], "User");
    assert_eq!(user["name"]["givenName"], "Test");
    assert_eq!(user["active"], true);
    assert!(user.get("password").is_none(), "a password is never kept");
    // Okta's spec test: the list holds the user with its fields.
    let listed = okta.get("/Users?count=1&startIndex=1").await.expect(200);
    assert!(
        listed["totalResults"].is_u64() && listed["itemsPerPage"].is_u64() && listed["startIndex"].is_u64()
    );
    assert_eq!(listed["Resources"][0]["emails"][0]["value"], "test.user@okta.local");
    let read = okta.get(&format!("/Users/{id}")).await.expect(200);
    assert_eq!(read["id"], id.as_str());
    // Recreating it is a conflict; user names are unique whatever their case.
    expect_scim_error(okta.call(Method::POST, "/Users", Some(body.clone())).await, 409);
    let mut shouting = body.clone();
    shouting["userName"] = json!("TEST.USER@OKTA.LOCAL");
    let conflict = expect_scim_error(okta.call(Method::POST, "/Users", Some(shouting)).await, 409);
    assert_eq!(conflict["scimType"], "uniqueness");
    let caps = okta
        .get(&format!("/Users?filter={}", filter(r#"userName eq "TEST.USER@OKTA.LOCAL""#)))
        .await
        .expect(200);
    assert_eq!(caps["totalResults"], 1);
    let missing = expect_scim_error(okta.get("/Users/010101001010101011001010101011").await, 404);
    assert!(missing["detail"].is_string());

    // Update: Okta sends back what it read (id, meta, groups), changed.
    let mut put = read.clone();
    put["name"] = json!({"givenName": "Another", "middleName": "Excited", "familyName": "User"});
    let updated = okta.call(Method::PUT, &format!("/Users/{id}"), Some(put)).await.expect(200);
    assert_eq!(updated["name"]["middleName"], "Excited");
    // Deactivate: a PATCH without a path. The user stays readable.
    let deactivate =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let off = okta.call(Method::PATCH, &format!("/Users/{id}"), Some(deactivate)).await.expect(200);
    assert_eq!(off["active"], false);
    assert_eq!(okta.get(&format!("/Users/{id}")).await.expect(200)["active"], false);
    let reactivate =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true}}]});
    okta.call(Method::PATCH, &format!("/Users/{id}"), Some(reactivate)).await.expect(200);

    // Groups: push, members, rename (with the group's own id in the value), delete.
    let second = okta
        .call(Method::POST, "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "second@okta.local", "active": true})))
        .await
        .expect(201);
    let second_id = second["id"].as_str().unwrap();
    let group = okta
        .call(Method::POST, "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []})))
        .await
        .expect(201);
    let group_id = group["id"].as_str().unwrap().to_string();
    assert_eq!(group["meta"]["resourceType"], "Group");
    let members = json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": id, "display": "test.user@okta.local"}, {"value": second_id, "display": "second"}]},
    ]});
    assert_eq!(okta.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(members)).await.status, 204);
    let change = json!({"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": format!("members[value eq \"{second_id}\"]")},
        {"op": "add", "path": "members", "value": [{"value": id, "display": "test.user@okta.local"}]},
    ]});
    assert_eq!(okta.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(change)).await.status, 204);
    let rename = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv2 renamed"}}]});
    assert_eq!(okta.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(rename)).await.status, 204);
    let read = okta.get(&format!("/Groups/{group_id}")).await.expect(200);
    assert_eq!(read["displayName"], "Test SCIMv2 renamed");
    assert_eq!(read["members"].as_array().unwrap().len(), 1);
    assert_eq!(read["members"][0]["value"], id.as_str());
    let user = okta.get(&format!("/Users/{id}")).await.expect(200);
    assert_eq!(user["groups"][0]["display"], "Test SCIMv2 renamed");
    let paged = okta.get("/Groups?startIndex=1&count=100").await.expect(200);
    assert_eq!(paged["totalResults"], 1);
    let replace = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "members", "value": [{"value": second_id}]}]});
    okta.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(replace)).await;
    assert_eq!(okta.get(&format!("/Groups/{group_id}")).await.expect(200)["members"][0]["value"], second_id);
    assert_eq!(okta.call(Method::DELETE, &format!("/Groups/{group_id}"), None).await.status, 204);
    expect_scim_error(okta.get(&format!("/Groups/{group_id}")).await, 404);

    // Bad credentials: a SCIM error too.
    let stranger = Client { gw: &gw, token: "lictor_scim_not-a-token".into(), content_type: SCIM };
    expect_scim_error(stranger.get("/Users").await, 401);
    // Every change is in the tenant's audit log, named `scim`.
    let entries = gw
        .get(&format!("/v1/admin/audit?tenant={tenant}&kind=scim_user_created"), ADMIN_KEY)
        .await
        .expect(200);
    assert_eq!(entries["items"][0]["principal"], "scim");
    assert_eq!(gw.verify(&tenant).await["ok"], true);
}

async fn entra_provisions_people_and_groups(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let tenant = gw.create_tenant("entra").await;
    let entra = Client {
        gw: &gw,
        token: scim_token(&gw, &tenant).await,
        content_type: "application/scim+json; charset=utf-8",
    };

    // "Test Connection": a random user that does not exist.
    let probe = format!("/Users?filter={}", filter(r#"userName eq "3a1b7c1e-5f2d-4d7e-9f10-0123456789ab""#));
    assert_eq!(entra.get(&probe).await.expect(200)["totalResults"], 0);
    let created = entra
        .call(Method::POST, "/Users", Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa@contoso.com",
            "active": "True",
            "emails": [{"primary": true, "type": "work", "value": "Test_User_11bb11bb@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "title": null,
            "roles": [],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984"},
        })))
        .await
        .expect(201);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["active"], true);
    assert!(created.get("title").is_none(), "nulls are not kept");
    assert!(
        created["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"))
    );
    for lookup in [
        r#"userName eq "Test_User_00aa00aa@contoso.com""#,
        r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
        r#"emails[type eq "work"].value eq "Test_User_11bb11bb@testuser.com""#,
    ] {
        let found = entra.get(&format!("/Users?filter={}", filter(lookup))).await.expect(200);
        assert_eq!(found["totalResults"], 1, "{lookup}");
        assert_eq!(found["Resources"][0]["id"], id.as_str(), "{lookup}");
    }
    // Default mode: capitalised ops, one per attribute, `active` as a string.
    let update = json!({"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
    ]});
    let updated = entra.call(Method::PATCH, &format!("/Users/{id}"), Some(update)).await.expect(200);
    assert_eq!(updated["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(updated["emails"].as_array().unwrap().len(), 1);
    assert_eq!(updated["name"]["familyName"], "updatedFamilyName");
    assert_eq!(updated["name"]["givenName"], "givenName");
    assert_eq!(updated["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"], "42");
    assert_eq!(updated["nickName"], "Babs");
    // `aadOptscim062020` mode: one pathless op with dotted and URN keys.
    let flagged = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {
        "displayName": "Bjfe", "name.givenName": "Kkom",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq",
    }}]});
    let updated = entra.call(Method::PATCH, &format!("/Users/{id}"), Some(flagged)).await.expect(200);
    assert_eq!(updated["displayName"], "Bjfe");
    assert_eq!(updated["name"]["givenName"], "Kkom");
    assert_eq!(
        updated["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "Aklq"
    );
    let disable =
        json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    assert_eq!(
        entra.call(Method::PATCH, &format!("/Users/{id}"), Some(disable)).await.expect(200)["active"],
        false
    );
    let bad =
        json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "maybe"}]});
    assert_eq!(
        expect_scim_error(entra.call(Method::PATCH, &format!("/Users/{id}"), Some(bad)).await, 400)["scimType"],
        "invalidValue"
    );

    // Groups: created empty (with Entra's own schema URN), read without
    // members, looked up by name, members added and removed (both ways).
    let group = entra
        .call(Method::POST, "/Groups", Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Lictor Approvers",
            "meta": {"resourceType": "Group"},
        })))
        .await
        .expect(201);
    let group_id = group["id"].as_str().unwrap().to_string();
    assert_eq!(group["members"], json!([]));
    let slim = entra.get(&format!("/Groups/{group_id}?excludedAttributes=members")).await.expect(200);
    assert!(slim.get("members").is_none(), "{slim}");
    let found = entra
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            filter(r#"displayName eq "lictor approvers""#)
        ))
        .await
        .expect(200);
    assert_eq!(found["Resources"][0]["id"], group_id.as_str());
    let again = entra.call(Method::POST, "/Groups", Some(json!({"displayName": "LICTOR APPROVERS"}))).await;
    assert_eq!(expect_scim_error(again, 409)["scimType"], "uniqueness");
    let add = json!({"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}]}]});
    assert_eq!(
        entra.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(add.clone())).await.status,
        204
    );
    assert_eq!(
        entra.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(add)).await.status,
        204,
        "adding twice is harmless"
    );
    assert_eq!(
        entra.get(&format!("/Groups/{group_id}")).await.expect(200)["members"].as_array().unwrap().len(),
        1
    );
    let remove = json!({"schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}]});
    assert_eq!(entra.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(remove)).await.status, 204);
    assert_eq!(entra.get(&format!("/Groups/{group_id}")).await.expect(200)["members"], json!([]));
    let unknown = json!({"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"value": "usr_nobody"}]}]});
    expect_scim_error(entra.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(unknown)).await, 400);
    let rename = json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "displayName", "value": "Lictor Deciders"}]});
    assert_eq!(entra.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(rename)).await.status, 204);

    // Hard delete.
    assert_eq!(entra.call(Method::DELETE, &format!("/Users/{id}"), None).await.status, 204);
    expect_scim_error(entra.get(&format!("/Users/{id}")).await, 404);
    expect_scim_error(entra.call(Method::DELETE, &format!("/Users/{id}"), None).await, 404);
    assert_eq!(entra.call(Method::DELETE, &format!("/Groups/{group_id}"), None).await.status, 204);

    // Discovery.
    let config = entra.get("/ServiceProviderConfig").await.expect(200);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["filter"]["supported"], true);
    assert_eq!(entra.get("/ResourceTypes").await.expect(200)["totalResults"], 2);
    assert_eq!(entra.get("/Schemas").await.expect(200)["totalResults"], 3);
    // Malformed input is a SCIM error naming what is wrong.
    let bad_filter = entra.get(&format!("/Users?filter={}", filter(r#"userName zz "x""#))).await;
    assert_eq!(expect_scim_error(bad_filter, 400)["scimType"], "invalidFilter");
    let not_json = gw
        .send(
            gw.request(Method::POST, "/scim/v2/Users")
                .bearer_auth(&entra.token)
                .header("content-type", SCIM)
                .body("{"),
        )
        .await;
    assert_eq!(expect_scim_error(not_json, 400)["scimType"], "invalidSyntax");
    let no_name = entra.call(Method::POST, "/Users", Some(json!({"active": true}))).await;
    assert_eq!(expect_scim_error(no_name, 400)["scimType"], "invalidValue");
}

async fn scim_tokens_are_per_tenant(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let (a, b) = (gw.create_tenant("scim-a").await, gw.create_tenant("scim-b").await);
    let first = scim_token(&gw, &a).await;
    let client_a = Client { gw: &gw, token: first.clone(), content_type: SCIM };
    let user = client_a.call(Method::POST, "/Users", Some(json!({"userName": "x@a.test"}))).await.expect(201);
    let client_b = Client { gw: &gw, token: scim_token(&gw, &b).await, content_type: SCIM };
    assert_eq!(client_b.get("/Users").await.expect(200)["totalResults"], 0);
    expect_scim_error(client_b.get(&format!("/Users/{}", user["id"].as_str().unwrap())).await, 404);
    // A new token replaces the old at once.
    let second = scim_token(&gw, &a).await;
    expect_scim_error(client_a.get("/Users").await, 401);
    assert_eq!(
        Client { gw: &gw, token: second, content_type: SCIM }.get("/Users").await.expect(200)["totalResults"],
        1
    );
    // Tenant admins issue their own tenant's token, never another's; the
    // token is not in the audit log.
    let admin_b = gw.create_key(&b, "live", "admin").await;
    gw.post(&format!("/v1/admin/tenants/{a}/scim-token"), &admin_b, &json!({}))
        .await
        .expect_error(404, "not_found");
    let entries =
        gw.get(&format!("/v1/admin/audit?tenant={a}&kind=scim_token_rotated"), ADMIN_KEY).await.expect(200);
    assert_eq!(entries["items"].as_array().unwrap().len(), 2);
    let export = gw
        .request(Method::GET, &format!("/v1/admin/audit/export?tenant={a}"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        export.contains("scim_token_rotated") && !export.contains(&first),
        "a SCIM token never reaches the log"
    );
}

async fn scim_decides_who_signs_in_and_their_roles(backend: Backend) {
    let op = Provider::start().await;
    let gw = gateway_with(backend, &op).await;
    let tenant = gw.create_tenant("scim-people").await;
    let mut mapping = mappings();
    mapping.as_array_mut().unwrap().push(json!({"group": "Lictor Approvers", "role": "approver"}));
    let access = json!({"provider": "test", "role_mappings": mapping});
    gw.send(
        gw.request(Method::PUT, &format!("/v1/admin/tenants/{tenant}/operator-access"))
            .bearer_auth(ADMIN_KEY)
            .json(&access),
    )
    .await
    .expect(200);
    // Before SCIM, alice's groups claim makes her an admin.
    let (token, _) = op.tokens("alice").await;
    assert!(!gw.get("/v1/whoami", &token).await.expect(200)["grants"].as_array().unwrap().is_empty());
    // Once SCIM provisions the tenant, only its active users hold roles,
    // those of their SCIM groups.
    let scim = Client { gw: &gw, token: scim_token(&gw, &tenant).await, content_type: SCIM };
    assert_eq!(gw.get("/v1/whoami", &token).await.expect(200)["grants"], json!([]));
    let user = scim
        .call(Method::POST, "/Users", Some(json!({"userName": "Alice@Example.test", "active": true})))
        .await
        .expect(201);
    let user_id = user["id"].as_str().unwrap().to_string();
    let group = scim
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Lictor Approvers", "members": [{"value": user_id}]})),
        )
        .await
        .expect(201);
    let whoami = gw.get("/v1/whoami", &token).await.expect(200);
    assert_eq!(whoami["grants"], json!([{"tenant": tenant, "role": "approver"}]));
    let listed = gw.get(&format!("/v1/admin/operators?tenant={tenant}"), ADMIN_KEY).await.expect(200);
    assert_eq!(listed["items"][0]["roles"], json!(["approver"]));

    // She signs in; SCIM deactivates her: her session ends, her tokens go.
    let mut browser = Browser::new();
    browser.sign_in(&gw.url, "login_hint=alice").await;
    let whoami = format!("{}/v1/whoami", gw.url);
    gw.send(browser.request(Method::GET, &whoami)).await.expect(200);
    let off = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
    scim.call(Method::PATCH, &format!("/Users/{user_id}"), Some(off)).await.expect(200);
    gw.send(browser.request(Method::GET, &whoami)).await.expect_error(401, "unauthenticated");
    // Her token still names her, and holds nothing in the tenant.
    assert_eq!(gw.get("/v1/whoami", &token).await.expect(200)["grants"], json!([]));
    gw.get(&format!("/v1/admin/approvals?tenant={tenant}"), &token).await.expect_error(403, "forbidden");
    let entries = gw
        .get(&format!("/v1/admin/audit?tenant={tenant}&kind=scim_user_updated"), ADMIN_KEY)
        .await
        .expect(200);
    assert_eq!(entries["items"][0]["principal"], "scim");
    // Reactivated, she signs in again with her roles; removed from the
    // group, she holds none.
    let on = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true}}]});
    scim.call(Method::PATCH, &format!("/Users/{user_id}"), Some(on)).await.expect(200);
    // (A token issued in the same second as the cut-off is refused too.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (again, _) = op.tokens("alice").await;
    assert_eq!(
        gw.get("/v1/whoami", &again).await.expect(200)["grants"],
        json!([{"tenant": tenant, "role": "approver"}])
    );
    let leave = json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{user_id}\"]")}]});
    scim.call(Method::PATCH, &format!("/Groups/{}", group["id"].as_str().unwrap()), Some(leave)).await;
    assert_eq!(gw.get("/v1/whoami", &again).await.expect(200)["grants"], json!([]));
    // Deleting her ends what she had.
    let mut browser = Browser::new();
    browser.sign_in(&gw.url, "login_hint=alice").await;
    scim.call(Method::DELETE, &format!("/Users/{user_id}"), None).await;
    gw.send(browser.request(Method::GET, &whoami)).await.expect_error(401, "unauthenticated");
}

crate::on_both_backends!(
    okta_provisions_people_and_groups,
    entra_provisions_people_and_groups,
    scim_tokens_are_per_tenant,
    scim_decides_who_signs_in_and_their_roles,
);
