//! Audit sinks across crashes and replicas, through the real `lictor`
//! binary: SIGKILL mid-delivery, again and again, loses no entry and
//! keeps each tenant's order; of two replicas on one PostgreSQL database
//! exactly one sends for a sink, and the other takes over within the
//! lease's lifetime when that one is killed.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::sink_delivery::{streams, webhook_events};
use crate::support::process::{Deployment, call, client, provision, send};
use crate::support::{ADMIN_KEY, Backend, approve_intent, block_intent, eventually};

const SECRET: &str = "whsec-0123456789abcdef";
const METRICS_TOKEN: &str = "metrics-token-0123456789abcdefghijklmnop";

/// A destination that takes a while to answer, so kills land while
/// batches are in flight.
async fn slow_destination(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(delay))
        .mount(&server)
        .await;
    server
}

fn configure(deployment: &mut Deployment, destination: &MockServer) {
    let sink = json!({"kind": "webhook", "url": destination.uri(), "secret": SECRET, "max_batch": 5});
    deployment.set_env("LICTOR_SINK_RELAY", &sink.to_string());
    deployment.set_env("LICTOR_SINKS_POLL_MS", "50");
    deployment.set_env("LICTOR_SINKS_BACKOFF_MS", "50");
    deployment.set_env("LICTOR_SINKS_LEASE_SECONDS", "3");
    deployment.set_env("LICTOR_METRICS_TOKEN", METRICS_TOKEN);
}

/// The length of the tenant's log.
async fn head(url: &str, tenant: &str) -> u64 {
    let verified =
        send(call(&client(), Method::GET, format!("{url}/v1/admin/audit/verify?tenant={tenant}"), ADMIN_KEY))
            .await
            .expect(200);
    verified["verified"].as_u64().unwrap()
}

/// Kills the gateway four times while it delivers; after the last start
/// every entry has arrived at least once, in order, chain intact.
async fn kills_mid_delivery_lose_nothing(backend: Backend) {
    let destination = slow_destination(Duration::from_millis(150)).await;
    let mut deployment = Deployment::new(backend).await;
    configure(&mut deployment, &destination);
    let mut url = deployment.start().await;
    let tenant = provision(&client(), &url).await;
    for _ in 0..4 {
        let before = destination.received_requests().await.unwrap().len();
        for i in 0..12 {
            let intent = if i % 3 == 0 { block_intent() } else { approve_intent() };
            send(
                call(&client(), Method::POST, format!("{url}/v1/intents"), &tenant.live)
                    .json(&json!({"intent": intent})),
            )
            .await
            .expect(200);
        }
        // Kill as soon as a new batch reached the destination: its
        // acknowledgement is 150 ms away, so the kill lands in flight.
        let in_flight = eventually(Duration::from_secs(20), async || {
            (destination.received_requests().await.unwrap().len() > before).then_some(())
        })
        .await;
        assert!(in_flight.is_some(), "no batch was sent");
        deployment.kill().await;
        url = deployment.start().await;
    }
    let head = head(&url, &tenant.id).await;
    let delivered = eventually(Duration::from_secs(60), async || {
        let streams = streams(&webhook_events(&destination.received_requests().await.unwrap()));
        streams.get(&tenant.id).filter(|s| s.entries.len() as u64 >= head).map(|s| s.repeated)
    })
    .await;
    // At least once: batches a kill cut off before their acknowledgement
    // arrived twice (the destination de-duplicates on the ids); that shows
    // the kills landed mid-delivery.
    let repeated = delivered.expect("not every entry arrived after the kills");
    assert!(repeated > 0, "no kill landed while a batch was in flight");
}

/// Whether the gateway at `url` holds the sink's lease.
async fn holds_lease(url: &str) -> Option<bool> {
    let response = client()
        .request(Method::GET, format!("{url}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .ok()?;
    let text = response.text().await.ok()?;
    let line = text.lines().find(|l| l.starts_with("lictor_sink_lease_held{sink=\"env:relay\"}"))?;
    Some(line.ends_with(" 1"))
}

/// Two replicas: one sends; killed, the other takes over within the
/// lease's lifetime and delivers what followed.
async fn one_replica_sends_and_another_takes_over(backend: Backend) {
    let destination = slow_destination(Duration::from_millis(20)).await;
    let mut first = Deployment::new(backend).await;
    configure(&mut first, &destination);
    let mut second = Deployment::replica_of(&first);
    configure(&mut second, &destination);
    let first_url = first.start().await;
    let second_url = second.start().await;
    let tenant = provision(&client(), &first_url).await;
    let one_holder = eventually(Duration::from_secs(20), async || {
        match (holds_lease(&first_url).await, holds_lease(&second_url).await) {
            (Some(a), Some(b)) if a != b => Some(a),
            _ => None,
        }
    })
    .await
    .expect("exactly one replica holds the lease");
    for _ in 0..5 {
        send(
            call(&client(), Method::POST, format!("{first_url}/v1/intents"), &tenant.live)
                .json(&json!({"intent": approve_intent()})),
        )
        .await
        .expect(200);
    }
    // Kill the holder; the other takes over and delivers what follows.
    let (survivor_url, killed) =
        if one_holder { (second_url.clone(), &mut first) } else { (first_url.clone(), &mut second) };
    killed.kill().await;
    let killed_at = std::time::Instant::now();
    for _ in 0..5 {
        send(
            call(&client(), Method::POST, format!("{survivor_url}/v1/intents"), &tenant.live)
                .json(&json!({"intent": block_intent()})),
        )
        .await
        .expect(200);
    }
    let took_over =
        eventually(Duration::from_secs(20), async || holds_lease(&survivor_url).await.filter(|h| *h)).await;
    assert!(took_over.is_some(), "the surviving replica did not take the lease over");
    assert!(killed_at.elapsed() < Duration::from_secs(10), "took {:?}", killed_at.elapsed());
    let head = head(&survivor_url, &tenant.id).await;
    let delivered = eventually(Duration::from_secs(30), async || {
        let streams = streams(&webhook_events(&destination.received_requests().await.unwrap()));
        streams.get(&tenant.id).filter(|s| s.entries.len() as u64 >= head).map(|_| ())
    })
    .await;
    assert!(delivered.is_some(), "the survivor did not deliver what followed");
}

crate::on_both_backends!(kills_mid_delivery_lose_nothing);

/// Replicas share a PostgreSQL database.
mod replicas {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_replica_sends_and_another_takes_over() {
        super::one_replica_sends_and_another_takes_over(super::Backend::Postgres).await;
    }
}
