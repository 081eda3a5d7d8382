//! Fresh identifiers for objects the gateway creates.
//!
//! UUIDv7 underneath: time-ordered, so ids sort roughly by creation and
//! index well, with 74 random bits each.

use lictor_api::ids::{ApiKeyId, ApprovalId, AuditEntryId, IntentId, PolicyDraftId, PolicyProposalId};
use lictor_api::tokens::Jti;

fn fresh(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// A new intent id (`int_…`).
pub fn intent_id() -> IntentId {
    IntentId::parse(fresh("int")).unwrap_or_else(|_| unreachable_id())
}

/// A new API key id (`key_…`).
pub(crate) fn api_key_id() -> ApiKeyId {
    ApiKeyId::parse(fresh("key")).unwrap_or_else(|_| unreachable_id())
}

/// A new approval id (`apr_…`).
pub fn approval_id() -> ApprovalId {
    ApprovalId::parse(fresh("apr")).unwrap_or_else(|_| unreachable_id())
}

/// A new policy draft id (`pol_…`).
pub(crate) fn policy_draft_id() -> PolicyDraftId {
    PolicyDraftId::parse(fresh("pol")).unwrap_or_else(|_| unreachable_id())
}

/// A new policy proposal id (`prp_…`).
pub(crate) fn policy_proposal_id() -> PolicyProposalId {
    PolicyProposalId::parse(fresh("prp")).unwrap_or_else(|_| unreachable_id())
}

/// A new capability-token jti (`tok_…`).
pub fn token_jti() -> Jti {
    Jti::parse(fresh("tok")).unwrap_or_else(|_| unreachable_id())
}

/// An MCP session id: 43 random alphanumerics after `mcs_` (visible
/// ASCII, unguessable, as MCP requires).
pub(crate) fn mcp_session_id() -> String {
    use rand::RngExt;
    let random: String =
        rand::rng().sample_iter(rand::distr::Alphanumeric).take(43).map(char::from).collect();
    format!("mcs_{random}")
}

/// A new integration id (`itg_…`).
pub(crate) fn integration_id() -> lictor_api::integrations::IntegrationId {
    lictor_api::integrations::IntegrationId::parse(fresh("itg")).unwrap_or_else(|_| unreachable_id())
}

/// A new console session id (`ses_…`).
pub(crate) fn session_id() -> String {
    fresh("ses")
}

/// A new SCIM resource id (`usr_…` for users, `grp_…` for groups).
pub(crate) fn scim_id(prefix: &str) -> String {
    fresh(prefix)
}

/// A new attestation id (`att_…`).
pub(crate) fn attestation_id() -> String {
    fresh("att")
}

/// A new audit entry id (`aud_…`).
pub(crate) fn audit_entry_id() -> AuditEntryId {
    AuditEntryId::parse(fresh("aud")).unwrap_or_else(|_| unreachable_id())
}

// `fresh` yields `[a-z]{3}_[0-9a-f]{32}`: 36 characters of the generated-id
// grammar, so parsing cannot fail.
#[allow(clippy::panic)]
fn unreachable_id<T>() -> T {
    panic!("generated identifier does not match its own grammar")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefixed_and_sort_by_time() {
        let a = super::intent_id();
        let b = super::intent_id();
        assert!(a.as_str().starts_with("int_"));
        assert!(a < b);
    }
}
