//! Runs the integrations: a sender for every enabled sink and channel, the
//! environment's and every tenant's, kept in step with the store.
//!
//! Every gateway runs the same set; each sender sends only while it holds
//! its integration's lease (see `crate::sinks::sender`), so each
//! integration has one sender at work across replicas. A change through
//! the API is announced ([`Event::Integration`]) and picked up at once
//! here and on other replicas; the store is also read every few seconds,
//! the safety net under a missed notification.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lictor_api::ids::TenantId;
use lictor_api::integrations::IntegrationId;
use tokio::task::JoinHandle;

use super::seal::{Binding, SealError};
use super::{Configured, Settings};
use crate::audit::checkpointer::Checkpointer;
use crate::events::{Event, Events};
use crate::metrics::Metrics;
use crate::signing::Keys;
use crate::sinks::{Destination, SinkSender, SinkTuning, Target};
use crate::store::{IntegrationRow, Store};
use crate::tls::OutboundRoots;

/// How often the store is read without an announcement.
const RESCAN: Duration = Duration::from_secs(5);

/// What the runtime needs.
#[derive(Clone)]
pub struct Context {
    /// The store.
    pub store: Store,
    /// The keys (they open the stored secrets).
    pub keys: Keys,
    /// Change announcements.
    pub events: Events,
    /// The environment's integrations.
    pub configured: Vec<Configured>,
    /// The outbound HTTP client of the environment's integrations.
    pub client: reqwest::Client,
    /// The outbound HTTP client of tenants' integrations: public addresses
    /// only, unless private networks are allowed (see [`super::egress`]).
    pub tenant_client: reqwest::Client,
    /// Whether tenants' integrations may send to private networks.
    pub allow_private: bool,
    /// Extra CAs for clients that are not `client`.
    pub roots: OutboundRoots,
    /// Senders' timing.
    pub tuning: SinkTuning,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// This gateway's lease holder name.
    pub holder: String,
    /// The audit checkpointer (channels report logs it refused).
    pub checkpoints: Checkpointer,
    /// Links in alerts point under it.
    pub public_url: Option<String>,
    /// Where the runtime logs.
    pub log: slog::Logger,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("configured", &self.configured.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// A sink the channels watch: its id, the tenant it serves and its lag
/// limit.
pub type WatchedSinks = Arc<RwLock<Vec<Target>>>;

/// A stored integration opened: its settings with secrets, or why not.
pub fn open(keys: &Keys, row: &IntegrationRow) -> Result<Settings, String> {
    let mut settings = Settings::from_public_json(&row.category, &row.settings)
        .map_err(|e| format!("the stored settings do not read: {e}"))?;
    let public = settings.public_json();
    let binding = Binding {
        id: row.id.as_str(),
        tenant: row.tenant.as_str(),
        category: &row.category,
        kind: &row.kind,
        enabled: row.enabled,
        settings: &public,
    };
    let secrets = super::seal::open(&keys.ring(), &binding, &row.sealed).map_err(|e| match e {
        SealError::Tampered => {
            "the stored secrets do not open with these settings: the integration was changed outside the API"
                .to_string()
        }
        other => other.to_string(),
    })?;
    if settings.kind() != row.kind {
        return Err(format!("the stored kind `{}` is not the settings' `{}`", row.kind, settings.kind()));
    }
    settings.set_secrets(&secrets);
    Ok(settings)
}

/// The destination of an integration.
pub fn destination(
    context: &Context,
    configured: &Configured,
    sinks: &WatchedSinks,
) -> Result<Box<dyn Destination>, String> {
    // A tenant's integration sends to public addresses only (unless the
    // operator allows private networks); the environment's are trusted.
    let client = match (&configured.tenant, context.allow_private) {
        (Some(_), false) => {
            for (field, url) in configured.settings.urls() {
                super::egress::check_url(&url).map_err(|e| format!("`{field}`: {e}"))?;
            }
            &context.tenant_client
        }
        _ => &context.client,
    };
    match &configured.settings {
        Settings::Sink(settings) => crate::sinks::destination(settings, client, &context.roots),
        Settings::Channel(settings) => Ok(Box::new(crate::notify::ChannelDestination::new(
            (configured.id.to_string(), configured.tenant.clone(), settings.clone()),
            context.store.clone(),
            client.clone(),
            (context.checkpoints.clone(), Arc::clone(sinks)),
            context.public_url.clone(),
        )?)),
    }
}

fn target(configured: &Configured) -> Target {
    Target {
        id: configured.id.to_string(),
        tenant: configured.tenant.clone(),
        max_lag_seconds: match &configured.settings {
            Settings::Sink(s) => s.max_lag_seconds(),
            Settings::Channel(_) => 300,
        },
    }
}

struct Running {
    fingerprint: String,
    task: JoinHandle<()>,
}

impl Drop for Running {
    // A stopped runtime (the gateway stopping) stops its senders.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the runtime.
pub fn start(context: Context) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = context.events.subscribe();
        let mut running: HashMap<IntegrationId, Running> = HashMap::new();
        let mut reported: HashMap<IntegrationId, String> = HashMap::new();
        let sinks: WatchedSinks = Arc::default();
        loop {
            reconcile(&context, &mut running, &mut reported, &sinks).await;
            let wait = tokio::time::sleep(RESCAN);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    event = events.recv() => match event {
                        Ok(Event::Integration { .. } | Event::Resync)
                        | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            tokio::time::sleep(RESCAN).await;
                            break;
                        }
                    },
                }
            }
        }
    })
}

/// Starts what should run and is not, restarts what changed, stops what
/// is gone or turned off.
async fn reconcile(
    context: &Context,
    running: &mut HashMap<IntegrationId, Running>,
    reported: &mut HashMap<IntegrationId, String>,
    sinks: &WatchedSinks,
) {
    let mut desired: Vec<(Configured, String)> =
        context.configured.iter().map(|c| (c.clone(), "environment".to_string())).collect();
    match context.store.all_integrations().await {
        Ok(rows) => {
            for row in rows.into_iter().filter(|r| r.enabled) {
                let fingerprint = format!("{}:{}", row.updated_at.micros(), row.sealed);
                match open(&context.keys, &row) {
                    Ok(settings) => desired.push((
                        Configured { id: row.id.clone(), settings, tenant: Some(row.tenant.clone()) },
                        fingerprint,
                    )),
                    Err(error) => {
                        if reported.get(&row.id) != Some(&fingerprint) {
                            slog::error!(context.log, "integration not started"; "integration" => %row.id,
                                "tenant" => %row.tenant, "error" => error);
                            reported.insert(row.id.clone(), fingerprint);
                        }
                    }
                }
            }
        }
        Err(error) => {
            // Keep what runs; try again at the next rescan.
            slog::warn!(context.log, "cannot read the integrations"; "error" => %error);
            return;
        }
    }
    let watched: Vec<Target> = desired
        .iter()
        .filter(|(c, _)| matches!(c.settings, Settings::Sink(_)))
        .map(|(c, _)| target(c))
        .collect();
    *sinks.write().unwrap_or_else(std::sync::PoisonError::into_inner) = watched;

    let wanted: std::collections::HashSet<IntegrationId> =
        desired.iter().map(|(c, _)| c.id.clone()).collect();
    let gone: Vec<IntegrationId> = running.keys().filter(|id| !wanted.contains(*id)).cloned().collect();
    for id in gone {
        if running.remove(&id).is_some() {
            slog::info!(context.log, "integration stopped"; "integration" => %id);
            if let Err(error) = context.store.release_sink_lease(id.as_str(), &context.holder).await {
                slog::debug!(context.log, "cannot release a lease"; "error" => %error);
            }
        }
    }
    for (configured, fingerprint) in desired {
        if running.get(&configured.id).is_some_and(|r| r.fingerprint == fingerprint) {
            continue;
        }
        running.remove(&configured.id);
        let log = context.log.new(slog::o!(
            "integration" => configured.id.to_string(),
            "kind" => configured.settings.kind(),
            "tenant" => configured.tenant.as_ref().map_or_else(|| "*".to_string(), TenantId::to_string),
        ));
        let destination = match destination(context, &configured, sinks) {
            Ok(destination) => destination,
            Err(error) => {
                if reported.get(&configured.id) != Some(&fingerprint) {
                    slog::error!(log, "integration not started"; "error" => error);
                    reported.insert(configured.id.clone(), fingerprint);
                }
                continue;
            }
        };
        if matches!(configured.settings, Settings::Channel(_))
            && let Err(error) = context
                .store
                .start_sink_at_heads(
                    configured.id.as_str(),
                    configured.tenant.as_ref(),
                    crate::clock::Timestamp::now(),
                )
                .await
        {
            // Started next time round; alerts never replay the history.
            slog::warn!(log, "cannot start the channel at the logs' heads"; "error" => %error);
            continue;
        }
        reported.remove(&configured.id);
        slog::info!(log, "integration started"; "endpoint" => configured.settings.endpoint());
        let sender = SinkSender::new(
            (target(&configured), destination),
            context.store.clone(),
            context.holder.clone(),
            context.tuning,
            (Arc::clone(&context.metrics), log),
        );
        running.insert(configured.id.clone(), Running { fingerprint, task: sender.spawn() });
    }
}
