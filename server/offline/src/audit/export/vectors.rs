//! The language-neutral audit export vectors in `conformance/vectors/audit/`.
//!
//! Regenerated here deterministically (fixed ids, times and signing seed)
//! and compared byte for byte with the checked-in files, so the format
//! cannot drift from its vectors; `LICTOR_WRITE_VECTORS=1` rewrites them.
//! Every file is then verified and must meet the outcome `manifest.json`
//! states.

use std::collections::BTreeSet;
use std::path::PathBuf;

use lictor_api::api_keys::Environment;
use lictor_api::audit::{AuditEntry, AuditKind, PublicKey, PublicKeys};
use lictor_api::ids::{AgentId, AuditEntryId, IntentId, TenantId};
use lictor_api::intents::{Reason, StageName, Verdict};
use lictor_api::operators::{Person, ProviderName};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;
use crate::audit::checkpoint::{Checkpoint, NoteSigner};
use crate::audit::merkle::{Frontier, MemoryTree, consistency_proof};
use crate::audit::{AuditRecord, GENESIS_HASH};

const KEY_NAME: &str = "lictor-vectors";
const TENANT: &str = "acme";
const ORIGIN: &str = "lictor-vectors/tenants/acme";
/// 2026-01-01T00:00:00Z, in µs.
const T0: i64 = 1_767_225_600_000_000;
const CHECKPOINT_TIME: &str = "2026-01-01T00:10:00Z";
const REGENERATE: &str = "LICTOR_WRITE_VECTORS=1 cargo test -p lictor-offline --lib audit::export::vectors";

/// The checkpoint key's seed: bytes 0x00..=0x1f.
fn seed() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

/// Another seed, for the wrong-key vector: bytes 0xff down to 0xe0.
fn other_seed() -> [u8; 32] {
    std::array::from_fn(|i| 0xff - i as u8)
}

fn signer() -> NoteSigner {
    NoteSigner::new(KEY_NAME, &seed()).unwrap()
}

fn tenant() -> TenantId {
    TenantId::parse(TENANT).unwrap()
}

/// A fixed, realistic-looking digest.
fn digest(label: &str) -> Option<String> {
    Some(hex::encode(Sha256::digest(label.as_bytes())))
}

fn reason(stage: StageName, code: &str, message: &str) -> Reason {
    Reason { stage, code: code.into(), message: message.into() }
}

fn record(n: u64, kind: AuditKind, offset_micros: i64) -> AuditRecord {
    let entry_id = AuditEntryId::parse(format!("aud_vectors_{n:02}")).unwrap();
    AuditRecord::new(entry_id, kind, tenant(), n, T0 + offset_micros, String::new())
}

/// The log: seven entries of six kinds, with every optional field but
/// `person` used somewhere, a `ts` on a whole second (which must still
/// carry six fractional digits) and reasons needing JSON and CSV escapes.
fn records() -> Vec<AuditRecord> {
    let agent = Some(AgentId::parse("billing-bot").unwrap());
    let mut created = record(1, AuditKind::TenantCreated, 0);
    created.principal = Some("superadmin".into());

    let mut agent_created = record(2, AuditKind::AgentCreated, 1_500_000);
    agent_created.agent_id = agent.clone();
    agent_created.principal = Some("key:key_admin".into());

    let mut shadow = record(3, AuditKind::Decision, 2_000_123);
    shadow.intent_id = Some(IntentId::parse("int_vectors_1").unwrap());
    shadow.agent_id = agent.clone();
    shadow.environment = Some(Environment::Shadow);
    shadow.enforced = Some(false);
    shadow.verdict = Some(Verdict::Block);
    shadow.stage = Some(StageName::Policy);
    shadow.reasons = vec![reason(
        StageName::Policy,
        "transact_over_limit",
        "amount 1200.00 USD exceeds the limit of 500.00 USD",
    )];
    shadow.bundle_hash = digest("bundle");
    shadow.input_digest = digest("input 1");
    shadow.payload_digest = digest("payload 1");
    shadow.principal = Some("key:key_agent".into());

    let mut escalated = record(4, AuditKind::Decision, 3_250_000);
    escalated.intent_id = Some(IntentId::parse("int_vectors_2").unwrap());
    escalated.agent_id = agent.clone();
    escalated.environment = Some(Environment::Live);
    escalated.enforced = Some(true);
    escalated.verdict = Some(Verdict::Escalate);
    escalated.stage = Some(StageName::Policy);
    escalated.reasons = vec![
        reason(StageName::Risk, "high_risk", "risk score 0.82"),
        reason(StageName::Policy, "needs_approval", "issues in `payments` need a human, \"ops\" on call"),
    ];
    escalated.bundle_hash = digest("bundle");
    escalated.input_digest = digest("input 2");
    escalated.payload_digest = digest("payload 2");
    escalated.principal = Some("token:tok_root".into());
    escalated.jti = Some("tok_root".into());
    escalated.tool = Some("github.create_issue".into());
    escalated.approval_id = Some("apr_vectors_1".into());

    let mut approved = record(5, AuditKind::ApprovalDecision, 60_000_001);
    approved.intent_id = escalated.intent_id.clone();
    approved.agent_id = agent.clone();
    approved.verdict = Some(Verdict::Approve);
    approved.principal = Some("key:key_admin".into());
    approved.approval_id = escalated.approval_id.clone();
    approved.outcome = Some("approved".into());

    let mut result = record(6, AuditKind::ToolResult, 61_500_000);
    result.intent_id = escalated.intent_id.clone();
    result.agent_id = agent;
    result.payload_digest = digest("result");
    result.tool = escalated.tool.clone();
    result.outcome = Some("ok".into());

    let mut revoked = record(7, AuditKind::TokenRevoked, 120_999_999);
    revoked.principal = Some("key:key_admin".into());
    revoked.jti = Some("tok_root".into());
    revoked.reasons = vec![reason(
        StageName::Capability,
        "revoked",
        "token \"tok_root\" was pasted, with its secret,\nin a public issue — revoked",
    )];

    vec![created, agent_created, shadow, escalated, approved, result, revoked]
}

/// The log with two more entries, written by people who signed in through
/// their identity provider: one with every field of the person set (text
/// needing JSON and CSV escapes, beyond ASCII), one with the required ones
/// only.
fn person_records() -> Vec<AuditRecord> {
    let mut updated = record(8, AuditKind::AgentUpdated, 180_000_000);
    updated.agent_id = Some(AgentId::parse("billing-bot").unwrap());
    updated.payload_digest = digest("agent update");
    updated.principal = Some("session:ses_vectors_1".into());
    updated.person = Some(Person {
        issuer: "https://login.example.com/oauth2/default".into(),
        subject: "00u1x9k2AbCdEf".into(),
        provider: ProviderName::parse("okta").unwrap(),
        username: Some("zoe.muller".into()),
        email: Some("zoë@example.com".into()),
        name: Some("Zoë \"Zed\" Müller,\tOps 🦀".into()),
    });

    let mut promoted = record(9, AuditKind::PolicyPromoted, 240_000_000);
    promoted.bundle_hash = digest("bundle 2");
    promoted.payload_digest = digest("promotion");
    promoted.principal = Some("oidc:jti_vectors_1".into());
    promoted.person = Some(Person {
        issuer: "https://accounts.google.com".into(),
        subject: "109876543210987654321".into(),
        provider: ProviderName::parse("google").unwrap(),
        username: None,
        email: None,
        name: None,
    });

    let mut records = records();
    records.extend([updated, promoted]);
    records
}

/// The sizes at which the log with people has checkpoints.
const PERSON_SIZES: [usize; 4] = [3, 5, 7, 9];

/// A CSV file as written before the `person` column existed: the same
/// rows without their last cell, which must be empty.
fn before_person(csv: Vec<u8>) -> Vec<u8> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(csv.as_slice());
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.unwrap();
        let cells: Vec<&str> = row.iter().collect();
        let (last, cells) = cells.split_last().unwrap();
        assert_eq!(*last, if i == 0 { "person" } else { "" });
        out.extend(csv_row(cells).unwrap());
    }
    out
}

/// `records` as a chain: numbered from 1, linked and hashed.
fn chained(records: &[AuditRecord]) -> Vec<AuditEntry> {
    let mut prev = GENESIS_HASH.to_string();
    let mut entries = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let mut record = record.clone();
        record.seq = i as u64 + 1;
        record.prev_hash = prev;
        prev = record.hash();
        entries.push(record.to_entry(prev.clone()));
    }
    entries
}

/// Re-hashes one entry after an edit, keeping its `prev_hash`.
fn rehashed(entry: &AuditEntry) -> AuditEntry {
    let record = AuditRecord::from_entry(entry);
    record.to_entry(record.hash())
}

fn root_of(entries: &[AuditEntry]) -> [u8; 32] {
    let mut frontier = Frontier::new();
    for entry in entries {
        frontier.push(&hex::decode(&entry.hash).unwrap());
    }
    frontier.root()
}

fn checkpoint_with(
    origin: &str,
    tree_size: u64,
    root_hash: [u8; 32],
    signer: &NoteSigner,
) -> ExportCheckpoint {
    let checkpoint =
        Checkpoint { origin: origin.into(), tree_size, root_hash, time: Some(CHECKPOINT_TIME.into()) };
    ExportCheckpoint::new(&checkpoint, signer.sign(&checkpoint.to_text()).unwrap())
}

/// The checkpoint of `entries`, signed with the vector key.
fn checkpoint_of(entries: &[AuditEntry]) -> ExportCheckpoint {
    checkpoint_with(ORIGIN, entries.len() as u64, root_of(entries), &signer())
}

/// The sizes at which the vector log has checkpoints.
const SIZES: [usize; 3] = [3, 5, 7];

/// Checkpoints of `entries` at `sizes` (at most the entries' number), each
/// after the first with its consistency proof from the one before, and
/// where each goes: after that many entries.
fn checkpoints_of(entries: &[AuditEntry], sizes: &[usize]) -> Vec<(usize, ExportCheckpoint)> {
    let mut tree = MemoryTree::new();
    for entry in entries {
        tree.push(&hex::decode(&entry.hash).unwrap());
    }
    let mut previous: Option<usize> = None;
    let mut out = Vec::new();
    for &size in sizes.iter().filter(|&&size| size <= entries.len()) {
        let mut checkpoint = checkpoint_of(&entries[..size]);
        if let Some(old) = previous {
            let proof = consistency_proof(old as u64, size as u64, |n| tree.node(n)).unwrap();
            checkpoint = checkpoint.extending(&proof);
        }
        previous = Some(size);
        out.push((size, checkpoint));
    }
    out
}

/// A file: the header announcing `announced` entries, `entries` as given
/// (in any order, tampered or not) and `checkpoints`, each after the number
/// of entries it names.
struct Render<'a> {
    format: ExportFormat,
    announced: u64,
    entries: &'a [AuditEntry],
    checkpoints: Vec<(usize, ExportCheckpoint)>,
}

impl Render<'_> {
    fn bytes(&self) -> Vec<u8> {
        let header = ExportHeader {
            tenant: tenant(),
            origin: ORIGIN.into(),
            key_name: KEY_NAME.into(),
            exported_at: time::from_micros(T0 + 900_000_000),
            entries: self.announced,
        };
        let mut bytes = ExportWriter::new(self.format).header(&header).unwrap();
        bytes.extend(self.checkpoints_after(0));
        for (i, entry) in self.entries.iter().enumerate() {
            bytes.extend(entry_bytes(self.format, entry).unwrap());
            bytes.extend(self.checkpoints_after(i + 1));
        }
        bytes
    }

    fn checkpoints_after(&self, entries: usize) -> Vec<u8> {
        let here = self.checkpoints.iter().filter(|(at, _)| *at == entries);
        here.flat_map(|(_, checkpoint)| checkpoint_bytes(self.format, checkpoint, &tenant()).unwrap())
            .collect()
    }
}

/// A file of `entries` with `checkpoints`, announcing 7.
fn file(
    format: ExportFormat,
    entries: &[AuditEntry],
    checkpoints: Vec<(usize, ExportCheckpoint)>,
) -> Vec<u8> {
    Render { format, announced: 7, entries, checkpoints }.bytes()
}

#[derive(Serialize)]
struct Manifest {
    format: &'static str,
    description: &'static str,
    regenerate: &'static str,
    keys: &'static str,
    keys_document: &'static str,
    vectors: Vec<Vector>,
}

#[derive(Serialize)]
struct Vector {
    file: String,
    description: &'static str,
    /// A file holding a checkpoint saved earlier: the export must extend it.
    #[serde(skip_serializing_if = "Option::is_none")]
    trusted: Option<&'static str>,
    expect: Expect,
    #[serde(skip)]
    bytes: Vec<u8>,
}

/// What a consumer must conclude. Field order is the file's order.
#[derive(Serialize)]
#[serde(untagged)]
enum Expect {
    Valid {
        valid: bool,
        tenant: &'static str,
        origin: &'static str,
        entries: u64,
        root_hash: String,
        checkpoint_time: &'static str,
        key_name: &'static str,
        checkpoints: u64,
    },
    Invalid {
        valid: bool,
        reason: &'static str,
        seq: u64,
    },
}

fn valid(name: &str, description: &'static str, entries: &[AuditEntry], bytes: Vec<u8>) -> Vector {
    let sizes = SIZES.iter().filter(|&&size| size <= entries.len()).count().max(1);
    valid_with(name, description, entries, sizes as u64, bytes)
}

fn valid_with(
    name: &str,
    description: &'static str,
    entries: &[AuditEntry],
    checkpoints: u64,
    bytes: Vec<u8>,
) -> Vector {
    let expect = Expect::Valid {
        valid: true,
        tenant: TENANT,
        origin: ORIGIN,
        entries: entries.len() as u64,
        root_hash: hex::encode(root_of(entries)),
        checkpoint_time: CHECKPOINT_TIME,
        key_name: KEY_NAME,
        checkpoints,
    };
    Vector { file: name.into(), description, trusted: None, expect, bytes }
}

fn invalid(name: &str, description: &'static str, reason: &'static str, seq: u64, bytes: Vec<u8>) -> Vector {
    let expect = Expect::Invalid { valid: false, reason, seq };
    Vector { file: name.into(), description, trusted: None, expect, bytes }
}

/// `vector`, checked against the trusted checkpoint in `TRUSTED`.
fn trusting(mut vector: Vector) -> Vector {
    vector.trusted = Some(TRUSTED);
    vector
}

/// The file holding the trusted checkpoint: the real log's at size 5.
const TRUSTED: &str = "trusted_checkpoint.txt";

/// The lines of an NDJSON file, each with its `\n`.
fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

fn vectors() -> Vec<Vector> {
    use ExportFormat::{Csv, Ndjson};
    let entries = chained(&records());
    let standard = checkpoints_of(&entries, &SIZES);
    let checkpoint = standard.last().unwrap().1.clone();
    // The standard checkpoints with the last one replaced.
    let closing = |last: ExportCheckpoint| {
        let mut checkpoints = standard.clone();
        checkpoints.last_mut().unwrap().1 = last;
        checkpoints
    };
    let valid_file = |format| file(format, &entries, standard.clone());

    let mut edited = entries.clone();
    edited[2].verdict = Some(Verdict::Approve);
    // Between two checkpoints, so that the broken link shows first.
    let mut edited_rehashed = entries.clone();
    edited_rehashed[3].verdict = Some(Verdict::Approve);
    edited_rehashed[3] = rehashed(&edited_rehashed[3]);
    let edited_rechained = {
        let mut records = records();
        records[2].verdict = Some(Verdict::Approve);
        chained(&records)
    };

    let forged = {
        let mut record = record(4, AuditKind::TokenMinted, 3_000_000);
        record.agent_id = Some(AgentId::parse("billing-bot").unwrap());
        record.jti = Some("tok_forged".into());
        record.principal = Some("key:key_admin".into());
        record
    };
    let mut inserted = entries.clone();
    inserted.insert(3, {
        let mut record = forged.clone();
        record.prev_hash = entries[2].hash.clone();
        record.to_entry(record.hash())
    });
    let rewritten = {
        let mut records = records();
        records.insert(3, forged.clone());
        chained(&records)
    };

    let mut deleted = entries.clone();
    deleted.remove(3);
    let mut reordered = entries.clone();
    reordered.swap(3, 4);
    let mut foreign = entries.clone();
    foreign[4].tenant = TenantId::parse("globex").unwrap();
    foreign[4] = rehashed(&foreign[4]);
    let appended = {
        let mut records = records();
        let mut extra = record(8, AuditKind::AgentUpdated, 200_000_000);
        extra.agent_id = Some(AgentId::parse("billing-bot").unwrap());
        extra.principal = Some("key:key_admin".into());
        records.push(extra);
        chained(&records)
    };

    let other_key = {
        let signer = NoteSigner::new(KEY_NAME, &other_seed()).unwrap();
        let mut other = checkpoint_with(ORIGIN, 7, root_of(&entries), &signer);
        other.consistency = checkpoint.consistency.clone();
        other
    };
    let edited_root = {
        let mut edited = checkpoint.clone();
        let six = STANDARD.encode(root_of(&entries[..6]));
        edited.note = edited.note.replacen(&STANDARD.encode(root_of(&entries)), &six, 1);
        edited.root_hash = hex::encode(root_of(&entries[..6]));
        assert_ne!(edited.note, checkpoint.note);
        edited
    };
    let globex = {
        let mut globex = checkpoint_with("lictor-vectors/tenants/globex", 7, root_of(&entries), &signer());
        globex.consistency = checkpoint.consistency.clone();
        globex
    };
    // What a gateway that signed over a rewrite would export: entry 3
    // edited, the chain recomputed, and checkpoints 5 and 7 signed over
    // the forgery while the checkpoint of 3 still has the true root.
    let resigned = {
        let mut checkpoints = checkpoints_of(&edited_rechained, &SIZES);
        checkpoints[0] = standard[0].clone();
        checkpoints
    };
    // A whole rewrite with every checkpoint signed over it, and a log cut
    // to 4 entries with a checkpoint signed over what is left: valid on
    // their own, caught only against a checkpoint saved before.
    let forked = checkpoints_of(&edited_rechained, &SIZES);
    let rolled_back = checkpoints_of(&entries[..4], &[3, 4]);
    let bad_proof = {
        let mut last = checkpoint.clone();
        let proof = last.consistency.as_mut().unwrap();
        proof[0] = hex::encode(Sha256::digest(b"not a node of the tree"));
        closing(last)
    };

    let ndjson = valid_file(Ndjson);
    let forked_file = file(Ndjson, &edited_rechained, forked);
    let rolled_back_file =
        Render { format: Ndjson, announced: 4, entries: &entries[..4], checkpoints: rolled_back }.bytes();
    let ndjson_lines = lines(&ndjson);
    let without_null = {
        let mut lines = ndjson_lines.clone();
        let line = String::from_utf8(lines[2].clone()).unwrap();
        assert!(line.contains(r#""intent_id":null,"#), "{line}");
        lines[2] = line.replacen(r#""intent_id":null,"#, "", 1).into_bytes();
        lines.concat()
    };
    let short_ts = {
        let mut lines = ndjson_lines.clone();
        let line = String::from_utf8(lines[1].clone()).unwrap();
        lines[1] = line.replacen("2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00Z", 1).into_bytes();
        lines.concat()
    };
    let empty = |format| {
        Render { format, announced: 0, entries: &[], checkpoints: vec![(0, checkpoint_of(&[]))] }.bytes()
    };
    // The checkpoint of 7 right after entry 5.
    let truncated = |format| {
        let mut checkpoints = standard.clone();
        checkpoints.last_mut().unwrap().0 = 5;
        file(format, &entries[..5], checkpoints)
    };
    let people = chained(&person_records());
    let people_file = |format, entries: &[AuditEntry]| {
        let checkpoints = checkpoints_of(&people, &PERSON_SIZES);
        Render { format, announced: 9, entries, checkpoints }.bytes()
    };
    let mut edited_person = people.clone();
    if let Some(person) = edited_person[7].person.as_mut() {
        person.name = Some("Zoe Muller".into());
    }
    let person_null_field = {
        let text = String::from_utf8(people_file(Ndjson, &people)).unwrap();
        let google = r#""provider":"google"}"#;
        assert_eq!(text.matches(google).count(), 1);
        text.replacen(google, r#""provider":"google","email":null}"#, 1).into_bytes()
    };

    let version_1 = {
        let bytes = file(Ndjson, &entries, vec![(7, checkpoint_of(&entries))]);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(r#""version":2,"#));
        text.replacen(r#""version":2,"#, r#""version":1,"#, 1).into_bytes()
    };

    vec![
        valid("valid.ndjson", "seven entries of six kinds and their checkpoint", &entries, ndjson.clone()),
        valid(
            "valid.csv",
            "valid.ndjson as CSV, in the 26 columns of files written before `person`",
            &entries,
            before_person(valid_file(Csv)),
        ),
        valid(
            "empty.ndjson",
            "an empty log: no entries, a checkpoint of size 0 (the empty root)",
            &[],
            empty(Ndjson),
        ),
        valid("empty.csv", "empty.ndjson as CSV", &[], before_person(empty(Csv))),
        valid_with(
            "version_1.ndjson",
            "a file of format version 1: one checkpoint, at the end",
            &entries,
            1,
            version_1,
        ),
        trusting(valid(
            "valid.ndjson",
            "valid.ndjson extends the trusted checkpoint (the log's at 5)",
            &entries,
            ndjson.clone(),
        )),
        invalid(
            "edited_field.ndjson",
            "entry 3's verdict changed from `block` to `approve`",
            "hash_mismatch",
            3,
            file(Ndjson, &edited, standard.clone()),
        ),
        invalid(
            "edited_field.csv",
            "edited_field.ndjson as CSV",
            "hash_mismatch",
            3,
            before_person(file(Csv, &edited, standard.clone())),
        ),
        invalid(
            "edited_rehashed.ndjson",
            "entry 4's verdict changed from `escalate` to `approve` and its hash recomputed: \
             entry 5 no longer links to it",
            "broken_link",
            5,
            file(Ndjson, &edited_rehashed, standard.clone()),
        ),
        invalid(
            "edited_rechained.ndjson",
            "entry 3 edited and every hash from it on recomputed: a consistent chain the signed roots do not cover",
            "root_mismatch",
            3,
            file(Ndjson, &edited_rechained, standard.clone()),
        ),
        invalid(
            "deleted_entry.ndjson",
            "entry 4 removed",
            "sequence_gap",
            4,
            file(Ndjson, &deleted, standard.clone()),
        ),
        invalid(
            "deleted_entry.csv",
            "deleted_entry.ndjson as CSV",
            "sequence_gap",
            4,
            before_person(file(Csv, &deleted, standard.clone())),
        ),
        invalid(
            "reordered.ndjson",
            "entries 4 and 5 swapped",
            "sequence_gap",
            4,
            file(Ndjson, &reordered, standard.clone()),
        ),
        invalid(
            "inserted_entry.ndjson",
            "a forged entry 4, linked and hashed correctly, inserted before the real entry 4",
            "sequence_gap",
            5,
            file(Ndjson, &inserted, standard.clone()),
        ),
        invalid(
            "rewritten_history.ndjson",
            "a forged entry inserted as entry 4 and every later entry renumbered, relinked and rehashed: \
             a consistent chain of 8 whose first 5 do not have the signed root of 5",
            "root_mismatch",
            5,
            file(Ndjson, &rewritten, standard.clone()),
        ),
        invalid(
            "appended_entry.ndjson",
            "a correctly chained entry 8 after the checkpoint of 7",
            "extra_entries",
            8,
            file(Ndjson, &appended, standard.clone()),
        ),
        invalid(
            "truncated.ndjson",
            "entries 6 and 7 removed, the checkpoint of 7 kept",
            "truncated",
            6,
            truncated(Ndjson),
        ),
        invalid("truncated.csv", "truncated.ndjson as CSV", "truncated", 6, before_person(truncated(Csv))),
        invalid(
            "no_checkpoint.ndjson",
            "valid.ndjson without its checkpoint lines",
            "truncated",
            8,
            file(Ndjson, &entries, Vec::new()),
        ),
        invalid(
            "no_closing_checkpoint.ndjson",
            "valid.ndjson without its last line, the checkpoint of 7: entries 6 and 7 are covered by none",
            "extra_entries",
            6,
            ndjson_lines[..ndjson_lines.len() - 1].concat(),
        ),
        invalid(
            "rewritten_resigned.ndjson",
            "entry 3 edited, the chain recomputed and the checkpoints of 5 and 7 signed over the forgery: \
             the checkpoint of 3 still has the true root",
            "root_mismatch",
            3,
            file(Ndjson, &edited_rechained, resigned),
        ),
        invalid(
            "bad_proof.ndjson",
            "the consistency proof of the checkpoint of 7 with its first hash replaced",
            "bad_proof",
            7,
            file(Ndjson, &entries, bad_proof),
        ),
        valid(
            "forked.ndjson",
            "entry 3 edited, the chain recomputed and every checkpoint signed over the forgery: \
             valid on its own, caught against a checkpoint saved before (next vector)",
            &edited_rechained,
            forked_file.clone(),
        ),
        trusting(invalid(
            "forked.ndjson",
            "forked.ndjson against the trusted checkpoint of 5: its first 5 entries have another root",
            "trusted_mismatch",
            5,
            forked_file,
        )),
        valid_with(
            "rolled_back.ndjson",
            "the log cut to 4 entries with a checkpoint of 4 signed over them: \
             valid on its own, caught against a checkpoint saved before (next vector)",
            &entries[..4],
            2,
            rolled_back_file.clone(),
        ),
        trusting(invalid(
            "rolled_back.ndjson",
            "rolled_back.ndjson against the trusted checkpoint of 5: the export is shorter",
            "truncated",
            5,
            rolled_back_file,
        )),
        invalid(
            "foreign_entry.ndjson",
            "entry 5 moved to tenant `globex` and rehashed",
            "tenant_mismatch",
            5,
            file(Ndjson, &foreign, standard.clone()),
        ),
        invalid(
            "other_key.ndjson",
            "the checkpoint signed by another key of the same name (seed bytes 0xff down to 0xe0)",
            "unknown_key",
            7,
            file(Ndjson, &entries, closing(other_key)),
        ),
        invalid(
            "edited_root.ndjson",
            "the checkpoint's root replaced by the root of the first 6 entries (note and `root_hash`)",
            "bad_signature",
            7,
            file(Ndjson, &entries, closing(edited_root.clone())),
        ),
        invalid(
            "edited_root.csv",
            "edited_root.ndjson as CSV",
            "bad_signature",
            7,
            before_person(file(Csv, &entries, closing(edited_root))),
        ),
        invalid(
            "other_tenant_checkpoint.ndjson",
            "a correctly signed checkpoint of the same root whose origin names tenant `globex`",
            "origin_mismatch",
            7,
            file(Ndjson, &entries, closing(globex)),
        ),
        invalid(
            "missing_null_field.ndjson",
            "entry 2 without its `\"intent_id\":null`: the hash of a typed reading would match, the form does not",
            "malformed",
            2,
            without_null,
        ),
        valid_with(
            "person.ndjson",
            "valid.ndjson's log with two entries written by people signed in through their identity provider \
             (`person`: every field set, needing escapes; the required ones only), checkpoints of 3, 5, 7 and 9",
            &people,
            4,
            people_file(Ndjson, &people),
        ),
        valid_with("person.csv", "person.ndjson as CSV (27 columns)", &people, 4, people_file(Csv, &people)),
        invalid(
            "edited_person.ndjson",
            "entry 8's person's `name` changed to `Zoe Muller`",
            "hash_mismatch",
            8,
            people_file(Ndjson, &edited_person),
        ),
        invalid(
            "edited_person.csv",
            "edited_person.ndjson as CSV",
            "hash_mismatch",
            8,
            people_file(Csv, &edited_person),
        ),
        invalid(
            "person_null_field.ndjson",
            "person.ndjson with `\"email\":null` in entry 9's person: the hash of a typed reading would match, \
             the form does not",
            "malformed",
            9,
            person_null_field,
        ),
        invalid(
            "short_timestamp.ndjson",
            "entry 1's `ts` as `2026-01-01T00:00:00Z`, without the six fractional digits the hash covers",
            "malformed",
            1,
            short_ts,
        ),
    ]
}

/// `key.txt` as `GET /.well-known/lictor/keys` publishes it.
fn key_document() -> String {
    let verifier = signer().verifier().clone();
    let document = PublicKeys {
        keys: vec![PublicKey {
            purpose: CHECKPOINT_KEY_PURPOSE.into(),
            algorithm: "ed25519".into(),
            name: verifier.name.clone(),
            key_id: hex::encode(verifier.id),
            public_key: STANDARD.encode(verifier.public_key()),
            vkey: verifier.to_vkey(),
            created_at: time::from_micros(T0),
        }],
    };
    format!("{}\n", serde_json::to_string_pretty(&document).unwrap())
}

/// Every file of the directory but README.md, by name.
fn generate() -> Vec<(String, Vec<u8>)> {
    let vectors = vectors();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for vector in &vectors {
        if !files.iter().any(|(name, _)| *name == vector.file) {
            files.push((vector.file.clone(), vector.bytes.clone()));
        }
    }
    let entries = chained(&records());
    files.push((TRUSTED.into(), checkpoint_of(&entries[..5]).note.into_bytes()));
    let manifest = Manifest {
        format: "lictor audit export vectors, export format version 2",
        description: "see the module documentation of server/offline/src/audit/export.rs and README.md next to this file",
        regenerate: REGENERATE,
        keys: "key.txt",
        keys_document: "keys.json",
        vectors,
    };
    let mut text = serde_json::to_string_pretty(&manifest).unwrap();
    text.push('\n');
    files.push(("manifest.json".into(), text.into_bytes()));
    files.push(("key.txt".into(), format!("{}\n", signer().verifier().to_vkey()).into_bytes()));
    files.push(("keys.json".into(), key_document().into_bytes()));
    files
}

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance/vectors/audit")
}

fn writing() -> bool {
    std::env::var("LICTOR_WRITE_VECTORS").is_ok_and(|v| v == "1")
}

/// The files on disk that are not generated (README.md aside).
fn stale_files(generated: &[(String, Vec<u8>)]) -> Vec<String> {
    let names: BTreeSet<&str> = generated.iter().map(|(name, _)| name.as_str()).collect();
    let Ok(dir) = std::fs::read_dir(vector_dir()) else { return Vec::new() };
    let mut stale: Vec<String> = dir
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "README.md" && !names.contains(name.as_str()))
        .collect();
    stale.sort();
    stale
}

#[test]
fn checked_in_vectors_match_the_implementation() {
    let generated = generate();
    let dir = vector_dir();
    if writing() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &generated {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        for name in stale_files(&generated) {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        return;
    }
    for (name, bytes) in &generated {
        let Ok(checked_in) = std::fs::read(dir.join(name)) else {
            panic!("{} is missing; write the vectors with `{REGENERATE}`", dir.join(name).display());
        };
        if checked_in != *bytes {
            let at = checked_in
                .iter()
                .zip(bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(checked_in.len().min(bytes.len()));
            panic!(
                "{} differs from the generated vector (first difference at byte {at}); \
                 if the change is intended, rewrite the vectors with `{REGENERATE}`",
                dir.join(name).display()
            );
        }
    }
    let stale = stale_files(&generated);
    assert!(stale.is_empty(), "files no vector generates: {stale:?}; `{REGENERATE}` removes them");
}

/// A vector's file: from disk, or as generated while the files are being
/// rewritten.
fn read(name: &str) -> Vec<u8> {
    if writing() {
        let generated = generate();
        return generated.into_iter().find(|(n, _)| n == name).unwrap().1;
    }
    std::fs::read(vector_dir().join(name)).unwrap()
}

#[test]
fn every_vector_meets_its_expectation() {
    let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
    let keys = parse_keys(&String::from_utf8(read("key.txt")).unwrap()).unwrap();
    let from_document = parse_keys(&String::from_utf8(read("keys.json")).unwrap()).unwrap();
    assert_eq!(keys, from_document);
    assert_eq!(keys.len(), 1);
    let vectors = manifest["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 20);
    for vector in vectors {
        let name = vector["file"].as_str().unwrap();
        let expect = &vector["expect"];
        let bytes = read(name);
        let trusted = vector["trusted"]
            .as_str()
            .map(|file| TrustedCheckpoint::open(&String::from_utf8(read(file)).unwrap(), &keys).unwrap());
        let mut last_progress = 0;
        let outcome = verify_export_trusting(bytes.as_slice(), &keys, trusted.as_ref(), |read| {
            assert!(read >= last_progress, "{name}: progress went back");
            last_progress = read;
        });
        match (outcome, expect["valid"].as_bool().unwrap()) {
            (Ok(report), true) => {
                assert_eq!(serde_json::to_value(&report).unwrap(), {
                    let mut want = expect.clone();
                    want.as_object_mut().unwrap().remove("valid");
                    want
                });
                assert_eq!(last_progress, bytes.len() as u64, "{name}: progress ends at the file's size");
            }
            (Err(failure), false) => {
                assert_eq!(failure.reason.code(), expect["reason"], "{name}: {failure}");
                assert_eq!(failure.seq, expect["seq"].as_u64(), "{name}: {failure}");
            }
            (Ok(_), false) => panic!("{name}: verified, expected `{}`", expect["reason"]),
            (Err(failure), true) => panic!("{name}: failed: {failure}"),
        }
    }
}

#[test]
fn every_failure_reason_but_io_has_a_vector_in_ndjson() {
    let vectors = vectors();
    for reason in ExportFailureReason::ALL {
        if reason == ExportFailureReason::IoError {
            continue;
        }
        let covered = vectors.iter().any(|v| {
            v.file.ends_with(".ndjson")
                && matches!(v.expect, Expect::Invalid { reason: r, .. } if r == reason.code())
        });
        assert!(covered, "no vector for `{reason}`");
    }
}

#[test]
fn csv_and_ndjson_vectors_agree() {
    let keys = [signer().verifier().clone()];
    for vector in vectors().iter().filter(|v| v.file.ends_with(".csv")) {
        let twin = vector.file.replace(".csv", ".ndjson");
        let twin = vectors().into_iter().find(|v| v.file == twin).unwrap();
        let csv = verify_export(vector.bytes.as_slice(), &keys, |_| {});
        let ndjson = verify_export(twin.bytes.as_slice(), &keys, |_| {});
        match (csv, ndjson) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", vector.file),
            (Err(a), Err(b)) => assert_eq!((a.reason, a.seq), (b.reason, b.seq), "{}", vector.file),
            (a, b) => panic!("{}: {a:?} but {b:?}", vector.file),
        }
    }
}
