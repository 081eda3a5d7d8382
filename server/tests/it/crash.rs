//! Crash safety: the real `lictor` binary is killed with SIGKILL again and
//! again while clients declare intents. After the last restart every decision
//! a client received must still be answered, with the audit entry it was
//! acknowledged with, and the tenant's chain must verify. Requests the kill
//! cut off were never acknowledged and are not checked.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::process::{Deployment, call, client, provision, send};
use crate::support::{ADMIN_KEY, Backend, approve_intent, block_intent, escalate_intent, modify_intent};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};

/// Gateway lives, each ended by SIGKILL under load.
const ROUNDS: usize = 5;
/// Concurrent clients declaring intents.
const CLIENTS: u64 = 16;
/// The kill lands this long (ms) after the round's first acknowledgement.
const KILL_AFTER_MS: std::ops::Range<u64> = 100..600;

/// The `index`th of the intents the clients declare, and the verdict the
/// default bundle gives it.
fn intent_and_verdict(index: usize) -> (Value, &'static str) {
    match index % 4 {
        0 => (approve_intent(), "approve"),
        1 => (modify_intent(), "approve_modified"),
        2 => (escalate_intent(), "escalate"),
        _ => (block_intent(), "block"),
    }
}

/// A decision a client received: what every crash must leave in place.
#[derive(Clone, Debug)]
struct Acknowledged {
    intent_id: String,
    verdict: String,
    entry_id: String,
    seq: u64,
    hash: String,
}

/// What one client saw in one round.
#[derive(Default)]
struct Tally {
    acknowledged: Vec<Acknowledged>,
    /// Requests the kill left unanswered: in flight, or sent on a connection
    /// the dying process held open.
    cut: u64,
    /// Answers other than 200: status and body.
    refused: Vec<(u16, Value)>,
}

/// Declares intents until `stop` is set or the gateway stops answering.
async fn declare_until_stopped(
    client: reqwest::Client,
    url: String,
    key: String,
    seed: u64,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicU64>,
) -> Tally {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    while !stop.load(Ordering::SeqCst) {
        let (intent, expected) = intent_and_verdict(rng.random_range(0..4));
        let request = call(&client, Method::POST, format!("{url}/v1/intents"), &key);
        let response = match request.json(&json!({ "intent": intent })).send().await {
            Ok(response) => response,
            Err(e) => {
                // Refused connections come after the kill; anything else was
                // on its way when the process died.
                tally.cut += u64::from(!e.is_connect());
                break;
            }
        };
        let status = response.status().as_u16();
        let Ok(bytes) = response.bytes().await else {
            tally.cut += 1;
            break;
        };
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status != 200 {
            tally.refused.push((status, body));
            continue;
        }
        let text = |v: &Value| v.as_str().unwrap_or_else(|| panic!("malformed decision {body}")).to_string();
        let audit = &body["audit"];
        let ack = Acknowledged {
            intent_id: text(&body["intent_id"]),
            verdict: text(&body["verdict"]),
            entry_id: text(&audit["entry_id"]),
            seq: audit["seq"].as_u64().unwrap_or_else(|| panic!("no audit seq in {body}")),
            hash: text(&audit["hash"]),
        };
        assert_eq!(ack.verdict, expected, "unexpected verdict: {body}");
        tally.acknowledged.push(ack);
        acknowledged.fetch_add(1, Ordering::SeqCst);
    }
    tally
}

/// The tenant's chain verification.
async fn verify(client: &reqwest::Client, url: &str, tenant: &str) -> Value {
    send(call(client, Method::GET, format!("{url}/v1/admin/audit/verify?tenant={tenant}"), ADMIN_KEY))
        .await
        .expect(200)
}

/// What of `acknowledged` the restarted gateway no longer answers as it
/// was acknowledged (8 checks at a time).
async fn lost(client: &reqwest::Client, url: &str, key: &str, acknowledged: &[Acknowledged]) -> Vec<String> {
    futures::stream::iter(acknowledged)
        .map(|ack| check_survived(client, url, key, ack))
        .buffer_unordered(8)
        .filter_map(|result| async move { result.err() })
        .collect()
        .await
}

/// Checks that the restarted gateway still answers `ack` as it was
/// acknowledged, decision and audit entry alike.
async fn check_survived(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    ack: &Acknowledged,
) -> Result<(), String> {
    let id = &ack.intent_id;
    let answer = send(call(client, Method::GET, format!("{url}/v1/intents/{id}/decision"), key)).await;
    if answer.status != 200 {
        return Err(format!("{id}: decision answered {}: {}", answer.status, answer.body));
    }
    let decision = &answer.body["decision"];
    let audit = &decision["audit"];
    if answer.body["status"] != "decided"
        || decision["verdict"] != ack.verdict.as_str()
        || audit["seq"] != ack.seq
        || audit["hash"] != ack.hash.as_str()
        || audit["entry_id"] != ack.entry_id.as_str()
    {
        return Err(format!("{id}: acknowledged as {ack:?}, now answered {}", answer.body));
    }
    let trail = send(call(client, Method::GET, format!("{url}/v1/intents/{id}/audit"), key)).await;
    if trail.status != 200 {
        return Err(format!("{id}: audit answered {}: {}", trail.status, trail.body));
    }
    let items = trail.body["items"].as_array().cloned().unwrap_or_default();
    let found = items.iter().any(|entry| {
        entry["seq"] == ack.seq
            && entry["hash"] == ack.hash.as_str()
            && entry["entry_id"] == ack.entry_id.as_str()
            && entry["intent_id"] == id.as_str()
            && entry["verdict"] == ack.verdict.as_str()
    });
    if !found {
        return Err(format!("{id}: no audit entry seq {} hash {} in {}", ack.seq, ack.hash, trail.body));
    }
    Ok(())
}

async fn every_acknowledged_decision_survives_sigkill_under_load(backend: Backend) {
    let started = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut deployment = Deployment::new(backend).await;
    let url = deployment.start().await;
    let tenant = provision(&client(), &url).await;

    let mut acknowledged: Vec<Acknowledged> = Vec::new();
    let mut cut_total = 0;
    let mut refused_total: Vec<(u16, Value)> = Vec::new();
    for round in 1..=ROUNDS {
        if !deployment.is_running() {
            deployment.start().await;
        }
        let url = deployment.url().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                tokio::spawn(declare_until_stopped(
                    client(),
                    url.clone(),
                    tenant.live.clone(),
                    seed ^ (((round as u64) << 32) | i),
                    stop.clone(),
                    count.clone(),
                ))
            })
            .collect();
        let first = crate::support::eventually(Duration::from_secs(30), async || {
            (count.load(Ordering::SeqCst) > 0).then_some(())
        })
        .await;
        assert!(first.is_some(), "round {round}: no decision acknowledged within 30 s");
        let delay = rng.random_range(KILL_AFTER_MS);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        // Kill first, then stop the clients: requests are in flight when the
        // process dies.
        deployment.kill().await;
        stop.store(true, Ordering::SeqCst);
        let mut round_acks = 0;
        let mut round_cut = 0;
        for client in clients {
            let tally = client.await.unwrap();
            round_acks += tally.acknowledged.len();
            round_cut += tally.cut;
            acknowledged.extend(tally.acknowledged);
            refused_total.extend(tally.refused);
        }
        cut_total += round_cut;
        eprintln!(
            "{backend:?} round {round}: {round_acks} decisions acknowledged, {round_cut} requests cut off \
             by SIGKILL {delay} ms after the first acknowledgement"
        );
        assert!(round_acks > 0, "round {round} acknowledged nothing before the kill");
    }

    let url = deployment.start().await;
    let client = client();
    let failures = lost(&client, &url, &tenant.admin, &acknowledged).await;
    let verified = verify(&client, &url, &tenant.id).await;

    let mut by_verdict = BTreeMap::new();
    for ack in &acknowledged {
        *by_verdict.entry(ack.verdict.as_str()).or_insert(0) += 1;
    }
    eprintln!(
        "{backend:?}: {} decisions acknowledged over {ROUNDS} SIGKILLs ({by_verdict:?}), {cut_total} requests \
         cut off, {} answers other than 200; after restart verify says {verified}; seed {seed}, {:.1} s",
        acknowledged.len(),
        refused_total.len(),
        started.elapsed().as_secs_f64()
    );

    assert!(
        failures.is_empty(),
        "{} of {} acknowledged decisions did not survive the crashes; first ones:\n{}\nverify: {verified}",
        failures.len(),
        acknowledged.len(),
        failures.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    assert_eq!(verified["ok"], true, "the chain does not verify after the crashes: {verified}");
    let count = verified["verified"].as_u64().unwrap();
    assert!(
        count >= acknowledged.len() as u64,
        "{count} entries verified, {} acknowledged: {verified}",
        acknowledged.len()
    );
    assert_eq!(verified["head"]["seq"], count, "the head must be the last verified entry: {verified}");
    let mut seqs = HashSet::new();
    for ack in &acknowledged {
        assert!(seqs.insert(ack.seq), "seq {} was acknowledged twice", ack.seq);
        assert!(ack.seq <= count, "acknowledged seq {} lies beyond the verified chain: {verified}", ack.seq);
    }
    let ids: HashSet<_> = acknowledged.iter().map(|a| a.intent_id.as_str()).collect();
    assert_eq!(ids.len(), acknowledged.len(), "an intent id was acknowledged twice");
    let refused: Vec<_> = refused_total.iter().filter(|(status, _)| *status < 500).collect();
    assert!(refused.is_empty(), "the gateway refused declarations: {refused:?}");
    assert!(cut_total > 0, "no kill caught a request in flight");

    // The chain goes on after the last crash.
    let next = send(call(&client, Method::POST, format!("{url}/v1/intents"), &tenant.live).json(&json!({
        "intent": approve_intent()
    })))
    .await
    .expect(200);
    assert!(next["audit"]["seq"].as_u64().unwrap() > count, "the chain restarted: {next}");
    let after = verify(&client, &url, &tenant.id).await;
    assert_eq!(after["ok"], true, "{after}");
    assert_eq!(after["head"]["hash"], next["audit"]["hash"], "{after}");
}

/// SIGTERM under load: `/readyz` turns `503 draining` at once while
/// decisions are still answered for the drain delay; then the gateway
/// finishes what it accepted and exits 0, and every decision a client
/// received is there after a restart.
async fn every_acknowledged_decision_survives_sigterm_under_load(backend: Backend) {
    let mut deployment = Deployment::new(backend).await;
    let url =
        deployment.start_with(&["--drain-delay-seconds", "1", "--shutdown-timeout-seconds", "20"]).await;
    let tenant = provision(&client(), &url).await;
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (url, key) = (url.clone(), tenant.live.clone());
            tokio::spawn(declare_until_stopped(client(), url, key, i, stop.clone(), count.clone()))
        })
        .collect();
    let first = crate::support::eventually(Duration::from_secs(30), async || {
        (count.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    assert!(first.is_some(), "no decision acknowledged within 30 s");
    tokio::time::sleep(Duration::from_millis(200)).await;

    deployment.signal("TERM");
    let signalled = Instant::now();
    let at_signal = count.load(Ordering::SeqCst);
    let probe = client();
    let draining = crate::support::eventually(Duration::from_secs(1), async || {
        let answer = send(probe.get(format!("{url}/readyz"))).await;
        (answer.status == 503).then_some(answer.body)
    })
    .await
    .expect("readiness did not turn false within a second of SIGTERM");
    assert_eq!(draining["error_code"], "draining", "{draining}");
    assert!(signalled.elapsed() < Duration::from_secs(1), "readiness turned false only after the drain");
    let status = deployment.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "SIGTERM must end in exit 0, not {status:?}: {}", deployment.log());
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap().acknowledged);
    }
    assert!(
        acknowledged.len() as u64 > at_signal,
        "no decision was answered during the drain ({at_signal} before SIGTERM, {} in all)",
        acknowledged.len()
    );
    let log = deployment.log();
    assert!(!log.contains("ERROR"), "{log}");

    let url = deployment.start().await;
    let client = client();
    let failures = lost(&client, &url, &tenant.admin, &acknowledged).await;
    assert!(
        failures.is_empty(),
        "{} lost after SIGTERM: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let verified = verify(&client, &url, &tenant.id).await;
    assert_eq!(verified["ok"], true, "{verified}");
    eprintln!(
        "{backend:?}: {} decisions acknowledged, {} of them after SIGTERM; exit {status:?}",
        acknowledged.len(),
        acknowledged.len() as u64 - at_signal
    );
}

crate::on_both_backends!(
    every_acknowledged_decision_survives_sigkill_under_load,
    every_acknowledged_decision_survives_sigterm_under_load
);
