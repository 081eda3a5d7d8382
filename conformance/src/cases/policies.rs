//! The policy lifecycle: a draft that does not compile says where.

use serde_json::json;
use tollgate_client::{ErrorCode, types};

use crate::{Case, CaseFuture, Context, Group, check, curl, failed};

pub(super) fn cases() -> Vec<Case> {
    vec![Case {
        id: "policies.compile_error_is_located",
        group: Group::Policies,
        title: "a draft that does not compile is 400 policy_compile_error with file, line and column",
        disruptive: false,
        operations: &["policy_draft_create"],
        run: compile_error_is_located,
    }]
}

fn compile_error_is_located(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (gw, url) = ctx.client(&ctx.admin_key);
        let body: types::PolicyDraftWrite = serde_json::from_value(json!({
            "name": "broken",
            "modules": {"rules.rego": "package tollgate\nimport rego.v1\n\ndecision := {\n  x :=\n}\n"}
        }))
        .map_err(|e| failed("draft body", e, None))?;
        let repro = curl("POST", &url, "/v1/admin/policies/drafts", &ctx.admin_key, Some(&body));
        let api = match gw.retrying(|| gw.api().policy_draft_create().body(body.clone()).send()).await {
            Ok(_) => return Err(failed("a broken draft was saved", "want 400", Some(repro))),
            Err(error) => error.api().cloned(),
        };
        check(
            api.as_ref().is_some_and(|a| {
                a.status == 400
                    && a.error_code == ErrorCode::PolicyCompileError
                    && a.path.as_deref() == Some("$.modules['rules.rego']")
                    && a.location.as_ref().is_some_and(|l| l.file == "rules.rego" && l.line == 5)
            }),
            || format!("want 400 policy_compile_error at rules.rego:5, got {api:?}"),
            Some(repro),
        )
    })
}
