//! The gateway's signing keys, kept outside the store.
//!
//! - `token_hmac`: the HMAC-SHA256 root keys of capability tokens.
//! - `checkpoint_ed25519`: the Ed25519 keys that sign audit checkpoints.
//!
//! The secrets live in a key file (`<data dir>/keys.json`, created `0600`
//! on first start; `--keys-file` / `LICTOR_KEYS_FILE` elsewhere) or in the
//! environment (`LICTOR_KEYS`, the file's contents, for replicas fed a
//! mounted secret). The store holds only each key's id, generation and,
//! for checkpoint keys, public half: whoever can write the database can
//! neither sign a checkpoint nor mint a token. Every replica must be given
//! the same keys; a gateway whose keys do not cover the ids the store
//! names refuses to start and says which key is missing.
//!
//! Each purpose has generations: the newest signs, every one verifies (so
//! tokens and checkpoints of a rotated-out key keep verifying).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::credentials::random_key_material;
use crate::store::{KeyIdRow, Store, StoreError, StoreResult};

/// The format tag of a key file.
const FORMAT: &str = "lictor-keys/1";

/// What a key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Capability tokens (HMAC-SHA256 root keys).
    Token,
    /// Audit checkpoints (Ed25519).
    Checkpoint,
}

impl Purpose {
    /// The tag stored with a key id.
    pub fn tag(self) -> &'static str {
        match self {
            Purpose::Token => "token-hmac",
            Purpose::Checkpoint => "checkpoint-ed25519",
        }
    }

    /// The purpose a stored tag names.
    fn from_tag(tag: &str) -> Option<Purpose> {
        [Purpose::Token, Purpose::Checkpoint].into_iter().find(|p| p.tag() == tag)
    }

    fn name(self) -> &'static str {
        match self {
            Purpose::Token => "capability-token",
            Purpose::Checkpoint => "checkpoint",
        }
    }

    /// The key id of `secret`: derived from the public half (Ed25519) or a
    /// hash of the secret (HMAC), so it names the key without revealing it.
    fn kid(self, secret: &[u8; 32]) -> String {
        match self {
            Purpose::Token => format!("tok-{}", &hex::encode(Sha256::digest(Sha256::digest(secret)))[..16]),
            Purpose::Checkpoint => format!("ckp-{}", &hex::encode(Sha256::digest(public_key(secret)))[..16]),
        }
    }

    /// What the store keeps besides the id: the public half of a
    /// checkpoint key.
    fn public(self, secret: &[u8; 32]) -> Option<String> {
        match self {
            Purpose::Token => None,
            Purpose::Checkpoint => Some(URL_SAFE_NO_PAD.encode(public_key(secret))),
        }
    }
}

/// 32 secret bytes written as base64url without padding.
fn decode_secret(text: &str) -> Option<[u8; 32]> {
    URL_SAFE_NO_PAD.decode(text).ok().and_then(|raw| raw.try_into().ok())
}

fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// Where the keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A key file, created on first start if absent.
    File(PathBuf),
    /// The key file's contents, given inline (`LICTOR_KEYS`); read-only.
    Inline(String),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "the key file {}", path.display()),
            KeySource::Inline(_) => f.write_str("LICTOR_KEYS"),
        }
    }
}

/// Why the keys could not be loaded, created or rotated.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("{action} {}: {error}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The keys are not a key file this gateway can read.
    #[error("{source_name} is not a usable key file: {message}")]
    Malformed {
        /// Where they came from.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// The store names a key these keys do not hold.
    #[error(
        "the store names {purpose} key `{kid}` (generation {generation}), which {source_name} does not hold: \
         every replica must be given the same keys; restore the key file this store was used with, \
         or point --keys-file / LICTOR_KEYS_FILE / LICTOR_KEYS at it"
    )]
    NotHeld {
        /// The key's purpose.
        purpose: &'static str,
        /// Its id.
        kid: String,
        /// Its generation.
        generation: i64,
        /// Where the keys came from.
        source_name: String,
    },
    /// The store holds a signing secret although the keys live elsewhere.
    #[error(
        "the store's table `signing_keys` holds a secret for key `{kid}`, but the keys live in {source_name}: \
         someone with write access to the database put it there. The gateway will not use it; \
         delete the row once you have looked (`DELETE FROM signing_keys`)"
    )]
    PlantedSecret {
        /// The key id the row claims.
        kid: String,
        /// Where the keys live.
        source_name: String,
    },
    /// Keys given inline cannot be created, moved into or rotated.
    #[error("{0}")]
    ReadOnly(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One key as the key file holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretKey {
    kid: String,
    /// The 32 secret bytes, base64url without padding.
    secret: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// A key file: every generation of each purpose, oldest first.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    token_hmac: Vec<SecretKey>,
    checkpoint_ed25519: Vec<SecretKey>,
}

/// A key ready to use.
#[derive(Clone, Debug)]
pub struct Key {
    /// Its id.
    pub kid: String,
    /// The secret bytes (an HMAC key, or an Ed25519 seed).
    pub secret: [u8; 32],
    /// When it was created.
    pub created_at: Timestamp,
}

/// Every generation of each purpose, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    token: Vec<Key>,
    checkpoint: Vec<Key>,
}

impl Keyring {
    /// The generations of `purpose`, oldest first.
    pub fn keys(&self, purpose: Purpose) -> &[Key] {
        match purpose {
            Purpose::Token => &self.token,
            Purpose::Checkpoint => &self.checkpoint,
        }
    }

    fn keys_mut(&mut self, purpose: Purpose) -> &mut Vec<Key> {
        match purpose {
            Purpose::Token => &mut self.token,
            Purpose::Checkpoint => &mut self.checkpoint,
        }
    }

    /// The key of `purpose` that signs: the newest.
    pub fn current(&self, purpose: Purpose) -> Option<&Key> {
        self.keys(purpose).last()
    }

    /// The key of `purpose` named `kid`.
    pub fn get(&self, purpose: Purpose, kid: &str) -> Option<&Key> {
        self.keys(purpose).iter().find(|k| k.kid == kid)
    }

    /// A ring with one fresh key of each purpose.
    #[cfg(test)]
    pub(crate) fn generated() -> Keyring {
        let mut ring = Keyring::default();
        ring.add_new(Purpose::Token);
        ring.add_new(Purpose::Checkpoint);
        ring
    }

    fn add_new(&mut self, purpose: Purpose) -> Key {
        let secret = random_key_material();
        let key = Key { kid: purpose.kid(&secret), secret, created_at: Timestamp::now() };
        self.keys_mut(purpose).push(key.clone());
        key
    }

    fn parse(text: &str, source_name: &str) -> Result<Keyring, KeyError> {
        let malformed =
            |message: String| KeyError::Malformed { source_name: source_name.to_string(), message };
        let file: KeyFile = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        if file.format != FORMAT {
            return Err(malformed(format!("`format` is `{}`, expected `{FORMAT}`", file.format)));
        }
        let mut ring = Keyring::default();
        for (purpose, keys) in
            [(Purpose::Token, file.token_hmac), (Purpose::Checkpoint, file.checkpoint_ed25519)]
        {
            for key in keys {
                let secret = decode_secret(&key.secret).ok_or_else(|| {
                    malformed(format!("the secret of `{}` is not 32 bytes of base64url", key.kid))
                })?;
                let kid = purpose.kid(&secret);
                if kid != key.kid {
                    return Err(malformed(format!("the secret of `{}` belongs to `{kid}`", key.kid)));
                }
                if ring.get(purpose, &kid).is_some() {
                    return Err(malformed(format!("`{kid}` appears twice")));
                }
                ring.keys_mut(purpose).push(Key {
                    kid,
                    secret,
                    created_at: Timestamp::from_datetime(key.created_at),
                });
            }
        }
        Ok(ring)
    }

    fn to_text(&self) -> String {
        let keys = |purpose| {
            self.keys(purpose)
                .iter()
                .map(|k| SecretKey {
                    kid: k.kid.clone(),
                    secret: URL_SAFE_NO_PAD.encode(k.secret),
                    created_at: k.created_at.to_datetime(),
                })
                .collect()
        };
        let file = KeyFile {
            format: FORMAT.into(),
            token_hmac: keys(Purpose::Token),
            checkpoint_ed25519: keys(Purpose::Checkpoint),
        };
        // Plain strings and dates: serialising cannot fail.
        serde_json::to_string_pretty(&file).map(|text| text + "\n").unwrap_or_default()
    }
}

impl KeySource {
    /// The keys, or `None` when the key file does not exist yet.
    fn read(&self) -> Result<Option<Keyring>, KeyError> {
        match self {
            KeySource::Inline(text) => Keyring::parse(text, &self.to_string()).map(Some),
            KeySource::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => Keyring::parse(&text, &self.to_string()).map(Some),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(KeyError::Io { action: "cannot read", path: path.clone(), error }),
            },
        }
    }

    fn writable(&self, why: &str) -> Result<&Path, KeyError> {
        match self {
            KeySource::File(path) => Ok(path),
            KeySource::Inline(_) => Err(KeyError::ReadOnly(format!(
                "{why}, but the keys come from LICTOR_KEYS, which cannot be written: \
                 do it with a key file (--keys-file) and give its contents to LICTOR_KEYS"
            ))),
        }
    }

    /// Writes the first key file; `false` if another process created one
    /// meanwhile (read it instead). The file appears complete or not at
    /// all: it is written aside, then linked into place.
    fn create(&self, ring: &Keyring) -> Result<bool, KeyError> {
        let path = self.writable("the gateway has no keys yet")?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|error| KeyError::Io {
                action: "cannot create",
                path: dir.to_path_buf(),
                error,
            })?;
        }
        let temporary = write_aside(path, ring)?;
        let linked = std::fs::hard_link(&temporary, path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            // A file system without hard links: create the file in place,
            // still exclusively (a crash while writing it leaves a file
            // that does not parse, and the gateway says so).
            Err(_) => write_in_place(path, ring),
        }
    }

    /// Why the key file is readable by others than its owner, if it is
    /// (Unix permissions; an inline source or another platform: `None`).
    pub fn exposure(&self) -> Option<String> {
        let KeySource::File(path) = self else { return None };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then(|| {
                format!(
                    "the key file {} is readable by others than its owner (mode {mode:03o}): \
                     whoever reads it can mint tokens and sign checkpoints; `chmod 600` it",
                    path.display()
                )
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    /// Replaces the key file with `ring`, atomically (a reader sees the old
    /// file or the new one, never half of one).
    fn replace(&self, ring: &Keyring, why: &str) -> Result<(), KeyError> {
        let path = self.writable(why)?;
        let temporary = write_aside(path, ring)?;
        std::fs::rename(&temporary, path).map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            KeyError::Io { action: "cannot replace", path: path.to_path_buf(), error }
        })
    }
}

/// `ring` written and synced to a new private file beside `path`.
fn write_aside(path: &Path, ring: &Keyring) -> Result<PathBuf, KeyError> {
    use std::io::Write as _;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary =
        path.with_file_name(format!(".{name}.{}.{}.tmp", std::process::id(), Timestamp::now().micros()));
    let mut file = private_file(&temporary).map_err(|error| KeyError::Io {
        action: "cannot create",
        path: temporary.clone(),
        error,
    })?;
    file.write_all(ring.to_text().as_bytes()).and_then(|()| file.sync_all()).map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        KeyError::Io { action: "cannot write", path: temporary.clone(), error }
    })?;
    Ok(temporary)
}

/// Creates `path` exclusively and writes `ring` into it; `false` if it
/// already exists.
fn write_in_place(path: &Path, ring: &Keyring) -> Result<bool, KeyError> {
    use std::io::Write as _;
    let mut file = match private_file(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(error) => return Err(KeyError::Io { action: "cannot create", path: path.to_path_buf(), error }),
    };
    file.write_all(ring.to_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|error| KeyError::Io { action: "cannot write", path: path.to_path_buf(), error })?;
    Ok(true)
}

/// A new file only its owner can read and write.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// The keys of a running gateway: loaded at start, reloaded from their
/// source when the store names a key they do not hold yet (a rotation).
#[derive(Clone, Debug)]
pub struct Keys {
    source: KeySource,
    ring: Arc<RwLock<Arc<Keyring>>>,
    /// When the source was last read on a request's behalf.
    read_at: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl Keys {
    /// The keys now.
    pub fn ring(&self) -> Arc<Keyring> {
        match self.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Where they come from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// [`Keys::reload`], at most once a second: what a request naming an
    /// unknown key may trigger (a stream of tokens with made-up `kid`s
    /// reads the key file once a second, not once each).
    fn reload_throttled(&self) {
        let mut read_at = self.read_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if read_at.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(1)) {
            return;
        }
        *read_at = Some(std::time::Instant::now());
        drop(read_at);
        // An unreadable source keeps the keys already loaded.
        let _ = self.reload();
    }

    /// Reads the source again; answers whether the keys changed.
    pub fn reload(&self) -> Result<bool, KeyError> {
        let Some(ring) = self.source.read()? else {
            return Err(KeyError::Malformed {
                source_name: self.source.to_string(),
                message: "it no longer exists".into(),
            });
        };
        let changed = {
            let now = self.ring();
            [Purpose::Token, Purpose::Checkpoint]
                .into_iter()
                .any(|p| now.keys(p).iter().map(|k| &k.kid).ne(ring.keys(p).iter().map(|k| &k.kid)))
        };
        if changed {
            match self.ring.write() {
                Ok(mut slot) => *slot = Arc::new(ring),
                Err(poisoned) => *poisoned.into_inner() = Arc::new(ring),
            }
        }
        Ok(changed)
    }
}

/// Loads the keys for `store` from `source`, creating them on the first
/// start of a new store, and checks that they hold every key the store
/// names. Keys the store does not know yet (a rotation whose store write
/// did not happen, or an emptied store) are recorded in it.
///
/// A store of an earlier version kept the secrets itself: they are moved
/// into the key file, then removed from the store.
pub async fn open(store: &Store, source: KeySource) -> Result<Keys, KeyError> {
    let mut ring = source.read()?;
    let legacy = store.legacy_signing_secrets().await?;
    if !legacy.is_empty() {
        ring = Some(move_legacy_secrets(store, &source, ring, &legacy).await?);
    }
    let stored = store.key_ids().await?;
    let ring = match ring {
        Some(ring) => ring,
        None => {
            if let Some(first) = stored.first() {
                return Err(not_held(first, &source));
            }
            let mut fresh = Keyring::default();
            fresh.add_new(Purpose::Token);
            fresh.add_new(Purpose::Checkpoint);
            if source.create(&fresh)? {
                fresh
            } else {
                // Another replica created it first: use its keys.
                source.read()?.ok_or_else(|| KeyError::Malformed {
                    source_name: source.to_string(),
                    message: "it vanished right after it was created".into(),
                })?
            }
        }
    };
    let mut ring = ring;
    for purpose in [Purpose::Token, Purpose::Checkpoint] {
        if ring.keys(purpose).is_empty() {
            ring.add_new(purpose);
            source.replace(&ring, &format!("the keys hold no {} key", purpose.name()))?;
        }
    }
    for row in &stored {
        let purpose = purpose_of(&row.kid, &row.purpose)?;
        if ring.get(purpose, &row.kid).is_none() {
            return Err(not_held(row, &source));
        }
    }
    for purpose in [Purpose::Token, Purpose::Checkpoint] {
        for key in ring.keys(purpose) {
            if !stored.iter().any(|row| row.kid == key.kid) {
                store
                    .add_key_id(purpose.tag(), &key.kid, purpose.public(&key.secret), key.created_at)
                    .await?;
            }
        }
    }
    Ok(Keys { source, ring: Arc::new(RwLock::new(Arc::new(ring))), read_at: Arc::default() })
}

fn purpose_of(kid: &str, tag: &str) -> Result<Purpose, StoreError> {
    Purpose::from_tag(tag)
        .ok_or_else(|| StoreError::Corrupt(format!("key `{kid}` has the unknown purpose `{tag}`").into()))
}

/// Moves the secrets a store of an earlier version kept into the key file
/// that does not exist yet, then deletes them from the store.
///
/// Only an upgrade has them: once the keys live outside the store, secrets
/// found in it were written there by someone else, and adopting them would
/// hand whoever can write the database a signing key. They are refused,
/// unless they are exactly keys the file already holds (a move interrupted
/// before the store forgot them), which are then deleted.
async fn move_legacy_secrets(
    store: &Store,
    source: &KeySource,
    held: Option<Keyring>,
    legacy: &[crate::store::LegacySecret],
) -> Result<Keyring, KeyError> {
    let mut moved = held.clone().unwrap_or_default();
    for row in legacy {
        let purpose = purpose_of(&row.kid, &row.purpose)?;
        let secret =
            decode_secret(&row.secret).filter(|secret| purpose.kid(secret) == row.kid).ok_or_else(|| {
                StoreError::Corrupt(format!("stored key `{}` does not match its secret", row.kid).into())
            })?;
        match (&held, moved.get(purpose, &row.kid)) {
            (_, Some(key)) if key.secret == secret => continue,
            // An upgrade whose keys come from LICTOR_KEYS: the secrets have
            // nowhere to go.
            (Some(_), None) if matches!(source, KeySource::Inline(_)) => {
                source.writable("the store holds signing secrets that must move out of it")?;
            }
            (None, None) => {
                moved.keys_mut(purpose).push(Key { kid: row.kid.clone(), secret, created_at: row.created_at })
            }
            _ => {
                return Err(KeyError::PlantedSecret {
                    kid: row.kid.clone(),
                    source_name: source.to_string(),
                });
            }
        }
    }
    if held.is_none() && !source.create(&moved)? {
        return Err(KeyError::ReadOnly(format!("{source} appeared while moving the store's keys into it")));
    }
    store.drop_legacy_signing_secrets().await?;
    Ok(moved)
}

fn not_held(row: &KeyIdRow, source: &KeySource) -> KeyError {
    let purpose = purpose_of(&row.kid, &row.purpose).map_or("a", |p| p.name());
    KeyError::NotHeld {
        purpose,
        kid: row.kid.clone(),
        generation: row.generation,
        source_name: source.to_string(),
    }
}

/// Adds a new generation of `purpose` (`lictor keys rotate`): to the key
/// file first, then its id to the store. Running gateways that share the
/// file pick it up within a second; replicas fed `LICTOR_KEYS` need the
/// new contents and a restart. Tokens and checkpoints of the earlier
/// generations keep verifying.
pub async fn rotate(store: &Store, source: &KeySource, purpose: Purpose) -> Result<KeyIdRow, KeyError> {
    let keys = open(store, source.clone()).await?;
    let mut ring = (*keys.ring()).clone();
    let key = ring.add_new(purpose);
    source.replace(&ring, &format!("rotating the {} key", purpose.name()))?;
    Ok(store.add_key_id(purpose.tag(), &key.kid, purpose.public(&key.secret), key.created_at).await?)
}

/// The capability-token root keys by `kid`: every generation, so tokens of
/// a rotated-out key verify until they expire.
#[derive(Clone, Debug)]
pub struct TokenKeys {
    keys: Keys,
    store: Store,
}

impl TokenKeys {
    /// The token keys of `keys`; `store` says which generation is newest.
    pub fn new(keys: Keys, store: Store) -> TokenKeys {
        TokenKeys { keys, store }
    }

    /// The root key of `kid`, reading the keys' source again once when it
    /// is unknown (another process may have rotated them).
    pub async fn root_key(&self, kid: &str) -> StoreResult<Option<[u8; 32]>> {
        let lookup =
            |ring: &Keyring| ring.get(Purpose::Token, kid).map(|k| crate::token::derive_root_key(&k.secret));
        if let Some(key) = lookup(&self.keys.ring()) {
            return Ok(Some(key));
        }
        self.keys.reload_throttled();
        Ok(lookup(&self.keys.ring()))
    }

    /// The newest key: what new tokens are minted with. A generation the
    /// store names but these keys do not hold yet (a rotation elsewhere)
    /// makes them read their source again.
    pub async fn current(&self) -> StoreResult<Option<(String, [u8; 32])>> {
        let stored = self.store.key_ids().await?;
        let newest =
            stored.iter().filter(|row| row.purpose == Purpose::Token.tag()).max_by_key(|row| row.generation);
        if let Some(newest) = newest
            && self.keys.ring().get(Purpose::Token, &newest.kid).is_none()
        {
            // Minting is an administrator's act: read the source every time,
            // so a rotation is used as soon as it is made. An unreadable
            // source keeps the keys already loaded.
            let _ = self.keys.reload();
        }
        let ring = self.keys.ring();
        let key = newest
            .and_then(|row| ring.get(Purpose::Token, &row.kid))
            .or_else(|| ring.current(Purpose::Token));
        Ok(key.map(|k| (k.kid.clone(), crate::token::derive_root_key(&k.secret))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_round_trips_and_ids_name_their_secrets() {
        let mut ring = Keyring::default();
        let token = ring.add_new(Purpose::Token);
        let checkpoint = ring.add_new(Purpose::Checkpoint);
        let text = ring.to_text();
        let again = Keyring::parse(&text, "test").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.current(Purpose::Token).map(|k| k.secret), Some(token.secret));
        assert_eq!(again.current(Purpose::Checkpoint).map(|k| k.secret), Some(checkpoint.secret));
        assert!(token.kid.starts_with("tok-") && checkpoint.kid.starts_with("ckp-"));
        let public = Purpose::Checkpoint.public(&checkpoint.secret).unwrap_or_default();
        let raw: [u8; 32] =
            URL_SAFE_NO_PAD.decode(public).ok().and_then(|r| r.try_into().ok()).unwrap_or([0; 32]);
        assert_eq!(raw, public_key(&checkpoint.secret));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_reported() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("keys.json");
        let source = KeySource::File(path.clone());
        assert!(source.create(&Keyring::generated()).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(source.exposure(), None, "created 0600");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        let warning = source.exposure().unwrap_or_default();
        assert!(warning.contains("mode 644") && warning.contains("chmod 600"), "{warning}");
        assert_eq!(KeySource::Inline(String::new()).exposure(), None);
        // Created in place where no hard link can be made, exclusively.
        let again = dir.path().join("in-place.json");
        assert!(write_in_place(&again, &Keyring::generated()).unwrap_or_else(|e| panic!("{e}")));
        assert!(!write_in_place(&again, &Keyring::generated()).unwrap_or_else(|e| panic!("{e}")));
        let mode = std::fs::metadata(&again).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_key_file_whose_ids_do_not_match_is_refused() {
        let mut ring = Keyring::default();
        let token = ring.add_new(Purpose::Token);
        let text = ring.to_text().replace(&token.kid, "tok-0000000000000000");
        let error = Keyring::parse(&text, "test").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("belongs to"), "{error}");
        let error =
            Keyring::parse("{\"format\": \"x\", \"token_hmac\": [], \"checkpoint_ed25519\": []}", "test")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(error.contains("lictor-keys/1"), "{error}");
    }

    #[test]
    fn requests_read_the_key_file_at_most_once_a_second() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let source = KeySource::File(dir.path().join("keys.json"));
        let mut ring = Keyring::default();
        ring.add_new(Purpose::Token);
        assert!(source.create(&ring).unwrap_or_else(|e| panic!("{e}")));
        let keys = Keys {
            source: source.clone(),
            ring: Arc::new(RwLock::new(Arc::new(ring.clone()))),
            read_at: Arc::default(),
        };
        ring.add_new(Purpose::Token);
        source.replace(&ring, "test").unwrap_or_else(|e| panic!("{e}"));
        keys.reload_throttled();
        assert_eq!(keys.ring().keys(Purpose::Token).len(), 2, "the first read happens");
        ring.add_new(Purpose::Token);
        source.replace(&ring, "test").unwrap_or_else(|e| panic!("{e}"));
        keys.reload_throttled();
        assert_eq!(keys.ring().keys(Purpose::Token).len(), 2, "a second one within the second does not");
        assert!(keys.reload().unwrap_or_else(|e| panic!("{e}")), "an explicit reload always reads");
        assert_eq!(keys.ring().keys(Purpose::Token).len(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let source = KeySource::File(dir.path().join("nested").join("keys.json"));
        let mut ring = Keyring::default();
        ring.add_new(Purpose::Token);
        assert!(source.create(&ring).unwrap_or_else(|e| panic!("{e}")));
        assert!(!source.create(&ring).unwrap_or_else(|e| panic!("{e}")), "a second create reads the first");
        let KeySource::File(path) = &source else { unreachable!() };
        let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
        ring.add_new(Purpose::Token);
        source.replace(&ring, "test").unwrap_or_else(|e| panic!("{e}"));
        let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
        assert_eq!(source.read().ok().flatten().map(|r| r.keys(Purpose::Token).len()), Some(2));
    }
}
