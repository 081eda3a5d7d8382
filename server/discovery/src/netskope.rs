//! Netskope page and application events.
//!
//! # Where the events come from
//!
//! Netskope's REST API v2 data-export ("iterator") endpoints, one per event
//! type, of which discovery reads two:
//!
//! ```text
//! GET https://<tenant>/api/v2/events/dataexport/events/page?index=<name>&operation=<op>
//! GET https://<tenant>/api/v2/events/dataexport/events/application?index=<name>&operation=<op>
//! Netskope-Api-Token: <token>
//! ```
//!
//! - The token is a REST API v2 token (or an RBAC v3 service account's
//!   token, sent the same way) with Read on both endpoints.
//! - `index` names the consumer: Netskope keeps, per endpoint and per
//!   index, a bookmark of what was delivered. Two consumers sharing an
//!   endpoint and an index lose events, so every source has its own index
//!   name.
//! - `operation` is `<epoch seconds>` to (re)start from a time (delivered
//!   in one-hour batches from it), `next` for the page after the bookmark,
//!   `resend` to have the last page again (after a failure to store it; it
//!   does not move the bookmark), and, in older revisions of the
//!   documentation, `head` / `tail` for the first / newest page stored.
//!   Only `<epoch>` and `next` move the bookmark.
//! - The answer, as Netskope's SDK and other public clients read it, is
//!   `{"ok": 1, "result": [ …events… ], "wait_time": <s>, "timestamp_hwm":
//!   <s>}`: the events are the items of `result`, and the client waits
//!   `wait_time` seconds before the next `next`.
//! - Too many calls are answered 429. Netskope documents v1's limit (24
//!   requests in 5 seconds) and, for v2, a per-tenant rate shown in the
//!   console. Netskope's Python SDKs honour `Retry-After` and read
//!   `ratelimit-remaining` / `ratelimit-reset` (seconds); none of these
//!   headers is in Netskope's documentation.
//!
//! Netskope also exports alerts (`/api/v2/events/dataexport/alerts/…`)
//! and other event types (audit, infrastructure, network, …); discovery
//! reads traffic only and refuses those records.
//!
//! # What is read
//!
//! A record is one event, a JSON object as an item of `result` (field names
//! as in Netskope's published data-export schema):
//!
//! | Field | Read as |
//! |---|---|
//! | `type` | `connection` (page events; also `page`) or `nspolicy` (application events; also `application`); any other type is refused, and so is a record without a type that names no app or destination |
//! | `alert_type` | present on alerts: the record is refused |
//! | `timestamp` | when (epoch seconds; milliseconds and RFC 3339 are read too). Required |
//! | `ur_normalized`, `user`, `userkey` | the user, the first present (an address written there is read as an address) |
//! | `hostname` | the user's machine, when there is no user |
//! | `userip`, `srcip` | the client address (the first present; not an address refuses the record): the identity when there is neither user nor machine, else the observation's client address |
//! | `domain`, else the host of `url`, else of `page` | the destination host |
//! | `url`, else `page` | the path (without the query) |
//! | `app` | the app's name |
//! | `instance_id` | the app instance (a company tenant, a personal account) the application event is about, kept as the app's id: Netskope has no app id, and the instance tells a company's tenant from a personal account |
//! | `appcategory`, else `category` | the app's category |
//! | `appcategory`, `category`, `other_categories` | the app is filed as generative AI when any says `Generative AI` |
//! | `action` | the action, lower-cased (`allow`, `block`, `useralert`, …) |
//! | `numbytes`, else `client_bytes` + `server_bytes` | bytes |
//! | `req_cnt`, else `http_transaction_count` | requests: a page event sums up one connection's HTTP requests; absent (application events) it is 1 |
//! | `_id` | the record id |
//!
//! `policy`, `activity`, `access_method`, `traffic_type`, `ccl`/`cci` and
//! the rest are not read: an observation has no place for them.
//!
//! An event that names neither an app nor a destination, or no user,
//! machine or address, is refused; so is a whole response (`{"ok": …,
//! "result": […]}`) given as one record.

use serde_json::Value;

use crate::generic::{address, json_record};
use crate::{Identity, IdentityKind, Observation, Raw, Record, RecordError, VendorApp, fields};

/// Netskope's category of generative-AI apps.
const GENERATIVE_AI: &str = "Generative AI";

/// Reads a Netskope page or application event.
pub fn read(raw: Raw) -> Result<Record, RecordError> {
    let record = json_record(raw, "Netskope event")?;
    if record.get("result").is_some_and(Value::is_array) {
        return Err(RecordError::record("a whole data-export response: each item of `result` is a record"));
    }
    traffic(&record)?;
    let at = fields::required_time(&record, &["timestamp"])?;

    let client_ip = first_address(&record, &["userip", "srcip"])?;
    let identity = match fields::first_text(&record, &["ur_normalized", "user", "userkey"]) {
        Some(user) => match address(&user) {
            Some(ip) => Identity::new(IdentityKind::Ip, &ip),
            None => Identity::new(IdentityKind::User, &user),
        },
        None => None,
    }
    .or_else(|| fields::text(&record, "hostname").and_then(|host| Identity::new(IdentityKind::Host, &host)))
    .or_else(|| client_ip.as_deref().and_then(|ip| Identity::new(IdentityKind::Ip, ip)))
    .ok_or_else(|| RecordError::field("user", "missing: the event names no user, host name or address"))?;
    let client_ip = client_ip.filter(|ip| identity.kind != IdentityKind::Ip || identity.value != *ip);

    let url = fields::text(&record, "url");
    let page = fields::text(&record, "page");
    let host = fields::text(&record, "domain")
        .and_then(|domain| fields::host(&domain))
        .or_else(|| url.as_deref().and_then(fields::host))
        .or_else(|| page.as_deref().and_then(fields::host));
    let path = url.as_deref().and_then(fields::path).or_else(|| page.as_deref().and_then(fields::path));

    let app = app(&record);
    if app.as_ref().is_none_or(|app| app.name.is_none()) && host.is_none() {
        return Err(RecordError::field("app", "missing: the event names neither an app nor a destination"));
    }

    let bytes = match fields::count(&record, "numbytes")? {
        Some(bytes) => bytes,
        None => fields::count(&record, "client_bytes")?
            .unwrap_or(0)
            .saturating_add(fields::count(&record, "server_bytes")?.unwrap_or(0)),
    };
    let requests = match fields::count(&record, "req_cnt")? {
        Some(requests) => Some(requests),
        None => fields::count(&record, "http_transaction_count")?,
    };

    Ok(Record::Observation(Observation {
        at,
        identity,
        host,
        path,
        app,
        action: fields::text(&record, "action").map(|action| action.to_lowercase()),
        requests: requests.unwrap_or(1).max(1),
        bytes,
        client_ip,
        department: None,
        record_id: fields::text(&record, "_id"),
    }))
}

/// Refuses what is not a page or an application event.
fn traffic(record: &Value) -> Result<(), RecordError> {
    if let Some(alert) = fields::text(record, "alert_type") {
        return Err(RecordError::field(
            "alert_type",
            format!("a Netskope alert ({alert}), not traffic: only page and application events are read"),
        ));
    }
    match fields::text(record, "type").map(|kind| kind.to_ascii_lowercase()).as_deref() {
        None | Some("connection" | "page" | "nspolicy" | "application") => Ok(()),
        Some(other) => Err(RecordError::field(
            "type",
            format!(
                "a Netskope `{other}` event, not web traffic: only page (`connection`) and application \
                 (`nspolicy`) events are read"
            ),
        )),
    }
}

/// The first of `keys` present, as an address; an error if it is not one.
fn first_address(record: &Value, keys: &[&str]) -> Result<Option<String>, RecordError> {
    for key in keys {
        if let Some(text) = fields::text(record, key) {
            return address(&text).map(Some).ok_or_else(|| RecordError::field(key, "not an IP address"));
        }
    }
    Ok(None)
}

/// The app as Netskope names and files it; `None` when it says nothing.
fn app(record: &Value) -> Option<VendorApp> {
    let name = fields::text(record, "app");
    let id = fields::text(record, "instance_id");
    let category = fields::first_text(record, &["appcategory", "category"]);
    let others: Vec<String> = match record.get("other_categories") {
        Some(Value::Array(items)) => {
            items.iter().filter_map(Value::as_str).filter_map(fields::present).map(str::to_string).collect()
        }
        Some(Value::String(list)) => {
            list.split(',').filter_map(fields::present).map(str::to_string).collect()
        }
        _ => Vec::new(),
    };
    let generative_ai = [fields::text(record, "appcategory"), fields::text(record, "category")]
        .into_iter()
        .flatten()
        .chain(others)
        .any(|category| category.trim().eq_ignore_ascii_case(GENERATIVE_AI));
    (name.is_some() || id.is_some() || category.is_some()).then_some(VendorApp {
        id,
        name,
        category,
        generative_ai,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Options};
    use chrono::{DateTime, Utc};

    fn read_fixture(path: &str) -> Vec<(u64, Result<Record, RecordError>)> {
        let file = std::fs::File::open(path).unwrap();
        crate::frame::frames(std::io::BufReader::new(file), Format::NetskopeEvents.layout(), None)
            .map(|framed| {
                let framed = framed.unwrap();
                (
                    framed.line,
                    framed.raw.and_then(|raw| crate::read(Format::NetskopeEvents, raw, &Options::default())),
                )
            })
            .collect()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    fn who(kind: IdentityKind, value: &str) -> Identity {
        Identity { kind, value: value.to_string() }
    }

    fn app(
        id: Option<&str>,
        name: Option<&str>,
        category: Option<&str>,
        generative_ai: bool,
    ) -> Option<VendorApp> {
        Some(VendorApp {
            id: id.map(str::to_string),
            name: name.map(str::to_string),
            category: category.map(str::to_string),
            generative_ai,
        })
    }

    type Expected<'a> = Vec<(u64, Result<Observation, (Option<&'a str>, &'a str)>)>;

    fn check(read: &[(u64, Result<Record, RecordError>)], expected: Expected<'_>) {
        assert_eq!(read.len(), expected.len(), "{read:#?}");
        for ((line, found), (expected_line, expected)) in read.iter().zip(expected) {
            assert_eq!(*line, expected_line);
            match expected {
                Ok(observation) => assert_eq!(found, &Ok(Record::Observation(observation)), "line {line}"),
                Err((field, reason)) => {
                    let error = found.as_ref().unwrap_err();
                    assert_eq!(error.field.as_deref(), field, "line {line}: {}", error.reason);
                    assert!(error.reason.contains(reason), "line {line}: {}", error.reason);
                }
            }
        }
    }

    #[test]
    fn page_events() {
        let read = read_fixture(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/netskope/page-events.ndjson"));
        check(
            &read,
            vec![
                (
                    1,
                    Ok(Observation {
                        at: at(1_772_442_900),
                        identity: who(IdentityKind::User, "alice@example.com"),
                        host: Some("chatgpt.com".into()),
                        path: Some("/backend-api/conversation".into()),
                        app: app(None, Some("ChatGPT"), Some("Generative AI"), true),
                        action: None,
                        requests: 12,
                        bytes: 419_457,
                        client_ip: Some("192.0.2.10".into()),
                        department: None,
                        record_id: Some("6a1f00c0ffee000000000001".into()),
                    }),
                ),
                (
                    2,
                    Ok(Observation {
                        at: at(1_772_443_000),
                        identity: who(IdentityKind::User, "svc-build@example.com"),
                        host: Some("api.anthropic.com".into()),
                        path: Some("/v1/messages".into()),
                        app: app(None, Some("Anthropic"), Some("Generative AI"), true),
                        action: None,
                        requests: 3,
                        bytes: 25_600,
                        client_ip: Some("192.0.2.20".into()),
                        department: None,
                        record_id: Some("6a1f00c0ffee000000000002".into()),
                    }),
                ),
                (
                    3,
                    Ok(Observation {
                        at: at(1_772_443_200),
                        identity: who(IdentityKind::Host, "kiosk-03.corp.example.com"),
                        host: Some("www.perplexity.ai".into()),
                        path: Some("/search".into()),
                        app: app(None, Some("Perplexity AI"), Some("Search Engines"), true),
                        action: None,
                        requests: 1,
                        bytes: 0,
                        client_ip: Some("198.51.100.30".into()),
                        department: None,
                        record_id: Some("6a1f00c0ffee000000000003".into()),
                    }),
                ),
                (
                    4,
                    Ok(Observation {
                        at: at(1_772_445_600),
                        identity: who(IdentityKind::Ip, "2001:db8::10"),
                        host: Some("gemini.google.com".into()),
                        path: Some("/app".into()),
                        app: app(None, Some("Google Gemini"), Some("Generative AI"), true),
                        action: Some("block".into()),
                        requests: 1,
                        bytes: 5_120,
                        client_ip: None,
                        department: None,
                        record_id: Some("6a1f00c0ffee000000000004".into()),
                    }),
                ),
                (
                    5,
                    Ok(Observation {
                        at: at(1_772_445_660),
                        identity: who(IdentityKind::User, "erin@example.com"),
                        host: Some("www.example.com".into()),
                        path: None,
                        app: app(None, None, Some("Business"), false),
                        action: None,
                        requests: 2,
                        bytes: 3_000,
                        client_ip: Some("192.0.2.50".into()),
                        department: None,
                        record_id: Some("6a1f00c0ffee000000000005".into()),
                    }),
                ),
                (6, Err((Some("timestamp"), "missing"))),
                (7, Err((Some("timestamp"), "not a time"))),
                (8, Err((Some("alert_type"), "a Netskope alert (DLP)"))),
                (9, Err((Some("type"), "`admin_audit_logs` event"))),
                (10, Err((Some("user"), "names no user"))),
                (11, Err((Some("srcip"), "not an IP address"))),
                (12, Err((Some("numbytes"), "not a non-negative whole number"))),
                (13, Err((None, "not JSON"))),
                (14, Err((None, "each item of `result`"))),
                (15, Err((None, "a Netskope event is a JSON object"))),
            ],
        );
    }

    #[test]
    fn application_events() {
        let read =
            read_fixture(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/netskope/application-events.json"));
        check(
            &read,
            vec![
                (
                    2,
                    Ok(Observation {
                        at: at(1_772_443_260),
                        identity: who(IdentityKind::User, "bob@example.com"),
                        host: Some("chatgpt.com".into()),
                        path: Some("/backend-api/files".into()),
                        app: app(Some("chatgpt-personal"), Some("ChatGPT"), Some("Generative AI"), true),
                        action: Some("useralert".into()),
                        requests: 1,
                        bytes: 0,
                        client_ip: Some("198.51.100.7".into()),
                        department: None,
                        record_id: Some("6a1f00c0ffee0000000000b1".into()),
                    }),
                ),
                (
                    26,
                    Ok(Observation {
                        at: at(1_772_443_320),
                        identity: who(IdentityKind::User, "carol@example.com"),
                        host: Some("copilot.microsoft.com".into()),
                        path: None,
                        app: app(
                            Some("example.onmicrosoft.com"),
                            Some("Microsoft Copilot"),
                            Some("Generative AI"),
                            true,
                        ),
                        action: Some("allow".into()),
                        requests: 1,
                        bytes: 0,
                        client_ip: None,
                        department: None,
                        record_id: Some("6a1f00c0ffee0000000000b2".into()),
                    }),
                ),
                (
                    42,
                    Ok(Observation {
                        at: at(1_772_443_380),
                        identity: who(IdentityKind::User, "dave@example.com"),
                        host: Some("drive.google.com".into()),
                        path: Some("/upload".into()),
                        app: app(None, Some("Google Drive"), Some("Cloud Storage"), false),
                        action: Some("block".into()),
                        requests: 1,
                        bytes: 2_048,
                        client_ip: Some("192.0.2.40".into()),
                        department: None,
                        record_id: Some("6a1f00c0ffee0000000000b3".into()),
                    }),
                ),
                (
                    59,
                    Ok(Observation {
                        at: at(1_772_443_440),
                        identity: who(IdentityKind::User, "frank@example.com"),
                        host: None,
                        path: None,
                        app: app(Some("example-corp"), Some("Claude"), Some("Generative AI"), true),
                        action: Some("allow".into()),
                        requests: 1,
                        bytes: 0,
                        client_ip: None,
                        department: None,
                        record_id: Some("6a1f00c0ffee0000000000b4".into()),
                    }),
                ),
                (72, Err((Some("alert_type"), "a Netskope alert (uba)"))),
                (83, Err((Some("client_bytes"), "not a non-negative whole number"))),
                (94, Err((Some("app"), "neither an app nor a destination"))),
                (102, Err((None, "a Netskope event is a JSON object"))),
            ],
        );
    }
}
