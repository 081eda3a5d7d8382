//! The roles a person holds, tenant by tenant.
//!
//! A tenant names the provider its people sign in with and which groups
//! hold which roles (its operator access). A person from that provider
//! holds, in the tenant, the roles of the groups they are in:
//! - in a tenant that SCIM provisions (a SCIM token was issued), the SCIM
//!   groups of the active SCIM user whose `userName` is theirs — a person
//!   SCIM does not know, or deactivated, holds nothing there;
//! - elsewhere, the groups their token states (the provider's
//!   `groups_claim`).
//!
//! The deployment's superadmins are the members of the provider's
//! `superadmin_groups` (groups as the token states them).
//!
//! Nothing is cached: a role removed, a group left or a user deactivated
//! counts from the next request.

use lictor_api::operators::{Grant, Person, RoleMapping, StepUpPolicy};
use serde::{Deserialize, Serialize};

use super::oidc::Provider;
use crate::store::{OperatorAccessRow, Store, StoreResult};

/// What a tenant's operator access stores beside its provider.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessSettings {
    /// Which groups hold which roles.
    #[serde(default)]
    pub role_mappings: Vec<RoleMapping>,
    /// What destructive operations need.
    #[serde(default)]
    pub step_up: StepUpPolicy,
}

impl AccessSettings {
    /// The settings of a stored row (`{}` when only a SCIM token exists).
    pub fn of(row: &OperatorAccessRow) -> StoreResult<AccessSettings> {
        crate::store::json_column(&row.settings)
    }
}

/// A person's user name as SCIM's `userName` is compared (lowercase).
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// What a person holds: whether they are a superadmin, and their roles,
/// for a credential issued at `issued` (Unix seconds): a tenant that cut
/// the person off at or after it grants nothing.
pub async fn resolve(
    store: &Store,
    provider: &Provider,
    person: &Person,
    groups: &[String],
    issued: i64,
) -> StoreResult<(bool, Vec<Grant>)> {
    let superadmin = groups.iter().any(|g| provider.settings.superadmin_groups.contains(g));
    let username = person.username.as_deref();
    let key = username.map(username_key);
    let cutoffs = store
        .operator_cutoffs((&person.issuer, &person.subject), (provider.name.as_str(), key.as_deref()))
        .await?;
    let mut grants = Vec::new();
    for row in store.operator_access_by_provider(provider.name.as_str()).await? {
        if cutoffs.iter().any(|(tenant, not_before)| *tenant == row.tenant && issued <= *not_before) {
            continue;
        }
        let settings = AccessSettings::of(&row)?;
        if settings.role_mappings.is_empty() {
            continue;
        }
        let held: Vec<String> = if row.scim {
            let Some(username) = username else { continue };
            match store.scim_user_by_name(&row.tenant, &username_key(username)).await? {
                Some(user) if user.active => store
                    .scim_groups_of(&row.tenant, &user.id)
                    .await?
                    .into_iter()
                    .map(|(_, name)| name)
                    .collect(),
                _ => continue,
            }
        } else {
            groups.to_vec()
        };
        for mapping in &settings.role_mappings {
            if held.iter().any(|g| g == mapping.group.as_str()) {
                grants.push(Grant { tenant: row.tenant.clone(), role: mapping.role.into() });
            }
        }
    }
    grants.sort();
    grants.dedup();
    Ok((superadmin, grants))
}
