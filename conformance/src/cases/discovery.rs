//! Discovery: vendor records ingested into discovered agents, a record
//! sent again adding nothing, refused records reported by line, and the
//! inventory listed and read.

use serde_json::{Value, json};

use lictor_client::types;

use crate::{Case, CaseFuture, Context, Group, check, failed, raw};

pub(super) fn cases() -> Vec<Case> {
    vec![Case {
        id: "discovery.records_become_inventory",
        group: Group::Discovery,
        title: "Zscaler NSS records become discovered agents, once however often they are sent; a bad record is refused by line; the agent is reviewed, owned, linked, and only a person who owns it attests",
        disruptive: false,
        operations: &[
            "discovery_ingest",
            "discovered_agent_list",
            "discovered_agent_get",
            "discovered_agent_update",
            "discovered_agent_attest",
            "attestation_list",
            "discovery_settings_get",
            "discovery_settings_put",
            "discovery_catalogue_get",
            "discovery_service_create",
            "discovery_service_put",
            "discovery_service_delete",
        ],
        run: records_become_inventory,
    }]
}

/// An NSS web log record (native field names) to an AI service.
fn nss(id: &str, login: &str, url: &str, epoch: i64) -> Value {
    json!({"epochtime": epoch.to_string(), "login": login, "url": url, "action": "Allowed",
        "totalsize": "100", "recordid": id})
}

fn records_become_inventory(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let login = format!("conformance-{}@example.com", ctx.tenant);
        let body: String = [
            nss("c-1", &login, "api.openai.com/v1/chat/completions", 1_772_359_200),
            nss("c-2", &login, "api.openai.com/v1/embeddings", 1_772_359_260),
            json!({"login": login, "url": "api.openai.com/v1/chat/completions", "recordid": "c-3"}),
        ]
        .iter()
        .map(|r| format!("{r}\n"))
        .collect();
        let (gw, url) = ctx.client(&ctx.admin_key);
        let repro = format!(
            "curl -sS -X POST '{url}/api/discovery/ingest?format=zscaler_nss_json' -H 'Authorization: Bearer {}' --data-binary @records.ndjson",
            ctx.admin_key
        );
        let send = || async {
            gw.api()
                .discovery_ingest()
                .format(types::DiscoveryFormat::ZscalerNssJson)
                .body(body.clone())
                .send()
                .await
                .map(|r| r.into_inner())
                .map_err(|e| failed("ingesting three NSS records", e, Some(repro.clone())))
        };
        let first = send().await?;
        check(
            first.records == 3
                && first.accepted == 2
                && first.refused == 1
                && first.agents_new == 1
                && first.errors.first().is_some_and(|e| e.line == 3),
            || format!("the first ingest: {first:?}"),
            Some(repro.clone()),
        )?;
        let again = send().await?;
        check(
            again.duplicates == 2 && again.accepted == 0 && again.agents_new == 0,
            || format!("the same records again: {again:?}"),
            Some(repro.clone()),
        )?;

        let path = format!("/api/discovery/agents?identity={login}");
        let (status, page, repro) = raw(ctx, "GET", &path, &ctx.admin_key, None::<&()>).await?;
        let agent = &page["items"][0];
        check(
            status == 200
                && page["items"].as_array().is_some_and(|items| items.len() == 1)
                && agent["service"]["id"] == "openai-api"
                && agent["requests"] == 2
                && agent["bytes"] == 200
                && agent["identity"] == json!({"kind": "user", "value": login})
                && agent["status"] == "unreviewed",
            || format!("the discovered agent: {status} {page}"),
            Some(repro),
        )?;
        let id = agent["id"].as_str().unwrap_or_default();
        let (status, got, repro) =
            raw(ctx, "GET", &format!("/api/discovery/agents/{id}"), &ctx.admin_key, None::<&()>).await?;
        check(
            status == 200 && got["id"] == agent["id"] && got["sources"][0]["source"] == "zscaler",
            || format!("reading it: {status} {got}"),
            Some(repro),
        )?;
        let (status, refused, repro) =
            raw(ctx, "GET", "/api/discovery/agents/dag_nosuchagent", &ctx.admin_key, None::<&()>).await?;
        check(
            status == 404 && refused["error_code"] == "not_found",
            || format!("an unknown discovered agent: {status} {refused}"),
            Some(repro),
        )?;

        // Governed: an attestation needs an owner, and is a person's.
        let path = format!("/api/discovery/agents/{id}");
        let attest = format!("{path}/attestations");
        let statement = json!({"statement": "conformance"});
        let (status, refused, repro) = raw(ctx, "POST", &attest, &ctx.admin_key, Some(&statement)).await?;
        check(
            status == 409 && refused["error_code"] == "conflict",
            || format!("attesting an agent without an owner: {status} {refused}"),
            Some(repro),
        )?;
        let (status, refused, repro) =
            raw(ctx, "PATCH", &path, &ctx.admin_key, Some(&json!({"status": "sanctioned"}))).await?;
        check(
            status == 400 && refused["error_code"] == "invalid_field" && refused["path"] == "$.reason",
            || format!("a review without its reason: {status} {refused}"),
            Some(repro),
        )?;
        let change =
            json!({"status": "sanctioned", "reason": "conformance", "owner": login, "agent_id": ctx.agent});
        let (status, governed, repro) = raw(ctx, "PATCH", &path, &ctx.admin_key, Some(&change)).await?;
        check(
            status == 200
                && governed["status"] == "sanctioned"
                && governed["owner"] == login.as_str()
                && governed["agent_id"] == ctx.agent.as_str(),
            || format!("reviewing, owning and linking it: {status} {governed}"),
            Some(repro),
        )?;
        let (status, refused, repro) = raw(ctx, "POST", &attest, &ctx.admin_key, Some(&statement)).await?;
        check(
            status == 403 && refused["error_code"] == "forbidden",
            || format!("attesting with a key no person made: {status} {refused}"),
            Some(repro),
        )?;
        let (status, page, repro) = raw(
            ctx,
            "GET",
            &format!("/api/discovery/attestations?discovered_id={id}"),
            &ctx.admin_key,
            None::<&()>,
        )
        .await?;
        check(
            status == 200 && page["items"] == json!([]),
            || format!("its attestations: {status} {page}"),
            Some(repro),
        )?;
        let (status, settings, repro) =
            raw(ctx, "GET", "/api/discovery/settings", &ctx.admin_key, None::<&()>).await?;
        check(
            status == 200 && settings["attestation_days"].is_u64(),
            || format!("the discovery settings: {status} {settings}"),
            Some(repro),
        )?;
        let (status, set, repro) =
            raw(ctx, "PUT", "/api/discovery/settings", &ctx.admin_key, Some(&settings)).await?;
        check(status == 200 && set == settings, || format!("setting them again: {status} {set}"), Some(repro))
    })
}
