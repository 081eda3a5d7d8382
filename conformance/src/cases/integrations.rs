//! Integrations: an audit sink made, read, changed and removed through the
//! API, its secret never coming back; health present for the tenant; dead
//! letters listed and redriven.
//!
//! The sink is made turned off, so a deployment under test never sends
//! anything anywhere.

use serde_json::{Value, json};

use crate::{Case, CaseFuture, Context, Group, check, raw};

pub(super) fn cases() -> Vec<Case> {
    vec![Case {
        id: "integrations.secrets_are_write_only",
        group: Group::Integrations,
        title: "a sink's secret goes in and never comes out; its health and dead letters are visible",
        disruptive: false,
        operations: &[
            "integration_create",
            "integration_list",
            "integration_get",
            "integration_update",
            "integration_dead_letters",
            "integration_redrive",
            "integration_delete",
        ],
        run: secrets_are_write_only,
    }]
}

/// The secret the case gives (and looks for in every answer).
const TOKEN: &str = "conformance-hec-token-never-returned";

/// Whether `value` holds `needle` anywhere.
fn contains(value: &Value, needle: &str) -> bool {
    value.to_string().contains(needle)
}

/// Checks an integration's shape: every documented field, no secret.
fn shape(what: &str, integration: &Value, repro: &str) -> crate::Outcome {
    let health = &integration["health"];
    check(
        integration["id"].is_string()
            && integration["kind"] == "splunk"
            && integration["category"] == "sink"
            && integration["source"] == "api"
            && integration["enabled"].is_boolean()
            && integration["secrets"] == json!(["token"])
            && integration["settings"]["kind"] == "splunk"
            && integration["settings"].get("token").is_none()
            && health["state"].is_string()
            && health["delivered"].is_u64()
            && health["failed"].is_u64()
            && health["lag_entries"].is_u64()
            && health["lag_seconds"].is_number()
            && health["dead_letters"].is_u64()
            && !contains(integration, TOKEN),
        || format!("{what}: unexpected integration {integration}"),
        Some(repro.to_string()),
    )
}

fn secrets_are_write_only(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let name = format!("conformance-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let body = json!({
            "name": name,
            "enabled": false,
            "settings": {"kind": "splunk", "url": "https://siem.invalid:8088", "token": TOKEN, "index": "audit"},
        });
        let (status, created, repro) =
            raw(ctx, "POST", "/v1/admin/integrations", &ctx.admin_key, Some(&body)).await?;
        check(status == 201, || format!("create: want 201, got {status} {created}"), Some(repro.clone()))?;
        shape("create", &created, &repro)?;
        let id = created["id"].as_str().unwrap_or_default().to_string();

        let (status, listed, repro) =
            raw(ctx, "GET", "/v1/admin/integrations?limit=500", &ctx.admin_key, None::<&()>).await?;
        let mine = listed["items"].as_array().and_then(|items| items.iter().find(|i| i["id"] == id.as_str()));
        check(
            status == 200 && mine.is_some(),
            || format!("list: {status} without {id}"),
            Some(repro.clone()),
        )?;
        check(!contains(&listed, TOKEN), || "the list shows the secret".into(), Some(repro.clone()))?;
        // The other tenant does not see it.
        let (_, theirs, repro) =
            raw(ctx, "GET", "/v1/admin/integrations?limit=500", &ctx.other_admin_key, None::<&()>).await?;
        let leaked =
            theirs["items"].as_array().is_some_and(|items| items.iter().any(|i| i["id"] == id.as_str()));
        check(!leaked, || "another tenant lists the integration".into(), Some(repro))?;

        let path = format!("/v1/admin/integrations/{id}");
        let (status, got, repro) = raw(ctx, "GET", &path, &ctx.admin_key, None::<&()>).await?;
        check(status == 200, || format!("get: want 200, got {status}"), Some(repro.clone()))?;
        shape("get", &got, &repro)?;
        check(
            got["health"]["state"] == "disabled",
            || format!("health of a sink turned off: {got}"),
            Some(repro),
        )?;

        // Changed without the token: it is kept.
        let change =
            json!({"settings": {"kind": "splunk", "url": "https://siem.invalid:8088", "index": "security"}});
        let (status, changed, repro) = raw(ctx, "PATCH", &path, &ctx.admin_key, Some(&change)).await?;
        check(status == 200, || format!("update: want 200, got {status} {changed}"), Some(repro.clone()))?;
        shape("update", &changed, &repro)?;
        check(
            changed["settings"]["index"] == "security",
            || format!("update not applied: {changed}"),
            Some(repro),
        )?;

        let letters = format!("{path}/dead-letters");
        let (status, page, repro) = raw(ctx, "GET", &letters, &ctx.admin_key, None::<&()>).await?;
        check(
            status == 200 && page["items"] == json!([]),
            || format!("dead letters of a new sink: {status} {page}"),
            Some(repro),
        )?;
        let (status, redriven, repro) =
            raw(ctx, "POST", &format!("{letters}/redrive"), &ctx.admin_key, Some(&json!({}))).await?;
        check(
            status == 200 && redriven["redriven"] == 0,
            || format!("redriving nothing: {status} {redriven}"),
            Some(repro),
        )?;

        let (status, _, repro) = raw(ctx, "DELETE", &path, &ctx.admin_key, None::<&()>).await?;
        check(status == 204, || format!("delete: want 204, got {status}"), Some(repro))?;
        let (status, _, repro) = raw(ctx, "GET", &path, &ctx.admin_key, None::<&()>).await?;
        check(status == 404, || format!("a removed integration: want 404, got {status}"), Some(repro))
    })
}
