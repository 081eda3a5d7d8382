//! Time as the gateway stores it: microseconds since the Unix epoch.
//!
//! Both stores keep `BIGINT` microseconds, so a timestamp reads back exactly
//! as it was written on either backend and the audit hash, which covers
//! timestamps, is computed over identical values.

use std::time::Duration;

use chrono::{DateTime, Utc};

use lictor_offline::time::{rfc3339_micros, to_micros};

/// A moment as the gateway stores it: microseconds since the Unix epoch
/// (UTC). Stored as `BIGINT`, serialised as the bare number; the unit is
/// the type's, not a comment's.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// Before every moment (an open lower bound).
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// After every moment (an open upper bound).
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// Now.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp_micros())
    }

    /// The moment `micros` microseconds after the epoch.
    pub const fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    /// The moment `seconds` whole seconds after the epoch (saturating).
    pub const fn from_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds.saturating_mul(1_000_000))
    }

    /// `time`, to the microsecond.
    pub fn from_datetime(time: DateTime<Utc>) -> Timestamp {
        Timestamp(to_micros(time))
    }

    /// Microseconds since the epoch.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down), as JWT-style claims
    /// and signatures count time.
    pub const fn seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// The moment as a date and time (clamped to what `chrono` can show).
    pub fn to_datetime(self) -> DateTime<Utc> {
        lictor_offline::time::from_micros(self.0)
    }

    /// Saturating `self - earlier`, in microseconds (negative when
    /// `earlier` is later).
    pub const fn micros_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturates rather than wraps.
    fn add(self, span: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(span_micros(span)))
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturates rather than wraps.
    fn sub(self, span: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(span_micros(span)))
    }
}

impl std::fmt::Display for Timestamp {
    /// RFC 3339 with six fractional digits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rfc3339_micros(self.0))
    }
}

/// One day.
pub(crate) const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A duration in whole microseconds, for reports (`duration_us`,
/// `latency_us`); saturates rather than wraps.
pub fn duration_us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Microseconds since `started`, for reports.
pub(crate) fn elapsed_us(started: std::time::Instant) -> u64 {
    duration_us(started.elapsed())
}

/// A duration as microseconds to add to a stored timestamp; capped at a
/// quarter of `i64` so `now + span` can never overflow.
pub(crate) fn span_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX / 4).min(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_saturate_instead_of_wrapping() {
        assert_eq!(duration_us(Duration::from_millis(3)), 3_000);
        assert_eq!(duration_us(Duration::MAX), u64::MAX);
        assert_eq!(span_micros(Duration::from_secs(2)), 2_000_000);
        assert_eq!(span_micros(Duration::MAX), i64::MAX / 4);
        assert!(Timestamp::now().micros().checked_add(span_micros(Duration::MAX)).is_some());
    }

    #[test]
    fn timestamps_keep_their_unit_and_saturate() {
        let t = Timestamp::from_micros(1_700_000_000_123_456);
        assert_eq!((t + Duration::from_millis(1)).micros(), 1_700_000_000_124_456);
        assert_eq!((t - DAY).micros(), 1_700_000_000_123_456 - 86_400_000_000);
        assert_eq!((t + Duration::from_secs(2)).since(t), Duration::from_secs(2));
        assert_eq!(t.since(t + Duration::from_secs(60)), Duration::ZERO);
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.123456Z");
        assert_eq!(Timestamp::from_datetime(t.to_datetime()), t);
        assert_eq!(serde_json::to_string(&t).ok().as_deref(), Some("1700000000123456"));
        assert!(Timestamp::from_micros(i64::MAX) + Duration::MAX > t);
    }
}
