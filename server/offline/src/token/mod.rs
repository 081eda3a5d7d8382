//! Capability tokens: macaroon-style bearer credentials for agents.
//!
//! A token is a gateway-signed [`TokenHeader`] followed by [`Caveat`]s in
//! a chained HMAC-SHA256: `tag0 = HMAC(root, header)`, `tag(i) =
//! HMAC(tag(i-1), caveat_i)`, and only the final tag travels. Anyone
//! holding a token can append caveats and extend the chain
//! ([`attenuate`], offline, no key), but nobody without the root key can
//! remove or change one. Caveats only narrow, so a derived token never
//! grants more than its parent. The exact byte format is in
//! `docs/tokens.md` and pinned by `conformance/vectors/tokens/`.
//!
//! This module parses, mints, attenuates and verifies. It does not decide
//! whether a call is allowed: expiry and every other caveat are evaluated
//! by the gateway pipeline, and revocation by jti lives in the store.

mod caveat;
mod error;
mod format;
mod glob;
mod header;
mod restrictions;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

use std::collections::HashSet;
use std::fmt;

use subtle::ConstantTimeEq;

pub use caveat::Caveat;
pub use error::{Segment, TokenError};
pub use format::{
    MAX_CAVEATS, MAX_INTEGER, MAX_LIST_ITEMS, MAX_STRING_BYTES, MAX_TOKEN_BYTES, PREFIX, ROOT_KEY_INFO,
    TAG_LEN, derive_root_key,
};
pub use glob::glob_match;
pub use header::{Jti, MAX_JTI_LEN, TOKEN_VERSION, TokenHeader};
pub use restrictions::{RestrictionError, Restrictions, usd_to_cents};

use format::{b64, canonical, chain_step, decode_json, decode_typed, unb64};

/// A parsed capability token: structurally valid and canonical, signature
/// not yet checked (call [`CapabilityToken::verify`]).
///
/// `Debug` leaves out the tag: the tag is what makes the token usable.
#[derive(Clone, PartialEq, Eq)]
pub struct CapabilityToken {
    header: TokenHeader,
    header_bytes: Vec<u8>,
    caveats: Vec<Caveat>,
    caveat_bytes: Vec<Vec<u8>>,
    tag: [u8; TAG_LEN],
    // INVARIANT: `chain[0]` is the header jti, then one entry per hop in
    // order; `scopes[i]` indexes `chain` with the jti in effect at caveat i
    // (for a hop, its own jti).
    chain: Vec<Jti>,
    scopes: Vec<usize>,
}

impl CapabilityToken {
    /// Parses `token`, checking structure, limits, canonical form and the
    /// jti chain, in the order `docs/tokens.md` specifies. Does not check
    /// the signature.
    pub fn parse(token: &str) -> Result<CapabilityToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge { len: token.len() });
        }
        let body = token.strip_prefix(PREFIX).ok_or_else(|| {
            TokenError::malformed(Segment::Token, format!("does not start with `{PREFIX}`"))
        })?;
        let segments: Vec<&str> = body.split('.').collect();
        let (header_text, rest) = match segments.split_first() {
            Some((header, rest)) if !rest.is_empty() => (*header, rest),
            _ => {
                return Err(TokenError::malformed(
                    Segment::Token,
                    "needs at least a header and a tag segment",
                ));
            }
        };
        let (tag_text, caveat_texts) = match rest.split_last() {
            Some(split) => split,
            None => return Err(TokenError::malformed(Segment::Token, "missing tag segment")),
        };
        if caveat_texts.len() > MAX_CAVEATS {
            return Err(TokenError::TooManyCaveats { count: caveat_texts.len() });
        }

        let (header_bytes, header) = parse_header(header_text)?;
        let mut token = CapabilityToken {
            chain: vec![header.jti.clone()],
            header,
            header_bytes,
            caveats: Vec::with_capacity(caveat_texts.len()),
            caveat_bytes: Vec::with_capacity(caveat_texts.len()),
            tag: [0; TAG_LEN],
            scopes: Vec::with_capacity(caveat_texts.len()),
        };
        let mut used: HashSet<Jti> = HashSet::new();
        used.insert(token.header.jti.clone());
        used.insert(token.header.root_jti.clone());
        used.extend(token.header.parent_jti.clone());
        for (i, text) in caveat_texts.iter().enumerate() {
            let segment = Segment::Caveat(i + 1);
            let (bytes, caveat) = parse_caveat(segment, text)?;
            if let Caveat::Hop { jti, parent_jti } = &caveat {
                let current = token.effective_jti();
                if parent_jti != current {
                    return Err(TokenError::BadHop {
                        segment,
                        reason: format!(
                            "hop `parent_jti` `{parent_jti}` is not the jti in effect `{current}`"
                        ),
                    });
                }
                if !used.insert(jti.clone()) {
                    return Err(TokenError::BadHop {
                        segment,
                        reason: format!("hop `jti` `{jti}` is already used by this token"),
                    });
                }
                token.chain.push(jti.clone());
            }
            token.scopes.push(token.chain.len() - 1);
            token.caveats.push(caveat);
            token.caveat_bytes.push(bytes);
        }
        token.tag = parse_tag(tag_text)?;
        Ok(token)
    }

    /// Checks the HMAC chain under `root_key` (see [`derive_root_key`]), in
    /// constant time.
    pub fn verify(&self, root_key: &[u8; TAG_LEN]) -> Result<(), TokenError> {
        let expected = extend_chain(chain_step(root_key, &self.header_bytes), &self.caveat_bytes);
        if bool::from(expected.ct_eq(&self.tag)) { Ok(()) } else { Err(TokenError::BadSignature) }
    }

    /// Looks up the root key of the header's `kid` with `root_key_for` and
    /// verifies under it; [`TokenError::UnknownKid`] when there is none.
    pub fn verify_with(
        &self,
        root_key_for: impl FnOnce(&str) -> Option<[u8; TAG_LEN]>,
    ) -> Result<(), TokenError> {
        match root_key_for(&self.header.kid) {
            Some(root_key) => self.verify(&root_key),
            None => Err(TokenError::UnknownKid { kid: self.header.kid.clone() }),
        }
    }

    /// The gateway-signed header.
    pub fn header(&self) -> &TokenHeader {
        &self.header
    }

    /// Every caveat in token order, hops included.
    pub fn caveats(&self) -> &[Caveat] {
        &self.caveats
    }

    /// The effective jti: the last hop's, or the header's when there is no
    /// hop.
    pub fn jti(&self) -> &str {
        self.effective_jti().as_str()
    }

    /// `[header.jti, hop1.jti, hop2.jti, …]`.
    pub fn jti_chain(&self) -> Vec<&str> {
        self.chain.iter().map(Jti::as_str).collect()
    }

    /// Every jti whose revocation revokes this token: the header's
    /// `root_jti` and `parent_jti` (when present), then the jti chain;
    /// without repeats.
    pub fn revocation_jtis(&self) -> Vec<&str> {
        let header = &self.header;
        let mut jtis: Vec<&str> = Vec::with_capacity(self.chain.len() + 2);
        let candidates =
            std::iter::once(&header.root_jti).chain(header.parent_jti.as_ref()).chain(self.chain.iter());
        for jti in candidates {
            if !jtis.contains(&jti.as_str()) {
                jtis.push(jti.as_str());
            }
        }
        jtis
    }

    /// The non-hop caveats, each with its scope jti: the jti in effect
    /// where it appears (the header's before the first hop). Counters
    /// (`max_calls`, `max_usd`, `rate_per_min`) are kept per scope jti.
    pub fn scoped_caveats(&self) -> Vec<(&str, &Caveat)> {
        self.caveats
            .iter()
            .zip(&self.scopes)
            .filter(|(caveat, _)| !matches!(caveat, Caveat::Hop { .. }))
            .filter_map(|(caveat, &scope)| Some((self.chain.get(scope)?.as_str(), caveat)))
            .collect()
    }

    /// The earliest `expires` caveat, in Unix seconds: the token is invalid
    /// at and after it. `None` when no caveat limits its lifetime.
    pub fn expires_at(&self) -> Option<i64> {
        self.caveats
            .iter()
            .filter_map(|caveat| match caveat {
                Caveat::Expires { at } => Some(*at),
                _ => None,
            })
            .min()
    }

    /// The token string (identical to what was parsed: the format has one
    /// encoding per token).
    pub fn encode(&self) -> String {
        assemble(&self.header_bytes, &self.caveat_bytes, &self.tag)
    }

    fn effective_jti(&self) -> &Jti {
        self.chain.last().unwrap_or(&self.header.jti)
    }
}

impl fmt::Debug for CapabilityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapabilityToken")
            .field("header", &self.header)
            .field("caveats", &self.caveats)
            .field("tag", &"<redacted>")
            .finish()
    }
}

impl std::str::FromStr for CapabilityToken {
    type Err = TokenError;
    fn from_str(token: &str) -> Result<CapabilityToken, TokenError> {
        CapabilityToken::parse(token)
    }
}

/// Mints a token: signs `header` with `root_key` and appends `caveats`.
///
/// The result is parsed back before it is returned, so every rule a
/// verifier applies (limits, jtis, lineage, hops) also holds here.
pub fn mint(
    root_key: &[u8; TAG_LEN],
    header: &TokenHeader,
    caveats: &[Caveat],
) -> Result<String, TokenError> {
    let header_bytes = canonical(Segment::Header, header)?;
    let caveat_bytes = encode_caveats(0, caveats)?;
    let tag = extend_chain(chain_step(root_key, &header_bytes), &caveat_bytes);
    checked(assemble(&header_bytes, &caveat_bytes, &tag))
}

/// Attenuates `token` offline: appends `{"type":"hop","jti":new_jti,
/// "parent_jti":<its effective jti>}` and then `caveats`, extending the tag
/// chain from the token's final tag. No key is needed and the signature is
/// not checked; the gateway checks it when the new token is used.
///
/// With no caveats this still yields a separately revocable child.
pub fn attenuate(token: &str, new_jti: &str, caveats: &[Caveat]) -> Result<String, TokenError> {
    let parent = CapabilityToken::parse(token)?;
    let jti = Jti::parse(new_jti).map_err(|_| TokenError::InvalidJti { jti: new_jti.to_owned() })?;
    let hop = Caveat::Hop { jti, parent_jti: parent.effective_jti().clone() };
    let count = parent.caveats.len() + 1 + caveats.len();
    if count > MAX_CAVEATS {
        return Err(TokenError::TooManyCaveats { count });
    }
    let appended: Vec<Caveat> = std::iter::once(hop).chain(caveats.iter().cloned()).collect();
    let new_bytes = encode_caveats(parent.caveats.len(), &appended)?;
    let tag = extend_chain(parent.tag, &new_bytes);
    let mut caveat_bytes = parent.caveat_bytes;
    caveat_bytes.extend(new_bytes);
    checked(assemble(&parent.header_bytes, &caveat_bytes, &tag))
}

/// Header segment: decode, version, typed decode, limits and values.
fn parse_header(text: &str) -> Result<(Vec<u8>, TokenHeader), TokenError> {
    let segment = Segment::Header;
    let (bytes, value) = decode_json(segment, text)?;
    let object = value
        .as_object()
        .ok_or_else(|| TokenError::malformed(segment, "the header must be a JSON object"))?;
    if let Some(v) = object.get("v").filter(|v| v.as_u64() != Some(TOKEN_VERSION)) {
        return Err(TokenError::UnsupportedVersion { version: v.to_string() });
    }
    let header: TokenHeader = decode_typed(segment, &bytes, value)?;
    header.validate()?;
    Ok((bytes, header))
}

/// Caveat segment: decode, `type`, typed decode, limits and values.
fn parse_caveat(segment: Segment, text: &str) -> Result<(Vec<u8>, Caveat), TokenError> {
    let (bytes, value) = decode_json(segment, text)?;
    let kind = value
        .as_object()
        .ok_or_else(|| TokenError::malformed(segment, "a caveat must be a JSON object"))?
        .get("type")
        .ok_or_else(|| TokenError::malformed(segment, "missing field `type`"))?
        .as_str()
        .ok_or_else(|| TokenError::malformed(segment, "field `type` must be a string"))?;
    if !Caveat::TYPES.contains(&kind) {
        return Err(TokenError::UnknownCaveat { segment, kind: kind.to_owned() });
    }
    let caveat: Caveat = decode_typed(segment, &bytes, value)?;
    caveat.check_limits(segment)?;
    caveat.check_values(segment)?;
    Ok((bytes, caveat))
}

fn parse_tag(text: &str) -> Result<[u8; TAG_LEN], TokenError> {
    let bytes = unb64(Segment::Tag, text)?;
    <[u8; TAG_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        TokenError::malformed(Segment::Tag, format!("must be {TAG_LEN} bytes, not {}", bytes.len()))
    })
}

/// Canonical bytes of `caveats`, numbered from `already + 1` in errors.
fn encode_caveats(already: usize, caveats: &[Caveat]) -> Result<Vec<Vec<u8>>, TokenError> {
    caveats
        .iter()
        .enumerate()
        .map(|(i, caveat)| canonical(Segment::Caveat(already + i + 1), caveat))
        .collect()
}

fn extend_chain(mut tag: [u8; TAG_LEN], caveat_bytes: &[Vec<u8>]) -> [u8; TAG_LEN] {
    for bytes in caveat_bytes {
        tag = chain_step(&tag, bytes);
    }
    tag
}

fn assemble(header_bytes: &[u8], caveat_bytes: &[Vec<u8>], tag: &[u8; TAG_LEN]) -> String {
    let mut token = String::from(PREFIX);
    token.push_str(&b64(header_bytes));
    for bytes in caveat_bytes {
        token.push('.');
        token.push_str(&b64(bytes));
    }
    token.push('.');
    token.push_str(&b64(tag));
    token
}

/// Returns `token` if it parses: what we hand out, we would accept.
fn checked(token: String) -> Result<String, TokenError> {
    CapabilityToken::parse(&token)?;
    Ok(token)
}
