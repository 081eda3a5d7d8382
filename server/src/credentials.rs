//! Secrets the gateway issues: API keys, the superadmin key and webhook
//! signing secrets.
//!
//! Every secret reads `lictor_<kind>_<43 random><6 checksum>`: a prefix a
//! secret scanner can match (`docs/api.md` gives the patterns), 43 random
//! alphanumerics (≈ 256 bits) from the thread-local CSPRNG, and the CRC-32
//! of everything before it in six base62 digits, so a scanner can tell a
//! real key from a look-alike without asking the gateway. Only a key's
//! SHA-256 is stored, which is enough for keys this long (no slow hash
//! needed: nothing to brute-force).

use lictor_api::api_keys::Environment;
use rand::RngExt;
use sha2::{Digest, Sha256};

/// Random characters in every issued secret.
pub(crate) const SECRET_CHARS: usize = 43;

/// Base62 digits of the checksum closing every issued secret.
pub(crate) const CHECKSUM_CHARS: usize = 6;

/// Random characters of a key kept, after its kind prefix, as the
/// displayable prefix listings show.
pub(crate) const SHOWN_SECRET_CHARS: usize = 6;

/// Every issued secret starts with this.
pub(crate) const SECRET_NAMESPACE: &str = "lictor_";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_alphanumeric(len: usize) -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
}

/// The checksum of `body` (a secret without its last six characters): its
/// CRC-32 (IEEE) in six base62 digits, most significant first.
pub(crate) fn checksum(body: &str) -> String {
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&d| char::from(d)).collect()
}

/// Whether `secret` is one the gateway could have issued: the namespace, a
/// kind, the right length and a matching checksum.
pub(crate) fn is_well_formed(secret: &str) -> bool {
    let Some(rest) = secret.strip_prefix(SECRET_NAMESPACE) else { return false };
    let Some((kind, tail)) = rest.split_once('_') else { return false };
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_lowercase()) {
        return false;
    }
    if tail.len() != SECRET_CHARS + CHECKSUM_CHARS || !tail.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (body, sum) = secret.split_at(secret.len() - CHECKSUM_CHARS);
    checksum(body) == sum
}

/// Hex SHA-256 of a presented key.
pub(crate) fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A newly issued key.
pub(crate) struct IssuedKey {
    /// The key, shown once.
    pub key: String,
    /// Its displayable prefix: the kind prefix and the first random characters.
    pub prefix: String,
    /// Its hash, stored.
    pub hash: String,
}

fn secret(prefix: &str) -> String {
    let body = format!("{prefix}{}", random_alphanumeric(SECRET_CHARS));
    let sum = checksum(&body);
    body + &sum
}

fn issue(prefix: &str) -> IssuedKey {
    let key = secret(prefix);
    IssuedKey { prefix: key[..prefix.len() + SHOWN_SECRET_CHARS].to_string(), hash: hash_key(&key), key }
}

/// The key prefix of an environment (`lictor_live_`, `lictor_shadow_`, `lictor_test_`).
pub(crate) fn api_key_prefix(environment: Environment) -> String {
    format!("{SECRET_NAMESPACE}{}_", environment.as_str())
}

/// A new API key for `environment`.
pub(crate) fn new_api_key(environment: Environment) -> IssuedKey {
    issue(&api_key_prefix(environment))
}

/// Prefix of generated superadmin keys.
pub(crate) const ADMIN_KEY_PREFIX: &str = "lictor_admin_";

/// A new superadmin key.
pub(crate) fn new_admin_key() -> IssuedKey {
    issue(ADMIN_KEY_PREFIX)
}

/// Prefix of webhook signing secrets.
pub(crate) const WEBHOOK_SECRET_PREFIX: &str = "lictor_whsec_";

/// A new webhook signing secret (`lictor_whsec_…`).
pub(crate) fn new_webhook_secret() -> String {
    secret(WEBHOOK_SECRET_PREFIX)
}

/// 32 random bytes, base64url — raw key material for signing keys.
pub(crate) fn random_key_material() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes
}

/// Prefix of SCIM bearer tokens.
pub(crate) const SCIM_TOKEN_PREFIX: &str = "lictor_scim_";

/// A new SCIM bearer token (`lictor_scim_…`).
pub(crate) fn new_scim_token() -> IssuedKey {
    issue(SCIM_TOKEN_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_long_checksummed_and_unique() {
        let a = new_api_key(Environment::Live);
        let b = new_api_key(Environment::Live);
        assert!(a.key.starts_with("lictor_live_"));
        assert_eq!(a.key.len(), "lictor_live_".len() + SECRET_CHARS + CHECKSUM_CHARS);
        assert_ne!(a.key, b.key);
        assert_eq!(a.prefix, a.key[.."lictor_live_".len() + SHOWN_SECRET_CHARS]);
        assert_eq!(a.hash, hash_key(&a.key));
        assert!(is_well_formed(&a.key));
        assert!(new_api_key(Environment::Shadow).key.starts_with("lictor_shadow_"));
        assert!(is_well_formed(&new_api_key(Environment::Test).key));
        assert!(is_well_formed(&new_admin_key().key));
        let secret = new_webhook_secret();
        assert!(secret.starts_with("lictor_whsec_") && is_well_formed(&secret));
    }

    #[test]
    fn checksum_catches_a_changed_character() {
        let key = new_api_key(Environment::Live).key;
        for i in "lictor_live_".len()..key.len() {
            let mut bytes = key.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(!is_well_formed(&changed), "{changed}");
        }
        assert!(!is_well_formed(&key[..key.len() - 1]));
        assert!(!is_well_formed(&key.replacen("lictor_", "lictr_", 1)));
    }

    #[test]
    fn checksum_is_crc32_in_base62() {
        // CRC-32("123456789") = 0xCBF43926 = 3421780262 = "3jZRME" in base62;
        // docs/api.md gives the second.
        assert_eq!(checksum("123456789"), "3jZRME");
        assert_eq!(checksum(&format!("lictor_live_{}", "a".repeat(43))), "0ie2xO");
        assert_eq!(checksum(""), "000000");
    }
}
