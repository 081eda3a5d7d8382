//! Any JSON source, read through a field mapping configured per source.
//!
//! A [`Mapping`] names, for each part of an [`Observation`], the field of
//! the source's records that gives it. Records are JSON objects (NDJSON,
//! a JSON array, or CSV rows, which frame as objects of strings keyed by
//! the header).
//!
//! # The mapping
//!
//! ```json
//! {
//!   "time": "ts",
//!   "user": "user.name",
//!   "service_account": "workload.account",
//!   "client_host": "src.host",
//!   "client_ip": "src.ip",
//!   "dest_host": "dest.host",
//!   "url": "request.url",
//!   "app": "app.name",
//!   "app_id": "app.id",
//!   "app_category": "app.category",
//!   "action": "decision",
//!   "bytes_in": "bytes.in",
//!   "bytes_out": "bytes.out",
//!   "requests": "count",
//!   "department": "/user/org.unit",
//!   "record_id": "/event.id"
//! }
//! ```
//!
//! | Key | Gives | |
//! |---|---|---|
//! | `time` | when the traffic happened: epoch seconds or milliseconds (number or text), RFC 3339, or `YYYY-MM-DD HH:MM:SS[.fff]` taken as UTC | required |
//! | `user`, `service_account`, `client_host`, `client_ip` | who: the first of them present in a record, in that order, is the identity (kind `user`, `service_account`, `host`, `ip`) | at least one |
//! | `dest_host`, `url` | where to: the host of `dest_host`, else the host of `url` | at least one |
//! | `path` | the URL path (its query is dropped); else the path of `url` | |
//! | `app`, `app_id`, `app_category` | the source's name, id and category of the application; an app is filed as generative AI when its category, without case, spaces and punctuation, contains `generativeai` | |
//! | `action` | what the source did, lower-cased | |
//! | `bytes`, or `bytes_in` and `bytes_out` | bytes, or the two directions added up (not both forms) | |
//! | `requests` | how many requests the record stands for (absent or 0 is 1) | |
//! | `department` | the user's department | |
//! | `record_id` | the source's own id of the record | |
//!
//! `client_ip` also gives the observation's client address when the
//! identity is not the address; a value there that is not an IPv4 or IPv6
//! address refuses the record. Unknown keys are refused.
//!
//! # Field paths
//!
//! - A *dotted path* walks nested objects: `user.name` is `{"user":
//!   {"name": …}}`; a segment of digits indexes an array (`hops.0.host`).
//!   When the walk finds nothing and the record has a key spelled as the
//!   whole path (`{"user.name": …}`, as flattened exports write), that key
//!   is read.
//! - A path starting with `/` is a JSON Pointer (RFC 6901), for keys that
//!   contain dots: `/event.id` is `{"event.id": …}`, `/user/org.unit` is
//!   `{"user": {"org.unit": …}}`; `~1` stands for `/` and `~0` for `~`.
//!
//! A path is at most [`MAX_PATH_LEN`] bytes and [`MAX_PATH_SEGMENTS`]
//! segments, without empty segments, control characters or white space at
//! either end. [`Mapping::check`] says which key of the mapping is wrong
//! (as a JSON path, `$.time`) and why, so the API can refuse the mapping
//! before any record is read.
//!
//! A field that is absent, `null`, or one of the vendors' "no value"
//! markers (`-`, `N/A`, `None`, …) is absent. Text, numbers and booleans
//! are read as text; an array or object where a value is expected is
//! absent.
//!
//! The crate-wide helpers at the end (a record as a JSON object, an
//! address written canonically) are shared with the vendor readers.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Identity, IdentityKind, Observation, Raw, Record, RecordError, VendorApp, fields};

/// The longest field path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 256;

/// The most segments a field path may have.
pub const MAX_PATH_SEGMENTS: usize = 16;

/// Which field of a source's records gives each part of an observation
/// (see the module documentation for the JSON shape and the path syntax).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// When the traffic happened. Required.
    pub time: String,
    /// A person's account (identity kind `user`), the first choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A workload's account (identity kind `service_account`), the second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// The client machine's name (identity kind `host`), the third.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_host: Option<String>,
    /// The client address (identity kind `ip`), the last; also the
    /// observation's client address when another identity is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// The destination host (a URL is accepted: its host is taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_host: Option<String>,
    /// The URL requested: its host when `dest_host` gives none, its path
    /// when `path` gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The application's name, as the source names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The application's id, as the source has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The application's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_category: Option<String>,
    /// What the source did with the traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Bytes in both directions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
    /// Bytes received by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<String>,
    /// Bytes sent by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<String>,
    /// How many requests the record stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<String>,
    /// The user's department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The source's own id of the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
}

impl Mapping {
    /// Every path the mapping gives, with the key naming it.
    fn paths(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let optional = [
            ("user", &self.user),
            ("service_account", &self.service_account),
            ("client_host", &self.client_host),
            ("client_ip", &self.client_ip),
            ("dest_host", &self.dest_host),
            ("url", &self.url),
            ("path", &self.path),
            ("app", &self.app),
            ("app_id", &self.app_id),
            ("app_category", &self.app_category),
            ("action", &self.action),
            ("bytes", &self.bytes),
            ("bytes_in", &self.bytes_in),
            ("bytes_out", &self.bytes_out),
            ("requests", &self.requests),
            ("department", &self.department),
            ("record_id", &self.record_id),
        ];
        std::iter::once(("time", self.time.as_str()))
            .chain(optional.into_iter().filter_map(|(key, path)| path.as_deref().map(|path| (key, path))))
    }

    /// Whether the mapping can be used: every path well formed, an
    /// identity and a destination given, bytes given one way. The error is
    /// the JSON path of the mapping's key at fault (`$.time`) and why.
    pub fn check(&self) -> Result<(), (String, String)> {
        for (key, path) in self.paths() {
            FieldPath::parse(path).map_err(|reason| (format!("$.{key}"), reason))?;
        }
        if self.user.is_none()
            && self.service_account.is_none()
            && self.client_host.is_none()
            && self.client_ip.is_none()
        {
            return Err((
                "$.user".to_string(),
                "no identity: give at least one of user, service_account, client_host, client_ip".to_string(),
            ));
        }
        if self.dest_host.is_none() && self.url.is_none() {
            return Err(("$.dest_host".to_string(), "no destination: give dest_host or url".to_string()));
        }
        if self.bytes.is_some() && (self.bytes_in.is_some() || self.bytes_out.is_some()) {
            return Err((
                "$.bytes".to_string(),
                "give bytes, or bytes_in and bytes_out, not both".to_string(),
            ));
        }
        Ok(())
    }
}

/// A parsed field path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldPath<'a> {
    /// The path as configured (errors name the record's field by it).
    text: &'a str,
    segments: Vec<String>,
    /// A dotted path (which may also be a flat key), not a pointer.
    dotted: bool,
}

impl<'a> FieldPath<'a> {
    fn parse(text: &'a str) -> Result<FieldPath<'a>, String> {
        if text.is_empty() {
            return Err("empty: a path names a field of the record".to_string());
        }
        if text.len() > MAX_PATH_LEN {
            return Err(format!("longer than {MAX_PATH_LEN} bytes"));
        }
        if text.trim() != text {
            return Err("white space at either end".to_string());
        }
        if text.chars().any(char::is_control) {
            return Err("a control character".to_string());
        }
        let (segments, dotted) = match text.strip_prefix('/') {
            Some(pointer) => (pointer.split('/').map(unescape).collect::<Result<Vec<_>, _>>()?, false),
            None => (text.split('.').map(str::to_string).collect(), true),
        };
        if segments.len() > MAX_PATH_SEGMENTS {
            return Err(format!("more than {MAX_PATH_SEGMENTS} segments"));
        }
        if segments.iter().any(String::is_empty) {
            return Err(if dotted {
                "an empty segment (two dots together, or a dot at either end)".to_string()
            } else {
                "an empty segment (two slashes together, or a slash at the end)".to_string()
            });
        }
        Ok(FieldPath { text, segments, dotted })
    }

    /// The value at the path in `record`; `None` when absent or `null`.
    fn resolve<'v>(&self, record: &'v Value) -> Option<&'v Value> {
        let walked = self.segments.iter().try_fold(record, |at, segment| match at {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => index(segment).and_then(|i| items.get(i)),
            _ => None,
        });
        let found = match walked {
            Some(value) => Some(value),
            None if self.dotted && self.segments.len() > 1 => record.get(self.text),
            None => None,
        };
        found.filter(|value| !value.is_null())
    }
}

/// An array index: digits only (no sign), no leading zero.
fn index(segment: &str) -> Option<usize> {
    let digits = segment.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = segment.len() > 1 && segment.starts_with('0');
    if digits && !leading_zero { segment.parse().ok() } else { None }
}

/// A JSON Pointer reference token, unescaped (`~1` is `/`, `~0` is `~`).
fn unescape(token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => {
                    return Err(
                        "`~` not followed by 0 or 1 (a pointer writes `~` as `~0`, `/` as `~1`)".to_string()
                    );
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// A value as text: strings trimmed (markers are absent), numbers and
/// booleans written out; arrays and objects are absent.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => fields::present(s).map(str::to_string),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value as a non-negative count, as [`fields::count`] reads one.
fn count_of(value: &Value, field: &str) -> Result<Option<u64>, RecordError> {
    let bad = || RecordError::field(field, "not a non-negative whole number");
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19).map(|f| f as u64))
            .map(Some)
            .ok_or_else(bad),
        Value::String(s) => match fields::present(s) {
            None => Ok(None),
            Some(s) => s.parse::<u64>().map(Some).map_err(|_| bad()),
        },
        _ => Err(RecordError::field(field, "not a number")),
    }
}

/// A value as a time, as [`fields::time`] reads one.
fn time_of(value: &Value, field: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, RecordError> {
    let bad = || RecordError::field(field, "not a time (epoch seconds or milliseconds, or RFC 3339)");
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => fields::parse_time(&n.to_string()).map(Some).ok_or_else(bad),
        Value::String(s) => match fields::present(s) {
            None => Ok(None),
            Some(s) => fields::parse_time(s).map(Some).ok_or_else(bad),
        },
        _ => Err(bad()),
    }
}

/// The mapping's `key` path, parsed (a record error if it is unusable).
fn mapped<'m>(key: &'static str, path: &'m str) -> Result<FieldPath<'m>, RecordError> {
    FieldPath::parse(path)
        .map_err(|reason| RecordError::record(format!("the mapping's `{key}` path is not usable: {reason}")))
}

/// Reads a record through `mapping`.
pub fn read(raw: Raw, mapping: &Mapping) -> Result<Record, RecordError> {
    let record = json_record(raw, "record")?;
    observe(&record, mapping).map(Record::Observation)
}

/// The observation `record` stands for, read through `m`.
fn observe<'m>(record: &Value, m: &'m Mapping) -> Result<Observation, RecordError> {
    let time = mapped("time", &m.time)?;
    let at = match time.resolve(record) {
        Some(value) => time_of(value, time.text)?,
        None => None,
    }
    .ok_or_else(|| RecordError::field(time.text, "missing: the record has no time"))?;

    let text =
        |key: &'static str, path: &'m Option<String>| -> Result<Option<(String, &'m str)>, RecordError> {
            let Some(path) = path.as_deref() else { return Ok(None) };
            let path = mapped(key, path)?;
            Ok(path.resolve(record).and_then(text_of).map(|value| (value, path.text)))
        };
    let count = |key: &'static str, path: &'m Option<String>| -> Result<Option<u64>, RecordError> {
        let Some(path) = path.as_deref() else { return Ok(None) };
        let path = mapped(key, path)?;
        match path.resolve(record) {
            Some(value) => count_of(value, path.text),
            None => Ok(None),
        }
    };

    let client_ip = match text("client_ip", &m.client_ip)? {
        Some((value, field)) => {
            Some(address(&value).ok_or_else(|| RecordError::field(field, "not an IP address"))?)
        }
        None => None,
    };
    let identity = [
        (IdentityKind::User, text("user", &m.user)?),
        (IdentityKind::ServiceAccount, text("service_account", &m.service_account)?),
        (IdentityKind::Host, text("client_host", &m.client_host)?),
    ]
    .into_iter()
    .find_map(|(kind, value)| value.and_then(|(value, _)| Identity::new(kind, &value)))
    .or_else(|| client_ip.as_deref().and_then(|ip| Identity::new(IdentityKind::Ip, ip)));
    let Some(identity) = identity else {
        let first = [&m.user, &m.service_account, &m.client_host, &m.client_ip]
            .into_iter()
            .find_map(|path| path.as_deref())
            .unwrap_or("user");
        return Err(RecordError::field(first, "missing: the record names no user, account, host or address"));
    };
    let client_ip = client_ip.filter(|_| identity.kind != IdentityKind::Ip);

    let url = text("url", &m.url)?;
    let host = match text("dest_host", &m.dest_host)? {
        Some((value, _)) => fields::host(&value),
        None => None,
    }
    .or_else(|| url.as_ref().and_then(|(url, _)| fields::host(url)));
    let Some(host) = host else {
        let field = m.dest_host.as_deref().or(m.url.as_deref()).unwrap_or("dest_host");
        return Err(RecordError::field(field, "missing: the record names no destination host or URL"));
    };
    let path = match text("path", &m.path)? {
        Some((value, _)) => value.split(['?', '#']).next().filter(|p| !p.is_empty()).map(str::to_string),
        None => None,
    }
    .or_else(|| url.as_ref().and_then(|(url, _)| fields::path(url)));

    let name = text("app", &m.app)?.map(|(value, _)| value);
    let id = text("app_id", &m.app_id)?.map(|(value, _)| value);
    let category = text("app_category", &m.app_category)?.map(|(value, _)| value);
    let app = (name.is_some() || id.is_some() || category.is_some()).then(|| VendorApp {
        generative_ai: category.as_deref().is_some_and(generative_category),
        id,
        name,
        category,
    });

    let bytes = match count("bytes", &m.bytes)? {
        Some(bytes) => bytes,
        None => count("bytes_in", &m.bytes_in)?
            .unwrap_or(0)
            .saturating_add(count("bytes_out", &m.bytes_out)?.unwrap_or(0)),
    };

    Ok(Observation {
        at,
        identity,
        host: Some(host),
        path,
        app,
        action: text("action", &m.action)?.map(|(value, _)| value.to_lowercase()),
        requests: count("requests", &m.requests)?.unwrap_or(1).max(1),
        bytes,
        client_ip,
        department: text("department", &m.department)?.map(|(value, _)| value),
        record_id: text("record_id", &m.record_id)?.map(|(value, _)| value),
    })
}

/// A category that files an app as generative AI: without case, spaces
/// and punctuation, it contains `generativeai`.
fn generative_category(category: &str) -> bool {
    let squashed: String = category.chars().filter(char::is_ascii_alphanumeric).collect();
    squashed.to_ascii_lowercase().contains("generativeai")
}

/// A framed record as a JSON object (`what` names the record in errors).
pub(crate) fn json_record(raw: Raw, what: &str) -> Result<Value, RecordError> {
    match raw {
        Raw::Json(value) if value.is_object() => Ok(value),
        Raw::Json(_) => Err(RecordError::record(format!("a {what} is a JSON object"))),
        Raw::Line(_) => Err(RecordError::record(format!("a {what} is a JSON object, not a line of text"))),
    }
}

/// An IPv4 or IPv6 address written canonically (`2001:DB8:0::1` is
/// `2001:db8::1`); brackets around an IPv6 address are dropped. `None`
/// when `text` is not an address.
pub(crate) fn address(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    text.parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Options};
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn fixture_mapping() -> Mapping {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/generic/mapping.json"))
                .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn minimal() -> Mapping {
        Mapping {
            time: "ts".into(),
            user: Some("user".into()),
            dest_host: Some("host".into()),
            ..Mapping::default()
        }
    }

    #[test]
    fn the_fixture_mapping_checks_and_round_trips() {
        let mapping = fixture_mapping();
        assert_eq!(mapping.check(), Ok(()));
        let again: Mapping = serde_json::from_value(serde_json::to_value(&mapping).unwrap()).unwrap();
        assert_eq!(again, mapping);
        let written = serde_json::to_value(minimal()).unwrap();
        assert_eq!(written, json!({"time": "ts", "user": "user", "dest_host": "host"}));
    }

    #[test]
    fn unknown_keys_and_a_missing_time_are_refused_by_serde() {
        let unknown =
            serde_json::from_value::<Mapping>(json!({"time": "ts", "user": "u", "url": "u", "usr": "x"}));
        assert!(unknown.unwrap_err().to_string().contains("unknown field `usr`"));
        let no_time = serde_json::from_value::<Mapping>(json!({"user": "u", "url": "u"}));
        assert!(no_time.unwrap_err().to_string().contains("missing field `time`"));
    }

    #[test]
    fn check_names_the_mapping_key_at_fault() {
        let bad = |change: fn(&mut Mapping)| {
            let mut mapping = minimal();
            change(&mut mapping);
            mapping.check().unwrap_err()
        };
        let (key, reason) = bad(|m| m.time = String::new());
        assert_eq!((key.as_str(), reason.starts_with("empty")), ("$.time", true));
        let (key, reason) = bad(|m| m.user = Some("a".repeat(MAX_PATH_LEN + 1)));
        assert_eq!((key.as_str(), reason.as_str()), ("$.user", "longer than 256 bytes"));
        let (key, reason) = bad(|m| m.app = Some(vec!["a"; MAX_PATH_SEGMENTS + 1].join(".")));
        assert_eq!((key.as_str(), reason.as_str()), ("$.app", "more than 16 segments"));
        let (key, reason) = bad(|m| m.action = Some("/a/b~2".into()));
        assert_eq!(key, "$.action");
        assert!(reason.contains("`~`"), "{reason}");
        for empty in ["a..b", ".a", "a.", "/a//b", "/a/"] {
            let mut mapping = minimal();
            mapping.record_id = Some(empty.into());
            let (key, reason) = mapping.check().unwrap_err();
            assert_eq!(key, "$.record_id", "{empty}");
            assert!(reason.contains("empty segment"), "{empty}: {reason}");
        }
        let (key, _) = bad(|m| m.bytes_in = Some(" bytes".into()));
        assert_eq!(key, "$.bytes_in");
        let (key, _) = bad(|m| m.path = Some("a\tb".into()));
        assert_eq!(key, "$.path");
        let (key, reason) = bad(|m| m.user = None);
        assert_eq!(key, "$.user");
        assert!(reason.starts_with("no identity"));
        let (key, _) = bad(|m| m.dest_host = None);
        assert_eq!(key, "$.dest_host");
        let (key, _) = bad(|m| {
            m.bytes = Some("b".into());
            m.bytes_out = Some("o".into())
        });
        assert_eq!(key, "$.bytes");
        // At the limits is fine.
        let mut mapping = minimal();
        mapping.user = Some(vec!["a"; MAX_PATH_SEGMENTS].join("."));
        mapping.app = Some("/".to_string() + &"k".repeat(MAX_PATH_LEN - 1));
        assert_eq!(mapping.check(), Ok(()));
    }

    #[test]
    fn paths_resolve_through_objects_arrays_pointers_and_flat_keys() {
        let record = json!({
            "user": {"name": "alice", "org.unit": "R&D", "null": null},
            "hops": [{"host": "a"}, {"host": "b"}],
            "event.id": "e-1",
            "a/b": {"~c": 1},
            "src.ip": "192.0.2.1",
            "src": {"port": 443}
        });
        let resolve = |path: &str| FieldPath::parse(path).unwrap().resolve(&record).cloned();
        assert_eq!(resolve("user.name"), Some(json!("alice")));
        assert_eq!(resolve("hops.1.host"), Some(json!("b")));
        assert_eq!(resolve("hops.01.host"), None);
        assert_eq!(resolve("hops.2.host"), None);
        assert_eq!(resolve("/event.id"), Some(json!("e-1")));
        assert_eq!(resolve("/user/org.unit"), Some(json!("R&D")));
        assert_eq!(resolve("/a~1b/~0c"), Some(json!(1)));
        assert_eq!(resolve("/hops/0/host"), Some(json!("a")));
        // A dotted path falls back to a flat key spelled as the whole path.
        assert_eq!(resolve("src.ip"), Some(json!("192.0.2.1")));
        assert_eq!(resolve("event.id"), Some(json!("e-1")));
        // A pointer does not.
        assert_eq!(resolve("/src.ip/x"), None);
        assert_eq!(resolve("user.null"), None);
        assert_eq!(resolve("user.name.first"), None);
        assert_eq!(resolve("absent"), None);
    }

    #[test]
    fn addresses_are_written_canonically() {
        assert_eq!(address("2001:DB8:0:0::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(address(" [2001:db8::2] ").as_deref(), Some("2001:db8::2"));
        assert_eq!(address("198.51.100.7").as_deref(), Some("198.51.100.7"));
        assert_eq!(address("198.51.100.300"), None);
        assert_eq!(address("host.example.com"), None);
    }

    #[test]
    fn read_needs_a_usable_mapping_and_an_object() {
        let mut mapping = minimal();
        mapping.user = Some("a..b".into());
        let error = read(Raw::Json(json!({"ts": 1, "host": "x"})), &mapping).unwrap_err();
        assert!(error.reason.contains("`user` path"), "{}", error.reason);
        let error = read(Raw::Line("ts=1".into()), &minimal()).unwrap_err();
        assert!(error.reason.contains("JSON object"));
        let error = crate::read(Format::Generic, Raw::Json(json!({})), &Options::default()).unwrap_err();
        assert!(error.reason.contains("mapping"));
    }

    fn observation(identity: (IdentityKind, &str), at_: &str, host: &str) -> Observation {
        Observation {
            at: at(at_),
            identity: Identity { kind: identity.0, value: identity.1.to_string() },
            host: Some(host.to_string()),
            path: None,
            app: None,
            action: None,
            requests: 1,
            bytes: 0,
            client_ip: None,
            department: None,
            record_id: None,
        }
    }

    #[test]
    fn the_proxy_fixture_reads_as_documented() {
        let options = Options { mapping: Some(fixture_mapping()) };
        let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/generic/proxy.ndjson"))
            .unwrap();
        let read: Vec<(u64, Result<Record, RecordError>)> =
            crate::frame::frames(std::io::BufReader::new(file), Format::Generic.layout(), None)
                .map(|framed| {
                    let framed = framed.unwrap();
                    (framed.line, framed.raw.and_then(|raw| crate::read(Format::Generic, raw, &options)))
                })
                .collect();

        let good = |line: u64, observation: Observation| {
            let found = read.iter().find(|(l, _)| *l == line).unwrap();
            assert_eq!(found.1, Ok(Record::Observation(observation)), "line {line}");
        };
        let bad = |line: u64, field: Option<&str>, reason: &str| {
            let found = read.iter().find(|(l, _)| *l == line).unwrap();
            let error = found.1.as_ref().unwrap_err();
            assert_eq!(error.field.as_deref(), field, "line {line}: {}", error.reason);
            assert!(error.reason.contains(reason), "line {line}: {}", error.reason);
        };
        assert_eq!(read.len(), 11);

        good(
            1,
            Observation {
                path: Some("/v1/chat/completions".into()),
                app: Some(VendorApp {
                    id: None,
                    name: Some("OpenAI".into()),
                    category: Some("Generative AI".into()),
                    generative_ai: true,
                }),
                action: Some("allowed".into()),
                requests: 3,
                bytes: 18_432 + 2_048,
                client_ip: Some("192.0.2.10".into()),
                department: Some("Research".into()),
                record_id: Some("px-0001".into()),
                ..observation(
                    (IdentityKind::User, "alice@example.com"),
                    "2026-03-02T09:15:00Z",
                    "api.openai.com",
                )
            },
        );
        good(
            2,
            Observation {
                path: Some("/v1/messages".into()),
                app: Some(VendorApp {
                    id: Some("anthropic-api".into()),
                    name: Some("Anthropic".into()),
                    category: Some("AI & ML Applications".into()),
                    generative_ai: false,
                }),
                action: Some("allowed".into()),
                bytes: 7_168,
                client_ip: Some("2001:db8::7".into()),
                record_id: Some("px-0002".into()),
                ..observation(
                    (IdentityKind::ServiceAccount, "svc-reporting"),
                    "2026-03-02T09:16:40Z",
                    "api.anthropic.com",
                )
            },
        );
        good(
            3,
            Observation {
                action: Some("blocked".into()),
                record_id: Some("px-0003".into()),
                ..observation(
                    (IdentityKind::Host, "build-07.corp.example.com"),
                    "2026-03-02T09:20:00Z",
                    "generativelanguage.googleapis.com",
                )
            },
        );
        good(
            4,
            Observation {
                path: Some("/api/chat".into()),
                requests: 1,
                record_id: Some("px-0004".into()),
                ..observation((IdentityKind::Ip, "203.0.113.44"), "2026-03-02T10:00:00Z", "chat.mistral.ai")
            },
        );
        bad(5, Some("ts"), "missing");
        bad(6, Some("ts"), "not a time");
        bad(7, Some("user.name"), "names no user");
        bad(8, Some("dest.host"), "no destination");
        bad(9, Some("bytes.in"), "not a non-negative whole number");
        bad(10, Some("src.ip"), "not an IP address");
        bad(11, None, "not JSON");
    }
}
