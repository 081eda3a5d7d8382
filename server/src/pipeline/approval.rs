//! Human approvals in the pipeline: binding an approval to the exact
//! request it was granted for, and resuming a request with one.

use lictor_api::approvals::ApprovalStatus;
use lictor_api::ids::{ApprovalId, TenantId};
use lictor_api::intents::{Reason, StageName};
use serde_json::json;

use super::Submission;
use super::capability::ToolTarget;
use crate::audit::digest_json;
use crate::clock::Timestamp;
use crate::store::{Store, StoreResult};

/// The digest an approval is bound to: SHA-256 of the canonical JSON of
/// the tenant, the agent, the token's jti, the kind, the tool, the action
/// (type, verb, target, payload — a tool call's arguments included) and
/// the bundle hash. Any difference is a different request.
pub(crate) fn request_digest(sub: &Submission, bundle_hash: &str) -> String {
    let action = &sub.request.intent.action;
    digest_json(&json!({
        "tenant": sub.tenant.as_str(),
        "agent": sub.request.intent.agent.id.as_str(),
        "jti": sub.token.as_deref().map(|t| t.jti()),
        "tool": sub.tool.as_ref().map(ToolTarget::full_name),
        "action": action,
        "bundle_hash": bundle_hash,
    }))
}

/// What an approval presented with an escalated request does to it.
#[derive(Clone, Debug, PartialEq)]
pub enum Resume {
    /// A human approved exactly this request: it goes ahead (once).
    Approved(Reason),
    /// Still waiting for a human: the request stays escalated.
    StillPending,
    /// Rejected, expired, used, or granted for another request: block.
    Refused(Reason),
}

fn refuse(code: &str, message: String) -> Resume {
    Resume::Refused(Reason { stage: StageName::Decide, code: code.into(), message })
}

/// Checks the presented approval against the request's digest.
pub async fn resume(store: &Store, tenant: &TenantId, id: &ApprovalId, digest: &str) -> StoreResult<Resume> {
    let Some(approval) = store.get_approval(tenant, id).await? else {
        return Ok(refuse("approval_not_found", format!("no approval `{id}`")));
    };
    if approval.digest != digest {
        return Ok(refuse(
            "approval_mismatch",
            format!("approval `{id}` was granted for a different request"),
        ));
    }
    Ok(match approval.status_at(Timestamp::now()) {
        ApprovalStatus::Approved => Resume::Approved(Reason {
            stage: StageName::Decide,
            code: "approved_by_human".into(),
            message: format!(
                "approval `{id}` granted by {}",
                approval.decided_by.as_deref().unwrap_or("an administrator")
            ),
        }),
        ApprovalStatus::Pending => Resume::StillPending,
        ApprovalStatus::Rejected => refuse("approval_rejected", format!("approval `{id}` was rejected")),
        ApprovalStatus::Expired => refuse("approval_expired", format!("approval `{id}` has expired")),
        ApprovalStatus::Used => refuse("approval_used", format!("approval `{id}` was already used")),
    })
}
