//! Every case, in run order. Ids are stable: a case may be added or
//! retired, never renamed.

mod approvals;
mod audit;
mod auth;
mod contract;
mod core;
mod discovery;
mod disruptive;
mod integrations;
mod intents;
mod mcp;
mod operators;
mod policies;
mod properties;
mod registry;
mod reports;
mod sweep;
mod tamper;
mod tokens;
mod vectors;

use crate::Case;

/// Every case of the suite.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(core::cases());
    cases.extend(registry::cases());
    cases.extend(intents::cases());
    cases.extend(tokens::cases());
    cases.extend(mcp::cases());
    cases.extend(audit::cases());
    cases.extend(auth::cases());
    cases.extend(policies::cases());
    cases.extend(approvals::cases());
    cases.extend(integrations::cases());
    cases.extend(operators::cases());
    cases.extend(discovery::cases());
    cases.extend(reports::cases());
    cases.extend(vectors::cases());
    cases.extend(contract::cases());
    cases.extend(properties::cases());
    cases.extend(sweep::cases());
    cases.extend(disruptive::cases());
    cases.extend(tamper::cases());
    cases
}

/// The spec the suite checks deployments against.
pub const SPEC: &str = include_str!("../../../openapi/lictor.json");

/// Operations without a conformance case yet (one `operationId` per line,
/// `#` comments). It may only shrink.
pub const UNCOVERED: &str = include_str!("../../uncovered-operations.txt");

/// Every `operationId` in [`SPEC`], sorted.
pub fn spec_operations() -> Vec<String> {
    let spec: serde_json::Value = serde_json::from_str(SPEC).unwrap_or_default();
    let mut ids: Vec<String> = spec["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(serde_json::Value::as_object)
        .flat_map(|methods| methods.values())
        .filter_map(|operation| operation["operationId"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// The operations listed in [`UNCOVERED`].
pub fn uncovered() -> Vec<String> {
    UNCOVERED
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;

    #[test]
    fn every_operation_has_a_case_or_is_listed_uncovered() {
        let spec: BTreeSet<String> = spec_operations().into_iter().collect();
        assert!(spec.len() > 40, "the spec lists {} operations", spec.len());
        let mut covered = BTreeSet::new();
        for case in all() {
            for operation in case.operations {
                assert!(spec.contains(*operation), "{} names `{operation}`, which the spec has not", case.id);
                covered.insert(operation.to_string());
            }
        }
        let listed: BTreeSet<String> = uncovered().into_iter().collect();
        let stale: Vec<_> = listed.iter().filter(|op| !spec.contains(*op)).collect();
        assert!(stale.is_empty(), "conformance/uncovered-operations.txt lists unknown operations: {stale:?}");
        let now_covered: Vec<_> = listed.intersection(&covered).collect();
        assert!(
            now_covered.is_empty(),
            "these operations have cases now: remove them from conformance/uncovered-operations.txt: {now_covered:?}"
        );
        let missing: Vec<_> =
            spec.iter().filter(|op| !covered.contains(*op) && !listed.contains(*op)).collect();
        assert!(
            missing.is_empty(),
            "operations without a conformance case: add a case (its `operations`) for each: {missing:?}"
        );
    }

    #[test]
    fn ids_are_unique_and_name_their_group() {
        let mut seen = HashSet::new();
        for case in all() {
            assert!(seen.insert(case.id), "duplicate id {}", case.id);
            let (group, name) = case.id.split_once('.').unwrap_or_default();
            assert_eq!(group, case.group.as_str(), "{}", case.id);
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                case.id
            );
        }
        assert!(seen.len() >= 10);
    }
}
