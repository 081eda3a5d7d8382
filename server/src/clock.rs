//! Time as the gateway stores it: microseconds since the Unix epoch.
//!
//! Both stores keep `BIGINT` microseconds, so a timestamp reads back exactly
//! as it was written on either backend and the audit hash, which covers
//! timestamps, is computed over identical values.

use chrono::Utc;

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

pub use lictor_offline::time::{from_micros, rfc3339_micros, to_micros};

/// One minute, in microseconds.
pub const MINUTE_MICROS: i64 = 60_000_000;
/// One day, in microseconds.
pub const DAY_MICROS: i64 = 24 * 60 * MINUTE_MICROS;
