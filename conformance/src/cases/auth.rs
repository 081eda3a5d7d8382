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
