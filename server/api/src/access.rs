//! Who may call each operation: the roles, and whether the operation is
//! destructive (a person needs a fresh, strong sign-in: step-up).
//!
//! This table is the one statement of access control. The gateway checks
//! every request against it, the OpenAPI document publishes it on each
//! operation (`x-lictor-roles`, `x-lictor-step-up`), and the conformance
//! suite's auth sweep tries every role on every operation from there.
//! `docs/operators.md` explains the roles.

use crate::api_keys::Role;

/// What a destructive operation is, for its `step_up_required` error and
/// the documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepUp {
    /// Always, for a person.
    Always,
    /// When the approval's financial exposure reaches the tenant's
    /// threshold (`step_up.approval_exposure_usd`).
    AboveExposure,
    /// When the mint asks for a `step_up` token (the person's fresh sign-in
    /// is what the token carries).
    WhenAsked,
}

impl StepUp {
    /// The wire string (`x-lictor-step-up`).
    pub const fn as_str(self) -> &'static str {
        match self {
            StepUp::Always => "always",
            StepUp::AboveExposure => "above_exposure",
            StepUp::WhenAsked => "when_asked",
        }
    }
}

/// Who may call one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// No credentials needed.
    pub public: bool,
    /// The superadmin (its key, or a person the deployment makes one) may
    /// call it.
    pub superadmin: bool,
    /// The tenant roles that may call it, in their own tenant (`agent`
    /// covers agent keys and capability tokens).
    pub roles: &'static [Role],
    /// Whether, and when, a person needs a fresh strong sign-in.
    pub step_up: Option<StepUp>,
    /// A SCIM operation: only the tenant's SCIM token calls it.
    pub scim: bool,
    /// Any valid credentials may call it (a person without roles too).
    pub anyone: bool,
}

use Role::{Admin, Agent, Approver, Auditor, Ingest, PolicyAuthor};

const OPERATORS: &[Role] = &[Admin, Approver, Auditor, PolicyAuthor];
const EVERYONE: &[Role] = &[Agent, Admin, Approver, Auditor, PolicyAuthor];
const ADMIN: &[Role] = &[Admin];
const ADMIN_AUDITOR: &[Role] = &[Admin, Auditor];
const DECIDERS: &[Role] = &[Admin, Approver];
const APPROVALS_READ: &[Role] = &[Agent, Admin, Approver, Auditor];
const APPROVALS_LIST: &[Role] = &[Admin, Approver, Auditor];
const AUTHORS: &[Role] = &[Admin, PolicyAuthor];
const POLICY_READ: &[Role] = &[Admin, PolicyAuthor, Auditor];
const POLICY_ACTIVE: &[Role] = &[Admin, PolicyAuthor, Auditor, Approver];
const AGENTS_READ: &[Role] = &[Admin, Approver, Auditor, PolicyAuthor];
const AGENT: &[Role] = &[Agent];
const INGEST: &[Role] = &[Admin, Ingest];

const fn public() -> Access {
    Access { public: true, superadmin: true, roles: &[], step_up: None, scim: false, anyone: false }
}

const fn roles(roles: &'static [Role]) -> Access {
    Access { public: false, superadmin: true, roles, step_up: None, scim: false, anyone: false }
}

const fn destructive(roles: &'static [Role], step_up: StepUp) -> Access {
    Access { public: false, superadmin: true, roles, step_up: Some(step_up), scim: false, anyone: false }
}

/// Any valid credentials.
const fn anyone() -> Access {
    Access { public: false, superadmin: true, roles: EVERYONE, step_up: None, scim: false, anyone: true }
}

const fn superadmin_only() -> Access {
    Access { public: false, superadmin: true, roles: &[], step_up: None, scim: false, anyone: false }
}

/// Agents only: the superadmin does not act for agents.
const fn agents() -> Access {
    Access { public: false, superadmin: false, roles: AGENT, step_up: None, scim: false, anyone: false }
}

/// The SCIM service (`/scim/v2`), called by the identity provider with
/// the tenant's SCIM token.
const fn scim() -> Access {
    Access { public: false, superadmin: false, roles: &[], step_up: None, scim: true, anyone: false }
}

/// Every operation of the API with who may call it, by operation id.
pub const OPERATIONS: &[(&str, Access)] = &[
    ("health_check", public()),
    ("ready_check", public()),
    ("metrics", public()),
    ("public_keys", public()),
    ("auth_providers", public()),
    ("auth_login", public()),
    ("auth_callback", public()),
    ("auth_logout", public()),
    ("whoami_get", anyone()),
    // Tenants.
    ("tenant_create", superadmin_only()),
    ("tenant_list", roles(OPERATORS)),
    ("tenant_get", roles(OPERATORS)),
    ("tenant_update", roles(ADMIN)),
    ("tenant_webhook_secret_rotate", destructive(ADMIN, StepUp::Always)),
    ("operator_access_get", roles(ADMIN_AUDITOR)),
    ("operator_access_put", destructive(ADMIN, StepUp::Always)),
    ("scim_token_rotate", destructive(ADMIN, StepUp::Always)),
    ("operator_list", roles(ADMIN_AUDITOR)),
    ("operator_sessions_end", roles(ADMIN)),
    // API keys.
    ("api_key_create", roles(ADMIN)),
    ("api_key_list", roles(ADMIN_AUDITOR)),
    ("api_key_revoke", roles(ADMIN)),
    // Agents.
    ("agent_create", roles(ADMIN)),
    ("agent_list", roles(AGENTS_READ)),
    ("agent_get", roles(AGENTS_READ)),
    ("agent_update", roles(ADMIN)),
    // Intents.
    ("intent_declare", agents()),
    ("intent_declare_async", agents()),
    ("intent_declare_batch", agents()),
    ("intent_declare_alias", agents()),
    ("intent_list", roles(EVERYONE)),
    ("intent_decision_get", roles(EVERYONE)),
    ("intent_audit_list", roles(EVERYONE)),
    // Audit.
    ("audit_list", roles(ADMIN_AUDITOR)),
    ("audit_verify", roles(ADMIN_AUDITOR)),
    ("audit_checkpoint_list", roles(ADMIN_AUDITOR)),
    ("audit_checkpoint_latest", roles(ADMIN_AUDITOR)),
    ("audit_inclusion_proof", roles(ADMIN_AUDITOR)),
    ("audit_consistency_proof", roles(ADMIN_AUDITOR)),
    ("audit_export", roles(ADMIN_AUDITOR)),
    ("audit_payload_get", roles(ADMIN_AUDITOR)),
    ("audit_payload_erase", destructive(ADMIN, StepUp::Always)),
    // Capability tokens.
    ("token_mint", destructive(ADMIN, StepUp::WhenAsked)),
    ("token_revoke", destructive(ADMIN, StepUp::Always)),
    ("revocation_list", roles(ADMIN_AUDITOR)),
    // Upstreams.
    ("upstream_list", roles(ADMIN_AUDITOR)),
    ("upstream_create", roles(ADMIN)),
    ("upstream_delete", destructive(ADMIN, StepUp::Always)),
    // Integrations.
    ("integration_list", roles(ADMIN_AUDITOR)),
    ("discovery_ingest", roles(INGEST)),
    ("discovered_agent_list", roles(ADMIN_AUDITOR)),
    ("discovered_agent_get", roles(ADMIN_AUDITOR)),
    ("discovered_agent_update", roles(ADMIN)),
    ("discovered_agent_attest", roles(OPERATORS)),
    ("attestation_list", roles(ADMIN_AUDITOR)),
    ("discovery_settings_get", roles(ADMIN_AUDITOR)),
    ("discovery_settings_put", roles(ADMIN)),
    ("discovery_catalogue_get", roles(ADMIN_AUDITOR)),
    ("discovery_service_create", roles(ADMIN)),
    ("discovery_service_put", roles(ADMIN)),
    ("discovery_service_delete", roles(ADMIN)),
    ("posture_report_get", roles(ADMIN_AUDITOR)),
    ("access_report_get", roles(ADMIN_AUDITOR)),
    ("attestation_report_get", roles(ADMIN_AUDITOR)),
    ("activity_report_get", roles(ADMIN_AUDITOR)),
    ("integration_create", roles(ADMIN)),
    ("integration_get", roles(ADMIN_AUDITOR)),
    ("integration_update", roles(ADMIN)),
    ("integration_delete", roles(ADMIN)),
    ("integration_dead_letters", roles(ADMIN_AUDITOR)),
    ("integration_redrive", roles(ADMIN)),
    // Policies.
    ("policy_draft_list", roles(POLICY_READ)),
    ("policy_draft_create", roles(AUTHORS)),
    ("policy_draft_get", roles(POLICY_READ)),
    ("policy_draft_update", roles(AUTHORS)),
    ("policy_draft_delete", roles(AUTHORS)),
    ("policy_dry_run", roles(AUTHORS)),
    ("policy_active_get", roles(POLICY_ACTIVE)),
    ("policy_promote", destructive(AUTHORS, StepUp::Always)),
    ("policy_rollback", destructive(AUTHORS, StepUp::Always)),
    ("policy_proposal_list", roles(POLICY_READ)),
    ("policy_proposal_approve", destructive(AUTHORS, StepUp::Always)),
    ("policy_proposal_reject", roles(AUTHORS)),
    ("policy_template_list", roles(POLICY_READ)),
    // Approvals.
    ("approval_list", roles(APPROVALS_LIST)),
    ("approval_get", roles(APPROVALS_LIST)),
    ("approval_decide", destructive(DECIDERS, StepUp::AboveExposure)),
    ("approval_wait", roles(APPROVALS_READ)),
    // Tools.
    ("tool_call", agents()),
    ("mcp_message_send", agents()),
    ("mcp_session_delete", agents()),
    // SCIM 2.0.
    ("scim_service_provider_config", scim()),
    ("scim_resource_types", scim()),
    ("scim_schemas", scim()),
    ("scim_user_list", scim()),
    ("scim_user_create", scim()),
    ("scim_user_get", scim()),
    ("scim_user_replace", scim()),
    ("scim_user_patch", scim()),
    ("scim_user_delete", scim()),
    ("scim_group_list", scim()),
    ("scim_group_create", scim()),
    ("scim_group_get", scim()),
    ("scim_group_replace", scim()),
    ("scim_group_patch", scim()),
    ("scim_group_delete", scim()),
];

/// Who may call `operation` (`None` for an operation the table does not
/// know: refused).
pub fn access(operation: &str) -> Option<&'static Access> {
    // Every request looks its operation up: by hash, not along the list.
    static BY_ID: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static Access>> =
        std::sync::LazyLock::new(|| OPERATIONS.iter().map(|(id, access)| (*id, access)).collect());
    BY_ID.get(operation).copied()
}

impl Access {
    /// Whether a credential of `role` may call it in its tenant.
    pub fn allows(&self, role: Role) -> bool {
        self.public || self.anyone || self.roles.contains(&role)
    }

    /// The roles as `x-lictor-roles` lists them (`superadmin` first;
    /// `any` when any valid credentials may).
    pub fn role_names(&self) -> Vec<&'static str> {
        if self.anyone {
            return vec!["any"];
        }
        let mut names = Vec::new();
        if self.superadmin {
            names.push("superadmin");
        }
        names.extend(self.roles.iter().map(|r| r.as_str()));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (id, access) in OPERATIONS {
            assert!(seen.insert(*id), "{id} is listed twice");
            assert!(
                access.public || access.scim || access.superadmin || !access.roles.is_empty(),
                "{id} allows nobody"
            );
            if access.step_up.is_some() {
                assert!(!access.roles.contains(&Role::Agent), "{id}: agents have no sign-in to step up");
            }
        }
    }
}
