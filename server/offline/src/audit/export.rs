//! Audit exports: a tenant's entries 1..N, every checkpoint the gateway
//! signed over them with the consistency proofs between consecutive ones,
//! and a signed checkpoint of size N, in one file, so that the file and the
//! gateway's public checkpoint key alone prove, offline, that the log is
//! complete and untampered up to N — and, given a checkpoint saved earlier
//! ([`verify_export_trusting`]), that it extends what was seen then.
//!
//! [`ExportWriter`] renders an export a record at a time (the gateway streams
//! `GET /v1/admin/audit/export` with it); [`verify_export`] checks one in a
//! single pass, in constant memory (the Merkle tree is a [`Frontier`]).
//! Neither touches a store, the network or the file system.
//!
//! # Format, version 2
//!
//! Version 2 adds the checkpoints signed before the last one, each with a
//! consistency proof from the one before it (the `consistency` field, and
//! the CSV column of that name). A version 1 file is a version 2 file with
//! one checkpoint and no `consistency` column; readers accept both. The
//! extension field `person` came later within version 2, with the CSV
//! column of that name after `consistency`: a file written before it is a
//! file without the column, which readers accept too.
//!
//! Two encodings of the same records, both UTF-8 without a byte-order mark:
//! NDJSON (`application/x-ndjson`, `.ndjson`) and CSV (`text/csv`, `.csv`).
//! A verifier tells them apart by the first byte: `{` is NDJSON.
//!
//! ## Entries
//!
//! An entry is the API's `AuditEntry` in the exact form its hash covers:
//! every base field present (`null` when absent), the extension fields
//! `principal`, `person`, `jti`, `tool`, `approval_id` and `outcome` only
//! when set, `ts` in RFC 3339 with exactly six fractional digits and `Z`,
//! plus `hash`. Every extension field is a string but `person`, an object
//! of strings: `issuer`, `subject` and `provider`, and `username`, `email`
//! and `name` only when set.
//! `hash` is the hex SHA-256 of the RFC 8785 (JCS) canonical JSON of the
//! entry without `hash`; `prev_hash` is the previous entry's `hash`, 64
//! zeros for `seq` 1. Entries come in `seq` order 1, 2, … N.
//!
//! ## NDJSON
//!
//! One JSON object per line, every line ending in `\n`, no blank lines:
//!
//! 1. the header:
//!    `{"type":"header","format":"lictor-audit-export","version":2,"tenant":"<tenant>","origin":"<checkpoint origin>","key_name":"<note key name>","exported_at":"<RFC 3339>","entries":N}`
//! 2. N entries: `{"type":"entry","entry":{…}}`, the entry object exactly as
//!    above: nothing missing, nothing extra; after entry k, the checkpoint
//!    of size k if the gateway signed one:
//!    `{"type":"checkpoint","checkpoint":{"tree_size":k,"root_hash":"<hex>","note":"<signed note>","consistency":["<hex>",…]}}`,
//!    `consistency` being the RFC 9162 consistency proof from the previous
//!    checkpoint in the file (absent on the first);
//! 3. the checkpoint of size N, last, in the same form.
//!
//! The gateway writes compact JSON with keys in the order shown (an entry's
//! in the order of the API); readers must not depend on key order.
//! `origin`, `key_name` and `exported_at` describe the export; only `origin`
//! is checked (it must be the checkpoint's).
//!
//! ## CSV
//!
//! RFC 4180: commas, CRLF after every row (readers accept a bare LF), a
//! cell quoted when it holds a comma, a quote, CR or LF (quotes doubled
//! inside). The first row names the 27 columns (files written before
//! `person`: the first 26; version 1: the first 25):
//!
//! ```text
//! record,version,entry_id,tenant,seq,ts,kind,intent_id,agent_id,environment,enforced,verdict,stage,reasons,bundle_hash,input_digest,payload_digest,principal,jti,tool,approval_id,outcome,prev_hash,hash,checkpoint,consistency,person
//! ```
//!
//! New columns only ever come last: a file written before one existed
//! reads as if that column were there with every cell empty.
//!
//! Then one row per entry, `record` = `entry`: every other column holds the
//! entry field of its name, an empty cell meaning `null` (for an extension
//! field: absent) — no hashed string can be empty; `enforced` is `true` or
//! `false`; `reasons` is the compact JSON array of `{"stage","code","message"}`
//! objects (`[]` when none); `person` is the person object as JSON (the
//! gateway writes its RFC 8785 text; a reader takes any JSON text of
//! exactly that object); numbers are plain decimals; `ts` is as above;
//! `checkpoint` and `consistency` are empty. A checkpoint is a row with
//! `record` = `checkpoint`, placed as in NDJSON: `tenant` the tenant, `seq`
//! its tree size, `hash` its root hash (hex), `checkpoint` the signed note
//! (several lines, hence quoted), `consistency` the proof's hashes joined by
//! single spaces (empty on the first), every other cell empty.
//!
//! ## The checkpoint
//!
//! `note` is a C2SP signed note over a `tlog-checkpoint` (see
//! [`super::checkpoint`]): origin `<log name>/tenants/<tenant>`, tree size
//! N, the base64 RFC 6962 root of the N entries, optionally `time <RFC
//! 3339>`; then Ed25519 signature lines. Leaf i (from 0) of the tree is the
//! 32 raw bytes of the hash of entry `seq` i + 1. An export of 0 entries
//! carries a checkpoint of size 0, whose root is SHA-256 of the empty string.
//!
//! # Verification
//!
//! One pass, stopping at the first failure. Each entry, in order: it parses
//! and is in the form above (`malformed`); its tenant is the export's
//! (`tenant_mismatch`); its `seq` is the next one (`sequence_gap`); its
//! `prev_hash` is the previous entry's hash (`broken_link`); its recomputed
//! hash is its `hash` (`hash_mismatch`); with a trusted checkpoint of size
//! k, the first k entries have its root (`trusted_mismatch`). Each
//! checkpoint: a signature by a given key, matched by key name and key id,
//! must exist (`unknown_key`) and verify (`bad_signature`); its origin must
//! be `…/tenants/<tenant>`, the header's and the trusted checkpoint's
//! (`origin_mismatch`); it must be larger than the previous checkpoint
//! (`malformed`); its tree size must be the number of entries read
//! (`truncated` when it covers more, `extra_entries` when fewer); its root
//! must be the entries' root (`root_mismatch`); the record's
//! `tree_size`/`root_hash` must agree with the signed note (`malformed`);
//! its consistency proof must be absent on the first checkpoint, present
//! on every later one (`malformed`), and hold between the two signed roots
//! (`bad_proof`). At the end: a file without a checkpoint is `truncated`;
//! entries after the last checkpoint are `extra_entries`; the header's
//! `entries` must be the last checkpoint's size (`malformed`); a trusted
//! checkpoint larger than the file is `truncated`.
//!
//! Every failure names the `seq` it concerns: for an entry, the position
//! expected next (the entry's own `seq` when in order); for `truncated`, the
//! first missing position; for `extra_entries`, the first uncovered one;
//! for `unknown_key` and `bad_signature`, the tree size the record states;
//! for the checkpoint's other failures, the signed tree size.
//! Failures in the NDJSON header have no `seq`. The line (CSV: the line the
//! row starts on) is given too.

use std::fmt;
use std::io::{self, BufRead, Read as _};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use lictor_api::api_keys::Environment;
use lictor_api::audit::{AuditEntry, AuditKind};
use lictor_api::ids::{AgentId, AuditEntryId, IntentId, TenantId};
use lictor_api::intents::{Reason, StageName, Verdict};
use lictor_api::operators::Person;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checkpoint::{Checkpoint, CheckpointError, NoteVerifier};
use super::merkle::{Frontier, Hash, verify_consistency};
use super::{AuditRecord, GENESIS_HASH, canonical_string, digest_json, person_document};
use crate::time;

/// The `format` of the NDJSON header.
pub const EXPORT_FORMAT: &str = "lictor-audit-export";

/// The format version written here; versions 1 and 2 are read.
pub const EXPORT_VERSION: u32 = 2;

/// The CSV columns, in order: those of version 2 with `person`. Files
/// written before `person` lack the last; files of version 1, the last two.
pub const CSV_COLUMNS: [&str; 27] = [
    "record",
    "version",
    "entry_id",
    "tenant",
    "seq",
    "ts",
    "kind",
    "intent_id",
    "agent_id",
    "environment",
    "enforced",
    "verdict",
    "stage",
    "reasons",
    "bundle_hash",
    "input_digest",
    "payload_digest",
    "principal",
    "jti",
    "tool",
    "approval_id",
    "outcome",
    "prev_hash",
    "hash",
    "checkpoint",
    "consistency",
    "person",
];

/// The CSV columns of files written before `person`: all but it.
pub const CSV_COLUMNS_WITHOUT_PERSON: &[&str] = CSV_COLUMNS.split_at(26).0;

/// The CSV columns of version 1: all but `consistency` and `person`.
pub const CSV_COLUMNS_V1: &[&str] = CSV_COLUMNS.split_at(25).0;

/// The longest NDJSON line read: far beyond any entry, and a bound on the
/// verifier's memory whatever the input.
const MAX_LINE: u64 = 16 << 20;

/// An export encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// RFC 4180 comma-separated values.
    Csv,
    /// Newline-delimited JSON.
    Ndjson,
}

impl ExportFormat {
    /// Every format.
    pub const ALL: [ExportFormat; 2] = [ExportFormat::Csv, ExportFormat::Ndjson];

    /// The name used in `?format=`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
        }
    }

    /// Parses `csv` or `ndjson`.
    pub fn parse(s: &str) -> Option<ExportFormat> {
        ExportFormat::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The media type to serve it as.
    pub const fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv",
            ExportFormat::Ndjson => "application/x-ndjson",
        }
    }

    /// The file name extension, without the dot.
    pub const fn file_extension(self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name other than `csv` and `ndjson`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown export format `{0}` (expected `csv` or `ndjson`)")]
pub struct UnknownExportFormat(pub String);

impl FromStr for ExportFormat {
    type Err = UnknownExportFormat;

    fn from_str(s: &str) -> Result<ExportFormat, UnknownExportFormat> {
        ExportFormat::parse(s).ok_or_else(|| UnknownExportFormat(s.to_string()))
    }
}

/// What the NDJSON header says (CSV has no place for it but the tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportHeader {
    /// The tenant whose log this is.
    pub tenant: TenantId,
    /// The checkpoint's origin (`<log name>/tenants/<tenant>`).
    pub origin: String,
    /// The name of the key that signed the checkpoint.
    pub key_name: String,
    /// When the export was made.
    pub exported_at: DateTime<Utc>,
    /// How many entries follow (the checkpoint's tree size).
    pub entries: u64,
}

/// A checkpoint record: one after the entry it ends, for each checkpoint
/// the gateway signed, the last one closing the export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportCheckpoint {
    /// Entries covered.
    pub tree_size: u64,
    /// Their RFC 6962 root, hex.
    pub root_hash: String,
    /// The signed note.
    pub note: String,
    /// The RFC 9162 consistency proof from the export's previous
    /// checkpoint to this one (hex hashes); absent on the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Vec<String>>,
}

impl ExportCheckpoint {
    /// The record for `checkpoint`, signed as `note`, the first of its
    /// export.
    pub fn new(checkpoint: &Checkpoint, note: impl Into<String>) -> ExportCheckpoint {
        ExportCheckpoint {
            tree_size: checkpoint.tree_size,
            root_hash: hex::encode(checkpoint.root_hash),
            note: note.into(),
            consistency: None,
        }
    }

    /// The record, following a checkpoint it extends by `proof`.
    pub fn extending(mut self, proof: &[Hash]) -> ExportCheckpoint {
        self.consistency = Some(proof.iter().map(hex::encode).collect());
        self
    }
}

/// Why a record cannot be written.
///
/// Exhaustive on purpose: a new failure kind must break callers' matches.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExportWriteError {
    /// The records do not come as header, entries `seq` 1..N with
    /// checkpoints after their last entry, checkpoint of size N: the file
    /// would not verify.
    #[error("out of order: {0}")]
    OutOfOrder(String),
    /// An empty string, which a CSV cell cannot tell from `null`.
    #[error("entry {seq}: `{field}` is an empty string, which a CSV cell cannot tell from null")]
    EmptyField {
        /// The entry.
        seq: u64,
        /// The field.
        field: &'static str,
    },
    /// Serialisation failed.
    #[error("cannot serialise the record: {0}")]
    Serialize(String),
}

/// Renders an export record by record, in the order header, entries
/// (each checkpoint right after the entry it ends), closing checkpoint,
/// checking that order as it goes.
#[derive(Debug)]
pub struct ExportWriter {
    format: ExportFormat,
    // The header's tenant and announced count, once written.
    header: Option<(TenantId, u64)>,
    written: u64,
    // The size of the last checkpoint written.
    checkpointed: Option<u64>,
    closed: bool,
}

impl ExportWriter {
    /// A writer of `format`.
    pub fn new(format: ExportFormat) -> ExportWriter {
        ExportWriter { format, header: None, written: 0, checkpointed: None, closed: false }
    }

    /// The format written.
    pub fn format(&self) -> ExportFormat {
        self.format
    }

    /// The first bytes of the file: the NDJSON header line, or the CSV
    /// column row.
    pub fn header(&mut self, header: &ExportHeader) -> Result<Vec<u8>, ExportWriteError> {
        if self.header.is_some() {
            return Err(ExportWriteError::OutOfOrder("a second header".into()));
        }
        self.header = Some((header.tenant.clone(), header.entries));
        match self.format {
            ExportFormat::Ndjson => json_line(&HeaderLine {
                kind: "header",
                format: EXPORT_FORMAT,
                version: EXPORT_VERSION,
                tenant: &header.tenant,
                origin: &header.origin,
                key_name: &header.key_name,
                exported_at: header.exported_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                entries: header.entries,
            }),
            ExportFormat::Csv => csv_row(&CSV_COLUMNS),
        }
    }

    /// The line or row of `entry`, which must be the next one (`seq` 1 first)
    /// of the header's tenant.
    pub fn entry(&mut self, entry: &AuditEntry) -> Result<Vec<u8>, ExportWriteError> {
        let Some((tenant, _)) = &self.header else {
            return Err(ExportWriteError::OutOfOrder("an entry before the header".into()));
        };
        if self.closed {
            return Err(ExportWriteError::OutOfOrder("an entry after the checkpoint".into()));
        }
        if entry.seq != self.written + 1 {
            return Err(ExportWriteError::OutOfOrder(format!(
                "entry {} where entry {} belongs",
                entry.seq,
                self.written + 1
            )));
        }
        if entry.tenant != *tenant {
            return Err(ExportWriteError::OutOfOrder(format!(
                "entry {} of tenant `{}` in an export of `{tenant}`",
                entry.seq, entry.tenant
            )));
        }
        let bytes = entry_bytes(self.format, entry)?;
        self.written += 1;
        Ok(bytes)
    }

    /// A checkpoint record: `checkpoint` must cover exactly the entries
    /// written, carry a consistency proof unless it is the first, and
    /// closes the export when it covers the number the header announced.
    pub fn checkpoint(
        &mut self,
        checkpoint: &ExportCheckpoint,
        tenant: &TenantId,
    ) -> Result<Vec<u8>, ExportWriteError> {
        let Some((header_tenant, announced)) = &self.header else {
            return Err(ExportWriteError::OutOfOrder("a checkpoint before the header".into()));
        };
        if self.closed {
            return Err(ExportWriteError::OutOfOrder("a checkpoint after the closing one".into()));
        }
        if checkpoint.tree_size != self.written || self.checkpointed.is_some_and(|c| c >= self.written) {
            return Err(ExportWriteError::OutOfOrder(format!(
                "a checkpoint of size {} after {} entries (the header announced {announced})",
                checkpoint.tree_size, self.written
            )));
        }
        if checkpoint.consistency.is_some() != self.checkpointed.is_some() {
            return Err(ExportWriteError::OutOfOrder(format!(
                "the checkpoint of size {} needs a consistency proof if and only if one came before it",
                checkpoint.tree_size
            )));
        }
        if tenant != header_tenant {
            return Err(ExportWriteError::OutOfOrder(format!(
                "a checkpoint of tenant `{tenant}` in an export of `{header_tenant}`"
            )));
        }
        let bytes = checkpoint_bytes(self.format, checkpoint, tenant)?;
        self.checkpointed = Some(checkpoint.tree_size);
        self.closed = checkpoint.tree_size == *announced;
        Ok(bytes)
    }
}

#[derive(Serialize)]
struct HeaderLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    format: &'static str,
    version: u32,
    tenant: &'a TenantId,
    origin: &'a str,
    key_name: &'a str,
    exported_at: String,
    entries: u64,
}

#[derive(Serialize)]
struct EntryLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    entry: &'a AuditEntry,
}

#[derive(Serialize)]
struct CheckpointLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    checkpoint: &'a ExportCheckpoint,
}

fn serialize_error(error: impl fmt::Display) -> ExportWriteError {
    ExportWriteError::Serialize(error.to_string())
}

fn json_line(value: &impl Serialize) -> Result<Vec<u8>, ExportWriteError> {
    let mut line = serde_json::to_vec(value).map_err(serialize_error)?;
    line.push(b'\n');
    Ok(line)
}

fn csv_row<T: AsRef<[u8]>>(cells: &[T]) -> Result<Vec<u8>, ExportWriteError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .buffer_capacity(1024)
        .from_writer(Vec::new());
    writer.write_record(cells).map_err(serialize_error)?;
    writer.into_inner().map_err(|e| serialize_error(e.error()))
}

/// An entry's line or row, unchecked (the vectors write tampered files).
fn entry_bytes(format: ExportFormat, entry: &AuditEntry) -> Result<Vec<u8>, ExportWriteError> {
    match format {
        ExportFormat::Ndjson => json_line(&EntryLine { kind: "entry", entry }),
        ExportFormat::Csv => csv_row(&csv_entry_cells(entry)?),
    }
}

fn checkpoint_bytes(
    format: ExportFormat,
    checkpoint: &ExportCheckpoint,
    tenant: &TenantId,
) -> Result<Vec<u8>, ExportWriteError> {
    match format {
        ExportFormat::Ndjson => json_line(&CheckpointLine { kind: "checkpoint", checkpoint }),
        ExportFormat::Csv => {
            let mut cells = vec![""; CSV_COLUMNS.len()];
            let size = checkpoint.tree_size.to_string();
            let proof = checkpoint.consistency.as_ref().map(|p| p.join(" ")).unwrap_or_default();
            for (cell, value) in cells.iter_mut().zip(CSV_COLUMNS) {
                *cell = match value {
                    "record" => "checkpoint",
                    "tenant" => tenant.as_str(),
                    "seq" => &size,
                    "hash" => &checkpoint.root_hash,
                    "checkpoint" => &checkpoint.note,
                    "consistency" => &proof,
                    _ => "",
                };
            }
            csv_row(&cells)
        }
    }
}

fn csv_entry_cells(entry: &AuditEntry) -> Result<Vec<String>, ExportWriteError> {
    let seq = entry.seq;
    let text = |field: &'static str, value: &Option<String>| match value {
        Some(v) if v.is_empty() => Err(ExportWriteError::EmptyField { seq, field }),
        Some(v) => Ok(v.clone()),
        None => Ok(String::new()),
    };
    let required = |field: &'static str, value: &str| match value {
        "" => Err(ExportWriteError::EmptyField { seq, field }),
        v => Ok(v.to_string()),
    };
    let keyword = |value: Option<&str>| value.unwrap_or_default().to_string();
    let person = entry.person.as_ref().map(|p| canonical_string(&person_document(p)));
    Ok(vec![
        "entry".into(),
        entry.version.to_string(),
        entry.entry_id.to_string(),
        entry.tenant.to_string(),
        entry.seq.to_string(),
        time::rfc3339_micros(time::to_micros(entry.ts)),
        entry.kind.as_str().into(),
        keyword(entry.intent_id.as_ref().map(IntentId::as_str)),
        keyword(entry.agent_id.as_ref().map(AgentId::as_str)),
        keyword(entry.environment.map(Environment::as_str)),
        keyword(entry.enforced.map(|e| if e { "true" } else { "false" })),
        keyword(entry.verdict.map(Verdict::as_str)),
        keyword(entry.stage.map(StageName::as_str)),
        serde_json::to_string(&entry.reasons).map_err(serialize_error)?,
        text("bundle_hash", &entry.bundle_hash)?,
        text("input_digest", &entry.input_digest)?,
        text("payload_digest", &entry.payload_digest)?,
        text("principal", &entry.principal)?,
        text("jti", &entry.jti)?,
        text("tool", &entry.tool)?,
        text("approval_id", &entry.approval_id)?,
        text("outcome", &entry.outcome)?,
        required("prev_hash", &entry.prev_hash)?,
        required("hash", &entry.hash)?,
        String::new(),
        String::new(),
        person.unwrap_or_default(),
    ])
}

/// Why an export does not verify. The code is stable: tools and SDKs match
/// on it.
///
/// Exhaustive on purpose: a new failure kind must break callers' matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFailureReason {
    /// A record does not parse or is not in the format's form.
    Malformed,
    /// An entry (or the CSV checkpoint row) of another tenant.
    TenantMismatch,
    /// An entry's `seq` is not the next one (deleted, inserted or reordered
    /// entries).
    SequenceGap,
    /// An entry's `prev_hash` is not the previous entry's hash.
    BrokenLink,
    /// An entry's hash is not the hash of its content (an edited entry).
    HashMismatch,
    /// The checkpoint carries no signature by any of the given keys.
    UnknownKey,
    /// A signature by a given key does not verify (an edited checkpoint).
    BadSignature,
    /// The checkpoint's origin does not name the export's tenant.
    OriginMismatch,
    /// Fewer entries than the checkpoint covers, or no checkpoint.
    Truncated,
    /// Entries the checkpoint does not cover.
    ExtraEntries,
    /// The signed root is not the root of the entries.
    RootMismatch,
    /// A checkpoint's consistency proof does not show it extends the
    /// export's previous checkpoint.
    BadProof,
    /// The entries do not have the root of the trusted checkpoint (one
    /// saved earlier): history it covered was rewritten.
    TrustedMismatch,
    /// The input could not be read: no verdict on the file.
    IoError,
}

impl ExportFailureReason {
    /// Every reason.
    pub const ALL: [ExportFailureReason; 14] = [
        ExportFailureReason::Malformed,
        ExportFailureReason::TenantMismatch,
        ExportFailureReason::SequenceGap,
        ExportFailureReason::BrokenLink,
        ExportFailureReason::HashMismatch,
        ExportFailureReason::UnknownKey,
        ExportFailureReason::BadSignature,
        ExportFailureReason::OriginMismatch,
        ExportFailureReason::Truncated,
        ExportFailureReason::ExtraEntries,
        ExportFailureReason::RootMismatch,
        ExportFailureReason::BadProof,
        ExportFailureReason::TrustedMismatch,
        ExportFailureReason::IoError,
    ];

    /// The stable code.
    pub const fn code(self) -> &'static str {
        match self {
            ExportFailureReason::Malformed => "malformed",
            ExportFailureReason::TenantMismatch => "tenant_mismatch",
            ExportFailureReason::SequenceGap => "sequence_gap",
            ExportFailureReason::BrokenLink => "broken_link",
            ExportFailureReason::HashMismatch => "hash_mismatch",
            ExportFailureReason::UnknownKey => "unknown_key",
            ExportFailureReason::BadSignature => "bad_signature",
            ExportFailureReason::OriginMismatch => "origin_mismatch",
            ExportFailureReason::Truncated => "truncated",
            ExportFailureReason::ExtraEntries => "extra_entries",
            ExportFailureReason::RootMismatch => "root_mismatch",
            ExportFailureReason::BadProof => "bad_proof",
            ExportFailureReason::TrustedMismatch => "trusted_mismatch",
            ExportFailureReason::IoError => "io_error",
        }
    }
}

impl fmt::Display for ExportFailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The first place an export does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct ExportFailure {
    /// What is wrong.
    pub reason: ExportFailureReason,
    /// The position in the log concerned (see the module documentation);
    /// `None` for the NDJSON header.
    pub seq: Option<u64>,
    /// The line of the file (for CSV, where the row starts), from 1.
    pub line: u64,
    /// Details, for people.
    pub message: String,
}

/// What a verified export proves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// The tenant.
    pub tenant: TenantId,
    /// The checkpoint's origin.
    pub origin: String,
    /// Entries verified: 1..`entries`, the checkpoint's tree size.
    pub entries: u64,
    /// Their RFC 6962 root, hex.
    pub root_hash: String,
    /// The checkpoint's `time` line, if any.
    pub checkpoint_time: Option<String>,
    /// The name of the key whose signature verified.
    pub key_name: String,
    /// Checkpoints verified (the closing one included).
    pub checkpoints: u64,
}

/// Verifies an export read from `input` with the checkpoint keys `keys`,
/// calling `progress` with the number of bytes read so far as it goes.
///
/// Reads the input once, in constant memory (one line or row at a time,
/// lines of NDJSON up to 16 MiB).
pub fn verify_export(
    input: impl BufRead,
    keys: &[NoteVerifier],
    progress: impl FnMut(u64),
) -> Result<ExportReport, ExportFailure> {
    verify_export_trusting(input, keys, None, progress)
}

/// A checkpoint saved earlier (by `lictor audit monitor`, or from the
/// API), opened with the keys: an export must extend it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedCheckpoint(Checkpoint);

impl TrustedCheckpoint {
    /// Opens `note`, a signed checkpoint, with `keys`.
    pub fn open(note: &str, keys: &[NoteVerifier]) -> Result<TrustedCheckpoint, String> {
        open_note(note, keys).map(|(checkpoint, _)| TrustedCheckpoint(checkpoint)).map_err(|(_, why)| why)
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.0
    }
}

/// [`verify_export`], and also that the export extends `trusted`: it
/// covers at least as many entries (`truncated`), of the same log
/// (`origin_mismatch`), and its first `trusted` entries have the trusted
/// root (`trusted_mismatch`). This is what shows a whole rewrite or a
/// truncation that the gateway's own checkpoints were deleted to hide.
pub fn verify_export_trusting(
    mut input: impl BufRead,
    keys: &[NoteVerifier],
    trusted: Option<&TrustedCheckpoint>,
    mut progress: impl FnMut(u64),
) -> Result<ExportReport, ExportFailure> {
    let chain = Chain::new(keys, trusted.map(|t| &t.0));
    let first = match input.fill_buf() {
        Ok(buffer) => buffer.first().copied(),
        Err(error) => return Err(io_failure(1, &error)),
    };
    match first {
        None => Err(ExportFailure {
            reason: ExportFailureReason::Malformed,
            seq: None,
            line: 1,
            message: "the file is empty".into(),
        }),
        Some(b'{') => verify_ndjson(input, chain, &mut progress),
        Some(_) => verify_csv(input, chain, &mut progress),
    }
}

fn io_failure(line: u64, error: &io::Error) -> ExportFailure {
    ExportFailure {
        reason: ExportFailureReason::IoError,
        seq: None,
        line,
        message: format!("cannot read the export: {error}"),
    }
}

/// A checkpoint record as the file states it.
struct StatedCheckpoint {
    tree_size: u64,
    root_hash: String,
    note: String,
    consistency: Option<Vec<String>>,
    /// The CSV row's `tenant`.
    tenant: Option<TenantId>,
}

/// The last checkpoint verified.
struct Verified {
    size: u64,
    root: Hash,
    report: ExportReport,
}

/// The state of one pass: the chain so far and the tree over it.
struct Chain<'k> {
    keys: &'k [NoteVerifier],
    trusted: Option<&'k Checkpoint>,
    /// The export's tenant: the NDJSON header's, or the first CSV entry's.
    tenant: Option<TenantId>,
    /// The NDJSON header's origin and entry count.
    origin: Option<String>,
    announced: Option<u64>,
    frontier: Frontier,
    prev_hash: String,
    entries: u64,
    /// The last checkpoint that verified.
    last: Option<Verified>,
}

impl<'k> Chain<'k> {
    fn new(keys: &'k [NoteVerifier], trusted: Option<&'k Checkpoint>) -> Chain<'k> {
        Chain {
            keys,
            trusted,
            tenant: None,
            origin: None,
            announced: None,
            frontier: Frontier::new(),
            prev_hash: GENESIS_HASH.to_string(),
            entries: 0,
            last: None,
        }
    }

    /// The position an entry read now must have.
    fn next_seq(&self) -> u64 {
        self.entries + 1
    }

    fn entry_failure(&self, line: u64, reason: ExportFailureReason, message: String) -> ExportFailure {
        ExportFailure { reason, seq: Some(self.next_seq()), line, message }
    }

    /// Checks and appends an entry whose content hashes to `computed`.
    fn entry(
        &mut self,
        record: &AuditRecord,
        computed: String,
        stated: &str,
        line: u64,
    ) -> Result<(), ExportFailure> {
        use ExportFailureReason::*;
        match &self.tenant {
            Some(tenant) if *tenant != record.tenant => {
                let message = format!("an entry of tenant `{}` in the export of `{tenant}`", record.tenant);
                return Err(self.entry_failure(line, TenantMismatch, message));
            }
            Some(_) => {}
            None => self.tenant = Some(record.tenant.clone()),
        }
        if record.seq != self.next_seq() {
            let message = format!("expected entry {}, found entry {}", self.next_seq(), record.seq);
            return Err(self.entry_failure(line, SequenceGap, message));
        }
        if record.prev_hash != self.prev_hash {
            let message = format!(
                "prev_hash `{}` is not the previous entry's hash `{}`",
                record.prev_hash, self.prev_hash
            );
            return Err(self.entry_failure(line, BrokenLink, message));
        }
        if computed != stated {
            let message = format!("the entry hashes to `{computed}`, not to its hash `{stated}`");
            return Err(self.entry_failure(line, HashMismatch, message));
        }
        let leaf: Hash = hex::decode(&computed).ok().and_then(|raw| raw.try_into().ok()).unwrap_or_default();
        self.frontier.push(&leaf);
        self.prev_hash = computed;
        self.entries += 1;
        if let Some(trusted) = self.trusted.filter(|t| t.tree_size == self.entries)
            && trusted.root_hash != self.frontier.root()
        {
            let message = format!(
                "the first {} entries have the root `{}`, the trusted checkpoint `{}`",
                self.entries,
                hex::encode(self.frontier.root()),
                hex::encode(trusted.root_hash)
            );
            return Err(ExportFailure { reason: TrustedMismatch, seq: Some(self.entries), line, message });
        }
        Ok(())
    }

    /// Checks the checkpoint against the entries read.
    fn checkpoint(&mut self, stated: StatedCheckpoint, line: u64) -> Result<(), ExportFailure> {
        use ExportFailureReason::*;
        let at = |reason, seq, message| ExportFailure { reason, seq: Some(seq), line, message };
        let (checkpoint, key_name) = open_note(&stated.note, self.keys)
            .map_err(|(reason, message)| at(reason, stated.tree_size, message))?;
        let size = checkpoint.tree_size;
        let tenant = match (self.tenant.clone(), stated.tenant) {
            (Some(tenant), Some(row)) if row != tenant => {
                let message = format!("the checkpoint row's tenant `{row}` is not the entries' `{tenant}`");
                return Err(at(TenantMismatch, size, message));
            }
            (Some(tenant), _) | (None, Some(tenant)) => tenant,
            (None, None) => return Err(at(Malformed, size, "the checkpoint names no tenant".into())),
        };
        let suffix = format!("/tenants/{tenant}");
        if !checkpoint.origin.ends_with(&suffix) {
            let message =
                format!("the checkpoint's origin `{}` is not of tenant `{tenant}`", checkpoint.origin);
            return Err(at(OriginMismatch, size, message));
        }
        if let Some(origin) = self.origin.as_ref().filter(|o| **o != checkpoint.origin) {
            let message =
                format!("the checkpoint's origin `{}` is not the header's `{origin}`", checkpoint.origin);
            return Err(at(OriginMismatch, size, message));
        }
        if let Some(trusted) = self.trusted.filter(|t| t.origin != checkpoint.origin) {
            let message = format!(
                "the checkpoint's origin `{}` is not the trusted one's `{}`",
                checkpoint.origin, trusted.origin
            );
            return Err(at(OriginMismatch, size, message));
        }
        if let Some(last) = self.last.as_ref().filter(|last| last.size >= size) {
            let message = format!("a checkpoint of size {size} after one of size {}", last.size);
            return Err(at(Malformed, size, message));
        }
        if size > self.entries {
            let message = format!("the checkpoint covers {size} entries, the file holds {}", self.entries);
            return Err(at(Truncated, self.entries + 1, message));
        }
        if size < self.entries {
            let message = format!("the file holds {} entries, the checkpoint covers {size}", self.entries);
            return Err(at(ExtraEntries, size + 1, message));
        }
        let root = self.frontier.root();
        if checkpoint.root_hash != root {
            let message = format!(
                "the signed root `{}` is not the root of the entries `{}`",
                hex::encode(checkpoint.root_hash),
                hex::encode(root)
            );
            return Err(at(RootMismatch, size, message));
        }
        let root_hash = hex::encode(root);
        if stated.tree_size != size || stated.root_hash != root_hash {
            let message = format!(
                "the record states tree size {} and root `{}`, the note {size} and `{root_hash}`",
                stated.tree_size, stated.root_hash
            );
            return Err(at(Malformed, size, message));
        }
        match (&self.last, stated.consistency) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(at(Malformed, size, "the first checkpoint carries a consistency proof".into()));
            }
            (Some(last), None) => {
                let message = format!("no consistency proof from the checkpoint of size {}", last.size);
                return Err(at(Malformed, size, message));
            }
            (Some(last), Some(proof)) => {
                let proof = proof
                    .iter()
                    .map(|h| hex::decode(h).ok().and_then(|raw| Hash::try_from(raw).ok()))
                    .collect::<Option<Vec<Hash>>>()
                    .ok_or_else(|| {
                        at(Malformed, size, "a consistency proof hash is not 64 hex digits".into())
                    })?;
                if let Err(error) = verify_consistency(last.size, size, &last.root, &root, &proof) {
                    let message =
                        format!("the proof from the checkpoint of size {} does not hold: {error}", last.size);
                    return Err(at(BadProof, size, message));
                }
            }
        }
        let checkpoints = self.last.as_ref().map_or(0, |last| last.report.checkpoints) + 1;
        let report = ExportReport {
            tenant,
            origin: checkpoint.origin,
            entries: size,
            root_hash,
            checkpoint_time: checkpoint.time,
            key_name,
            checkpoints,
        };
        self.last = Some(Verified { size, root, report });
        Ok(())
    }

    /// The verdict at the end of the input: the last record was the
    /// checkpoint of every entry, the number the header announced, and
    /// no fewer than a trusted checkpoint covers.
    fn end(self, line: u64) -> Result<ExportReport, ExportFailure> {
        use ExportFailureReason::*;
        let at = |reason, seq, message| Err(ExportFailure { reason, seq: Some(seq), line, message });
        let Some(last) = self.last else {
            return at(Truncated, self.next_seq(), "the file ends without a checkpoint".into());
        };
        if self.entries > last.size {
            let message =
                format!("the file holds {} entries, the last checkpoint covers {}", self.entries, last.size);
            return at(ExtraEntries, last.size + 1, message);
        }
        if let Some(announced) = self.announced.filter(|&n| n != last.size) {
            let message =
                format!("the header announces {announced} entries, the checkpoint covers {}", last.size);
            return at(Malformed, last.size, message);
        }
        if let Some(trusted) = self.trusted.filter(|t| t.tree_size > last.size) {
            let message = format!(
                "the export holds {} entries, a trusted checkpoint covers {}: the log was cut",
                last.size, trusted.tree_size
            );
            return at(Truncated, last.size + 1, message);
        }
        Ok(last.report)
    }
}

/// Opens `note` with the first of `keys` that signed it.
fn open_note(
    note: &str,
    keys: &[NoteVerifier],
) -> Result<(Checkpoint, String), (ExportFailureReason, String)> {
    let mut bad_signature = None;
    for key in keys {
        match Checkpoint::open(note, key) {
            Ok(checkpoint) => return Ok((checkpoint, key.name.clone())),
            Err(CheckpointError::NotSignedBy(_)) => {}
            Err(CheckpointError::BadSignature(name)) => bad_signature = Some(name),
            Err(
                error @ (CheckpointError::MalformedNote(_)
                | CheckpointError::MalformedCheckpoint(_)
                | CheckpointError::MalformedKey(_)),
            ) => return Err((ExportFailureReason::Malformed, error.to_string())),
        }
    }
    if let Some(name) = bad_signature {
        let message = format!("the checkpoint's signature by `{name}` does not verify");
        return Err((ExportFailureReason::BadSignature, message));
    }
    let signers = note_signers(note);
    let message = if signers.is_empty() {
        "the checkpoint carries no signature".to_string()
    } else {
        format!("the checkpoint is signed by {}, none of the given keys", signers.join(", "))
    };
    Err((ExportFailureReason::UnknownKey, message))
}

/// `` `name` (key id xxxxxxxx) `` for each signature line of `note`.
fn note_signers(note: &str) -> Vec<String> {
    let Some((_, signatures)) = note.rsplit_once("\n\n") else {
        return Vec::new();
    };
    signatures
        .lines()
        .filter_map(|line| line.strip_prefix("\u{2014} ")?.split_once(' '))
        .map(|(name, signature)| match STANDARD.decode(signature) {
            Ok(raw) if raw.len() >= 4 => format!("`{name}` (key id {})", hex::encode(&raw[..4])),
            _ => format!("`{name}`"),
        })
        .collect()
}

fn malformed(seq: Option<u64>, line: u64, message: impl Into<String>) -> ExportFailure {
    ExportFailure { reason: ExportFailureReason::Malformed, seq, line, message: message.into() }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderFields {
    #[serde(rename = "type")]
    _kind: String,
    format: String,
    version: u64,
    tenant: TenantId,
    origin: String,
    #[serde(rename = "key_name")]
    _key_name: String,
    #[serde(rename = "exported_at")]
    _exported_at: DateTime<Utc>,
    entries: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFields {
    tree_size: u64,
    root_hash: String,
    note: String,
    consistency: Option<Vec<String>>,
}

fn verify_ndjson(
    mut input: impl BufRead,
    mut chain: Chain<'_>,
    progress: &mut impl FnMut(u64),
) -> Result<ExportReport, ExportFailure> {
    let mut buffer = Vec::new();
    let (mut line, mut bytes) = (0u64, 0u64);
    loop {
        buffer.clear();
        let read = (&mut input).take(MAX_LINE + 1).read_until(b'\n', &mut buffer);
        let read = read.map_err(|error| io_failure(line + 1, &error))?;
        if read == 0 {
            break;
        }
        line += 1;
        bytes += read as u64;
        // Failures in the header have no position; later ones the next entry's.
        let seq = (line > 1).then(|| chain.next_seq());
        let Some(text) = buffer.strip_suffix(b"\n") else {
            let message = if read as u64 > MAX_LINE {
                format!("a line longer than {MAX_LINE} bytes")
            } else {
                "the last line does not end with a newline".to_string()
            };
            return Err(malformed(seq, line, message));
        };
        let record: Value = serde_json::from_slice(text)
            .map_err(|e| malformed(seq, line, format!("not a JSON object: {e}")))?;
        let Value::Object(mut record) = record else {
            return Err(malformed(seq, line, "not a JSON object"));
        };
        let kind = record.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        match (line, kind.as_str()) {
            (1, "header") => {
                let header: HeaderFields = serde_json::from_value(Value::Object(record))
                    .map_err(|e| malformed(None, line, format!("bad header: {e}")))?;
                if header.format != EXPORT_FORMAT {
                    return Err(malformed(
                        None,
                        line,
                        format!("format `{}` is not `{EXPORT_FORMAT}`", header.format),
                    ));
                }
                if !(1..=u64::from(EXPORT_VERSION)).contains(&header.version) {
                    let message = format!("unsupported export version {}", header.version);
                    return Err(malformed(None, line, message));
                }
                chain.tenant = Some(header.tenant);
                chain.origin = Some(header.origin);
                chain.announced = Some(header.entries);
            }
            (1, _) => return Err(malformed(None, line, "the first line is not the export header")),
            (_, "header") => return Err(malformed(seq, line, "a second header")),
            (_, "entry") => {
                let (Some(entry), 1) = (record.remove("entry"), record.len()) else {
                    return Err(malformed(seq, line, "an entry line has exactly `type` and `entry`"));
                };
                let (audit, computed, stated) =
                    ndjson_entry(entry).map_err(|message| malformed(seq, line, message))?;
                chain.entry(&audit, computed, &stated, line)?;
            }
            (_, "checkpoint") => {
                let (Some(fields), 1) = (record.remove("checkpoint"), record.len()) else {
                    return Err(malformed(
                        seq,
                        line,
                        "a checkpoint line has exactly `type` and `checkpoint`",
                    ));
                };
                let fields: CheckpointFields = serde_json::from_value(fields)
                    .map_err(|e| malformed(seq, line, format!("bad checkpoint: {e}")))?;
                let stated = StatedCheckpoint {
                    tree_size: fields.tree_size,
                    root_hash: fields.root_hash,
                    note: fields.note,
                    consistency: fields.consistency,
                    tenant: None,
                };
                chain.checkpoint(stated, line)?;
            }
            (_, other) => return Err(malformed(seq, line, format!("unknown record type `{other}`"))),
        }
        progress(bytes);
    }
    chain.end(line + 1)
}

/// Checks an NDJSON entry object is exactly the hashed document plus
/// `hash`; answers its record, computed hash and stated hash.
fn ndjson_entry(object: Value) -> Result<(AuditRecord, String, String), String> {
    let entry = AuditEntry::deserialize(&object).map_err(|e| format!("not an audit entry: {e}"))?;
    let record = AuditRecord::from_entry(&entry);
    let mut document = record.canonical_document();
    let computed = digest_json(&document);
    if let Value::Object(fields) = &mut document {
        fields.insert("hash".into(), Value::String(entry.hash.clone()));
    }
    if document != object {
        return Err(form_difference(&document, &object));
    }
    Ok((record, computed, entry.hash))
}

/// Where `found` departs from the `expected` entry object.
fn form_difference(expected: &Value, found: &Value) -> String {
    let (Value::Object(expected), Value::Object(found)) = (expected, found) else {
        return "not a JSON object".into();
    };
    for (name, value) in expected {
        match found.get(name) {
            None => return format!("the entry lacks `{name}`"),
            Some(other) if other != value => {
                return format!("`{name}` is {other}, whose canonical form is {value}");
            }
            Some(_) => {}
        }
    }
    match found.keys().find(|name| !expected.contains_key(*name)) {
        Some(name) if found.get(name) == Some(&Value::Null) => {
            format!("`{name}` is null: an unset extension field is left out")
        }
        Some(name) => format!("unknown field `{name}`"),
        None => "not in canonical form".into(),
    }
}

fn csv_failure(error: &csv::Error, seq: Option<u64>, line: u64) -> ExportFailure {
    let line = error.position().map_or(line, csv::Position::line);
    match error.kind() {
        csv::ErrorKind::Io(io) => io_failure(line, io),
        csv::ErrorKind::UnequalLengths { len, expected_len, .. } => {
            malformed(seq, line, format!("a row of {len} cells, not {expected_len}"))
        }
        _ => malformed(seq, line, format!("not CSV: {error}")),
    }
}

fn verify_csv(
    input: impl BufRead,
    mut chain: Chain<'_>,
    progress: &mut impl FnMut(u64),
) -> Result<ExportReport, ExportFailure> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(input);
    let mut row = csv::StringRecord::new();
    let read = reader.read_record(&mut row).map_err(|e| csv_failure(&e, None, 1))?;
    let is = |columns: &[&str]| row.len() == columns.len() && row.iter().zip(columns).all(|(a, b)| a == *b);
    if !read || !(is(&CSV_COLUMNS) || is(CSV_COLUMNS_WITHOUT_PERSON) || is(CSV_COLUMNS_V1)) {
        return Err(malformed(None, 1, "the first row is not the export's column header"));
    }
    progress(reader.position().byte());
    let mut line = 1;
    loop {
        let seq = Some(chain.next_seq());
        if !reader.read_record(&mut row).map_err(|e| csv_failure(&e, seq, line + 1))? {
            break;
        }
        line = row.position().map_or(line + 1, csv::Position::line);
        match row.get(0) {
            Some("entry") => {
                let (record, stated) = csv_entry(&row).map_err(|message| malformed(seq, line, message))?;
                let computed = record.hash();
                chain.entry(&record, computed, &stated, line)?;
            }
            Some("checkpoint") => {
                let stated = csv_checkpoint(&row).map_err(|message| malformed(seq, line, message))?;
                chain.checkpoint(stated, line)?;
            }
            _ => return Err(malformed(seq, line, "`record` is neither `entry` nor `checkpoint`")),
        }
        progress(reader.position().byte());
    }
    // The reader stops before a last line end until asked for more.
    progress(reader.position().byte());
    chain.end(reader.position().line())
}

/// The cells of a CSV row, taken in column order.
struct Cells<'a> {
    cells: csv::StringRecordIter<'a>,
    column: usize,
}

impl<'a> Cells<'a> {
    fn new(row: &'a csv::StringRecord) -> Cells<'a> {
        let mut cells = Cells { cells: row.iter(), column: 0 };
        cells.next(); // `record`, already read
        cells
    }

    /// The next cell; an empty one past the end of a row of an earlier
    /// layout, which lacks the last columns.
    fn next(&mut self) -> (&'static str, &'a str) {
        let name = CSV_COLUMNS.get(self.column).copied().unwrap_or("?");
        self.column += 1;
        (name, self.cells.next().unwrap_or_default())
    }

    /// The next cell, parsed; `None` when empty.
    fn optional<T>(&mut self, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<Option<T>, String> {
        match self.next() {
            (_, "") => Ok(None),
            (name, cell) => parse(cell).map(Some).map_err(|why| format!("`{name}`: {why}")),
        }
    }

    /// The next cell, parsed; it must not be empty.
    fn required<T>(&mut self, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, String> {
        match self.next() {
            (name, "") => Err(format!("`{name}` is empty")),
            (name, cell) => parse(cell).map_err(|why| format!("`{name}`: {why}")),
        }
    }

    /// The next cell, which must be empty.
    fn empty(&mut self) -> Result<(), String> {
        match self.next() {
            (_, "") => Ok(()),
            (name, _) => Err(format!("`{name}` must be empty in this row")),
        }
    }

    /// The remaining cells of the row, which must be empty (a file of an
    /// earlier layout has fewer).
    fn rest_empty(&mut self) -> Result<(), String> {
        while self.cells.clone().next().is_some() {
            self.empty()?;
        }
        Ok(())
    }

    /// The cells up to column `column`, which must be empty.
    fn empty_until(&mut self, column: &str) -> Result<(), String> {
        while CSV_COLUMNS.get(self.column).is_some_and(|name| *name != column) {
            self.empty()?;
        }
        Ok(())
    }
}

fn text(cell: &str) -> Result<String, String> {
    Ok(cell.to_string())
}

/// A plain decimal: no sign, no leading zero.
fn decimal(cell: &str) -> Result<u64, String> {
    let plain = cell.bytes().all(|b| b.is_ascii_digit()) && (cell == "0" || !cell.starts_with('0'));
    let number = plain.then(|| cell.parse().ok()).flatten();
    number.ok_or_else(|| format!("`{cell}` is not a plain decimal number"))
}

fn keyword<T>(parse: impl FnOnce(&str) -> Option<T>) -> impl FnOnce(&str) -> Result<T, String> {
    |cell| parse(cell).ok_or_else(|| format!("unknown value `{cell}`"))
}

fn id<T: FromStr<Err = lictor_api::ids::InvalidId>>(cell: &str) -> Result<T, String> {
    cell.parse().map_err(|e: lictor_api::ids::InvalidId| e.to_string())
}

/// `ts` in the hashed form (RFC 3339, six fractional digits, `Z`), as µs.
fn timestamp(cell: &str) -> Result<i64, String> {
    let micros = DateTime::parse_from_rfc3339(cell).ok().map(|t| time::to_micros(t.to_utc()));
    micros
        .filter(|&micros| time::rfc3339_micros(micros) == cell)
        .ok_or_else(|| format!("`{cell}` is not RFC 3339 with six fractional digits and `Z`"))
}

fn reasons(cell: &str) -> Result<Vec<Reason>, String> {
    let value: Value = serde_json::from_str(cell).map_err(|e| format!("not JSON: {e}"))?;
    let reasons: Vec<Reason> =
        Vec::deserialize(&value).map_err(|e| format!("not an array of reasons: {e}"))?;
    // Fields the hash would not cover are refused, not ignored.
    if serde_json::to_value(&reasons).ok() != Some(value) {
        return Err("a reason has fields other than `stage`, `code` and `message`".into());
    }
    Ok(reasons)
}

fn person(cell: &str) -> Result<Person, String> {
    let value: Value = serde_json::from_str(cell).map_err(|e| format!("not JSON: {e}"))?;
    let person = Person::deserialize(&value).map_err(|e| format!("not a person: {e}"))?;
    // Fields the hash would not cover are refused, not ignored.
    let document = person_document(&person);
    if document != value {
        let mut fields = value.as_object().into_iter().flatten();
        return Err(match fields.find(|(name, _)| document.get(name.as_str()).is_none()) {
            Some((name, Value::Null)) => format!("`{name}` is null: an unset field is left out"),
            Some((name, _)) => format!("unknown field `{name}`"),
            None => "not in the form its hash covers".into(),
        });
    }
    Ok(person)
}

fn boolean(cell: &str) -> Result<bool, String> {
    match cell {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{cell}` is neither `true` nor `false`")),
    }
}

/// A CSV entry row: the record and its stated hash.
fn csv_entry(row: &csv::StringRecord) -> Result<(AuditRecord, String), String> {
    let mut cells = Cells::new(row);
    let version = cells.required(decimal)?;
    let mut record = AuditRecord {
        version: u32::try_from(version).map_err(|_| format!("`version` {version} is out of range"))?,
        entry_id: cells.required(id::<AuditEntryId>)?,
        tenant: cells.required(id::<TenantId>)?,
        seq: cells.required(decimal)?,
        ts: cells.required(timestamp)?,
        kind: cells.required(keyword(AuditKind::parse))?,
        intent_id: cells.optional(id::<IntentId>)?,
        agent_id: cells.optional(id::<AgentId>)?,
        environment: cells.optional(keyword(Environment::parse))?,
        enforced: cells.optional(boolean)?,
        verdict: cells.optional(keyword(Verdict::parse))?,
        stage: cells.optional(keyword(StageName::parse))?,
        reasons: cells.required(reasons)?,
        bundle_hash: cells.optional(text)?,
        input_digest: cells.optional(text)?,
        payload_digest: cells.optional(text)?,
        principal: cells.optional(text)?,
        // Its column comes last (it was added last).
        person: None,
        jti: cells.optional(text)?,
        tool: cells.optional(text)?,
        approval_id: cells.optional(text)?,
        outcome: cells.optional(text)?,
        prev_hash: cells.required(text)?,
    };
    let hash = cells.required(text)?;
    cells.empty_until("person")?;
    record.person = cells.optional(person)?;
    cells.rest_empty()?;
    Ok((record, hash))
}

/// A CSV checkpoint row.
fn csv_checkpoint(row: &csv::StringRecord) -> Result<StatedCheckpoint, String> {
    let mut cells = Cells::new(row);
    cells.empty()?; // version
    cells.empty()?; // entry_id
    let tenant = cells.required(id::<TenantId>)?;
    let tree_size = cells.required(decimal)?;
    cells.empty_until("hash")?;
    let root_hash = cells.required(text)?;
    let note = cells.required(text)?;
    // Version 1 has no `consistency` column.
    let consistency = cells.optional(|proof| Ok(proof.split(' ').map(str::to_string).collect()))?;
    cells.rest_empty()?;
    Ok(StatedCheckpoint { tree_size, root_hash, note, consistency, tenant: Some(tenant) })
}

/// Why a keys text yields no verifier.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// The JSON document is not the gateway's keys document.
    #[error("not a keys document: {0}")]
    Document(String),
    /// A key is unusable.
    #[error("{at}: {error}")]
    Key {
        /// Where: `line 2`, `keys[1]`.
        at: String,
        /// What is wrong with it.
        error: CheckpointError,
    },
    /// No audit-checkpoint key in the text.
    #[error("no audit-checkpoint key found")]
    NoKeys,
}

/// The purpose of checkpoint keys in the gateway's keys document.
pub const CHECKPOINT_KEY_PURPOSE: &str = "audit-checkpoint";

#[derive(Deserialize)]
struct KeysDocument {
    keys: Vec<PublishedKey>,
}

#[derive(Deserialize)]
struct PublishedKey {
    purpose: Option<String>,
    name: Option<String>,
    key_id: Option<String>,
    vkey: Option<String>,
}

/// Checkpoint verifier keys from `text`: verifier keys
/// (`<name>+<key id>+<base64 key>`), one per line (blank lines and `#`
/// comments ignored), or the JSON document of `GET
/// /.well-known/lictor/keys`, whose `audit-checkpoint` keys are read from
/// their `vkey`.
pub fn parse_keys(text: &str) -> Result<Vec<NoteVerifier>, KeysError> {
    let mut keys = Vec::new();
    if text.trim_start().starts_with('{') {
        let document: KeysDocument =
            serde_json::from_str(text).map_err(|e| KeysError::Document(e.to_string()))?;
        for (index, key) in document.keys.iter().enumerate() {
            if key.purpose.as_deref().is_some_and(|p| p != CHECKPOINT_KEY_PURPOSE) {
                continue;
            }
            let at = format!("keys[{index}]");
            let bad =
                |why: String| KeysError::Key { at: at.clone(), error: CheckpointError::MalformedKey(why) };
            let vkey = key.vkey.as_deref().ok_or_else(|| bad("no `vkey`".into()))?;
            let verifier =
                NoteVerifier::parse(vkey).map_err(|error| KeysError::Key { at: at.clone(), error })?;
            if key.name.as_deref().is_some_and(|name| name != verifier.name) {
                return Err(bad("`name` is not the vkey's".into()));
            }
            if key.key_id.as_deref().is_some_and(|id| id != hex::encode(verifier.id)) {
                return Err(bad("`key_id` is not the vkey's".into()));
            }
            keys.push(verifier);
        }
    } else {
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let verifier = NoteVerifier::parse(line)
                .map_err(|error| KeysError::Key { at: format!("line {}", index + 1), error })?;
            keys.push(verifier);
        }
    }
    if keys.is_empty() {
        return Err(KeysError::NoKeys);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
