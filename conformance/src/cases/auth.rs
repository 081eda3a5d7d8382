//! Credentials: missing, malformed, agent keys on admin routes, other tenants.

use lictor_client::{ErrorCode, Gateway};

use crate::{Case, CaseFuture, Context, Group, check, curl, failed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "auth.no_credentials",
            group: Group::Auth,
            title: "an admin operation without credentials is 401 unauthenticated",
            disruptive: false,
            operations: &[],
            run: no_credentials,
        },
        Case {
            id: "auth.malformed_key",
            group: Group::Auth,
            title: "a malformed key is 401 unauthenticated",
            disruptive: false,
            operations: &[],
            run: malformed_key,
        },
        Case {
            id: "auth.agent_key_on_admin_route",
            group: Group::Auth,
            title: "an agent key on an admin operation is 403 forbidden",
            disruptive: false,
            operations: &[],
            run: agent_key_on_admin_route,
        },
        Case {
            id: "auth.rate_limits_exactly_where_configured",
            group: Group::Auth,
            title: "a live key past its tenant's rate limit is 429 rate_limited with Retry-After and RateLimit headers; a test key never is",
            disruptive: false,
            operations: &["tenant_create", "api_key_create", "intent_declare"],
            run: rate_limits_exactly_where_configured,
        },
        Case {
            id: "auth.other_tenant_is_not_found",
            group: Group::Auth,
            title: "a tenant admin asking for another tenant gets 404, not its data",
            disruptive: false,
            operations: &[],
            run: other_tenant_is_not_found,
        },
    ]
}

/// `GET /v1/admin/api-keys` with `gw`: the error code it answered.
async fn list_keys(gw: &Gateway) -> Option<(u16, ErrorCode)> {
    match gw.retrying(|| gw.api().api_key_list().send()).await {
        Ok(_) => None,
        Err(error) => error.api().map(|a| (a.status, a.error_code.clone())),
    }
}

fn expect(got: Option<(u16, ErrorCode)>, status: u16, code: ErrorCode, repro: String) -> crate::Outcome {
    check(
        got.as_ref().is_some_and(|(s, c)| *s == status && *c == code),
        || format!("want {status} {}, got {got:?}", code.as_str()),
        Some(repro),
    )
}

fn no_credentials(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let url = ctx.url().to_string();
        let repro = format!("curl -sS '{url}/v1/admin/api-keys'");
        expect(list_keys(&Gateway::new(&url)).await, 401, ErrorCode::Unauthenticated, repro)
    })
}

fn malformed_key(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let url = ctx.url().to_string();
        let key = "lictor_live_not-a-real-key";
        let repro = curl("GET", &url, "/v1/admin/api-keys", key, None::<&()>);
        expect(list_keys(&Gateway::new(&url).api_key(key)).await, 401, ErrorCode::Unauthenticated, repro)
    })
}

fn agent_key_on_admin_route(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (gw, url) = ctx.client(&ctx.live_key);
        let repro = curl("GET", &url, "/v1/admin/api-keys", &ctx.live_key, None::<&()>);
        expect(list_keys(&gw).await, 403, ErrorCode::Forbidden, repro)
    })
}

fn other_tenant_is_not_found(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (gw, url) = ctx.client(&ctx.admin_key);
        // A tenant that is not this key's (it may or may not exist: both
        // must answer the same).
        let other = "conformance-someone-else";
        let path = format!("/v1/admin/tenants/{other}");
        let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
        let got = match gw.retrying(|| gw.api().tenant_get().tenant_id(other).send()).await {
            Ok(_) => return Err(failed("another tenant was readable", path, Some(repro))),
            Err(error) => error.api().map(|a| (a.status, a.error_code.clone())),
        };
        expect(got, 404, ErrorCode::NotFound, repro)
    })
}

/// A tenant of the case's own whose keys may each make two requests at
/// once and one a minute after: the third request of a `live` key is
/// refused, on whichever replica it lands (the buckets are shared), and a
/// `test` key is never limited.
fn rate_limits_exactly_where_configured(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        use lictor_client::types;
        let root = Gateway::new(ctx.url()).api_key(ctx.superadmin_key());
        let tenant = format!("{}-limits", ctx.tenant);
        let tight = types::RateLimit {
            per_minute: std::num::NonZeroU32::MIN,
            burst: std::num::NonZeroU32::new(2).unwrap_or(std::num::NonZeroU32::MIN),
        };
        let body = types::TenantCreate {
            id: tenant.as_str().try_into().map_err(|e| failed("tenant id", e, None))?,
            name: "Lictor conformance rate limits".try_into().map_err(|e| failed("tenant name", e, None))?,
            rate_limits: Some(types::RateLimitsUpdate { per_key: Some(tight), per_tenant: None }),
        };
        let repro = curl("POST", ctx.url(), "/v1/admin/tenants", ctx.superadmin_key(), Some(&body));
        root.retrying(|| root.api().tenant_create().body(body.clone()).send())
            .await
            .map_err(|e| failed("creating the case's tenant", e, Some(repro)))?;
        let mut keys = Vec::new();
        for environment in [types::Environment::Live, types::Environment::Test] {
            let body = types::ApiKeyCreate {
                tenant: tenant.as_str().try_into().map_err(|e| failed("tenant id", e, None))?,
                environment,
                role: types::Role::Agent,
                name: "conformance rate limits".try_into().map_err(|e| failed("key name", e, None))?,
                agent_id: None,
            };
            let made = root
                .retrying(|| root.api().api_key_create().body(body.clone()).send())
                .await
                .map_err(|e| failed("creating an api key", e, None))?;
            check(
                made.api_key.rate_limit.as_ref().map(|l| l.burst.get())
                    == (environment == types::Environment::Live).then_some(2),
                || format!("the key's listing shows rate limit {:?}", made.api_key.rate_limit),
                None,
            )?;
            ctx.remember_key(made.api_key.id.to_string());
            keys.push(made.key);
        }
        let intent = serde_json::json!({"intent": {"agent": {"id": "conformance-limited"},
            "action": {"type": "access", "verb": "read"}}});
        let declare = |key: String| {
            let url = ctx.url().to_string();
            let intent = intent.clone();
            async move {
                let repro = curl("POST", &url, "/v1/intents", &key, Some(&intent));
                let response = reqwest::Client::new()
                    .post(format!("{url}/v1/intents"))
                    .bearer_auth(&key)
                    .json(&intent)
                    .send()
                    .await
                    .map_err(|e| failed("declaring an intent", e, Some(repro.clone())))?;
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                Ok::<_, crate::Failure>((status, headers, body, repro))
            }
        };
        let [live, test] = <[String; 2]>::try_from(keys).map_err(|_| failed("keys", "two expected", None))?;
        let mut statuses = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let answer = declare(live.clone()).await?;
            statuses.push(answer.0);
            last = Some(answer);
        }
        let (_, headers, body, repro) = last.ok_or_else(|| failed("declaring", "no answer", None))?;
        check(
            statuses == [200, 200, 429],
            || format!("want [200, 200, 429], got {statuses:?}"),
            Some(repro.clone()),
        )?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        check(
            body["error_code"] == "rate_limited"
                && header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s >= 1)
                && header("ratelimit-limit").as_deref() == Some("2")
                && header("ratelimit-remaining").as_deref() == Some("0"),
            || format!("want rate_limited with Retry-After and RateLimit-* headers, got {body} {headers:?}"),
            Some(repro),
        )?;
        for _ in 0..5 {
            let (status, _, body, repro) = declare(test.clone()).await?;
            check(status == 200, || format!("a test key was refused: {status} {body}"), Some(repro))?;
        }
        Ok(())
    })
}
