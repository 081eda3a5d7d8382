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
async fn the_quickstart_runs_against_the_demo() {
    // What `lictor serve --demo` sets up, on this test's gateway.
    let live = Live::start().await;
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let bank = lictor_server::demo::bank::Bank::start("127.0.0.1:0".parse().unwrap(), log).unwrap();
    let demo =
        lictor_server::demo::provision(&live.url, crate::support::ADMIN_KEY, bank.url()).await.unwrap();
    assert_eq!(example::run(&demo.url, &demo.api_key).await.unwrap(), Verdict::Approve);
}
