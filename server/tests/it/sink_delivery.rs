//! Audit sinks delivering through the real gateway: every entry of every
//! tenant reaches the destination, in order, with its chain intact; outages
//! and throttling lose nothing; an event a destination refuses for good is
//! set aside alone and can be sent again. Each vendor's destination is
//! stood in by `wiremock`, checking the request the vendor documents.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::Duration;

use lictor_api::audit::AuditEntry;
use lictor_api::ids::TenantId;
use lictor_offline::audit::AuditRecord;
use lictor_server::config::Config;
use lictor_server::integrations::{Configured, Settings};
use lictor_server::sinks::SinkTuning;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{Backend, Fixture, TestGateway, approve_intent, block_intent, eventually};

/// A sink configured as `LICTOR_SINK_<NAME>` would configure it.
pub fn sink(name: &str, settings: Value) -> Configured {
    Configured {
        id: lictor_api::integrations::IntegrationId::parse(format!("env:{name}")).unwrap(),
        settings: Settings::Sink(serde_json::from_value(settings).unwrap()),
        tenant: None,
    }
}

/// Answers every `POST` with `template`, at `priority`, `times` times
/// (`None`: always).
async fn answer(server: &MockServer, template: ResponseTemplate, priority: u8, times: Option<u64>) {
    let mock = Mock::given(method("POST")).respond_with(template).with_priority(priority);
    match times {
        Some(n) => mock.up_to_n_times(n).mount(server).await,
        None => mock.mount(server).await,
    }
}

/// Quick polling and retries.
pub fn fast(config: &mut Config, sinks: Vec<Configured>) {
    config.integrations = sinks;
    // The stand-ins listen on loopback.
    config.integrations_allow_private = true;
    config.sink_tuning = SinkTuning {
        lease: Duration::from_secs(3),
        poll: Duration::from_millis(50),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_secs(2),
    };
    // Checkpoints signed often, so batches carry them.
    config.checkpoints.every = 3;
}

/// Two tenants with `n` decisions each (approvals and blocks); answers
/// their fixtures.
async fn decisions(gw: &TestGateway, n: usize) -> Vec<Fixture> {
    let mut fixtures = Vec::new();
    for _ in 0..2 {
        let f = gw.tenant_fixture().await;
        for i in 0..n {
            let intent = if i % 3 == 2 { block_intent() } else { approve_intent() };
            gw.declare(&f.live, intent).await.expect(200);
        }
        fixtures.push(f);
    }
    fixtures
}

/// A gateway delivering to `sink`, and two tenants with `n` decisions
/// each: the gateway, the tenants and the length of their logs.
async fn with_decisions(
    backend: Backend,
    sink: Configured,
    n: usize,
) -> (TestGateway, Vec<Fixture>, BTreeMap<String, u64>) {
    let gw = TestGateway::start_with(backend, |c| fast(c, vec![sink])).await;
    let fixtures = decisions(&gw, n).await;
    let heads = heads(&gw, &fixtures).await;
    (gw, fixtures, heads)
}

/// The length of each tenant's log.
async fn heads(gw: &TestGateway, fixtures: &[Fixture]) -> BTreeMap<String, u64> {
    let mut heads = BTreeMap::new();
    for f in fixtures {
        heads.insert(f.tenant.clone(), gw.verify(&f.tenant).await["verified"].as_u64().unwrap());
    }
    heads
}

/// What a tenant's delivered events show, once de-duplicated by `id`.
#[derive(Debug, Default)]
pub struct Stream {
    /// Entries, in the order they first arrived.
    pub entries: Vec<AuditEntry>,
    /// Checkpoint sizes, in order.
    pub checkpoints: Vec<u64>,
    /// Events that arrived more than once (at-least-once delivery).
    pub repeated: usize,
}

/// Groups `events` by tenant and checks each stream: entries arrive in
/// `seq` order without gaps from 1, every hash recomputes and links to
/// the previous one, every checkpoint follows the entry it ends.
pub fn streams(events: &[Value]) -> BTreeMap<String, Stream> {
    let mut streams: BTreeMap<String, Stream> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for event in events {
        let id = event["id"].as_str().unwrap().to_string();
        let tenant = event["tenant"].as_str().unwrap().to_string();
        let stream = streams.entry(tenant.clone()).or_default();
        if !seen.insert(id.clone()) {
            stream.repeated += 1;
            continue;
        }
        match event["type"].as_str().unwrap() {
            "lictor.audit.entry" => {
                let entry: AuditEntry = serde_json::from_value(event["entry"].clone()).unwrap();
                assert_eq!(entry.entry_id.as_str(), id, "the event id is the entry id");
                assert_eq!(event["seq"], entry.seq);
                assert_eq!(entry.tenant.as_str(), tenant);
                let expected = stream.entries.len() as u64 + 1;
                assert_eq!(
                    entry.seq, expected,
                    "{tenant}: entry {} arrived where {expected} belongs",
                    entry.seq
                );
                let prev = stream.entries.last().map_or("0".repeat(64), |e| e.hash.clone());
                assert_eq!(entry.prev_hash, prev, "{tenant}: entry {} does not link", entry.seq);
                assert_eq!(
                    AuditRecord::from_entry(&entry).hash(),
                    entry.hash,
                    "{tenant}: entry {} hash",
                    entry.seq
                );
                stream.entries.push(entry);
            }
            "lictor.audit.checkpoint" => {
                let size = event["checkpoint"]["tree_size"].as_u64().unwrap();
                assert_eq!(id, format!("{tenant}/checkpoint/{size}"));
                assert!(
                    size <= stream.entries.len() as u64,
                    "{tenant}: checkpoint {size} before its entries"
                );
                assert!(
                    stream.checkpoints.last().is_none_or(|last| *last < size),
                    "{tenant}: checkpoints out of order"
                );
                assert!(
                    event["checkpoint"]["note"].as_str().unwrap().contains(&format!("/tenants/{tenant}\n"))
                );
                stream.checkpoints.push(size);
            }
            other => panic!("unknown event type {other}"),
        }
    }
    streams
}

/// Waits until `events()` covers every entry of every tenant in `heads`.
async fn delivered(
    heads: &BTreeMap<String, u64>,
    mut events: impl AsyncFnMut() -> Vec<Value>,
) -> BTreeMap<String, Stream> {
    let mut last = BTreeMap::new();
    let done = eventually(Duration::from_secs(30), async || {
        last = streams(&events().await);
        heads
            .iter()
            .all(|(tenant, head)| last.get(tenant).is_some_and(|s| s.entries.len() as u64 >= *head))
            .then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "not everything arrived: {:?} of {heads:?}",
        last.iter().map(|(t, s)| (t, s.entries.len())).collect::<Vec<_>>()
    );
    last
}

/// The events of webhook requests.
pub fn webhook_events(requests: &[Request]) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.method == wiremock::http::Method::POST)
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            body["events"].as_array().cloned().unwrap_or_default()
        })
        .collect()
}

const SECRET: &str = "whsec-0123456789abcdef";

/// Every entry of every tenant arrives once the destination acknowledged
/// it, in order, each batch signed like async decisions and within the
/// sink's batch size, checkpoints included.
async fn webhook_sink_delivers_every_entry_in_order(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/audit"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let url = format!("{}/audit", server.uri());
    let (gw, _fixtures, heads) = with_decisions(
        backend,
        sink("relay", json!({"kind": "webhook", "url": url, "secret": SECRET, "max_batch": 4})),
        6,
    )
    .await;
    delivered(&heads, async || webhook_events(&server.received_requests().await.unwrap())).await;
    // Checkpoints follow once signed (every 3 entries, within a second).
    let streams = eventually(Duration::from_secs(20), async || {
        let streams = streams(&webhook_events(&server.received_requests().await.unwrap()));
        streams.values().all(|s| !s.checkpoints.is_empty()).then_some(streams)
    })
    .await
    .expect("checkpoints are delivered");
    for (tenant, head) in &heads {
        let stream = &streams[tenant];
        assert_eq!(stream.entries.len() as u64, *head);
        assert!(!stream.checkpoints.is_empty(), "{tenant}: no checkpoint delivered");
        let kinds: Vec<_> = stream.entries.iter().filter_map(|e| e.verdict).collect();
        assert!(kinds.contains(&lictor_api::intents::Verdict::Block), "{tenant}: decisions are delivered");
    }
    for request in server.received_requests().await.unwrap() {
        let signature = request.headers.get("lictor-signature").unwrap().to_str().unwrap();
        let now = chrono::Utc::now().timestamp();
        lictor_server::webhooks::verify_signature(SECRET, signature, &request.body, now, 300).unwrap();
        assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
        assert_eq!(request.headers.get("lictor-event").unwrap(), "audit.batch");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "lictor.audit.batch");
        let events = body["events"].as_array().unwrap();
        assert!((1..=4).contains(&events.len()), "{} events in one batch", events.len());
        assert!(events.iter().all(|e| e["tenant"] == body["tenant"]), "a batch holds one tenant");
        let batch_id = request.headers.get("lictor-batch-id").unwrap().to_str().unwrap();
        let first_last = format!(
            "{}..{}",
            events[0]["id"].as_str().unwrap(),
            events[events.len() - 1]["id"].as_str().unwrap()
        );
        assert_eq!(batch_id, first_last);
    }
    // The cursor and the health row say the same.
    let store = gw.open_store().await;
    for (tenant, head) in &heads {
        let tenant = TenantId::parse(tenant).unwrap();
        let row = store.sink_status("env:relay", Some(&tenant)).await.unwrap().pop().unwrap();
        assert_eq!(row.cursor.seq, *head);
        assert!(row.delivered >= *head);
        assert!(row.last_success_at.is_some());
        assert_eq!(row.dead_letters, 0);
    }
}

/// 503s, then a 429 with `Retry-After`: nothing is lost, and the failures
/// show in the health row. (That the pause asked for is kept is the
/// sender's `backoff_grows_with_jitter_and_honours_retry_after`.)
async fn outages_and_throttling_lose_nothing(backend: Backend) {
    let server = MockServer::start().await;
    answer(&server, ResponseTemplate::new(503).set_body_string("maintenance"), 1, Some(3)).await;
    answer(&server, ResponseTemplate::new(429).insert_header("Retry-After", "1"), 2, Some(1)).await;
    answer(&server, ResponseTemplate::new(200), 3, None).await;
    let url = server.uri();
    let (gw, _fixtures, heads) =
        with_decisions(backend, sink("relay", json!({"kind": "webhook", "url": url, "secret": SECRET})), 4)
            .await;
    let streams = delivered(&heads, async || {
        // Only acknowledged requests count as delivered.
        let requests = server.received_requests().await.unwrap();
        webhook_events(&requests[4.min(requests.len())..])
    })
    .await;
    assert_eq!(streams.len(), heads.len());
    let store = gw.open_store().await;
    let rows = store.sink_status("env:relay", None).await.unwrap();
    let failed: u64 = rows.iter().map(|r| r.failed).sum();
    assert!(failed >= 4, "{rows:?}");
    let errors: Vec<_> = rows.iter().filter_map(|r| r.last_error.as_ref().map(|(e, _)| e.clone())).collect();
    assert!(errors.iter().any(|e| e.contains("503") || e.contains("429")), "{errors:?}");
}

/// A destination that refuses every batch holding a block for good (400):
/// the batches are narrowed down until each block entry is alone, those
/// become dead letters, every other entry is delivered; redriven once the
/// destination takes them, they are delivered and gone.
async fn refused_events_are_dead_lettered_alone_and_redriven(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains(r#""verdict":"block""#))
        .respond_with(ResponseTemplate::new(400).set_body_string(r#"{"error":"schema violation"}"#))
        .with_priority(1)
        .mount(&server)
        .await;
    answer(&server, ResponseTemplate::new(200), 2, None).await;
    let url = server.uri();
    let (gw, fixtures, heads) = with_decisions(
        backend,
        sink("relay", json!({"kind": "webhook", "url": url, "secret": SECRET, "max_batch": 8})),
        6,
    )
    .await;
    let store = gw.open_store().await;
    // Every tenant's cursor reaches its head.
    let caught_up = eventually(Duration::from_secs(30), async || {
        let rows = store.sink_status("env:relay", None).await.unwrap();
        heads
            .iter()
            .all(|(t, head)| rows.iter().any(|r| r.tenant.as_str() == t && r.cursor.seq == *head))
            .then_some(())
    })
    .await;
    assert!(caught_up.is_some(), "{:?}", store.sink_status("env:relay", None).await.unwrap());
    let letters = store.sink_dead_letters("env:relay").await.unwrap();
    let accepted: Vec<Value> = {
        let requests = server.received_requests().await.unwrap();
        let ok: Vec<Request> = requests
            .into_iter()
            .filter(|r| !String::from_utf8_lossy(&r.body).contains(r#""verdict":"block""#))
            .collect();
        webhook_events(&ok)
    };
    let accepted_ids: std::collections::HashSet<&str> =
        accepted.iter().filter_map(|e| e["id"].as_str()).collect();
    // Exactly the block entries are dead letters; everything else arrived.
    let mut blocks = 0;
    for f in &fixtures {
        let entries = gw
            .get(&format!("/v1/admin/audit?tenant={}&limit=200", f.tenant), crate::support::ADMIN_KEY)
            .await
            .expect(200);
        for entry in entries["items"].as_array().unwrap() {
            let id = entry["entry_id"].as_str().unwrap();
            let seq = entry["seq"].as_u64().unwrap();
            if entry["verdict"] == "block" {
                blocks += 1;
                let letter = letters
                    .iter()
                    .find(|l| l.entry_id == id)
                    .unwrap_or_else(|| panic!("{id} not dead-lettered"));
                assert_eq!(
                    (letter.seq, letter.status, letter.tenant.as_str()),
                    (seq, Some(400), f.tenant.as_str())
                );
                assert!(letter.error.contains("schema violation"), "{}", letter.error);
            } else {
                assert!(accepted_ids.contains(id), "{id} (seq {seq}) was not delivered");
            }
        }
    }
    assert_eq!(letters.len(), blocks, "{letters:?}");
    let row =
        store.sink_status("env:relay", Some(&TenantId::parse(&fixtures[0].tenant).unwrap())).await.unwrap();
    assert!(row[0].dead_letters > 0);

    // The destination is fixed; an operator sends them again.
    server.reset().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    for f in &fixtures {
        let redriven = gw
            .post("/v1/admin/integrations/env:relay/dead-letters/redrive", &f.admin, &json!({}))
            .await
            .expect(200);
        let of_tenant = letters.iter().filter(|l| l.tenant.as_str() == f.tenant).count();
        assert_eq!(redriven["redriven"], of_tenant as u64);
    }
    let gone = eventually(Duration::from_secs(20), async || {
        store.sink_dead_letters("env:relay").await.unwrap().is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some(), "{:?}", store.sink_dead_letters("env:relay").await.unwrap());
    let redelivered = webhook_events(&server.received_requests().await.unwrap());
    for letter in &letters {
        assert!(
            redelivered.iter().any(|e| e["id"] == letter.entry_id.as_str()),
            "{} not redriven",
            letter.entry_id
        );
    }
}

/// Splunk HEC: the collector's path and token, HEC's stacked-object batch
/// format with `time`, `source`, `sourcetype`, `index` and indexed
/// `fields`, within `max_batch_bytes`; a 400 that is the configuration's
/// (code 7, incorrect index) is retried, not dead-lettered.
async fn splunk_hec_gets_its_documented_batches(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/collector/event"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"text": "Incorrect index", "code": 7, "invalid-event-number": 1})),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/collector/event"))
        .and(header("authorization", "Splunk hec-0000-1111"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"text": "Success", "code": 0})))
        .with_priority(2)
        .mount(&server)
        .await;
    let url = server.uri();
    let (gw, _fixtures, heads) = with_decisions(
        backend,
        sink(
            "siem",
            json!({"kind": "splunk", "url": url, "token": "hec-0000-1111", "index": "lictor_audit",
                       "sourcetype": "lictor:audit:json", "host": "gw-1", "max_batch_bytes": 65536}),
        ),
        5,
    )
    .await;
    let parse = |request: &Request| -> Vec<Value> {
        serde_json::Deserializer::from_slice(&request.body).into_iter::<Value>().map(Result::unwrap).collect()
    };
    let streams = delivered(&heads, async || {
        let requests = server.received_requests().await.unwrap();
        requests[2.min(requests.len())..].iter().flat_map(parse).map(|e| e["event"].clone()).collect()
    })
    .await;
    assert_eq!(streams.len(), 2);
    for request in &server.received_requests().await.unwrap() {
        assert!(request.body.len() <= 65536, "{} bytes", request.body.len());
        assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
        for event in parse(request) {
            assert!(event["time"].is_f64() || event["time"].is_u64(), "{event}");
            assert_eq!(event["source"], "lictor");
            assert_eq!(event["sourcetype"], "lictor:audit:json");
            assert_eq!(event["index"], "lictor_audit");
            assert_eq!(event["host"], "gw-1");
            assert_eq!(event["fields"]["lictor_tenant"], event["event"]["tenant"]);
            assert_eq!(event["fields"]["lictor_type"], event["event"]["type"]);
            if event["event"]["type"] == "lictor.audit.entry" {
                let ts =
                    chrono::DateTime::parse_from_rfc3339(event["event"]["entry"]["ts"].as_str().unwrap())
                        .unwrap();
                let time = event["time"].as_f64().unwrap();
                assert!((time - ts.timestamp_micros() as f64 / 1e6).abs() < 1e-3, "{time} vs {ts}");
            }
        }
    }
    let store = gw.open_store().await;
    assert!(
        store.sink_dead_letters("env:siem").await.unwrap().is_empty(),
        "a configuration error dead-lettered events"
    );
}

/// Splunk HEC with indexer acknowledgement: every request on one channel
/// (a UUID), a batch delivered only once the ack endpoint says its ackId
/// was indexed.
async fn splunk_hec_acknowledgement_is_awaited(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/collector/event"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"text": "Success", "code": 0, "ackId": 7})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/collector/ack"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"acks": {"7": false}})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/collector/ack"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"acks": {"7": true}})))
        .with_priority(2)
        .mount(&server)
        .await;
    let url = server.uri();
    let gw = TestGateway::start_with(backend, |c| {
        fast(c, vec![sink("siem", json!({"kind": "splunk", "url": url, "token": "hec-token", "ack": true}))]);
    })
    .await;
    let f = gw.tenant_fixture().await;
    gw.declare(&f.live, approve_intent()).await.expect(200);
    let head = gw.verify(&f.tenant).await["verified"].as_u64().unwrap();
    let store = gw.open_store().await;
    let tenant = TenantId::parse(&f.tenant).unwrap();
    let done = eventually(Duration::from_secs(20), async || {
        (store.sink_cursor("env:siem", &tenant).await.unwrap().seq == head).then_some(())
    })
    .await;
    assert!(done.is_some());
    let requests = server.received_requests().await.unwrap();
    let channel = requests[0].headers.get("x-splunk-request-channel").unwrap().to_str().unwrap().to_string();
    uuid::Uuid::parse_str(&channel).unwrap();
    let mut polled = 0;
    for request in &requests {
        assert_eq!(request.headers.get("x-splunk-request-channel").unwrap().to_str().unwrap(), channel);
        if request.url.path() == "/services/collector/ack" {
            polled += 1;
            assert_eq!(request.url.query_pairs().find(|(k, _)| k == "channel").unwrap().1, channel);
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body, json!({"acks": [7]}));
        }
    }
    assert!(polled >= 2, "the acknowledgement was not awaited ({polled} polls)");
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// Datadog Logs: `/api/v2/logs` with `DD-API-KEY`, a gzipped JSON array of
/// at most 1000 logs, each with `ddsource`, `service`, `ddtags` naming the
/// tenant, and the event's JSON as `message`; `202` acknowledges.
async fn datadog_gets_its_documented_logs(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/logs"))
        .and(header("dd-api-key", "dd-key-123"))
        .and(header("content-encoding", "gzip"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({})))
        .mount(&server)
        .await;
    let url = server.uri();
    let settings = json!({"kind": "datadog", "site": "eu1", "url": url, "api_key": "dd-key-123",
                          "service": "agent-gateway", "tags": "env:test,team:sec"});
    let (_gw, _fixtures, heads) = with_decisions(backend, sink("dd", settings), 4).await;
    let logs = |requests: Vec<Request>| -> Vec<Value> {
        requests
            .iter()
            .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&gunzip(&r.body)).unwrap())
            .collect()
    };
    delivered(&heads, async || {
        logs(server.received_requests().await.unwrap())
            .iter()
            .map(|log| serde_json::from_str(log["message"].as_str().unwrap()).unwrap())
            .collect()
    })
    .await;
    for request in server.received_requests().await.unwrap() {
        assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
        let array: Vec<Value> = serde_json::from_slice(&gunzip(&request.body)).unwrap();
        assert!((1..=1000).contains(&array.len()));
        assert!(gunzip(&request.body).len() <= 5_000_000);
        for log in array {
            assert_eq!(log["ddsource"], "lictor");
            assert_eq!(log["service"], "agent-gateway");
            let event: Value = serde_json::from_str(log["message"].as_str().unwrap()).unwrap();
            if event["type"] == "lictor.audit.entry" {
                let ts =
                    chrono::DateTime::parse_from_rfc3339(event["entry"]["ts"].as_str().unwrap()).unwrap();
                assert_eq!(log["timestamp"], ts.timestamp_millis(), "Datadog's date is the entry's");
            }
            let tags = log["ddtags"].as_str().unwrap();
            assert_eq!(
                tags,
                format!(
                    "lictor_tenant:{},lictor_type:{},env:test,team:sec",
                    event["tenant"].as_str().unwrap(),
                    event["type"].as_str().unwrap()
                )
            );
        }
    }
}

const RULE: &str = "dcr-00112233445566778899aabbccddeeff";

/// Microsoft Sentinel: a client-credentials token from Entra ID (asked
/// once and reused, asked again after a 401), then the Logs Ingestion API
/// with the rule, stream and `api-version`, a gzipped JSON array of
/// records with the stream's columns; `204` acknowledges.
async fn sentinel_gets_its_documented_records(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/contoso.onmicrosoft.com/oauth2/v2.0/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=app-1234"))
        .and(body_string_contains("client_secret=s3cr3t%2Fvalue"))
        .and(body_string_contains("scope=https%3A%2F%2Fmonitor.azure.com%2F%2F.default"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "tok-1"}),
        ))
        .mount(&server)
        .await;
    let ingest = format!("/dataCollectionRules/{RULE}/streams/Custom-LictorAudit_CL");
    // The first batch finds the token revoked.
    Mock::given(method("POST"))
        .and(path(ingest.as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"code": "InvalidToken"}})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ingest.as_str()))
        .and(query_param("api-version", "2023-01-01"))
        .and(header("authorization", "Bearer tok-1"))
        .and(header("content-encoding", "gzip"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&server)
        .await;
    let url = server.uri();
    let (_gw, _fixtures, heads) = with_decisions(
        backend,
        sink(
            "sentinel",
            json!({"kind": "sentinel", "endpoint": url, "rule_id": RULE, "stream": "Custom-LictorAudit_CL",
                       "tenant_id": "contoso.onmicrosoft.com", "client_id": "app-1234",
                       "client_secret": "s3cr3t/value", "authority": url}),
        ),
        4,
    )
    .await;
    let records = |requests: &[Request]| -> Vec<Value> {
        requests
            .iter()
            .filter(|r| r.url.path() == ingest && r.headers.contains_key("content-encoding"))
            .skip(1)
            .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&gunzip(&r.body)).unwrap())
            .collect()
    };
    delivered(&heads, async || {
        records(&server.received_requests().await.unwrap())
            .iter()
            .map(|r| serde_json::from_str(r["RawEvent"].as_str().unwrap()).unwrap())
            .collect()
    })
    .await;
    let requests = server.received_requests().await.unwrap();
    for record in records(&requests) {
        let raw: Value = serde_json::from_str(record["RawEvent"].as_str().unwrap()).unwrap();
        assert_eq!(record["Event"], raw);
        assert_eq!(record["EventId"], raw["id"]);
        assert_eq!(record["EventType"], raw["type"]);
        assert_eq!(record["Tenant"], raw["tenant"]);
        chrono::DateTime::parse_from_rfc3339(record["TimeGenerated"].as_str().unwrap()).unwrap();
        if raw["type"] == "lictor.audit.entry" {
            assert_eq!(record["Seq"], raw["seq"]);
            assert_eq!(record["Kind"], raw["entry"]["kind"]);
            assert_eq!(record["Verdict"], raw["entry"]["verdict"]);
        } else {
            assert_eq!(record["Seq"], raw["checkpoint"]["tree_size"]);
            assert_eq!(record["Kind"], "checkpoint");
        }
    }
    let tokens = requests.iter().filter(|r| r.url.path().ends_with("/oauth2/v2.0/token")).count();
    assert_eq!(tokens, 2, "a token per sign-in: the first, and one after the 401");
    let token_request = requests.iter().find(|r| r.url.path().ends_with("/token")).unwrap();
    assert_eq!(token_request.headers.get("content-type").unwrap(), "application/x-www-form-urlencoded");
}

/// A destination down for longer than the sink's `max_lag_seconds`: the
/// sink's health for the tenant reads `lagging`, with the entries waiting,
/// their age and the destination's last answer.
async fn a_sink_behind_its_limit_is_lagging(backend: Backend) {
    let server = MockServer::start().await;
    answer(&server, ResponseTemplate::new(503).set_body_string("down for maintenance"), 1, None).await;
    let url = server.uri();
    let settings = json!({"kind": "webhook", "url": url, "secret": SECRET, "max_lag_seconds": 1});
    let (gw, fixtures, _) = with_decisions(backend, sink("relay", settings), 2).await;
    let health = eventually(Duration::from_secs(20), async || {
        let health =
            gw.get("/v1/admin/integrations/env:relay", &fixtures[0].admin).await.expect(200)["health"]
                .clone();
        (health["state"] == "lagging").then_some(health)
    })
    .await
    .expect("the sink reads lagging");
    assert!(health["lag_entries"].as_u64() > Some(0), "{health}");
    assert!(health["lag_seconds"].as_f64() > Some(1.0), "{health}");
    assert!(health["failed"].as_u64() > Some(0), "{health}");
    assert!(health["last_error"]["message"].as_str().unwrap().contains("down for maintenance"), "{health}");
    assert_eq!(health["delivered"], 0);
}

crate::on_both_backends!(
    a_sink_behind_its_limit_is_lagging,
    webhook_sink_delivers_every_entry_in_order,
    outages_and_throttling_lose_nothing,
    refused_events_are_dead_lettered_alone_and_redriven,
    splunk_hec_gets_its_documented_batches,
    splunk_hec_acknowledgement_is_awaited,
    datadog_gets_its_documented_logs,
    sentinel_gets_its_documented_records
);
