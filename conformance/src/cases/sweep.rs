//! The auth sweep: every operation in the spec, tried with each kind of
//! wrong credential.

use crate::Case;

pub(super) fn cases() -> Vec<Case> {
    Vec::new()
}
