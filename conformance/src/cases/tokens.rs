//! Capability tokens: an attenuated token never grants more than its parent.

use lictor_client::{Attenuation, Gateway, attenuate, types};
use serde_json::json;

use super::intents::intent;
use crate::{Case, CaseFuture, Context, Group, check, curl, failed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "tokens.attenuation_only_narrows",
            group: Group::Tokens,
            title: "a token narrowed offline to reads is refused a payment its parent may make",
            disruptive: false,
            operations: &["token_mint"],
            run: attenuation_only_narrows,
        },
        Case {
            id: "tokens.revocation_is_immediate",
            group: Group::Tokens,
            title: "a revoked token is refused at once on every replica, with its children, and is listed",
            disruptive: false,
            operations: &["token_revoke", "revocation_list"],
            run: revocation_is_immediate,
        },
    ]
}

fn attenuation_only_narrows(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let body: types::TokenMint =
            serde_json::from_value(json!({"subject": ctx.agent, "ttl_seconds": 600, "max_calls": 10}))
                .map_err(|e| failed("mint body", e, None))?;
        let repro = curl("POST", &url, "/v1/admin/mint", &ctx.admin_key, Some(&body));
        let minted = admin
            .retrying(|| admin.api().token_mint().body(body.clone()).send())
            .await
            .map_err(|e| failed("minting a token", e, Some(repro)))?;
        let narrowed =
            Attenuation { action_types: vec![types::ActionType::Access], ..Attenuation::default() };
        let reader = attenuate(&minted.token, &narrowed).map_err(|e| failed("attenuating", e, None))?;
        let pay = || {
            intent(
                &ctx.agent,
                json!({"type": "transact", "verb": "pay",
                "payload": {"estimated_impact": {"reversible": true, "financial_exposure_usd": 10}}}),
            )
        };
        let parent = Gateway::new(ctx.url()).token(&minted.token);
        let allowed =
            parent.declare_intent(pay()?).await.map_err(|e| failed("the parent's payment", e, None))?;
        check(
            allowed.verdict == types::Verdict::Approve,
            || format!("parent: want approve, got {:?}", allowed.verdict),
            None,
        )?;
        let url = ctx.url().to_string();
        let child = Gateway::new(&url).token(&reader);
        let repro = curl("POST", &url, "/v1/intents", &reader, Some(&json!({"intent": pay()?})));
        let refused = child
            .declare_intent(pay()?)
            .await
            .map_err(|e| failed("the narrowed payment", e, Some(repro.clone())))?;
        check(
            refused.verdict == types::Verdict::Block
                && refused.reasons.iter().any(|r| r.code == "action_type_not_allowed"),
            || {
                format!(
                    "narrowed: want block (action_type_not_allowed), got {:?} {:?}",
                    refused.verdict, refused.reasons
                )
            },
            Some(repro),
        )
    })
}

fn revocation_is_immediate(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let body: types::TokenMint =
            crate::typed("mint body", json!({"subject": ctx.agent, "ttl_seconds": 600}))?;
        let minted = admin
            .retrying(|| admin.api().token_mint().body(body.clone()).send())
            .await
            .map_err(|e| failed("minting a token", e, None))?;
        let child = attenuate(&minted.token, &Attenuation { max_calls: Some(5), ..Attenuation::default() })
            .map_err(|e| failed("attenuating", e, None))?;
        let read = || intent(&ctx.agent, json!({"type": "access", "verb": "read"}));
        let before = Gateway::new(ctx.url()).token(&minted.token).declare_intent(read()?).await;
        check(
            before.as_ref().is_ok_and(|d| d.verdict == types::Verdict::Approve),
            || format!("a fresh token's read: want approve, got {before:?}"),
            None,
        )?;
        let revoke: types::TokenRevoke = crate::typed(
            "revoke body",
            json!({"jti": minted.jti, "reason": "conformance: revocation check"}),
        )?;
        let repro = curl("POST", &url, "/v1/admin/revoke", &ctx.admin_key, Some(&revoke));
        admin
            .retrying(|| admin.api().token_revoke().body(revoke.clone()).send())
            .await
            .map_err(|e| failed("revoking the token", e, Some(repro)))?;
        for url in ctx.urls() {
            for token in [&minted.token, &child] {
                let repro = curl("POST", url, "/v1/intents", token, Some(&json!({"intent": read()?})));
                let decision = Gateway::new(url).token(token).declare_intent(read()?).await;
                check(
                    decision.as_ref().is_ok_and(|d| {
                        d.verdict == types::Verdict::Block
                            && d.reasons.iter().any(|r| r.code == "token_revoked")
                    }),
                    || {
                        format!(
                            "a revoked token (or its child) on {url}: want block (token_revoked), got {decision:?}"
                        )
                    },
                    Some(repro),
                )?;
            }
        }
        let repro = curl("GET", &url, "/v1/admin/revocations", &ctx.admin_key, None::<&()>);
        let listed = admin
            .retrying(|| admin.api().revocation_list().limit(100).send())
            .await
            .map_err(|e| failed("listing revocations", e, Some(repro.clone())))?;
        check(
            listed.items.iter().any(|r| r.jti.to_string() == minted.jti.to_string()),
            || format!("the revocation list lacks {}", minted.jti.as_str()),
            Some(repro),
        )
    })
}
