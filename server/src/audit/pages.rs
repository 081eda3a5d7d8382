//! Reading a tenant's log in `seq` order a page at a time, with the next
//! pages read (and prepared) while the current one is used: verification
//! and exports keep the database and every core busy instead of taking
//! turns (docs/performance.md).
//!
//! A healthy log numbers its entries 1, 2, 3, … without gaps, so the pages
//! ahead are read by `seq` range, several at once. A range that comes back
//! empty is either the end of the log or a gap of at least a page: it is
//! followed by a read of whatever comes next, so a damaged log reaches its
//! reader exactly as it is stored (its reader reports the gap).

use std::collections::VecDeque;

use lictor_api::ids::TenantId;
use tokio::task::JoinHandle;

use crate::store::{AuditRow, Store, StoreError, StoreResult, UndecodableEntry};

/// Entries per page.
pub(crate) const PAGE: u32 = 1000;

/// One page as read: each entry decoded, or why it does not decode.
pub(crate) type Page = Vec<Result<AuditRow, UndecodableEntry>>;

type Read<T> = JoinHandle<StoreResult<(Result<Option<u64>, String>, T)>>;

/// Pages of a tenant's entries after a given `seq`, each passed through
/// `prepare` (work that needs only the page, such as hashing its entries)
/// on a blocking thread. Dropping it cancels the reads in flight.
pub struct Pages<T> {
    store: Store,
    tenant: TenantId,
    prepare: fn(Page) -> T,
    /// Reads in flight, in `seq` order, each with the `seq` its range
    /// starts after.
    ahead: VecDeque<(u64, Read<T>)>,
    /// The `seq` the last range in flight ends at.
    scheduled: u64,
    /// The last `seq` to read.
    last: u64,
    /// Why no further page can be read.
    stuck: Option<String>,
}

/// Where the page after `page` starts: its last entry's `seq`; `None` for
/// an empty page.
fn last_seq(page: &Page) -> Result<Option<u64>, String> {
    match page.last() {
        None => Ok(None),
        Some(Ok(row)) => Ok(Some(row.record.seq)),
        Some(Err(UndecodableEntry { seq: Some(seq), .. })) => Ok(Some(*seq)),
        Some(Err(UndecodableEntry { seq: None, message })) => {
            Err(format!("the entry ending a page has no readable seq: {message}"))
        }
    }
}

/// Pages read ahead: one per core, so that reading, decoding and preparing
/// pages runs on all of them.
fn depth() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

impl<T: Send + 'static> Pages<T> {
    /// Starts reading the entries with `after < seq <= last`, `PAGE` at
    /// a time.
    pub fn new(
        store: &Store,
        tenant: &TenantId,
        (after, last): (u64, u64),
        prepare: fn(Page) -> T,
    ) -> Pages<T> {
        let mut pages = Pages {
            store: store.clone(),
            tenant: tenant.clone(),
            prepare,
            ahead: VecDeque::new(),
            scheduled: after,
            last,
            stuck: None,
        };
        pages.fill();
        pages
    }

    /// Reads `after < seq <= upto` (at most a page) and prepares it.
    fn read(&self, after: u64, upto: u64) -> Read<T> {
        let (store, tenant, prepare) = (self.store.clone(), self.tenant.clone(), self.prepare);
        tokio::spawn(async move {
            let read = store.audit_entries_between(&tenant, after, upto, PAGE).await?;
            let next = last_seq(&read);
            let prepared = tokio::task::spawn_blocking(move || prepare(read))
                .await
                .map_err(|e| StoreError::Database(format!("preparing an audit page failed: {e}").into()))?;
            Ok((next, prepared))
        })
    }

    /// Schedules ranges until `depth` reads are in flight.
    fn fill(&mut self) {
        while self.ahead.len() < depth() && self.scheduled < self.last {
            let upto = self.scheduled.saturating_add(u64::from(PAGE)).min(self.last);
            self.ahead.push_back((self.scheduled, self.read(self.scheduled, upto)));
            self.scheduled = upto;
        }
    }

    async fn wait(read: Read<T>) -> StoreResult<(Result<Option<u64>, String>, T)> {
        read.await.map_err(|e| StoreError::Database(format!("reading an audit page failed: {e}").into()))?
    }

    /// The next page, in `seq` order; `None` past the end of the log.
    pub async fn next_page(&mut self) -> StoreResult<Option<T>> {
        if let Some(why) = &self.stuck {
            return Err(StoreError::Corrupt(why.clone().into()));
        }
        let Some((after, read)) = self.ahead.pop_front() else { return Ok(None) };
        let (mut next, mut prepared) = Self::wait(read).await?;
        let mut sought = false;
        if next == Ok(None) {
            // The end of the log, or a gap: read whatever follows.
            self.cancel();
            (next, prepared) = Self::wait(self.read(after, self.last)).await?;
            sought = true;
        }
        match next {
            Ok(Some(end)) => {
                if sought {
                    self.scheduled = end;
                }
                self.fill();
            }
            Ok(None) => return Ok(None),
            // This page still reaches its reader, who meets the entry that
            // does not decode; only the page after it cannot be placed.
            Err(why) => {
                self.cancel();
                self.stuck = Some(why);
            }
        }
        Ok(Some(prepared))
    }
}

impl<T> Pages<T> {
    fn cancel(&mut self) {
        for (_, read) in self.ahead.drain(..) {
            read.abort();
        }
    }
}

impl<T> Drop for Pages<T> {
    fn drop(&mut self) {
        self.cancel();
    }
}
