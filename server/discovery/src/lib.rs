//! Discovery: what the proxies, CASBs and DNS resolvers a security team
//! already runs say about AI traffic the gateway does not see.
//!
//! A *record* is one entry as a vendor writes it (a Zscaler NSS web log
//! line, a Netskope page event, a Defender for Cloud Apps activity, an
//! Infoblox DNS query, an IPAM address). [`frame`] cuts a body into records
//! without holding more than one at a time, each with its line number;
//! each vendor module turns a record into a [`Record`]: an [`Observation`]
//! of traffic, or a [`HostRecord`] naming the host behind an address. The
//! [`catalogue`] says which observations are AI services.
//!
//! Nothing here touches the network or the store: the gateway's ingest
//! and sync feed it, and a test feeds it fixtures.

pub mod catalogue;
pub mod fields;
pub mod frame;
pub mod generic;
pub mod infoblox;
pub mod mdca;
pub mod netskope;
pub mod zscaler;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The vendor a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    /// Zscaler Internet Access (NSS web logs).
    Zscaler,
    /// Netskope (events API, page and application events).
    Netskope,
    /// Microsoft Defender for Cloud Apps.
    Mdca,
    /// Infoblox (BloxOne / Universal DDI, NIOS).
    Infoblox,
    /// A source with a configured field mapping.
    Generic,
}

/// Who made the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A person's account (a login, a UPN, an email address).
    User,
    /// A named machine.
    Host,
    /// A workload's own account (a service principal, a service account).
    ServiceAccount,
    /// Only an address is known.
    Ip,
}

impl IdentityKind {
    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::User => "user",
            IdentityKind::Host => "host",
            IdentityKind::ServiceAccount => "service_account",
            IdentityKind::Ip => "ip",
        }
    }
}

/// Who made the traffic: a kind and a value (lower-cased for users and
/// hosts, so one person is one identity however a vendor spells them).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// What the value is.
    pub kind: IdentityKind,
    /// The login, host name, account or address.
    pub value: String,
}

impl Identity {
    /// An identity of `kind`, its value trimmed (and lower-cased unless it
    /// is an address); `None` when nothing is left or the value is one of
    /// the vendors' "no value" markers.
    pub fn new(kind: IdentityKind, value: &str) -> Option<Identity> {
        let value = fields::present(value)?;
        let value = match kind {
            IdentityKind::Ip => value.to_string(),
            _ => value.to_lowercase(),
        };
        Some(Identity { kind, value })
    }
}

/// How a vendor names the application the traffic went to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VendorApp {
    /// The vendor's app id (Defender for Cloud Apps' numeric id, …).
    pub id: Option<String>,
    /// The vendor's app name (`ChatGPT`, `OpenAI`, …).
    pub name: Option<String>,
    /// The vendor's category or class (`Generative AI`, `AI & ML Applications`…).
    pub category: Option<String>,
    /// The vendor itself files the app as generative AI.
    pub generative_ai: bool,
}

/// One observation of traffic: who, where to, when, how much.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// When the traffic happened (the vendor's time, not the ingest's).
    pub at: DateTime<Utc>,
    /// Who made it.
    pub identity: Identity,
    /// The destination host: lower-case, without port or trailing dot.
    pub host: Option<String>,
    /// The URL path, without the query.
    pub path: Option<String>,
    /// The application, as the vendor classified it.
    pub app: Option<VendorApp>,
    /// What the vendor did with it (`allowed`, `blocked`, …), lower-case.
    pub action: Option<String>,
    /// How many requests this record stands for (1 for a log line; more for
    /// the aggregates some vendors export).
    pub requests: u64,
    /// Bytes sent and received.
    pub bytes: u64,
    /// The client address, when the identity is not it.
    pub client_ip: Option<String>,
    /// The user's department, when the vendor says.
    pub department: Option<String>,
    /// The vendor's own id for the record, when it has one: re-sent records
    /// are recognised by it.
    pub record_id: Option<String>,
}

/// What IPAM says of an address: the host behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The address (IPv4 or IPv6, as written canonically).
    pub ip: String,
    /// The host name, lower-case, without trailing dot.
    pub name: String,
    /// When IPAM last saw it, if it says.
    pub at: Option<DateTime<Utc>>,
}

/// A record, read. (Not boxed: a record is moved a few times on its way
/// to a batch, and most are observations.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// Traffic.
    Observation(Observation),
    /// An address's host name.
    Host(HostRecord),
}

/// Why a record was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{reason}")]
pub struct RecordError {
    /// What is wrong, for a person.
    pub reason: String,
    /// The record's field at fault, as the vendor names it, if one is.
    pub field: Option<String>,
}

impl RecordError {
    /// The record's `field` is at fault.
    pub fn field(field: &str, reason: impl Into<String>) -> RecordError {
        RecordError { reason: reason.into(), field: Some(field.to_string()) }
    }

    /// The record as a whole is at fault.
    pub fn record(reason: impl Into<String>) -> RecordError {
        RecordError { reason: reason.into(), field: None }
    }
}

/// A record as it was framed: a JSON value (a JSON or NDJSON record, or a
/// CSV row as an object of strings keyed by the header), or a text line
/// (CEF, syslog).
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    /// A JSON record, or a CSV row as an object of strings.
    Json(Value),
    /// A line of text.
    Line(String),
}

/// How a format's records are laid out in a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// NDJSON, or one JSON array of records, or one JSON record.
    Json,
    /// CSV with a header row (or with the columns given separately).
    Csv,
    /// One record per line of text.
    Lines,
}

/// The formats discovery reads: a vendor and a record layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Zscaler ZIA NSS web logs, a JSON feed.
    ZscalerNssJson,
    /// Zscaler ZIA NSS web logs, a CSV feed.
    ZscalerNssCsv,
    /// Netskope page and application events (events / data-export API).
    NetskopeEvents,
    /// Defender for Cloud Apps activities (`/api/v1/activities/`).
    MdcaActivities,
    /// Defender for Cloud Apps Cloud Discovery: discovered apps and their
    /// users (Microsoft Graph `discoveredCloudAppDetail` and its users).
    MdcaDiscovery,
    /// Infoblox BloxOne / Universal DDI DNS events (`/api/dnsdata/v2/dns_event`).
    InfobloxDnsJson,
    /// Infoblox DNS queries as CEF lines (Data Connector, NIOS RPZ), with or
    /// without a syslog header.
    InfobloxCef,
    /// Infoblox NIOS BIND query log lines.
    InfobloxNiosQueries,
    /// Infoblox IPAM: addresses and the hosts behind them (BloxOne
    /// `ipam/address`, NIOS WAPI `ipv4address` / `record:host`).
    InfobloxIpam,
    /// Any JSON record, read through a source's field mapping.
    Generic,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 10] = [
        Format::ZscalerNssJson,
        Format::ZscalerNssCsv,
        Format::NetskopeEvents,
        Format::MdcaActivities,
        Format::MdcaDiscovery,
        Format::InfobloxDnsJson,
        Format::InfobloxCef,
        Format::InfobloxNiosQueries,
        Format::InfobloxIpam,
        Format::Generic,
    ];

    /// The name the API uses (`zscaler_nss_json`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::ZscalerNssJson => "zscaler_nss_json",
            Format::ZscalerNssCsv => "zscaler_nss_csv",
            Format::NetskopeEvents => "netskope_events",
            Format::MdcaActivities => "mdca_activities",
            Format::MdcaDiscovery => "mdca_discovery",
            Format::InfobloxDnsJson => "infoblox_dns_json",
            Format::InfobloxCef => "infoblox_cef",
            Format::InfobloxNiosQueries => "infoblox_nios_queries",
            Format::InfobloxIpam => "infoblox_ipam",
            Format::Generic => "generic",
        }
    }

    /// The format named `name`.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The vendor.
    pub fn vendor(self) -> Vendor {
        match self {
            Format::ZscalerNssJson | Format::ZscalerNssCsv => Vendor::Zscaler,
            Format::NetskopeEvents => Vendor::Netskope,
            Format::MdcaActivities | Format::MdcaDiscovery => Vendor::Mdca,
            Format::InfobloxDnsJson
            | Format::InfobloxCef
            | Format::InfobloxNiosQueries
            | Format::InfobloxIpam => Vendor::Infoblox,
            Format::Generic => Vendor::Generic,
        }
    }

    /// How its records are laid out.
    pub fn layout(self) -> Layout {
        match self {
            Format::ZscalerNssCsv => Layout::Csv,
            Format::InfobloxCef | Format::InfobloxNiosQueries => Layout::Lines,
            _ => Layout::Json,
        }
    }
}

/// What reading a record needs besides the record: the generic mapping
/// and the time zone of feeds that write local times.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The field mapping of a `generic` source.
    pub mapping: Option<generic::Mapping>,
}

/// Reads one framed record of `format`.
pub fn read(format: Format, raw: Raw, options: &Options) -> Result<Record, RecordError> {
    match format {
        Format::ZscalerNssJson | Format::ZscalerNssCsv => zscaler::read(raw),
        Format::NetskopeEvents => netskope::read(raw),
        Format::MdcaActivities => mdca::read_activity(raw),
        Format::MdcaDiscovery => mdca::read_discovery(raw),
        Format::InfobloxDnsJson => infoblox::read_dns_event(raw),
        Format::InfobloxCef => infoblox::read_cef(raw),
        Format::InfobloxNiosQueries => infoblox::read_nios_query(raw),
        Format::InfobloxIpam => infoblox::read_ipam(raw),
        Format::Generic => match &options.mapping {
            Some(mapping) => generic::read(raw, mapping),
            None => Err(RecordError::record("a generic source needs a field mapping")),
        },
    }
}
