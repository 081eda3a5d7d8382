//! Head seals: the gateway's mark on each tenant's chain head.
//!
//! Every time the writer moves a head it stores, beside the head's `seq`
//! and hash, an HMAC-SHA256 over `(tenant, seq, hash)` keyed from the
//! checkpoint signing key — which lives outside the store. Since every
//! entry's hash chains into the head, a valid seal vouches for the whole
//! chain behind it. Whoever can write the database but not read the key
//! file cannot append an entry, rewrite one and recompute the chain, or
//! move the head back over deleted entries without the seal failing; the
//! writer then keeps appending but never seals again (so the forgery is
//! never laundered into a sealed head), and the checkpointer refuses to
//! sign over the log.
//!
//! What a seal cannot stop is a rollback to a head sealed earlier, with
//! the entries after it deleted: only checkpoints and their witnesses
//! (`lictor audit monitor`, sinks) see that. See `docs/security.md`.
//!
//! Seal format: `<checkpoint kid>.<base64url MAC>`; the MAC key is
//! `HMAC-SHA256(checkpoint seed, "lictor audit head seal v1")` and the
//! message `lictor-audit-head/1\n<tenant>\n<seq>\n<hash>\n`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use lictor_api::ids::TenantId;
use sha2::Sha256;

use super::GENESIS_HASH;
use crate::signing::{Keyring, Keys, Purpose};
use crate::store::StoredHead;

const KEY_LABEL: &[u8] = b"lictor audit head seal v1";

/// Why a head's seal does not vouch for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SealFault {
    /// A head with entries and no seal.
    #[error("no seal")]
    Missing,
    /// Not of the form `kid.mac`.
    #[error("a malformed seal")]
    Malformed,
    /// Sealed with a key the gateway does not hold.
    #[error("a seal by unknown key `{0}`")]
    UnknownKey(String),
    /// The MAC does not match the head.
    #[error("a seal that does not match the head")]
    Mismatch,
}

fn mac(seed: &[u8; 32], tenant: &TenantId, seq: u64, hash: &str) -> Hmac<Sha256> {
    let keyed = |key: &[u8]| {
        // Any key length is valid for HMAC.
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"))
    };
    let mut derive = keyed(seed);
    derive.update(KEY_LABEL);
    let mut mac = keyed(&derive.finalize().into_bytes());
    mac.update(format!("lictor-audit-head/1\n{tenant}\n{seq}\n{hash}\n").as_bytes());
    mac
}

/// The seal of `tenant`'s head at `seq` with `hash`, by the newest
/// checkpoint key (`None` when the ring holds none).
pub(crate) fn seal(ring: &Keyring, tenant: &TenantId, seq: u64, hash: &str) -> Option<String> {
    let key = ring.current(Purpose::Checkpoint)?;
    let tag = mac(&key.secret, tenant, seq, hash).finalize().into_bytes();
    Some(format!("{}.{}", key.kid, URL_SAFE_NO_PAD.encode(tag)))
}

/// Whether `head` is the empty chain, which needs no seal.
pub(crate) fn is_genesis(head: &StoredHead) -> bool {
    head.seq == 0 && head.hash == GENESIS_HASH
}

fn check_with(ring: &Keyring, tenant: &TenantId, head: &StoredHead) -> Result<(), SealFault> {
    let Some(seal) = head.seal.as_deref() else {
        return if is_genesis(head) { Ok(()) } else { Err(SealFault::Missing) };
    };
    let (kid, tag) = seal.split_once('.').ok_or(SealFault::Malformed)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| SealFault::Malformed)?;
    let key = ring.get(Purpose::Checkpoint, kid).ok_or_else(|| SealFault::UnknownKey(kid.to_string()))?;
    mac(&key.secret, tenant, head.seq, &head.hash).verify_slice(&tag).map_err(|_| SealFault::Mismatch)
}

/// Checks `head`'s seal against the gateway's keys; a seal by a key not
/// yet held has the keys read again first (a rotation on another
/// replica).
pub(crate) fn check(keys: &Keys, tenant: &TenantId, head: &StoredHead) -> Result<(), SealFault> {
    match check_with(&keys.ring(), tenant, head) {
        Err(SealFault::UnknownKey(_)) if keys.reload().unwrap_or(false) => {
            check_with(&keys.ring(), tenant, head)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::generated()
    }

    fn head(seq: u64, hash: &str, seal: Option<String>) -> StoredHead {
        StoredHead { seq, hash: hash.into(), seal }
    }

    #[test]
    fn a_seal_vouches_for_its_head_only() {
        let (ring, tenant) = (ring(), TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}")));
        let sealed = seal(&ring, &tenant, 7, "ab").unwrap_or_default();
        assert_eq!(check_with(&ring, &tenant, &head(7, "ab", Some(sealed.clone()))), Ok(()));
        assert_eq!(
            check_with(&ring, &tenant, &head(6, "ab", Some(sealed.clone()))),
            Err(SealFault::Mismatch)
        );
        assert_eq!(
            check_with(&ring, &tenant, &head(7, "ac", Some(sealed.clone()))),
            Err(SealFault::Mismatch)
        );
        let other = TenantId::parse("globex").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check_with(&ring, &other, &head(7, "ab", Some(sealed.clone()))), Err(SealFault::Mismatch));
        let foreign = Keyring::generated();
        assert!(matches!(
            check_with(&foreign, &tenant, &head(7, "ab", Some(sealed))),
            Err(SealFault::UnknownKey(_))
        ));
        assert_eq!(check_with(&ring, &tenant, &head(7, "ab", None)), Err(SealFault::Missing));
        assert_eq!(check_with(&ring, &tenant, &head(7, "ab", Some("x".into()))), Err(SealFault::Malformed));
        assert_eq!(check_with(&ring, &tenant, &head(0, GENESIS_HASH, None)), Ok(()));
    }
}
