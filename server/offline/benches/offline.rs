//! Micro-benchmarks of the byte formats `lictor-offline` owns — the
//! per-request and per-entry work under the gateway's pipeline and under
//! `lictor audit verify-export`.
//!
//! | group / bench                         | what one iteration is                                  | target it feeds |
//! |---------------------------------------|--------------------------------------------------------|-----------------|
//! | `offline_token/verify_caveats_{N}`    | `CapabilityToken::parse` + `verify` (HMAC chain) of a token with N = 0, 4, 16, 32 caveats, as `authenticate` does | pipeline ≤ 25 µs per decision |
//! | `offline_audit/entry_document`        | `AuditRecord::canonical_document` alone (the `serde_json::Value` the hash covers) | audit verify ≥ 1 M entries/s |
//! | `offline_audit/entry_canonical_json`  | an entry's canonical document + its RFC 8785 text      | audit verify ≥ 1 M entries/s |
//! | `offline_audit/entry_hash`            | `AuditRecord::hash`: document, RFC 8785, SHA-256, hex (what the writer and every verifier compute per entry) | audit verify ≥ 1 M entries/s |
//! | `offline_merkle/frontier_push`        | `Frontier::push` of one leaf onto a growing tree (the writer's and the verifiers' in-memory tree) | audit verify ≥ 1 M entries/s |
//! | `offline_merkle/verify_inclusion_100k`| `merkle::verify_inclusion` of a leaf in a 100,000-leaf tree (17 hashes) | — |
//! | `offline_export/write_ndjson_100k`    | `ExportWriter`: header, 100,000 entry lines, checkpoint (throughput in entries) | export ≥ 200 k entries/s |
//! | `offline_export/verify_ndjson_100k`   | `verify_export` of that file, in memory, one pass (throughput in entries) | audit verify ≥ 1 M entries/s |
//!
//! Figures are printed, never asserted. Criterion writes each estimate to
//! `target/criterion/<group>/<bench>/new/estimates.json`.
//!
//! `cargo bench -p lictor-offline --bench offline` (add `-- --test` to run
//! each once, as a smoke test; the export is then 2,000 entries).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use lictor_api::api_keys::Environment;
use lictor_api::audit::{AuditEntry, AuditKind};
use lictor_api::ids::{AgentId, AuditEntryId, IntentId, TenantId};
use lictor_api::intents::{ActionType, Reason, StageName, Verdict};
use lictor_offline::audit::checkpoint::{Checkpoint, NoteSigner};
use lictor_offline::audit::export::{
    ExportCheckpoint, ExportFormat, ExportHeader, ExportWriter, verify_export,
};
use lictor_offline::audit::merkle::{self, Frontier, MemoryTree};
use lictor_offline::audit::{AuditRecord, GENESIS_HASH, canonical_string};
use lictor_offline::token::{CapabilityToken, Caveat, Jti, TokenHeader, derive_root_key, mint};
use sha2::{Digest, Sha256};

/// 2026-01-01T00:00:00Z, in µs.
const T0: i64 = 1_767_225_600_000_000;
/// Entries in the benchmarked export.
const EXPORT_ENTRIES: u64 = 100_000;
const SMOKE_EXPORT_ENTRIES: u64 = 2_000;
/// Leaves of the tree inclusion proofs are verified in.
const TREE_LEAVES: u64 = 100_000;
const ORIGIN: &str = "lictor/tenants/acme";
const KEY_NAME: &str = "lictor";

/// `cargo bench -- --test`, or `cargo test --bench …` (which runs the
/// binary without `--bench`): criterion runs each benchmark once, so the
/// data is small too.
fn smoke() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--test") || !args.iter().any(|arg| arg == "--bench")
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

// ---------------------------------------------------------------- tokens

/// The caveats a gateway-minted, then attenuated, token typically carries,
/// cycled to reach `n`.
fn caveats(n: usize, iat: i64) -> Vec<Caveat> {
    let kinds = [
        Caveat::Expires { at: iat + 3600 },
        Caveat::Tools {
            allow: vec!["mail.*".into(), "github.create_issue".into(), "github.list_*".into()],
            deny: vec!["mail.delete*".into()],
        },
        Caveat::Servers { allow: vec!["mail".into(), "github".into()] },
        Caveat::ActionTypes { allow: vec![ActionType::Communicate, ActionType::Access] },
        Caveat::MaxCalls { n: 1000 },
        Caveat::MaxUsd { cents: 50_000 },
        Caveat::RatePerMin { n: 60 },
        Caveat::StepUp { at: iat },
        Caveat::Audience { aud: "lictor".into() },
    ];
    kinds.iter().cycle().take(n).cloned().collect()
}

fn bench_tokens(c: &mut Criterion) {
    let root_key = derive_root_key(b"bench: the gateway's token signing secret, 32+ bytes");
    let iat = T0 / 1_000_000;
    let header = TokenHeader::root(
        "tgk-bench",
        Jti::parse("tok_0190f3a2b4c5d6e7f8091a2b3c4d5e6f").unwrap(),
        tenant(),
        AgentId::parse("billing-bot").unwrap(),
        iat,
    );
    let mut group = c.benchmark_group("offline_token");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    for n in [0usize, 4, 16, 32] {
        let token = mint(&root_key, &header, &caveats(n, iat)).unwrap();
        // What `authenticate` does with a bearer token: parse, then check
        // the HMAC chain under the kid's root key.
        let check = |text: &str| {
            let token = CapabilityToken::parse(text).unwrap();
            token.verify(&root_key).unwrap();
            token
        };
        assert_eq!(check(&token).caveats().len(), n);
        group.bench_function(format!("verify_caveats_{n}"), |b| b.iter(|| check(black_box(&token))));
    }
    group.finish();
}

// ---------------------------------------------------------------- audit

fn digest(label: &str) -> String {
    hex::encode(Sha256::digest(label.as_bytes()))
}

/// Entry `seq` of a realistic log: mostly live decisions by a token-holding
/// agent, some blocked or escalated with reasons, some shadow.
fn record(seq: u64, prev_hash: String) -> AuditRecord {
    let entry_id = AuditEntryId::parse(format!("aud_0190f3a2b4c57{seq:019x}")).unwrap();
    let mut r =
        AuditRecord::new(entry_id, AuditKind::Decision, tenant(), seq, T0 + seq as i64 * 1_337, prev_hash);
    r.intent_id = Some(IntentId::parse(format!("int_0190f3a2b4c57{seq:019x}")).unwrap());
    r.agent_id =
        Some(AgentId::parse(["billing-bot", "support-bot", "cleanup-bot"][seq as usize % 3]).unwrap());
    r.environment = Some(if seq.is_multiple_of(10) { Environment::Shadow } else { Environment::Live });
    r.enforced = Some(!seq.is_multiple_of(10));
    let (verdict, stage, reasons) = match seq % 7 {
        0 => (
            Verdict::Block,
            StageName::Policy,
            vec![Reason {
                stage: StageName::Policy,
                code: "transact_over_limit".into(),
                message: "transactions above 10000 USD are blocked (exposure 25000 USD)".into(),
            }],
        ),
        1 => (
            Verdict::Escalate,
            StageName::Policy,
            vec![Reason {
                stage: StageName::Policy,
                code: "irreversible_high_value".into(),
                message:
                    "irreversible action with exposure above 1000 USD needs approval (exposure 2500 USD)"
                        .into(),
            }],
        ),
        2 => (
            Verdict::ApproveModified,
            StageName::Policy,
            vec![Reason {
                stage: StageName::Policy,
                code: "card_number_redacted".into(),
                message: "1 payment card number(s) redacted".into(),
            }],
        ),
        _ => (Verdict::Approve, StageName::Policy, Vec::new()),
    };
    r.verdict = Some(verdict);
    r.stage = Some(stage);
    r.reasons = reasons;
    r.bundle_hash = Some(digest("bundle default"));
    r.input_digest = Some(digest(&format!("input {seq}")));
    r.payload_digest = Some(digest(&format!("payload {seq}")));
    if seq.is_multiple_of(2) {
        r.principal = Some("token:tok_0190f3a2b4c5d6e7f8091a2b3c4d5e6f".into());
        r.jti = Some("tok_0190f3a2b4c5d6e7f8091a2b3c4d5e6f".into());
        r.tool = Some("mail.send".into());
    } else {
        r.principal = Some("key:key_0190f3a2b4c5d6e7f8091a2b3c4d5e6f".into());
    }
    r
}

fn bench_audit(c: &mut Criterion) {
    let entry = record(4_242, digest("previous entry"));
    let mut group = c.benchmark_group("offline_audit");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(1));
    group.bench_function("entry_document", |b| b.iter(|| black_box(&entry).canonical_document()));
    group.bench_function("entry_canonical_json", |b| {
        b.iter(|| canonical_string(&black_box(&entry).canonical_document()))
    });
    group.bench_function("entry_hash", |b| b.iter(|| black_box(&entry).hash()));
    group.finish();
}

// ---------------------------------------------------------------- merkle

fn bench_merkle(c: &mut Criterion) {
    let mut group = c.benchmark_group("offline_merkle");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(1));

    // The tree keeps growing across iterations, so each push completes the
    // mix of nodes appends complete on average (one on average).
    let mut frontier = Frontier::new();
    let mut leaf = [0u8; 32];
    group.bench_function("frontier_push", |b| {
        b.iter(|| {
            leaf[..8].copy_from_slice(&frontier.size().to_le_bytes());
            frontier.push(black_box(&leaf))
        })
    });

    let mut tree = MemoryTree::new();
    for i in 0..TREE_LEAVES {
        tree.push(&Sha256::digest(i.to_le_bytes()));
    }
    let root = merkle::root(TREE_LEAVES, |n| tree.node(n)).unwrap();
    // A spread of leaves, proofs fetched once outside the timed loop.
    let proofs: Vec<(u64, merkle::Hash, Vec<merkle::Hash>)> = (0..64u64)
        .map(|k| {
            let index = k * 1_562 % TREE_LEAVES;
            let leaf = merkle::leaf_hash(&Sha256::digest(index.to_le_bytes()));
            let proof = merkle::inclusion_proof(index, TREE_LEAVES, |n| tree.node(n)).unwrap();
            merkle::verify_inclusion(&leaf, index, TREE_LEAVES, &proof, &root).unwrap();
            (index, leaf, proof)
        })
        .collect();
    let mut next = 0;
    group.bench_function("verify_inclusion_100k", |b| {
        b.iter(|| {
            let (index, leaf, proof) = &proofs[next % proofs.len()];
            next += 1;
            merkle::verify_inclusion(leaf, *index, TREE_LEAVES, black_box(proof), &root).unwrap()
        })
    });
    group.finish();
}

// ---------------------------------------------------------------- export

/// The header and the signed checkpoint record of an export of `entries`
/// (computed once: the gateway reads its checkpoint from the store).
fn export_frame(signer: &NoteSigner, entries: &[AuditEntry]) -> (ExportHeader, ExportCheckpoint) {
    let mut frontier = Frontier::new();
    for entry in entries {
        frontier.push(&hex::decode(&entry.hash).unwrap());
    }
    let n = entries.len() as u64;
    let checkpoint =
        Checkpoint { origin: ORIGIN.into(), tree_size: n, root_hash: frontier.root(), time: None };
    let note = signer.sign(&checkpoint.to_text()).unwrap();
    let header = ExportHeader {
        tenant: tenant(),
        origin: ORIGIN.into(),
        key_name: KEY_NAME.into(),
        exported_at: lictor_offline::time::from_micros(T0 + 3_600_000_000),
        entries: n,
    };
    (header, ExportCheckpoint::new(&checkpoint, note))
}

/// Renders an NDJSON export record by record with the gateway's writer,
/// handing each record to `sink` (as the export handler hands each to the
/// response body).
fn render(
    header: &ExportHeader,
    entries: &[AuditEntry],
    checkpoint: &ExportCheckpoint,
    mut sink: impl FnMut(Vec<u8>),
) {
    let mut writer = ExportWriter::new(ExportFormat::Ndjson);
    sink(writer.header(header).unwrap());
    for entry in entries {
        sink(writer.entry(entry).unwrap());
    }
    sink(writer.checkpoint(checkpoint, &header.tenant).unwrap());
}

fn bench_export(c: &mut Criterion) {
    let signer = NoteSigner::new(KEY_NAME, &std::array::from_fn(|i| i as u8)).unwrap();
    let count = if smoke() { SMOKE_EXPORT_ENTRIES } else { EXPORT_ENTRIES };
    let mut prev = GENESIS_HASH.to_string();
    let entries: Vec<_> = (1..=count)
        .map(|seq| {
            let record = record(seq, prev.clone());
            prev = record.hash();
            record.to_entry(prev.clone())
        })
        .collect();
    let (header, checkpoint) = export_frame(&signer, &entries);
    let mut file = Vec::new();
    render(&header, &entries, &checkpoint, |record| file.extend(record));
    let keys = [signer.verifier().clone()];
    let report = verify_export(file.as_slice(), &keys, |_| {}).unwrap();
    assert_eq!(report.entries, count);
    println!(
        "offline_export: {count} entries, {:.1} MB of NDJSON ({} bytes per entry)",
        file.len() as f64 / 1e6,
        file.len() as u64 / count
    );

    let mut group = c.benchmark_group("offline_export");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(count));
    group.bench_function("write_ndjson_100k", |b| {
        b.iter(|| {
            let mut bytes = 0;
            render(&header, black_box(&entries), &checkpoint, |record| bytes += black_box(record).len());
            bytes
        })
    });
    group.bench_function("verify_ndjson_100k", |b| {
        b.iter(|| verify_export(black_box(file.as_slice()), &keys, |_| {}).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_tokens, bench_audit, bench_merkle, bench_export);
criterion_main!(benches);
