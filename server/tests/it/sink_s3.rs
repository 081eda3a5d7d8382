//! The S3 sink against a real S3-compatible server (moto, see
//! `support::moto`): every tenant's log lands as gzipped NDJSON objects
//! under Hive partitions, each entry exactly once and in order with its
//! chain intact, checkpoints among them; an outage of S3 holds nothing up,
//! shows in the sink's health, and once S3 is back the log continues
//! exactly where the acknowledged objects ended.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Timelike as _, Utc};
use futures::TryStreamExt as _;
use lictor_api::audit::AuditEntry;
use lictor_api::ids::TenantId;
use lictor_api::integrations::{S3Sink, SinkSettings};
use lictor_offline::audit::AuditRecord;
use lictor_server::config::Config;
use lictor_server::integrations::{Configured, Settings};
use lictor_server::store::SinkStatusRow;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore as _, ObjectStoreExt as _};
use serde_json::Value;

use crate::support::moto::Moto;
use crate::support::{
    Backend, Fixture, TestGateway, approve_intent, block_intent, escalate_intent, eventually, modify_intent,
};

const BUCKET: &str = "lictor-audit";
const PREFIX: &str = "lictor/";
const SINK: &str = "env:archive";
/// Most events per object: small, so a log spans several objects.
const MAX_BATCH: usize = 7;

/// The gateway's settings: the S3 sink on `endpoint`, quick polling and
/// retries.
fn configure(config: &mut Config, endpoint: &str) {
    config.integrations = vec![Configured {
        id: lictor_api::integrations::IntegrationId::parse(SINK).unwrap(),
        settings: Settings::Sink(SinkSettings::S3(S3Sink {
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            prefix: PREFIX.into(),
            endpoint: Some(endpoint.into()),
            path_style: true,
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            max_batch: MAX_BATCH as u32,
            max_lag_seconds: 300,
        })),
        tenant: None,
    }];
    config.sink_tuning.poll = Duration::from_millis(100);
    config.sink_tuning.backoff_base = Duration::from_millis(100);
    config.sink_tuning.backoff_max = Duration::from_secs(1);
}

/// The bucket, read as any S3 client would.
fn bucket(endpoint: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_endpoint(endpoint)
        .with_virtual_hosted_style_request(false)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_client_options(ClientOptions::new().with_allow_http(true))
        .build()
        .unwrap()
}

/// `n` decisions of every kind in `f`'s tenant.
async fn decide(gw: &TestGateway, f: &Fixture, n: usize) {
    for i in 0..n {
        let intent = match i % 4 {
            0 => approve_intent(),
            1 => block_intent(),
            2 => modify_intent(),
            _ => escalate_intent(),
        };
        gw.declare(&f.live, intent).await.expect(200);
    }
}

/// One object of the bucket: what its key says, and its events.
#[derive(Debug)]
struct Object {
    key: String,
    tenant: String,
    /// The start of its partition's hour.
    partition: DateTime<Utc>,
    /// The sink's cursor before it: entries and checkpoints delivered.
    from_seq: u64,
    from_checkpoint: u64,
    events: Vec<Value>,
}

/// Reads `<prefix>tenant=<t>/date=<YYYY-MM-DD>/hour=<HH>/<20 digits>-<20 digits>.ndjson.gz`.
fn parse_key(key: &str) -> (String, DateTime<Utc>, u64, u64) {
    let rest = key.strip_prefix(PREFIX).unwrap_or_else(|| panic!("{key}: not under {PREFIX}"));
    let parts: Vec<&str> = rest.split('/').collect();
    let [tenant, date, hour, name] = parts.as_slice() else {
        panic!("{key}: not four levels under the prefix")
    };
    let tenant = tenant.strip_prefix("tenant=").unwrap_or_else(|| panic!("{key}: no tenant= level"));
    let date = date.strip_prefix("date=").unwrap_or_else(|| panic!("{key}: no date= level"));
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap_or_else(|e| panic!("{key}: date: {e}"));
    let hour = hour.strip_prefix("hour=").unwrap_or_else(|| panic!("{key}: no hour= level"));
    assert_eq!(hour.len(), 2, "{key}: the hour has two digits");
    let hour: u32 = hour.parse().unwrap_or_else(|e| panic!("{key}: hour: {e}"));
    let partition = date.and_hms_opt(hour, 0, 0).unwrap_or_else(|| panic!("{key}: hour {hour}")).and_utc();
    let stem = name.strip_suffix(".ndjson.gz").unwrap_or_else(|| panic!("{key}: not .ndjson.gz"));
    let (seq, checkpoint) = stem.split_once('-').unwrap_or_else(|| panic!("{key}: no `-` in the name"));
    assert!(seq.len() == 20 && checkpoint.len() == 20, "{key}: two 20-digit numbers");
    let seq: u64 = seq.parse().unwrap_or_else(|e| panic!("{key}: {e}"));
    let checkpoint: u64 = checkpoint.parse().unwrap_or_else(|e| panic!("{key}: {e}"));
    assert!(seq >= 1, "{key}: the name holds the cursor plus one");
    (tenant.to_string(), partition, seq - 1, checkpoint)
}

/// Every object under the prefix, downloaded, unzipped and parsed, in
/// key order.
async fn objects(store: &AmazonS3) -> Vec<Object> {
    let listed: Vec<_> = store.list(Some(&Path::from(PREFIX))).try_collect().await.unwrap();
    let mut objects = Vec::new();
    for meta in listed {
        let key = meta.location.to_string();
        let (tenant, partition, from_seq, from_checkpoint) = parse_key(&key);
        let body = store.get(&meta.location).await.unwrap().bytes().await.unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{key}: not gzipped UTF-8: {e}"));
        let lines = text.strip_suffix('\n').unwrap_or_else(|| panic!("{key}: the last line has no newline"));
        let events: Vec<Value> = lines
            .split('\n')
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{key}: line {line:?}: {e}")))
            .collect();
        assert!(
            (1..=MAX_BATCH).contains(&events.len()),
            "{key}: {} events, the sink's batch is {MAX_BATCH}",
            events.len()
        );
        objects.push(Object { key, tenant, partition, from_seq, from_checkpoint, events });
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    objects
}

/// What a tenant's objects hold, read in the order of their names.
#[derive(Debug, Default)]
struct Stream {
    entries: Vec<AuditEntry>,
    /// Each checkpoint's size and root.
    checkpoints: Vec<(u64, String)>,
}

/// Checks every object and gathers each tenant's stream: the partition is
/// the tenant's and an hour no later than any of its entries, between
/// `since` and now; each object starts where the previous one of its
/// tenant ended (its name is the cursor before it); entries run from
/// seq 1 without gap or repeat, each hash recomputes and links to the one
/// before; checkpoints are distinct, growing, and each follows the entry
/// ending it.
fn streams(objects: &[Object], since: DateTime<Utc>) -> BTreeMap<String, Stream> {
    let earliest =
        since.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0)).unwrap();
    let mut by_tenant: BTreeMap<&str, Vec<&Object>> = BTreeMap::new();
    for object in objects {
        by_tenant.entry(&object.tenant).or_default().push(object);
    }
    let mut streams = BTreeMap::new();
    for (tenant, mut objects) in by_tenant {
        objects.sort_by_key(|o| (o.from_seq, o.from_checkpoint));
        let mut stream = Stream::default();
        for object in objects {
            let key = &object.key;
            assert!(
                object.partition >= earliest && object.partition <= Utc::now(),
                "{key}: partition {} is not between {earliest} and now",
                object.partition
            );
            let last_seq = stream.entries.last().map_or(0, |e| e.seq);
            let last_checkpoint = stream.checkpoints.last().map_or(0, |c| c.0);
            assert_eq!(
                (object.from_seq, object.from_checkpoint),
                (last_seq, last_checkpoint),
                "{key}: does not start where the objects before it end"
            );
            for event in &object.events {
                assert_eq!(event["tenant"], tenant, "{key}: an event of another tenant: {event}");
                let id = event["id"].as_str().unwrap_or_else(|| panic!("{key}: no id: {event}"));
                match event["type"].as_str() {
                    Some("lictor.audit.entry") => {
                        let entry: AuditEntry = serde_json::from_value(event["entry"].clone())
                            .unwrap_or_else(|e| panic!("{key}: entry: {e}: {event}"));
                        assert_eq!(entry.entry_id.as_str(), id, "{key}: the event id is the entry id");
                        assert_eq!(event["seq"], entry.seq, "{key}");
                        assert_eq!(entry.tenant.as_str(), tenant, "{key}");
                        let expected = stream.entries.len() as u64 + 1;
                        assert_eq!(
                            entry.seq, expected,
                            "{key}: entry {} where {expected} belongs",
                            entry.seq
                        );
                        let prev = stream.entries.last().map_or("0".repeat(64), |e| e.hash.clone());
                        assert_eq!(entry.prev_hash, prev, "{key}: entry {} does not link", entry.seq);
                        assert_eq!(
                            AuditRecord::from_entry(&entry).hash(),
                            entry.hash,
                            "{key}: entry {}",
                            entry.seq
                        );
                        assert!(
                            entry.ts >= object.partition,
                            "{key}: entry {} ({}) is older than its partition",
                            entry.seq,
                            entry.ts
                        );
                        stream.entries.push(entry);
                    }
                    Some("lictor.audit.checkpoint") => {
                        let checkpoint = &event["checkpoint"];
                        let size =
                            checkpoint["tree_size"].as_u64().unwrap_or_else(|| panic!("{key}: {event}"));
                        assert_eq!(id, format!("{tenant}/checkpoint/{size}"), "{key}");
                        for field in ["root_hash", "key_id", "created_at", "note"] {
                            assert!(
                                checkpoint[field].as_str().is_some_and(|s| !s.is_empty()),
                                "{key}: {field}"
                            );
                        }
                        let before = stream.entries.last().map_or(0, |e| e.seq);
                        assert!(size >= 1 && size <= before, "{key}: checkpoint {size} before entry {size}");
                        assert!(
                            stream.checkpoints.last().is_none_or(|last| size > last.0),
                            "{key}: checkpoint {size} after {:?}",
                            stream.checkpoints.last()
                        );
                        stream
                            .checkpoints
                            .push((size, checkpoint["root_hash"].as_str().unwrap_or_default().into()));
                    }
                    other => panic!("{key}: unknown event type {other:?}: {event}"),
                }
            }
        }
        streams.insert(tenant.to_string(), stream);
    }
    streams
}

/// The length of each tenant's log.
async fn heads(gw: &TestGateway, fixtures: &[&Fixture]) -> BTreeMap<String, u64> {
    let mut heads = BTreeMap::new();
    for f in fixtures {
        heads.insert(f.tenant.clone(), gw.verify(&f.tenant).await["verified"].as_u64().unwrap());
    }
    heads
}

/// The sink's health row for `tenant`.
async fn status(store: &lictor_server::store::Store, tenant: &str) -> SinkStatusRow {
    let tenant = TenantId::parse(tenant).unwrap();
    let mut rows = store.sink_status(SINK, Some(&tenant)).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.remove(0)
}

/// Waits until the latest checkpoint of `f`'s tenant covers its log.
async fn checkpoint_at_head(gw: &TestGateway, f: &Fixture) {
    let signed = eventually(Duration::from_secs(30), async || {
        let head = gw.verify(&f.tenant).await["head"]["seq"].as_u64()?;
        let latest = gw.get("/v1/admin/audit/checkpoints/latest", &f.admin).await;
        (latest.status.as_u16() == 200 && latest.body["tree_size"] == head).then_some(())
    })
    .await;
    assert!(signed.is_some(), "{}: no checkpoint at the head", f.tenant);
}

/// Every checkpoint of `f`'s tenant, oldest first: size and root.
async fn checkpoints(gw: &TestGateway, f: &Fixture) -> Vec<(u64, String)> {
    let list = gw.get("/v1/admin/audit/checkpoints?limit=500", &f.admin).await.expect(200);
    let items = list["items"].as_array().unwrap_or_else(|| panic!("{list}"));
    let mut sizes: Vec<(u64, String)> = items
        .iter()
        .map(|c| (c["tree_size"].as_u64().unwrap(), c["root_hash"].as_str().unwrap().to_string()))
        .collect();
    sizes.reverse();
    sizes
}

/// Two tenants' logs reach the bucket whole: several objects each, every
/// entry exactly once, in order, chained, with every signed checkpoint
/// among them (the later objects' names count them).
async fn every_entry_lands_in_the_bucket_once_and_in_order(backend: Backend) {
    let since = Utc::now();
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let gw = TestGateway::start_with(backend, |c| {
        configure(c, &moto.url());
        // A checkpoint soon after each round of decisions.
        c.checkpoints.every = 5;
        c.checkpoints.interval = Duration::from_millis(100);
    })
    .await;
    let (a, b) = (gw.tenant_fixture().await, gw.tenant_fixture().await);
    // Rounds of decisions with a checkpoint after each, so checkpoints
    // fall between entries of the log rather than only at its end.
    for round in 0..4 {
        decide(&gw, &a, 5).await;
        if round < 3 {
            decide(&gw, &b, 3).await;
        }
        checkpoint_at_head(&gw, &a).await;
        checkpoint_at_head(&gw, &b).await;
    }
    let heads = heads(&gw, &[&a, &b]).await;

    let bucket = bucket(&moto.url());
    let whole = eventually(Duration::from_secs(60), async || {
        let streams = streams(&objects(&bucket).await, since);
        let whole = heads.iter().all(|(tenant, &head)| {
            streams.get(tenant).is_some_and(|s| {
                s.entries.len() as u64 == head && s.checkpoints.last().is_some_and(|c| c.0 == head)
            })
        });
        whole.then_some(streams)
    })
    .await;
    let Some(streams) = whole else {
        let partial = streams(&objects(&bucket).await, since);
        panic!("the bucket never held both logs whole up to their last checkpoint: {heads:?} {partial:#?}")
    };
    let listed = objects(&bucket).await;
    for f in [&a, &b] {
        let (tenant, head) = (&f.tenant, heads[&f.tenant]);
        let count = listed.iter().filter(|o| &o.tenant == tenant).count();
        assert!(count >= 3, "{tenant}: {head} entries in {count} object(s)");
        assert_eq!(streams[tenant].entries.len() as u64, head);
        assert_eq!(
            streams[tenant].checkpoints,
            checkpoints(&gw, f).await,
            "{tenant}: the checkpoints signed"
        );
        assert!(
            listed.iter().any(|o| &o.tenant == tenant && o.from_checkpoint > 0),
            "{tenant}: no object starts after a checkpoint"
        );
        // The log the gateway verifies is the one in the bucket.
        assert_eq!(gw.verify(tenant).await["verified"].as_u64(), Some(head), "{tenant}");
    }
    let store = gw.open_store().await;
    for (tenant, &head) in &heads {
        let row = status(&store, tenant).await;
        assert_eq!((row.cursor.seq, row.cursor.checkpoint_size), (head, head), "{tenant}: {row:?}");
        assert_eq!(row.dead_letters, 0, "{tenant}: {row:?}");
        assert!(row.oldest_pending.is_none(), "{tenant}: {row:?}");
    }
}

/// S3 goes away while decisions go on: decisions are answered as usual,
/// the sink's health shows the failures and the lag, and once S3 answers
/// on the same address again (empty: moto keeps nothing), delivery resumes
/// exactly at the acknowledged cursor: the objects from before the outage
/// and after it hold the log whole, nothing twice.
async fn an_outage_delays_delivery_and_loses_nothing(backend: Backend) {
    let since = Utc::now();
    let mut moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let endpoint = moto.url();
    let gw = TestGateway::start_with(backend, |c| {
        configure(c, &endpoint);
        // No checkpoints: one signed between the last download and the
        // outage would be in neither bucket.
        c.checkpoints.every = 1_000_000;
        c.checkpoints.interval = Duration::from_secs(3600);
    })
    .await;
    let f = gw.tenant_fixture().await;
    let store = gw.open_store().await;
    decide(&gw, &f, 10).await;
    let before_head = heads(&gw, &[&f]).await[&f.tenant];
    // Delivered and acknowledged, then read from the bucket.
    let delivered = eventually(Duration::from_secs(60), async || {
        (status(&store, &f.tenant).await.cursor.seq == before_head).then_some(())
    })
    .await;
    if delivered.is_none() {
        panic!("not delivered: {:?}", status(&store, &f.tenant).await);
    }
    let before = objects(&bucket(&endpoint)).await;
    assert_eq!(streams(&before, since)[&f.tenant].entries.len() as u64, before_head);

    moto.stop();
    decide(&gw, &f, 10).await;
    let head = heads(&gw, &[&f]).await[&f.tenant];
    assert!(head > before_head);
    // Several attempts failed, and the health says so.
    let failing = eventually(Duration::from_secs(30), async || {
        let row = status(&store, &f.tenant).await;
        (row.failed >= 3).then_some(row)
    })
    .await;
    let Some(row) = failing else { panic!("no failures recorded: {:?}", status(&store, &f.tenant).await) };
    let (error, _) = row.last_error.clone().unwrap_or_else(|| panic!("no last error: {row:?}"));
    assert!(error.starts_with(&format!("PUT {PREFIX}tenant={}/", f.tenant)), "{error}");
    assert_eq!(row.head, head, "{row:?}");
    assert_eq!(row.cursor.seq, before_head, "the cursor moved without S3: {row:?}");
    assert!(row.oldest_pending.is_some(), "no lag: {row:?}");

    let mut moto = Moto::start_on(moto.port()).await;
    moto.create_bucket(BUCKET).await;
    let bucket = bucket(&endpoint);
    let resumed = eventually(Duration::from_secs(60), async || {
        let after = objects(&bucket).await;
        let entries =
            after.iter().flat_map(|o| &o.events).filter(|e| e["type"] == "lictor.audit.entry").count();
        (entries as u64 == head - before_head).then_some(after)
    })
    .await;
    let Some(after) = resumed else {
        panic!("not delivered after the outage: {:#?}", objects(&bucket).await)
    };
    assert_eq!(
        after.iter().map(|o| o.from_seq).min(),
        Some(before_head),
        "delivery resumed elsewhere: {after:#?}"
    );
    let keys: Vec<&str> = before.iter().map(|o| o.key.as_str()).collect();
    assert!(after.iter().all(|o| !keys.contains(&o.key.as_str())), "an object written twice");
    let whole: Vec<Object> = before.into_iter().chain(after).collect();
    assert_eq!(streams(&whole, since)[&f.tenant].entries.len() as u64, head);

    let row = eventually(Duration::from_secs(30), async || {
        let row = status(&store, &f.tenant).await;
        (row.cursor.seq == head).then_some(row)
    })
    .await
    .unwrap();
    assert!(row.failed >= 3 && row.oldest_pending.is_none(), "{row:?}");
    assert_eq!(gw.verify(&f.tenant).await["verified"].as_u64(), Some(head));
    moto.stop();
}

crate::on_both_backends!(
    every_entry_lands_in_the_bucket_once_and_in_order,
    an_outage_delays_delivery_and_loses_nothing
);
