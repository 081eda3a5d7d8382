//! Administration: tenants, API keys and the agent registry.

use lictor_client::{ErrorCode, Gateway, types};
use serde_json::json;

use super::intents::{declare, intent};
use crate::{Case, CaseFuture, Context, Group, check, curl, expect_refusal, failed, typed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "core.tenant_administration",
            group: Group::Core,
            title: "tenants: the superadmin lists all, a tenant admin only its own, settings and webhook secrets change",
            disruptive: false,
            operations: &["tenant_create", "tenant_list", "tenant_update", "tenant_webhook_secret_rotate"],
            run: tenant_administration,
        },
        Case {
            id: "core.api_key_lifecycle",
            group: Group::Core,
            title: "an API key is shown once, listed without its secret, and refused everywhere once revoked",
            disruptive: false,
            operations: &["api_key_create", "api_key_list", "api_key_revoke"],
            run: api_key_lifecycle,
        },
        Case {
            id: "core.agent_registry",
            group: Group::Core,
            title: "agents: register, conflict on a duplicate, read, list, update, suspend blocks their intents",
            disruptive: false,
            operations: &["agent_create", "agent_get", "agent_list", "agent_update"],
            run: agent_registry,
        },
    ]
}

fn tenant_administration(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        // The superadmin sees both of the run's tenants (paging as needed).
        let (root, url) = ctx.client(ctx.superadmin_key());
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        for _ in 0..1000 {
            let page = root
                .retrying(|| {
                    let mut call = root.api().tenant_list().limit(100);
                    if let Some(cursor) = &cursor {
                        call = call.cursor(cursor.as_str());
                    }
                    call.send()
                })
                .await
                .map_err(|e| failed("GET /v1/admin/tenants", e, None))?;
            seen.extend(page.items.iter().map(|t| t.id.to_string()));
            cursor = page.next_cursor.clone();
            if cursor.is_none() {
                break;
            }
        }
        let repro = curl("GET", &url, "/v1/admin/tenants", ctx.superadmin_key(), None::<&()>);
        check(
            seen.contains(&ctx.tenant) && seen.contains(&ctx.other_tenant),
            || format!("the superadmin's tenant list lacks {} or {}", ctx.tenant, ctx.other_tenant),
            Some(repro),
        )?;
        // A tenant admin sees only its own tenant and cannot create one.
        let (admin, url) = ctx.client(&ctx.admin_key);
        let repro = curl("GET", &url, "/v1/admin/tenants", &ctx.admin_key, None::<&()>);
        let own = admin
            .retrying(|| admin.api().tenant_list().send())
            .await
            .map_err(|e| failed("GET /v1/admin/tenants (tenant admin)", e, Some(repro.clone())))?;
        let ids: Vec<String> = own.items.iter().map(|t| t.id.to_string()).collect();
        check(ids == [ctx.tenant.clone()], || format!("a tenant admin listed {ids:?}"), Some(repro))?;
        let body: types::TenantCreate =
            typed("tenant body", json!({"id": format!("{}-x", ctx.tenant), "name": "not allowed"}))?;
        let repro = curl("POST", &url, "/v1/admin/tenants", &ctx.admin_key, Some(&body));
        let created = admin.retrying(|| admin.api().tenant_create().body(body.clone()).send()).await;
        expect_refusal("a tenant admin creating a tenant", &created, 403, ErrorCode::Forbidden, Some(repro))?;
        // Settings round-trip.
        let path = format!("/v1/admin/tenants/{}", ctx.tenant);
        for mode in ["open_in_shadow", "closed"] {
            let body: types::TenantUpdate = typed("tenant update", json!({"store_failure": mode}))?;
            let repro = curl("PATCH", &url, &path, &ctx.admin_key, Some(&body));
            let updated = admin
                .retrying(|| {
                    admin.api().tenant_update().tenant_id(ctx.tenant.as_str()).body(body.clone()).send()
                })
                .await
                .map_err(|e| failed("PATCH the tenant", e, Some(repro.clone())))?;
            let got = serde_json::to_value(updated.store_failure).unwrap_or_default();
            check(got == mode, || format!("store_failure: want {mode}, got {got}"), Some(repro))?;
        }
        // Webhook secrets: each rotation gives a new one.
        let path = format!("/v1/admin/tenants/{}/webhook-secret", ctx.tenant);
        let repro = curl("POST", &url, &path, &ctx.admin_key, None::<&()>);
        let mut secrets = Vec::new();
        for _ in 0..2 {
            let rotated = admin
                .retrying(|| admin.api().tenant_webhook_secret_rotate().tenant_id(ctx.tenant.as_str()).send())
                .await
                .map_err(|e| failed("rotating the webhook secret", e, Some(repro.clone())))?;
            secrets.push(rotated.webhook_secret.clone());
        }
        check(
            secrets[0] != secrets[1] && secrets.iter().all(|s| s.len() >= 32),
            || "two rotations gave the same (or a short) webhook secret".into(),
            Some(repro),
        )
    })
}

fn api_key_lifecycle(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let body: types::ApiKeyCreate = typed(
            "key body",
            json!({"tenant": ctx.tenant, "environment": "test", "role": "agent", "name": "conformance-lifecycle"}),
        )?;
        let repro = curl("POST", &url, "/v1/admin/api-keys", &ctx.admin_key, Some(&body));
        let made = admin
            .retrying(|| admin.api().api_key_create().body(body.clone()).send())
            .await
            .map_err(|e| failed("creating a key", e, Some(repro.clone())))?;
        check(
            made.key.starts_with("lictor_test_"),
            || format!("a test key must start lictor_test_, got {}…", &made.key[..8.min(made.key.len())]),
            Some(repro),
        )?;
        let id = made.api_key.id.to_string();
        // Listed, never with its secret.
        let repro = curl("GET", &url, "/v1/admin/api-keys", &ctx.admin_key, None::<&()>);
        let mut found = false;
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let page = admin
                .retrying(|| {
                    let mut call = admin.api().api_key_list().limit(100);
                    if let Some(cursor) = &cursor {
                        call = call.cursor(cursor.as_str());
                    }
                    call.send()
                })
                .await
                .map_err(|e| failed("listing keys", e, Some(repro.clone())))?;
            let text = serde_json::to_string(&page.items).unwrap_or_default();
            check(
                !text.contains(&made.key),
                || "the key list shows a key's secret".into(),
                Some(repro.clone()),
            )?;
            found |= page.items.iter().any(|k| k.id.to_string() == id);
            cursor = page.next_cursor.clone();
            if cursor.is_none() {
                break;
            }
        }
        check(found, || format!("the new key {id} is not listed"), Some(repro))?;
        // It works, then revocation takes effect on every replica.
        declare(ctx, &made.key, intent(&ctx.agent, json!({"type": "access", "verb": "read"}))?).await?;
        let path = format!("/v1/admin/api-keys/{id}");
        let repro = curl("DELETE", &url, &path, &ctx.admin_key, None::<&()>);
        admin
            .retrying(|| admin.api().api_key_revoke().key_id(id.as_str()).send())
            .await
            .map_err(|e| failed("revoking the key", e, Some(repro)))?;
        for url in ctx.urls() {
            let gw = Gateway::new(url).api_key(&made.key);
            let repro = curl("POST", url, "/v1/intents", &made.key, None::<&()>);
            let result =
                gw.declare_intent(intent(&ctx.agent, json!({"type": "access", "verb": "read"}))?).await;
            expect_refusal("a revoked key", &result, 401, ErrorCode::Unauthenticated, Some(repro))?;
        }
        Ok(())
    })
}

fn agent_registry(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let id = "conformance-registry";
        let body: types::AgentCreate = typed(
            "agent body",
            json!({"id": id, "name": "Registry probe", "owner": "conformance", "description": "registered by the suite"}),
        )?;
        let repro = curl("POST", &url, "/v1/agents", &ctx.admin_key, Some(&body));
        let created = admin
            .retrying(|| admin.api().agent_create().body(body.clone()).send())
            .await
            .map_err(|e| failed("registering an agent", e, Some(repro.clone())))?;
        check(
            created.status == types::AgentStatus::Active,
            || "a new agent must be active".into(),
            Some(repro.clone()),
        )?;
        let again = admin.retrying(|| admin.api().agent_create().body(body.clone()).send()).await;
        expect_refusal("registering it twice", &again, 409, ErrorCode::AlreadyExists, Some(repro))?;
        let path = format!("/v1/agents/{id}");
        let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
        let got = admin
            .retrying(|| admin.api().agent_get().agent_id(id).send())
            .await
            .map_err(|e| failed("reading the agent", e, Some(repro.clone())))?;
        check(
            got.name.as_str() == "Registry probe",
            || format!("agent name: {}", got.name.as_str()),
            Some(repro),
        )?;
        let repro = curl("GET", &url, "/v1/agents", &ctx.admin_key, None::<&()>);
        let listed = admin
            .retrying(|| admin.api().agent_list().limit(100).send())
            .await
            .map_err(|e| failed("listing agents", e, Some(repro.clone())))?;
        check(
            listed.items.iter().any(|a| a.id.to_string() == id)
                && listed.items.iter().all(|a| a.tenant.to_string() == ctx.tenant),
            || "the agent list lacks the agent or shows another tenant's".into(),
            Some(repro),
        )?;
        // Suspended agents are blocked at identity; reactivated, they are not.
        for (status, want_block) in [("suspended", true), ("active", false)] {
            let body: types::AgentUpdate =
                typed("agent update", json!({"status": status, "name": "Registry probe 2"}))?;
            let repro = curl("PATCH", &url, &path, &ctx.admin_key, Some(&body));
            let updated = admin
                .retrying(|| admin.api().agent_update().agent_id(id).body(body.clone()).send())
                .await
                .map_err(|e| failed("updating the agent", e, Some(repro.clone())))?;
            let got = serde_json::to_value(updated.status).unwrap_or_default();
            check(
                got == status && updated.name.as_str() == "Registry probe 2",
                || format!("update: status {got}"),
                Some(repro),
            )?;
            let (decision, repro) =
                declare(ctx, &ctx.live_key, intent(id, json!({"type": "access", "verb": "read"}))?).await?;
            let blocked = decision.verdict == types::Verdict::Block
                && decision.reasons.iter().any(|r| r.code == "agent_suspended");
            check(
                blocked == want_block,
                || {
                    format!(
                        "{status} agent: got {:?} {:?}",
                        decision.verdict,
                        decision.reasons.iter().map(|r| &r.code).collect::<Vec<_>>()
                    )
                },
                Some(repro),
            )?;
        }
        Ok(())
    })
}
