//! The AI-service catalogue: which observed traffic goes to which AI
//! service.
//!
//! # The data
//!
//! The catalogue ships with the gateway as one JSON document,
//! `server/discovery/catalogue/ai-services.json`, compiled into the binary
//! and read once ([`Catalogue::shipped`]):
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "catalogue_version": "2026-12-07.1",
//!   "services": [
//!     {
//!       "id": "azure-openai",
//!       "name": "Azure OpenAI",
//!       "vendor": "Microsoft",
//!       "kind": "model_api",
//!       "categories": ["model-api", "cloud-ai-platform"],
//!       "domains": {"exact": [], "wildcard": ["{resource}.openai.azure.com"]},
//!       "url_patterns": [],
//!       "vendor_ids": {"zscaler": ["Azure GPT"]},
//!       "docs": ["https://learn.microsoft.com/en-us/azure/cognitive-services/openai/reference"]
//!     }
//!   ]
//! }
//! ```
//!
//! Unknown fields are refused at every level. A service ([`Service`]) has:
//!
//! | Field | Meaning |
//! |---|---|
//! | `id` | Stable slug: `a-z`, `0-9` and `-`, starting and ending with a letter or digit, at most 64 characters. Never reused for another service. |
//! | `name`, `vendor` | Display names, at most 200 characters each. |
//! | `kind` | `model_api` (a programmatic model endpoint) or `saas` (an application people use). |
//! | `categories` | Free tags (`chat`, `model-api`, `coding-assistant`, `aggregator`, …), slugs like `id`, at most 20. |
//! | `domains.exact` | Host names, lower-case, without port or trailing dot, compared for equality. |
//! | `domains.wildcard` | Host patterns (below), compared when no exact host matched. |
//! | `url_patterns` | `{"host": <host or pattern>, "path_prefix": "/…"}`: the service is there only under that path. At most 50. |
//! | `vendor_ids.netskope` | Netskope app names (the event's `app`). |
//! | `vendor_ids.mdca.app_ids` | Defender for Cloud Apps app ids (numbers). |
//! | `vendor_ids.mdca.names` | Defender for Cloud Apps app names. |
//! | `vendor_ids.zscaler` | Zscaler app names (the NSS `appname`). |
//! | `docs` | The documentation the entry rests on (`http(s)://` URLs), at most 20. |
//!
//! `categories`, `domains`, `url_patterns`, `vendor_ids` (and each of its
//! lists) and `docs` may be left out; a service must still have at least one
//! domain, URL pattern or vendor id. `domains.exact` and `domains.wildcard`
//! together hold at most 200 entries; each vendor list at most 50.
//!
//! ## Host patterns
//!
//! * `*.example.com`: one or more labels before `example.com`
//!   (`a.example.com`, `a.b.example.com`), never `example.com` itself.
//! * Templates: one or more labels hold a `{name}` slot, which stands for
//!   *exactly one* label, or for the rest of a label next to literal text:
//!   `{resource}.openai.azure.com` matches `contoso.openai.azure.com` but not
//!   `a.b.openai.azure.com`; `{region}-aiplatform.googleapis.com` matches
//!   `us-central1-aiplatform.googleapis.com`;
//!   `bedrock-runtime.{region}.amazonaws.com` matches
//!   `bedrock-runtime.eu-west-1.amazonaws.com`. A slot matches at least one
//!   character. Slot names are `a-z`, `0-9`, `_`, starting with a letter;
//!   they only document what the label is.
//! * Everything after the last slot (or after `*.`) is the pattern's
//!   *suffix*: it must be a host name of at least two labels
//!   (`*.com` is refused).
//!
//! Host names are written lower-case (internationalised names in their
//! `xn--` form); labels are `a-z`, `0-9` and `-`, 1–63 characters, not
//! starting or ending with `-`; at most 253 characters in all, at least two
//! labels, and the last label is not all digits (addresses are not hosts).
//!
//! ## URL patterns
//!
//! A URL pattern matches when its host (a host name or a host pattern)
//! matches the observed host and its `path_prefix` is a prefix of the
//! observed path *at a segment boundary*: `/chat` matches `/chat`,
//! `/chat/` and `/chat/abc` but not `/chatter`; a prefix ending in `/`
//! (`/copilot_internal/`) matches whatever follows it. Paths are compared
//! case-sensitively and without the query. A prefix starts with `/`, has
//! no `?`, `#`, space or control character, and is at most 256 characters.
//!
//! Hosts shared with non-AI use (`api.github.com`, `huggingface.co`,
//! `m365.cloud.microsoft`) appear only in URL patterns, never in
//! `domains`: without a path they match nothing.
//!
//! # Matching
//!
//! [`Catalogue::classify`] takes an [`Observation`] and the [`Vendor`] it
//! came from (an observation does not carry its vendor) and tries, in
//! order; the first rule that matches decides:
//!
//! 1. **Vendor app** ([`MatchedBy::VendorApp`]): for Defender for Cloud
//!    Apps, the app id against `vendor_ids.mdca.app_ids`, then the app name
//!    against `vendor_ids.mdca.names`; for Netskope and Zscaler, the app name
//!    against `vendor_ids.netskope` / `vendor_ids.zscaler`. Names compare
//!    case-insensitively, after trimming. Infoblox and generic sources have
//!    no vendor ids.
//! 2. **URL pattern** ([`MatchedBy::UrlPattern`]), when the observation has
//!    a host and a path. Of the patterns that match, the most specific wins:
//!    an exact host before a template before a `*.` wildcard, then the
//!    longer path prefix, then the longer literal part of the host.
//! 3. **Exact domain** ([`MatchedBy::Domain`]).
//! 4. **Wildcard domain** ([`MatchedBy::Wildcard`]): the longest matching
//!    suffix wins; for the same suffix a template wins over `*.`, and the
//!    template with more literal characters over the other.
//! 5. **Unlisted generative AI**: nothing matched but the vendor itself
//!    files the app as generative AI (`app.generative_ai`):
//!    [`Classification::UnlistedGenerativeAi`] with the vendor's app name,
//!    or the host when there is no name, or the app id when there is
//!    neither.
//!
//! Otherwise the observation is not AI traffic the catalogue knows of
//! (`None`). Hosts are compared lower-case and without a trailing dot.
//! Lookups are hash-map probes: exact hosts and vendor names directly,
//! patterns by walking the host's parent domains (`a.b.example.com` →
//! `b.example.com` → `example.com` → `com`), so the cost of a
//! classification does not grow with the number of services.
//!
//! A host, a host pattern, a URL pattern (host and prefix), a vendor app
//! name (per vendor) and an app id each belong to at most one service of a
//! catalogue: a second claim is an error, so the order of services never
//! decides a match.
//!
//! # Versions
//!
//! `schema_version` is the format ([`SCHEMA_VERSION`]); a change that old
//! readers would misread bumps it, and a reader refuses other versions.
//! `catalogue_version` is the content, `YYYY-MM-DD.N`: the date of the
//! revision and a counter for several revisions a day; it changes whenever
//! any entry does, so a report can say which catalogue classified it
//! ([`Catalogue::version`]).
//!
//! # Tenant services
//!
//! A tenant adds its own services (an internal model gateway, a regional
//! provider) with [`Catalogue::extended`]: each must pass [`Service::check`],
//! its id must not be in use, and none of its hosts, patterns, vendor names
//! or app ids may be claimed by another service; the first fault is a
//! [`CatalogueError`] naming the service by its position in the list and the
//! field by its JSON path within the service (`domains.wildcard[0]`), so the
//! API can answer 400 with it. Extensions only add: they cannot change or
//! hide a shipped service. The extended catalogue's version is
//! `<version>+<n>.<hash>`, `n` the number of added services and `hash` the
//! first 8 hex digits of the SHA-256 of their JSON serialisation, so two
//! tenants with different services never share a version (extending with no
//! services keeps the version as it is).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Observation, Vendor};

/// The `schema_version` this code reads.
pub const SCHEMA_VERSION: u32 = 1;
/// The longest service id.
pub const MAX_ID_CHARS: usize = 64;
/// The longest service name or vendor name.
pub const MAX_NAME_CHARS: usize = 200;
/// The most domains (exact and wildcard together) a service lists.
pub const MAX_DOMAINS: usize = 200;
/// The most URL patterns a service lists.
pub const MAX_URL_PATTERNS: usize = 50;
/// The most entries of each vendor list (`vendor_ids.netskope`, …).
pub const MAX_VENDOR_IDS: usize = 50;
/// The most categories a service has.
pub const MAX_CATEGORIES: usize = 20;
/// The most documentation links a service has.
pub const MAX_DOCS: usize = 20;
/// The longest path prefix.
pub const MAX_PATH_PREFIX_CHARS: usize = 256;

const MAX_HOST_CHARS: usize = 253;
const MAX_LABEL_CHARS: usize = 63;
const MAX_DOC_CHARS: usize = 2048;

const SHIPPED_JSON: &str = include_str!("../catalogue/ai-services.json");

static SHIPPED: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::parse(SHIPPED_JSON).unwrap_or_else(|_| Catalogue::empty()));

/// What a service is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// A programmatic model endpoint (an inference API).
    ModelApi,
    /// An application people use (a chat app, a coding assistant).
    Saas,
}

/// The hosts a service answers on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domains {
    /// Host names, compared for equality.
    #[serde(default)]
    pub exact: Vec<String>,
    /// Host patterns: `*.suffix` or templates with `{slot}` labels.
    #[serde(default)]
    pub wildcard: Vec<String>,
}

/// A host and a path prefix under which the service is found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlPattern {
    /// A host name or a host pattern.
    pub host: String,
    /// The path prefix, starting with `/`, matched at a segment boundary.
    pub path_prefix: String,
}

/// How Defender for Cloud Apps names the service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdcaIds {
    /// App ids in its cloud app catalogue.
    #[serde(default)]
    pub app_ids: Vec<u64>,
    /// App names.
    #[serde(default)]
    pub names: Vec<String>,
}

/// How the discovery sources name the service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorIds {
    /// Netskope app names.
    #[serde(default)]
    pub netskope: Vec<String>,
    /// Defender for Cloud Apps ids and names.
    #[serde(default)]
    pub mdca: MdcaIds,
    /// Zscaler app names.
    #[serde(default)]
    pub zscaler: Vec<String>,
}

/// One AI service of the catalogue (see the [module docs](self) for the
/// fields' rules).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Stable slug (`openai-api`).
    pub id: String,
    /// Display name (`OpenAI API`).
    pub name: String,
    /// Who runs it (`OpenAI`).
    pub vendor: String,
    /// A model API or an application.
    pub kind: ServiceKind,
    /// Free tags.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Its hosts.
    #[serde(default)]
    pub domains: Domains,
    /// Where only a path tells it apart on a shared host.
    #[serde(default)]
    pub url_patterns: Vec<UrlPattern>,
    /// Its names in the discovery sources.
    #[serde(default)]
    pub vendor_ids: VendorIds,
    /// The documentation the entry rests on.
    #[serde(default)]
    pub docs: Vec<String>,
}

/// Why a catalogue or a service was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogueError {
    /// The position of the service at fault: in the list given to
    /// [`Catalogue::extended`], or in the catalogue document's `services`.
    /// `None` for [`Service::check`] and for faults of the document itself.
    pub index: Option<usize>,
    /// The JSON path of the field at fault, relative to the service
    /// (`domains.exact[2]`, `url_patterns[0].path_prefix`, `id`); relative
    /// to the document for faults of the document (`schema_version`); empty
    /// when the whole is at fault.
    pub path: String,
    /// What is wrong, for a person.
    pub reason: String,
}

impl CatalogueError {
    fn new(path: impl Into<String>, reason: impl Into<String>) -> CatalogueError {
        CatalogueError { index: None, path: path.into(), reason: reason.into() }
    }

    fn at(mut self, index: usize) -> CatalogueError {
        self.index = Some(index);
        self
    }

    /// The path from the list of services: `services[3].domains.exact[2]`
    /// (just [`path`](Self::path) when there is no index).
    pub fn full_path(&self) -> String {
        match (self.index, self.path.is_empty()) {
            (Some(index), true) => format!("services[{index}]"),
            (Some(index), false) => format!("services[{index}].{}", self.path),
            (None, _) => self.path.clone(),
        }
    }
}

impl fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.full_path();
        if path.is_empty() { f.write_str(&self.reason) } else { write!(f, "{path}: {}", self.reason) }
    }
}

impl std::error::Error for CatalogueError {}

/// Which rule matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The vendor's app name or id.
    VendorApp,
    /// A URL pattern (host and path).
    UrlPattern,
    /// An exact host.
    Domain,
    /// A host pattern.
    Wildcard,
}

impl MatchedBy {
    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::VendorApp => "vendor_app",
            MatchedBy::UrlPattern => "url_pattern",
            MatchedBy::Domain => "domain",
            MatchedBy::Wildcard => "wildcard",
        }
    }
}

/// What the catalogue says of an observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classification<'a> {
    /// A service of the catalogue.
    Service {
        /// The service.
        service: &'a Service,
        /// The rule that matched.
        by: MatchedBy,
    },
    /// The vendor files it as generative AI, but no service matched.
    UnlistedGenerativeAi {
        /// The vendor's app name, or the host, or the app id.
        name: String,
    },
}

impl Classification<'_> {
    /// The service's id, when a service matched.
    pub fn service_id(&self) -> Option<&str> {
        match self {
            Classification::Service { service, .. } => Some(&service.id),
            Classification::UnlistedGenerativeAi { .. } => None,
        }
    }
}

/// The catalogue: its services and the indexes that classify observations.
#[derive(Clone, Debug)]
pub struct Catalogue {
    version: String,
    services: Vec<Service>,
    index: Index,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    schema_version: u32,
    catalogue_version: String,
    services: Vec<Service>,
}

impl Catalogue {
    /// The catalogue shipped with the gateway, read once. (Should the
    /// shipped data ever fail to read, this is an empty catalogue rather
    /// than a crash; a unit test keeps that from happening.)
    pub fn shipped() -> &'static Catalogue {
        &SHIPPED
    }

    /// The content version (`2026-12-07.1`, or `2026-12-07.1+2.1a2b3c4d`
    /// when extended).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every service, the shipped ones first.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The service with `id`.
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.index.ids.get(id).and_then(|&at| self.services.get(at))
    }

    /// This catalogue with a tenant's own services added after its own
    /// (see the [module docs](self#tenant-services)). The first fault is
    /// the error, its `index` the position in `extra`.
    pub fn extended(&self, extra: &[Service]) -> Result<Catalogue, CatalogueError> {
        if extra.is_empty() {
            return Ok(self.clone());
        }
        let base = self.services.len();
        let mut services = Vec::with_capacity(base + extra.len());
        services.extend(self.services.iter().cloned());
        for (at, service) in extra.iter().enumerate() {
            service.check().map_err(|e| e.at(at))?;
            services.push(service.clone());
        }
        let index = Index::build(&services).map_err(|e| {
            let at = e.index.unwrap_or(base).saturating_sub(base);
            e.at(at)
        })?;
        let digest = hex::encode(Sha256::digest(serde_json::to_vec(extra).unwrap_or_default()));
        let version = format!("{}+{}.{}", self.version, extra.len(), digest.get(..8).unwrap_or_default());
        Ok(Catalogue { version, services, index })
    }

    /// Which service `observation`, read from `vendor`, went to (see the
    /// [module docs](self#matching) for the order of the rules).
    pub fn classify(&self, observation: &Observation, vendor: Vendor) -> Option<Classification<'_>> {
        let found = |at: usize, by: MatchedBy| {
            self.services.get(at).map(|service| Classification::Service { service, by })
        };
        let app = observation.app.as_ref();
        if let Some(at) = app.and_then(|app| self.index.by_app(vendor, app)) {
            return found(at, MatchedBy::VendorApp);
        }
        let host = observation.host.as_deref().map(normalise_host).filter(|h| !h.is_empty());
        if let Some(host) = host.as_deref() {
            if let Some(at) = observation.path.as_deref().and_then(|path| self.index.by_url(host, path)) {
                return found(at, MatchedBy::UrlPattern);
            }
            if let Some(&at) = self.index.exact.get(host) {
                return found(at, MatchedBy::Domain);
            }
            if let Some(at) = self.index.by_wildcard(host) {
                return found(at, MatchedBy::Wildcard);
            }
        }
        let app = app.filter(|app| app.generative_ai)?;
        let name =
            nonempty(app.name.as_deref()).or(host.as_deref()).or_else(|| nonempty(app.id.as_deref()))?;
        Some(Classification::UnlistedGenerativeAi { name: name.to_string() })
    }

    /// Reads a catalogue document and checks every service.
    fn parse(json: &str) -> Result<Catalogue, CatalogueError> {
        let document: Document = serde_json::from_str(json)
            .map_err(|e| CatalogueError::new("", format!("not a catalogue document: {e}")))?;
        if document.schema_version != SCHEMA_VERSION {
            return Err(CatalogueError::new(
                "schema_version",
                format!("schema version {} is not {SCHEMA_VERSION}", document.schema_version),
            ));
        }
        if document.catalogue_version.trim().is_empty() {
            return Err(CatalogueError::new("catalogue_version", "empty"));
        }
        for (at, service) in document.services.iter().enumerate() {
            service.check().map_err(|e| e.at(at))?;
        }
        let index = Index::build(&document.services)?;
        Ok(Catalogue { version: document.catalogue_version, services: document.services, index })
    }

    fn empty() -> Catalogue {
        Catalogue { version: "unavailable".to_string(), services: Vec::new(), index: Index::default() }
    }
}

impl Service {
    /// Checks the service on its own: the id, names, host names and host
    /// patterns, path prefixes, vendor ids, links and the limits (see the
    /// [module docs](self)). Whether its id or hosts are already used is
    /// for [`Catalogue::extended`] to say.
    pub fn check(&self) -> Result<(), CatalogueError> {
        check_slug("id", &self.id, MAX_ID_CHARS)?;
        check_name("name", &self.name)?;
        check_name("vendor", &self.vendor)?;
        limit("categories", self.categories.len(), MAX_CATEGORIES)?;
        for (i, category) in self.categories.iter().enumerate() {
            check_slug(&format!("categories[{i}]"), category, MAX_ID_CHARS)?;
        }
        let domains = self.domains.exact.len() + self.domains.wildcard.len();
        limit("domains", domains, MAX_DOMAINS)?;
        let mut seen = HashMap::new();
        for (i, host) in self.domains.exact.iter().enumerate() {
            let path = format!("domains.exact[{i}]");
            match HostPattern::parse(host).map_err(|reason| CatalogueError::new(&path, reason))? {
                HostPattern::Exact(_) => {}
                _ => return Err(CatalogueError::new(path, "a pattern: list it in domains.wildcard")),
            }
            once(&mut seen, host.as_str(), path)?;
        }
        for (i, pattern) in self.domains.wildcard.iter().enumerate() {
            let path = format!("domains.wildcard[{i}]");
            match HostPattern::parse(pattern).map_err(|reason| CatalogueError::new(&path, reason))? {
                HostPattern::Exact(_) => {
                    return Err(CatalogueError::new(
                        path,
                        "not a pattern (no `*.` and no `{slot}`): list it in domains.exact",
                    ));
                }
                _ => once(&mut seen, pattern.as_str(), path)?,
            }
        }
        limit("url_patterns", self.url_patterns.len(), MAX_URL_PATTERNS)?;
        let mut seen = HashMap::new();
        for (i, pattern) in self.url_patterns.iter().enumerate() {
            HostPattern::parse(&pattern.host)
                .map_err(|reason| CatalogueError::new(format!("url_patterns[{i}].host"), reason))?;
            check_path_prefix(&pattern.path_prefix)
                .map_err(|reason| CatalogueError::new(format!("url_patterns[{i}].path_prefix"), reason))?;
            once(
                &mut seen,
                (pattern.host.as_str(), pattern.path_prefix.as_str()),
                format!("url_patterns[{i}]"),
            )?;
        }
        check_names("vendor_ids.netskope", &self.vendor_ids.netskope)?;
        check_names("vendor_ids.zscaler", &self.vendor_ids.zscaler)?;
        check_names("vendor_ids.mdca.names", &self.vendor_ids.mdca.names)?;
        limit("vendor_ids.mdca.app_ids", self.vendor_ids.mdca.app_ids.len(), MAX_VENDOR_IDS)?;
        let mut seen = HashMap::new();
        for (i, id) in self.vendor_ids.mdca.app_ids.iter().enumerate() {
            once(&mut seen, *id, format!("vendor_ids.mdca.app_ids[{i}]"))?;
        }
        limit("docs", self.docs.len(), MAX_DOCS)?;
        for (i, link) in self.docs.iter().enumerate() {
            check_link(link).map_err(|reason| CatalogueError::new(format!("docs[{i}]"), reason))?;
        }
        let ids = &self.vendor_ids;
        let vendor_ids =
            ids.netskope.len() + ids.zscaler.len() + ids.mdca.names.len() + ids.mdca.app_ids.len();
        if domains + self.url_patterns.len() + vendor_ids == 0 {
            return Err(CatalogueError::new(
                "domains",
                "a service needs at least one domain, URL pattern or vendor id",
            ));
        }
        Ok(())
    }
}

/// `value` at `path` is the first of its kind in `seen`.
fn once<K: Eq + std::hash::Hash>(
    seen: &mut HashMap<K, String>,
    value: K,
    path: String,
) -> Result<(), CatalogueError> {
    if let Some(first) = seen.get(&value) {
        return Err(CatalogueError::new(path, format!("listed twice (also at {first})")));
    }
    seen.insert(value, path);
    Ok(())
}

fn limit(path: &str, count: usize, max: usize) -> Result<(), CatalogueError> {
    if count > max {
        Err(CatalogueError::new(path, format!("{count} entries, at most {max}")))
    } else {
        Ok(())
    }
}

fn check_slug(path: &str, value: &str, max: usize) -> Result<(), CatalogueError> {
    let bad = |reason: &str| Err(CatalogueError::new(path, reason));
    if value.is_empty() {
        return bad("empty");
    }
    if value.len() > max {
        return Err(CatalogueError::new(path, format!("longer than {max} characters")));
    }
    if !value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return bad("only a-z, 0-9 and - are allowed");
    }
    if value.starts_with('-') || value.ends_with('-') {
        return bad("must start and end with a letter or digit");
    }
    Ok(())
}

fn check_name(path: &str, value: &str) -> Result<(), CatalogueError> {
    if value.trim().is_empty() {
        return Err(CatalogueError::new(path, "empty"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(CatalogueError::new(path, format!("longer than {MAX_NAME_CHARS} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(CatalogueError::new(path, "contains a control character"));
    }
    Ok(())
}

fn check_names(path: &str, names: &[String]) -> Result<(), CatalogueError> {
    limit(path, names.len(), MAX_VENDOR_IDS)?;
    let mut seen = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        let at = format!("{path}[{i}]");
        check_name(&at, name)?;
        once(&mut seen, name.trim().to_lowercase(), at)?;
    }
    Ok(())
}

fn check_path_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err("must start with /".to_string());
    }
    if prefix.chars().count() > MAX_PATH_PREFIX_CHARS {
        return Err(format!("longer than {MAX_PATH_PREFIX_CHARS} characters"));
    }
    if prefix.chars().any(|c| c == '?' || c == '#' || c.is_whitespace() || c.is_control()) {
        return Err("a path only: no query (?), fragment (#), space or control character".to_string());
    }
    Ok(())
}

fn check_link(link: &str) -> Result<(), String> {
    if !(link.starts_with("https://") || link.starts_with("http://")) {
        return Err("not an http(s):// URL".to_string());
    }
    if link.len() > MAX_DOC_CHARS {
        return Err(format!("longer than {MAX_DOC_CHARS} characters"));
    }
    if link.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains a space or control character".to_string());
    }
    Ok(())
}

/// The trimmed value, unless empty.
fn nonempty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A host as the indexes hold them: lower-case, without trailing dot.
fn normalise_host(host: &str) -> Cow<'_, str> {
    let host = host.trim().trim_end_matches('.');
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// The parent domains of `host`, nearest first: `a.b.c` → `b.c`, `c`.
fn parents(host: &str) -> impl Iterator<Item = &str> {
    let mut rest = host;
    std::iter::from_fn(move || {
        let dot = rest.find('.')?;
        rest = rest.get(dot + 1..)?;
        Some(rest)
    })
}

/// `path` starts with `prefix`, at a segment boundary.
fn path_matches(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix)
        && (prefix.ends_with('/') || matches!(path.as_bytes().get(prefix.len()), None | Some(b'/')))
}

/// A label of a host template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Label {
    /// Exactly this text.
    Literal(String),
    /// At least one character between `before` and `after`.
    Slot { before: String, after: String },
}

impl Label {
    fn matches(&self, label: &str) -> bool {
        match self {
            Label::Literal(literal) => literal == label,
            Label::Slot { before, after } => {
                label.len() > before.len() + after.len()
                    && label.starts_with(before.as_str())
                    && label.ends_with(after.as_str())
            }
        }
    }

    fn literal_len(&self) -> usize {
        match self {
            Label::Literal(literal) => literal.len(),
            Label::Slot { before, after } => before.len() + after.len(),
        }
    }
}

/// A compiled host or host pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// A host name.
    Exact(String),
    /// `*.suffix`: one or more labels before `suffix`.
    Subdomains { suffix: String },
    /// As many labels as `labels` before `suffix`, each matching.
    Template { labels: Vec<Label>, suffix: String },
}

impl HostPattern {
    fn parse(text: &str) -> Result<HostPattern, String> {
        if text.is_empty() {
            return Err("empty".to_string());
        }
        if !text.is_ascii() {
            return Err("must be ASCII (write an internationalised name in its xn-- form)".to_string());
        }
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("must be lower-case".to_string());
        }
        if text.len() > MAX_HOST_CHARS {
            return Err(format!("longer than {MAX_HOST_CHARS} characters"));
        }
        if text.ends_with('.') {
            return Err("no trailing dot".to_string());
        }
        if let Some(suffix) = text.strip_prefix("*.") {
            if suffix.contains(['*', '{', '}']) {
                return Err("`*.` takes a plain host name after it".to_string());
            }
            check_host(suffix, 2).map_err(|reason| format!("after `*.`: {reason}"))?;
            return Ok(HostPattern::Subdomains { suffix: suffix.to_string() });
        }
        if text.contains('*') {
            return Err("`*` is only allowed as the whole first label (`*.example.com`)".to_string());
        }
        if !text.contains(['{', '}']) {
            check_host(text, 2)?;
            return Ok(HostPattern::Exact(text.to_string()));
        }
        let parts: Vec<&str> = text.split('.').collect();
        let last_slot = parts.iter().rposition(|part| part.contains(['{', '}'])).unwrap_or_default();
        let (head, tail) = parts.split_at(last_slot + 1);
        let suffix = tail.join(".");
        check_host(&suffix, 2).map_err(|reason| format!("after the last {{slot}}: {reason}"))?;
        let labels = head.iter().map(|part| parse_label(part)).collect::<Result<Vec<_>, _>>()?;
        Ok(HostPattern::Template { labels, suffix })
    }

    /// The exact host or the suffix: the key the indexes file it under.
    fn key(&self) -> &str {
        match self {
            HostPattern::Exact(host) => host,
            HostPattern::Subdomains { suffix } | HostPattern::Template { suffix, .. } => suffix,
        }
    }

    /// More specific kinds rank higher.
    fn rank(&self) -> u8 {
        match self {
            HostPattern::Exact(_) => 2,
            HostPattern::Template { .. } => 1,
            HostPattern::Subdomains { .. } => 0,
        }
    }

    fn literal_len(&self) -> usize {
        match self {
            HostPattern::Exact(host) => host.len(),
            HostPattern::Subdomains { suffix } => suffix.len(),
            HostPattern::Template { labels, suffix } => {
                suffix.len() + labels.iter().map(Label::literal_len).sum::<usize>()
            }
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(exact) => exact == host,
            HostPattern::Subdomains { suffix } => host
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
            HostPattern::Template { labels, suffix } => {
                let Some(head) = host.strip_suffix(suffix.as_str()).and_then(|head| head.strip_suffix('.'))
                else {
                    return false;
                };
                let mut parts = head.split('.');
                labels.iter().all(|label| parts.next().is_some_and(|part| label.matches(part)))
                    && parts.next().is_none()
            }
        }
    }
}

/// A template label: literal, or `before{slot}after`.
fn parse_label(part: &str) -> Result<Label, String> {
    let Some(open) = part.find('{') else {
        if part.contains('}') {
            return Err(format!("`{part}`: `}}` without `{{`"));
        }
        check_label(part)?;
        return Ok(Label::Literal(part.to_string()));
    };
    let (before, rest) = part.split_at(open);
    let rest = rest.get(1..).unwrap_or_default();
    let Some(close) = rest.find('}') else {
        return Err(format!("`{part}`: `{{` without `}}`"));
    };
    let (name, after) = rest.split_at(close);
    let after = after.get(1..).unwrap_or_default();
    if before.contains('}') || after.contains(['{', '}']) {
        return Err(format!("`{part}`: one {{slot}} per label"));
    }
    let mut chars = name.chars();
    let named = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !named {
        return Err(format!("`{part}`: a slot is named with a-z, 0-9 and _, starting with a letter"));
    }
    let label_chars = |s: &str| s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !label_chars(before) || !label_chars(after) {
        return Err(format!("`{part}`: only a-z, 0-9 and - around the slot"));
    }
    if before.starts_with('-') || after.ends_with('-') {
        return Err(format!("`{part}`: a label does not start or end with -"));
    }
    if before.len() + after.len() >= MAX_LABEL_CHARS {
        return Err(format!("`{part}`: longer than a label can be"));
    }
    Ok(Label::Slot { before: before.to_string(), after: after.to_string() })
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("an empty label (two dots in a row, or a leading dot)".to_string());
    }
    if label.len() > MAX_LABEL_CHARS {
        return Err(format!("label `{label}` is longer than {MAX_LABEL_CHARS} characters"));
    }
    if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(format!("label `{label}`: only a-z, 0-9 and - are allowed"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label `{label}` starts or ends with -"));
    }
    Ok(())
}

/// A host name of at least `min_labels` labels.
fn check_host(host: &str, min_labels: usize) -> Result<(), String> {
    let labels: Vec<&str> = host.split('.').collect();
    for label in &labels {
        check_label(label)?;
    }
    if labels.len() < min_labels {
        return Err(format!("`{host}` has fewer than {min_labels} labels"));
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("`{host}` is an address, not a host name"));
    }
    Ok(())
}

/// A host pattern of `domains.wildcard`, for a service.
#[derive(Clone, Debug)]
struct WildRule {
    pattern: HostPattern,
    service: usize,
}

/// A URL pattern, for a service.
#[derive(Clone, Debug)]
struct UrlRule {
    host: HostPattern,
    path_prefix: String,
    service: usize,
}

impl UrlRule {
    /// Higher is more specific.
    fn specificity(&self) -> (u8, usize, usize) {
        (self.host.rank(), self.path_prefix.len(), self.host.literal_len())
    }
}

/// The lookups `classify` makes, each by hash.
#[derive(Clone, Debug, Default)]
struct Index {
    ids: HashMap<String, usize>,
    /// `(vendor, lower-case app name)`.
    apps: HashMap<(Vendor, String), usize>,
    mdca_ids: HashMap<u64, usize>,
    exact: HashMap<String, usize>,
    /// By suffix, most specific first.
    wild: HashMap<String, Vec<WildRule>>,
    /// URL patterns with an exact host, by host.
    url_exact: HashMap<String, Vec<UrlRule>>,
    /// URL patterns with a host pattern, by suffix.
    url_wild: HashMap<String, Vec<UrlRule>>,
}

impl Index {
    /// Indexes `services` (each already checked); the first claim on an id,
    /// host, pattern, vendor name or app id taken by an earlier service is
    /// the error, with that service's position.
    fn build(services: &[Service]) -> Result<Index, CatalogueError> {
        let mut index = Index::default();
        let mut patterns: HashMap<&str, usize> = HashMap::new();
        let mut urls: HashMap<(&str, &str), usize> = HashMap::new();
        for (at, service) in services.iter().enumerate() {
            let taken = |path: String, owner: usize| {
                let owner = services.get(owner).map_or("another service", |s| s.id.as_str());
                CatalogueError::new(path, format!("already claimed by service `{owner}`")).at(at)
            };
            if let Some(&owner) = index.ids.get(&service.id) {
                return Err(taken("id".to_string(), owner));
            }
            index.ids.insert(service.id.clone(), at);
            for (i, host) in service.domains.exact.iter().enumerate() {
                if let Some(&owner) = index.exact.get(host) {
                    return Err(taken(format!("domains.exact[{i}]"), owner));
                }
                index.exact.insert(host.clone(), at);
            }
            for (i, text) in service.domains.wildcard.iter().enumerate() {
                if let Some(&owner) = patterns.get(text.as_str()) {
                    return Err(taken(format!("domains.wildcard[{i}]"), owner));
                }
                patterns.insert(text.as_str(), at);
                let pattern = HostPattern::parse(text)
                    .map_err(|reason| CatalogueError::new(format!("domains.wildcard[{i}]"), reason).at(at))?;
                index
                    .wild
                    .entry(pattern.key().to_string())
                    .or_default()
                    .push(WildRule { pattern, service: at });
            }
            for (i, url) in service.url_patterns.iter().enumerate() {
                let key = (url.host.as_str(), url.path_prefix.as_str());
                if let Some(&owner) = urls.get(&key) {
                    return Err(taken(format!("url_patterns[{i}]"), owner));
                }
                urls.insert(key, at);
                let host = HostPattern::parse(&url.host).map_err(|reason| {
                    CatalogueError::new(format!("url_patterns[{i}].host"), reason).at(at)
                })?;
                let map = if matches!(host, HostPattern::Exact(_)) {
                    &mut index.url_exact
                } else {
                    &mut index.url_wild
                };
                let rule = UrlRule { path_prefix: url.path_prefix.clone(), service: at, host };
                map.entry(rule.host.key().to_string()).or_default().push(rule);
            }
            let names = [
                (Vendor::Netskope, "vendor_ids.netskope", &service.vendor_ids.netskope),
                (Vendor::Zscaler, "vendor_ids.zscaler", &service.vendor_ids.zscaler),
                (Vendor::Mdca, "vendor_ids.mdca.names", &service.vendor_ids.mdca.names),
            ];
            for (vendor, path, list) in names {
                for (i, name) in list.iter().enumerate() {
                    let key = (vendor, name.trim().to_lowercase());
                    if let Some(&owner) = index.apps.get(&key) {
                        return Err(taken(format!("{path}[{i}]"), owner));
                    }
                    index.apps.insert(key, at);
                }
            }
            for (i, id) in service.vendor_ids.mdca.app_ids.iter().enumerate() {
                if let Some(&owner) = index.mdca_ids.get(id) {
                    return Err(taken(format!("vendor_ids.mdca.app_ids[{i}]"), owner));
                }
                index.mdca_ids.insert(*id, at);
            }
        }
        for rules in index.wild.values_mut() {
            rules.sort_by(|a, b| {
                (b.pattern.rank(), b.pattern.literal_len(), a.service).cmp(&(
                    a.pattern.rank(),
                    a.pattern.literal_len(),
                    b.service,
                ))
            });
        }
        Ok(index)
    }

    fn by_app(&self, vendor: Vendor, app: &crate::VendorApp) -> Option<usize> {
        if vendor == Vendor::Mdca {
            let id = nonempty(app.id.as_deref()).and_then(|id| id.parse::<u64>().ok());
            if let Some(&at) = id.and_then(|id| self.mdca_ids.get(&id)) {
                return Some(at);
            }
        }
        let name = nonempty(app.name.as_deref())?;
        self.apps.get(&(vendor, name.to_lowercase())).copied()
    }

    fn by_url(&self, host: &str, path: &str) -> Option<usize> {
        let exact = self.url_exact.get(host).into_iter().flatten();
        let wild = parents(host).filter_map(|suffix| self.url_wild.get(suffix)).flatten();
        exact
            .chain(wild)
            .filter(|rule| rule.host.matches(host) && path_matches(&rule.path_prefix, path))
            .max_by(|a, b| a.specificity().cmp(&b.specificity()).then(b.service.cmp(&a.service)))
            .map(|rule| rule.service)
    }

    fn by_wildcard(&self, host: &str) -> Option<usize> {
        parents(host)
            .filter_map(|suffix| self.wild.get(suffix))
            .flat_map(|rules| rules.iter())
            .find(|rule| rule.pattern.matches(host))
            .map(|rule| rule.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, IdentityKind, VendorApp};
    use chrono::{DateTime, Utc};
    use std::collections::HashSet;

    fn observation(host: Option<&str>, path: Option<&str>, app: Option<VendorApp>) -> Observation {
        Observation {
            at: DateTime::<Utc>::from_timestamp(1_772_359_200, 0).unwrap(),
            identity: Identity::new(IdentityKind::User, "alice@example.com").unwrap(),
            host: host.map(str::to_string),
            path: path.map(str::to_string),
            app,
            action: None,
            requests: 1,
            bytes: 0,
            client_ip: None,
            department: None,
            record_id: None,
        }
    }

    fn url(url: &str) -> Observation {
        observation(crate::fields::host(url).as_deref(), crate::fields::path(url).as_deref(), None)
    }

    fn app(name: Option<&str>, id: Option<&str>, generative_ai: bool) -> VendorApp {
        VendorApp {
            id: id.map(str::to_string),
            name: name.map(str::to_string),
            category: None,
            generative_ai,
        }
    }

    /// `(service id, rule)` of a classification, for short assertions.
    fn hit(classification: Option<Classification<'_>>) -> Option<(String, MatchedBy)> {
        match classification? {
            Classification::Service { service, by } => Some((service.id.clone(), by)),
            Classification::UnlistedGenerativeAi { name } => panic!("unlisted {name}"),
        }
    }

    fn classify(url_text: &str) -> Option<(String, MatchedBy)> {
        hit(Catalogue::shipped().classify(&url(url_text), Vendor::Generic))
    }

    fn service(id: &str) -> Service {
        Service {
            id: id.to_string(),
            name: "Acme LLM".to_string(),
            vendor: "Acme".to_string(),
            kind: ServiceKind::ModelApi,
            categories: vec!["model-api".to_string()],
            domains: Domains { exact: vec![format!("{id}.acme.example")], wildcard: vec![] },
            url_patterns: vec![],
            vendor_ids: VendorIds::default(),
            docs: vec![],
        }
    }

    #[test]
    fn the_shipped_data_reads_and_every_service_passes_check() {
        let catalogue = Catalogue::parse(SHIPPED_JSON).unwrap();
        assert_eq!(catalogue.version(), "2026-12-07.1");
        assert!(catalogue.services().len() >= 30, "{}", catalogue.services().len());
        for service in catalogue.services() {
            service.check().unwrap_or_else(|e| panic!("{}: {e}", service.id));
            assert!(!service.docs.is_empty(), "{} has no docs", service.id);
        }
        assert_eq!(Catalogue::shipped().services().len(), catalogue.services().len());
        assert_eq!(Catalogue::shipped().version(), "2026-12-07.1");
    }

    #[test]
    fn ids_are_unique_and_the_required_services_are_there() {
        let catalogue = Catalogue::shipped();
        let ids: HashSet<&str> = catalogue.services().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), catalogue.services().len());
        for id in [
            "openai-api",
            "chatgpt",
            "azure-openai",
            "anthropic-api",
            "claude",
            "gemini-api",
            "gemini-app",
            "vertex-ai",
            "aws-bedrock",
            "mistral-api",
            "le-chat",
            "cohere-api",
            "huggingface-inference",
            "huggingface-endpoints",
            "perplexity-api",
            "perplexity",
            "groq",
            "together-ai",
            "fireworks-ai",
            "deepseek-api",
            "xai-api",
            "grok",
            "openrouter",
            "replicate",
            "github-copilot",
            "microsoft-copilot",
            "character-ai",
            "poe",
            "cursor",
        ] {
            assert_eq!(catalogue.service(id).map(|s| s.id.as_str()), Some(id));
        }
        assert!(catalogue.service("nope").is_none());
    }

    #[test]
    fn the_shipped_data_round_trips_through_serde() {
        let catalogue = Catalogue::shipped();
        let json = serde_json::to_string(catalogue.services()).unwrap();
        let back: Vec<Service> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, catalogue.services());
    }

    #[test]
    fn exact_domains_and_url_patterns() {
        use MatchedBy::*;
        let expect = |url: &str, id: &str, by: MatchedBy| {
            assert_eq!(classify(url), Some((id.to_string(), by)), "{url}");
        };
        expect("https://api.openai.com/v1/chat/completions", "openai-api", Domain);
        expect("https://API.OpenAI.com./v1/chat/completions", "openai-api", Domain);
        expect("https://chatgpt.com/backend-api/conversation", "chatgpt", Domain);
        expect("claude.ai", "claude", Domain);
        expect("https://api.github.com/copilot_internal/v2/token", "github-copilot", UrlPattern);
        expect("https://huggingface.co/chat", "huggingchat", UrlPattern);
        expect("https://huggingface.co/chat/conversation/1", "huggingchat", UrlPattern);
        expect("https://m365.cloud.microsoft/chat?auth=2", "microsoft-365-copilot", UrlPattern);
        expect("https://router.huggingface.co/v1/chat/completions", "huggingface-inference", Domain);
    }

    #[test]
    fn shared_hosts_match_only_through_their_paths() {
        for url in [
            "https://huggingface.co/",
            "https://huggingface.co/chatterbox/model",
            "https://huggingface.co/meta-llama/Llama-3.1-8B",
            "https://api.github.com/user",
            "https://api.github.com/copilot_internalx",
            "https://m365.cloud.microsoft/",
            "huggingface.co",
        ] {
            assert_eq!(classify(url), None, "{url}");
        }
    }

    #[test]
    fn wildcards_and_templates() {
        use MatchedBy::Wildcard;
        let expect = |url: &str, id: &str| {
            assert_eq!(classify(url), Some((id.to_string(), Wildcard)), "{url}");
        };
        expect("https://myres.openai.azure.com/openai/deployments/gpt/chat/completions", "azure-openai");
        expect("myres.services.ai.azure.com", "azure-ai-foundry");
        expect("https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse", "aws-bedrock");
        expect("bedrock-agent-runtime.eu-west-1.amazonaws.com", "aws-bedrock");
        expect("bedrock-mantle.us-east-1.api.aws", "aws-bedrock");
        expect("us-central1-aiplatform.googleapis.com", "vertex-ai");
        expect("aiplatform.eu.rep.googleapis.com", "vertex-ai");
        expect("abc123.us-east-1.aws.endpoints.huggingface.cloud", "huggingface-endpoints");
        expect("api.individual.githubcopilot.com", "github-copilot");
        expect("api2.cursor.sh", "cursor");
        // A template slot is one label; it is not the apex, nor two labels.
        for url in [
            "openai.azure.com",
            "a.b.openai.azure.com",
            "bedrock-runtime.amazonaws.com",
            "bedrock-runtime.a.b.amazonaws.com",
            "s3.us-east-1.amazonaws.com",
            "-aiplatform.googleapis.com",
            "storage.googleapis.com",
            "githubcopilot.com",
            "endpoints.huggingface.cloud",
        ] {
            assert_eq!(classify(url), None, "{url}");
        }
        assert_eq!(classify("aiplatform.googleapis.com"), Some(("vertex-ai".to_string(), MatchedBy::Domain)));
    }

    #[test]
    fn a_star_wildcard_is_not_its_apex() {
        let pattern = HostPattern::parse("*.example.com").unwrap();
        assert!(pattern.matches("a.example.com"));
        assert!(pattern.matches("a.b.example.com"));
        assert!(!pattern.matches("example.com"));
        assert!(!pattern.matches("badexample.com"));
        assert!(!pattern.matches(".example.com"));
        let mut tenant = service("tenant");
        tenant.domains = Domains { exact: vec![], wildcard: vec!["*.example.com".to_string()] };
        let catalogue = Catalogue::shipped().extended(&[tenant]).unwrap();
        let by = |host: &str| hit(catalogue.classify(&url(host), Vendor::Zscaler));
        assert_eq!(by("a.example.com"), Some(("tenant".to_string(), MatchedBy::Wildcard)));
        assert_eq!(by("example.com"), None);
    }

    #[test]
    fn vendor_apps_match_first_and_ignore_case() {
        let catalogue = Catalogue::shipped();
        // The app name decides even when the host says otherwise.
        let seen = observation(Some("cdn.example.net"), None, Some(app(Some("ChatGPT"), None, true)));
        assert_eq!(
            hit(catalogue.classify(&seen, Vendor::Netskope)),
            Some(("chatgpt".to_string(), MatchedBy::VendorApp))
        );
        let seen = observation(None, None, Some(app(Some(" chatgpt "), None, false)));
        assert_eq!(
            hit(catalogue.classify(&seen, Vendor::Zscaler)),
            Some(("chatgpt".to_string(), MatchedBy::VendorApp))
        );
        let seen = observation(None, None, Some(app(Some("openai chatgpt"), Some("999999"), false)));
        assert_eq!(
            hit(catalogue.classify(&seen, Vendor::Mdca)),
            Some(("chatgpt".to_string(), MatchedBy::VendorApp))
        );
        // Names are per vendor: Zscaler's `Azure GPT` is nothing to Netskope.
        let seen = observation(None, None, Some(app(Some("Azure GPT"), None, false)));
        assert_eq!(
            hit(catalogue.classify(&seen, Vendor::Zscaler)),
            Some(("azure-openai".to_string(), MatchedBy::VendorApp))
        );
        assert_eq!(catalogue.classify(&seen, Vendor::Netskope), None);
        // Without a vendor match, the host decides.
        let seen = observation(Some("claude.ai"), None, Some(app(Some("Anthropic Claude"), None, true)));
        assert_eq!(
            hit(catalogue.classify(&seen, Vendor::Netskope)),
            Some(("claude".to_string(), MatchedBy::Domain))
        );
    }

    #[test]
    fn mdca_app_ids_match() {
        let mut tenant = service("acme-llm");
        tenant.vendor_ids.mdca.app_ids = vec![424_242];
        let catalogue = Catalogue::shipped().extended(&[tenant]).unwrap();
        let seen = observation(None, None, Some(app(Some("Something else"), Some("424242"), false)));
        assert_eq!(
            hit(catalogue.classify(&seen, Vendor::Mdca)),
            Some(("acme-llm".to_string(), MatchedBy::VendorApp))
        );
        assert_eq!(catalogue.classify(&seen, Vendor::Netskope), None);
    }

    #[test]
    fn unknown_generative_ai_is_unlisted_and_other_traffic_is_nothing() {
        let catalogue = Catalogue::shipped();
        let seen = observation(Some("chat.newai.example"), None, Some(app(Some("NewAI Chat"), None, true)));
        assert_eq!(
            catalogue.classify(&seen, Vendor::Netskope),
            Some(Classification::UnlistedGenerativeAi { name: "NewAI Chat".to_string() })
        );
        let seen = observation(Some("chat.newai.example"), None, Some(app(None, None, true)));
        assert_eq!(
            catalogue.classify(&seen, Vendor::Netskope),
            Some(Classification::UnlistedGenerativeAi { name: "chat.newai.example".to_string() })
        );
        let seen = observation(Some("chat.newai.example"), None, Some(app(Some("NewAI Chat"), None, false)));
        assert_eq!(catalogue.classify(&seen, Vendor::Netskope), None);
        assert_eq!(classify("https://www.example.com/index.html"), None);
        assert_eq!(catalogue.classify(&observation(None, None, None), Vendor::Infoblox), None);
    }

    #[test]
    fn the_most_specific_url_pattern_wins() {
        let mut broad = service("broad");
        broad.domains = Domains::default();
        broad.url_patterns = vec![
            UrlPattern { host: "*.shared.example".to_string(), path_prefix: "/ai/v1/chat".to_string() },
            UrlPattern { host: "api.shared.example".to_string(), path_prefix: "/ai/".to_string() },
        ];
        let mut narrow = service("narrow");
        narrow.domains = Domains::default();
        narrow.url_patterns =
            vec![UrlPattern { host: "api.shared.example".to_string(), path_prefix: "/ai/v1".to_string() }];
        let catalogue = Catalogue::shipped().extended(&[broad, narrow]).unwrap();
        let by = |u: &str| hit(catalogue.classify(&url(u), Vendor::Generic)).map(|(id, _)| id);
        assert_eq!(by("https://api.shared.example/ai/v1/chat"), Some("narrow".to_string()));
        assert_eq!(by("https://api.shared.example/ai/v2"), Some("broad".to_string()));
        assert_eq!(by("https://eu.shared.example/ai/v1/chat/x"), Some("broad".to_string()));
        assert_eq!(by("https://eu.shared.example/ai/v1/chatx"), None);
    }

    #[test]
    fn the_longest_wildcard_suffix_wins() {
        let mut outer = service("outer");
        outer.domains = Domains { exact: vec![], wildcard: vec!["*.corp.example".to_string()] };
        let mut inner = service("inner");
        inner.domains = Domains { exact: vec![], wildcard: vec!["*.llm.corp.example".to_string()] };
        let mut template = service("template");
        template.domains = Domains { exact: vec![], wildcard: vec!["gw-{site}.corp.example".to_string()] };
        let catalogue = Catalogue::shipped().extended(&[outer, inner, template]).unwrap();
        let by = |host: &str| hit(catalogue.classify(&url(host), Vendor::Generic)).map(|(id, _)| id);
        assert_eq!(by("a.llm.corp.example"), Some("inner".to_string()));
        assert_eq!(by("wiki.corp.example"), Some("outer".to_string()));
        assert_eq!(by("gw-paris.corp.example"), Some("template".to_string()));
        assert_eq!(by("llm.corp.example"), Some("outer".to_string()));
    }

    #[test]
    fn extended_adds_services_and_versions_them() {
        let shipped = Catalogue::shipped();
        let extended = shipped.extended(&[service("acme-llm")]).unwrap();
        assert_eq!(extended.services().len(), shipped.services().len() + 1);
        assert!(extended.version().starts_with("2026-12-07.1+1."), "{}", extended.version());
        assert_eq!(extended.version().len(), "2026-12-07.1+1.".len() + 8);
        let other = shipped.extended(&[service("acme-other")]).unwrap();
        assert_ne!(extended.version(), other.version());
        assert_eq!(shipped.extended(&[]).unwrap().version(), shipped.version());
        assert_eq!(
            hit(extended.classify(&url("https://acme-llm.acme.example/v1"), Vendor::Generic)),
            Some(("acme-llm".to_string(), MatchedBy::Domain))
        );
        assert!(extended.service("acme-llm").is_some());
        // The shipped catalogue is untouched.
        assert!(shipped.service("acme-llm").is_none());
    }

    #[test]
    fn extended_refuses_a_used_id_with_its_path() {
        let err = Catalogue::shipped().extended(&[service("fine"), service("chatgpt")]).unwrap_err();
        assert_eq!((err.index, err.path.as_str()), (Some(1), "id"));
        assert!(err.reason.contains("chatgpt"), "{}", err.reason);
        assert_eq!(err.full_path(), "services[1].id");
        let err = Catalogue::shipped().extended(&[service("twice"), service("twice")]).unwrap_err();
        assert_eq!((err.index, err.path.as_str()), (Some(1), "id"));
    }

    #[test]
    fn extended_refuses_a_bad_wildcard_with_its_path() {
        for (pattern, reason) in [
            ("*example.com", "`*`"),
            ("a.*.example.com", "`*`"),
            ("*.com", "fewer than 2 labels"),
            ("*.Example.com", "lower-case"),
            ("{x}", "after the last"),
            ("{x}.{y}.com", "fewer than 2 labels"),
            ("{}.example.com", "slot is named"),
            ("{a}{b}.example.com", "one {slot} per label"),
            ("{a.example.com", "without"),
            ("plain.example.com", "domains.exact"),
        ] {
            let mut bad = service("bad-wildcard");
            bad.domains.wildcard = vec!["*.fine.example".to_string(), pattern.to_string()];
            let err = Catalogue::shipped().extended(&[service("fine"), bad]).unwrap_err();
            assert_eq!((err.index, err.path.as_str()), (Some(1), "domains.wildcard[1]"), "{pattern}: {err}");
            assert!(err.reason.contains(reason), "{pattern}: {}", err.reason);
        }
    }

    #[test]
    fn extended_refuses_hosts_and_names_another_service_claims() {
        let mut bad = service("mine");
        bad.domains.exact.push("api.openai.com".to_string());
        let err = Catalogue::shipped().extended(&[bad]).unwrap_err();
        assert_eq!((err.index, err.path.as_str()), (Some(0), "domains.exact[1]"));
        assert!(err.reason.contains("openai-api"), "{}", err.reason);
        let mut bad = service("mine");
        bad.vendor_ids.netskope = vec!["CHATGPT".to_string()];
        let err = Catalogue::shipped().extended(&[bad]).unwrap_err();
        assert_eq!(err.path, "vendor_ids.netskope[0]");
        let mut bad = service("mine");
        bad.domains.wildcard = vec!["{resource}.openai.azure.com".to_string()];
        let err = Catalogue::shipped().extended(&[bad]).unwrap_err();
        assert_eq!(err.path, "domains.wildcard[0]");
        let mut bad = service("mine");
        bad.url_patterns = vec![UrlPattern {
            host: "api.github.com".to_string(),
            path_prefix: "/copilot_internal/".to_string(),
        }];
        let err = Catalogue::shipped().extended(&[bad]).unwrap_err();
        assert_eq!(err.path, "url_patterns[0]");
    }

    #[test]
    fn check_names_the_field_at_fault() {
        let fault = |edit: &dyn Fn(&mut Service)| {
            let mut s = service("ok");
            edit(&mut s);
            let err = s.check().unwrap_err();
            assert_eq!(err.index, None);
            err.path
        };
        assert_eq!(fault(&|s| s.id = "Bad_Id".to_string()), "id");
        assert_eq!(fault(&|s| s.id = "x".repeat(65)), "id");
        assert_eq!(fault(&|s| s.id = "-x".to_string()), "id");
        assert_eq!(fault(&|s| s.name = " ".to_string()), "name");
        assert_eq!(fault(&|s| s.vendor = "v".repeat(201)), "vendor");
        assert_eq!(fault(&|s| s.categories = vec!["ok".to_string(), "Not Ok".to_string()]), "categories[1]");
        assert_eq!(
            fault(&|s| s.domains.exact =
                vec!["a.example".to_string(), "b.example".to_string(), "API.example".to_string()]),
            "domains.exact[2]"
        );
        assert_eq!(fault(&|s| s.domains.exact.push("10.0.0.1".to_string())), "domains.exact[1]");
        assert_eq!(fault(&|s| s.domains.exact.push("localhost".to_string())), "domains.exact[1]");
        assert_eq!(fault(&|s| s.domains.exact.push("a..example".to_string())), "domains.exact[1]");
        assert_eq!(fault(&|s| s.domains.exact.push("ok.acme.example".to_string())), "domains.exact[1]");
        assert_eq!(fault(&|s| s.domains.exact.push("*.acme.example".to_string())), "domains.exact[1]");
        assert_eq!(fault(&|s| s.domains.exact.push("trailing.example.".to_string())), "domains.exact[1]");
        assert_eq!(
            fault(&|s| s.domains.exact = (0..201).map(|i| format!("h{i}.example")).collect()),
            "domains"
        );
        assert_eq!(
            fault(&|s| s.url_patterns =
                vec![UrlPattern { host: "api.example.com".to_string(), path_prefix: "v1/".to_string() }]),
            "url_patterns[0].path_prefix"
        );
        assert_eq!(
            fault(&|s| s.url_patterns =
                vec![UrlPattern { host: "api.example.com".to_string(), path_prefix: "/v1?x".to_string() }]),
            "url_patterns[0].path_prefix"
        );
        assert_eq!(
            fault(&|s| s.url_patterns =
                vec![UrlPattern { host: "API.example.com".to_string(), path_prefix: "/v1".to_string() }]),
            "url_patterns[0].host"
        );
        assert_eq!(
            fault(&|s| s.url_patterns = (0..51)
                .map(|i| UrlPattern { host: "api.example.com".to_string(), path_prefix: format!("/p{i}") })
                .collect()),
            "url_patterns"
        );
        assert_eq!(
            fault(&|s| s.vendor_ids.zscaler = vec!["Acme".to_string(), "ACME".to_string()]),
            "vendor_ids.zscaler[1]"
        );
        assert_eq!(fault(&|s| s.vendor_ids.mdca.app_ids = vec![1, 1]), "vendor_ids.mdca.app_ids[1]");
        assert_eq!(fault(&|s| s.docs = vec!["ftp://x.example".to_string()]), "docs[0]");
        assert_eq!(fault(&|s| s.domains = Domains::default()), "domains");
        // A vendor id alone is enough.
        let mut s = service("ok");
        s.domains = Domains::default();
        s.vendor_ids.netskope = vec!["Acme AI".to_string()];
        assert_eq!(s.check(), Ok(()));
    }

    #[test]
    fn services_refuse_unknown_fields_and_documents_other_schemas() {
        let json = r#"{"id": "x", "name": "X", "vendor": "X", "kind": "saas", "confidence": "high"}"#;
        assert!(serde_json::from_str::<Service>(json).is_err());
        let json =
            r#"{"id": "x", "name": "X", "vendor": "X", "kind": "saas", "domains": {"exact": ["x.example"]}}"#;
        let service: Service = serde_json::from_str(json).unwrap();
        assert_eq!(service.check(), Ok(()));
        let err = Catalogue::parse(r#"{"schema_version": 2, "catalogue_version": "x", "services": []}"#)
            .unwrap_err();
        assert_eq!(err.path, "schema_version");
        let err = Catalogue::parse(r#"{"schema_version": 1, "catalogue_version": "x"}"#).unwrap_err();
        assert_eq!(err.path, "");
    }

    #[test]
    fn errors_read_with_their_path() {
        let err = CatalogueError::new("domains.exact[2]", "must be lower-case").at(3);
        assert_eq!(err.to_string(), "services[3].domains.exact[2]: must be lower-case");
        assert_eq!(CatalogueError::new("id", "empty").to_string(), "id: empty");
    }

    #[test]
    fn path_prefixes_match_at_segment_boundaries() {
        assert!(path_matches("/chat", "/chat"));
        assert!(path_matches("/chat", "/chat/"));
        assert!(path_matches("/chat", "/chat/x"));
        assert!(!path_matches("/chat", "/chatter"));
        assert!(path_matches("/v1/", "/v1/models"));
        assert!(!path_matches("/v1/", "/v1"));
        assert!(!path_matches("/Chat", "/chat"));
    }
}
