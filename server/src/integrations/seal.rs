//! Integration secrets at rest.
//!
//! `v1.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`: ChaCha20-Poly1305
//! (RFC 8439, the RustCrypto `chacha20poly1305` crate) under a key derived
//! with HKDF-SHA256 from the checkpoint signing key `kid` (in the keys
//! file, never in the database), info `lictor integration secrets v1`. The
//! plaintext is the JSON object of the secret fields; the associated data
//! is the RFC 8785 canonical JSON of `{"category","enabled","id","kind",
//! "settings","tenant"}`, so the secrets open only beside the settings and
//! state they were sealed with.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::signing::{Keyring, Purpose};

/// The format's version tag.
const VERSION: &str = "v1";

/// HKDF's `info`.
const INFO: &[u8] = b"lictor integration secrets v1";

/// Why secrets cannot be sealed or opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The gateway holds no checkpoint key.
    #[error("no checkpoint key to seal secrets with")]
    NoKey,
    /// The sealed text is not `v1.<kid>.<data>`.
    #[error("the sealed secrets are not in the v1 format")]
    Malformed,
    /// The key that sealed them is not in the keys file.
    #[error("the key `{0}` that sealed the secrets is not in the keys file")]
    UnknownKey(String),
    /// They do not open: changed, or sealed with other settings.
    #[error("the secrets do not open: the integration was changed outside the API")]
    Tampered,
}

/// What the secrets are bound to.
pub struct Binding<'a> {
    /// The integration's id.
    pub id: &'a str,
    /// Its tenant.
    pub tenant: &'a str,
    /// `sink` or `channel`.
    pub category: &'a str,
    /// The kind.
    pub kind: &'a str,
    /// Whether it runs.
    pub enabled: bool,
    /// The settings' JSON without secrets.
    pub settings: &'a serde_json::Value,
}

impl Binding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let document = serde_json::json!({
            "category": self.category,
            "enabled": self.enabled,
            "id": self.id,
            "kind": self.kind,
            "settings": self.settings,
            "tenant": self.tenant,
        });
        lictor_offline::audit::canonical_bytes(&document)
    }
}

fn cipher(secret: &[u8; 32]) -> ChaCha20Poly1305 {
    let mut key = [0u8; 32];
    // 32 bytes is within HKDF-SHA256's output limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, secret).expand(INFO, &mut key);
    ChaCha20Poly1305::new(&Key::from(key))
}

/// Seals `secrets` for `binding` with the newest checkpoint key.
pub fn seal(
    ring: &Keyring,
    binding: &Binding<'_>,
    secrets: &BTreeMap<String, String>,
) -> Result<String, SealError> {
    let key = ring.current(Purpose::Checkpoint).ok_or(SealError::NoKey)?;
    let nonce: [u8; 12] = rand::random();
    let plaintext = serde_json::to_vec(secrets).unwrap_or_default();
    let aad = binding.associated_data();
    let sealed = cipher(&key.secret)
        .encrypt(&Nonce::from(nonce), Payload { msg: &plaintext, aad: &aad })
        .map_err(|_| SealError::NoKey)?;
    let mut data = nonce.to_vec();
    data.extend(sealed);
    Ok(format!("{VERSION}.{}.{}", key.kid, URL_SAFE_NO_PAD.encode(data)))
}

/// Opens what [`seal`] sealed for `binding`.
pub fn open(
    ring: &Keyring,
    binding: &Binding<'_>,
    sealed: &str,
) -> Result<BTreeMap<String, String>, SealError> {
    let mut parts = sealed.splitn(3, '.');
    let (Some(VERSION), Some(kid), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SealError::Malformed);
    };
    let key = ring.get(Purpose::Checkpoint, kid).ok_or_else(|| SealError::UnknownKey(kid.to_string()))?;
    let data = URL_SAFE_NO_PAD.decode(data).map_err(|_| SealError::Malformed)?;
    if data.len() < 12 + 16 {
        return Err(SealError::Malformed);
    }
    let (nonce, ciphertext) = data.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| SealError::Malformed)?;
    let aad = binding.associated_data();
    let plaintext = cipher(&key.secret)
        .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: &aad })
        .map_err(|_| SealError::Tampered)?;
    serde_json::from_slice(&plaintext).map_err(|_| SealError::Tampered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_open_only_beside_their_settings() {
        let ring = Keyring::generated();
        let settings = serde_json::json!({"kind": "splunk", "url": "https://splunk.example:8088"});
        let binding = Binding {
            id: "itg_1",
            tenant: "acme",
            category: "sink",
            kind: "splunk",
            enabled: true,
            settings: &settings,
        };
        let secrets = BTreeMap::from([("token".to_string(), "hec-secret".to_string())]);
        let sealed = seal(&ring, &binding, &secrets).unwrap();
        assert!(!sealed.contains("hec-secret"));
        assert_eq!(open(&ring, &binding, &sealed).unwrap(), secrets);
        // Another URL, tenant or id: the secrets do not open.
        let moved = serde_json::json!({"kind": "splunk", "url": "https://attacker.example"});
        for other in [
            Binding { settings: &moved, ..binding },
            Binding { tenant: "other", ..binding },
            Binding { id: "itg_2", ..binding },
            Binding { enabled: false, ..binding },
        ] {
            assert_eq!(open(&ring, &other, &sealed), Err(SealError::Tampered));
        }
        // A flipped byte, a missing key, a wrong format.
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&ring, &binding, &String::from_utf8(bytes).unwrap()), Err(SealError::Tampered));
        assert!(matches!(open(&Keyring::generated(), &binding, &sealed), Err(SealError::UnknownKey(_))));
        assert_eq!(open(&ring, &binding, "v0.x.y"), Err(SealError::Malformed));
    }
}
