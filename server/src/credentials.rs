//! Secrets the gateway issues: API keys, the superadmin key and webhook
//! signing secrets. Keys are 43 random alphanumerics (≈ 256 bits) from the
//! thread-local CSPRNG; only their SHA-256 is stored, which is enough for
//! keys this long (no slow hash needed: nothing to brute-force).

use rand::RngExt;
use sha2::{Digest, Sha256};
use tollgate_api::api_keys::Environment;

/// Random characters in every issued secret.
pub const SECRET_CHARS: usize = 43;

/// Characters of a key kept as its displayable prefix.
pub const PREFIX_CHARS: usize = 12;

fn random_alphanumeric(len: usize) -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
}

/// Hex SHA-256 of a presented key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A newly issued key.
pub struct IssuedKey {
    /// The key, shown once.
    pub key: String,
    /// Its displayable prefix.
    pub prefix: String,
    /// Its hash, stored.
    pub hash: String,
}

fn issue(prefix: &str) -> IssuedKey {
    let key = format!("{prefix}{}", random_alphanumeric(SECRET_CHARS));
    IssuedKey { prefix: key.chars().take(PREFIX_CHARS).collect(), hash: hash_key(&key), key }
}

/// The key prefix of an environment (`tg_live_`, `tg_shadow_`, `tg_test_`).
pub fn api_key_prefix(environment: Environment) -> String {
    format!("tg_{}_", environment.as_str())
}

/// A new API key for `environment`.
pub fn new_api_key(environment: Environment) -> IssuedKey {
    issue(&api_key_prefix(environment))
}

/// Prefix of generated superadmin keys.
pub const ADMIN_KEY_PREFIX: &str = "tg_admin_";

/// A new superadmin key.
pub fn new_admin_key() -> IssuedKey {
    issue(ADMIN_KEY_PREFIX)
}

/// A new webhook signing secret (`whsec_…`).
pub fn new_webhook_secret() -> String {
    format!("whsec_{}", random_alphanumeric(SECRET_CHARS))
}

/// 32 random bytes, base64url — raw key material for signing keys.
pub fn random_key_material() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_long_and_unique() {
        let a = new_api_key(Environment::Live);
        let b = new_api_key(Environment::Live);
        assert!(a.key.starts_with("tg_live_"));
        assert_eq!(a.key.len(), "tg_live_".len() + SECRET_CHARS);
        assert_ne!(a.key, b.key);
        assert_eq!(a.prefix, a.key[..PREFIX_CHARS]);
        assert_eq!(a.hash, hash_key(&a.key));
        assert!(new_api_key(Environment::Shadow).key.starts_with("tg_shadow_"));
        assert!(new_webhook_secret().starts_with("whsec_"));
    }
}
