//! Field helpers every vendor parser shares: the vendors' "no value"
//! markers, host names out of URLs, times and numbers however they are
//! written.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use crate::RecordError;

/// `value` trimmed, unless it is empty or one of the markers vendors write
/// for "no value" (`None`, `NA`, `N/A`, `Unknown`, `-`, `null`).
pub fn present(value: &str) -> Option<&str> {
    let value = value.trim();
    let marker = ["", "none", "na", "n/a", "unknown", "-", "null", "nil"];
    if marker.iter().any(|m| value.eq_ignore_ascii_case(m)) { None } else { Some(value) }
}

/// A field of a JSON object as text: strings trimmed (markers are absent),
/// numbers and booleans written out; absent, null, arrays and objects are
/// `None`.
pub fn text(record: &Value, key: &str) -> Option<String> {
    match record.get(key)? {
        Value::String(s) => present(s).map(str::to_string),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first of `keys` that is present, as text.
pub fn first_text(record: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| text(record, key))
}

/// A non-negative count, written as a number or as a quoted number
/// (`"1234"`); absent or a marker is `Ok(None)`, anything else an error
/// naming `key`.
pub fn count(record: &Value, key: &str) -> Result<Option<u64>, RecordError> {
    match record.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| RecordError::field(key, "not a non-negative whole number")),
        Some(Value::String(s)) => match present(s) {
            None => Ok(None),
            Some(s) => s
                .parse::<u64>()
                .map(Some)
                .map_err(|_| RecordError::field(key, "not a non-negative whole number")),
        },
        Some(_) => Err(RecordError::field(key, "not a number")),
    }
}

/// The host of a URL or of a bare host name: lower-case, without scheme,
/// user info, port, path or trailing dot. `None` when nothing is left.
pub fn host(value: &str) -> Option<String> {
    let value = present(value)?;
    let rest = value.split_once("://").map_or(value, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else if authority.matches(':').count() > 1 {
        authority // a bare IPv6 address
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// The path of a URL (with or without a scheme), without query or fragment.
pub fn path(url: &str) -> Option<String> {
    let url = present(url)?;
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let at = rest.find('/')?;
    let path = rest[at..].split(['?', '#']).next().unwrap_or_default();
    (!path.is_empty()).then(|| path.to_string())
}

/// A time, as vendors write them: epoch seconds or milliseconds (number or
/// string), RFC 3339, or `YYYY-MM-DD HH:MM:SS[.fff]` taken as UTC.
pub fn time(record: &Value, key: &str) -> Result<Option<DateTime<Utc>>, RecordError> {
    let bad = || RecordError::field(key, "not a time (epoch seconds or milliseconds, or RFC 3339)");
    match record.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().and_then(epoch).map(Some).ok_or_else(bad),
        Some(Value::String(s)) => match present(s) {
            None => Ok(None),
            Some(s) => parse_time(s).map(Some).ok_or_else(bad),
        },
        Some(_) => Err(bad()),
    }
}

/// Parses a time written as text (see [`time`]).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(number) = text.parse::<f64>() {
        return epoch(number);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    for pattern in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f %Z"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
            return Some(Utc.from_utc_datetime(&naive));
        }
    }
    None
}

/// Epoch seconds, or milliseconds when the number is too large to be
/// seconds (after the year 5138).
fn epoch(value: f64) -> Option<DateTime<Utc>> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let millis = if value >= 1e11 { value } else { value * 1000.0 };
    DateTime::from_timestamp_millis(millis as i64)
}

/// `record`'s time from the first of `keys` present, or an error naming
/// the first key when none is.
pub fn required_time(record: &Value, keys: &[&str]) -> Result<DateTime<Utc>, RecordError> {
    for key in keys {
        if let Some(time) = time(record, key)? {
            return Ok(time);
        }
    }
    Err(RecordError::field(keys[0], "missing: the record has no time"))
}

/// `value` as a JSON object, or a record error.
pub fn object(value: &Value) -> Result<&serde_json::Map<String, Value>, RecordError> {
    value.as_object().ok_or_else(|| RecordError::record("a record is a JSON object"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markers_are_absent() {
        for marker in ["", " ", "None", "NA", "n/a", "Unknown", "-", "null"] {
            assert_eq!(present(marker), None, "{marker}");
        }
        assert_eq!(present(" alice "), Some("alice"));
    }

    #[test]
    fn hosts_come_out_of_urls() {
        assert_eq!(host("https://API.OpenAI.com:443/v1/chat?x=1").as_deref(), Some("api.openai.com"));
        assert_eq!(host("api.anthropic.com:443").as_deref(), Some("api.anthropic.com"));
        assert_eq!(host("claude.ai.").as_deref(), Some("claude.ai"));
        assert_eq!(host("http://u:p@[2001:db8::1]:8080/x").as_deref(), Some("2001:db8::1"));
        assert_eq!(host("2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(host("None"), None);
        assert_eq!(
            path("https://api.openai.com/v1/chat/completions?x=1").as_deref(),
            Some("/v1/chat/completions")
        );
        assert_eq!(path("api.openai.com"), None);
    }

    #[test]
    fn times_and_counts_however_written() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z").unwrap().with_timezone(&Utc);
        let record = json!({"s": 1772359200, "ms": "1772359200000", "r": "2026-03-01T10:00:00Z",
            "d": "2026-03-01 10:00:00", "bad": "yesterday", "n": "12", "neg": -1});
        for key in ["s", "ms", "r", "d"] {
            assert_eq!(time(&record, key).unwrap(), Some(at), "{key}");
        }
        assert_eq!(time(&record, "bad").unwrap_err().field.as_deref(), Some("bad"));
        assert_eq!(time(&record, "absent").unwrap(), None);
        assert_eq!(count(&record, "n").unwrap(), Some(12));
        assert!(count(&record, "neg").is_err());
    }
}
