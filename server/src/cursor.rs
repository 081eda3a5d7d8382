//! Opaque pagination cursors: base64url of a small JSON document naming
//! the list it belongs to and the position after which to continue.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lictor_api::pagination::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

#[derive(Serialize, serde::Deserialize)]
struct Envelope<P> {
    list: String,
    after: P,
}

/// A cursor for `list` continuing after `position`.
pub(crate) fn encode<P: Serialize>(list: &str, position: P) -> String {
    let json = serde_json::to_vec(&Envelope { list: list.to_string(), after: position }).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The position in a cursor issued for `list`.
pub(crate) fn decode<P: DeserializeOwned>(list: &str, cursor: &str) -> Result<P, Error> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| Error::InvalidCursor)?;
    let envelope: Envelope<P> = serde_json::from_slice(&bytes).map_err(|_| Error::InvalidCursor)?;
    if envelope.list != list {
        return Err(Error::InvalidCursor);
    }
    Ok(envelope.after)
}

/// The optional position of an optional cursor.
pub(crate) fn decode_opt<P: DeserializeOwned>(list: &str, cursor: Option<&str>) -> Result<Option<P>, Error> {
    cursor.map(|c| decode(list, c)).transpose()
}

/// The page size asked for, checked.
pub(crate) fn limit(limit: Option<u32>) -> Result<u32, Error> {
    match limit {
        None => Ok(DEFAULT_PAGE_LIMIT),
        Some(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(Error::InvalidParameter {
            parameter: "limit".into(),
            message: format!("limit must be between 1 and {MAX_PAGE_LIMIT}, got {n}"),
        }),
    }
}

/// Builds a page: asks the store for `limit + 1` rows, keeps `limit`, and
/// issues a cursor after the last kept row when there were more.
pub(crate) fn page<R, P: Serialize>(
    list: &str,
    mut rows: Vec<R>,
    limit: u32,
    position: impl Fn(&R) -> P,
) -> (Vec<R>, Option<String>) {
    let limit = limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| encode(list, position(r)));
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_list() {
        let c = encode("intents", (5_i64, "int_1".to_string()));
        let back: (i64, String) = decode("intents", &c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, (5, "int_1".to_string()));
        assert!(decode::<(i64, String)>("agents", &c).is_err());
        assert!(decode::<(i64, String)>("intents", "%%%").is_err());
        assert!(decode::<(i64, String)>("intents", "eyJ4IjoxfQ").is_err());
    }

    #[test]
    fn limits_are_checked() {
        assert_eq!(limit(None).ok(), Some(50));
        assert_eq!(limit(Some(500)).ok(), Some(500));
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(501)).is_err());
    }

    #[test]
    fn pages_cut_at_the_limit() {
        let (rows, next) = page("x", vec![1, 2, 3], 2, |r| *r);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(next.map(|c| decode::<i32>("x", &c).ok()), Some(Some(2)));
        let (rows, next) = page("x", vec![1, 2], 2, |r| *r);
        assert_eq!((rows.len(), next), (2, None));
    }
}
