//! Zero to a governed call: point the SDK at a gateway with an agent key,
//! declare what the agent is about to do, act on the verdict, then call a
//! tool through the gateway. A `block` is an answer like any other, not an
//! error; a refused tool call is the error of the check that refused it.
//!
//! With `lictor serve --demo` running and its `export` lines pasted:
//! `cargo run -p lictor-client --example quickstart`

use lictor_client::types::{ActionType, Verdict};
use lictor_client::{Error, Gateway, intent};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("LICTOR_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let key = std::env::var("LICTOR_API_KEY")?;
    run(&url, &key).await?;
    Ok(())
}

/// Declares one read by `billing-bot`, reads a balance through the demo
/// bank, and tries a transfer the default policy refuses.
pub async fn run(url: &str, key: &str) -> Result<Verdict, Error> {
    let gateway = Gateway::new(url).api_key(key);
    let decision = gateway.declare_intent(intent("billing-bot", ActionType::Access, "read")?).await?;
    match decision.verdict {
        Verdict::Approve | Verdict::ApproveModified => println!("go ahead ({})", *decision.intent_id),
        Verdict::Escalate => println!("wait for a human: {:?}", decision.approval),
        Verdict::Block => println!("blocked: {:?}", decision.reasons),
    }

    let balance = gateway.call_tool("bank.get_balance", json!({"account": "acme"})).await?;
    println!("{}", balance.text());
    match gateway.call_tool("bank.transfer_funds", json!({"amount_usd": 25000, "to": "DE89 3704 0044"})).await
    {
        Err(Error::Policy(refused)) => println!("refused: {}", refused.reason.as_deref().unwrap_or_default()),
        Ok(result) => println!("transferred: {}", result.text()),
        Err(other) => return Err(other),
    }
    Ok(decision.verdict)
}
