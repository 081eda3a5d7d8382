//! Discovery: AI traffic the gateway does not see yet, as proxies, CASBs
//! and DNS resolvers report it, turned into an inventory of discovered
//! agents that can be owned and governed.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, DiscoveredAgentId, TenantId};
use crate::integrations::IntegrationName;
use crate::pagination::page_type;

/// A vendor record format the ingest reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryFormat {
    /// Zscaler ZIA NSS web logs, a JSON (or NDJSON) feed.
    ZscalerNssJson,
    /// Zscaler ZIA NSS web logs, a CSV feed (header row, or `columns`).
    ZscalerNssCsv,
    /// Netskope page and application events.
    NetskopeEvents,
    /// Defender for Cloud Apps activities.
    MdcaActivities,
    /// Defender for Cloud Apps Cloud Discovery: a discovered app's users.
    MdcaDiscovery,
    /// Infoblox BloxOne / Universal DDI DNS events.
    InfobloxDnsJson,
    /// Infoblox DNS events as CEF lines (with or without a syslog header).
    InfobloxCef,
    /// Infoblox NIOS BIND query log lines.
    InfobloxNiosQueries,
    /// Infoblox IPAM addresses and host records (names the hosts behind
    /// addresses).
    InfobloxIpam,
    /// Any JSON record, read through the source's field mapping.
    Generic,
}

/// Query of `POST /api/discovery/ingest`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestParams {
    /// The tenant (see `TenantScope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// The records' format. Without it, the `format` parameter of the
    /// `Content-Type` (`application/x-ndjson; format=zscaler_nss_json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DiscoveryFormat>,
    /// The source the records come from, as the discovered agents list it
    /// (default: the format's vendor, e.g. `zscaler`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IntegrationName>,
    /// The CSV columns, comma-separated, for feeds without a header row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub columns: Option<String>,
}

/// A record the ingest refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IngestError {
    /// The line of the body (from 1, after decompression) the record
    /// starts on.
    pub line: u64,
    /// Why.
    pub reason: String,
    /// The record's field at fault, as the vendor names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// What an ingest did.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct IngestResult {
    /// The format read.
    pub format: DiscoveryFormat,
    /// The source the records were counted for.
    pub source: String,
    /// The version of the AI-service catalogue the records were matched with.
    pub catalogue_version: String,
    /// Records read (good or not).
    pub records: u64,
    /// Records kept: observations of AI services not ingested before, and
    /// host records. `records` = `accepted` + `duplicates` + `refused` +
    /// `other_observations`.
    pub accepted: u64,
    /// Records read that had been ingested before: they add nothing.
    pub duplicates: u64,
    /// Records refused (see `errors`).
    pub refused: u64,
    /// Accepted observations of AI services.
    pub ai_observations: u64,
    /// Observations of anything but an AI service: read, counted, not kept
    /// (so not recognised when sent again either).
    pub other_observations: u64,
    /// Accepted host records (IPAM).
    pub hosts: u64,
    /// Discovered agents first seen in this ingest.
    pub agents_new: u64,
    /// Discovered agents seen before and seen again.
    pub agents_updated: u64,
    /// The first refused records (at most 100), with their lines.
    pub errors: Vec<IngestError>,
    /// More records were refused than `errors` lists.
    pub errors_truncated: bool,
}

/// Who the traffic of a discovered agent comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A person's account.
    User,
    /// A named machine.
    Host,
    /// A workload's own account.
    ServiceAccount,
    /// Only an address is known.
    Ip,
}

/// Who the traffic of a discovered agent comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiscoveredIdentity {
    /// What `value` is.
    pub kind: IdentityKind,
    /// The login, host name, account or address (lower-case but addresses).
    pub value: String,
}

/// An AI service, as the catalogue knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceRef {
    /// The catalogue's id (`openai-api`, `claude`…), or `unlisted:<name>`
    /// for an app a vendor files as generative AI that the catalogue does
    /// not list.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Who runs it (absent for unlisted services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Whether the catalogue lists it.
    pub listed: bool,
}

/// Where a discovered agent was seen, per source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceSighting {
    /// The source.
    pub source: String,
    /// First seen by it.
    pub first_seen: DateTime<Utc>,
    /// Last seen by it.
    pub last_seen: DateTime<Utc>,
    /// Requests it saw.
    pub requests: u64,
    /// Bytes it saw.
    pub bytes: u64,
}

/// What the tenant decided of a discovered agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryStatus {
    /// Nobody has looked at it yet.
    Unreviewed,
    /// Allowed: the use is known and accepted.
    Sanctioned,
    /// Not allowed: the use should stop.
    Unsanctioned,
    /// Not an agent worth governing (noise, a test).
    Ignored,
}

/// An identity using an AI service, as discovery found it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct DiscoveredAgent {
    /// Its id.
    pub id: DiscoveredAgentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Who.
    pub identity: DiscoveredIdentity,
    /// Which AI service.
    pub service: ServiceRef,
    /// First seen (by any source).
    pub first_seen: DateTime<Utc>,
    /// Last seen (by any source).
    pub last_seen: DateTime<Utc>,
    /// Requests seen.
    pub requests: u64,
    /// Bytes seen.
    pub bytes: u64,
    /// The department, as the last source that named one said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The sources that saw it.
    pub sources: Vec<SourceSighting>,
    /// What the tenant decided of it.
    pub status: DiscoveryStatus,
    /// Why (given with the decision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The registered agent it is, once linked: it is then governed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Who owns it (a person's user name or email address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// When its access was last attested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attested_at: Option<DateTime<Utc>>,
    /// When an attestation is due (last attestation, or discovery, plus the
    /// tenant's interval).
    pub attestation_due: DateTime<Utc>,
    /// The attestation is past due.
    pub overdue: bool,
    /// Added to the inventory.
    pub created_at: DateTime<Utc>,
    /// Last changed (seen, or governed).
    pub updated_at: DateTime<Utc>,
}

/// Query of `GET /api/discovery/agents`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveredAgentListParams {
    /// The tenant (see `TenantScope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// Only these statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DiscoveryStatus>,
    /// Only this service (a catalogue id, or `unlisted:<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub service: Option<String>,
    /// Only identities of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_kind: Option<IdentityKind>,
    /// Only this identity (exact, lower-case but addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub identity: Option<String>,
    /// Only those linked to a registered agent (`true`) or not (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governed: Option<bool>,
    /// Only those with an owner (`true`) or without (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned: Option<bool>,
    /// Only those seen at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_after: Option<DateTime<Utc>>,
    /// Page size (1–500, default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

page_type!(
    /// A page of discovered agents, most recently seen first.
    DiscoveredAgentPage, DiscoveredAgent
);

/// Path of one discovered agent.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct DiscoveredAgentPath {
    /// Its id.
    pub discovered_id: DiscoveredAgentId,
}

/// Body of `PATCH /api/discovery/agents/{discovered_id}`: only the fields
/// present change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveredAgentUpdate {
    /// The tenant's decision; `reason` is required with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DiscoveryStatus>,
    /// Why (required with `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::text::Description>,
    /// Who owns it: a person's user name or email address; `null` leaves
    /// it without an owner.
    #[serde(
        default,
        deserialize_with = "crate::text::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub owner: Option<Option<crate::text::Label>>,
    /// The registered agent it is (then it is governed); `null` unlinks it.
    #[serde(
        default,
        deserialize_with = "crate::text::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub agent_id: Option<Option<AgentId>>,
}

/// Body of `POST /api/discovery/agents/{discovered_id}/attestations`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationCreate {
    /// What the owner attests (for example, why the access is still needed).
    pub statement: crate::text::Description,
}

/// An owner's statement that a discovered agent's access is still needed.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Attestation {
    /// Its id (`att_…`).
    pub id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The discovered agent.
    pub discovered_id: DiscoveredAgentId,
    /// Who attested, as audit entries name principals.
    pub attester: String,
    /// The person who attested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<crate::operators::Person>,
    /// What they attested.
    pub statement: String,
    /// When.
    pub attested_at: DateTime<Utc>,
}

/// Query of `GET /api/discovery/attestations`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationListParams {
    /// The tenant (see `TenantScope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// Only this discovered agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered_id: Option<DiscoveredAgentId>,
    /// Page size (1–500, default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

page_type!(
    /// A page of attestations, newest first.
    AttestationPage, Attestation
);

/// A tenant's discovery settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySettings {
    /// How many days an owner's attestation holds; after it, the discovered
    /// agent's attestation is overdue (default 90).
    #[schemars(range(min = 1, max = 3650))]
    pub attestation_days: u32,
}

/// What an AI service is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// A programmatic model endpoint.
    ModelApi,
    /// An end-user application.
    Saas,
}

/// Where a service is found by host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceDomains {
    /// Host names, matched exactly (lower-case).
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub exact: Vec<String>,
    /// `*.suffix` (one or more labels before the suffix, not the suffix
    /// itself) or templates with `{label}` slots standing for one label.
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub wildcard: Vec<String>,
}

/// A host and a path prefix: for shared hosts, where only some paths are
/// the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceUrlPattern {
    /// The host (exact, `*.` or a template, as in `domains`).
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// The path prefix, from `/`, matched at a segment boundary.
    #[schemars(length(min = 1, max = 512), regex(pattern = "^/"))]
    pub path_prefix: String,
}

/// How Defender for Cloud Apps names a service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceMdcaIds {
    /// App ids.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub app_ids: Vec<u64>,
    /// App names.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub names: Vec<String>,
}

/// How the discovery vendors name a service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVendorIds {
    /// Netskope `app` names.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub netskope: Vec<String>,
    /// Defender for Cloud Apps ids and names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdca: Option<ServiceMdcaIds>,
    /// Zscaler `appname`s.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub zscaler: Vec<String>,
}

/// Body of `PUT /api/discovery/catalogue/services/{service_id}`: one of
/// the tenant's own services, replaced.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueServiceWrite {
    /// Its name.
    pub name: crate::text::Label,
    /// Who runs it.
    pub vendor: crate::text::Label,
    /// What it is.
    pub kind: ServiceKind,
    /// Free tags (`chat`, `coding-assistant`…).
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub categories: Vec<String>,
    /// Where it is found by host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<ServiceDomains>,
    /// Where it is found by host and path.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub url_patterns: Vec<ServiceUrlPattern>,
    /// How the vendors name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_ids: Option<ServiceVendorIds>,
    /// Documentation URLs.
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub docs: Vec<String>,
}

/// Body of `POST /api/discovery/catalogue/services`: a service the tenant
/// adds to the shipped catalogue.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueServiceCreate {
    /// Its id: lower-case letters, digits and `-`, not a shipped service's.
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub id: String,
    /// Its name.
    pub name: crate::text::Label,
    /// Who runs it.
    pub vendor: crate::text::Label,
    /// What it is.
    pub kind: ServiceKind,
    /// Free tags (`chat`, `coding-assistant`…).
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub categories: Vec<String>,
    /// Where it is found by host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<ServiceDomains>,
    /// Where it is found by host and path.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub url_patterns: Vec<ServiceUrlPattern>,
    /// How the vendors name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_ids: Option<ServiceVendorIds>,
    /// Documentation URLs.
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub docs: Vec<String>,
}

impl CatalogueServiceCreate {
    /// Its id, and the service as a replacement would write it.
    pub fn split(self) -> (String, CatalogueServiceWrite) {
        let CatalogueServiceCreate {
            id,
            name,
            vendor,
            kind,
            categories,
            domains,
            url_patterns,
            vendor_ids,
            docs,
        } = self;
        (
            id,
            CatalogueServiceWrite { name, vendor, kind, categories, domains, url_patterns, vendor_ids, docs },
        )
    }
}

/// Whose a catalogue entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceOrigin {
    /// Shipped with the gateway.
    Shipped,
    /// Added by the tenant.
    Tenant,
}

/// An AI service of the catalogue.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CatalogueService {
    /// Its id.
    pub id: String,
    /// Shipped, or the tenant's.
    pub origin: ServiceOrigin,
    /// Its name.
    pub name: String,
    /// Who runs it.
    pub vendor: String,
    /// What it is.
    pub kind: ServiceKind,
    /// Free tags.
    pub categories: Vec<String>,
    /// Where it is found by host.
    pub domains: ServiceDomains,
    /// Where it is found by host and path.
    pub url_patterns: Vec<ServiceUrlPattern>,
    /// How the vendors name it.
    pub vendor_ids: ServiceVendorIds,
    /// Documentation URLs.
    pub docs: Vec<String>,
}

/// `GET /api/discovery/catalogue`: the catalogue the tenant's records are
/// matched with.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CatalogueView {
    /// The shipped catalogue's version.
    pub shipped_version: String,
    /// The tenant's catalogue version (the shipped one, with its additions).
    pub version: String,
    /// Every service, the shipped ones first.
    pub services: Vec<CatalogueService>,
}

/// Path of a tenant's catalogue service.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CatalogueServicePath {
    /// Its id: lower-case letters, digits and `-`.
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub service_id: String,
}
