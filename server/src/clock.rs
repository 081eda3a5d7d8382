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

/// A duration in whole microseconds, for reports (`duration_us`,
/// `latency_us`); saturates rather than wraps.
pub fn duration_us(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Microseconds since `started`, for reports.
pub fn elapsed_us(started: std::time::Instant) -> u64 {
    duration_us(started.elapsed())
}

/// A duration as microseconds to add to a stored timestamp; capped at a
/// quarter of `i64` so `now + span` can never overflow.
pub fn span_micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX / 4).min(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn durations_saturate_instead_of_wrapping() {
        assert_eq!(duration_us(Duration::from_millis(3)), 3_000);
        assert_eq!(duration_us(Duration::MAX), u64::MAX);
        assert_eq!(span_micros(Duration::from_secs(2)), 2_000_000);
        assert_eq!(span_micros(Duration::MAX), i64::MAX / 4);
        assert!(now_micros().checked_add(span_micros(Duration::MAX)).is_some());
    }
}
