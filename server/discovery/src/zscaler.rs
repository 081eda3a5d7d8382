//! Zscaler Internet Access (ZIA): NSS web log records.
//!
//! # Transport
//!
//! ZIA has no API that exports web logs: its REST API exports admin audit
//! logs only, and Z-Insights returns aggregates, not transactions. Web logs
//! leave ZIA through the Nanolog Streaming Service (NSS), in the format the
//! admin writes as the feed's *Feed Output Format*:
//!
//! - **Cloud NSS** POSTs batches over HTTPS to an endpoint the admin names
//!   (the gateway's ingest endpoint), with the HTTP headers the admin
//!   configures; the body is one JSON array of records (the feed's JSON
//!   array option) or records separated by newlines.
//! - **Cloud NSS to S3** writes objects under an S3 prefix.
//! - An **NSS VM** streams records over TCP syslog.
//!
//! This module reads one record as [`frame`](crate::frame) cuts it: a JSON
//! record (NDJSON, or an element of a JSON array) or a CSV row, which the
//! framer turns into an object of strings keyed by the header row or by the
//! configured columns (NSS CSV feeds have no header row, so their columns
//! must be given in the feed's order). A line of text ([`Raw::Line`], such
//! as a CEF or name-value syslog line) is refused.
//!
//! A record may be wrapped as Zscaler's own templates write it,
//! `{"sourcetype": "zscalernss-web", "event": {…}}`: the `event` object is
//! read. A record whose `sourcetype` is not a web log one, or whose
//! `DeviceProduct` is not `NSSWeblog`, is refused.
//!
//! # Fields read
//!
//! Three key sets are read, whichever the record carries: the native NSS
//! field names (the `%s{…}` variable names, as in the native-key JSON
//! template and CSV headers), the keys of Zscaler's Splunk
//! `zscalernss-web` JSON template, and the CEF-named keys of the Microsoft
//! Sentinel Cloud NSS template. For each, the first key present wins.
//!
//! | Observation | Native NSS | Splunk template | Sentinel (CEF names) |
//! |---|---|---|---|
//! | `at` | `epochtime`; else `time` (with `tz`) | `datetime` | `TimeGenerated`; else `rt` |
//! | `identity`, a user | `login`, `elogin`, `b64login` | `user` | `suser` |
//! | … unless equal to the location | `location`, `elocation` | `location` | `spriv` |
//! | `identity`, a user (fallback) | `deviceowner` | `deviceowner` | `deviceowner` |
//! | `identity`, a host (fallback) | `devicehostname` | `devicehostname` | `devicehostname` |
//! | `identity`, an address (last) / `client_ip` | `cip`, `cltip` | `ClientIP` | `src` |
//! | `host` | `host`, `ehost`, `b64host`; else from the URL | `hostname` | `dhost` |
//! | `path` (from the URL) | `url`, `eurl`, `b64url` | `url` | `request` |
//! | `app.name` | `appname` | `appname` | `destinationServiceName` |
//! | `app.category` | `appclass`; else `urlcat` | `appclass`; else `urlcategory` | `cs1`…`cs6` labelled `urlcat`; else `cat` |
//! | `app.generative_ai` | `appclass`, `urlcat`, `prompt_req` (see below) | `appclass`, `urlcategory` | `cs`… `urlcat`, `cat` |
//! | `action` (lower-cased) | `action` | `action` | `act` |
//! | `bytes` | `totalsize`; else `reqsize` + `respsize` | `transactionsize`; else `requestsize` + `responsesize` | `in` (or `in_bytes`) + `out` |
//! | `department` | `dept`, `edepartment` | `department` | `cs1`…`cs6` labelled `dept` |
//! | `record_id` | `recordid` | `event_id` | `externalId` |
//!
//! `requests` is always 1: an NSS record is one transaction.
//!
//! # Values
//!
//! - The "no value" markers (`None`, `NA`, `N/A`, `Unknown`, `-`, empty) are
//!   absent, and so is the department `Default Department`.
//! - NSS hex-encodes URLs and host names (bytes ≤ 0x20 or ≥ 0x7F, and the
//!   feed's escape characters, become `%HH`), and its `e…` fields
//!   (`eurl`, `ehost`, `elogin`, `elocation`, `edepartment`) are hex-encoded
//!   wholesale. These keys are decoded once, after framing: `url`, `eurl`,
//!   `request`, `host`, `hostname`, `ehost`, `dhost`, `user`, `elogin`,
//!   `department`, `edepartment`, `location`, `elocation` (the Splunk
//!   template fills `user`, `department`, `location`, `url` and `hostname`
//!   from `e…` fields). A `%` not followed by two hex digits is kept.
//!   `b64login`, `b64host` and `b64url` are base64-decoded.
//! - Numbers are read quoted (`"1234"`) or not.
//! - Times: `epochtime` is epoch seconds. `time` (`Mon Oct 16 22:55:48
//!   2023`) carries no zone: it is read in the zone `tz` names when that is
//!   `GMT`, `UTC` or an offset (`GMT+05:30`, `+0100`), as UTC when there is
//!   no `tz`, and refused for any other zone (add `%d{epochtime}` to the
//!   feed). `datetime` (`YY-MM-DD HH:MM:SS` or `YYYY-…`), `TimeGenerated`
//!   and `rt` (epoch milliseconds or `Mon DD YYYY HH:MM:SS`) are read as
//!   UTC: set the feed's time zone to GMT.
//! - A login equal to the record's location is not a user: NSS writes the
//!   location name there for traffic it could not authenticate.
//! - `app.generative_ai` is set when `appclass` is the cloud-app category
//!   `AI & ML Applications` (or its id `AI_ML`), when the URL category is
//!   one of the predefined ids `AI_ML_APPS` or `GENERAL_AI_ML`, or when the
//!   record carries a prompt (`prompt_req`, the prompt a user entered in a
//!   generative AI application). The display strings NSS prints for those
//!   URL categories are not documented, so they are not matched.
//! - The prompt itself (`prompt_req` and any other field named `…prompt…`)
//!   is never copied: only its presence is used.
//!
//! Not read: user agents, referers, server addresses, rules and reasons,
//! threat and DLP fields, obfuscated (`o…`) fields.

use std::net::IpAddr;

use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use crate::{Identity, IdentityKind, Observation, Raw, Record, RecordError, VendorApp, fields};

/// How a field's value is encoded.
#[derive(Clone, Copy)]
enum Enc {
    /// As written.
    Plain,
    /// NSS hex (`%HH`) encoding.
    Hex,
    /// Base64.
    B64,
}

const LOGIN: &[(&str, Enc)] = &[
    ("login", Enc::Plain),
    ("user", Enc::Hex),
    ("suser", Enc::Plain),
    ("elogin", Enc::Hex),
    ("b64login", Enc::B64),
];
const LOCATION: &[(&str, Enc)] = &[("location", Enc::Hex), ("elocation", Enc::Hex), ("spriv", Enc::Plain)];
const DEVICE_OWNER: &[(&str, Enc)] = &[("deviceowner", Enc::Plain)];
const DEVICE_HOST: &[(&str, Enc)] = &[("devicehostname", Enc::Plain)];
const CLIENT_IP: &[(&str, Enc)] =
    &[("cip", Enc::Plain), ("ClientIP", Enc::Plain), ("src", Enc::Plain), ("cltip", Enc::Plain)];
const HOST: &[(&str, Enc)] = &[
    ("host", Enc::Hex),
    ("hostname", Enc::Hex),
    ("ehost", Enc::Hex),
    ("dhost", Enc::Hex),
    ("b64host", Enc::B64),
];
const URL: &[(&str, Enc)] =
    &[("url", Enc::Hex), ("eurl", Enc::Hex), ("request", Enc::Hex), ("b64url", Enc::B64)];
const APP_NAME: &[(&str, Enc)] = &[("appname", Enc::Plain), ("destinationServiceName", Enc::Plain)];
const APP_CLASS: &[(&str, Enc)] = &[("appclass", Enc::Plain)];
const URL_CATEGORY: &[(&str, Enc)] = &[("urlcat", Enc::Plain), ("urlcategory", Enc::Plain)];
const ACTION: &[(&str, Enc)] = &[("action", Enc::Plain), ("act", Enc::Plain)];
const DEPARTMENT: &[(&str, Enc)] =
    &[("dept", Enc::Plain), ("department", Enc::Hex), ("edepartment", Enc::Hex)];
const RECORD_ID: &[(&str, Enc)] =
    &[("recordid", Enc::Plain), ("event_id", Enc::Plain), ("externalId", Enc::Plain)];

const TOTAL_BYTES: &[&str] = &["totalsize", "transactionsize"];
const REQUEST_BYTES: &[&str] = &["reqsize", "requestsize", "out"];
const RESPONSE_BYTES: &[&str] = &["respsize", "responsesize", "in", "in_bytes"];

/// The cloud-app categories (`appclass`) that are generative AI.
const AI_APP_CLASSES: &[&str] = &["AI & ML Applications", "AI_ML"];
/// The URL categories that are generative AI (predefined category ids).
const AI_URL_CATEGORIES: &[&str] = &["AI_ML_APPS", "GENERAL_AI_ML"];

/// Reads an NSS web log record (JSON, or a CSV row framed as an object).
pub fn read(raw: Raw) -> Result<Record, RecordError> {
    let value = match raw {
        Raw::Json(value) => value,
        Raw::Line(_) => {
            return Err(RecordError::record(
                "NSS web log records are read as JSON (a JSON array or NDJSON) or as CSV rows, not as lines of text",
            ));
        }
    };
    let record = unwrap(&value)?;
    check_kind(&value)?;
    check_kind(record)?;

    let at = time(record)?;
    let client_ip = client_ip(record)?;
    let identity = identity(record, client_ip.as_deref())?;
    let client_ip = if identity.kind == IdentityKind::Ip { None } else { client_ip };

    let url = get(record, URL)?;
    let host = match get(record, HOST)? {
        Some(host) => fields::host(&host),
        None => None,
    }
    .or_else(|| url.as_deref().and_then(fields::host));
    let path = url.as_deref().and_then(fields::path);

    Ok(Record::Observation(Observation {
        at,
        identity,
        host,
        path,
        app: app(record)?,
        action: get(record, ACTION)?.map(|a| a.to_lowercase()),
        requests: 1,
        bytes: bytes(record)?,
        client_ip,
        department: department(record)?,
        record_id: get(record, RECORD_ID)?,
    }))
}

/// The record itself: the `event` object of a `{"sourcetype", "event"}`
/// wrapper, or the object.
fn unwrap(value: &Value) -> Result<&Value, RecordError> {
    fields::object(value)?;
    match value.get("event") {
        Some(event @ Value::Object(_)) => Ok(event),
        _ => Ok(value),
    }
}

/// Refuses firewall, DNS and other NSS records that reach a web feed.
fn check_kind(record: &Value) -> Result<(), RecordError> {
    if let Some(kind) = fields::text(record, "sourcetype")
        && !kind.to_ascii_lowercase().contains("web")
    {
        return Err(RecordError::field("sourcetype", format!("not a web log record: sourcetype `{kind}`")));
    }
    if let Some(product) = fields::text(record, "DeviceProduct")
        && !product.eq_ignore_ascii_case("NSSWeblog")
    {
        return Err(RecordError::field(
            "DeviceProduct",
            format!("not a web log record: DeviceProduct `{product}`"),
        ));
    }
    Ok(())
}

/// The first of `keys` present, decoded as its key says; decoded values
/// that are "no value" markers are absent.
fn get(record: &Value, keys: &[(&str, Enc)]) -> Result<Option<String>, RecordError> {
    for &(key, enc) in keys {
        let Some(text) = fields::text(record, key) else { continue };
        let decoded = match enc {
            Enc::Plain => text,
            Enc::Hex => hex_decode(&text),
            Enc::B64 => base64_decode(&text).ok_or_else(|| RecordError::field(key, "not base64"))?,
        };
        if let Some(value) = fields::present(&decoded) {
            return Ok(Some(value.to_string()));
        }
    }
    Ok(None)
}

/// The value of the CEF custom string (`cs1`…`cs6`) whose label is `label`.
fn labelled(record: &Value, label: &str) -> Option<String> {
    (1..=6).find_map(|n| {
        let name = fields::text(record, &format!("cs{n}Label"))?;
        if name.eq_ignore_ascii_case(label) { fields::text(record, &format!("cs{n}")) } else { None }
    })
}

/// Decodes NSS hex encoding (`%HH`) once; a `%` not followed by two hex
/// digits is kept as it is. Bytes that do not make UTF-8 are replaced.
fn hex_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let high = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
            let low = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
            if let (Some(high), Some(low)) = (high, low) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(byte);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64_decode(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim()))
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The client address, canonical, or an error naming its field.
fn client_ip(record: &Value) -> Result<Option<String>, RecordError> {
    for &(key, _) in CLIENT_IP {
        if let Some(text) = fields::text(record, key) {
            let ip: IpAddr = text
                .parse()
                .map_err(|_| RecordError::field(key, format!("`{text}` is not an IP address")))?;
            return Ok(Some(ip.to_string()));
        }
    }
    Ok(None)
}

/// Who: the login unless it is the location's name, then the device's
/// owner, then its host name, then the client address.
fn identity(record: &Value, client_ip: Option<&str>) -> Result<Identity, RecordError> {
    let location = get(record, LOCATION)?;
    if let Some(login) = get(record, LOGIN)?
        && !location.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(&login))
        && let Some(identity) = Identity::new(IdentityKind::User, &login)
    {
        return Ok(identity);
    }
    if let Some(identity) = get(record, DEVICE_OWNER)?.and_then(|o| Identity::new(IdentityKind::User, &o)) {
        return Ok(identity);
    }
    if let Some(identity) = get(record, DEVICE_HOST)?.and_then(|h| Identity::new(IdentityKind::Host, &h)) {
        return Ok(identity);
    }
    if let Some(identity) = client_ip.and_then(|ip| Identity::new(IdentityKind::Ip, ip)) {
        return Ok(identity);
    }
    Err(RecordError::field(
        "login",
        "no identity: no user (other than the location name), device owner, device host name or client address",
    ))
}

fn app(record: &Value) -> Result<Option<VendorApp>, RecordError> {
    let name = get(record, APP_NAME)?;
    let class = get(record, APP_CLASS)?;
    let url_category = match get(record, URL_CATEGORY)? {
        Some(category) => Some(category),
        None => labelled(record, "urlcat").or_else(|| fields::text(record, "cat")),
    };
    let generative_ai =
        class.as_deref().is_some_and(|c| AI_APP_CLASSES.iter().any(|a| a.eq_ignore_ascii_case(c)))
            || url_category
                .as_deref()
                .is_some_and(|c| AI_URL_CATEGORIES.iter().any(|a| a.eq_ignore_ascii_case(c)))
            || has_prompt(record);
    let category = class.or(url_category);
    if name.is_none() && category.is_none() && !generative_ai {
        return Ok(None);
    }
    Ok(Some(VendorApp { id: None, name, category, generative_ai }))
}

/// Whether the record carries a prompt (`prompt_req` or a variant of it).
/// Only the presence is read; the prompt is never copied.
fn has_prompt(record: &Value) -> bool {
    record.as_object().is_some_and(|object| {
        object.iter().any(|(key, value)| {
            key.to_ascii_lowercase().contains("prompt")
                && match value {
                    Value::String(s) => fields::present(s).is_some(),
                    Value::Null => false,
                    _ => true,
                }
        })
    })
}

fn department(record: &Value) -> Result<Option<String>, RecordError> {
    let department = match get(record, DEPARTMENT)? {
        Some(department) => Some(department),
        None => labelled(record, "dept"),
    };
    Ok(department.filter(|d| !d.eq_ignore_ascii_case("Default Department")))
}

/// The first of `keys` present, as a count.
fn first_count(record: &Value, keys: &[&str]) -> Result<Option<u64>, RecordError> {
    for key in keys {
        if let Some(count) = fields::count(record, key)? {
            return Ok(Some(count));
        }
    }
    Ok(None)
}

/// The total bytes, or the request's plus the response's.
fn bytes(record: &Value) -> Result<u64, RecordError> {
    if let Some(total) = first_count(record, TOTAL_BYTES)? {
        return Ok(total);
    }
    let request = first_count(record, REQUEST_BYTES)?.unwrap_or(0);
    let response = first_count(record, RESPONSE_BYTES)?.unwrap_or(0);
    Ok(request.saturating_add(response))
}

fn time(record: &Value) -> Result<DateTime<Utc>, RecordError> {
    if let Some(at) = fields::time(record, "epochtime")? {
        return Ok(at);
    }
    for key in ["datetime", "TimeGenerated"] {
        if let Some(text) = fields::text(record, key) {
            return parse_datetime(&text).ok_or_else(|| {
                RecordError::field(
                    key,
                    format!("`{text}` is not a time (YY-MM-DD HH:MM:SS or YYYY-MM-DD HH:MM:SS)"),
                )
            });
        }
    }
    if let Some(text) = fields::text(record, "time") {
        if let Some(naive) = parse_ctime(&text) {
            let zone = zone(record)?;
            return zone
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| RecordError::field("time", format!("`{text}` is not a time")));
        }
        return fields::parse_time(&text).ok_or_else(|| {
            RecordError::field("time", format!("`{text}` is not a time (Mon Oct 16 22:55:48 2023)"))
        });
    }
    if let Some(text) = fields::text(record, "rt") {
        return fields::parse_time(&text)
            .or_else(|| {
                NaiveDateTime::parse_from_str(&squeeze(&text), "%b %d %Y %H:%M:%S%.f")
                    .ok()
                    .map(|n| n.and_utc())
            })
            .ok_or_else(|| RecordError::field("rt", format!("`{text}` is not a time")));
    }
    Err(RecordError::field(
        "epochtime",
        "missing: the record has no time (epochtime, time, datetime, TimeGenerated or rt)",
    ))
}

/// `text` with runs of white space made one space.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `YY-MM-DD HH:MM:SS` or `YYYY-MM-DD HH:MM:SS` (or RFC 3339), as UTC.
fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let year_digits = text.trim().split('-').next().map_or(0, str::len);
    if year_digits == 2 {
        let naive = NaiveDateTime::parse_from_str(text.trim(), "%y-%m-%d %H:%M:%S%.f").ok()?;
        return Some(naive.and_utc());
    }
    fields::parse_time(text)
}

/// NSS `%s{time}`: `Mon Oct 16 22:55:48 2023` (the day may be padded with
/// a space), without a zone.
fn parse_ctime(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(&squeeze(text), "%a %b %d %H:%M:%S %Y").ok()
}

/// The zone `tz` names: GMT, UTC or an offset; UTC when there is none.
fn zone(record: &Value) -> Result<FixedOffset, RecordError> {
    let utc = FixedOffset::east_opt(0).ok_or_else(|| RecordError::record("no UTC offset"))?;
    let Some(tz) = fields::text(record, "tz") else { return Ok(utc) };
    let bad = || {
        RecordError::field(
            "tz",
            format!(
                "time zone `{tz}` is not GMT, UTC or an offset: add %d{{epochtime}} to the feed or set it to GMT"
            ),
        )
    };
    let upper = tz.to_ascii_uppercase();
    let rest = upper.strip_prefix("GMT").or_else(|| upper.strip_prefix("UTC")).unwrap_or(&upper).trim();
    if rest.is_empty() || rest == "Z" {
        return Ok(utc);
    }
    let (sign, digits) = match rest.split_at_checked(1) {
        Some(("+", digits)) => (1, digits),
        Some(("-", digits)) => (-1, digits),
        _ => return Err(bad()),
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().map_err(|_| bad())?, 0),
        4 => {
            let (h, m) = digits.split_at(2);
            (h.parse::<i32>().map_err(|_| bad())?, m.parse::<i32>().map_err(|_| bad())?)
        }
        _ => return Err(bad()),
    };
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::BufReader;

    use serde_json::json;

    use super::*;
    use crate::{Format, Options};

    /// The records of a fixture, read: each with its line.
    fn fixture(format: Format, name: &str) -> Vec<(u64, Result<Record, RecordError>)> {
        let path = format!("{}/fixtures/zscaler/{name}", env!("CARGO_MANIFEST_DIR"));
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        crate::frame::frames(BufReader::new(file), format.layout(), None)
            .map(|framed| {
                let framed = framed.unwrap();
                (framed.line, framed.raw.and_then(|raw| crate::read(format, raw, &Options::default())))
            })
            .collect()
    }

    fn observation(result: &Result<Record, RecordError>) -> &Observation {
        match result {
            Ok(Record::Observation(observation)) => observation,
            other => panic!("not an observation: {other:?}"),
        }
    }

    fn error(result: &Result<Record, RecordError>) -> &RecordError {
        match result {
            Err(error) => error,
            other => panic!("not an error: {other:?}"),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn user(value: &str) -> Identity {
        Identity { kind: IdentityKind::User, value: value.into() }
    }

    fn app(name: Option<&str>, category: Option<&str>, generative_ai: bool) -> Option<VendorApp> {
        Some(VendorApp {
            id: None,
            name: name.map(Into::into),
            category: category.map(Into::into),
            generative_ai,
        })
    }

    #[test]
    fn native_keys_ndjson() {
        let records = fixture(Format::ZscalerNssJson, "nss-web.ndjson");
        assert_eq!(records.len(), 12);

        // Wrapped, user, IPv6 client, blocked, hex-encoded URL, `time` without tz.
        assert_eq!(records[0].0, 1);
        assert_eq!(
            observation(&records[0].1),
            &Observation {
                at: at("2026-03-04T14:07:30Z"),
                identity: user("j.doe@example.com"),
                host: Some("api.openai.com".into()),
                path: Some("/v1/chat/completions".into()),
                app: app(Some("OpenAI"), Some("AI & ML Applications"), true),
                action: Some("blocked".into()),
                requests: 1,
                bytes: 2048 + 612,
                client_ip: Some("2001:db8:10::25".into()),
                department: Some("Finance".into()),
                record_id: None,
            }
        );

        // Unwrapped, epochtime as a quoted number, totalsize and recordid unquoted,
        // login equal to the location: the device owner is the user.
        assert_eq!(
            observation(&records[1].1),
            &Observation {
                at: at("2026-03-04T14:09:01Z"),
                identity: user("blee"),
                host: Some("claude.ai".into()),
                path: Some("/api/organizations".into()),
                app: app(Some("Claude"), Some("AI & ML Applications"), true),
                action: Some("allowed".into()),
                requests: 1,
                bytes: 23800,
                client_ip: Some("192.0.2.15".into()),
                department: Some("R&D, Platform".into()),
                record_id: Some("7394512208813460001".into()),
            }
        );

        // Login is the location, no owner: the device host name; tz offset.
        assert_eq!(
            observation(&records[2].1),
            &Observation {
                at: at("2026-03-04T13:05:59Z"),
                identity: Identity { kind: IdentityKind::Host, value: "build-agent-07".into() },
                host: Some("api.anthropic.com".into()),
                path: None,
                app: app(Some("General Browsing"), Some("General Browsing"), false),
                action: Some("allowed".into()),
                requests: 1,
                bytes: 720 + 4400,
                client_ip: Some("192.0.2.99".into()),
                department: None,
                record_id: Some("7394512208813460002".into()),
            }
        );

        // Nobody but the address; Default Department is no department; the
        // host comes from the URL; no app fields at all.
        assert_eq!(
            observation(&records[3].1),
            &Observation {
                at: at("2026-03-04T14:10:00Z"),
                identity: Identity { kind: IdentityKind::Ip, value: "2001:db8:10::30".into() },
                host: Some("generativelanguage.googleapis.com".into()),
                path: Some("/v1beta/models/gemini-pro:generateContent".into()),
                app: None,
                action: Some("cautioned".into()),
                requests: 1,
                bytes: 0,
                client_ip: None,
                department: None,
                record_id: None,
            }
        );

        // A prompt marks generative AI and is never copied; base64 login and URL.
        let prompted = observation(&records[4].1);
        assert_eq!(prompted.identity, user("m.rossi@example.com"));
        assert_eq!(prompted.host.as_deref(), Some("chat.mistral.ai"));
        assert_eq!(prompted.path.as_deref(), Some("/chat"));
        assert_eq!(prompted.app, app(Some("Le Chat"), Some("Collaboration"), true));
        assert_eq!(prompted.record_id.as_deref(), Some("7394512208813460004"));
        assert!(!serde_json::to_string(prompted).unwrap().contains("quarterly"));

        // Malformed.
        let refused: Vec<(u64, Option<&str>, &str)> = records[5..]
            .iter()
            .map(|(line, result)| {
                let e = error(result);
                (*line, e.field.as_deref(), e.reason.as_str())
            })
            .collect();
        assert_eq!(refused[0].0, 6);
        assert_eq!(refused[0].1, Some("reqsize"));
        assert_eq!(refused[1].1, Some("epochtime"));
        assert!(refused[1].2.starts_with("missing"));
        assert_eq!(refused[2].1, Some("login"));
        assert!(refused[2].2.starts_with("no identity"));
        assert_eq!(refused[3].1, None);
        assert!(refused[3].2.starts_with("not JSON"), "{}", refused[3].2);
        assert_eq!(refused[4].1, Some("sourcetype"));
        assert_eq!(refused[5].1, Some("tz"));
        assert_eq!(refused[6].1, None);
        assert_eq!(refused[6].2, "a record is a JSON object");
    }

    #[test]
    fn splunk_template_ndjson() {
        let records = fixture(Format::ZscalerNssJson, "nss-web-splunk.ndjson");
        assert_eq!(records.len(), 4);
        assert_eq!(
            observation(&records[0].1),
            &Observation {
                at: at("2026-03-04T14:02:11Z"),
                identity: user("a.schmidt@example.com"),
                host: Some("chatgpt.com".into()),
                path: Some("/backend-api/conversation".into()),
                app: app(Some("ChatGPT"), Some("AI & ML Applications"), true),
                action: Some("allowed".into()),
                requests: 1,
                bytes: 48211,
                client_ip: Some("192.0.2.41".into()),
                department: Some("R&D".into()),
                record_id: Some("7394512208813451265".into()),
            }
        );
        // The user is the location and the device fields are NA: the address.
        assert_eq!(
            observation(&records[1].1),
            &Observation {
                at: at("2026-03-04T14:05:59Z"),
                identity: Identity { kind: IdentityKind::Ip, value: "198.51.100.12".into() },
                host: Some("api.anthropic.com".into()),
                path: None,
                app: app(Some("General Browsing"), Some("General Browsing"), false),
                action: Some("allowed".into()),
                requests: 1,
                bytes: 5120,
                client_ip: None,
                department: None,
                record_id: Some("7394512208813459911".into()),
            }
        );
        // A four-digit year; sizes without a total; a URL category id.
        let third = observation(&records[2].1);
        assert_eq!(third.at, at("2026-03-04T14:06:30Z"));
        assert_eq!(third.bytes, 300 + 1200);
        assert_eq!(third.app, app(Some("Perplexity"), Some("AI_ML_APPS"), true));
        let bad = error(&records[3].1);
        assert_eq!(bad.field.as_deref(), Some("datetime"));
    }

    #[test]
    fn sentinel_template_json_array() {
        let records = fixture(Format::ZscalerNssJson, "nss-web-sentinel.json");
        assert_eq!(records.len(), 3);
        assert_eq!(
            observation(&records[0].1),
            &Observation {
                at: at("2026-02-17T22:55:01Z"),
                identity: user("c.nguyen@example.com"),
                host: Some("copilot.microsoft.com".into()),
                path: Some("/c/api/conversations".into()),
                app: app(Some("Microsoft Copilot"), Some("AI_ML_APPS"), true),
                action: Some("allowed".into()),
                requests: 1,
                bytes: 6500 + 110,
                client_ip: Some("198.51.100.23".into()),
                department: Some("Service Admin".into()),
                record_id: Some("7093275726860451849".into()),
            }
        );
        // spriv (the location) equals suser: no user; rt in epoch milliseconds.
        let second = observation(&records[1].1);
        assert_eq!(second.identity, Identity { kind: IdentityKind::Ip, value: "198.51.100.24".into() });
        assert_eq!(second.at, at("2026-02-17T22:56:40Z"));
        assert_eq!(second.bytes, 55 + 65);
        assert_eq!(second.app, app(Some("General Browsing"), Some("Web Search"), false));
        let third = error(&records[2].1);
        assert_eq!(third.field.as_deref(), Some("sourcetype"));
        let dns = json!({"TimeGenerated": "2026-02-17 22:55:03", "suser": "c.nguyen@example.com", "DeviceProduct": "NSSDNSlog"});
        assert_eq!(read(Raw::Json(dns)).unwrap_err().field.as_deref(), Some("DeviceProduct"));
    }

    #[test]
    fn csv_with_a_header() {
        let records = fixture(Format::ZscalerNssCsv, "nss-web.csv");
        assert_eq!(records.len(), 5);
        assert_eq!(records[0].0, 2);
        assert_eq!(
            observation(&records[0].1),
            &Observation {
                at: at("2026-03-04T14:02:11Z"),
                identity: user("a.schmidt@example.com"),
                host: Some("chatgpt.com".into()),
                path: Some("/backend-api/conversation".into()),
                app: app(Some("ChatGPT"), Some("AI & ML Applications"), true),
                action: Some("allowed".into()),
                requests: 1,
                bytes: 9161 + 39050,
                client_ip: Some("192.0.2.41".into()),
                department: Some("R&D, Platform".into()),
                record_id: None,
            }
        );
        // Login = location, owner and host name NA: the address; a URL with a
        // hex-encoded space.
        assert_eq!(
            observation(&records[1].1),
            &Observation {
                at: at("2026-03-04T14:05:59Z"),
                identity: Identity { kind: IdentityKind::Ip, value: "192.0.2.99".into() },
                host: Some("api.anthropic.com".into()),
                path: None,
                app: app(Some("General Browsing"), Some("General Browsing"), false),
                action: Some("allowed".into()),
                requests: 1,
                bytes: 720 + 4400,
                client_ip: None,
                department: None,
                record_id: None,
            }
        );
        let third = observation(&records[2].1);
        assert_eq!(third.identity, user("b.lee@example.com"));
        assert_eq!(third.path.as_deref(), Some("/api/files/quarterly report.pdf"));
        assert_eq!(error(&records[3].1).field.as_deref(), Some("time"));
        assert!(error(&records[4].1).reason.contains("columns"));
    }

    #[test]
    fn lines_are_refused() {
        let error =
            read(Raw::Line("CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed".into())).unwrap_err();
        assert!(error.reason.contains("JSON"));
    }

    #[test]
    fn helpers() {
        assert_eq!(hex_decode("R%26D%20x%2"), "R&D x%2");
        assert_eq!(hex_decode("100%zz"), "100%zz");
        assert_eq!(hex_decode("caf%C3%A9"), "café");
        let tz = |tz: &str| zone(&json!({ "tz": tz }));
        assert_eq!(tz("GMT").unwrap().local_minus_utc(), 0);
        assert_eq!(tz("GMT+05:30").unwrap().local_minus_utc(), 19800);
        assert_eq!(tz("-0800").unwrap().local_minus_utc(), -28800);
        assert_eq!(tz("UTC+1").unwrap().local_minus_utc(), 3600);
        assert_eq!(tz("PST").unwrap_err().field.as_deref(), Some("tz"));
        assert_eq!(parse_datetime("26-03-04 14:02:11"), Some(at("2026-03-04T14:02:11Z")));
        assert_eq!(parse_datetime("2026-03-04 14:02:11"), Some(at("2026-03-04T14:02:11Z")));
        assert_eq!(
            parse_ctime("Wed Mar  4 14:07:30 2026").map(|n| n.and_utc()),
            Some(at("2026-03-04T14:07:30Z"))
        );
        // The weekday must agree with the date.
        assert_eq!(parse_ctime("Mon Mar  4 14:07:30 2026"), None);
        let record =
            json!({"cs1Label": "dept", "cs1": "Sales", "cs2Label": "urlcat", "cs2": "GENERAL_AI_ML"});
        assert_eq!(labelled(&record, "urlcat").as_deref(), Some("GENERAL_AI_ML"));
        assert_eq!(labelled(&record, "malwarecat"), None);
    }
}
