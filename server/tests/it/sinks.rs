//! The delivery state of audit sinks in the store: one sender per sink at
//! a time (its lease), cursors that only move forward and only under a
//! lease still held, and dead letters an operator can send again.

use lictor_api::ids::TenantId;
use lictor_server::clock::Timestamp;
use lictor_server::store::{DeadLetterRow, SinkCursor};

use crate::support::{Backend, TestGateway};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000 + seconds * 1_000_000)
}

/// One gateway holds a sink's lease until it expires; it renews it; the
/// other takes it over only then; a lost lease can be taken back only
/// once the new holder's expires.
async fn one_gateway_sends_for_a_sink_at_a_time(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let store = gw.open_store().await;
    let sink = "env:splunk";
    assert!(store.acquire_sink_lease(sink, "gw-a", at(0), at(10)).await.unwrap());
    assert!(!store.acquire_sink_lease(sink, "gw-b", at(5), at(15)).await.unwrap(), "a held lease was taken");
    assert!(
        store.acquire_sink_lease(sink, "gw-a", at(8), at(18)).await.unwrap(),
        "the holder could not renew"
    );
    assert!(
        !store.acquire_sink_lease(sink, "gw-b", at(17), at(27)).await.unwrap(),
        "a renewed lease was taken"
    );
    // Expired: the other takes it, and the first cannot renew any more.
    assert!(store.acquire_sink_lease(sink, "gw-b", at(18), at(28)).await.unwrap());
    assert!(!store.acquire_sink_lease(sink, "gw-a", at(19), at(29)).await.unwrap());
    // Leases are per sink.
    assert!(store.acquire_sink_lease("env:s3", "gw-a", at(19), at(29)).await.unwrap());
    // Released: anyone takes it at once; a release by a non-holder is nothing.
    store.release_sink_lease(sink, "gw-a").await.unwrap();
    assert!(!store.acquire_sink_lease(sink, "gw-a", at(20), at(30)).await.unwrap());
    store.release_sink_lease(sink, "gw-b").await.unwrap();
    assert!(store.acquire_sink_lease(sink, "gw-a", at(20), at(30)).await.unwrap());
}

/// A cursor starts at zero, moves forward under a held lease, never back,
/// and not at all for a gateway whose lease expired or was taken over.
async fn cursors_move_forward_under_a_held_lease(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let tenant = TenantId::parse(&f.tenant).unwrap();
    let other = TenantId::parse(&gw.create_tenant("other").await).unwrap();
    let store = gw.open_store().await;
    let sink = "env:datadog";
    assert_eq!(store.sink_cursor(sink, &tenant).await.unwrap(), SinkCursor::default());

    let cursor = |seq, checkpoint_size| (SinkCursor { seq, checkpoint_size }, 1);
    // No lease: nothing moves.
    assert!(!store.advance_sink_cursor((sink, "gw-a"), &tenant, cursor(5, 0), at(0)).await.unwrap());
    assert!(store.acquire_sink_lease(sink, "gw-a", at(0), at(10)).await.unwrap());
    assert!(store.advance_sink_cursor((sink, "gw-a"), &tenant, cursor(5, 0), at(1)).await.unwrap());
    assert!(store.advance_sink_cursor((sink, "gw-a"), &tenant, cursor(9, 8), at(2)).await.unwrap());
    // Backwards is kept where it is, whatever part goes back.
    assert!(!store.advance_sink_cursor((sink, "gw-a"), &tenant, cursor(3, 2), at(3)).await.unwrap());
    assert!(store.advance_sink_cursor((sink, "gw-a"), &tenant, cursor(7, 16), at(3)).await.unwrap());
    assert_eq!(store.sink_cursor(sink, &tenant).await.unwrap(), cursor(9, 16).0);
    // Per tenant and per sink.
    assert_eq!(store.sink_cursor(sink, &other).await.unwrap(), SinkCursor::default());
    assert_eq!(store.sink_cursor("env:s3", &tenant).await.unwrap(), SinkCursor::default());
    // Expired, then taken over: the old holder moves nothing.
    assert!(!store.advance_sink_cursor((sink, "gw-a"), &tenant, cursor(12, 16), at(10)).await.unwrap());
    assert!(store.acquire_sink_lease(sink, "gw-b", at(11), at(21)).await.unwrap());
    assert!(!store.advance_sink_cursor((sink, "gw-a"), &tenant, cursor(12, 16), at(12)).await.unwrap());
    assert!(store.advance_sink_cursor((sink, "gw-b"), &tenant, cursor(12, 16), at(12)).await.unwrap());
    assert_eq!(store.sink_cursor(sink, &tenant).await.unwrap(), cursor(12, 16).0);
}

/// A refused entry is recorded once, listed, and can be sent again once.
async fn dead_letters_are_kept_and_redriven(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let tenant = TenantId::parse(&f.tenant).unwrap();
    let store = gw.open_store().await;
    let letter = |seq: u64, status: Option<u16>| DeadLetterRow {
        sink: "env:splunk".into(),
        tenant: tenant.clone(),
        seq,
        entry_id: format!("aud_{seq:026}"),
        status,
        error: "400 Bad Request: {\"text\":\"Invalid data format\",\"code\":6}".into(),
        created_at: at(i64::try_from(seq).unwrap()),
        redriven_at: None,
    };
    store.add_sink_dead_letter(&letter(3, Some(400))).await.unwrap();
    store.add_sink_dead_letter(&letter(7, None)).await.unwrap();
    store.add_sink_dead_letter(&letter(3, Some(413))).await.unwrap();
    let letters = store.sink_dead_letters("env:splunk").await.unwrap();
    assert_eq!(letters, vec![letter(3, Some(400)), letter(7, None)]);
    assert!(store.sink_dead_letters("env:s3").await.unwrap().is_empty());
    assert_eq!(redrive(&store, &tenant, Some(3), at(60)).await, 1);
    assert_eq!(redrive(&store, &tenant, Some(3), at(61)).await, 0, "redriven twice");
    assert_eq!(redrive(&store, &tenant, Some(4), at(61)).await, 0);
    let letters = store.sink_dead_letters("env:splunk").await.unwrap();
    assert_eq!(letters[0].redriven_at, Some(at(60)));
    assert_eq!(letters[1].redriven_at, None);
    // Every one of the tenant's not yet marked.
    assert_eq!(redrive(&store, &tenant, None, at(62)).await, 1);
}

/// Marks `env:splunk`'s dead letters of `tenant` to be sent again, as the
/// API does (in a transaction of its own here).
async fn redrive(
    store: &lictor_server::store::Store,
    tenant: &TenantId,
    seq: Option<u64>,
    now: Timestamp,
) -> u64 {
    let mut tx = store.begin().await.unwrap();
    let marked = tx.redrive_dead_letters("env:splunk", tenant, seq, now).await.unwrap();
    tx.commit().await.unwrap();
    marked
}

crate::on_both_backends!(
    one_gateway_sends_for_a_sink_at_a_time,
    cursors_move_forward_under_a_held_lease,
    dead_letters_are_kept_and_redriven
);
