//! The byte format: segments, strict canonical JSON, the HMAC chain.
//!
//! Everything here is specified in `docs/tokens.md` and pinned by
//! `conformance/vectors/tokens/`; the order of the checks is part of the
//! specification because it decides which error code a broken token gets.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::{DecodeError, Engine as _};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Sha256;

use super::error::{Segment, TokenError};

/// Every token string starts with this.
pub const PREFIX: &str = "lictor_cap1.";
/// Maximum length of a whole token string, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8192;
/// Maximum number of caveats in a token, hops included.
pub const MAX_CAVEATS: usize = 32;
/// Maximum length of a string field, in bytes.
pub const MAX_STRING_BYTES: usize = 256;
/// Maximum number of items in a list field.
pub const MAX_LIST_ITEMS: usize = 64;
/// Largest integer a token may carry: 2^53 − 1, exact in every language.
pub const MAX_INTEGER: u64 = (1 << 53) - 1;
/// HKDF `info` of the capability-token root key.
pub const ROOT_KEY_INFO: &[u8] = b"lictor/capability-token/v1";

/// Length of a root key and of every chain tag.
pub const TAG_LEN: usize = 32;

/// `root = HKDF-SHA256(ikm = secret, salt = empty, info = ROOT_KEY_INFO)`.
pub fn derive_root_key(secret: &[u8]) -> [u8; TAG_LEN] {
    let mut root = [0u8; TAG_LEN];
    // An empty salt is, per RFC 5869, HashLen zero bytes.
    let hkdf = Hkdf::<Sha256>::new(None, secret);
    if hkdf.expand(ROOT_KEY_INFO, &mut root).is_err() {
        unreachable_hkdf();
    }
    root
}

// INVARIANT: HKDF-SHA256 can expand up to 255 × 32 bytes; we ask for 32.
#[allow(clippy::panic)]
fn unreachable_hkdf() -> ! {
    panic!("HKDF-SHA256 refused to expand 32 bytes")
}

/// One link of the chain: `HMAC-SHA256(key, message)`.
pub(crate) fn chain_step(key: &[u8; TAG_LEN], message: &[u8]) -> [u8; TAG_LEN] {
    // A key shorter than the 64-byte SHA-256 block is zero-padded to it by
    // HMAC itself (RFC 2104), so padding here changes nothing and lets the
    // infallible constructor be used.
    let mut block = [0u8; 64];
    block[..TAG_LEN].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// base64url without padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url without padding: alphabet `[A-Za-z0-9_-]` only, no
/// `=`, no leftover bits set (so every byte string has one encoding).
pub(crate) fn unb64(segment: Segment, text: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|error| {
        let reason = match error {
            DecodeError::InvalidByte(offset, _) => {
                format!("invalid base64url: character at offset {offset} is not in the URL-safe alphabet")
            }
            DecodeError::InvalidLength(_) => {
                format!("invalid base64url: length {} is impossible", text.len())
            }
            DecodeError::InvalidLastSymbol(offset, _) => {
                format!("invalid base64url: unused bits of the character at offset {offset} are not zero")
            }
            DecodeError::InvalidPadding => "invalid base64url: padding is not allowed".to_owned(),
        };
        TokenError::malformed(segment, reason)
    })
}

/// RFC 8785 canonical JSON bytes of `value`.
pub(crate) fn canonical<T: Serialize>(segment: Segment, value: &T) -> Result<Vec<u8>, TokenError> {
    serde_json_canonicalizer::to_vec(value)
        .map_err(|e| TokenError::malformed(segment, format!("cannot canonicalise: {e}")))
}

/// Steps 1–4 of decoding a JSON segment: base64url, JSON, integer range,
/// canonical form. Returns the bytes and the generic JSON value.
pub(crate) fn decode_json(segment: Segment, text: &str) -> Result<(Vec<u8>, Value), TokenError> {
    let bytes = unb64(segment, text)?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| TokenError::malformed(segment, format!("invalid JSON: {e}")))?;
    check_numbers(segment, &value)?;
    if canonical(segment, &value)? != bytes {
        return Err(TokenError::NonCanonical { segment });
    }
    Ok((bytes, value))
}

/// Steps 6–7: decode `value` into `T` (missing, unknown or mistyped fields
/// are malformed) and require the typed value to re-encode to `bytes`
/// (this rejects `null` and empty optional fields).
pub(crate) fn decode_typed<T: DeserializeOwned + Serialize>(
    segment: Segment,
    bytes: &[u8],
    value: Value,
) -> Result<T, TokenError> {
    let typed: T =
        serde_json::from_value(value).map_err(|e| TokenError::malformed(segment, e.to_string()))?;
    if canonical(segment, &typed)? != bytes {
        return Err(TokenError::NonCanonical { segment });
    }
    Ok(typed)
}

/// Every number in a token must be an integer in `0..=2^53-1` (by value:
/// `1.0` passes here and fails the canonical check as `1`).
fn check_numbers(segment: Segment, value: &Value) -> Result<(), TokenError> {
    match value {
        Value::Number(number) => {
            let in_range = match (number.as_u64(), number.as_i64(), number.as_f64()) {
                (Some(u), _, _) => u <= MAX_INTEGER,
                (None, Some(_), _) => false,
                // Exact: every integer up to 2^53 − 1 is an f64.
                (None, None, Some(f)) => f.fract() == 0.0 && (0.0..=MAX_INTEGER as f64).contains(&f),
                (None, None, None) => false,
            };
            if in_range {
                Ok(())
            } else {
                Err(TokenError::malformed(
                    segment,
                    format!("number `{number}` is not an integer in 0..=9007199254740991"),
                ))
            }
        }
        Value::Array(items) => items.iter().try_for_each(|item| check_numbers(segment, item)),
        Value::Object(map) => map.values().try_for_each(|item| check_numbers(segment, item)),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// Step 8: a string field is at most [`MAX_STRING_BYTES`] bytes.
pub(crate) fn check_string_len(segment: Segment, field: &str, value: &str) -> Result<(), TokenError> {
    if value.len() > MAX_STRING_BYTES {
        return Err(TokenError::FieldTooLarge {
            segment,
            field: field.to_owned(),
            limit: MAX_STRING_BYTES,
            unit: "bytes",
        });
    }
    Ok(())
}

/// Step 8: a list field has at most [`MAX_LIST_ITEMS`] items.
pub(crate) fn check_list_len(segment: Segment, field: &str, len: usize) -> Result<(), TokenError> {
    if len > MAX_LIST_ITEMS {
        return Err(TokenError::FieldTooLarge {
            segment,
            field: field.to_owned(),
            limit: MAX_LIST_ITEMS,
            unit: "items",
        });
    }
    Ok(())
}

/// Step 9: free-text fields (kid, globs, server names, audience) are
/// non-empty printable ASCII (0x20–0x7E), so every language sees the same
/// bytes, lengths and characters.
pub(crate) fn check_text(segment: Segment, field: &str, value: &str) -> Result<(), TokenError> {
    if value.is_empty() {
        return Err(TokenError::malformed(segment, format!("`{field}` must not be empty")));
    }
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(TokenError::malformed(segment, format!("`{field}` must be printable ASCII")));
    }
    Ok(())
}
