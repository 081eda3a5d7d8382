//! The sender of one sink: the outbox loop.
//!
//! 1. **Lease.** One gateway sends for a sink at a time: the one holding
//!    its lease in the store (`sink_leases`), renewed every third of its
//!    lifetime. A gateway that dies stops renewing; another takes the lease
//!    over once it expired. A cursor only moves under a lease still held
//!    ([`Store::advance_sink_cursor`]), so a paused holder that lost its
//!    lease cannot move it.
//! 2. **Read.** For each tenant with entries or checkpoints past the sink's
//!    cursor, the next entries in `seq` order, each checkpoint right after
//!    the entry that ends it (a checkpoint signed after its entries were
//!    delivered comes first in the next batch), cut to the destination's
//!    batch limits.
//! 3. **Deliver.** Acknowledged: the cursor moves past the batch. Refused
//!    for a while (timeout, 408, 429, 5xx, authentication, a wrong URL): the
//!    cursor stays; the sender waits — `Retry-After` when the destination
//!    gives one, else exponential backoff with full jitter — and reads
//!    again from the cursor. Refused for good (400, 413, 422…): the batch
//!    is halved until the refused event is alone; that one is recorded as a
//!    dead letter and passed, the others delivered.
//! 4. **Redrive.** Dead letters an operator marked are sent again, alone:
//!    delivered, they are gone; refused again, they stay.
//!
//! Nothing here holds a decision up: the sender only reads what the
//! writer committed.

use std::sync::Arc;
use std::time::Duration;

use lictor_api::ids::TenantId;
use tokio::task::JoinHandle;

use super::{CheckpointEvent, Destination, Outgoing, Refusal, Rendered, SinkEvent};
use crate::clock::Timestamp;
use crate::metrics::Metrics;
use crate::store::{CheckpointRow, DeadLetterRow, SinkCursor, SinkStatusRow, Store, StoreError};

/// Timing of every sender.
#[derive(Clone, Copy, Debug)]
pub struct SinkTuning {
    /// How long a lease lasts without renewal: the longest a dead
    /// holder's sinks wait for another gateway.
    pub lease: Duration,
    /// How often a caught-up sender looks for new entries.
    pub poll: Duration,
    /// The first retry's delay; doubled each time.
    pub backoff_base: Duration,
    /// The longest delay between retries.
    pub backoff_max: Duration,
}

impl Default for SinkTuning {
    fn default() -> SinkTuning {
        SinkTuning {
            lease: Duration::from_secs(15),
            poll: Duration::from_secs(1),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// How often the lag is measured (a query over every tenant's head).
const LAG_EVERY: Duration = Duration::from_secs(5);

/// What a sender sends for: a sink's (or channel's) id, the one tenant it
/// serves (`None`: every tenant), and its lag limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `env:<name>` or `itg_…`: the key of its lease and cursors.
    pub id: String,
    /// The one tenant it serves.
    pub tenant: Option<TenantId>,
    /// Seconds of lag before it counts as lagging.
    pub max_lag_seconds: u64,
}

/// The sender of one sink.
pub struct SinkSender {
    sink: Target,
    destination: Box<dyn Destination>,
    store: Store,
    holder: String,
    tuning: SinkTuning,
    metrics: Arc<Metrics>,
    log: slog::Logger,
}

/// Why a round ended before the sink was caught up.
enum Stop {
    /// The destination asked for a pause.
    Retry(Refusal),
    /// The lease is no longer held.
    LeaseLost,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Stop {
        Stop::Store(error)
    }
}

/// An event ready to send, with where the cursor stands once it is
/// acknowledged.
struct Pending {
    rendered: Rendered,
    after: SinkCursor,
    seq: u64,
    // The time of the last entry at or before this event.
    anchor: Timestamp,
}

/// A batch read for a tenant: its events, where it starts, and whether
/// more waits behind it.
struct Read {
    pending: Vec<Pending>,
    from: SinkCursor,
    anchor: Timestamp,
    more: bool,
}

impl SinkSender {
    /// A sender of `sink` to `destination`, as `holder` (unique per
    /// gateway process).
    pub fn new(
        (sink, destination): (Target, Box<dyn Destination>),
        store: Store,
        holder: String,
        tuning: SinkTuning,
        (metrics, log): (Arc<Metrics>, slog::Logger),
    ) -> SinkSender {
        SinkSender { sink, destination, store, holder, tuning, metrics, log }
    }

    /// Runs until aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let mut lease = Lease { until: None, lag_measured: None, lagging: false };
        let mut failures = 0u32;
        loop {
            if !self.renew(&mut lease).await {
                tokio::time::sleep(self.tuning.poll.max(self.tuning.lease / 3)).await;
                continue;
            }
            self.watch_lag(&mut lease).await;
            match self.round(&mut lease).await {
                Ok(caught_up) => {
                    failures = 0;
                    if caught_up {
                        tokio::time::sleep(self.tuning.poll).await;
                    }
                }
                Err(Stop::LeaseLost) => {
                    slog::info!(self.log, "lease lost: another gateway sends for this sink now");
                    self.lost(&mut lease);
                }
                Err(Stop::Retry(refusal)) => {
                    failures = failures.saturating_add(1);
                    let wait = self.backoff(failures, &refusal);
                    slog::warn!(self.log, "delivery failed, trying again later";
                        "error" => %refusal, "attempt" => failures, "retry_in_seconds" => wait.as_secs_f64());
                    self.metrics.sink_failed(&self.sink.id, "retry");
                    self.pause(wait, &mut lease).await;
                }
                Err(Stop::Store(error)) => {
                    failures = failures.saturating_add(1);
                    slog::warn!(self.log, "reading or recording delivery failed"; "error" => %error);
                    self.pause(self.backoff(failures, &Refusal::transport("")), &mut lease).await;
                }
            }
        }
    }

    /// Delay before attempt `failures + 1`: what the destination asked
    /// for, if it did (capped); else full jitter over an exponential
    /// ceiling.
    fn backoff(&self, failures: u32, refusal: &Refusal) -> Duration {
        backoff(&self.tuning, failures, refusal)
    }

    /// Sleeps `wait`, renewing the lease meanwhile.
    async fn pause(&self, wait: Duration, lease: &mut Lease) {
        let end = tokio::time::Instant::now() + wait;
        loop {
            let now = tokio::time::Instant::now();
            if now >= end {
                return;
            }
            tokio::time::sleep((end - now).min(self.tuning.lease / 3)).await;
            if lease.until.is_some() && !self.renew(lease).await {
                return;
            }
            // An outage is when the lag matters most.
            self.watch_lag(lease).await;
        }
    }

    /// Measures the lag every [`LAG_EVERY`] while the lease is held.
    async fn watch_lag(&self, lease: &mut Lease) {
        if lease.until.is_some() && lease.lag_measured.is_none_or(|at| at.elapsed() >= LAG_EVERY) {
            lease.lag_measured = Some(tokio::time::Instant::now());
            lease.lagging = self.measure_lag(lease.lagging).await;
        }
    }

    /// The lease is gone: the lag is the new holder's to report.
    fn lost(&self, lease: &mut Lease) {
        lease.until = None;
        lease.lag_measured = None;
        lease.lagging = false;
        self.metrics.sink_lease(&self.sink.id, false);
        self.metrics.sink_lag(&self.sink.id, 0, 0.0, false);
    }

    /// Takes or renews the lease when a third of it has passed: whether
    /// it is held.
    async fn renew(&self, lease: &mut Lease) -> bool {
        let now = Timestamp::now();
        if let Some(until) = lease.until
            && until.micros_since(now) > i64::try_from((self.tuning.lease * 2 / 3).as_micros()).unwrap_or(0)
        {
            return true;
        }
        let until = now + self.tuning.lease;
        match self.store.acquire_sink_lease(&self.sink.id, &self.holder, now, until).await {
            Ok(true) => {
                if lease.until.is_none() {
                    slog::info!(self.log, "sending for this sink"; "holder" => &self.holder);
                    self.metrics.sink_lease(&self.sink.id, true);
                }
                lease.until = Some(until);
                true
            }
            Ok(false) => {
                if lease.until.is_some() {
                    slog::info!(self.log, "lease taken over by another gateway");
                    self.lost(lease);
                }
                self.metrics.sink_lease(&self.sink.id, false);
                false
            }
            Err(error) => {
                slog::warn!(self.log, "cannot renew the sink's lease"; "error" => %error);
                // Still held until it expires; past that, not.
                let held = lease.until.is_some_and(|until| until > now);
                if !held && lease.until.is_some() {
                    self.lost(lease);
                }
                held
            }
        }
    }

    /// Delivers redriven dead letters, then one batch per tenant with a
    /// backlog: `Ok(true)` when nothing was left to send.
    async fn round(&self, lease: &mut Lease) -> Result<bool, Stop> {
        self.redrive(lease).await?;
        // Work of its own between batches (a channel's summaries and
        // conditions), under the lease.
        if let Err(refusal) = self.destination.idle().await {
            return Err(Stop::Retry(refusal));
        }
        let backlog = self.store.sink_backlog(&self.sink.id, self.sink.tenant.as_ref()).await?;
        if backlog.is_empty() {
            return Ok(true);
        }
        let mut caught_up = true;
        for tenant in backlog {
            let read = self.batch(&tenant).await?;
            caught_up &= !read.more;
            self.send(&tenant.tenant, read, lease).await?;
        }
        Ok(caught_up)
    }

    /// The next batch of `backlog`'s tenant, within the destination's
    /// limits, and whether more is waiting behind it.
    async fn batch(&self, backlog: &SinkStatusRow) -> Result<Read, Stop> {
        let limits = self.destination.limits();
        let limit = u32::try_from(limits.events.max(1)).unwrap_or(u32::MAX - 1);
        let tenant = &backlog.tenant;
        // From the entry at the cursor: its time anchors the batch.
        let mut entries =
            self.store.audit_entries_after(tenant, backlog.cursor.seq.saturating_sub(1), limit + 1).await?;
        let mut anchor = None;
        if backlog.cursor.seq > 0
            && entries.first().is_some_and(|row| row_seq(row) == Some(backlog.cursor.seq))
        {
            anchor = match entries.remove(0) {
                Ok(row) => Some(Timestamp::from_micros(row.record.ts)),
                Err(_) => Some(Timestamp::EPOCH),
            };
        }
        let last_seq = entries
            .iter()
            .filter_map(|row| match row {
                Ok(row) => Some(row.record.seq),
                Err(bad) => bad.seq,
            })
            .max()
            .unwrap_or(backlog.cursor.seq);
        let checkpoints: Vec<CheckpointRow> = self
            .store
            .checkpoints_after(tenant, backlog.cursor.checkpoint_size, limit)
            .await?
            .into_iter()
            .filter(|c| c.tree_size <= last_seq)
            .collect();
        let mut cursor = backlog.cursor;
        let mut batch = Batch {
            pending: Vec::new(),
            bytes: 0,
            full: false,
            limits,
            anchor: anchor.unwrap_or(Timestamp::EPOCH),
        };
        let first_anchor = match (anchor, entries.first()) {
            (Some(anchor), _) => anchor,
            (None, Some(Ok(row))) => Timestamp::from_micros(row.record.ts),
            (None, _) => Timestamp::EPOCH,
        };
        batch.anchor = first_anchor;
        let mut checkpoints = checkpoints.into_iter().peekable();
        'entries: for row in entries {
            let seq = match &row {
                Ok(row) => row.record.seq,
                Err(bad) => match bad.seq {
                    Some(seq) => seq,
                    // Without even a `seq`, the rest of the page cannot be
                    // placed: stop here and report it.
                    None => return Err(Stop::Store(StoreError::Corrupt(bad.message.clone().into()))),
                },
            };
            while let Some(checkpoint) = checkpoints.next_if(|c| c.tree_size < seq) {
                cursor.checkpoint_size = checkpoint.tree_size;
                if !batch.push(checkpoint_event(&checkpoint), cursor, checkpoint.tree_size) {
                    break 'entries;
                }
            }
            match row {
                Ok(row) => {
                    let time = Timestamp::from_micros(row.record.ts);
                    let rendered = Rendered::new(SinkEvent::Entry {
                        id: row.record.entry_id.to_string(),
                        tenant: tenant.clone(),
                        seq,
                        entry: Box::new(row.record.to_entry(row.hash)),
                    });
                    if !batch.push_entry(rendered, SinkCursor { seq, ..cursor }, seq, time) {
                        break;
                    }
                }
                Err(bad) => {
                    // A damaged entry cannot be rendered: it is set aside
                    // as a dead letter (verification reports it too).
                    self.dead_letter(tenant, seq, format!("{tenant}/entry/{seq}"), (None, &bad.message))
                        .await?;
                }
            }
            cursor.seq = seq;
        }
        if !batch.full {
            for checkpoint in checkpoints {
                cursor.checkpoint_size = checkpoint.tree_size;
                if !batch.push(checkpoint_event(&checkpoint), cursor, checkpoint.tree_size) {
                    break;
                }
            }
        }
        let pending = batch.pending;
        let more = batch.full || pending.last().is_some_and(|p| p.after.seq < backlog.head);
        // Entries passed as dead letters still move the cursor.
        if pending.is_empty() && cursor != backlog.cursor {
            self.advance(tenant, cursor, 0).await?;
        }
        Ok(Read { pending, from: backlog.cursor, anchor: first_anchor, more })
    }

    /// Delivers `batch`, narrowing a refused one down to the event the
    /// destination refuses.
    async fn send(&self, tenant: &TenantId, read: Read, lease: &mut Lease) -> Result<(), Stop> {
        let batch = read.pending;
        let mut ranges = vec![(0, batch.len())];
        while let Some((from, to)) = ranges.pop() {
            if from == to {
                continue;
            }
            if !self.renew(lease).await {
                return Err(Stop::LeaseLost);
            }
            let events: Vec<Rendered> = batch[from..to].iter().map(|p| p.rendered.clone()).collect();
            let (start, anchor) = match from.checked_sub(1) {
                Some(before) => (batch[before].after, batch[before].anchor),
                None => (read.from, read.anchor),
            };
            let outgoing = Outgoing { tenant, events: &events, from: start, anchor };
            match self.deliver_leased(&outgoing, lease).await {
                Ok(()) => {
                    self.advance(tenant, batch[to - 1].after, to - from).await?;
                    self.metrics.sink_delivered(&self.sink.id, to - from);
                }
                Err(refusal @ Refusal::Retry { .. }) => {
                    self.failed(tenant, &refusal).await;
                    return Err(Stop::Retry(refusal));
                }
                Err(Refusal::Reject { status, message }) => {
                    self.metrics.sink_failed(&self.sink.id, "rejected");
                    if to - from > 1 {
                        let middle = from + (to - from) / 2;
                        ranges.push((middle, to));
                        ranges.push((from, middle));
                        continue;
                    }
                    let refused = &batch[from];
                    slog::error!(self.log, "the destination refused an event for good: set aside as a dead letter";
                        "tenant" => %tenant, "event" => refused.rendered.event.id(), "error" => &message);
                    let id = refused.rendered.event.id().to_string();
                    self.dead_letter(tenant, refused.seq, id, (status, &message)).await?;
                    self.advance(tenant, refused.after, 0).await?;
                }
            }
        }
        Ok(())
    }

    /// Delivers `outgoing` while the lease is held: renewed as the delivery
    /// goes on, and the delivery abandoned (its request dropped) well
    /// before the lease could expire, so that no answer of this gateway
    /// lands after another one took the sink over (an S3 object written
    /// late could replace a newer one).
    async fn deliver_leased(&self, outgoing: &Outgoing<'_>, lease: &mut Lease) -> Result<(), Refusal> {
        let delivery = self.destination.deliver(outgoing);
        tokio::pin!(delivery);
        let margin = i64::try_from((self.tuning.lease / 3).as_micros()).unwrap_or(i64::MAX);
        loop {
            tokio::select! {
                result = &mut delivery => return result,
                () = tokio::time::sleep(self.tuning.lease / 6) => {
                    let held = self.renew(lease).await;
                    let left = lease.until.map_or(0, |until| until.micros_since(Timestamp::now()));
                    if !held || left < margin {
                        return Err(Refusal::transport(
                            "the destination had not answered when this gateway's lease was about to end: sent again later",
                        ));
                    }
                }
            }
        }
    }

    /// Sends the dead letters an operator marked, each alone.
    async fn redrive(&self, lease: &mut Lease) -> Result<(), Stop> {
        for (tenant, seq, id) in self.store.redriven_dead_letters(&self.sink.id, 100).await? {
            if !self.renew(lease).await {
                return Err(Stop::LeaseLost);
            }
            let event = if id.contains("/checkpoint/") {
                self.store.get_checkpoint(&tenant, seq).await?.map(|c| checkpoint_event(&c))
            } else {
                match self.store.audit_entries_between(&tenant, seq - 1, seq, 1).await?.pop() {
                    Some(Ok(row)) => Some(Rendered::new(SinkEvent::Entry {
                        id: row.record.entry_id.to_string(),
                        tenant: tenant.clone(),
                        seq,
                        entry: Box::new(row.record.to_entry(row.hash)),
                    })),
                    Some(Err(bad)) => {
                        let now = Timestamp::now();
                        self.store
                            .settle_dead_letter(
                                &self.sink.id,
                                (&tenant, &id),
                                Some((None, &bad.message)),
                                now,
                            )
                            .await?;
                        continue;
                    }
                    None => None,
                }
            };
            let Some(event) = event else {
                let now = Timestamp::now();
                let gone = Some((None, "the event is no longer in the store"));
                self.store.settle_dead_letter(&self.sink.id, (&tenant, &id), gone, now).await?;
                continue;
            };
            let outgoing = Outgoing {
                tenant: &tenant,
                events: std::slice::from_ref(&event),
                // A redriven letter is named apart from the batches.
                from: SinkCursor { seq: seq.saturating_sub(1), checkpoint_size: u64::MAX },
                anchor: event.event.time(),
            };
            match self.deliver_leased(&outgoing, lease).await {
                Ok(()) => {
                    self.store
                        .settle_dead_letter(&self.sink.id, (&tenant, &id), None, Timestamp::now())
                        .await?;
                    self.metrics.sink_delivered(&self.sink.id, 1);
                    slog::info!(self.log, "redriven dead letter delivered"; "tenant" => %tenant, "event" => &id);
                }
                Err(refusal @ Refusal::Retry { .. }) => {
                    self.failed(&tenant, &refusal).await;
                    return Err(Stop::Retry(refusal));
                }
                Err(Refusal::Reject { status, message }) => {
                    self.metrics.sink_failed(&self.sink.id, "rejected");
                    let now = Timestamp::now();
                    self.store
                        .settle_dead_letter(&self.sink.id, (&tenant, &id), Some((status, &message)), now)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn advance(&self, tenant: &TenantId, cursor: SinkCursor, delivered: usize) -> Result<(), Stop> {
        let moved = self
            .store
            .advance_sink_cursor(
                (&self.sink.id, &self.holder),
                tenant,
                (cursor, delivered as u64),
                Timestamp::now(),
            )
            .await?;
        if moved { Ok(()) } else { Err(Stop::LeaseLost) }
    }

    async fn dead_letter(
        &self,
        tenant: &TenantId,
        seq: u64,
        entry_id: String,
        (status, message): (Option<u16>, &str),
    ) -> Result<(), Stop> {
        self.metrics.sink_failed(&self.sink.id, "dead_letter");
        let now = Timestamp::now();
        self.store
            .add_sink_dead_letter(&DeadLetterRow {
                sink: self.sink.id.clone(),
                tenant: tenant.clone(),
                seq,
                entry_id,
                status,
                error: message.to_string(),
                created_at: now,
                redriven_at: None,
            })
            .await?;
        self.store.record_sink_failure(&self.sink.id, tenant, message, now).await?;
        Ok(())
    }

    /// Records a failed attempt for the health endpoint (best effort: the
    /// store may be what failed).
    async fn failed(&self, tenant: &TenantId, refusal: &Refusal) {
        let message = refusal.to_string();
        if let Err(error) =
            self.store.record_sink_failure(&self.sink.id, tenant, &message, Timestamp::now()).await
        {
            slog::debug!(self.log, "cannot record a delivery failure"; "error" => %error);
        }
    }

    /// Measures the lag for the metrics and says (once per change) when it
    /// crosses the sink's limit: answers whether it is above.
    async fn measure_lag(&self, was_lagging: bool) -> bool {
        let rows = match self.store.sink_status(&self.sink.id, self.sink.tenant.as_ref()).await {
            Ok(rows) => rows,
            Err(error) => {
                slog::debug!(self.log, "cannot measure the sink's lag"; "error" => %error);
                return was_lagging;
            }
        };
        let now = Timestamp::now();
        let entries: u64 = rows.iter().map(|r| r.head.saturating_sub(r.cursor.seq)).sum();
        let seconds = rows
            .iter()
            .filter_map(|r| r.oldest_pending)
            .map(|t| now.since(t).as_secs_f64())
            .fold(0.0, f64::max);
        let limit = self.sink.max_lag_seconds;
        let lagging = seconds > limit as f64;
        self.metrics.sink_lag(&self.sink.id, entries, seconds, lagging);
        if lagging && !was_lagging {
            slog::error!(self.log, "sink lagging: undelivered audit entries are older than its limit";
                "lag_entries" => entries, "lag_seconds" => seconds, "max_lag_seconds" => limit);
        } else if !lagging && was_lagging {
            slog::info!(self.log, "sink caught up"; "lag_entries" => entries);
        }
        lagging
    }
}

/// Delay before attempt `failures + 1`: what the destination asked for,
/// if it did (up to `backoff_max`); else half an exponential ceiling plus
/// up to as much again at random (spread, yet never an immediate retry).
fn backoff(tuning: &SinkTuning, failures: u32, refusal: &Refusal) -> Duration {
    if let Refusal::Retry { after: Some(after), .. } = refusal {
        return (*after).min(tuning.backoff_max);
    }
    let exponent = failures.saturating_sub(1).min(20);
    let ceiling = tuning.backoff_base.saturating_mul(1 << exponent).min(tuning.backoff_max);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(ceiling_ms / 2 + rand::random_range(0..=ceiling_ms / 2))
}

/// A batch being filled within the destination's limits (at least one
/// event, however large).
struct Batch {
    pending: Vec<Pending>,
    bytes: usize,
    full: bool,
    limits: super::BatchLimits,
    // The time of the last entry added (or of the one before the batch).
    anchor: Timestamp,
}

impl Batch {
    /// Adds a checkpoint: `false` (and full) when it does not fit.
    fn push(&mut self, rendered: Rendered, after: SinkCursor, seq: u64) -> bool {
        if !self.pending.is_empty()
            && (self.pending.len() >= self.limits.events
                || self.bytes + rendered.json.len() > self.limits.bytes)
        {
            self.full = true;
            return false;
        }
        self.bytes += rendered.json.len();
        self.pending.push(Pending { rendered, after, seq, anchor: self.anchor });
        true
    }

    /// Adds an entry written at `time`.
    fn push_entry(&mut self, rendered: Rendered, after: SinkCursor, seq: u64, time: Timestamp) -> bool {
        let anchor = std::mem::replace(&mut self.anchor, time);
        if self.push(rendered, after, seq) {
            true
        } else {
            self.anchor = anchor;
            false
        }
    }
}

fn row_seq(row: &Result<crate::store::AuditRow, crate::store::UndecodableEntry>) -> Option<u64> {
    match row {
        Ok(row) => Some(row.record.seq),
        Err(bad) => bad.seq,
    }
}

/// The lease as this sender last knew it, and the lag it reports while
/// holding it.
struct Lease {
    until: Option<Timestamp>,
    lag_measured: Option<tokio::time::Instant>,
    lagging: bool,
}

fn checkpoint_event(row: &CheckpointRow) -> Rendered {
    Rendered::new(SinkEvent::Checkpoint {
        id: format!("{}/checkpoint/{}", row.tenant, row.tree_size),
        tenant: row.tenant.clone(),
        checkpoint: CheckpointEvent {
            tree_size: row.tree_size,
            root_hash: row.root_hash.clone(),
            key_id: row.key_id.clone(),
            created_at: row.created_at.to_datetime().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            note: row.note.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let tuning = SinkTuning::default();
        let retry = Refusal::transport("down");
        for failures in 1..=12 {
            let ceiling = tuning.backoff_base.saturating_mul(1 << (failures - 1)).min(tuning.backoff_max);
            let wait = backoff(&tuning, failures, &retry);
            assert!(wait >= ceiling / 2 && wait <= ceiling, "{failures}: {wait:?} of {ceiling:?}");
        }
        let asked =
            Refusal::Retry { status: Some(429), message: String::new(), after: Some(Duration::from_secs(7)) };
        assert_eq!(backoff(&tuning, 1, &asked), Duration::from_secs(7));
        let too_long = Refusal::Retry {
            status: Some(503),
            message: String::new(),
            after: Some(Duration::from_secs(86_400)),
        };
        assert_eq!(backoff(&tuning, 1, &too_long), tuning.backoff_max);
    }
}
