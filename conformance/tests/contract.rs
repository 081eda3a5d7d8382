//! Records the contract snapshots the suite ships (`conformance/snapshots/`)
//! from the embedded gateway: `INSTA_UPDATE=always cargo test -p
//! lictor-conformance --test contract` rewrites them after a deliberate
//! contract change; otherwise this test fails on any difference.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lictor_conformance::contract::Shape;
use lictor_conformance::{Context, Selection, Target, embedded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_snapshots_are_the_embedded_gateways_shapes() {
    let gateway = embedded::start().await.unwrap();
    let target = Target::new(vec![gateway.url.clone()], gateway.admin_key.clone());
    let ctx = Context::provision(target, &Selection::default()).await.unwrap_or_else(|f| panic!("{f:?}"));
    for shape in Shape::ALL {
        let (observed, _) = shape.observe(&ctx).await.unwrap_or_else(|f| panic!("{}: {f:?}", shape.name()));
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_json_snapshot!(shape.name(), observed);
        });
        // What the suite compares at run time is exactly what insta keeps.
        if std::env::var_os("INSTA_UPDATE").is_none() {
            assert_eq!(shape.expected().unwrap(), observed, "{}", shape.name());
        }
    }
}
