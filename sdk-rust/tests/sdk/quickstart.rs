//! The README's quickstart is `examples/quickstart.rs`, verbatim, and it
//! runs against a live gateway.

use lictor_client::types::Verdict;

use crate::support::Live;

#[allow(dead_code)]
#[path = "../../examples/quickstart.rs"]
mod example;

#[test]
fn the_readme_quickstart_is_the_example() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.rs")).unwrap();
    assert!(
        readme.contains(&format!("```rust\n{example}```")),
        "README.md must quote examples/quickstart.rs verbatim in a ```rust block"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_runs_against_a_live_gateway() {
    let live = Live::start().await;
    let t = live.tenant("acme").await;
    let key = t.agent_key.clone();
    assert_eq!(example::run(&live.url, &key).await.unwrap(), Verdict::Approve);
}
