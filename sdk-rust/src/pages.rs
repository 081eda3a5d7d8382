//! Pagination: every list answers `{items, next_cursor}`; pass
//! `next_cursor` back as `cursor` until it is `null` (`docs/api.md`).
//!
//! [`Gateway::paginate`] turns any generated list call into a [`Stream`] of
//! items, fetching pages lazily, each with the gateway's retry policy:
//!
//! ```no_run
//! # async fn example(gateway: lictor_client::Gateway) -> Result<(), lictor_client::Error> {
//! use futures::TryStreamExt as _;
//! let agents: Vec<_> = gateway
//!     .paginate(|cursor| {
//!         let call = gateway.api().agent_list().limit(100);
//!         async move { match cursor { Some(c) => call.cursor(c), None => call }.send().await }
//!     })
//!     .try_collect()
//!     .await?;
//! # let _ = agents; Ok(()) }
//! ```

use std::collections::VecDeque;
use std::future::Future;

use futures::Stream;
use progenitor_client::ResponseValue;

use crate::error::Error;
use crate::gateway::Gateway;
use crate::generated::types;

/// A page of a list: its items and the cursor of the next page.
pub trait Page {
    /// What the list lists.
    type Item;
    /// The items and the next cursor (`None` on the last page).
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

macro_rules! pages {
    ($($page:ident => $item:ident),* $(,)?) => {
        $(impl Page for types::$page {
            type Item = types::$item;
            fn into_parts(self) -> (Vec<types::$item>, Option<String>) {
                (self.items, self.next_cursor)
            }
        })*
    };
}

pages! {
    AgentPage => Agent,
    ApiKeyPage => ApiKey,
    ApprovalPage => Approval,
    AuditCheckpointPage => AuditCheckpoint,
    AuditEntryPage => AuditEntry,
    IntentPage => IntentSummary,
    PolicyDraftPage => PolicyDraftSummary,
    PolicyProposalPage => PolicyProposal,
    RevocationPage => Revocation,
    TenantPage => Tenant,
    UpstreamPage => Upstream,
}

struct State<F> {
    fetch: F,
    cursor: Option<String>,
    done: bool,
}

impl Gateway {
    /// Every item of a list, page after page. `fetch` sends the list call
    /// for a cursor (`None` for the first page) with the same filters each
    /// time.
    pub fn paginate<'a, P, F, Fut>(&'a self, fetch: F) -> impl Stream<Item = Result<P::Item, Error>> + 'a
    where
        P: Page + 'a,
        P::Item: 'a,
        F: FnMut(Option<String>) -> Fut + 'a,
        Fut: Future<Output = Result<ResponseValue<P>, progenitor_client::Error<types::Error>>> + 'a,
    {
        let state = State { fetch, cursor: None, done: false };
        futures::stream::unfold(
            (state, VecDeque::<P::Item>::new()),
            move |(mut state, mut items)| async move {
                loop {
                    if let Some(item) = items.pop_front() {
                        return Some((Ok(item), (state, items)));
                    }
                    if state.done {
                        return None;
                    }
                    let cursor = state.cursor.clone();
                    let fetch = &mut state.fetch;
                    match self.retrying(|| fetch(cursor.clone())).await {
                        Ok(page) => {
                            let (page_items, next) = page.into_parts();
                            state.done = next.is_none();
                            state.cursor = next;
                            items.extend(page_items);
                        }
                        Err(error) => {
                            state.done = true;
                            return Some((Err(error), (state, items)));
                        }
                    }
                }
            },
        )
    }
}
