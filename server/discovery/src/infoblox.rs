//! Infoblox: DNS queries (BloxOne / Universal DDI and NIOS) and IPAM.
//!
//! DNS says which client resolved which name, not what it sent: an
//! observation read here has a host and a client but no path, no bytes
//! (`bytes` is 0) and stands for one query (`requests` is 1). A DNS client
//! may be a forwarder, a DNS Forwarding Proxy or a domain controller rather
//! than the end host; the device name, where the record has one, is the
//! better identity.
//!
//! # BloxOne / Universal DDI DNS events ([`read_dns_event`])
//!
//! Transport: pulled from `GET /api/dnsdata/v2/dns_event` (header
//! `Authorization: Token <API key>`, time window `t0`/`t1` in epoch
//! seconds, paged with `_limit`/`_offset`, newest first). The response is
//! `{"result": [...]}`; each element of `result` is one record. The API
//! returns security events only: queries that hit a policy rule. To see
//! every query for an AI service, the customer adds the AI domains to a
//! custom list (or application filter) whose action is *Log*.
//!
//! | Observation | Field |
//! |---|---|
//! | `at` | `event_time` (RFC 3339) |
//! | `host` | `qname`, lower-cased, without the trailing dot |
//! | `identity` | `device` (a host, or an address when it is one); else `private_ip`, then `qip` (an address) |
//! | `client_ip` | `private_ip`, else `qip`, when the identity is the device |
//! | `action` | `policy_action`: `Block` → `blocked`; `Log`, `Allow…` → `allowed`; `Redirect` → `redirected`; others lower-cased |
//! | `app` | `app_name`, `app_category` (`generative_ai` is never set: Infoblox's names for AI apps are not documented) |
//!
//! No `record_id`: events carry no id. A response page given as one record
//! is refused (its `result` array holds the records).
//!
//! # Data Connector and NIOS RPZ CEF lines ([`read_cef`])
//!
//! Transport: the Infoblox Data Connector pushes CEF over syslog (TCP, UDP
//! or TLS); NIOS Grid members send RPZ hits as CEF over syslog. The line
//! may carry an RFC 5424 (`<134>1 2026-03-04T14:02:13Z host app - MSGID -
//! CEF:…`) or RFC 3164 (`<30>Mar  4 14:03:40 host named[pid]: CEF:…`)
//! header, or none. (The Data Connector's LEEF output and its S3 Parquet
//! archive are not read.)
//!
//! The CEF header's pipes may be escaped (`\|`, `\\`); the extension's
//! `key=value` pairs may escape `\=`, `\\`, `\|`, `\n`, `\r`, and a value
//! wrapped in quotes (`"Default Global Policy"`, or `\"…\"`) is unwrapped.
//! Keys with empty values are absent. The vendor must be `Infoblox`; the
//! event class (the header's signature id) must be a DNS query
//! (`DNS Query`, `dns-query-…`), a DNS response (`DNS Response`,
//! `dns-response-…`) or an RPZ hit (`RPZ-…`). Other classes (DHCP, audit)
//! are refused.
//!
//! | Observation | Field |
//! |---|---|
//! | `at` | `rt` (epoch milliseconds or `Mon DD YYYY HH:MM:SS`); else the syslog header's time (see below) |
//! | `host` | `destinationDnsDomain`; else, for RPZ hits, the name after `rewrite` in `msg` (NIOS) |
//! | `identity` | `dvchost` (a host, or an address when it is one); else `src` (an address) |
//! | `client_ip` | `src`, when the identity is the device |
//! | `action` (RPZ hits only) | `InfobloxB1PolicyAction`; else `act`; else the last word of the header's name (NIOS writes the action there): `PASSTHRU`, `Log`, `Allow…` → `allowed`; `NXDOMAIN`, `NODATA`, `DROP`, `Block` → `blocked`; `Redirect`, `CNAME`, `Substitute` → `redirected` |
//! | `app` | `InfobloxB1DNSTags`: `APP_<name>` and `CAT_<category>` tags (`Uncategorized` is none; several categories are joined with `, `) |
//!
//! A line with neither `rt` nor a syslog header has no time and is refused.
//!
//! # NIOS query log lines ([`read_nios_query`])
//!
//! Transport: NIOS Grid members send BIND's `queries` category over
//! syslog. A line reads
//! `<30>Mar  4 14:02:13 ns1 named[2588]: queries: client @0x7f97e40eb500
//! 192.0.2.41#53323 (api.openai.com): view internal: query: api.openai.com
//! IN A +E(0) (192.0.2.53)`; the category prefix, the `@0x…` client
//! object, the `(name)` and the `view X:` are optional. The client is
//! split from its port on the last `#` (IPv6 addresses hold colons, not
//! `#`).
//!
//! | Observation | Field |
//! |---|---|
//! | `at` | the syslog header's time (see below) |
//! | `host` | the name after `query:`, lower-cased, without the trailing dot |
//! | `identity` | the client address |
//!
//! The class, type, flags, destination and ECS block are not read. NIOS
//! response log lines (`infoblox-responses:`) and RPZ CEF lines are refused
//! with a reason: feed the `queries` category, and RPZ CEF as
//! `infoblox_cef`.
//!
//! # Syslog header times
//!
//! An RFC 3339 timestamp (RFC 5424 headers, high-precision RFC 3164) is
//! read with its offset. The classic `Mon DD HH:MM:SS` has no year and no
//! zone: it is read as UTC (set the sender's clock to UTC), in the current
//! year, unless that would put it more than a day in the future, in which
//! case it is the previous year's (a December line read in January).
//!
//! # IPAM ([`read_ipam`])
//!
//! Transport: pulled. BloxOne / Universal DDI:
//! `GET /api/ddi/v1/ipam/address?_filter=address=='…'` (header
//! `Authorization: Token <API key>`), answering `{"results": [...]}`.
//! NIOS WAPI (HTTP Basic authentication):
//! `GET /wapi/v2.x/ipv4address?ip_address=…` (or `ipv6address`; add
//! `_return_fields+=names`), and `GET /wapi/v2.x/record:host?ipv4addr=…`,
//! answering a bare array (or `{"result": [...]}` with
//! `_return_as_object=1`). Each element is one record; a response page
//! holding exactly one element is read as that element.
//!
//! | Object | `ip` | `name` | `at` |
//! |---|---|---|---|
//! | BloxOne `ipam/address` | `address` | the first `names[].name` | `updated_at`, else `created_at` |
//! | WAPI `ipv4address` / `ipv6address` | `ip_address` | the first of `names` | — |
//! | WAPI `record:host` | the first `ipv4addrs[].ipv4addr`, else `ipv6addrs[].ipv6addr` | `name` | — |
//!
//! Names are lower-cased, without the trailing dot; addresses are written
//! canonically. An address without a name is refused. Not read: BloxOne
//! `host` (a reference to an `ipam/host` object, not a name) and `usage`
//! (what the address is used for, not who uses it); WAPI `usage`, `types`,
//! `status`, `mac_address`. A `record:host` with several addresses yields
//! its first only: look the others up through `ipv4address`.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use serde_json::Value;

use crate::{HostRecord, Identity, IdentityKind, Observation, Raw, Record, RecordError, VendorApp, fields};

/// Reads a BloxOne / Universal DDI DNS event (an element of the
/// `dns_event` API's `result`).
pub fn read_dns_event(raw: Raw) -> Result<Record, RecordError> {
    let record = json(raw, "a DNS event is a JSON object (an element of the dns_event API's `result`)")?;
    fields::object(&record)?;
    if record.get("result").is_some_and(Value::is_array) {
        return Err(RecordError::field(
            "result",
            "a dns_event response page, not an event: each element of its `result` array is a record",
        ));
    }
    let at = fields::required_time(&record, &["event_time"])?;
    let host = query_name(&record, "qname")?;
    let address = first_ip(&record, &["private_ip", "qip"])?;
    let identity = fields::text(&record, "device")
        .and_then(|device| device_identity(&device))
        .or_else(|| address.as_deref().and_then(|ip| Identity::new(IdentityKind::Ip, ip)))
        .ok_or_else(|| RecordError::field("device", "no identity: no device, private_ip or qip"))?;
    let client_ip = if identity.kind == IdentityKind::Ip { None } else { address };
    let app_name = fields::text(&record, "app_name");
    let app_category = fields::text(&record, "app_category");
    let app = (app_name.is_some() || app_category.is_some()).then_some(VendorApp {
        id: None,
        name: app_name,
        category: app_category,
        generative_ai: false,
    });
    Ok(Record::Observation(dns_observation(
        at,
        identity,
        host,
        app,
        fields::text(&record, "policy_action").map(|a| action(&a)),
        client_ip,
    )))
}

/// Reads a CEF line from the Data Connector or NIOS (DNS query, DNS
/// response or RPZ hit), with or without a syslog header.
pub fn read_cef(raw: Raw) -> Result<Record, RecordError> {
    read_cef_at(raw, Utc::now())
}

/// Reads a NIOS BIND `queries` log line.
pub fn read_nios_query(raw: Raw) -> Result<Record, RecordError> {
    read_nios_query_at(raw, Utc::now())
}

/// Reads an IPAM object: BloxOne `ipam/address`, NIOS WAPI
/// `ipv4address` / `ipv6address` or `record:host`.
pub fn read_ipam(raw: Raw) -> Result<Record, RecordError> {
    let value = json(
        raw,
        "an IPAM record is a JSON object (BloxOne ipam/address, WAPI ipv4address, ipv6address or record:host)",
    )?;
    ipam(&value)
}

fn json(raw: Raw, what: &str) -> Result<Value, RecordError> {
    match raw {
        Raw::Json(value) => Ok(value),
        Raw::Line(_) => Err(RecordError::record(format!("{what}, not a line of text"))),
    }
}

fn line(raw: Raw, what: &str) -> Result<String, RecordError> {
    match raw {
        Raw::Line(line) => Ok(line),
        Raw::Json(_) => Err(RecordError::record(format!("{what}, not JSON"))),
    }
}

fn dns_observation(
    at: DateTime<Utc>,
    identity: Identity,
    host: String,
    app: Option<VendorApp>,
    action: Option<String>,
    client_ip: Option<String>,
) -> Observation {
    Observation {
        at,
        identity,
        host: Some(host),
        path: None,
        app,
        action,
        requests: 1,
        bytes: 0,
        client_ip,
        department: None,
        record_id: None,
    }
}

/// A DNS name: lower-case, without the trailing dot; `None` for the root
/// or a "no value" marker.
fn dns_name(text: &str) -> Option<String> {
    let name = fields::present(text)?.trim_end_matches('.').to_lowercase();
    (!name.is_empty()).then_some(name)
}

/// The query name in `key`, or an error naming it.
fn query_name(record: &Value, key: &str) -> Result<String, RecordError> {
    match fields::text(record, key) {
        None => Err(RecordError::field(key, "missing: the record names no query")),
        Some(text) => {
            dns_name(&text).ok_or_else(|| RecordError::field(key, format!("`{text}` is not a query name")))
        }
    }
}

/// An address written canonically, or an error naming `key`.
fn canonical_ip(key: &str, text: &str) -> Result<String, RecordError> {
    text.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| RecordError::field(key, format!("`{text}` is not an IP address")))
}

/// The first of `keys` present, as a canonical address.
fn first_ip(record: &Value, keys: &[&str]) -> Result<Option<String>, RecordError> {
    for key in keys {
        if let Some(text) = fields::text(record, key) {
            return canonical_ip(key, &text).map(Some);
        }
    }
    Ok(None)
}

/// A device as an identity: an address when it is one, else a host.
fn device_identity(device: &str) -> Option<Identity> {
    match device.trim().parse::<IpAddr>() {
        Ok(ip) => Identity::new(IdentityKind::Ip, &ip.to_string()),
        Err(_) => Identity::new(IdentityKind::Host, device.trim_end_matches('.')),
    }
}

/// What a policy action or RPZ action did, in the observations' words.
fn action(text: &str) -> String {
    let lower = text.trim().to_lowercase();
    match lower.as_str() {
        "passthru" | "passthrough" | "log" | "allow" | "allowed" => "allowed".into(),
        _ if lower.starts_with("allow") => "allowed".into(),
        "block" | "blocked" | "nxdomain" | "nodata" | "drop" => "blocked".into(),
        _ if lower.starts_with("block") => "blocked".into(),
        "redirect" | "redirected" | "cname" | "substitute" => "redirected".into(),
        _ => lower,
    }
}

// ---------------------------------------------------------------- CEF

/// A CEF record: the header fields that matter and the extension.
struct Cef {
    vendor: String,
    class: String,
    name: String,
    extension: Vec<(String, String)>,
}

impl Cef {
    /// The first value of `key`, unless empty or a "no value" marker.
    fn get(&self, key: &str) -> Option<&str> {
        self.extension.iter().find(|(k, _)| k == key).and_then(|(_, v)| fields::present(v))
    }
}

/// The kinds of CEF event read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Query,
    Response,
    Rpz,
}

fn read_cef_at(raw: Raw, now: DateTime<Utc>) -> Result<Record, RecordError> {
    let line = line(raw, "a CEF record is a line of text")?;
    let at_cef = line.find("CEF:").ok_or_else(|| RecordError::record("not a CEF line: no `CEF:`"))?;
    let (header, cef) = line.split_at(at_cef);
    let cef = parse_cef(&cef["CEF:".len()..])?;
    if !cef.vendor.eq_ignore_ascii_case("Infoblox") {
        return Err(RecordError::record(format!("not an Infoblox record: CEF vendor `{}`", cef.vendor)));
    }
    let class = event_class(&cef.class).ok_or_else(|| {
        RecordError::record(format!(
            "not a DNS query, DNS response or RPZ event: CEF event class `{}`",
            cef.class
        ))
    })?;

    let at = match cef.get("rt") {
        Some(rt) => {
            Some(cef_time(rt).ok_or_else(|| RecordError::field("rt", format!("`{rt}` is not a time")))?)
        }
        None => syslog_time(header, now),
    }
    .ok_or_else(|| {
        RecordError::field("rt", "the record has no time: no `rt` and no syslog header before `CEF:`")
    })?;

    let host = match cef.get("destinationDnsDomain") {
        Some(name) => Some(dns_name(name).ok_or_else(|| {
            RecordError::field("destinationDnsDomain", format!("`{name}` is not a query name"))
        })?),
        None if class == Class::Rpz => cef.get("msg").and_then(rewritten_name),
        None => None,
    }
    .ok_or_else(|| RecordError::field("destinationDnsDomain", "missing: the record names no query"))?;

    let source = match cef.get("src") {
        Some(src) => Some(canonical_ip("src", src)?),
        None => None,
    };
    let identity = cef
        .get("dvchost")
        .and_then(device_identity)
        .or_else(|| source.as_deref().and_then(|ip| Identity::new(IdentityKind::Ip, ip)))
        .ok_or_else(|| RecordError::field("src", "no identity: no dvchost or src"))?;
    let client_ip = if identity.kind == IdentityKind::Ip { None } else { source };

    let action = if class == Class::Rpz {
        cef.get("InfobloxB1PolicyAction")
            .or_else(|| cef.get("act"))
            .or_else(|| cef.name.split([' ', '-']).rfind(|word| !word.is_empty()))
            .map(action)
    } else {
        None
    };
    let app = cef.get("InfobloxB1DNSTags").and_then(tags_app);
    Ok(Record::Observation(dns_observation(at, identity, host, app, action, client_ip)))
}

fn event_class(id: &str) -> Option<Class> {
    let id = id.trim().to_ascii_lowercase();
    if id.starts_with("rpz") {
        Some(Class::Rpz)
    } else if id.starts_with("dns query") || id.starts_with("dns-query") {
        Some(Class::Query)
    } else if id.starts_with("dns response") || id.starts_with("dns-response") {
        Some(Class::Response)
    } else {
        None
    }
}

/// `rt`: epoch milliseconds (or seconds), RFC 3339, or `Mon DD YYYY
/// HH:MM:SS[.fff]`, as UTC.
fn cef_time(text: &str) -> Option<DateTime<Utc>> {
    fields::parse_time(text).or_else(|| {
        let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        NaiveDateTime::parse_from_str(&squeezed, "%b %d %Y %H:%M:%S%.f").ok().map(|n| n.and_utc())
    })
}

/// The query name an RPZ `msg` names: `rpz QNAME NXDOMAIN rewrite
/// chat.example.com [A] via …`.
fn rewritten_name(msg: &str) -> Option<String> {
    let mut words = msg.split_whitespace();
    words.find(|word| *word == "rewrite")?;
    dns_name(words.next()?)
}

/// The app and categories of `InfobloxB1DNSTags`
/// (`APP_Uncategorized,CAT_Information Technology`).
fn tags_app(tags: &str) -> Option<VendorApp> {
    let mut name = None;
    let mut categories = Vec::new();
    for tag in tags.split(',').map(str::trim) {
        if let Some(app) = tag.strip_prefix("APP_") {
            if name.is_none() && !app.eq_ignore_ascii_case("Uncategorized") {
                name = fields::present(app).map(str::to_string);
            }
        } else if let Some(category) = tag.strip_prefix("CAT_")
            && !category.eq_ignore_ascii_case("Uncategorized")
            && let Some(category) = fields::present(category)
        {
            categories.push(category);
        }
    }
    let category = (!categories.is_empty()).then(|| categories.join(", "));
    (name.is_some() || category.is_some()).then_some(VendorApp {
        id: None,
        name,
        category,
        generative_ai: false,
    })
}

/// Parses what follows `CEF:`: seven header fields (pipes escaped as `\|`,
/// backslashes as `\\`) and the extension.
fn parse_cef(text: &str) -> Result<Cef, RecordError> {
    let mut header: Vec<String> = Vec::with_capacity(7);
    let mut current = String::new();
    let mut extension = None;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped @ ('|' | '\\'))) => current.push(escaped),
                Some((_, other)) => {
                    current.push('\\');
                    current.push(other);
                }
                None => current.push('\\'),
            },
            '|' => {
                header.push(std::mem::take(&mut current));
                if header.len() == 7 {
                    extension = text.get(at + 1..);
                    break;
                }
            }
            _ => current.push(c),
        }
    }
    let Some(extension) = extension else {
        return Err(RecordError::record(format!(
            "the CEF header has {} of its 7 fields",
            header.len() + usize::from(!current.is_empty())
        )));
    };
    let mut header = header.into_iter().map(|f| f.trim().to_string());
    let _version = header.next();
    let vendor = header.next().unwrap_or_default();
    let _product = header.next();
    let _device_version = header.next();
    let class = header.next().unwrap_or_default();
    let name = header.next().unwrap_or_default();
    Ok(Cef { vendor, class, name, extension: parse_extension(extension) })
}

fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-' | b'[' | b']')
}

/// Parses a CEF extension: `key=value` pairs separated by spaces, a value
/// running to the next unescaped `key=`.
fn parse_extension(text: &str) -> Vec<(String, String)> {
    let bytes = text.as_bytes();
    // (where the key starts, where its `=` is)
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut escaped = false;
    for (at, &byte) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match byte {
            b'\\' => escaped = true,
            b'=' => {
                let mut start = at;
                while start > 0 && bytes.get(start - 1).is_some_and(|b| is_key_byte(*b)) {
                    start -= 1;
                }
                let after_space = start == 0 || bytes.get(start - 1).is_some_and(u8::is_ascii_whitespace);
                if start < at && after_space {
                    keys.push((start, at));
                }
            }
            _ => {}
        }
    }
    keys.iter()
        .enumerate()
        .map(|(n, &(start, equals))| {
            let end = keys.get(n + 1).map_or(text.len(), |&(next, _)| next);
            let key = text.get(start..equals).unwrap_or_default();
            let value = text.get(equals + 1..end).unwrap_or_default();
            (key.to_string(), unquote(unescape(value.trim())))
        })
        .collect()
}

/// Undoes CEF extension escaping: `\\`, `\=`, `\|`, `\n`, `\r` (and `\"`,
/// which Infoblox writes around quoted values).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(escaped @ ('\\' | '=' | '|' | '"')) => out.push(escaped),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A value without the quotes wrapped around it.
fn unquote(value: String) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.to_string(),
        None => value,
    }
}

// ------------------------------------------------------------- syslog

/// The time of a syslog header: RFC 5424 or RFC 3339 as written;
/// `Mon DD HH:MM:SS` as UTC in the latest year that does not put it more
/// than a day after `now`.
fn syslog_time(header: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let text = header.trim_start();
    let text = match text.strip_prefix('<') {
        Some(rest) => rest.split_once('>')?.1,
        None => text,
    };
    let mut words = text.split_whitespace();
    let first = words.next()?;
    // RFC 5424: a version, then the timestamp.
    let stamp =
        if first.len() <= 2 && first.bytes().all(|b| b.is_ascii_digit()) { words.next()? } else { first };
    if let Ok(at) = DateTime::parse_from_rfc3339(stamp) {
        return Some(at.with_timezone(&Utc));
    }
    let month = month(stamp)?;
    let day = words.next()?.parse::<u32>().ok()?;
    let clock = NaiveTime::parse_from_str(words.next()?, "%H:%M:%S%.f").ok()?;
    let limit = now + TimeDelta::days(1);
    [now.year(), now.year() - 1].into_iter().find_map(|year| {
        let at = NaiveDate::from_ymd_opt(year, month, day)?.and_time(clock).and_utc();
        (at <= limit).then_some(at)
    })
}

fn month(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] =
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let name = name.to_ascii_lowercase();
    MONTHS.iter().position(|m| *m == name).and_then(|at| u32::try_from(at + 1).ok())
}

// --------------------------------------------------------------- NIOS

fn read_nios_query_at(raw: Raw, now: DateTime<Utc>) -> Result<Record, RecordError> {
    let line = line(raw, "a NIOS query log record is a line of text")?;
    if line.contains("CEF:") {
        return Err(RecordError::record(
            "a CEF line (NIOS RPZ), not a query log line: read it as infoblox_cef",
        ));
    }
    if line.contains("infoblox-responses:") {
        return Err(RecordError::record(
            "a NIOS response log line, not a query log line: send the queries category",
        ));
    }
    let start = line
        .match_indices("client ")
        .map(|(at, _)| at)
        .find(|&at| at == 0 || line.get(..at).is_some_and(|before| before.ends_with(char::is_whitespace)))
        .ok_or_else(|| RecordError::record("not a BIND query log line: no `client`"))?;
    let (header, message) = line.split_at(start);

    let mut words = message.split_whitespace().skip(1);
    let mut client =
        words.next().ok_or_else(|| RecordError::field("client", "missing: no client address"))?;
    if client.starts_with("@0x") {
        client = words.next().ok_or_else(|| RecordError::field("client", "missing: no client address"))?;
    }
    let client = client.trim_end_matches(':');
    let (address, port) = client
        .rsplit_once('#')
        .ok_or_else(|| RecordError::field("client", format!("`{client}` is not address#port")))?;
    if port.parse::<u16>().is_err() {
        return Err(RecordError::field("client", format!("`{client}` is not address#port")));
    }
    let address = canonical_ip("client", address)?;
    // `(name):` and `view <name>:` may come before `query:`.
    if !words.any(|word| word == "query:") {
        return Err(RecordError::field("query", "missing: no `query:`"));
    }
    let name = words.next();
    let class = words.next();
    let kind = words.next();
    let (Some(name), Some(_), Some(_)) = (name, class, kind) else {
        return Err(RecordError::field("query", "incomplete: a query is a name, a class and a type"));
    };
    let host =
        dns_name(name).ok_or_else(|| RecordError::field("query", format!("`{name}` is not a query name")))?;
    let at = syslog_time(header, now).ok_or_else(|| {
        RecordError::field("timestamp", "the line has no syslog time (RFC 3339 or Mon DD HH:MM:SS)")
    })?;
    let identity = Identity::new(IdentityKind::Ip, &address)
        .ok_or_else(|| RecordError::field("client", "missing: no client address"))?;
    Ok(Record::Observation(dns_observation(at, identity, host, None, None, None)))
}

// --------------------------------------------------------------- IPAM

fn ipam(value: &Value) -> Result<Record, RecordError> {
    let object = fields::object(value)?;
    for key in ["results", "result"] {
        if let Some(Value::Array(items)) = object.get(key) {
            return match items.as_slice() {
                [one] => ipam(one),
                [] => Err(RecordError::field(key, "an empty response page: no address")),
                _ => Err(RecordError::field(
                    key,
                    format!(
                        "a response page of {} objects: each element of `{key}` is a record",
                        items.len()
                    ),
                )),
            };
        }
    }
    if object.contains_key("address") {
        let ip = required_ip(value, "address")?;
        let name = first_name(value.get("names"))
            .ok_or_else(|| RecordError::field("names", "the address has no name"))?;
        let at = match fields::time(value, "updated_at")? {
            Some(at) => Some(at),
            None => fields::time(value, "created_at")?,
        };
        Ok(Record::Host(HostRecord { ip, name, at }))
    } else if object.contains_key("ip_address") {
        let ip = required_ip(value, "ip_address")?;
        let name = first_name(value.get("names"))
            .ok_or_else(|| RecordError::field("names", "the address has no name"))?;
        Ok(Record::Host(HostRecord { ip, name, at: None }))
    } else if object.contains_key("ipv4addrs") || object.contains_key("ipv6addrs") {
        let name = fields::text(value, "name")
            .and_then(|name| dns_name(&name))
            .ok_or_else(|| RecordError::field("name", "the host record has no name"))?;
        let ip = host_address(value, "ipv4addrs", "ipv4addr")
            .or_else(|| host_address(value, "ipv6addrs", "ipv6addr"))
            .ok_or_else(|| RecordError::field("ipv4addrs", "the host record has no address"))??;
        Ok(Record::Host(HostRecord { ip, name, at: None }))
    } else {
        Err(RecordError::record(
            "not an IPAM address: no `address` (BloxOne ipam/address), `ip_address` (WAPI ipv4address, \
             ipv6address) or `ipv4addrs` (WAPI record:host)",
        ))
    }
}

fn required_ip(record: &Value, key: &str) -> Result<String, RecordError> {
    let text = fields::text(record, key).ok_or_else(|| RecordError::field(key, "missing: no address"))?;
    canonical_ip(key, &text)
}

/// The first name of a `names` array: strings (WAPI) or `{name}` objects
/// (BloxOne).
fn first_name(names: Option<&Value>) -> Option<String> {
    names?.as_array()?.iter().find_map(|name| match name {
        Value::String(name) => dns_name(name),
        object @ Value::Object(_) => fields::text(object, "name").and_then(|name| dns_name(&name)),
        _ => None,
    })
}

/// The first address of a `record:host`'s `ipv4addrs` / `ipv6addrs`.
fn host_address(record: &Value, list: &str, key: &str) -> Option<Result<String, RecordError>> {
    let text = record.get(list)?.as_array()?.iter().find_map(|entry| match entry {
        Value::String(text) => fields::present(text).map(str::to_string),
        object @ Value::Object(_) => fields::text(object, key),
        _ => None,
    })?;
    Some(canonical_ip(key, &text))
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::BufReader;

    use serde_json::json;

    use super::*;
    use crate::{Format, Options};

    fn fixture(format: Format, name: &str) -> Vec<(u64, Result<Record, RecordError>)> {
        let path = format!("{}/fixtures/infoblox/{name}", env!("CARGO_MANIFEST_DIR"));
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

    fn host_record(result: &Result<Record, RecordError>) -> &HostRecord {
        match result {
            Ok(Record::Host(host)) => host,
            other => panic!("not a host record: {other:?}"),
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

    fn identity(kind: IdentityKind, value: &str) -> Identity {
        Identity { kind, value: value.into() }
    }

    /// A DNS observation as every reader here makes it.
    fn dns(
        when: &str,
        who: Identity,
        host: &str,
        app: Option<VendorApp>,
        action: Option<&str>,
        client_ip: Option<&str>,
    ) -> Observation {
        Observation {
            at: at(when),
            identity: who,
            host: Some(host.into()),
            path: None,
            app,
            action: action.map(Into::into),
            requests: 1,
            bytes: 0,
            client_ip: client_ip.map(Into::into),
            department: None,
            record_id: None,
        }
    }

    fn app(name: Option<&str>, category: Option<&str>) -> Option<VendorApp> {
        Some(VendorApp {
            id: None,
            name: name.map(Into::into),
            category: category.map(Into::into),
            generative_ai: false,
        })
    }

    /// A year-less syslog time as read now: this year's, or last year's when
    /// this year's is more than a day ahead.
    fn year_less(month_day_time: &str) -> String {
        let now = Utc::now();
        let this = format!("{}-{month_day_time}Z", now.year());
        if at(&this) > now + TimeDelta::days(1) {
            format!("{}-{month_day_time}Z", now.year() - 1)
        } else {
            this
        }
    }

    #[test]
    fn dns_events() {
        let records = fixture(Format::InfobloxDnsJson, "dns-event.json");
        assert_eq!(records.len(), 8);
        assert_eq!(records[0].0, 2);
        assert_eq!(
            observation(&records[0].1),
            &dns(
                "2026-03-04T14:02:13Z",
                identity(IdentityKind::Host, "lt-aschmidt-01"),
                "api.openai.com",
                None,
                Some("allowed"),
                Some("192.0.2.41"),
            )
        );
        // No device, `unknown` user, IPv6 query address.
        assert_eq!(
            observation(&records[1].1),
            &dns(
                "2026-03-04T14:01:58Z",
                identity(IdentityKind::Ip, "2001:db8:10::25"),
                "claude.ai",
                None,
                Some("allowed"),
                None,
            )
        );
        // The device is an address; a block; an app.
        assert_eq!(
            observation(&records[2].1),
            &dns(
                "2026-03-04T14:03:07.250Z",
                identity(IdentityKind::Ip, "192.0.2.50"),
                "chat.deepseek.com",
                app(Some("DeepSeek"), Some("Generative AI")),
                Some("blocked"),
                None,
            )
        );
        // private_ip comes before qip.
        assert_eq!(observation(&records[3].1).identity, identity(IdentityKind::Ip, "192.0.2.60"));
        assert_eq!(observation(&records[3].1).action.as_deref(), Some("redirected"));

        let refused: Vec<(Option<&str>, &str)> =
            records[4..].iter().map(|(_, r)| (error(r).field.as_deref(), error(r).reason.as_str())).collect();
        assert_eq!(refused[0].0, Some("qname"));
        assert_eq!(refused[1].0, Some("event_time"));
        assert_eq!(refused[2].0, Some("device"));
        assert_eq!(refused[3].0, Some("qip"));
        assert!(refused[3].1.contains("not an IP address"));
    }

    #[test]
    fn dns_event_pages_and_lines_are_refused() {
        let page = json!({"result": [{"qname": "claude.ai."}], "status_code": "200"});
        assert_eq!(read_dns_event(Raw::Json(page)).unwrap_err().field.as_deref(), Some("result"));
        assert!(read_dns_event(Raw::Line("x".into())).is_err());
    }

    #[test]
    fn cef_lines() {
        let records = fixture(Format::InfobloxCef, "cef.log");
        assert_eq!(records.len(), 12);
        // RFC 5424, DNS Query, dvchost is a name.
        assert_eq!(
            observation(&records[0].1),
            &dns(
                "2026-03-04T14:02:13Z",
                identity(IdentityKind::Host, "lt-aschmidt-01"),
                "api.openai.com",
                None,
                None,
                Some("192.0.2.41"),
            )
        );
        // DNS Response, empty dvchost: the source; tags.
        assert_eq!(
            observation(&records[1].1),
            &dns(
                "2026-03-04T14:02:13.402Z",
                identity(IdentityKind::Ip, "192.0.2.41"),
                "api.openai.com",
                app(None, Some("Information Technology")),
                None,
                None,
            )
        );
        // Data Connector RPZ hit, quoted values, policy action Block, rt.
        assert_eq!(
            observation(&records[2].1),
            &dns(
                "2026-03-04T14:03:40Z",
                identity(IdentityKind::Ip, "192.0.2.55"),
                "chat.deepseek.com",
                app(Some("DeepSeek"), Some("Artificial Intelligence, Chat")),
                Some("blocked"),
                None,
            )
        );
        // RPZ PASSTHRU with Log, dvchost an address, IPv6 source.
        assert_eq!(
            observation(&records[3].1),
            &dns(
                "2026-03-04T14:04:00+01:00",
                identity(IdentityKind::Ip, "2001:db8:10::25"),
                "gemini.google.com",
                None,
                Some("allowed"),
                None,
            )
        );
        // NIOS RPZ, RFC 3164 header: the name from msg, the action from the header.
        assert_eq!(
            observation(&records[4].1),
            &dns(
                &year_less("03-04T14:03:41"),
                identity(IdentityKind::Ip, "192.0.2.56"),
                "chat.deepseek.com",
                None,
                Some("blocked"),
                None,
            )
        );
        // Escapes in the header and in values; a TXT response.
        let escaped = observation(&records[5].1);
        assert_eq!(escaped.host.as_deref(), Some("example.com"));
        assert_eq!(escaped.identity, identity(IdentityKind::Host, "srv|build\\01"));
        assert_eq!(escaped.client_ip.as_deref(), Some("198.51.100.7"));

        let refused: Vec<(Option<&str>, &str)> =
            records[6..].iter().map(|(_, r)| (error(r).field.as_deref(), error(r).reason.as_str())).collect();
        assert_eq!(refused[0].0, Some("rt"));
        assert!(refused[0].1.contains("no time"));
        assert!(refused[1].1.starts_with("not a DNS query"), "{}", refused[1].1);
        assert!(refused[2].1.starts_with("not an Infoblox record"), "{}", refused[2].1);
        assert!(refused[3].1.contains("7 fields"), "{}", refused[3].1);
        assert_eq!(refused[4].0, Some("destinationDnsDomain"));
        assert!(refused[5].1.starts_with("not a CEF line"));
    }

    #[test]
    fn cef_escapes() {
        let cef = parse_cef(
            r#"0|Info\|blox|DC|1|DNS Query|a\\b|1|msg=a\=b c\\ d\|e\nf k=\"quoted value\" empty= last=x"#,
        )
        .unwrap();
        assert_eq!(cef.vendor, "Info|blox");
        assert_eq!(cef.name, r"a\b");
        assert_eq!(cef.get("msg"), Some("a=b c\\ d|e\nf"));
        assert_eq!(cef.get("k"), Some("quoted value"));
        assert_eq!(cef.get("empty"), None);
        assert_eq!(cef.get("last"), Some("x"));
        assert_eq!(action("Allow - No Log"), "allowed");
        assert_eq!(action("TCP-ONLY"), "tcp-only");
    }

    #[test]
    fn nios_query_lines() {
        let records = fixture(Format::InfobloxNiosQueries, "nios-queries.log");
        assert_eq!(records.len(), 11);
        assert_eq!(
            observation(&records[0].1),
            &dns(
                &year_less("03-04T14:02:13"),
                identity(IdentityKind::Ip, "192.0.2.41"),
                "api.openai.com",
                None,
                None,
                None,
            )
        );
        // No category, IPv6, a view, mixed case.
        assert_eq!(
            observation(&records[1].1),
            &dns(
                &year_less("03-04T14:02:14"),
                identity(IdentityKind::Ip, "2001:db8:10::25"),
                "api.anthropic.com",
                None,
                None,
                None,
            )
        );
        // No @0x, ECS, HTTPS type.
        assert_eq!(observation(&records[2].1).host.as_deref(), Some("generativelanguage.googleapis.com"));
        assert_eq!(observation(&records[2].1).identity, identity(IdentityKind::Ip, "192.0.2.55"));
        // RFC 3339 header and a trailing dot.
        assert_eq!(observation(&records[3].1).at, at("2026-03-04T14:02:16.120+00:00"));
        assert_eq!(observation(&records[3].1).host.as_deref(), Some("copilot.microsoft.com"));
        // A CH TXT probe is still a query.
        assert_eq!(observation(&records[4].1).host.as_deref(), Some("version.bind"));

        let refused: Vec<(Option<&str>, &str)> =
            records[5..].iter().map(|(_, r)| (error(r).field.as_deref(), error(r).reason.as_str())).collect();
        assert!(refused[0].1.contains("response log line"));
        assert!(refused[1].1.contains("infoblox_cef"));
        assert!(refused[2].1.starts_with("not a BIND query log line"));
        assert_eq!(refused[3].0, Some("client"));
        assert_eq!(refused[4].0, Some("timestamp"));
        assert_eq!(refused[5].0, Some("query"));
    }

    #[test]
    fn syslog_times() {
        let now = at("2027-01-02T10:00:00Z");
        assert_eq!(syslog_time("<30>Dec 31 23:59:59 ns1 named[1]: ", now), Some(at("2026-12-31T23:59:59Z")));
        assert_eq!(syslog_time("<30>Jan  3 09:00:00 ns1 named[1]: ", now), Some(at("2027-01-03T09:00:00Z")));
        // More than a day ahead: last year's.
        assert_eq!(syslog_time("Jan  4 09:00:00 ns1", now), Some(at("2026-01-04T09:00:00Z")));
        assert_eq!(
            syslog_time("<134>1 2026-03-04T14:02:13+02:00 dc - - -", now),
            Some(at("2026-03-04T12:02:13Z"))
        );
        assert_eq!(syslog_time("<134>1 - dc - - -", now), None);
        assert_eq!(syslog_time("", now), None);
        // 29 February in a year that has none: the last one that has.
        let leap = at("2030-03-01T00:00:00Z");
        assert_eq!(syslog_time("Feb 29 12:00:00 h", leap), None);
        assert_eq!(
            syslog_time("Feb 29 12:00:00 h", at("2025-03-01T00:00:00Z")),
            Some(at("2024-02-29T12:00:00Z"))
        );
    }

    #[test]
    fn ipam_bloxone() {
        let records = fixture(Format::InfobloxIpam, "ipam-bloxone.json");
        assert_eq!(records.len(), 5);
        assert_eq!(
            host_record(&records[0].1),
            &HostRecord {
                ip: "192.0.2.41".into(),
                name: "lt-aschmidt-01.corp.example".into(),
                at: Some(at("2026-03-04T08:00:00Z")),
            }
        );
        assert_eq!(
            host_record(&records[1].1),
            &HostRecord {
                ip: "2001:db8:10::25".into(),
                name: "mbp-jdoe.corp.example".into(),
                at: Some(at("2026-01-10T09:00:00Z")),
            }
        );
        assert_eq!(error(&records[2].1).field.as_deref(), Some("names"));
        assert_eq!(error(&records[3].1).field.as_deref(), Some("address"));
        assert!(error(&records[4].1).reason.starts_with("not an IPAM address"));

        let page = json!({"results": [{"address": "192.0.2.41", "names": [{"name": "LT-1.corp.example.", "type": "user"}]}]});
        assert_eq!(
            read_ipam(Raw::Json(page)).unwrap(),
            Record::Host(HostRecord { ip: "192.0.2.41".into(), name: "lt-1.corp.example".into(), at: None })
        );
        let page = json!({"results": [{"address": "192.0.2.41"}, {"address": "192.0.2.42"}]});
        assert_eq!(read_ipam(Raw::Json(page)).unwrap_err().field.as_deref(), Some("results"));
    }

    #[test]
    fn ipam_wapi() {
        let records = fixture(Format::InfobloxIpam, "ipam-wapi.json");
        assert_eq!(records.len(), 7);
        assert_eq!(
            host_record(&records[0].1),
            &HostRecord { ip: "192.0.2.41".into(), name: "lt-aschmidt-01.corp.example".into(), at: None }
        );
        assert_eq!(error(&records[1].1).field.as_deref(), Some("names"));
        assert_eq!(
            host_record(&records[2].1),
            &HostRecord {
                ip: "2001:db8:10::30".into(),
                name: "build-agent-07.corp.example".into(),
                at: None
            }
        );
        // record:host: its first address.
        assert_eq!(
            host_record(&records[3].1),
            &HostRecord { ip: "192.0.2.70".into(), name: "gpu-box-01.corp.example".into(), at: None }
        );
        assert_eq!(
            host_record(&records[4].1),
            &HostRecord { ip: "2001:db8:20::7".into(), name: "lab-v6.corp.example".into(), at: None }
        );
        assert_eq!(error(&records[5].1).field.as_deref(), Some("name"));
        assert_eq!(error(&records[6].1).field.as_deref(), Some("ip_address"));
    }
}
