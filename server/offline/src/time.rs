//! Time as the audit log hashes it: microseconds since the Unix epoch,
//! written as RFC 3339 with exactly six fractional digits.

use chrono::{DateTime, TimeZone, Utc};

/// The instant `micros` microseconds after the epoch. chrono stops about
/// 262,000 years either side of it, short of `i64`'s range: beyond, the
/// nearest instant it has (never the epoch, which would misplace it).
pub fn from_micros(micros: i64) -> DateTime<Utc> {
    match Utc.timestamp_micros(micros).single() {
        Some(time) => time,
        None if micros > 0 => DateTime::<Utc>::MAX_UTC,
        None => DateTime::<Utc>::MIN_UTC,
    }
}

/// `time` as microseconds since the epoch.
pub fn to_micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// RFC 3339 with exactly six fractional digits and `Z`, the form used in
/// canonical (hashed) encodings.
pub fn rfc3339_micros(micros: i64) -> String {
    from_micros(micros).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        let t = 1_763_771_281_123_456;
        assert_eq!(to_micros(from_micros(t)), t);
        assert_eq!(rfc3339_micros(t), "2025-11-22T00:28:01.123456Z");
    }

    #[test]
    fn instants_beyond_chrono_clamp_instead_of_becoming_the_epoch() {
        assert_eq!(from_micros(i64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(from_micros(i64::MIN), DateTime::<Utc>::MIN_UTC);
    }
}
