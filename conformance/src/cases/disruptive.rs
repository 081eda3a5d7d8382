//! Cases that change the deployment beyond the run's tenant, through the
//! operator's hooks (`--disruptive`): key rotation and store faults.

use std::collections::BTreeSet;
use std::time::Duration;

use lictor_client::{Gateway, parse_token, types, verify_audit_export};
use serde_json::{Value, json};

use super::intents::{declare, intent};
use crate::{Case, CaseFuture, Context, Group, check, curl, failed, raw, typed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "audit.key_rotation_keeps_verifying",
            group: Group::Audit,
            title: "after both keys rotate: new checkpoints use a newly published key, old tokens and exports still verify",
            disruptive: true,
            operations: &["public_keys", "token_mint", "audit_checkpoint_latest", "audit_export"],
            run: key_rotation_keeps_verifying,
        },
        Case {
            id: "core.store_fault_loses_nothing",
            group: Group::Core,
            title: "with the store down a decision is 503 store_unavailable and nothing is half-written; it recovers",
            disruptive: true,
            operations: &["intent_declare", "audit_verify"],
            run: store_fault_loses_nothing,
        },
    ]
}

/// The key ids the deployment publishes.
async fn published(ctx: &Context) -> Result<BTreeSet<String>, crate::Failure> {
    let url = ctx.url().to_string();
    let response = reqwest::get(format!("{url}/.well-known/lictor/keys"))
        .await
        .map_err(|e| failed("GET /.well-known/lictor/keys", e, None))?;
    let text = response.text().await.map_err(|e| failed("reading the keys", e, None))?;
    let keys: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    // Every string field called `key_id` or `kid` anywhere in the document.
    fn collect(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    match item.as_str() {
                        Some(id) if key == "key_id" || key == "kid" => {
                            out.insert(id.to_string());
                        }
                        _ => collect(item, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, out)),
            _ => {}
        }
    }
    let mut ids = BTreeSet::new();
    collect(&keys, &mut ids);
    if ids.is_empty() {
        return Err(failed("the published keys name no key_id", text, None));
    }
    Ok(ids)
}

async fn mint(ctx: &Context) -> Result<String, crate::Failure> {
    let admin = Gateway::new(ctx.url()).api_key(&ctx.admin_key);
    let body: types::TokenMint = typed("mint body", json!({"subject": ctx.agent, "ttl_seconds": 600}))?;
    let minted = admin
        .retrying(|| admin.api().token_mint().body(body.clone()).send())
        .await
        .map_err(|e| failed("minting a token", e, None))?;
    Ok(minted.token.clone())
}

fn key_rotation_keeps_verifying(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let before = published(ctx).await?;
        let old_token = mint(ctx).await?;
        ctx.disruptor()?.rotate_keys().await.map_err(|e| failed("the rotate-keys hook", e, None))?;
        // A new checkpoint key is published and used within seconds.
        let (admin, url) = ctx.client(&ctx.admin_key);
        let repro = curl("GET", &url, "/v1/admin/audit/checkpoints/latest", &ctx.admin_key, None::<&()>);
        let mut signer = String::new();
        for _ in 0..40 {
            declare(ctx, &ctx.live_key, intent(&ctx.agent, json!({"type": "access", "verb": "read"}))?)
                .await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
            let latest = admin.retrying(|| admin.api().audit_checkpoint_latest().send()).await;
            if let Ok(latest) = latest {
                signer = latest.key_id.clone();
                if !before.contains(&signer) {
                    break;
                }
            }
        }
        let after = published(ctx).await?;
        check(
            !before.contains(&signer) && after.contains(&signer) && before.is_subset(&after),
            || {
                format!(
                    "after rotation the latest checkpoint is signed by `{signer}`; published before {before:?}, after {after:?} (want a new published key, the old ones kept)"
                )
            },
            Some(repro),
        )?;
        // Tokens: old ones still work, new ones carry a new key id.
        let new_token = mint(ctx).await?;
        let kid = |token: &str| {
            parse_token(token).map(|t| t.header().kid.clone()).map_err(|e| failed("parsing a token", e, None))
        };
        check(
            kid(&old_token)? != kid(&new_token)?,
            || "a token minted after rotation has the old key id".into(),
            None,
        )?;
        for token in [&old_token, &new_token] {
            let gw = Gateway::new(ctx.url()).token(token);
            let decision = gw
                .declare_intent(intent(&ctx.agent, json!({"type": "access", "verb": "read"}))?)
                .await
                .map_err(|e| failed("a read with a token minted before or after rotation", e, None))?;
            check(
                decision.verdict == types::Verdict::Approve,
                || {
                    format!(
                        "a token across rotation: want approve, got {:?} {:?}",
                        decision.verdict, decision.reasons
                    )
                },
                None,
            )?;
        }
        // The whole log, checkpoints of both keys, verifies offline.
        let keys = admin.audit_keys().await.map_err(|e| failed("GET /.well-known/lictor/keys", e, None))?;
        let file = admin
            .audit_export(types::ExportFormatName::Ndjson, None)
            .await
            .map_err(|e| failed("exporting", e, None))?;
        verify_audit_export(file.as_slice(), &keys)
            .map(|_| ())
            .map_err(|e| failed("the export across a key rotation does not verify", format!("{e:?}"), None))
    })
}

fn store_fault_loses_nothing(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, _) = ctx.client(&ctx.admin_key);
        let verified = |admin: Gateway| async move {
            admin
                .retrying(|| admin.api().audit_verify().send())
                .await
                .map(|v| (v.ok, v.verified))
                .map_err(|e| failed("GET /v1/admin/audit/verify", e, None))
        };
        let (ok, before) = verified(admin.clone()).await?;
        check(ok, || "the log does not verify before the fault".into(), None)?;
        let hooks = ctx.disruptor()?;
        hooks.store_down().await.map_err(|e| failed("the store-down hook", e, None))?;
        let body =
            json!({"intent": {"agent": {"id": ctx.agent}, "action": {"type": "access", "verb": "read"}}});
        let outcome = raw(ctx, "POST", "/v1/intents", &ctx.live_key, Some(&body)).await;
        let restored = hooks.store_up().await.map_err(|e| failed("the store-up hook", e, None));
        let (status, answer, repro) = outcome?;
        restored?;
        check(
            status == 503 && answer["error_code"] == "store_unavailable",
            || format!("with the store down: want 503 store_unavailable, got {status}: {answer}"),
            Some(repro.clone()),
        )?;
        let (ok, after) = verified(admin.clone()).await?;
        check(
            ok && after == before,
            || {
                format!(
                    "after the fault the log has {after} entries (ok={ok}), want the {before} it had: something was half-written"
                )
            },
            Some(repro),
        )?;
        // It recovers: the next decision is recorded.
        let (decision, repro) =
            declare(ctx, &ctx.live_key, intent(&ctx.agent, json!({"type": "access", "verb": "read"}))?)
                .await?;
        let (ok, recovered) = verified(admin).await?;
        check(
            decision.audit.is_some() && ok && recovered == before + 1,
            || {
                format!(
                    "after recovery: audited={}, ok={ok}, entries {recovered} (want {})",
                    decision.audit.is_some(),
                    before + 1
                )
            },
            Some(repro),
        )
    })
}
