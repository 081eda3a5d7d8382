//! The gateway's signing keys, created and persisted on first start.
//!
//! - `token-hmac`: the HMAC-SHA256 root key of capability tokens.
//! - `checkpoint-ed25519`: the Ed25519 key that signs audit checkpoints.
//!
//! Keys live in the store so every gateway sharing it uses the same keys;
//! each carries a `kid` (derived from its public half, or from a hash of
//! the secret for symmetric keys) so they can rotate.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::credentials::random_key_material;
use crate::store::{SigningKeyRow, Store, StoreResult};

/// Purpose tag of the capability-token key.
pub(crate) const TOKEN_HMAC: &str = "token-hmac";
/// Purpose tag of the audit-checkpoint key.
pub(crate) const CHECKPOINT_ED25519: &str = "checkpoint-ed25519";

/// The current key of each purpose.
#[derive(Clone, Debug)]
pub struct SigningKeys {
    /// Capability-token HMAC key.
    pub token: SigningKeyRow,
    /// Audit checkpoint signing key.
    pub checkpoint: SigningKeyRow,
}

fn kid(purpose_tag: &str, material: &[u8]) -> String {
    format!("{purpose_tag}-{}", &hex::encode(Sha256::digest(material))[..16])
}

fn new_hmac_key() -> (String, String, Option<String>) {
    let secret = random_key_material();
    (kid("tok", &Sha256::digest(secret)), URL_SAFE_NO_PAD.encode(secret), None)
}

fn new_ed25519_key() -> (String, String, Option<String>) {
    let seed = random_key_material();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    (kid("ckp", &public), URL_SAFE_NO_PAD.encode(seed), Some(URL_SAFE_NO_PAD.encode(public)))
}

/// Loads the signing keys, creating any that do not exist yet.
pub async fn ensure(store: &Store) -> StoreResult<SigningKeys> {
    let now = Timestamp::now();
    Ok(SigningKeys {
        token: store.ensure_signing_key(TOKEN_HMAC, new_hmac_key, now).await?,
        checkpoint: store.ensure_signing_key(CHECKPOINT_ED25519, new_ed25519_key, now).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_public_key_matches_its_seed() {
        let (kid, seed, public) = new_ed25519_key();
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(seed)
            .ok()
            .and_then(|s| s.try_into().ok())
            .unwrap_or_else(|| panic!("bad seed"));
        let derived = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        assert_eq!(public, Some(URL_SAFE_NO_PAD.encode(derived)));
        assert!(kid.starts_with("ckp-"));
    }
}

/// The capability-token root keys by `kid`: every generation, so tokens of
/// a rotated-out key verify until they expire.
#[derive(Clone, Debug)]
pub struct TokenKeys {
    store: Store,
    keys: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, [u8; 32]>>>,
}

fn root_key_of(row: &SigningKeyRow) -> Option<[u8; 32]> {
    let secret = URL_SAFE_NO_PAD.decode(&row.secret).ok()?;
    Some(crate::token::derive_root_key(&secret))
}

impl TokenKeys {
    /// Loads every token key generation.
    pub async fn load(store: Store) -> StoreResult<TokenKeys> {
        let keys = TokenKeys { store, keys: Default::default() };
        keys.reload().await?;
        Ok(keys)
    }

    async fn reload(&self) -> StoreResult<()> {
        let rows = self.store.signing_keys(TOKEN_HMAC).await?;
        let loaded: std::collections::HashMap<String, [u8; 32]> =
            rows.iter().filter_map(|row| Some((row.kid.clone(), root_key_of(row)?))).collect();
        if let Ok(mut keys) = self.keys.write() {
            *keys = loaded;
        }
        Ok(())
    }

    /// The root key of `kid`, reloading once when it is unknown (another
    /// process may have rotated keys).
    pub async fn root_key(&self, kid: &str) -> StoreResult<Option<[u8; 32]>> {
        if let Some(key) = self.keys.read().ok().and_then(|keys| keys.get(kid).copied()) {
            return Ok(Some(key));
        }
        self.reload().await?;
        Ok(self.keys.read().ok().and_then(|keys| keys.get(kid).copied()))
    }

    /// The newest key: what new tokens are minted with.
    pub async fn current(&self) -> StoreResult<Option<(String, [u8; 32])>> {
        let rows = self.store.signing_keys(TOKEN_HMAC).await?;
        Ok(rows.last().and_then(|row| Some((row.kid.clone(), root_key_of(row)?))))
    }
}

/// Adds a new generation of the checkpoint key (`lictor keys rotate --key
/// checkpoint`). Running gateways sign with it within a second; the earlier
/// keys stay published so older checkpoints keep verifying.
pub async fn rotate_checkpoint_key(store: &Store) -> StoreResult<SigningKeyRow> {
    let (kid, secret, public_key) = new_ed25519_key();
    store.add_signing_key_generation(CHECKPOINT_ED25519, &kid, &secret, public_key, Timestamp::now()).await
}

/// Adds a new generation of the token key (`lictor keys rotate`). Tokens
/// minted with earlier generations keep verifying until they expire.
pub async fn rotate_token_key(store: &Store) -> StoreResult<SigningKeyRow> {
    let (kid, secret, public_key) = new_hmac_key();
    store.add_signing_key_generation(TOKEN_HMAC, &kid, &secret, public_key, Timestamp::now()).await
}
