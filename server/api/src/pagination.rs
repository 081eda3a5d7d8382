//! Cursor pagination shared by every list.
//!
//! Every list answers `{items, next_cursor}`. `next_cursor` is opaque; pass it
//! back as `cursor` (with the same filters) to get the next page, and stop
//! when it is `null`. `limit` is 1–500 (default 50). Orders are stable: an
//! object appears at most once across the pages of one walk.

/// The page size used when `limit` is not given.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// The largest `limit` accepted.
pub const MAX_PAGE_LIMIT: u32 = 500;

/// Declares a concrete page type `{items: Vec<$item>, next_cursor}`.
///
/// Concrete types (rather than a generic `Page<T>`) give generated SDKs
/// readable names such as `AgentPage`.
macro_rules! page_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        pub struct $name {
            /// The objects on this page, in the list's stable order.
            pub items: Vec<$item>,
            /// Pass as `cursor` to fetch the next page; `null` on the last page.
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use page_type;
