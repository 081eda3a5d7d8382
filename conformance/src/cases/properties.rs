//! Property cases: invariants checked over generated intents and tool calls
//! (proptest strategies, driven by the run's seed).

use crate::Case;

pub(super) fn cases() -> Vec<Case> {
    Vec::new()
}
