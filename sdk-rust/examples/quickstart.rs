//! Zero to a governed call: point the SDK at a gateway with an agent key,
//! declare what the agent is about to do, and act on the verdict. A `block`
//! is an answer like any other, not an error.
//!
//! `LICTOR_URL=http://127.0.0.1:8080 LICTOR_API_KEY=lictor_live_… cargo run -p lictor-client --example quickstart`

use lictor_client::types::{ActionType, Verdict};
use lictor_client::{Gateway, intent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("LICTOR_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let key = std::env::var("LICTOR_API_KEY")?;
    run(&url, &key).await?;
    Ok(())
}

/// Declares one read by `billing-bot` and says what to do.
pub async fn run(url: &str, key: &str) -> Result<Verdict, lictor_client::Error> {
    let gateway = Gateway::new(url).api_key(key);
    let decision = gateway.declare_intent(intent("billing-bot", ActionType::Access, "read")?).await?;
    match decision.verdict {
        Verdict::Approve | Verdict::ApproveModified => println!("go ahead ({})", *decision.intent_id),
        Verdict::Escalate => println!("wait for a human: {:?}", decision.approval),
        Verdict::Block => println!("blocked: {:?}", decision.reasons),
    }
    Ok(decision.verdict)
}
