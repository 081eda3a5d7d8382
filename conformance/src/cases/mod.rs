//! Every case, in run order. Ids are stable: a case may be added or
//! retired, never renamed.

mod audit;
mod auth;
mod core;
mod intents;
mod policies;
mod properties;
mod sweep;
mod tokens;

use crate::Case;

/// Every case of the suite.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(core::cases());
    cases.extend(intents::cases());
    cases.extend(tokens::cases());
    cases.extend(audit::cases());
    cases.extend(auth::cases());
    cases.extend(policies::cases());
    cases.extend(properties::cases());
    cases.extend(sweep::cases());
    cases
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

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
