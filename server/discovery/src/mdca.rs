//! Microsoft Defender for Cloud Apps: activities, and Cloud Discovery's
//! discovered apps with their users, addresses and devices.
//!
//! # Activities ([`read_activity`])
//!
//! Defender for Cloud Apps' REST API, on the tenant's portal host (shown
//! under *Settings → About*):
//!
//! ```text
//! POST https://<portal>/api/v1/activities/
//! {"filters": {"created": {"gte": <ms>}}, "sortField": "created", "sortDirection": "asc",
//!  "skip": 0, "limit": 100}
//! ```
//!
//! - Authentication: `Authorization: Token <API token>`, or a Microsoft
//!   Entra application's bearer token (client credentials, scope
//!   `05a65629-4c1b-48c1-a78b-804c4abdd4af/.default`, permission
//!   `Investigation.read`).
//! - The answer is `{"total": …, "hasNext": …, "data": [ …activities… ]}`;
//!   each item of `data` is a record. Pages are walked with `skip` /
//!   `limit` (100 at most) while `hasNext`; times are epoch milliseconds.
//! - The throttle limit, for all requests, is 30 a minute per tenant.
//!   Microsoft does not document how a throttled request is answered; a
//!   client treats 429 as throttled, honours `Retry-After` when present,
//!   and otherwise waits a minute.
//! - Activities come mostly from app connectors and Conditional Access App
//!   Control sessions; an AI service reached only through a proxy shows up
//!   in Cloud Discovery, and is not sure to show up here.
//!
//! A record is one activity:
//!
//! | Field | Read as |
//! |---|---|
//! | `timestamp`, else `created` | when (epoch milliseconds). Required |
//! | `user.userName` | the user |
//! | `device.clientIP` (also `device.clientIp`, `ipAddress`) | the client address (not an address refuses the record): the identity when there is no user, else the observation's client address |
//! | `appId`, `appName` | the app's id and name (one is required) |
//! | `_id` | the record id |
//!
//! An activity stands for one request and no bytes; it names no
//! destination host. `description`, `eventTypeName`, `eventTypeValue`,
//! `source` and the rest are not read: an observation has no place for
//! them.
//!
//! # Cloud Discovery ([`read_discovery`])
//!
//! Cloud Discovery reports *aggregates* over a period (the last 7, 30 or 90
//! days), not events. They come from Microsoft Graph (beta; application
//! permission `CloudApp-Discovery.Read.All`; Graph's throttling, 429 with
//! `Retry-After`; pages by `$top` / `$skip`, and `@odata.nextLink` as
//! Graph pages):
//!
//! ```text
//! GET https://graph.microsoft.com/beta/security/dataDiscovery/cloudAppDiscovery/uploadedStreams/{streamId}
//!     /microsoft.graph.security.aggregatedAppsDetails(period=duration'P30D')          the apps
//!     /microsoft.graph.security.aggregatedAppsDetails(period=duration'P30D')/{appId}/users
//!     /microsoft.graph.security.aggregatedAppsDetails(period=duration'P30D')/{appId}/ipAddresses
//! ```
//!
//! An app (`discoveredCloudAppDetail`) has `id`, `displayName`, `category`
//! (`generativeAi` among others; `aiModelProvider`, `mcpServer` and
//! `clientAiApp` only with `Prefer: include-unknown-enum-members`),
//! `domains`, `userCount`, `ipAddressCount`, `transactionCount`,
//! `uploadNetworkTrafficInBytes`, `downloadNetworkTrafficInBytes`,
//! `lastSeenDateTime`; the `users` items are `{"userIdentifier": …}`, the
//! `ipAddresses` items `{"ipAddress": …}`, and the endpoint reports' (Defender
//! for Endpoint) `devices` items `{"name": …}`. The older portal API
//! (`POST /api/v1/discovery/discovered_apps/`, `…/discovery/app_users/`)
//! is not documented by Microsoft; its records are read with the field
//! names its apps carry (`appId`, `name`, `lastUsed`, `trafficTotalBytes`,
//! `trafficUploadedBytes`, `trafficTotalEvents`), and, for its users,
//! `username` and `lastSeen` — names that are not confirmed.
//!
//! A record is **one app and one user, device or address**: an item of
//! `users`, `ipAddresses` or `devices` with the fields of its app copied
//! in beside it (a device item's `name` copied in as `deviceName`, since
//! `name` is read as the app's name in the older API's records):
//!
//! ```json
//! {"id": "999999", "displayName": "OpenAI ChatGPT", "category": "generativeAi",
//!  "domains": ["chatgpt.com", "openai.com"], "userCount": 42, "transactionCount": 12034,
//!  "uploadNetworkTrafficInBytes": 73400320, "downloadNetworkTrafficInBytes": 943718400,
//!  "lastSeenDateTime": "2026-03-01T00:00:00Z", "userIdentifier": "alice@example.com"}
//! ```
//!
//! | Field | Read as |
//! |---|---|
//! | `id`, else `appId` | the app's id (number or text) |
//! | `displayName`, else `appName`, else `name` | the app's name (an id or a name is required) |
//! | `category` | the app's category; `generativeAi`, `aiModelProvider` and `clientAiApp` (however cased, with or without the older API's `SAASDB_CATEGORY_` prefix and underscores) file it as generative AI |
//! | `domains` | its first domain is the destination host |
//! | `userIdentifier`, else `userName` / `username` | the user |
//! | `deviceName` | the device, when there is no user |
//! | `ipAddress` | the address (not an address refuses the record): the identity when there is neither, else the observation's client address |
//! | `lastSeenDateTime`, else `lastSeen`, else `lastUsed` | when (RFC 3339, or epoch milliseconds). Required |
//! | `transactionCount`, else `trafficTotalEvents`, else `transactions` | requests (at least 1) |
//! | `uploadNetworkTrafficInBytes` + `downloadNetworkTrafficInBytes`, else `trafficTotalBytes`, else `trafficUploadedBytes` + `trafficDownloadedBytes` | bytes |
//!
//! The counts are the pair's only when they are not the app's totals
//! shared out among several: a record that also carries the app's
//! `userCount` (for a user), `deviceCount` (for a device) or
//! `ipAddressCount` (for an address) above 1 has the counts of the whole
//! app, which Graph does not break down per user; such a record stands for
//! 1 request and 0 bytes, so that the app's traffic is not counted once per
//! user. Likewise its time is the app's last-seen time, the closest Graph
//! gives.
//!
//! The record id is made up, as `<app id or name>/<identity kind>:<identity>/<time>`,
//! so that reading the same report twice yields the same ids.
//!
//! Refused: a record naming no app; one naming no user, device or address
//! (an app on its own, or an app with its `users` embedded as an array:
//! give one record per user); a whole response (`value` or `data` array)
//! given as one record.

use serde_json::Value;

use crate::generic::{address, json_record};
use crate::{Identity, IdentityKind, Observation, Raw, Record, RecordError, VendorApp, fields};

/// Reads a Defender for Cloud Apps activity (an item of `/api/v1/activities/`'s `data`).
pub fn read_activity(raw: Raw) -> Result<Record, RecordError> {
    let record = json_record(raw, "Defender for Cloud Apps activity")?;
    whole_response(&record)?;
    let at = fields::required_time(&record, &["timestamp", "created"])?;

    let client_ip = match record.get("device").and_then(|d| fields::first_text(d, &["clientIP", "clientIp"]))
    {
        Some(ip) => Some((ip, "device.clientIP")),
        None => fields::text(&record, "ipAddress").map(|ip| (ip, "ipAddress")),
    };
    let client_ip = match client_ip {
        Some((ip, field)) => {
            Some(address(&ip).ok_or_else(|| RecordError::field(field, "not an IP address"))?)
        }
        None => None,
    };
    let identity = record
        .get("user")
        .and_then(|user| fields::text(user, "userName"))
        .and_then(|user| Identity::new(IdentityKind::User, &user))
        .or_else(|| client_ip.as_deref().and_then(|ip| Identity::new(IdentityKind::Ip, ip)))
        .ok_or_else(|| {
            RecordError::field("user.userName", "missing: the activity names no user or address")
        })?;
    let client_ip = client_ip.filter(|_| identity.kind != IdentityKind::Ip);

    let id = fields::text(&record, "appId");
    let name = fields::text(&record, "appName");
    if id.is_none() && name.is_none() {
        return Err(RecordError::field("appId", "missing: the activity names no app (appId, appName)"));
    }

    Ok(Record::Observation(Observation {
        at,
        identity,
        host: None,
        path: None,
        app: Some(VendorApp { id, name, category: None, generative_ai: false }),
        action: None,
        requests: 1,
        bytes: 0,
        client_ip,
        department: None,
        record_id: fields::text(&record, "_id"),
    }))
}

/// Reads a Cloud Discovery record: one discovered app and one of its
/// users, devices or addresses (see the module documentation).
pub fn read_discovery(raw: Raw) -> Result<Record, RecordError> {
    let record = json_record(raw, "Cloud Discovery record")?;
    whole_response(&record)?;
    for embedded in ["users", "ipAddresses", "devices"] {
        if record.get(embedded).is_some_and(Value::is_array) {
            return Err(RecordError::field(
                embedded,
                format!(
                    "an app with its {embedded} embedded: give one record per app and user, device or address"
                ),
            ));
        }
    }

    let id = fields::first_text(&record, &["id", "appId"]);
    let name = fields::first_text(&record, &["displayName", "appName", "name"]);
    if id.is_none() && name.is_none() {
        return Err(RecordError::field("id", "missing: the record names no app (id, displayName)"));
    }
    let category = fields::text(&record, "category");
    let generative_ai = category.as_deref().is_some_and(ai_category);

    let ip = match fields::text(&record, "ipAddress") {
        Some(ip) => Some(address(&ip).ok_or_else(|| RecordError::field("ipAddress", "not an IP address"))?),
        None => None,
    };
    let identity = fields::first_text(&record, &["userIdentifier", "userName", "username"])
        .and_then(|user| Identity::new(IdentityKind::User, &user))
        .or_else(|| {
            fields::text(&record, "deviceName").and_then(|device| Identity::new(IdentityKind::Host, &device))
        })
        .or_else(|| ip.as_deref().and_then(|ip| Identity::new(IdentityKind::Ip, ip)))
        .ok_or_else(|| {
            RecordError::field(
                "userIdentifier",
                "missing: the record names no user, device or address (one record per app and user)",
            )
        })?;
    let client_ip = ip.filter(|_| identity.kind != IdentityKind::Ip);

    let at = fields::required_time(&record, &["lastSeenDateTime", "lastSeen", "lastUsed"])?;

    let transactions = first_count(&record, &["transactionCount", "trafficTotalEvents", "transactions"])?;
    let upload = fields::count(&record, "uploadNetworkTrafficInBytes")?;
    let download = fields::count(&record, "downloadNetworkTrafficInBytes")?;
    let bytes = if upload.is_some() || download.is_some() {
        upload.unwrap_or(0).saturating_add(download.unwrap_or(0))
    } else if let Some(total) = fields::count(&record, "trafficTotalBytes")? {
        total
    } else {
        let up = fields::count(&record, "trafficUploadedBytes")?.unwrap_or(0);
        up.saturating_add(fields::count(&record, "trafficDownloadedBytes")?.unwrap_or(0))
    };
    let sharers = match identity.kind {
        IdentityKind::User => "userCount",
        IdentityKind::Host => "deviceCount",
        _ => "ipAddressCount",
    };
    let shared = fields::count(&record, sharers)?.is_some_and(|n| n > 1);
    let (requests, bytes) = if shared { (1, 0) } else { (transactions.unwrap_or(1).max(1), bytes) };

    let host = match record.get("domains") {
        Some(Value::Array(domains)) => domains.iter().filter_map(Value::as_str).find_map(fields::host),
        Some(Value::String(domains)) => domains.split(',').find_map(fields::host),
        _ => None,
    };

    let record_id = format!(
        "{}/{}:{}/{}",
        id.as_deref().or(name.as_deref()).unwrap_or_default(),
        identity.kind.as_str(),
        identity.value,
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    Ok(Record::Observation(Observation {
        at,
        identity,
        host,
        path: None,
        app: Some(VendorApp { id, name, category, generative_ai }),
        action: None,
        requests,
        bytes,
        client_ip,
        department: None,
        record_id: Some(record_id),
    }))
}

/// Refuses a whole API answer given as one record.
fn whole_response(record: &Value) -> Result<(), RecordError> {
    for list in ["data", "value"] {
        if record.get(list).is_some_and(Value::is_array) {
            return Err(RecordError::field(
                list,
                format!("a whole API response: each item of `{list}` is a record"),
            ));
        }
    }
    Ok(())
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

/// A category that files an app as generative AI (`generativeAi`,
/// `aiModelProvider`, `clientAiApp`; `SAASDB_CATEGORY_GENERATIVE_AI`).
fn ai_category(category: &str) -> bool {
    let squashed: String =
        category.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    let squashed = squashed.strip_prefix("saasdbcategory").unwrap_or(&squashed);
    matches!(squashed, "generativeai" | "aimodelprovider" | "clientaiapp")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Options};
    use chrono::{DateTime, Utc};

    fn read_fixture(path: &str, format: Format) -> Vec<(u64, Result<Record, RecordError>)> {
        let file = std::fs::File::open(path).unwrap();
        crate::frame::frames(std::io::BufReader::new(file), format.layout(), None)
            .map(|framed| {
                let framed = framed.unwrap();
                (framed.line, framed.raw.and_then(|raw| crate::read(format, raw, &Options::default())))
            })
            .collect()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn who(kind: IdentityKind, value: &str) -> Identity {
        Identity { kind, value: value.to_string() }
    }

    fn app(id: Option<&str>, name: &str, category: Option<&str>, generative_ai: bool) -> Option<VendorApp> {
        Some(VendorApp {
            id: id.map(str::to_string),
            name: Some(name.to_string()),
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

    fn activity(
        at_: &str,
        identity: Identity,
        app_: Option<VendorApp>,
        client_ip: Option<&str>,
        id: &str,
    ) -> Observation {
        Observation {
            at: at(at_),
            identity,
            host: None,
            path: None,
            app: app_,
            action: None,
            requests: 1,
            bytes: 0,
            client_ip: client_ip.map(str::to_string),
            department: None,
            record_id: Some(id.to_string()),
        }
    }

    #[test]
    fn activities() {
        let read = read_fixture(
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mdca/activities.json"),
            Format::MdcaActivities,
        );
        let chatgpt = || app(Some("123456"), "OpenAI ChatGPT", None, false);
        check(
            &read,
            vec![
                (
                    2,
                    Ok(activity(
                        "2026-03-02T09:15:00Z",
                        who(IdentityKind::User, "alice@example.com"),
                        chatgpt(),
                        Some("203.0.113.10"),
                        "97134000_123456_0f8e6a52-0000-4000-8000-000000000001",
                    )),
                ),
                (
                    24,
                    Ok(activity(
                        "2026-03-02T09:16:40.500Z",
                        who(IdentityKind::Ip, "2001:db8::20"),
                        Some(VendorApp {
                            id: Some("654321".into()),
                            name: None,
                            category: None,
                            generative_ai: false,
                        }),
                        None,
                        "97134000_654321_0f8e6a52-0000-4000-8000-000000000002",
                    )),
                ),
                (
                    36,
                    Ok(activity(
                        "2026-03-02T09:20:00Z",
                        who(IdentityKind::User, "bob@example.com"),
                        Some(VendorApp {
                            id: None,
                            name: Some("Microsoft Copilot".into()),
                            category: None,
                            generative_ai: false,
                        }),
                        None,
                        "97134000_0_0f8e6a52-0000-4000-8000-000000000003",
                    )),
                ),
                (45, Err((Some("timestamp"), "missing"))),
                (52, Err((Some("user.userName"), "names no user or address"))),
                (60, Err((Some("appId"), "names no app"))),
                (66, Err((Some("device.clientIP"), "not an IP address"))),
                (74, Err((Some("data"), "a whole API response"))),
            ],
        );
    }

    fn discovered(
        at_: &str,
        identity: Identity,
        app_: Option<VendorApp>,
        host: Option<&str>,
        requests: u64,
        bytes: u64,
        id: &str,
    ) -> Observation {
        Observation {
            at: at(at_),
            identity,
            host: host.map(str::to_string),
            path: None,
            app: app_,
            action: None,
            requests,
            bytes,
            client_ip: None,
            department: None,
            record_id: Some(id.to_string()),
        }
    }

    #[test]
    fn discovered_app_users() {
        let read = read_fixture(
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mdca/discovered-app-users.json"),
            Format::MdcaDiscovery,
        );
        let chatgpt = || app(Some("999999"), "OpenAI ChatGPT", Some("generativeAi"), true);
        check(
            &read,
            vec![
                (
                    2,
                    Ok(discovered(
                        "2026-03-01T00:00:00Z",
                        who(IdentityKind::User, "alice@example.com"),
                        chatgpt(),
                        Some("chatgpt.com"),
                        1,
                        0,
                        "999999/user:alice@example.com/2026-03-01T00:00:00.000Z",
                    )),
                ),
                (
                    16,
                    Ok(discovered(
                        "2026-03-01T06:30:00Z",
                        who(IdentityKind::User, "dave@example.com"),
                        app(Some("999998"), "Anthropic Claude", Some("generativeAi"), true),
                        Some("claude.ai"),
                        310,
                        6_291_456,
                        "999998/user:dave@example.com/2026-03-01T06:30:00.000Z",
                    )),
                ),
                (
                    30,
                    Ok(discovered(
                        "2026-03-01T00:00:00Z",
                        who(IdentityKind::Ip, "198.51.100.23"),
                        chatgpt(),
                        Some("chatgpt.com"),
                        1,
                        0,
                        "999999/ip:198.51.100.23/2026-03-01T00:00:00.000Z",
                    )),
                ),
                (
                    44,
                    Ok(discovered(
                        "2026-03-01T08:00:00Z",
                        who(IdentityKind::Host, "laptop-erin"),
                        app(Some("999996"), "Perplexity", Some("aiModelProvider"), true),
                        Some("perplexity.ai"),
                        57,
                        40_960,
                        "999996/host:laptop-erin/2026-03-01T08:00:00.000Z",
                    )),
                ),
                (
                    56,
                    Ok(discovered(
                        "2026-03-01T00:00:00Z",
                        who(IdentityKind::User, "frank@example.com"),
                        app(Some("999997"), "Example AI Notes", Some("SAASDB_CATEGORY_GENERATIVE_AI"), true),
                        None,
                        88,
                        734_003,
                        "999997/user:frank@example.com/2026-03-01T00:00:00.000Z",
                    )),
                ),
                (
                    66,
                    Ok(discovered(
                        "2026-03-01T12:00:00Z",
                        who(IdentityKind::User, "grace@example.com"),
                        app(Some("999995"), "Example Drive", Some("cloudStorage"), false),
                        Some("drive.example.com"),
                        12,
                        2_000,
                        "999995/user:grace@example.com/2026-03-01T12:00:00.000Z",
                    )),
                ),
                (77, Err((Some("users"), "embedded"))),
                (85, Err((Some("userIdentifier"), "names no user, device or address"))),
                (92, Err((Some("lastSeenDateTime"), "missing"))),
                (98, Err((Some("transactionCount"), "not a non-negative whole number"))),
                (105, Err((Some("id"), "names no app"))),
                (109, Err((Some("value"), "a whole API response"))),
            ],
        );
    }

    #[test]
    fn ai_categories() {
        for category in [
            "generativeAi",
            "GenerativeAI",
            "SAASDB_CATEGORY_GENERATIVE_AI",
            "aiModelProvider",
            "clientAiApp",
        ] {
            assert!(ai_category(category), "{category}");
        }
        for category in ["mcpServer", "cloudStorage", "SAASDB_CATEGORY_CLOUD_STORAGE", ""] {
            assert!(!ai_category(category), "{category}");
        }
    }
}
