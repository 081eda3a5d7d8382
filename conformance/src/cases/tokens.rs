//! Capability tokens: an attenuated token never grants more than its parent.

use serde_json::json;
use tollgate_client::{Attenuation, Gateway, attenuate, types};

use super::intents::intent;
use crate::{Case, CaseFuture, Context, Group, check, curl, failed};

pub(super) fn cases() -> Vec<Case> {
    vec![Case {
        id: "tokens.attenuation_only_narrows",
        group: Group::Tokens,
        title: "a token narrowed offline to reads is refused a payment its parent may make",
        disruptive: false,
        operations: &["token_mint"],
        run: attenuation_only_narrows,
    }]
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
