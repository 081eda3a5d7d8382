//! Change events between gateways.
//!
//! Anything other gateways cache or wait on — revocations, agent changes,
//! approval decisions, policy promotions — is announced here. Inside a store transaction the
//! event is queued with `pg_notify` on PostgreSQL, so every gateway sharing
//! the database (this one included) hears it exactly when the change
//! commits; after the commit it is also published in-process, which is all
//! a single SQLite gateway needs. A listener that loses its connection
//! announces [`Event::Resync`] so caches drop everything they hold.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use lictor_api::ids::{AgentId, ApprovalId, TenantId};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::store::{Backend, StoreError, StoreResult, StoreTx};

/// The PostgreSQL channel events travel on.
pub(crate) const CHANNEL: &str = "lictor_events";

/// A change other gateways may care about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A jti of the tenant was revoked.
    Revocation {
        /// The tenant.
        tenant: TenantId,
    },
    /// An agent changed (status, budget).
    Agent {
        /// The tenant.
        tenant: TenantId,
        /// The agent.
        agent: AgentId,
    },
    /// An approval was decided.
    Approval {
        /// The tenant.
        tenant: TenantId,
        /// The approval.
        id: ApprovalId,
    },
    /// A tenant's active policy changed (promotion or rollback).
    Policy {
        /// The tenant.
        tenant: TenantId,
    },
    /// A tenant's settings changed (its rate limits).
    Tenant {
        /// The tenant.
        tenant: TenantId,
    },
    /// An integration of the tenant was added, changed or removed.
    Integration {
        /// The tenant.
        tenant: TenantId,
    },
    /// An API key of the tenant was revoked.
    ApiKey {
        /// The tenant.
        tenant: TenantId,
    },
    /// An upstream of the tenant was created or deleted.
    Upstream {
        /// The tenant.
        tenant: TenantId,
    },
    /// Events may have been missed: drop every cache.
    Resync,
    /// This gateway is shutting down: long polls answer now (published
    /// in this process only).
    Draining,
}

/// The event bus of one gateway.
#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<Event>,
    /// Called with every event, in the publishing task, before it is
    /// broadcast (see [`Events::on_change`]).
    hooks: Arc<RwLock<Vec<Hook>>>,
}

type Hook = Arc<dyn Fn(&Event) + Send + Sync>;

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hooks = self.hooks.read().map(|h| h.len()).unwrap_or(0);
        f.debug_struct("Events")
            .field("receivers", &self.sender.receiver_count())
            .field("hooks", &hooks)
            .finish()
    }
}

impl Default for Events {
    fn default() -> Events {
        Events::new()
    }
}

impl Events {
    /// A bus with no listener attached yet.
    pub fn new() -> Events {
        let (sender, _) = broadcast::channel(1024);
        Events { sender, hooks: Arc::new(RwLock::new(Vec::new())) }
    }

    /// Calls `hook` with every event from now on, synchronously: in the
    /// writer right after the change commits and before the call that made
    /// it is answered, and in the listener as a notification arrives. For
    /// caches that must never serve what a change made stale on the
    /// gateway that made it; `hook` must be quick and must not block.
    pub fn on_change(&self, hook: impl Fn(&Event) + Send + Sync + 'static) {
        if let Ok(mut hooks) = self.hooks.write() {
            hooks.push(Arc::new(hook));
        }
    }

    fn dispatch(&self, event: Event) {
        if let Ok(hooks) = self.hooks.read() {
            hooks.iter().for_each(|hook| hook(&event));
        }
        // No receiver is fine: nobody caches or waits yet.
        let _ = self.sender.send(event);
    }

    /// Receives every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Publishes in this process (after the change committed).
    pub fn publish(&self, event: Event) {
        self.dispatch(event);
    }

    /// Queues `event` for every gateway on the database, delivered when
    /// `tx` commits (PostgreSQL; a no-op on SQLite, where the writer's own
    /// [`Events::publish`] reaches the only process).
    pub async fn notify_in(tx: &mut StoreTx, event: &Event) -> StoreResult<()> {
        if tx.backend() == Backend::Postgres {
            let payload = serde_json::to_string(event)
                .map_err(|e| StoreError::Database(format!("encoding a change notification: {e}").into()))?;
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(tx.conn()).await?;
        }
        Ok(())
    }

    /// On PostgreSQL, listens for other gateways' events and republishes
    /// them here; reconnects with backoff and announces a resync after
    /// every reconnection.
    pub fn listen(&self, database_url: String, log: slog::Logger) -> tokio::task::JoinHandle<()> {
        let events = self.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(100);
            loop {
                match listen_once(&database_url, &events, &log).await {
                    Ok(()) => delay = Duration::from_millis(100),
                    Err(error) => {
                        slog::warn!(log, "event listener lost its connection; reconnecting"; "error" => %error);
                    }
                }
                events.dispatch(Event::Resync);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        })
    }
}

async fn listen_once(url: &str, events: &Events, log: &slog::Logger) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    // Anything that happened while we were not listening is unknown.
    events.dispatch(Event::Resync);
    loop {
        let notification = listener.recv().await?;
        events.dispatch(decode(notification.payload(), log));
    }
}

/// The event a notification carries. One this gateway cannot read (say,
/// from a newer replica) still means something changed: it becomes
/// [`Event::Resync`], so everything cached is reloaded rather than the
/// change missed, and it is logged.
fn decode(payload: &str, log: &slog::Logger) -> Event {
    match serde_json::from_str::<Event>(payload) {
        Ok(event) => event,
        Err(error) => {
            slog::warn!(log, "unreadable change notification; resynchronising";
                "error" => %error, "payload" => payload);
            Event::Resync
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_notification_resynchronises() {
        let log = slog::Logger::root(slog::Discard, slog::o!());
        assert_eq!(
            decode(r#"{"kind":"revocation","tenant":"acme"}"#, &log),
            Event::Revocation { tenant: TenantId::parse("acme").unwrap() }
        );
        assert_eq!(decode(r#"{"kind":"from_the_future"}"#, &log), Event::Resync);
        assert_eq!(decode("", &log), Event::Resync);
    }

    #[test]
    fn events_round_trip_as_json() {
        let event = Event::Revocation { tenant: TenantId::parse("acme").unwrap() };
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(text, r#"{"kind":"revocation","tenant":"acme"}"#);
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
    }
}
