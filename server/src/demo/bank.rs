//! The demo bank: a small MCP server (Streamable HTTP, JSON answers) with
//! three tools, so a tool call can be tried through the gateway without
//! any other software.
//!
//! - `echo {text}`: answers the text (read-only);
//! - `get_balance {account}`: the balance of a demo account (read-only);
//! - `transfer_funds {amount_usd, to}`: records a transfer in memory and
//!   debits the demo account `acme` (destructive, irreversible).
//!
//! Nothing real happens: the accounts are made up, live in memory and are
//! gone when the process stops. The server is stateless (no
//! `Mcp-Session-Id`): `initialize` answers the 2025-11-25 revision and
//! every other request is served as it comes. It is not an MCP reference
//! implementation; it is what the quickstarts and `lictor serve --demo`
//! call.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use dropshot::{
    ApiDescription, Body, ConfigDropshot, HttpError, RequestContext, ServerBuilder, UntypedBody, endpoint,
};
use http::{Response, StatusCode};
use serde_json::{Value, json};

/// The MCP revision it answers `initialize` with.
pub(crate) const PROTOCOL_VERSION: &str = "2025-11-25";

/// The account transfers are paid from.
pub(crate) const PAYING_ACCOUNT: &str = "acme";

/// Balances the demo starts with, in cents.
const OPENING_BALANCES: [(&str, i64); 2] = [("acme", 1_250_000), ("globex", 83_025)];

/// The largest transfer it books (the ledger is whole cents in an `i64`).
const MAX_TRANSFER_USD: f64 = 1e12;

/// Largest request body it reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

struct Ledger {
    balances: BTreeMap<String, i64>,
    transfers: u64,
}

/// A running demo bank; it stops when dropped.
pub struct Bank {
    url: String,
    server: dropshot::HttpServer<Arc<Mutex<Ledger>>>,
}

/// Why the bank could not start.
#[derive(Debug, thiserror::Error)]
#[error("demo bank: {0}")]
pub struct BankError(String);

impl Bank {
    /// Starts the bank on `listen` (port 0 for any free port).
    pub fn start(listen: SocketAddr, log: slog::Logger) -> Result<Bank, BankError> {
        let mut api = ApiDescription::new();
        api.register(mcp_post).map_err(|e| BankError(e.to_string()))?;
        api.register(mcp_get).map_err(|e| BankError(e.to_string()))?;
        let ledger = Ledger {
            balances: OPENING_BALANCES.iter().map(|(name, cents)| ((*name).to_string(), *cents)).collect(),
            transfers: 0,
        };
        let server = ServerBuilder::new(api, Arc::new(Mutex::new(ledger)), log)
            .config(ConfigDropshot {
                bind_address: listen,
                default_request_body_max_bytes: MAX_BODY_BYTES,
                ..ConfigDropshot::default()
            })
            .start()
            .map_err(|e| BankError(format!("cannot listen on {listen}: {e}")))?;
        let url = format!("http://{}/mcp", server.local_addr());
        Ok(Bank { url, server })
    }

    /// Its MCP endpoint (`http://<address>/mcp`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Resolves when the server stops on its own.
    pub async fn wait_for_stop(&self) -> Result<(), String> {
        self.server.wait_for_shutdown().await
    }

    /// Stops it.
    pub async fn stop(self) -> Result<(), String> {
        self.server.close().await
    }
}

/// The tools, as `tools/list` answers them.
pub fn tools() -> Value {
    json!([
        {
            "name": "echo",
            "title": "Echo",
            "description": "Answers the text it is given.",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "annotations": {"readOnlyHint": true, "openWorldHint": false},
        },
        {
            "name": "get_balance",
            "title": "Account balance",
            "description": "The balance of a demo account (`acme` or `globex`), in USD.",
            "inputSchema": {"type": "object", "properties": {"account": {"type": "string"}}, "required": ["account"]},
            "annotations": {"readOnlyHint": true, "openWorldHint": false},
        },
        {
            "name": "transfer_funds",
            "title": "Transfer funds",
            "description": "Wires money from the demo account `acme` to `to`. Cannot be undone.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "amount_usd": {"type": "number", "exclusiveMinimum": 0},
                    "to": {"type": "string"},
                    "memo": {"type": "string"},
                },
                "required": ["amount_usd", "to"],
            },
            "annotations": {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true},
        },
    ])
}

fn usd(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{:02} USD", cents % 100)
}

fn text_result(text: String, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": is_error})
}

fn argument<'a>(arguments: &'a Value, name: &str) -> Result<&'a str, Value> {
    arguments
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| text_result(format!("`{name}` is required and must be a string"), true))
}

/// Runs one tool; a bad argument is a tool error (`isError`), as MCP has it.
fn call(ledger: &Mutex<Ledger>, name: &str, arguments: &Value) -> Option<Value> {
    let result = match name {
        "echo" => argument(arguments, "text").map(|text| text_result(text.to_string(), false)),
        "get_balance" => argument(arguments, "account").map(|account| {
            let ledger = ledger.lock().unwrap_or_else(PoisonError::into_inner);
            match ledger.balances.get(account) {
                Some(cents) => text_result(format!("{account}: {}", usd(*cents)), false),
                None => text_result(format!("no demo account `{account}` (try `acme` or `globex`)"), true),
            }
        }),
        "transfer_funds" => argument(arguments, "to").and_then(|to| {
            let amount = arguments
                .get("amount_usd")
                .and_then(Value::as_f64)
                .filter(|a| a.is_finite() && *a > 0.0 && *a <= MAX_TRANSFER_USD);
            let Some(amount) = amount else {
                return Err(text_result(
                    format!("`amount_usd` must be a positive number of at most {MAX_TRANSFER_USD} USD"),
                    true,
                ));
            };
            let cents = (amount * 100.0).round() as i64;
            let mut ledger = ledger.lock().unwrap_or_else(PoisonError::into_inner);
            ledger.transfers += 1;
            let number = ledger.transfers;
            let balance = ledger.balances.entry(PAYING_ACCOUNT.to_string()).or_insert(0);
            *balance = balance.saturating_sub(cents);
            let left = usd(*balance);
            Ok(text_result(
                format!("transfer #{number}: {} from {PAYING_ACCOUNT} to {to}; {PAYING_ACCOUNT} now has {left} (demo bank: no money moved)", usd(cents)),
                false,
            ))
        }),
        _ => return None,
    };
    Some(result.unwrap_or_else(|error| error))
}

fn respond(status: StatusCode, body: Option<&Value>) -> Result<Response<Body>, HttpError> {
    let builder = Response::builder().status(status);
    let response = match body {
        Some(body) => {
            builder.header(http::header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string()))
        }
        None => builder.body(Body::empty()),
    };
    response.map_err(|e| HttpError::for_internal_error(e.to_string()))
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// One JSON-RPC message in, one answer out.
#[endpoint { method = POST, path = "/mcp", unpublished = true }]
async fn mcp_post(
    rqctx: RequestContext<Arc<Mutex<Ledger>>>,
    body: UntypedBody,
) -> Result<Response<Body>, HttpError> {
    let Ok(message) = serde_json::from_slice::<Value>(body.as_bytes()) else {
        return respond(StatusCode::BAD_REQUEST, Some(&error(&Value::Null, -32700, "parse error")));
    };
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        // A response to a request this server never sends, or not JSON-RPC.
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        return match message.get("id") {
            Some(_) if message.get("result").is_some() || message.get("error").is_some() => {
                respond(StatusCode::ACCEPTED, None)
            }
            _ => respond(StatusCode::BAD_REQUEST, Some(&error(&id, -32600, "not a JSON-RPC request"))),
        };
    };
    let Some(id) = message.get("id").cloned() else {
        // A notification (`notifications/initialized`, …): nothing to answer.
        return respond(StatusCode::ACCEPTED, None);
    };
    let params = message.get("params").cloned().unwrap_or_else(|| json!({}));
    let result = match method {
        "initialize" => json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "lictor-demo-bank", "title": "Lictor demo bank", "version": env!("CARGO_PKG_VERSION")},
            "instructions": "A demo bank: made-up accounts, in memory. Nothing real happens.",
        }),
        "ping" => json!({}),
        "tools/list" => json!({"tools": tools()}),
        "tools/call" => {
            let name = params.get("name").and_then(Value::as_str).unwrap_or_default();
            let arguments = params.get("arguments").cloned().unwrap_or_else(|| json!({}));
            match call(rqctx.context(), name, &arguments) {
                Some(result) => result,
                None => {
                    return respond(
                        StatusCode::OK,
                        Some(&error(&id, -32602, &format!("unknown tool `{name}`"))),
                    );
                }
            }
        }
        _ => {
            return respond(
                StatusCode::OK,
                Some(&error(&id, -32601, &format!("method not found: `{method}`"))),
            );
        }
    };
    respond(StatusCode::OK, Some(&json!({"jsonrpc": "2.0", "id": id, "result": result})))
}

/// No server-to-client stream: `405`, as the transport allows.
#[endpoint { method = GET, path = "/mcp", unpublished = true }]
async fn mcp_get(_rqctx: RequestContext<Arc<Mutex<Ledger>>>) -> Result<Response<Body>, HttpError> {
    respond(StatusCode::METHOD_NOT_ALLOWED, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> Mutex<Ledger> {
        Mutex::new(Ledger {
            balances: OPENING_BALANCES.iter().map(|(n, c)| ((*n).to_string(), *c)).collect(),
            transfers: 0,
        })
    }

    fn text(result: &Value) -> (&str, bool) {
        (
            result["content"][0]["text"].as_str().unwrap_or_default(),
            result["isError"].as_bool().unwrap_or(true),
        )
    }

    #[test]
    fn amounts_are_written_with_grouping_and_cents() {
        assert_eq!(usd(1_250_000), "12,500.00 USD");
        assert_eq!(usd(5), "0.05 USD");
        assert_eq!(usd(-250_000_000), "-2,500,000.00 USD");
        assert_eq!(usd(100_000), "1,000.00 USD");
    }

    #[test]
    fn transfers_debit_acme_and_bad_arguments_are_tool_errors() {
        let ledger = ledger();
        let done = call(&ledger, "transfer_funds", &json!({"amount_usd": 2500, "to": "DE89"})).unwrap();
        assert_eq!(
            text(&done),
            (
                "transfer #1: 2,500.00 USD from acme to DE89; acme now has 10,000.00 USD (demo bank: no money moved)",
                false
            )
        );
        let balance = call(&ledger, "get_balance", &json!({"account": "acme"})).unwrap();
        assert_eq!(text(&balance), ("acme: 10,000.00 USD", false));
        for bad in [
            json!({"to": "x"}),
            json!({"amount_usd": -1, "to": "x"}),
            json!({"amount_usd": 1}),
            json!({"amount_usd": 1e300, "to": "x"}),
        ] {
            assert!(text(&call(&ledger, "transfer_funds", &bad).unwrap()).1, "{bad}");
        }
        assert!(text(&call(&ledger, "get_balance", &json!({"account": "nobody"})).unwrap()).1);
        assert!(call(&ledger, "rob_the_vault", &json!({})).is_none());
    }

    #[test]
    fn every_tool_is_listed_with_a_schema_and_annotations() {
        let tools = tools();
        let names: Vec<_> = tools.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["echo", "get_balance", "transfer_funds"]);
        for tool in tools.as_array().unwrap() {
            assert_eq!(tool["inputSchema"]["type"], "object");
            assert!(tool["annotations"]["readOnlyHint"].is_boolean());
            // Every listed tool answers something.
            assert!(call(&ledger(), tool["name"].as_str().unwrap(), &json!({})).is_some());
        }
    }
}
