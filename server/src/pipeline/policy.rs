//! The `policy` stage: the tenant's Rego bundle decides, on the input
//! document `docs/policies.md` describes. An escalation or an
//! `approve_modified` may carry an RFC 6902 patch of the payload; a patch
//! that does not apply, or leaves an invalid payload, blocks. An
//! evaluation error blocks too (fail closed).

use lictor_api::intents::{
    Modifications, PatchOperation, Payload, Reason, Risk, StageName, StageOutcome, Verdict,
};
use serde_json::{Value, json};

use super::run::Run;
use super::{Reads, Submission};
use crate::store::AgentRow;

/// Evaluates the policy when nothing earlier settled the verdict.
pub(super) fn run<R: Reads>(run: &mut Run<'_, R>) -> StageOutcome {
    if run.verdict != Verdict::Approve {
        return StageOutcome::Skip;
    }
    let engine = run.engine.clone();
    let input = run.input();
    let evaluated = {
        let _span = tracing::info_span!(
            "policy.evaluate",
            otel.name = "policy.evaluate",
            engine = ?engine.engine_kind(),
            bundle = engine.policy_ref().bundle_name,
        )
        .entered();
        engine.evaluate(input)
    };
    let payload = run.sub.request.intent.action.payload.as_ref();
    let verdict = match evaluated {
        Ok(output) => {
            run.reasons.extend(output.reasons.into_iter().map(|r| Reason {
                stage: StageName::Policy,
                code: r.code,
                message: r.message,
            }));
            if !output.alternatives.is_empty() {
                run.alternatives = Some(output.alternatives);
            }
            // An escalation's patch is kept for the human's approval.
            let patched = matches!(output.verdict, Verdict::ApproveModified | Verdict::Escalate);
            if patched && !output.patch.is_empty() {
                match apply_patch(payload, &output.patch) {
                    Ok(modified_payload) => {
                        run.modifications = Some(Modifications { patch: output.patch, modified_payload });
                        output.verdict
                    }
                    Err(message) => {
                        run.reasons.push(Reason {
                            stage: StageName::Policy,
                            code: "policy_patch_failed".into(),
                            message,
                        });
                        Verdict::Block
                    }
                }
            } else {
                output.verdict
            }
        }
        Err(error) => {
            run.reasons.push(Reason {
                stage: StageName::Policy,
                code: error.code().into(),
                message: error.to_string(),
            });
            Verdict::Block
        }
    };
    run.verdict = verdict;
    run.policy_verdict = Some(verdict);
    run.outcome()
}

/// The document policies evaluate (see `docs/policies.md`).
#[doc(hidden)] // public for `benches/pipeline.rs` only
pub fn input(sub: &Submission, agent: Option<&AgentRow>, risk: &Risk) -> Value {
    let mut intent = serde_json::to_value(&sub.request.intent).unwrap_or(Value::Null);
    if let Some(obj) = intent.as_object_mut() {
        let context = sub.request.context.clone().map(Value::Object).unwrap_or_else(|| json!({}));
        obj.insert("context".into(), context);
    }
    json!({
        "intent": intent,
        "agent": agent.map(|a| json!({
            "id": a.id.as_str(),
            "name": a.name,
            "owner": a.owner,
            "status": a.status.as_str(),
            "framework": sub.request.intent.agent.framework.as_ref().map(|f| f.as_str()),
        })),
        "tenant": {"id": sub.tenant.as_str()},
        "environment": sub.key.environment.as_str(),
        "risk": risk,
        "tool": sub.tool.as_ref().map(|t| json!({"upstream": t.upstream, "name": t.tool, "full_name": t.full_name()})),
        "capability": sub.token.as_deref().map(|t| json!({
            "jti": t.jti(),
            "root_jti": t.header().root_jti.as_str(),
            "subject": t.header().sub.as_str(),
        })),
        "request": {
            "intent_id": sub.intent_id.as_str(),
            "time": sub.created_at.to_string(),
        },
    })
}

/// Applies the policy's patch to the payload; the result must still be a
/// valid payload.
fn apply_patch(payload: Option<&Payload>, patch: &[PatchOperation]) -> Result<Payload, String> {
    let mut document =
        serde_json::to_value(payload.cloned().unwrap_or_default()).map_err(|e| e.to_string())?;
    let operations: json_patch::Patch = serde_json::to_value(patch)
        .and_then(serde_json::from_value)
        .map_err(|e| format!("invalid patch: {e}"))?;
    json_patch::patch(&mut document, &operations).map_err(|e| format!("patch does not apply: {e}"))?;
    lictor_api::extract::parse_value::<Payload>(document)
        .map_err(|e| format!("patched payload is invalid: {}", e.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lictor_api::intents::PatchOp;

    #[test]
    fn patches_apply_to_the_payload_and_must_keep_it_valid() {
        let payload = Payload { content: Some("card 4111".into()), ..Payload::default() };
        let replace = PatchOperation {
            op: PatchOp::Replace,
            path: "/content".into(),
            from: None,
            value: Some(json!("card [REDACTED]")),
        };
        let patched = apply_patch(Some(&payload), &[replace]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(patched.content, Some(serde_json::json!("card [REDACTED]")));

        let bogus =
            PatchOperation { op: PatchOp::Add, path: "/bogus".into(), from: None, value: Some(json!(1)) };
        assert!(apply_patch(Some(&payload), &[bogus]).is_err());
        let missing =
            PatchOperation { op: PatchOp::Remove, path: "/summary".into(), from: None, value: None };
        assert!(apply_patch(Some(&payload), &[missing]).is_err());
    }
}
