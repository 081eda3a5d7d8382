//! The tool catalogue: which upstream MCP servers a tenant's agents reach,
//! their tools, and how a tool call becomes an intent.
//!
//! Upstreams come from the configuration (`lictor serve --upstream
//! NAME=URL`, seen by every tenant) and from the API (a tenant's own).
//! Tools are exposed as `<upstream>.<tool>`; each upstream's list is cached
//! for a short time. A call becomes an intent whose action type, verb,
//! reversibility and sensitivity come from the tool's MCP annotations,
//! overridable per tool, and whose payload carries the arguments — so one
//! Rego bundle governs declared intents and tool calls alike.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lictor_api::ids::{AgentId, TenantId};
use lictor_api::intents::{
    Action, ActionType, AgentRef, EstimatedImpact, Intent, IntentRequest, Payload, Sensitivity, Target, Verb,
};
use lictor_api::money::UsdAmount;
use lictor_api::text::{Identifier, Label};
use lictor_api::tokens::UpstreamName;
use lictor_api::upstreams::{ToolOverride, Upstream, UpstreamSource};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::cache::{Cache, CacheStats, Lookup};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::events::{Event, Events};
use crate::mcp::upstream::{Tool, ToolAnnotations, UpstreamClient, UpstreamConfig, UpstreamError};
use crate::pipeline::capability::ToolTarget;
use crate::store::{Store, UpstreamRow};
use crate::tls::OutboundRoots;

/// An upstream given on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfiguredUpstream {
    /// Its name.
    pub name: UpstreamName,
    /// Its MCP endpoint.
    pub url: String,
    /// The credential header sent to it.
    pub credential: Option<(String, String)>,
}

/// One reachable upstream with its client.
pub struct UpstreamEntry {
    /// Its description.
    pub upstream: Upstream,
    /// Per-tool overrides.
    pub overrides: BTreeMap<String, ToolOverride>,
    /// The client that talks to it.
    pub client: Arc<UpstreamClient>,
    fingerprint: String,
}

impl std::fmt::Debug for UpstreamEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamEntry").field("name", &self.upstream.name).finish_non_exhaustive()
    }
}

/// A tool of an upstream.
#[derive(Clone, Debug)]
pub struct CatalogTool {
    /// The upstream that owns it.
    pub upstream: Arc<UpstreamEntry>,
    /// The tool as the upstream lists it.
    pub tool: Tool,
}

impl CatalogTool {
    /// Its target in the pipeline.
    pub fn target(&self) -> ToolTarget {
        ToolTarget { upstream: self.upstream.upstream.name.to_string(), tool: self.tool.name.clone() }
    }

    /// The tool object agents see: the upstream's, renamed
    /// `<upstream>.<tool>`, without `x-mcp-header` markers (the gateway, not
    /// the agent, speaks to the upstream).
    pub fn listed(&self) -> Value {
        let mut raw = self.tool.raw.clone();
        if let Some(object) = raw.as_object_mut() {
            object.insert("name".into(), Value::String(self.target().full_name()));
            if let Some(properties) = object
                .get_mut("inputSchema")
                .and_then(|s| s.get_mut("properties"))
                .and_then(Value::as_object_mut)
            {
                for property in properties.values_mut() {
                    if let Some(p) = property.as_object_mut() {
                        p.remove("x-mcp-header");
                    }
                }
            }
        }
        raw
    }

    /// The action type its calls have: the override, or from the MCP
    /// annotations (see [`derived`]).
    pub fn action_type(&self) -> ActionType {
        let overrides = self.upstream.overrides.get(&self.tool.name);
        overrides.and_then(|o| o.action_type).unwrap_or_else(|| derived(&self.tool.annotations).action_type)
    }

    /// The intent a call with `arguments` by `agent` amounts to, and what
    /// the mapping could not read from the arguments (the intent then lacks
    /// that figure, and the call must be blocked as invalid).
    pub fn intent(
        &self,
        agent: &AgentId,
        arguments: &Map<String, Value>,
    ) -> Result<(IntentRequest, Option<String>), String> {
        let derived = derived(&self.tool.annotations);
        let overrides = self.upstream.overrides.get(&self.tool.name).cloned().unwrap_or_default();
        let action_type = self.action_type();
        let verb = verb_of(overrides.verb.as_deref().unwrap_or(&self.tool.name))?;
        let reversible = overrides.reversible.or(derived.reversible);
        let sensitivity = overrides.sensitivity.unwrap_or(derived.sensitivity);
        let mut problem = None;
        let financial_exposure_usd = overrides.financial_exposure_from.as_ref().and_then(|pointer| {
            number_at(arguments, pointer)
                .and_then(|v| UsdAmount::new(v).map_err(|e| format!("argument at `{pointer}`: {e}")))
                .map_err(|e| problem = Some(e))
                .ok()
        });
        let audience_size = overrides.audience_size_from.as_ref().and_then(|pointer| {
            number_at(arguments, pointer)
                .and_then(|v| {
                    if v.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&v) {
                        Ok(v as u64)
                    } else {
                        Err(format!("argument at `{pointer}` is not a whole number"))
                    }
                })
                .map_err(|e| {
                    problem.get_or_insert(e);
                })
                .ok()
        });
        let full_name = self.target().full_name();
        let request = IntentRequest {
            intent: Intent {
                agent: AgentRef { id: agent.clone(), framework: Label::parse("mcp").ok() },
                action: Action {
                    action_type,
                    verb,
                    target: Some(Target {
                        target_type: Label::parse("tool").map_err(|e| e.to_string())?,
                        identifier: Identifier::parse(full_name.clone()).map_err(|e| e.to_string())?,
                        sensitivity: Some(sensitivity),
                    }),
                    payload: Some(Payload {
                        summary: Some(format!("call tool `{full_name}`")),
                        content: None,
                        arguments: Some(arguments.clone()),
                        estimated_impact: Some(EstimatedImpact {
                            reversible,
                            financial_exposure_usd,
                            audience_size,
                            regulatory_domains: None,
                        }),
                    }),
                },
            },
            context: None,
        };
        Ok((request, problem))
    }
}

/// What a tool's MCP annotations say about its calls, before overrides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Derived {
    /// Read-only → `access`; destructive → `modify`; additive and open
    /// world → `communicate`; additive in a closed world → `control`.
    pub action_type: ActionType,
    /// Read-only → reversible; destructive → irreversible; otherwise not
    /// declared.
    pub reversible: Option<bool>,
    /// Destructive → `confidential`; otherwise `internal`.
    pub sensitivity: Sensitivity,
}

/// Maps annotations with MCP's defaults: an unannotated tool is treated as
/// destructive and open-world, the most cautious reading.
pub fn derived(annotations: &ToolAnnotations) -> Derived {
    if annotations.read_only() {
        Derived {
            action_type: ActionType::Access,
            reversible: Some(true),
            sensitivity: Sensitivity::Internal,
        }
    } else if annotations.destructive() {
        Derived {
            action_type: ActionType::Modify,
            reversible: Some(false),
            sensitivity: Sensitivity::Confidential,
        }
    } else if annotations.open_world() {
        Derived { action_type: ActionType::Communicate, reversible: None, sensitivity: Sensitivity::Internal }
    } else {
        Derived { action_type: ActionType::Control, reversible: None, sensitivity: Sensitivity::Internal }
    }
}

/// A tool name as a verb: as is when it fits the verb grammar, otherwise
/// prefixed and cut to fit.
fn verb_of(name: &str) -> Result<Verb, String> {
    Verb::parse(name).or_else(|_| {
        let cleaned: String = format!("call_{name}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') { c } else { '_' })
            .take(64)
            .collect();
        Verb::parse(cleaned).map_err(|e| e.to_string())
    })
}

fn number_at(arguments: &Map<String, Value>, pointer: &str) -> Result<f64, String> {
    let document = Value::Object(arguments.clone());
    match document.pointer(pointer) {
        Some(Value::Number(n)) => {
            n.as_f64().ok_or_else(|| format!("argument at `{pointer}` is not a number"))
        }
        Some(_) => Err(format!("argument at `{pointer}` is not a number")),
        None => Err(format!("argument at `{pointer}` is missing")),
    }
}

/// An upstream's tool list and when it was fetched.
type CachedTools = (Arc<Vec<Tool>>, Instant);

/// The catalogue.
pub struct Catalog {
    store: Store,
    /// Each tenant's stored upstreams, dropped when one is created or
    /// deleted ([`Event::Upstream`]).
    rows: Arc<Cache<TenantId, Arc<Vec<UpstreamRow>>>>,
    configured: Vec<Arc<UpstreamEntry>>,
    tenants: Mutex<HashMap<(TenantId, String), Arc<UpstreamEntry>>>,
    tools: Mutex<HashMap<String, CachedTools>>,
    tools_ttl: Duration,
    timeout: Duration,
    roots: OutboundRoots,
    started: Timestamp,
    log: slog::Logger,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("configured", &self.configured).finish_non_exhaustive()
    }
}

pub(crate) fn client_for(
    name: &UpstreamName,
    url: &str,
    credential: Option<&(String, String)>,
    (timeout, roots): (Duration, &OutboundRoots),
    log: &slog::Logger,
) -> Result<Arc<UpstreamClient>, UpstreamError> {
    let config = UpstreamConfig {
        name: name.to_string(),
        url: url.to_string(),
        headers: credential.cloned().into_iter().collect(),
        timeout,
        roots: roots.clone(),
    };
    Ok(Arc::new(UpstreamClient::new(config)?.with_logger(log.clone())))
}

fn fingerprint(
    url: &str,
    credential: Option<&(String, String)>,
    overrides: &BTreeMap<String, ToolOverride>,
) -> String {
    crate::audit::digest_json(&serde_json::json!({"url": url, "credential": credential, "tools": overrides}))
}

impl Catalog {
    /// A catalogue with the configured upstreams; a tenant's stored ones
    /// are cached at most `cache_ttl` and dropped as `events` announce a
    /// change.
    pub fn new(
        store: Store,
        configured: &[ConfiguredUpstream],
        timeout: Duration,
        tools_ttl: Duration,
        (events, cache_ttl): (&Events, Duration),
        roots: OutboundRoots,
        log: slog::Logger,
    ) -> Result<Catalog, UpstreamError> {
        let started = Timestamp::now();
        let configured = configured
            .iter()
            .map(|c| {
                Ok(Arc::new(UpstreamEntry {
                    upstream: Upstream {
                        name: c.name.clone(),
                        url: c.url.clone(),
                        tenant: None,
                        source: UpstreamSource::Config,
                        has_credential: c.credential.is_some(),
                        tools: BTreeMap::new(),
                        created_at: started.to_datetime(),
                    },
                    overrides: BTreeMap::new(),
                    client: client_for(&c.name, &c.url, c.credential.as_ref(), (timeout, &roots), &log)?,
                    fingerprint: fingerprint(&c.url, c.credential.as_ref(), &BTreeMap::new()),
                }))
            })
            .collect::<Result<Vec<_>, UpstreamError>>()?;
        let rows = Cache::following(cache_ttl, events, |event| match event {
            Event::Upstream { tenant } => Some(tenant),
            _ => None,
        });
        Ok(Catalog {
            store,
            rows,
            configured,
            tenants: Mutex::new(HashMap::new()),
            tools: Mutex::new(HashMap::new()),
            tools_ttl,
            timeout,
            roots,
            started,
            log,
        })
    }

    /// Whether a configured upstream has this name.
    pub fn is_configured(&self, name: &UpstreamName) -> bool {
        self.configured.iter().any(|u| u.upstream.name == *name)
    }

    /// The client timeout new upstreams get.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The CAs upstream clients trust beside the system's.
    pub(crate) fn roots(&self) -> &OutboundRoots {
        &self.roots
    }

    /// When the configured upstreams were loaded.
    pub fn started(&self) -> Timestamp {
        self.started
    }

    /// Every upstream the tenant's agents reach: the configured ones, then
    /// the tenant's, by name.
    ///
    /// A stored upstream the MCP client cannot be built for (one accepted
    /// before its URL and headers were checked as the client checks them)
    /// is left out, with a warning: it must not make every other upstream
    /// of the tenant unreachable.
    pub async fn upstreams(&self, tenant: &TenantId) -> Result<Vec<Arc<UpstreamEntry>>, Error> {
        let rows = match self.rows.get(tenant) {
            Lookup::Hit(rows) => rows,
            Lookup::Miss(ticket) => {
                let rows = Arc::new(self.store.list_upstreams(tenant).await?);
                self.rows.keep(ticket, tenant.clone(), tenant, Arc::clone(&rows));
                rows
            }
        };
        let mut entries: Vec<Arc<UpstreamEntry>> = self.configured.clone();
        let mut cache = self.tenants.lock().await;
        for row in rows.iter().cloned() {
            match self.entry_for(&mut cache, row) {
                Ok(entry) => entries.push(entry),
                Err((name, error)) => {
                    slog::warn!(self.log, "upstream left out: its client cannot be built";
                        "tenant" => %tenant, "upstream" => %name, "error" => %error);
                }
            }
        }
        Ok(entries)
    }

    /// How often the tenants' upstream lists were answered from memory.
    pub fn cache_stats(&self) -> CacheStats {
        self.rows.stats()
    }

    /// What `GET /v1/admin/upstreams` lists: the configured upstreams, then
    /// every one the tenant stored, usable or not.
    pub async fn views(&self, tenant: &TenantId) -> Result<Vec<Upstream>, Error> {
        let rows = self.store.list_upstreams(tenant).await?;
        let configured = self.configured.iter().map(|e| e.upstream.clone());
        Ok(configured.chain(rows.iter().map(view)).collect())
    }

    fn entry_for(
        &self,
        cache: &mut HashMap<(TenantId, String), Arc<UpstreamEntry>>,
        row: UpstreamRow,
    ) -> Result<Arc<UpstreamEntry>, (UpstreamName, UpstreamError)> {
        let key = (row.tenant.clone(), row.name.to_string());
        let print = fingerprint(&row.url, row.credential.as_ref(), &row.tools);
        if let Some(entry) = cache.get(&key)
            && entry.fingerprint == print
        {
            return Ok(Arc::clone(entry));
        }
        let client =
            client_for(&row.name, &row.url, row.credential.as_ref(), (self.timeout, &self.roots), &self.log)
                .map_err(|e| (row.name.clone(), e))?;
        let entry = Arc::new(UpstreamEntry {
            upstream: view(&row),
            overrides: row.tools.clone(),
            client,
            fingerprint: print,
        });
        cache.insert(key, Arc::clone(&entry));
        Ok(entry)
    }

    /// The upstream's tools, from the cache when fresh.
    pub async fn tools_of(&self, entry: &Arc<UpstreamEntry>) -> Result<Arc<Vec<Tool>>, UpstreamError> {
        let key = entry.fingerprint.clone() + entry.upstream.name.as_ref();
        if let Some((tools, fetched)) = self.tools.lock().await.get(&key)
            && fetched.elapsed() < self.tools_ttl
        {
            return Ok(Arc::clone(tools));
        }
        let tools = Arc::new(entry.client.list_tools().await?);
        self.tools.lock().await.insert(key, (Arc::clone(&tools), Instant::now()));
        Ok(tools)
    }

    /// Every tool the tenant's agents may see, with the upstreams that
    /// could not be listed (they are left out, not fatal).
    pub async fn tools(&self, tenant: &TenantId) -> Result<(Vec<CatalogTool>, Vec<UpstreamError>), Error> {
        let mut tools = Vec::new();
        let mut failures = Vec::new();
        for entry in self.upstreams(tenant).await? {
            match self.tools_of(&entry).await {
                Ok(list) => tools.extend(
                    list.iter().map(|tool| CatalogTool { upstream: Arc::clone(&entry), tool: tool.clone() }),
                ),
                Err(error) => {
                    slog::warn!(self.log, "listing an upstream's tools failed"; "upstream" => %entry.upstream.name, "error" => %error);
                    failures.push(error);
                }
            }
        }
        Ok((tools, failures))
    }

    /// Finds a tool by `<upstream>.<tool>`, or by its bare name together
    /// with `server`, or by a bare name only one upstream offers.
    pub async fn resolve(
        &self,
        tenant: &TenantId,
        name: &str,
        server: Option<&UpstreamName>,
    ) -> Result<ToolLookup, Error> {
        let upstreams = self.upstreams(tenant).await?;
        let (upstream_name, tool_name) = match (server, name.split_once('.')) {
            (Some(server), _) => (Some(server.to_string()), name.to_string()),
            (None, Some((prefix, rest))) if upstreams.iter().any(|u| u.upstream.name.as_str() == prefix) => {
                (Some(prefix.to_string()), rest.to_string())
            }
            _ => (None, name.to_string()),
        };
        let mut found = Vec::new();
        for entry in upstreams {
            if upstream_name.as_deref().is_some_and(|n| n != entry.upstream.name.as_str()) {
                continue;
            }
            let tools = match self.tools_of(&entry).await {
                Ok(tools) => tools,
                Err(error) if upstream_name.is_some() => return Ok(ToolLookup::Unavailable(error)),
                Err(_) => continue,
            };
            if let Some(tool) = tools.iter().find(|t| t.name == tool_name) {
                found.push(CatalogTool { upstream: Arc::clone(&entry), tool: tool.clone() });
            }
        }
        Ok(match found.len() {
            0 => ToolLookup::Unknown,
            1 => found.pop().map(ToolLookup::Found).unwrap_or(ToolLookup::Unknown),
            _ => ToolLookup::Ambiguous(found.iter().map(|t| t.target().full_name()).collect()),
        })
    }
}

/// The outcome of [`Catalog::resolve`].
#[derive(Debug)]
pub enum ToolLookup {
    /// The tool.
    Found(CatalogTool),
    /// No upstream offers it.
    Unknown,
    /// Several upstreams offer a tool of that bare name.
    Ambiguous(Vec<String>),
    /// The named upstream could not be listed.
    Unavailable(UpstreamError),
}

/// An API upstream's public view (never its credential).
pub fn view(row: &UpstreamRow) -> Upstream {
    Upstream {
        name: row.name.clone(),
        url: row.url.clone(),
        tenant: Some(row.tenant.clone()),
        source: UpstreamSource::Api,
        has_credential: row.credential.is_some(),
        tools: row.tools.clone(),
        created_at: row.created_at.to_datetime(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_map_cautiously() {
        let with = |read_only, destructive, open_world| {
            derived(&ToolAnnotations {
                read_only_hint: read_only,
                destructive_hint: destructive,
                open_world_hint: open_world,
                ..ToolAnnotations::default()
            })
        };
        let unannotated = with(None, None, None);
        assert_eq!(
            unannotated,
            Derived {
                action_type: ActionType::Modify,
                reversible: Some(false),
                sensitivity: Sensitivity::Confidential
            }
        );
        assert_eq!(with(Some(true), Some(true), None).action_type, ActionType::Access);
        assert_eq!(with(Some(true), None, None).reversible, Some(true));
        assert_eq!(with(Some(false), Some(false), Some(true)).action_type, ActionType::Communicate);
        assert_eq!(with(Some(false), Some(false), Some(false)).action_type, ActionType::Control);
        assert_eq!(with(Some(false), Some(false), Some(false)).reversible, None);
    }

    #[test]
    fn tool_names_become_verbs() {
        assert_eq!(verb_of("delete_records").unwrap().as_str(), "delete_records");
        assert_eq!(verb_of("2fa.check").unwrap().as_str(), "call_2fa.check");
        assert_eq!(verb_of(&"x".repeat(100)).unwrap().as_str().len(), 64);
    }

    #[test]
    fn numbers_are_read_by_pointer() {
        let args: Map<String, Value> =
            serde_json::from_str(r#"{"amount_usd": 25.5, "nested": {"n": 3}, "s": "x"}"#).unwrap();
        assert_eq!(number_at(&args, "/amount_usd"), Ok(25.5));
        assert_eq!(number_at(&args, "/nested/n"), Ok(3.0));
        assert!(number_at(&args, "/s").is_err());
        assert!(number_at(&args, "/missing").is_err());
    }
}
