//! Signed checkpoints of a tenant's audit tree, in the formats of the
//! transparency-log ecosystem: the body is a C2SP `tlog-checkpoint`, signed
//! as a C2SP `signed-note` with Ed25519, so any tool that verifies Go
//! sumdb / Sigstore / CT-style checkpoints reads ours.
//!
//! ```text
//! lictor/tenants/acme                        ← origin: the log's name
//! 1024                                         ← tree size (entries)
//! 3q2+7wW1X0…=                                 ← base64 RFC 6962 root hash
//! time 2026-11-22T10:00:00Z                    ← extension line: when signed
//!
//! — lictor Jjv1cdvS…                          ← signature line
//! ```
//!
//! The signature line is `— <key name> <base64(key id ‖ signature)>`: the
//! key id is the first 4 bytes of SHA-256(`<key name>` ‖ `\n` ‖ 0x01 ‖
//! public key) and the Ed25519 signature covers the note text (the lines
//! above the blank line, each ending in `\n`). A verifier key is written
//! `<key name>+<key id as 8 hex digits>+<base64(0x01 ‖ public key)>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The algorithm byte of Ed25519 keys in signed notes.
const ED25519: u8 = 0x01;

/// Why a checkpoint or a key cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note is not a well-formed signed note.
    #[error("malformed signed note: {0}")]
    MalformedNote(String),
    /// The text is not a well-formed checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// The verifier key is not `<name>+<id>+<base64 key>`.
    #[error("malformed verifier key: {0}")]
    MalformedKey(String),
    /// No signature line by the given key.
    #[error("the note carries no signature by `{0}`")]
    NotSignedBy(String),
    /// A signature by the key that does not verify.
    #[error("the signature by `{0}` does not verify")]
    BadSignature(String),
}

/// The 4-byte id of an Ed25519 key named `name`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| !c.is_whitespace() && c != '+' && !c.is_control())
}

/// A public key that verifies signed notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    /// The key's name (the signer's name in signature lines).
    pub name: String,
    /// Its 4-byte id.
    pub id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `public_key` named `name`.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<NoteVerifier, CheckpointError> {
        if !valid_key_name(name) {
            return Err(CheckpointError::MalformedKey(format!("invalid key name `{name}`")));
        }
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|e| CheckpointError::MalformedKey(format!("not an Ed25519 public key: {e}")))?;
        Ok(NoteVerifier { name: name.to_string(), id: key_id(name, public_key), key })
    }

    /// Parses `<name>+<hex id>+<base64(0x01 ‖ key)>`.
    pub fn parse(vkey: &str) -> Result<NoteVerifier, CheckpointError> {
        let bad = |why: &str| CheckpointError::MalformedKey(why.to_string());
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected `<name>+<key id>+<key>`"));
        };
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("the key id is not 8 hex digits"))?;
        let raw = STANDARD.decode(key).map_err(|_| bad("the key is not base64"))?;
        let Some((&ED25519, public)) = raw.split_first() else {
            return Err(bad("not an Ed25519 key (algorithm byte 0x01)"));
        };
        let public: [u8; 32] = public.try_into().map_err(|_| bad("an Ed25519 key has 32 bytes"))?;
        let verifier = NoteVerifier::new(name, &public)?;
        if verifier.id != id.to_be_bytes() {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(verifier)
    }

    /// The `<name>+<hex id>+<base64 key>` form.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.id), STANDARD.encode(raw))
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks that `note` carries a valid signature by this key; answers
    /// the signed text.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, CheckpointError> {
        let (text, signatures) = split_note(note)?;
        let mut found = false;
        for line in signatures.lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(CheckpointError::MalformedNote(format!("not a signature line: `{line}`")));
            };
            let Some((name, signature)) = rest.split_once(' ') else {
                return Err(CheckpointError::MalformedNote(format!("not a signature line: `{line}`")));
            };
            let raw = STANDARD
                .decode(signature)
                .map_err(|_| CheckpointError::MalformedNote("a signature is not base64".into()))?;
            if name != self.name || raw.len() < 4 || raw[..4] != self.id {
                continue;
            }
            found = true;
            let signature = Signature::from_slice(&raw[4..])
                .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
            self.key
                .verify(text.as_bytes(), &signature)
                .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
        }
        if found { Ok(text) } else { Err(CheckpointError::NotSignedBy(self.name.clone())) }
    }
}

/// Splits a signed note into its text (ending in `\n`) and its signature
/// lines.
fn split_note(note: &str) -> Result<(&str, &str), CheckpointError> {
    let Some(at) = note.rfind("\n\n") else {
        return Err(CheckpointError::MalformedNote("no blank line before the signatures".into()));
    };
    let (text, signatures) = (&note[..=at], &note[at + 2..]);
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return Err(CheckpointError::MalformedNote("signature lines must end with a newline".into()));
    }
    Ok((text, signatures))
}

/// A key that signs notes.
#[derive(Clone)]
pub struct NoteSigner {
    verifier: NoteVerifier,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner").field("name", &self.verifier.name).finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer named `name` with the Ed25519 `seed`.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, CheckpointError> {
        let key = SigningKey::from_bytes(seed);
        Ok(NoteSigner { verifier: NoteVerifier::new(name, &key.verifying_key().to_bytes())?, key })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Signs `text` (which must end with `\n` and contain no blank line):
    /// the signed note.
    pub fn sign(&self, text: &str) -> Result<String, CheckpointError> {
        if !text.ends_with('\n') || text.contains("\n\n") {
            return Err(CheckpointError::MalformedNote("the text must end with one newline".into()));
        }
        let signature = self.key.sign(text.as_bytes());
        let mut raw = self.verifier.id.to_vec();
        raw.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n\u{2014} {} {}\n", self.verifier.name, STANDARD.encode(raw)))
    }
}

/// A checkpoint's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name.
    pub origin: String,
    /// Entries covered.
    pub tree_size: u64,
    /// The RFC 6962 root of those entries.
    pub root_hash: Hash,
    /// When it was signed (RFC 3339, seconds), from the `time` line.
    pub time: Option<String>,
}

impl Checkpoint {
    /// The checkpoint text (what is signed).
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.tree_size, STANDARD.encode(self.root_hash));
        if let Some(time) = &self.time {
            text.push_str(&format!("time {time}\n"));
        }
        text
    }

    /// Parses a checkpoint text (unknown extension lines are ignored, as
    /// the format requires).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |why: &str| CheckpointError::MalformedCheckpoint(why.to_string());
        let mut lines = text.strip_suffix('\n').ok_or_else(|| bad("no final newline"))?.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| bad("no origin"))?;
        let size = lines.next().ok_or_else(|| bad("no tree size"))?;
        if size.is_empty()
            || (size.len() > 1 && size.starts_with('0'))
            || !size.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad("the tree size is not a decimal number"));
        }
        let tree_size = size.parse().map_err(|_| bad("the tree size is out of range"))?;
        let root = lines.next().ok_or_else(|| bad("no root hash"))?;
        let root = STANDARD.decode(root).map_err(|_| bad("the root hash is not base64"))?;
        let root_hash: Hash = root.try_into().map_err(|_| bad("the root hash is not 32 bytes"))?;
        let mut time = None;
        for line in lines {
            if line.is_empty() {
                return Err(bad("empty extension line"));
            }
            if let Some(value) = line.strip_prefix("time ") {
                time = Some(value.to_string());
            }
        }
        Ok(Checkpoint { origin: origin.to_string(), tree_size, root_hash, time })
    }

    /// Verifies `note` with `verifier` and parses its checkpoint.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse(verifier.open(note)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the C2SP signed-note specification and of Go's
    /// `golang.org/x/mod/sumdb/note` documentation.
    const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIGNATURE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn peter() -> NoteSigner {
        let raw = STANDARD.decode(PETER_SKEY.splitn(5, '+').nth(4).unwrap()).unwrap();
        assert_eq!(raw[0], ED25519);
        NoteSigner::new("PeterNeumann", &raw[1..].try_into().unwrap()).unwrap()
    }

    #[test]
    fn signs_exactly_like_the_reference_implementation() {
        let signer = peter();
        assert_eq!(signer.verifier().to_vkey(), PETER_VKEY);
        let note = signer.sign(PETER_TEXT).unwrap();
        assert_eq!(note, format!("{PETER_TEXT}\n{PETER_SIGNATURE}"));
        let verifier = NoteVerifier::parse(PETER_VKEY).unwrap();
        assert_eq!(verifier.open(&note).unwrap(), PETER_TEXT);
    }

    #[test]
    fn tampered_notes_and_other_keys_are_refused() {
        let note = peter().sign(PETER_TEXT).unwrap();
        let verifier = NoteVerifier::parse(PETER_VKEY).unwrap();
        let edited = note.replace("answer", "ANSWER");
        assert_eq!(verifier.open(&edited), Err(CheckpointError::BadSignature("PeterNeumann".into())));
        let other = NoteSigner::new("PeterNeumann", &[7; 32]).unwrap();
        assert_eq!(
            other.verifier().open(&note),
            Err(CheckpointError::NotSignedBy("PeterNeumann".into())),
            "a key with the same name but another id does not count"
        );
        assert!(matches!(verifier.open(PETER_TEXT), Err(CheckpointError::MalformedNote(_))));
        assert!(
            NoteVerifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .is_err()
        );
        assert!(NoteVerifier::parse("Peter Neumann+c74f20a3+AAAA").is_err());
    }

    #[test]
    fn checkpoints_round_trip_and_parse_strictly() {
        let checkpoint = Checkpoint {
            origin: "lictor/tenants/acme".into(),
            tree_size: 1024,
            root_hash: [9; 32],
            time: Some("2026-11-22T10:00:00Z".into()),
        };
        let signer = NoteSigner::new("lictor", &[1; 32]).unwrap();
        let note = signer.sign(&checkpoint.to_text()).unwrap();
        assert_eq!(Checkpoint::open(&note, signer.verifier()).unwrap(), checkpoint);
        assert!(note.starts_with("lictor/tenants/acme\n1024\nCQkJ"));
        for bad in ["x\n01\nAAAA\n", "x\n-1\nAAAA\n", "x\n1\nAAAA\n", "\n1\n", "x\n1\n"] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
        let unknown_extension = format!("{}other line\n", checkpoint.to_text());
        assert_eq!(Checkpoint::parse(&unknown_extension).unwrap(), checkpoint);
    }
}
