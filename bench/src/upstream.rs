//! A minimal, fast upstream MCP server for the `tools/call` benchmark: the
//! legacy Streamable HTTP transport (2025-11-25, sessions), one `echo` tool,
//! JSON answers. It runs in its own process so its work is not charged to
//! the gateway.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

fn answer(status: StatusCode, body: &Value, session: Option<&str>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    if let Some(session) = session.and_then(|s| http::HeaderValue::from_str(s).ok()) {
        response.headers_mut().insert("mcp-session-id", session);
    }
    response
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if request.method() == http::Method::DELETE {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        return Ok(response);
    }
    let body = request.into_body().collect().await?.to_bytes();
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            &json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": -32700, "message": "parse error"}}),
            None,
        ));
    };
    let Some(id) = message.get("id").cloned() else {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::ACCEPTED;
        return Ok(response);
    };
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => {
            let result = json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                "serverInfo": {"name": "lictor-bench-upstream", "version": env!("CARGO_PKG_VERSION")}});
            let session = uuid::Uuid::new_v4().to_string();
            return Ok(answer(
                StatusCode::OK,
                &json!({"jsonrpc": "2.0", "id": id, "result": result}),
                Some(&session),
            ));
        }
        "ping" => json!({}),
        "tools/list" => json!({"tools": [{"name": "echo", "description": "Returns the text it is given.",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "annotations": {"readOnlyHint": true, "openWorldHint": false}}]}),
        "tools/call" => {
            let text = message["params"]["arguments"]["text"].as_str().unwrap_or_default();
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        _ => {
            return Ok(answer(
                StatusCode::OK,
                &json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "method not found"}}),
                None,
            ));
        }
    };
    Ok(answer(StatusCode::OK, &json!({"jsonrpc": "2.0", "id": id, "result": result}), None))
}

/// Serves on `listen` until the process ends; prints the bound URL first.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("http://{}/mcp", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(handle)).await;
        });
    }
}
