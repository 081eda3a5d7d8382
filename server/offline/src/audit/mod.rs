//! The audit log's byte formats: the entry hash, the Merkle tree over the
//! entries, signed checkpoints and exports.
//!
//! An entry's hash is SHA-256 over the RFC 8785 (JCS) canonical JSON of
//! every stored field except the hash itself, `seq` and `prev_hash`
//! included, so editing, deleting, inserting or reordering entries breaks
//! the chain. JCS canonicalisation comes from `serde_json_canonicalizer`;
//! for documents whose keys sort the same in UTF-8 and UTF-16 (every key
//! below U+E000), `serde_json`'s compact output with numbers written the
//! ECMAScript way (`ryu-js`, as the canonicalizer does) is used directly,
//! which is several times faster and byte-identical (see
//! [`canonical_bytes`]).
//! How entries are appended (inside the transaction that records a
//! decision) is the gateway's business, not this module's.

pub mod checkpoint;
pub mod export;
pub mod merkle;

use lictor_api::api_keys::Environment;
use lictor_api::audit::{AuditEntry, AuditKind};
use lictor_api::ids::{AgentId, AuditEntryId, IntentId, TenantId};
use lictor_api::intents::{Reason, StageName, Verdict};
use lictor_api::operators::Person;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::time;

/// The `prev_hash` of the first entry of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The entry format written today.
pub const ENTRY_VERSION: u32 = 1;

/// An audit entry without its hash: exactly what the hash covers.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Format version.
    pub version: u32,
    /// Identifier.
    pub entry_id: AuditEntryId,
    /// Chain owner.
    pub tenant: TenantId,
    /// Position, from 1.
    pub seq: u64,
    /// Write time (µs since the epoch).
    pub ts: i64,
    /// What it records.
    pub kind: AuditKind,
    /// The intent decided.
    pub intent_id: Option<IntentId>,
    /// The agent.
    pub agent_id: Option<AgentId>,
    /// Environment of the decision.
    pub environment: Option<Environment>,
    /// Whether the verdict was enforced.
    pub enforced: Option<bool>,
    /// The pipeline's verdict.
    pub verdict: Option<Verdict>,
    /// The stage that settled it.
    pub stage: Option<StageName>,
    /// The reasons given.
    pub reasons: Vec<Reason>,
    /// The deciding bundle.
    pub bundle_hash: Option<String>,
    /// SHA-256 of the canonical policy input.
    pub input_digest: Option<String>,
    /// SHA-256 of the canonical payload.
    pub payload_digest: Option<String>,
    /// Who acted.
    pub principal: Option<String>,
    /// The person who acted, when one signed in through their identity
    /// provider did.
    pub person: Option<Person>,
    /// The capability token's effective jti.
    pub jti: Option<String>,
    /// The tool, for tool calls.
    pub tool: Option<String>,
    /// The approval concerned.
    pub approval_id: Option<String>,
    /// Outcome of a tool result or approval decision.
    pub outcome: Option<String>,
    /// The previous entry's hash.
    pub prev_hash: String,
}

impl AuditRecord {
    /// Record `entry_id`, of `kind` for `tenant` at position `seq` after
    /// `prev_hash`, written at `ts`, with every optional field empty.
    pub fn new(
        entry_id: AuditEntryId,
        kind: AuditKind,
        tenant: TenantId,
        seq: u64,
        ts: i64,
        prev_hash: String,
    ) -> AuditRecord {
        AuditRecord {
            version: ENTRY_VERSION,
            entry_id,
            tenant,
            seq,
            ts,
            kind,
            intent_id: None,
            agent_id: None,
            environment: None,
            enforced: None,
            verdict: None,
            stage: None,
            reasons: Vec::new(),
            bundle_hash: None,
            input_digest: None,
            payload_digest: None,
            principal: None,
            person: None,
            jti: None,
            tool: None,
            approval_id: None,
            outcome: None,
            prev_hash,
        }
    }

    /// The canonical document the hash covers. Every base field is present,
    /// absent values as `null`; the extension fields only when set; `ts` is
    /// RFC 3339 with six fractional digits.
    pub fn canonical_document(&self) -> Value {
        let mut document = json!({
            "version": self.version,
            "entry_id": self.entry_id.as_str(),
            "tenant": self.tenant.as_str(),
            "seq": self.seq,
            "ts": time::rfc3339_micros(self.ts),
            "kind": self.kind.as_str(),
            "intent_id": self.intent_id.as_ref().map(|v| v.as_str()),
            "agent_id": self.agent_id.as_ref().map(|v| v.as_str()),
            "environment": self.environment.map(Environment::as_str),
            "enforced": self.enforced,
            "verdict": self.verdict.map(Verdict::as_str),
            "stage": self.stage.map(StageName::as_str),
            "reasons": self.reasons.iter().map(|r| json!({
                "stage": r.stage.as_str(),
                "code": r.code,
                "message": r.message,
            })).collect::<Vec<_>>(),
            "bundle_hash": self.bundle_hash,
            "input_digest": self.input_digest,
            "payload_digest": self.payload_digest,
            "prev_hash": self.prev_hash,
        });
        // The fields added with capability tokens and tool calls are part
        // of the document only when set, so entries written before they
        // existed keep their hashes.
        if let Value::Object(map) = &mut document {
            let extensions = [
                ("principal", &self.principal),
                ("jti", &self.jti),
                ("tool", &self.tool),
                ("approval_id", &self.approval_id),
                ("outcome", &self.outcome),
            ];
            for (name, value) in extensions {
                if let Some(value) = value {
                    map.insert(name.into(), Value::String(value.clone()));
                }
            }
            // Added with people signing in: an object, not a string.
            if let Some(person) = &self.person {
                map.insert("person".into(), person_document(person));
            }
        }
        document
    }

    /// The entry's hash: hex SHA-256 of the JCS bytes of
    /// [`AuditRecord::canonical_document`].
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }

    /// The JCS bytes of [`AuditRecord::canonical_document`], written
    /// straight from the record (no intermediate document) whenever that
    /// is exact: always, unless `seq` is past 2^53 - 1.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        if self.seq > MAX_SAFE_INTEGER {
            return canonical_bytes(&self.canonical_document());
        }
        let ts = time::rfc3339_micros(self.ts);
        let document = CanonicalEntry {
            agent_id: self.agent_id.as_ref().map(|v| v.as_str()),
            approval_id: self.approval_id.as_deref(),
            bundle_hash: self.bundle_hash.as_deref(),
            enforced: self.enforced,
            entry_id: self.entry_id.as_str(),
            environment: self.environment.map(Environment::as_str),
            input_digest: self.input_digest.as_deref(),
            intent_id: self.intent_id.as_ref().map(|v| v.as_str()),
            jti: self.jti.as_deref(),
            kind: self.kind.as_str(),
            outcome: self.outcome.as_deref(),
            payload_digest: self.payload_digest.as_deref(),
            person: self.person.as_ref().map(CanonicalPerson::of),
            prev_hash: &self.prev_hash,
            principal: self.principal.as_deref(),
            reasons: self
                .reasons
                .iter()
                .map(|r| CanonicalReason { code: &r.code, message: &r.message, stage: r.stage.as_str() })
                .collect(),
            seq: self.seq,
            stage: self.stage.map(StageName::as_str),
            tenant: self.tenant.as_str(),
            tool: self.tool.as_deref(),
            ts: &ts,
            verdict: self.verdict.map(Verdict::as_str),
            version: self.version,
        };
        // INVARIANT: borrowed strings, integers, booleans and options of
        // them always serialise; an empty hash input would be a silent lie.
        #[allow(clippy::expect_used)]
        serde_json::to_vec(&document).expect("an audit entry's canonical document always serialises")
    }

    /// The wire form, with `hash`.
    pub fn to_entry(&self, hash: String) -> AuditEntry {
        AuditEntry {
            version: self.version,
            entry_id: self.entry_id.clone(),
            tenant: self.tenant.clone(),
            seq: self.seq,
            ts: time::from_micros(self.ts),
            kind: self.kind,
            intent_id: self.intent_id.clone(),
            agent_id: self.agent_id.clone(),
            environment: self.environment,
            enforced: self.enforced,
            verdict: self.verdict,
            stage: self.stage,
            reasons: self.reasons.clone(),
            bundle_hash: self.bundle_hash.clone(),
            input_digest: self.input_digest.clone(),
            payload_digest: self.payload_digest.clone(),
            principal: self.principal.clone(),
            person: self.person.clone(),
            jti: self.jti.clone(),
            tool: self.tool.clone(),
            approval_id: self.approval_id.clone(),
            outcome: self.outcome.clone(),
            prev_hash: self.prev_hash.clone(),
            hash,
        }
    }

    /// The record an entry's hash covers: [`AuditRecord::to_entry`] undone.
    /// `ts` keeps whole microseconds, the precision the hash covers.
    pub fn from_entry(entry: &AuditEntry) -> AuditRecord {
        // Destructured without `..`: a new wire field must be decided on here.
        let AuditEntry {
            version,
            entry_id,
            tenant,
            seq,
            ts,
            kind,
            intent_id,
            agent_id,
            environment,
            enforced,
            verdict,
            stage,
            reasons,
            bundle_hash,
            input_digest,
            payload_digest,
            principal,
            person,
            jti,
            tool,
            approval_id,
            outcome,
            prev_hash,
            hash: _,
        } = entry;
        AuditRecord {
            version: *version,
            entry_id: entry_id.clone(),
            tenant: tenant.clone(),
            seq: *seq,
            ts: time::to_micros(*ts),
            kind: *kind,
            intent_id: intent_id.clone(),
            agent_id: agent_id.clone(),
            environment: *environment,
            enforced: *enforced,
            verdict: *verdict,
            stage: *stage,
            reasons: reasons.clone(),
            bundle_hash: bundle_hash.clone(),
            input_digest: input_digest.clone(),
            payload_digest: payload_digest.clone(),
            principal: principal.clone(),
            person: person.clone(),
            jti: jti.clone(),
            tool: tool.clone(),
            approval_id: approval_id.clone(),
            outcome: outcome.clone(),
            prev_hash: prev_hash.clone(),
        }
    }
}

/// A person as the entry hash covers them: a JSON object of their fields,
/// the optional ones only when set. Its RFC 8785 text is also what the CSV
/// export's `person` cell holds.
pub fn person_document(person: &Person) -> Value {
    let Person { issuer, subject, provider, username, email, name } = person;
    let mut map = Map::new();
    let fields = [
        ("email", email.as_deref()),
        ("issuer", Some(issuer.as_str())),
        ("name", name.as_deref()),
        ("provider", Some(provider.as_str())),
        ("subject", Some(subject.as_str())),
        ("username", username.as_deref()),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            map.insert(key.into(), Value::String(value.into()));
        }
    }
    Value::Object(map)
}

/// [`AuditRecord::canonical_document`] as a struct whose fields are
/// declared in JCS order (ASCII keys, ascending), so that `serde_json`'s
/// compact output of it is the document's RFC 8785 form: the bytes
/// [`canonical_bytes`] writes on its fast path, without building the
/// document first. Extension fields are left out when unset, as there.
#[derive(serde::Serialize)]
struct CanonicalEntry<'a> {
    agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_id: Option<&'a str>,
    bundle_hash: Option<&'a str>,
    enforced: Option<bool>,
    entry_id: &'a str,
    environment: Option<&'a str>,
    input_digest: Option<&'a str>,
    intent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a str>,
    payload_digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    person: Option<CanonicalPerson<'a>>,
    prev_hash: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<&'a str>,
    reasons: Vec<CanonicalReason<'a>>,
    seq: u64,
    stage: Option<&'a str>,
    tenant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a str>,
    ts: &'a str,
    verdict: Option<&'a str>,
    version: u32,
}

/// A person in [`CanonicalEntry`], fields in JCS order, the optional ones
/// left out when unset (as [`person_document`] does).
#[derive(serde::Serialize)]
struct CanonicalPerson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    issuer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    provider: &'a str,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
}

impl<'a> CanonicalPerson<'a> {
    fn of(person: &'a Person) -> CanonicalPerson<'a> {
        // Destructured without `..`: a new field must be decided on here.
        let Person { issuer, subject, provider, username, email, name } = person;
        CanonicalPerson {
            email: email.as_deref(),
            issuer,
            name: name.as_deref(),
            provider: provider.as_str(),
            subject,
            username: username.as_deref(),
        }
    }
}

/// A reason in [`CanonicalEntry`], fields in JCS order.
#[derive(serde::Serialize)]
struct CanonicalReason<'a> {
    code: &'a str,
    message: &'a str,
    stage: &'a str,
}

/// Hex SHA-256 of the RFC 8785 canonical form of `value`.
pub fn digest_json(value: &Value) -> String {
    hex::encode(Sha256::digest(canonical_bytes(value)))
}

/// The largest integer JavaScript represents exactly (2^53 - 1): JCS
/// writes numbers as ECMAScript does, which for integers up to this size is
/// their plain decimal form.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Whether `serde_json`'s compact output of `value`, with numbers written
/// by [`EcmaScriptNumbers`], is its RFC 8785 form. Strings are escaped the
/// same way by both (the two-character escapes for `\b \t \n \f \r`,
/// `\u00xx` for other control characters, nothing else), and numbers are
/// written as ECMAScript does, so what can differ is key order: JCS sorts
/// by UTF-16 code units, `serde_json`'s map by UTF-8 bytes. Below U+E000 the
/// two orders agree, so this accepts objects whose keys hold no character
/// at or above it.
fn keys_sort_alike(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) | Value::Number(_) => true,
        Value::Array(items) => items.iter().all(keys_sort_alike),
        Value::Object(map) => {
            let mut previous: Option<&str> = None;
            map.iter().all(|(key, value)| {
                let ordered = previous.is_none_or(|p| p < key.as_str());
                previous = Some(key);
                ordered && !key.chars().any(|c| c >= '\u{E000}') && keys_sort_alike(value)
            })
        }
    }
}

/// A compact `serde_json` formatter that writes numbers as ECMAScript's
/// `Number.prototype.toString` does, which is what RFC 8785 asks for:
/// integers JavaScript holds exactly in plain decimal, every other number
/// as the double it is, in its shortest round-trip form (`ryu-js`).
struct EcmaScriptNumbers;

impl EcmaScriptNumbers {
    fn write_double<W: ?Sized + std::io::Write>(writer: &mut W, value: f64) -> std::io::Result<()> {
        // `serde_json::Value` holds finite numbers only.
        writer.write_all(ryu_js::Buffer::new().format_finite(value).as_bytes())
    }
}

impl serde_json::ser::Formatter for EcmaScriptNumbers {
    fn write_i64<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: i64) -> std::io::Result<()> {
        if value.unsigned_abs() <= MAX_SAFE_INTEGER {
            writer.write_all(itoa::Buffer::new().format(value).as_bytes())
        } else {
            Self::write_double(writer, value as f64)
        }
    }

    fn write_u64<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: u64) -> std::io::Result<()> {
        if value <= MAX_SAFE_INTEGER {
            writer.write_all(itoa::Buffer::new().format(value).as_bytes())
        } else {
            Self::write_double(writer, value as f64)
        }
    }

    fn write_f64<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: f64) -> std::io::Result<()> {
        Self::write_double(writer, value)
    }
}

/// The RFC 8785 (JCS) bytes of `value`: `serde_json`'s compact output with
/// ECMAScript numbers where the keys sort the same in UTF-8 and UTF-16
/// (every key below U+E000), `serde_json_canonicalizer`'s otherwise.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    // INVARIANT: both serialisers refuse only non-finite numbers, duplicate
    // keys and raw fragments, none of which a `serde_json::Value` can
    // hold, and writing into a `Vec` cannot fail. Answering anything else
    // (say, no bytes) would give every such value the same digest.
    let bytes = if keys_sort_alike(value) {
        let mut bytes = Vec::with_capacity(256);
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, EcmaScriptNumbers);
        serde::Serialize::serialize(value, &mut serializer).map(|()| bytes)
    } else {
        serde_json_canonicalizer::to_vec(value)
    };
    #[allow(clippy::expect_used)]
    bytes.expect("a serde_json::Value always has canonical JSON")
}

/// `value`'s digest (as [`digest_json`] gives it) and its canonical text
/// (as [`canonical_string`] gives it), canonicalising once: for what is
/// stored and audited by digest alike.
pub fn digested(value: &Value) -> (String, String) {
    let text = canonical_string(value);
    (hex::encode(Sha256::digest(text.as_bytes())), text)
}

/// The canonical JSON text of `value` (RFC 8785).
pub fn canonical_string(value: &Value) -> String {
    // INVARIANT: both serialisers write UTF-8 only.
    #[allow(clippy::expect_used)]
    String::from_utf8(canonical_bytes(value)).expect("canonical JSON is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lictor_api::operators::ProviderName;
    use proptest::prelude::*;

    /// Strings where JSON serialisers could part: control characters,
    /// characters on both sides of U+E000 and beyond the BMP.
    fn tricky_text() -> impl Strategy<Value = String> + Clone {
        prop_oneof![
            "[a-z]{0,6}",
            "[\\x00-\\x1f\"\\\\/\\x7f]{0,4}",
            "[\u{d7ff}\u{e000}\u{fb33}\u{ffff}\u{10000}\u{1f600}a-c]{0,4}",
            any::<String>(),
        ]
    }

    /// JSON values with the keys, strings and numbers where the two
    /// serialisers could part: control characters, characters on both sides
    /// of U+E000 and beyond the BMP, integers around 2^53, floats.
    fn json_value() -> impl Strategy<Value = Value> {
        let text = tricky_text();
        let number = prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            ((1i64 << 53) - 3..(1i64 << 53) + 3).prop_map(Value::from),
            (-(1i64 << 53) - 3..-(1i64 << 53) + 3).prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            prop_oneof![Just(0.5), Just(1e21), Just(1e-7), Just(100.0), Just(-0.0)].prop_map(Value::from),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            text.clone().prop_map(Value::String),
            number,
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(text.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// People with every optional field set or not, and strings where the
    /// two serialisers could part.
    fn any_person() -> impl Strategy<Value = Person> {
        let text = tricky_text();
        let optional = prop::option::of(text.clone());
        (text.clone(), text, "[a-z0-9][a-z0-9-]{0,8}", optional.clone(), optional.clone(), optional).prop_map(
            |(issuer, subject, provider, username, email, name)| Person {
                issuer,
                subject,
                provider: ProviderName::parse(provider).unwrap_or_else(|e| panic!("{e}")),
                username,
                email,
                name,
            },
        )
    }

    /// Records with every optional field set or not, and strings where the
    /// two serialisers could part.
    fn any_record() -> impl Strategy<Value = AuditRecord> {
        let text = tricky_text();
        let seq = prop_oneof![any::<u64>(), (1u64 << 53) - 3..(1u64 << 53) + 3, 1u64..1_000_000];
        let ts = -62_135_596_800_000_000i64..253_402_300_799_999_999;
        let reason = (text.clone(), text.clone(), any::<bool>()).prop_map(|(code, message, policy)| Reason {
            stage: if policy { StageName::Policy } else { StageName::Budget },
            code,
            message,
        });
        let optional = prop::option::of(text.clone());
        (
            (seq, ts, any::<bool>(), prop::option::of(any::<bool>()), prop::collection::vec(reason, 0..3)),
            (optional.clone(), optional.clone(), optional.clone(), optional.clone(), optional.clone()),
            (optional.clone(), optional.clone(), optional, text, any::<u32>()),
            prop::option::of(any_person()),
        )
            .prop_map(|((seq, ts, ids, enforced, reasons), extensions, digests, person)| {
                let (principal, jti, tool, approval_id, outcome) = extensions;
                let (bundle_hash, input_digest, payload_digest, prev_hash, version) = digests;
                let mut r = record();
                r.version = version;
                r.seq = seq;
                r.ts = ts;
                if ids {
                    r.intent_id = Some(IntentId::parse("int_p").unwrap_or_else(|e| panic!("{e}")));
                    r.agent_id = Some(AgentId::parse("bot").unwrap_or_else(|e| panic!("{e}")));
                    r.environment = None;
                    r.verdict = Some(Verdict::ApproveModified);
                    r.stage = None;
                }
                r.enforced = enforced;
                r.reasons = reasons;
                (r.principal, r.jti, r.tool, r.approval_id, r.outcome) =
                    (principal, jti, tool, approval_id, outcome);
                r.person = person;
                (r.bundle_hash, r.input_digest, r.payload_digest, r.prev_hash) =
                    (bundle_hash, input_digest, payload_digest, prev_hash);
                r
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// An entry's bytes, written straight from the record, are
        /// `serde_json_canonicalizer`'s bytes of its document.
        #[test]
        fn entry_bytes_are_the_canonicalizers(record in any_record()) {
            let expected = serde_json_canonicalizer::to_vec(&record.canonical_document()).unwrap_or_default();
            let bytes = record.canonical_bytes();
            prop_assert_eq!(String::from_utf8_lossy(&bytes), String::from_utf8_lossy(&expected));
        }

        /// Whichever serialiser `canonical_bytes` picks, its bytes are
        /// `serde_json_canonicalizer`'s.
        #[test]
        fn canonical_bytes_are_the_canonicalizers(value in json_value()) {
            let expected = serde_json_canonicalizer::to_vec(&value).unwrap_or_default();
            let bytes = canonical_bytes(&value);
            prop_assert_eq!(String::from_utf8_lossy(&bytes), String::from_utf8_lossy(&expected));
        }
    }

    #[test]
    fn the_fast_path_is_taken_only_where_it_is_exact() {
        // An audit entry's document and numbers of every kind take it.
        assert!(keys_sort_alike(&record().canonical_document()));
        assert!(keys_sort_alike(&json!({"a": 1.5, "b": 9_007_199_254_740_993_u64, "c": -0.0, "d": 1e21})));
        // Keys that sort differently in UTF-16 do not.
        assert!(!keys_sort_alike(&json!({"\u{e000}": 1, "\u{10000}": 2})));
        // Where the orders differ, the result is still the canonical one.
        assert_eq!(
            canonical_string(&json!({"\u{e000}": 1, "\u{10000}": 2})),
            "{\"\u{10000}\":2,\"\u{e000}\":1}"
        );
        // Numbers as ECMAScript writes them.
        assert_eq!(
            canonical_string(&json!([
                1.0,
                -0.0,
                1e21,
                1e-7,
                0.000001,
                123.456,
                9_007_199_254_740_993_u64,
                -9_007_199_254_740_993_i64
            ])),
            "[1,0,1e+21,1e-7,0.000001,123.456,9007199254740992,-9007199254740992]"
        );
    }

    fn record() -> AuditRecord {
        AuditRecord {
            version: ENTRY_VERSION,
            entry_id: AuditEntryId::parse("aud_1").unwrap_or_else(|e| panic!("{e}")),
            tenant: TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}")),
            seq: 1,
            ts: 1_763_771_281_123_456,
            kind: AuditKind::Decision,
            intent_id: None,
            agent_id: None,
            environment: Some(Environment::Live),
            enforced: Some(true),
            verdict: Some(Verdict::Block),
            stage: Some(StageName::Policy),
            reasons: vec![Reason { stage: StageName::Policy, code: "x".into(), message: "é \"q\"".into() }],
            bundle_hash: Some("b".into()),
            input_digest: None,
            payload_digest: None,
            principal: None,
            person: None,
            jti: None,
            tool: None,
            approval_id: None,
            outcome: None,
            prev_hash: GENESIS_HASH.into(),
        }
    }

    #[test]
    fn canonical_form_is_sorted_compact_and_complete() {
        let text = canonical_string(&record().canonical_document());
        assert!(
            text.starts_with(r#"{"agent_id":null,"bundle_hash":"b","enforced":true,"entry_id":"aud_1""#),
            "{text}"
        );
        assert!(text.contains(r#""ts":"2025-11-22T00:28:01.123456Z""#), "{text}");
        assert!(!text.contains(' ') || text.contains("é \\\"q\\\""), "{text}");
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = record().hash();
        let mut r = record();
        r.seq = 2;
        assert_ne!(r.hash(), base);
        let mut r = record();
        r.prev_hash = "1".repeat(64);
        assert_ne!(r.hash(), base);
        let mut r = record();
        r.reasons[0].message.push('!');
        assert_ne!(r.hash(), base);
        let mut r = record();
        r.ts += 1;
        assert_ne!(r.hash(), base);
        let mut r = record();
        r.enforced = Some(false);
        assert_ne!(r.hash(), base);
        let mut r = record();
        r.jti = Some("tok_1".into());
        assert_ne!(r.hash(), base);
        let mut r = record();
        r.outcome = Some("ok".into());
        assert_ne!(r.hash(), base);
        let mut r = record();
        r.person = Some(person());
        let with_person = r.hash();
        assert_ne!(with_person, base);
        if let Some(person) = r.person.as_mut() {
            person.email = None;
        }
        assert_ne!(r.hash(), with_person);
        assert_eq!(record().hash(), base);
    }

    fn person() -> Person {
        Person {
            issuer: "https://login.example.com".into(),
            subject: "00u1x9k2".into(),
            provider: ProviderName::parse("okta").unwrap_or_else(|e| panic!("{e}")),
            username: Some("zoe".into()),
            email: Some("zoe@example.com".into()),
            name: Some("Zoë \"Zed\" Müller".into()),
        }
    }

    #[test]
    fn a_person_is_an_object_with_sorted_keys_and_only_the_fields_set() {
        let mut r = record();
        r.person = Some(person());
        let text = String::from_utf8(r.canonical_bytes()).unwrap_or_default();
        assert!(
            text.contains(concat!(
                r#""payload_digest":null,"person":{"email":"zoe@example.com","issuer":"https://login.example.com","#,
                r#""name":"Zoë \"Zed\" Müller","provider":"okta","subject":"00u1x9k2","username":"zoe"},"prev_hash""#
            )),
            "{text}"
        );
        r.person = Some(Person { username: None, email: None, name: None, ..person() });
        let text = String::from_utf8(r.canonical_bytes()).unwrap_or_default();
        assert!(
            text.contains(
                r#""person":{"issuer":"https://login.example.com","provider":"okta","subject":"00u1x9k2"},"#
            ),
            "{text}"
        );
        // The wire form carries the same object, and reads back to the record.
        let entry = r.to_entry(r.hash());
        let wire = serde_json::to_value(&entry).unwrap_or_default();
        assert_eq!(r.person.as_ref().map(person_document).as_ref(), Some(&wire["person"]));
        assert_eq!(AuditRecord::from_entry(&entry), r);
    }

    #[test]
    fn the_fast_path_writes_people_as_the_canonicalizer_does() {
        // Non-ASCII, quotes, backslashes, every control character, and
        // characters on both sides of U+E000 and beyond the BMP.
        let controls: String = (0u8..0x20).map(char::from).chain(['\u{7f}']).collect();
        let names = [
            "Zoë \"Zed\" Müller, Ops".to_string(),
            format!("a{controls}b"),
            "back\\slash / \u{2028}\u{2029} \u{d7ff}\u{e000}\u{ffff}\u{10000}\u{1f980}".to_string(),
            String::new(),
        ];
        for name in names {
            let mut r = record();
            r.person = Some(Person {
                issuer: name.clone(),
                subject: format!("{name}\u{0}"),
                provider: ProviderName::parse("p-1").unwrap_or_else(|e| panic!("{e}")),
                username: Some(name.clone()),
                email: None,
                name: Some(name),
            });
            let expected = serde_json_canonicalizer::to_vec(&r.canonical_document()).unwrap_or_default();
            assert_eq!(String::from_utf8_lossy(&r.canonical_bytes()), String::from_utf8_lossy(&expected));
            assert_eq!(r.canonical_bytes(), canonical_bytes(&r.canonical_document()));
        }
    }

    #[test]
    fn extension_fields_appear_only_when_set() {
        let text = canonical_string(&record().canonical_document());
        for name in ["principal", "person", "jti", "tool", "approval_id", "outcome"] {
            assert!(!text.contains(&format!("\"{name}\"")), "{name} in {text}");
        }
        let mut r = record();
        r.principal = Some("key:key_1".into());
        r.tool = Some("mail.send".into());
        let text = canonical_string(&r.canonical_document());
        assert!(text.contains(r#""prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","principal":"key:key_1","reasons""#), "{text}");
        assert!(text.contains(r#""tool":"mail.send","ts""#), "{text}");
        // The wire form mirrors the document: absent fields are not sent.
        let wire = serde_json::to_value(record().to_entry(record().hash())).unwrap_or_default();
        assert!(wire.get("jti").is_none() && wire.get("input_digest").is_some(), "{wire}");
    }
}
