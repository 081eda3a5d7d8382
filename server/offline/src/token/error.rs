//! Why a capability token was rejected.
//!
//! Every failure kind has its own variant and a stable `code()`; the codes
//! are part of the token specification (`docs/tokens.md`) and appear in the
//! conformance vectors, so SDKs report the same code for the same token.

use std::fmt;

use super::format::{MAX_CAVEATS, MAX_TOKEN_BYTES};

/// Which part of a token an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// The token as a whole (prefix, segment count).
    Token,
    /// The header segment.
    Header,
    /// The caveat segment at this 1-based position.
    Caveat(usize),
    /// The final tag segment.
    Tag,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Token => f.write_str("token"),
            Segment::Header => f.write_str("header"),
            Segment::Caveat(position) => write!(f, "caveat {position}"),
            Segment::Tag => f.write_str("tag"),
        }
    }
}

/// A capability token that cannot be parsed, minted, attenuated or
/// verified.
///
/// Exhaustive on purpose: a new failure kind must break callers' matches.
/// Expiry is not here: caveats are evaluated by the gateway pipeline, not by
/// this module.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token string is longer than [`MAX_TOKEN_BYTES`].
    #[error("token is {len} bytes, more than the limit of {MAX_TOKEN_BYTES}")]
    TooLarge {
        /// Length of the token string in bytes.
        len: usize,
    },
    /// The token carries more than [`MAX_CAVEATS`] caveats (hops included).
    #[error("token has {count} caveats, more than the limit of {MAX_CAVEATS}")]
    TooManyCaveats {
        /// Number of caveats.
        count: usize,
    },
    /// Not structurally a token: prefix, segment, base64url, JSON, shape or
    /// field values are wrong.
    #[error("malformed {segment}: {reason}")]
    Malformed {
        /// Where.
        segment: Segment,
        /// What is wrong.
        reason: String,
    },
    /// A segment decodes to JSON that is not byte-identical to its RFC 8785
    /// canonical form (whitespace, key order, escapes, number spelling,
    /// duplicate keys, `null` or empty optional fields).
    #[error("{segment} is not canonical JSON (RFC 8785)")]
    NonCanonical {
        /// Where.
        segment: Segment,
    },
    /// A caveat whose `type` this gateway does not know. Unknown caveats
    /// deny: the token is unusable.
    #[error("{segment}: unknown caveat type `{kind}`")]
    UnknownCaveat {
        /// Where.
        segment: Segment,
        /// The unknown `type` value.
        kind: String,
    },
    /// The header's `v` is not 1.
    #[error("unsupported token version `{version}`")]
    UnsupportedVersion {
        /// The `v` value as JSON text.
        version: String,
    },
    /// A string field or list exceeds its limit.
    #[error("{segment}: `{field}` exceeds the limit of {limit} {unit}")]
    FieldTooLarge {
        /// Where.
        segment: Segment,
        /// The field (`allow[3]`, `aud`, …).
        field: String,
        /// The limit.
        limit: usize,
        /// `bytes` or `items`.
        unit: &'static str,
    },
    /// A hop caveat does not continue the jti chain: its `parent_jti` is not
    /// the jti in effect before it, or its `jti` was already used.
    #[error("{segment}: {reason}")]
    BadHop {
        /// Where.
        segment: Segment,
        /// What is wrong.
        reason: String,
    },
    /// The new jti given to [`super::attenuate`] does not match
    /// `[A-Za-z0-9_-]{1,64}`.
    #[error("invalid jti `{jti}`: must match [A-Za-z0-9_-]{{1,64}}")]
    InvalidJti {
        /// The rejected value.
        jti: String,
    },
    /// The header names a `kid` the verifier has no key for.
    #[error("unknown token signing key `{kid}`")]
    UnknownKid {
        /// The header's `kid`.
        kid: String,
    },
    /// The final tag does not match the HMAC chain under the key: wrong
    /// key, or the header or a caveat was changed, removed or reordered.
    #[error("token signature does not verify")]
    BadSignature,
}

impl TokenError {
    /// Every code [`TokenError::code`] can return.
    pub const CODES: [&'static str; 11] = [
        "too_large",
        "too_many_caveats",
        "malformed",
        "non_canonical",
        "unknown_caveat",
        "unsupported_version",
        "field_too_large",
        "bad_hop",
        "invalid_jti",
        "unknown_kid",
        "bad_signature",
    ];

    /// The stable snake_case code of this failure kind, used in API error
    /// reasons and in the conformance vectors.
    pub const fn code(&self) -> &'static str {
        match self {
            TokenError::TooLarge { .. } => "too_large",
            TokenError::TooManyCaveats { .. } => "too_many_caveats",
            TokenError::Malformed { .. } => "malformed",
            TokenError::NonCanonical { .. } => "non_canonical",
            TokenError::UnknownCaveat { .. } => "unknown_caveat",
            TokenError::UnsupportedVersion { .. } => "unsupported_version",
            TokenError::FieldTooLarge { .. } => "field_too_large",
            TokenError::BadHop { .. } => "bad_hop",
            TokenError::InvalidJti { .. } => "invalid_jti",
            TokenError::UnknownKid { .. } => "unknown_kid",
            TokenError::BadSignature => "bad_signature",
        }
    }

    pub(crate) fn malformed(segment: Segment, reason: impl Into<String>) -> TokenError {
        TokenError::Malformed { segment, reason: reason.into() }
    }
}
