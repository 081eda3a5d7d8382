//! Operators: who the credentials are, a tenant's operator access (who
//! signs in, with which roles, what destructive operations need), its
//! SCIM token, its people.
//!
//! Signing in needs the deployment's identity provider, which the suite
//! does not have: the case checks what keys see and may do.

use serde_json::json;

use crate::{Case, CaseFuture, Context, Group, check, raw};

pub(super) fn cases() -> Vec<Case> {
    vec![Case {
        id: "operators.access_is_the_tenants",
        group: Group::Operators,
        title: "whoami names the key and its role; a tenant's operator access is read, replaced and checked; its SCIM token opens its SCIM service",
        disruptive: false,
        operations: &[
            "whoami_get",
            "operator_access_get",
            "operator_access_put",
            "operator_list",
            "operator_sessions_end",
            "scim_token_rotate",
        ],
        run: access_is_the_tenants,
    }]
}

fn access_is_the_tenants(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (status, me, repro) = raw(ctx, "GET", "/v1/whoami", &ctx.admin_key, None::<&()>).await?;
        check(
            status == 200
                && me["credential"] == "api_key"
                && me["grants"] == json!([{"tenant": ctx.tenant, "role": "admin"}])
                && me["principal"].as_str().is_some_and(|p| p.starts_with("key:"))
                && me["superadmin"] == false,
            || format!("whoami with the tenant's admin key: {status} {me}"),
            Some(repro),
        )?;
        let (status, me, repro) = raw(ctx, "GET", "/v1/whoami", &ctx.live_key, None::<&()>).await?;
        check(
            status == 200 && me["grants"][0]["role"] == "agent" && me["environment"] == "live",
            || format!("whoami with an agent key: {status} {me}"),
            Some(repro),
        )?;

        let path = format!("/v1/admin/tenants/{}/operator-access", ctx.tenant);
        let (status, access, repro) = raw(ctx, "GET", &path, &ctx.admin_key, None::<&()>).await?;
        check(
            status == 200
                && access["tenant"] == ctx.tenant.as_str()
                && access["step_up"]["max_age_seconds"].is_u64()
                && access["step_up"]["api_keys"].is_string()
                && access["role_mappings"].is_array()
                && access["scim"].is_boolean(),
            || format!("operator access: {status} {access}"),
            Some(repro),
        )?;
        let body = json!({
            "role_mappings": [{"group": "conformance-auditors", "role": "auditor"}],
            "step_up": {"max_age_seconds": 600, "amr_values": ["mfa"]},
        });
        let (status, set, repro) = raw(ctx, "PUT", &path, &ctx.admin_key, Some(&body)).await?;
        check(
            status == 200
                && set["role_mappings"] == body["role_mappings"]
                && set["step_up"]["max_age_seconds"] == 600
                && set["step_up"]["amr_values"] == json!(["mfa"]),
            || format!("replacing operator access: {status} {set}"),
            Some(repro),
        )?;
        let unknown = json!({"provider": "conformance-no-such-provider"});
        let (status, refused, repro) = raw(ctx, "PUT", &path, &ctx.admin_key, Some(&unknown)).await?;
        check(
            status == 400 && refused["error_code"] == "invalid_field" && refused["path"] == "$.provider",
            || format!("a provider the deployment does not have: {status} {refused}"),
            Some(repro),
        )?;
        let (status, refused, repro) = raw(ctx, "PUT", &path, &ctx.other_admin_key, Some(&body)).await?;
        check(
            status == 404,
            || format!("another tenant's admin replacing it: {status} {refused}"),
            Some(repro),
        )?;
        let (status, refused, repro) = raw(ctx, "PUT", &path, &ctx.live_key, Some(&body)).await?;
        check(status == 403, || format!("an agent key replacing it: {status} {refused}"), Some(repro))?;

        let list = format!("/v1/admin/operators?tenant={}", ctx.tenant);
        let (status, people, repro) = raw(ctx, "GET", &list, &ctx.admin_key, None::<&()>).await?;
        check(
            status == 200 && people["tenant"] == ctx.tenant.as_str() && people["items"].is_array(),
            || format!("the tenant's operators: {status} {people}"),
            Some(repro),
        )?;
        let end = format!("/v1/admin/operators/end-sessions?tenant={}", ctx.tenant);
        let (status, refused, repro) =
            raw(ctx, "POST", &end, &ctx.admin_key, Some(&json!({"subject": "someone"}))).await?;
        check(
            status == 400 && refused["error_code"] == "invalid_parameter" && refused["parameter"] == "tenant",
            || format!("ending sessions in a tenant without an identity provider: {status} {refused}"),
            Some(repro),
        )?;
        let (status, refused, repro) =
            raw(ctx, "POST", &end, &ctx.admin_key, Some(&json!({"subject": "a", "user_name": "b"}))).await?;
        check(status == 400, || format!("naming two people at once: {status} {refused}"), Some(repro))?;

        let rotate = format!("/v1/admin/tenants/{}/scim-token", ctx.tenant);
        let (status, issued, repro) = raw(ctx, "POST", &rotate, &ctx.admin_key, Some(&json!({}))).await?;
        let token = issued["token"].as_str().unwrap_or_default().to_string();
        check(
            status == 200
                && token.starts_with("lictor_scim_")
                && issued["base_url"].as_str().is_some_and(|u| u.ends_with("/scim/v2")),
            || format!("issuing the SCIM token: {status} {issued}"),
            Some(repro),
        )?;
        let (status, users, repro) = raw(ctx, "GET", "/scim/v2/Users", &token, None::<&()>).await?;
        check(
            status == 200 && users["totalResults"].is_u64(),
            || format!("the SCIM service with its token: {status} {users}"),
            Some(repro),
        )?;
        let (status, _, repro) = raw(ctx, "GET", "/scim/v2/Users", &ctx.admin_key, None::<&()>).await?;
        check(status == 401, || format!("the SCIM service with an admin key: {status}"), Some(repro))?;

        // Back to the defaults.
        let (status, _, repro) = raw(ctx, "PUT", &path, &ctx.admin_key, Some(&json!({}))).await?;
        check(status == 200, || format!("restoring operator access: {status}"), Some(repro))
    })
}
