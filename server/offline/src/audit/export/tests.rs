//! Writer → verifier round trips, tampering, and the writer's own checks.

use lictor_api::api_keys::Environment;
use lictor_api::audit::{AuditEntry, AuditKind};
use lictor_api::ids::{AgentId, AuditEntryId, IntentId, TenantId};
use lictor_api::intents::{Reason, StageName, Verdict};
use lictor_api::operators::{Person, ProviderName};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use crate::audit::checkpoint::{Checkpoint, NoteSigner};
use crate::audit::merkle::{Frontier, empty_root};
use crate::audit::{AuditRecord, GENESIS_HASH};

const ORIGIN: &str = "lictor/tenants/acme";

fn signer() -> NoteSigner {
    NoteSigner::new("lictor", &[7; 32]).unwrap()
}

fn keys() -> Vec<NoteVerifier> {
    vec![signer().verifier().clone()]
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

/// `records` numbered from 1, linked and hashed.
fn chain(records: Vec<AuditRecord>) -> Vec<AuditEntry> {
    let mut prev = GENESIS_HASH.to_string();
    records
        .into_iter()
        .enumerate()
        .map(|(i, mut record)| {
            record.seq = i as u64 + 1;
            record.prev_hash = prev.clone();
            prev = record.hash();
            record.to_entry(prev.clone())
        })
        .collect()
}

fn checkpoint(entries: &[AuditEntry]) -> ExportCheckpoint {
    let mut frontier = Frontier::new();
    for entry in entries {
        frontier.push(&hex::decode(&entry.hash).unwrap());
    }
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        tree_size: entries.len() as u64,
        root_hash: frontier.root(),
        time: Some("2026-01-01T00:00:00Z".into()),
    };
    ExportCheckpoint::new(&checkpoint, signer().sign(&checkpoint.to_text()).unwrap())
}

fn header(entries: u64) -> ExportHeader {
    ExportHeader {
        tenant: tenant(),
        origin: ORIGIN.into(),
        key_name: "lictor".into(),
        exported_at: time::from_micros(1_767_225_600_000_000),
        entries,
    }
}

/// The export of `entries` as the gateway writes it.
fn export(format: ExportFormat, entries: &[AuditEntry]) -> Vec<u8> {
    let mut writer = ExportWriter::new(format);
    let mut bytes = writer.header(&header(entries.len() as u64)).unwrap();
    for entry in entries {
        bytes.extend(writer.entry(entry).unwrap());
    }
    bytes.extend(writer.checkpoint(&checkpoint(entries), &tenant()).unwrap());
    bytes
}

fn verify(bytes: &[u8]) -> Result<ExportReport, ExportFailure> {
    verify_export(bytes, &keys(), |_| {})
}

fn simple_log(n: u64) -> Vec<AuditEntry> {
    chain(
        (0..n)
            .map(|i| {
                let mut record = AuditRecord::new(
                    AuditEntryId::parse(format!("aud_{i:032x}")).unwrap(),
                    AuditKind::Decision,
                    tenant(),
                    0,
                    1_767_225_600_000_000 + i as i64,
                    String::new(),
                );
                record.verdict = Some(Verdict::Block);
                record.reasons =
                    vec![Reason { stage: StageName::Policy, code: "x".into(), message: "a, \"b\"".into() }];
                record
            })
            .collect(),
    )
}

// Printable text without control characters: those have several JSON
// spellings (`\u001f`, `\u001F`), which a one-byte change could swap.
const TEXT: &str = "[ -~é—\u{2028}]{1,12}";

fn optional_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(TEXT)
}

fn person_strategy() -> impl Strategy<Value = Person> {
    (TEXT, TEXT, "[a-z0-9][a-z0-9-]{0,10}", optional_text(), optional_text(), optional_text()).prop_map(
        |(issuer, subject, provider, username, email, name)| Person {
            issuer,
            subject,
            provider: ProviderName::parse(provider).unwrap(),
            username,
            email,
            name,
        },
    )
}

fn record_strategy() -> impl Strategy<Value = AuditRecord> {
    let ids = (
        select(AuditKind::ALL.to_vec()),
        "[a-z0-9]{1,20}",
        0i64..4_000_000_000_000_000,
        proptest::option::of("[A-Za-z0-9_]{1,20}"),
        proptest::option::of("[A-Za-z0-9][A-Za-z0-9._:@-]{0,20}"),
    );
    let decision = (
        proptest::option::of(select(vec![Environment::Live, Environment::Shadow, Environment::Test])),
        proptest::option::of(any::<bool>()),
        proptest::option::of(select(vec![
            Verdict::Approve,
            Verdict::ApproveModified,
            Verdict::Escalate,
            Verdict::Block,
        ])),
        proptest::option::of(select(StageName::ALL.to_vec())),
        vec((select(StageName::ALL.to_vec()), "[a-z_]{1,10}", "[ -~é—\u{2028}\n]{0,20}"), 0..3),
    );
    let strings = (
        proptest::option::of("[0-9a-f]{64}"),
        optional_text(),
        optional_text(),
        optional_text(),
        optional_text(),
        optional_text(),
        optional_text(),
        optional_text(),
    );
    let person = proptest::option::of(person_strategy());
    (ids, decision, strings, person).prop_map(|(ids, decision, strings, person)| {
        let (kind, id, ts, intent_id, agent_id) = ids;
        let (environment, enforced, verdict, stage, reasons) = decision;
        let (bundle_hash, input_digest, payload_digest, principal, jti, tool, approval_id, outcome) = strings;
        AuditRecord {
            version: 1,
            entry_id: AuditEntryId::parse(format!("aud_{id}")).unwrap(),
            tenant: tenant(),
            seq: 0,
            ts,
            kind,
            intent_id: intent_id.map(|v| IntentId::parse(v).unwrap()),
            agent_id: agent_id.map(|v| AgentId::parse(v).unwrap()),
            environment,
            enforced,
            verdict,
            stage,
            reasons: reasons
                .into_iter()
                .map(|(stage, code, message)| Reason { stage, code, message })
                .collect(),
            bundle_hash,
            input_digest,
            payload_digest,
            principal,
            person,
            jti,
            tool,
            approval_id,
            outcome,
            prev_hash: String::new(),
        }
    })
}

fn log_strategy(sizes: std::ops::Range<usize>) -> impl Strategy<Value = Vec<AuditEntry>> {
    vec(record_strategy(), sizes).prop_map(chain)
}

/// Where each entry line or row of an export starts and ends: lines 2..=N+1
/// of NDJSON, rows 2..=N+1 of CSV (a quoted cell may hold line ends).
fn entry_spans(bytes: &[u8], entries: usize) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, &b) in bytes.iter().enumerate() {
        quoted ^= b == b'"' && bytes[0] != b'{';
        if b == b'\n' && !quoted {
            spans.push((start, i + 1));
            start = i + 1;
        }
    }
    spans[1..=entries].to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn exports_of_random_logs_verify_in_both_formats_with_one_root(entries in log_strategy(0..24)) {
        let ndjson = verify(&export(ExportFormat::Ndjson, &entries));
        let csv = verify(&export(ExportFormat::Csv, &entries));
        let ndjson = ndjson.map_err(|f| TestCaseError::fail(format!("ndjson: {f:?}")))?;
        let csv = csv.map_err(|f| TestCaseError::fail(format!("csv: {f:?}")))?;
        prop_assert_eq!(&ndjson, &csv);
        prop_assert_eq!(ndjson.entries, entries.len() as u64);
        prop_assert_eq!(ndjson.root_hash, checkpoint(&entries).root_hash);
        prop_assert_eq!(ndjson.tenant, tenant());
        prop_assert_eq!(ndjson.origin, ORIGIN);
        prop_assert_eq!(ndjson.key_name, "lictor");
    }

    #[test]
    fn ndjson_entries_are_exactly_the_hashed_document(entries in log_strategy(1..6)) {
        let bytes = export(ExportFormat::Ndjson, &entries);
        for (line, entry) in bytes.split(|b| *b == b'\n').skip(1).zip(&entries) {
            let line: Value = serde_json::from_slice(line).unwrap();
            let record = AuditRecord::from_entry(entry);
            let mut document = record.canonical_document();
            document.as_object_mut().unwrap().insert("hash".into(), Value::String(record.hash()));
            prop_assert_eq!(&line["entry"], &document);
            // The API's own serialisation, `ts` included.
            prop_assert_eq!(&serde_json::to_value(entry).unwrap(), &line["entry"]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn changing_any_byte_of_an_entry_breaks_verification(
        entries in log_strategy(1..5),
        csv in any::<bool>(),
        pick in any::<(prop::sample::Index, prop::sample::Index)>(),
        replacement in any::<u8>(),
    ) {
        let format = if csv { ExportFormat::Csv } else { ExportFormat::Ndjson };
        let bytes = export(format, &entries);
        let spans = entry_spans(&bytes, entries.len());
        let (start, end) = spans[pick.0.index(spans.len())];
        let at = start + pick.1.index(end - start);
        // A CSV row may end in CR LF or LF alike: line ends are not content.
        prop_assume!(replacement != bytes[at] && !(csv && matches!(bytes[at], b'\r' | b'\n')));
        let mut tampered = bytes.clone();
        tampered[at] = replacement;
        let outcome = verify(&tampered);
        prop_assert!(
            outcome.is_err(),
            "byte {} {:?} → {:?} still verifies in\n{}",
            at, bytes[at] as char, replacement as char, String::from_utf8_lossy(&tampered)
        );
    }
}

#[test]
fn an_empty_log_exports_a_checkpoint_of_the_empty_root() {
    for format in ExportFormat::ALL {
        let report = verify(&export(format, &[])).unwrap();
        assert_eq!(report.entries, 0);
        assert_eq!(report.root_hash, hex::encode(empty_root()));
        assert_eq!(report.tenant, tenant());
    }
    let text = String::from_utf8(export(ExportFormat::Csv, &[])).unwrap();
    assert!(text.starts_with("record,version,entry_id,"), "{text}");
    assert!(text.contains("\r\ncheckpoint,,,acme,0,,"), "{text}");
}

#[test]
fn the_files_look_as_documented() {
    let entries = simple_log(2);
    let ndjson = String::from_utf8(export(ExportFormat::Ndjson, &entries)).unwrap();
    let lines: Vec<&str> = ndjson.split_terminator('\n').collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        r#"{"type":"header","format":"lictor-audit-export","version":2,"tenant":"acme","origin":"lictor/tenants/acme","key_name":"lictor","exported_at":"2026-01-01T00:00:00.000000Z","entries":2}"#
    );
    assert!(lines[1].starts_with(r#"{"type":"entry","entry":{"version":1,"entry_id":"aud_"#), "{}", lines[1]);
    assert!(lines[1].contains(r#""ts":"2026-01-01T00:00:00.000000Z","kind":"decision","intent_id":null,"#));
    assert!(!lines[1].contains("\"jti\""), "unset extension fields are left out");
    assert!(lines[3].starts_with(r#"{"type":"checkpoint","checkpoint":{"tree_size":2,"root_hash":""#));
    assert!(lines[3].contains(r#""note":"lictor/tenants/acme\n2\n"#));

    let csv = String::from_utf8(export(ExportFormat::Csv, &entries)).unwrap();
    let rows: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(rows[0], CSV_COLUMNS.join(","));
    let first = &entries[0];
    let reasons = serde_json::to_string(&first.reasons).unwrap();
    assert_eq!(reasons, r#"[{"stage":"policy","code":"x","message":"a, \"b\""}]"#);
    let quoted = format!("\"{}\"", reasons.replace('"', "\"\""));
    assert_eq!(
        rows[1],
        format!(
            "entry,1,{},acme,1,2026-01-01T00:00:00.000000Z,decision,,,,,block,,{quoted},,,,,,,,,{GENESIS_HASH},{},,,",
            first.entry_id, first.hash
        )
    );
    let root = checkpoint(&entries).root_hash;
    let prefix = format!("checkpoint,,,acme,2,{}{root},\"lictor/tenants/acme\n2\n", ",".repeat(18));
    assert!(rows[3].starts_with(&prefix), "{}", rows[3]);
    assert!(csv.ends_with("\",,\r\n"), "empty consistency and person cells close the first checkpoint");
}

fn failure_of(bytes: &[u8]) -> (ExportFailureReason, Option<u64>) {
    let failure = verify(bytes).unwrap_err();
    (failure.reason, failure.seq)
}

#[test]
fn structural_defects_are_malformed_or_truncated() {
    use ExportFailureReason::*;
    let entries = simple_log(3);
    let good = String::from_utf8(export(ExportFormat::Ndjson, &entries)).unwrap();
    let lines: Vec<&str> = good.split_inclusive('\n').collect();
    assert_eq!(failure_of(b""), (Malformed, None));
    assert_eq!(failure_of(good.trim_end().as_bytes()), (Malformed, Some(4)));
    assert_eq!(failure_of(lines[1..].concat().as_bytes()), (Malformed, None));
    assert_eq!(failure_of(lines[..4].concat().as_bytes()), (Truncated, Some(4)));
    assert_eq!(failure_of(lines[..1].concat().as_bytes()), (Truncated, Some(1)));
    let twice = [lines.concat(), lines[4].to_string()].concat();
    assert_eq!(failure_of(twice.as_bytes()), (Malformed, Some(3)));
    let blank = [lines[..2].concat(), "\n".into(), lines[2..].concat()].concat();
    assert_eq!(failure_of(blank.as_bytes()), (Malformed, Some(2)));
    let unknown = good.replacen(r#"{"type":"entry","#, r#"{"type":"entry","extra":1,"#, 1);
    assert_eq!(failure_of(unknown.as_bytes()), (Malformed, Some(1)));
    let extra_field = good.replacen(r#""version":1,"entry_id""#, r#""version":1,"x":0,"entry_id""#, 1);
    assert_eq!(failure_of(extra_field.as_bytes()), (Malformed, Some(1)));
    let null_extension = good.replacen(r#""prev_hash""#, r#""jti":null,"prev_hash""#, 1);
    let failure = verify(null_extension.as_bytes()).unwrap_err();
    assert_eq!(failure.message, "`jti` is null: an unset extension field is left out");
    let v3 = good.replacen(r#""version":2,"tenant""#, r#""version":3,"tenant""#, 1);
    assert_eq!(verify(v3.as_bytes()).unwrap_err().message, "unsupported export version 3");
    let not_utf8 =
        [lines[..2].concat().into_bytes(), vec![0xff, b'\n'], lines[2..].concat().into_bytes()].concat();
    assert_eq!(failure_of(&not_utf8), (Malformed, Some(2)));
    let header_mismatch = good.replacen(r#""entries":3"#, r#""entries":4"#, 1);
    assert_eq!(failure_of(header_mismatch.as_bytes()), (Malformed, Some(3)));

    let csv = String::from_utf8(export(ExportFormat::Csv, &entries)).unwrap();
    assert_eq!(failure_of(csv.replacen("record,", "kind,", 1).as_bytes()), (Malformed, None));
    let rows: Vec<&str> = csv.split_inclusive("\r\n").collect();
    assert_eq!(failure_of(rows[..4].concat().as_bytes()), (Truncated, Some(4)));
    let short_row = [rows[..2].concat(), "entry,1\r\n".into(), rows[2..].concat()].concat();
    assert_eq!(failure_of(short_row.as_bytes()), (Malformed, Some(2)));
    let lf_only = csv.replace("\r\n", "\n");
    assert!(verify(lf_only.as_bytes()).is_ok(), "RFC 4180 readers accept bare LF too");
    let padded = csv.replacen("\r\nentry,1,", "\r\nentry,01,", 1);
    assert_eq!(failure_of(padded.as_bytes()), (Malformed, Some(1)));
}

#[test]
fn the_checkpoint_is_checked_against_the_keys_and_the_tenant() {
    use ExportFailureReason::*;
    let entries = simple_log(3);
    let bytes = export(ExportFormat::Ndjson, &entries);
    let other = NoteSigner::new("lictor", &[8; 32]).unwrap().verifier().clone();
    let failure = verify_export(bytes.as_slice(), std::slice::from_ref(&other), |_| {}).unwrap_err();
    assert_eq!((failure.reason, failure.seq), (UnknownKey, Some(3)));
    assert!(failure.message.contains(&format!("`lictor` (key id {})", hex::encode(signer().verifier().id))));
    assert_eq!(verify_export(bytes.as_slice(), &[], |_| {}).unwrap_err().reason, UnknownKey);
    // Any of several keys will do.
    let report = verify_export(bytes.as_slice(), &[other, signer().verifier().clone()], |_| {}).unwrap();
    assert_eq!(report.entries, 3);

    // A checkpoint co-signed by a witness verifies with either key.
    let witness = NoteSigner::new("witness", &[9; 32]).unwrap();
    let note = checkpoint(&entries).note;
    let (body, _) = note.split_once("\n\n").unwrap();
    let witnessed = witness.sign(&format!("{body}\n")).unwrap();
    let cosigned_note = format!("{note}{}", witnessed.rsplit_once("\n\n").unwrap().1);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let cosigned =
        text.replace(&serde_json::to_string(&note).unwrap(), &serde_json::to_string(&cosigned_note).unwrap());
    assert_ne!(cosigned, text);
    let report = verify_export(cosigned.as_bytes(), &[witness.verifier().clone()], |_| {}).unwrap();
    assert_eq!(report.key_name, "witness");
    assert!(verify_export(cosigned.as_bytes(), &keys(), |_| {}).is_ok());

    // CSV: the checkpoint row's tenant must be the entries'.
    let csv = String::from_utf8(export(ExportFormat::Csv, &entries)).unwrap();
    let other_tenant = csv.replacen("checkpoint,,,acme,", "checkpoint,,,globex,", 1);
    assert_eq!(failure_of(other_tenant.as_bytes()), (TenantMismatch, Some(3)));
    let stated_root = csv.replacen(
        &format!(",{},\"", checkpoint(&entries).root_hash),
        &format!(",{},\"", "0".repeat(64)),
        1,
    );
    assert_eq!(failure_of(stated_root.as_bytes()), (Malformed, Some(3)));
}

#[test]
fn progress_reports_every_byte() {
    for format in ExportFormat::ALL {
        let bytes = export(format, &simple_log(50));
        let mut seen = Vec::new();
        verify_export(bytes.as_slice(), &keys(), |n| seen.push(n)).unwrap();
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{format}");
        assert_eq!(seen.last().copied(), Some(bytes.len() as u64), "{format}");
    }
}

#[test]
fn the_writer_refuses_files_that_would_not_verify() {
    let entries = simple_log(3);
    let mut writer = ExportWriter::new(ExportFormat::Ndjson);
    assert!(matches!(writer.entry(&entries[0]), Err(ExportWriteError::OutOfOrder(_))));
    writer.header(&header(3)).unwrap();
    assert!(matches!(writer.header(&header(3)), Err(ExportWriteError::OutOfOrder(_))));
    assert!(matches!(writer.entry(&entries[1]), Err(ExportWriteError::OutOfOrder(_))));
    writer.entry(&entries[0]).unwrap();
    writer.entry(&entries[1]).unwrap();
    let refused = |result| matches!(result, Err(ExportWriteError::OutOfOrder(_)));
    assert!(refused(writer.checkpoint(&checkpoint(&entries[..1]), &tenant())), "not after its entry");
    let two = checkpoint(&entries[..2]);
    writer.checkpoint(&two, &tenant()).unwrap();
    assert!(refused(writer.checkpoint(&two, &tenant())), "sizes grow");
    writer.entry(&entries[2]).unwrap();
    let mut tree = crate::audit::merkle::MemoryTree::new();
    entries.iter().for_each(|e| tree.push(&hex::decode(&e.hash).unwrap()));
    let proof = crate::audit::merkle::consistency_proof(2, 3, |n| tree.node(n)).unwrap();
    let closing = checkpoint(&entries).extending(&proof);
    let other = TenantId::parse("globex").unwrap();
    assert!(refused(writer.checkpoint(&closing, &other)));
    assert!(refused(writer.checkpoint(&checkpoint(&entries), &tenant())), "a proof from the one before");
    writer.checkpoint(&closing, &tenant()).unwrap();
    assert!(refused(writer.checkpoint(&closing, &tenant())), "nothing after the closing one");

    let mut empty_field = entries[0].clone();
    empty_field.tool = Some(String::new());
    let mut writer = ExportWriter::new(ExportFormat::Csv);
    writer.header(&header(1)).unwrap();
    assert_eq!(writer.entry(&empty_field), Err(ExportWriteError::EmptyField { seq: 1, field: "tool" }));
}

#[test]
fn formats_parse_and_name_their_media_types() {
    assert_eq!("csv".parse::<ExportFormat>(), Ok(ExportFormat::Csv));
    assert_eq!(ExportFormat::parse("ndjson"), Some(ExportFormat::Ndjson));
    assert_eq!(
        "json".parse::<ExportFormat>().unwrap_err().to_string(),
        "unknown export format `json` (expected `csv` or `ndjson`)"
    );
    assert_eq!(ExportFormat::Csv.content_type(), "text/csv");
    assert_eq!(ExportFormat::Ndjson.content_type(), "application/x-ndjson");
    assert_eq!(ExportFormat::Ndjson.file_extension(), "ndjson");
    assert_eq!(serde_json::to_string(&ExportFormat::Csv).unwrap(), "\"csv\"");
}

#[test]
fn keys_come_as_vkey_lines_or_the_published_document() {
    let a = signer().verifier().clone();
    let b = NoteSigner::new("lictor", &[8; 32]).unwrap().verifier().clone();
    let lines = format!("# checkpoint keys\n{}\n\n  {}  \n", a.to_vkey(), b.to_vkey());
    assert_eq!(parse_keys(&lines), Ok(vec![a.clone(), b.clone()]));
    assert_eq!(parse_keys(&a.to_vkey()), Ok(vec![a.clone()]));
    let document = serde_json::json!({"keys": [
        {"purpose": "audit-checkpoint", "algorithm": "ed25519", "name": "lictor",
         "key_id": hex::encode(a.id), "public_key": "…", "vkey": a.to_vkey(), "created_at": "2026-01-01T00:00:00Z"},
        {"purpose": "something-else", "vkey": "not a key"},
    ]});
    assert_eq!(parse_keys(&document.to_string()), Ok(vec![a.clone()]));
    let wrong_id = document.to_string().replace(&hex::encode(a.id), "00000000");
    assert!(matches!(parse_keys(&wrong_id), Err(KeysError::Key { .. })));
    assert_eq!(parse_keys("\n# nothing\n"), Err(KeysError::NoKeys));
    assert_eq!(parse_keys(r#"{"keys":[]}"#), Err(KeysError::NoKeys));
    assert!(matches!(parse_keys("{"), Err(KeysError::Document(_))));
    let bad = parse_keys(&format!("{}\nnot-a-key\n", a.to_vkey())).unwrap_err();
    assert!(bad.to_string().starts_with("line 2: malformed verifier key"), "{bad}");
}

#[test]
fn a_large_export_streams() {
    // 20 000 entries through a reader that never holds the whole file.
    let entries = simple_log(20_000);
    let bytes = export(ExportFormat::Ndjson, &entries);
    let reader = std::io::BufReader::with_capacity(4096, bytes.as_slice());
    let report = verify_export(reader, &keys(), |_| {}).unwrap();
    assert_eq!(report.entries, 20_000);
}

/// `csv` without its last column, whose cells must all be empty.
fn without_last_column(csv: &str) -> String {
    let (header, rows) = csv.split_once("\r\n").unwrap();
    let (header, _) = header.rsplit_once(',').unwrap();
    let rows: Vec<&str> = rows.split_terminator("\r\n").collect();
    let rows = rows.iter().map(|row| row.strip_suffix(',').unwrap());
    std::iter::once(header).chain(rows).map(|row| format!("{row}\r\n")).collect()
}

#[test]
fn files_of_version_1_still_verify() {
    let entries = simple_log(3);
    let csv = String::from_utf8(export(ExportFormat::Csv, &entries)).unwrap();
    // Version 1 had no `consistency` column (nor `person`).
    let v1 = without_last_column(&without_last_column(&csv));
    assert!(v1.starts_with("record,") && v1.lines().next().unwrap().ends_with(",hash,checkpoint"), "{v1}");
    assert_eq!(verify(v1.as_bytes()).unwrap(), verify(csv.as_bytes()).unwrap());
    let ndjson = String::from_utf8(export(ExportFormat::Ndjson, &entries)).unwrap();
    let v1 = ndjson.replacen(r#""version":2,"#, r#""version":1,"#, 1);
    assert_eq!(verify(v1.as_bytes()).unwrap().entries, 3);
}

/// A log of `n` entries, every other one written by a person.
fn log_with_people(n: u64) -> Vec<AuditEntry> {
    let mut records: Vec<AuditRecord> = simple_log(n).iter().map(AuditRecord::from_entry).collect();
    for (i, record) in records.iter_mut().enumerate().filter(|(i, _)| i % 2 == 0) {
        record.principal = Some(format!("session:ses_{i}"));
        record.person = Some(Person {
            issuer: "https://login.example.com".into(),
            subject: format!("00u{i}"),
            provider: ProviderName::parse("okta").unwrap(),
            username: None,
            email: Some("zoe@example.com".into()),
            name: Some("Zoë \"Zed\" Müller,\tOps".into()),
        });
    }
    chain(records)
}

#[test]
fn people_go_out_as_objects_and_in_csv_as_their_canonical_json() {
    let entries = log_with_people(3);
    let ndjson = String::from_utf8(export(ExportFormat::Ndjson, &entries)).unwrap();
    let line = ndjson.lines().nth(1).unwrap();
    assert!(
        line.contains(concat!(
            r#""principal":"session:ses_0","person":{"issuer":"https://login.example.com","subject":"00u0","#,
            r#""provider":"okta","email":"zoe@example.com","name":"Zoë \"Zed\" Müller,\tOps"},"prev_hash""#
        )),
        "{line}"
    );
    assert!(!ndjson.lines().nth(2).unwrap().contains("person"), "absent when unset");

    let csv = String::from_utf8(export(ExportFormat::Csv, &entries)).unwrap();
    assert!(csv.starts_with("record,"));
    assert!(csv.split("\r\n").next().unwrap().ends_with(",hash,checkpoint,consistency,person"));
    let person = r#"{"email":"zoe@example.com","issuer":"https://login.example.com","name":"Zoë \"Zed\" Müller,\tOps","provider":"okta","subject":"00u0"}"#;
    let cell = format!(",,,\"{}\"\r\n", person.replace('"', "\"\""));
    assert!(csv.contains(&format!("{}{cell}", entries[0].hash)), "{csv}");
    assert!(csv.contains(&format!("{},,,\r\n", entries[1].hash)), "empty when unset: {csv}");
    for format in ExportFormat::ALL {
        assert_eq!(verify(&export(format, &entries)).unwrap().entries, 3, "{format}");
    }
}

#[test]
fn files_written_before_the_person_column_still_verify() {
    let entries = simple_log(3);
    let csv = String::from_utf8(export(ExportFormat::Csv, &entries)).unwrap();
    let before = without_last_column(&csv);
    assert!(before.lines().next().unwrap().ends_with(",checkpoint,consistency"), "{before}");
    assert_eq!(verify(before.as_bytes()).unwrap(), verify(csv.as_bytes()).unwrap());
    // A row of today's width in a file of the earlier layout is refused.
    let rows: Vec<&str> = before.split_inclusive("\r\n").collect();
    let wide = [rows[0], &rows[1].replacen("\r\n", ",\r\n", 1), &rows[2..].concat()].concat();
    assert_eq!(failure_of(wide.as_bytes()), (ExportFailureReason::Malformed, Some(1)));
}

#[test]
fn a_person_is_exactly_the_object_its_hash_covers() {
    use ExportFailureReason::*;
    let entries = log_with_people(1);
    let ndjson = String::from_utf8(export(ExportFormat::Ndjson, &entries)).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(ndjson.contains(from), "{from}");
        ndjson.replacen(from, to, 1)
    };
    let message = |text: String| verify(text.as_bytes()).unwrap_err().message;
    // A null field the typed reading would drop, an unknown one, a null person.
    let null_field = edit(r#""subject":"00u0","#, r#""subject":"00u0","username":null,"#);
    assert_eq!(failure_of(null_field.as_bytes()), (Malformed, Some(1)));
    let unknown = edit(r#""subject":"00u0","#, r#""subject":"00u0","groups":["ops"],"#);
    assert_eq!(failure_of(unknown.as_bytes()), (Malformed, Some(1)));
    let plain = String::from_utf8(export(ExportFormat::Ndjson, &simple_log(1))).unwrap();
    let null_person = plain.replacen(r#""prev_hash""#, r#""person":null,"prev_hash""#, 1);
    assert_eq!(message(null_person), "`person` is null: an unset extension field is left out");
    let text_person = plain.replacen(r#""prev_hash""#, r#""person":"superadmin","prev_hash""#, 1);
    assert_eq!(failure_of(text_person.as_bytes()), (Malformed, Some(1)));
    let no_provider = edit(r#""provider":"okta","#, "");
    assert!(message(no_provider).contains("provider"));
    let edited = edit("Zoë", "Zoe");
    assert_eq!(failure_of(edited.as_bytes()), (HashMismatch, Some(1)));

    let csv = String::from_utf8(export(ExportFormat::Csv, &entries)).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(csv.contains(from), "{from}");
        csv.replacen(from, to, 1)
    };
    // Any JSON text of the same object will do: the hash covers the object.
    let reordered = edit(r#"{""email"":""zoe@example.com"","#, r#"{ ""email"" : ""zoe@example.com"" ,"#);
    assert!(verify(reordered.as_bytes()).is_ok());
    let null_field = edit(r#"""subject"":""00u0""}"#, r#"""subject"":""00u0"",""username"":null}"#);
    assert_eq!(message(null_field), "`person`: `username` is null: an unset field is left out");
    let unknown = edit(r#"""subject"":""00u0""}"#, r#"""subject"":""00u0"",""groups"":[]}"#);
    assert_eq!(message(unknown), "`person`: unknown field `groups`");
    let not_json = edit(r#"{""email"""#, r#"{email"#);
    assert!(message(not_json).starts_with("`person`: not JSON"));
    let not_a_person = edit(r#""{""email"#, r#""[{""email"#).replacen(r#"00u0""}""#, r#"00u0""}]""#, 1);
    assert!(message(not_a_person).starts_with("`person`: not a person"));
    let bad_provider = edit(r#"""okta"""#, r#"""Okta"""#);
    assert!(message(bad_provider).starts_with("`person`: not a person"));
    let edited = edit("Zoë", "Zoe");
    assert_eq!(failure_of(edited.as_bytes()), (HashMismatch, Some(1)));
    // A checkpoint row has no person.
    let on_checkpoint = csv.replacen("\",,\r\n", "\",,{}\r\n", 1);
    assert_ne!(on_checkpoint, csv);
    assert_eq!(message(on_checkpoint), "`person` must be empty in this row");
}
