//! Starting and stopping a gateway.

use std::net::SocketAddr;
use std::time::Duration;

use dropshot::{ConfigDropshot, HandlerTaskMode};
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::audit::checkpointer::Checkpointer;
use crate::audit::writer::AuditWriter;
use crate::auth::Authenticator;
use crate::catalog::Catalog;
use crate::clock::Timestamp;
use crate::config::{Config, MIN_ADMIN_KEY_LEN};
use crate::credentials;
use crate::degraded::Degraded;
use crate::events::Events;
use crate::http::{LictorImpl, metrics_listener};
use crate::mcp::sessions::McpSessions;
use crate::metrics::Metrics;
use crate::pending::PendingIntents;
use crate::pipeline::{Pipeline, PipelineSettings};
use crate::policy::{Bundle, EvaluationLimits, PolicyEngine, PolicyError, PolicyRegistry};
use crate::rate_limit::RateLimiter;
use crate::revocations::RevocationCache;
use crate::signing::{self, KeyError, Keys, TokenKeys};
use crate::state::GatewayState;
use crate::store::{Backend, Store, StoreConfig, StoreError};
use crate::tls::{OutboundRoots, ServerTls};
use crate::webhooks::Webhooks;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signing keys could not be loaded or created.
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    /// The built-in policy bundle does not compile.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// TLS could not be set up.
    #[error("tls: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The HTTP server could not start.
    #[error("http server: {0}")]
    Http(String),
    /// The listening address could not be bound.
    #[error("cannot listen on {address}: {}", bind_reason(error))]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why the system refused it.
        #[source]
        error: std::io::Error,
    },
}

/// What a failed bind means, and what to do about it.
fn bind_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => "the address is already in use (another process listens there, \
             perhaps another gateway); choose another with `--listen HOST:PORT` or LICTOR_LISTEN"
            .into(),
        std::io::ErrorKind::AddrNotAvailable => {
            "no network interface of this machine has that address; use 127.0.0.1 or 0.0.0.0 in `--listen`"
                .into()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges); choose a port above 1024 with `--listen`"
                .into()
        }
        _ => error.to_string(),
    }
}

/// A running gateway.
pub struct Gateway {
    server: dropshot::HttpServer<GatewayState>,
    tasks: Vec<JoinHandle<()>>,
    admin_key: AdminKey,
    keys: Keys,
    store: Store,
    log: slog::Logger,
    metrics_addr: Option<SocketAddr>,
    // The name this gateway holds integration leases by.
    holder: String,
}

/// The gateway's `slog` logger (dropshot's too): its records go to the
/// process's `tracing` subscriber ([`crate::telemetry`]), which filters
/// and writes them; without one installed they go nowhere.
pub fn logger(_config: &Config) -> Result<slog::Logger, StartError> {
    // Every message and value escaped: no input forges a log line.
    Ok(slog::Logger::root(crate::logging::Escaping(crate::telemetry::TracingDrain), slog::o!()))
}

/// Fixed id of the generated superadmin key: several gateways starting on
/// one empty database generate it once (the others lose the insert).
const GENERATED_ADMIN_KEY_ID: &str = "superadmin";

fn check_admin_key(config: &Config) -> Result<(), StartError> {
    match &config.admin_key {
        Some(key) if key.len() < MIN_ADMIN_KEY_LEN || !key.chars().all(|c| c.is_ascii_graphic()) => {
            Err(StartError::Config(format!(
                "LICTOR_ADMIN_KEY must be at least {MIN_ADMIN_KEY_LEN} printable characters without spaces"
            )))
        }
        _ => Ok(()),
    }?;
    match &config.metrics_token {
        Some(token) if token.len() < MIN_ADMIN_KEY_LEN || !token.chars().all(|c| c.is_ascii_graphic()) => {
            Err(StartError::Config(format!(
                "LICTOR_METRICS_TOKEN must be at least {MIN_ADMIN_KEY_LEN} printable characters without spaces"
            )))
        }
        _ => Ok(()),
    }
}

/// The superadmin key's state after a start. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub enum AdminKey {
    /// `LICTOR_ADMIN_KEY` names it.
    Configured,
    /// Generated on this start: the only time it is shown.
    Generated(String),
    /// Generated on an earlier start (only its hash is stored).
    Stored,
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdminKey::Configured => "Configured",
            AdminKey::Generated(_) => "Generated(…)",
            AdminKey::Stored => "Stored",
        })
    }
}

/// Generates the superadmin key on the first start. Called once the
/// server listens, so a start that cannot bind never consumes the key it
/// would have shown.
async fn ensure_admin_key(store: &Store, config: &Config) -> Result<AdminKey, StartError> {
    if config.admin_key.is_some() {
        return Ok(AdminKey::Configured);
    }
    if store.admin_key_count().await? > 0 {
        return Ok(AdminKey::Stored);
    }
    let issued = credentials::new_admin_key();
    match store.insert_admin_key(GENERATED_ADMIN_KEY_ID, &issued.hash, Timestamp::now()).await {
        Ok(()) => Ok(AdminKey::Generated(issued.key)),
        // Another replica starting on the same empty database won.
        Err(StoreError::Duplicate(_)) => Ok(AdminKey::Stored),
        Err(e) => Err(e.into()),
    }
}

/// Replaces the stored superadmin key with a new one (`lictor keys rotate
/// --key admin`), for when the generated key is lost; answers the new key,
/// shown once. Gateways that run with `LICTOR_ADMIN_KEY` ignore stored keys.
pub async fn rotate_admin_key(store: &Store) -> Result<String, StoreError> {
    let issued = credentials::new_admin_key();
    store.replace_admin_keys(GENERATED_ADMIN_KEY_ID, &issued.hash, Timestamp::now()).await?;
    Ok(issued.key)
}

/// Hashes entries written before the audit trees existed into their trees
/// (each tenant in one write, by the writer, under the chain's lock).
fn catch_up_trees(store: Store, writer: AuditWriter, log: slog::Logger) -> JoinHandle<()> {
    tokio::spawn(async move {
        let tenants = match store.trees_behind().await {
            Ok(tenants) => tenants,
            Err(error) => {
                slog::warn!(log, "cannot list audit trees behind their chain"; "error" => %error);
                return;
            }
        };
        for tenant in tenants {
            if let Err(error) = writer.catch_up_tree(tenant.clone()).await {
                slog::warn!(log, "catching up an audit tree failed"; "tenant" => %tenant, "error" => %error);
            }
        }
    })
}

/// Starts the integrations' runtime: answers the name this gateway holds
/// their leases by (unique per process).
fn start_integrations(
    config: &Config,
    (store, keys, events): (&Store, &Keys, &Events),
    (roots, metrics, checkpoints): (&OutboundRoots, &Arc<Metrics>, &Checkpointer),
    log: &slog::Logger,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<crate::integrations::runtime::Context, StartError> {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "gateway".into());
    let holder = format!("{host}/{}/{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let builder =
        || roots.client_builder().timeout(Duration::from_secs(30)).connect_timeout(Duration::from_secs(10));
    let client = builder().build().map_err(|e| StartError::Config(format!("integrations client: {e}")))?;
    let tenant_client = match config.integrations_allow_private {
        true => client.clone(),
        false => builder()
            .dns_resolver(Arc::new(crate::integrations::egress::PublicOnly))
            .build()
            .map_err(|e| StartError::Config(format!("integrations client: {e}")))?,
    };
    let context = crate::integrations::runtime::Context {
        store: store.clone(),
        keys: keys.clone(),
        events: events.clone(),
        configured: config.integrations.clone(),
        client,
        tenant_client,
        allow_private: config.integrations_allow_private,
        roots: roots.clone(),
        tuning: config.sink_tuning,
        metrics: Arc::clone(metrics),
        holder: holder.clone(),
        checkpoints: checkpoints.clone(),
        public_url: config.public_url.clone(),
        log: log.new(slog::o!("task" => "integrations")),
    };
    // The environment's are checked here: a bad one stops the start.
    let probe: crate::integrations::runtime::WatchedSinks = Arc::default();
    for configured in &config.integrations {
        crate::integrations::runtime::destination(&context, configured, &probe)
            .map_err(|e| StartError::Config(format!("integration `{}`: {e}", configured.id)))?;
    }
    tasks.push(crate::integrations::runtime::start(context.clone()));
    Ok(context)
}

/// The migration that gives audit heads their seals.
const SEALS_MIGRATION: i64 = 6;

/// Seals the heads of a store written by an earlier version, before the
/// writer appends to any of them (see `audit::seal`).
async fn seal_earlier_heads(checkpoints: &Checkpointer, log: &slog::Logger) -> Result<(), StartError> {
    let (sealed, failed) = checkpoints
        .seal_earlier_heads()
        .await
        .map_err(|e| StartError::Config(format!("audit seals: {e}")))?;
    if sealed > 0 {
        slog::info!(log, "sealed the audit heads of an earlier version"; "sealed" => sealed);
    }
    for (tenant, failure) in failed {
        let error = crate::audit::checkpointer::AnchorError::Refused { tenant, failure };
        slog::error!(log, "audit log does not verify: its head stays unsealed"; "error" => %error);
    }
    Ok(())
}

/// Starts a gateway: opens and migrates the store, makes sure its keys
/// exist, compiles the policy, starts the background workers and then the
/// HTTP server.
pub async fn start(config: Config, log: slog::Logger) -> Result<Gateway, StartError> {
    let store = Store::open(&StoreConfig {
        database_url: config.database_url.clone(),
        data_dir: config.data_dir.clone(),
        lock_timeout: config.lock_timeout,
        max_connections: config.max_connections.max(2),
    })
    .await?;
    let keys = signing::open(&store, config.key_source()).await?;
    if let Some(warning) = keys.source().exposure() {
        slog::warn!(log, "{warning}");
    }
    check_admin_key(&config)?;

    let token_keys = TokenKeys::new(keys.clone(), store.clone());

    let limits = EvaluationLimits { time: config.policy_time_limit, heap: config.policy_heap_limit };
    crate::policy::apply_memory_limit(limits);
    // The default bundle evaluates on the interpreter at once and moves to
    // the compiled VM once its engines are compared (tens of
    // milliseconds), so the comparison does not hold up readiness.
    let policies =
        PolicyRegistry::new(PolicyEngine::compile_interpreted(Bundle::default_bundle(), limits)?, limits);
    let default = policies.default_engine();
    let vm_log = log.new(slog::o!("task" => "policies"));
    tokio::task::spawn_blocking(move || {
        let kind = default.prepare_vm();
        slog::info!(vm_log, "default bundle engine"; "engine" => ?kind, "why" => default.interpreted_because());
    });

    let tls = config.tls.as_ref().map(ServerTls::load).transpose()?;
    let roots = OutboundRoots::load(config.ca_file.as_deref())?;
    let events = Events::new();
    let mut tasks = Vec::new();
    if let Some(url) = config.database_url.as_ref().filter(|_| store.backend() == Backend::Postgres) {
        tasks.push(events.listen(url.clone(), log.new(slog::o!("task" => "events"))));
    }
    // Follow promotions from now on, then load what is active.
    let policy_log = log.new(slog::o!("task" => "policies"));
    tasks.push(policies.start(store.clone(), &events, config.policy_poll_interval, policy_log.clone()));
    policies
        .reload_all(&store, &policy_log)
        .await
        .map_err(|e| StartError::Config(format!("policies: {e}")))?;
    let revocations = RevocationCache::new(store.clone(), &events, config.revocation_cache_ttl);
    let (rate_limits, rate_limit_task) = RateLimiter::start(store.clone(), revocations.clone(), &events);
    let checkpoints = Checkpointer::load(store.clone(), keys.clone(), config.checkpoints.clone())
        .map_err(|e| StartError::Config(format!("audit checkpoints: {e}")))?;
    if store.migrated_now(SEALS_MIGRATION) {
        seal_earlier_heads(&checkpoints, &log).await?;
    }
    let metrics = Arc::new(Metrics::new(config.metrics_max_tenants));
    let (writer, writer_task) = AuditWriter::start(
        store.clone(),
        keys.clone(),
        events.clone(),
        config.commit_max_batch,
        (Arc::clone(&metrics), log.new(slog::o!("task" => "writer"))),
    );
    let settings = PipelineSettings::from(&config);
    let pipeline = Pipeline::new(store.clone(), policies.clone(), writer, revocations, &events, settings);
    let catalog = Catalog::new(
        store.clone(),
        &config.upstreams,
        config.upstream_timeout,
        config.tools_ttl,
        (&events, config.cache_ttl),
        roots.clone(),
        log.new(slog::o!("task" => "catalog")),
    )
    .map_err(|e| StartError::Config(e.to_string()))?;
    let (webhooks, webhook_task) = Webhooks::start(
        store.clone(),
        (config.webhooks.clone(), &roots),
        log.new(slog::o!("task" => "webhooks")),
    )
    .map_err(|e| StartError::Config(format!("webhook client: {e}")))?;
    let (pending, pending_task) = PendingIntents::start(
        store.clone(),
        pipeline.clone(),
        webhooks,
        config.pending,
        log.new(slog::o!("task" => "pending")),
    );

    let integrations = start_integrations(
        &config,
        (&store, &keys, &events),
        (&roots, &metrics, &checkpoints),
        &log,
        &mut tasks,
    )?;
    tasks.push(checkpoints.start(log.new(slog::o!("task" => "checkpoints"))));
    tasks.push(catch_up_trees(
        store.clone(),
        pipeline.writer().clone(),
        log.new(slog::o!("task" => "trees")),
    ));

    let degraded = Arc::new(Degraded::new(store.clone()));
    if !config.oidc_providers.is_empty() && config.public_url.is_none() {
        return Err(StartError::Config(
            "identity providers (LICTOR_OIDC_<NAME>) need the gateway's public URL (--public-url, LICTOR_PUBLIC_URL): \
             providers send browsers back to it"
                .into(),
        ));
    }
    let operators = {
        let http = roots
            .client_builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| StartError::Config(format!("identity provider client: {e}")))?;
        let providers = crate::operators::oidc::Providers::new(config.oidc_providers.clone(), &http);
        crate::operators::Operators::new(store.clone(), (providers, http), keys.clone(), config.session_idle)
    };
    let secure = config.public_url.as_deref().is_some_and(|url| url.starts_with("https://"));
    let session_cookie = crate::operators::sessions::cookie_name(secure);
    let state = GatewayState {
        checkpoints,
        degraded: degraded.clone(),
        auth: Authenticator::new(
            store.clone(),
            token_keys.clone(),
            config.admin_key.as_deref(),
            degraded,
            &events,
            config.cache_ttl,
            (operators, session_cookie),
        ),
        rate_limits,
        token_keys,
        catalog: Arc::new(catalog),
        mcp_sessions: McpSessions::new(store.clone(), config.cache_ttl),
        events,
        store: store.clone(),
        pipeline,
        policies,
        pending,
        config: config.clone(),
        metrics,
        draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        keys: keys.clone(),
        integrations: integrations.clone(),
    };
    let holder = integrations.holder.clone();
    let metrics_listener = match config.metrics_listen {
        Some(address) => {
            let listener =
                metrics_listener::start(address, state.clone(), log.new(slog::o!("task" => "metrics")))
                    .await
                    .map_err(|error| StartError::Bind { address, error })?;
            let guarded = if config.metrics_token.is_some() { "the metrics token" } else { "nothing" };
            slog::info!(log, "metrics listening"; "address" => %listener.address, "guarded_by" => guarded);
            tasks.push(listener.task);
            Some(listener.address)
        }
        None => None,
    };
    let api = lictor_api::lictor_api_mod::api_description::<LictorImpl>()
        .map_err(|e| StartError::Http(e.to_string()))?;
    let server = dropshot::ServerBuilder::new(api, state, log.clone())
        .tls(tls.as_ref().map(|tls| dropshot::ConfigTls::Dynamic(tls.config())))
        .config(ConfigDropshot {
            bind_address: config.listen,
            default_request_body_max_bytes: config.max_body_bytes,
            // A decision already handed to the writer is committed even if
            // the client goes away; the handler runs to completion.
            default_handler_task_mode: HandlerTaskMode::Detached,
            ..ConfigDropshot::default()
        })
        .start()
        .map_err(|e| match e {
            dropshot::BuildError::BindError { address, error } => StartError::Bind { address, error },
            other => StartError::Http(other.to_string()),
        })?;
    tasks.extend([writer_task, webhook_task, pending_task, rate_limit_task]);
    if let Some(tls) = tls {
        slog::info!(log, "serving TLS"; "sha256" => tls.fingerprint(),
            "client_certificates" => config.tls.as_ref().is_some_and(|t| t.client_ca.is_some()));
        tasks.push(tls.watch(log.new(slog::o!("task" => "tls"))));
    }
    let admin_key = match ensure_admin_key(&store, &config).await {
        Ok(admin_key) => admin_key,
        Err(error) => {
            let _ = Gateway {
                server,
                tasks,
                admin_key: AdminKey::Stored,
                keys,
                store,
                log: log.clone(),
                metrics_addr: metrics_listener,
                holder,
            }
            .stop()
            .await;
            return Err(error);
        }
    };
    slog::info!(log, "lictor listening"; "address" => %server.local_addr(), "store" => ?store.backend());
    Ok(Gateway { server, tasks, admin_key, keys, store, log, metrics_addr: metrics_listener, holder })
}

impl Gateway {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.server.using_tls() { "https" } else { "http" }
    }

    /// The address of the `--metrics-listen` listener, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The superadmin key generated on this start (first start only).
    pub fn generated_admin_key(&self) -> Option<&str> {
        match &self.admin_key {
            AdminKey::Generated(key) => Some(key),
            AdminKey::Configured | AdminKey::Stored => None,
        }
    }

    /// Where the superadmin key comes from.
    pub fn admin_key(&self) -> &AdminKey {
        &self.admin_key
    }

    /// The signing keys in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Resolves when the HTTP server stops on its own.
    pub async fn wait_for_stop(&self) -> Result<(), String> {
        self.server.wait_for_shutdown().await
    }

    /// Stops accepting requests, lets running ones finish, stops the workers.
    pub async fn stop(self) -> Result<(), String> {
        self.shutdown(Duration::ZERO, Duration::from_secs(365 * 24 * 3600)).await
    }

    /// The graceful stop of a SIGTERM: `/readyz` answers `503 draining`
    /// at once while requests are still served for `drain` (the time a
    /// load balancer takes to notice); then the listener closes, requests
    /// in flight finish and their audit writes (and tool results queued
    /// after their answers) are committed, and the workers stop. Past
    /// `limit` from the close, it stops waiting for requests (an error:
    /// those were never answered) and still commits what was queued.
    pub async fn shutdown(self, drain: Duration, limit: Duration) -> Result<(), String> {
        let state = self.server.app_private();
        state.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        state.events.publish(crate::events::Event::Draining);
        if !drain.is_zero() {
            slog::info!(self.log, "draining: readiness is false"; "seconds" => drain.as_secs_f64());
            tokio::time::sleep(drain).await;
        }
        let Gateway { server, tasks, store, log, holder, .. } = self;
        let caches = server.app_private().caches();
        slog::info!(log, "request-path caches";
            "api_keys_hit_rate" => caches.api_keys.hit_rate(), "api_keys_lookups" => caches.api_keys.lookups(),
            "agents_hit_rate" => caches.agents.hit_rate(), "agents_lookups" => caches.agents.lookups(),
            "revocations_hit_rate" => caches.revocations.hit_rate(),
            "revocations_lookups" => caches.revocations.lookups(),
            "upstreams_hit_rate" => caches.upstreams.hit_rate(), "upstreams_lookups" => caches.upstreams.lookups(),
            "mcp_sessions_hit_rate" => caches.mcp_sessions.hit_rate(),
            "mcp_sessions_lookups" => caches.mcp_sessions.lookups());
        let writer = server.app_private().pipeline.writer().clone();
        let deadline = tokio::time::Instant::now() + limit;
        let result = match tokio::time::timeout_at(deadline, server.close()).await {
            Ok(result) => result,
            Err(_) => {
                Err(format!("requests were still running {} s after the listener closed", limit.as_secs()))
            }
        };
        // Tool results queued after their calls were answered are committed
        // before the writer stops (given a moment even past the limit).
        let flush_by = deadline.max(tokio::time::Instant::now() + Duration::from_secs(5));
        if tokio::time::timeout_at(flush_by, writer.settled()).await.is_err() {
            slog::error!(log, "the audit writer did not settle before the shutdown limit");
        }
        for task in &tasks {
            task.abort();
        }
        // Another gateway takes the integrations over at once, not once
        // the leases expire.
        if let Err(error) = store.release_sink_leases_of(&holder).await {
            slog::warn!(log, "cannot release the integrations' leases"; "error" => %error);
        }
        store.close().await;
        result
    }
}
