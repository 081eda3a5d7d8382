//! HTTPS with the default features: the client speaks TLS through rustls
//! on ring without any process-wide crypto provider (building it must not
//! panic), and failures arrive as `Error::Transport`.

use lictor_client::{Error, Gateway};

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unreachable_https_gateway_is_a_transport_error() {
    let gateway = Gateway::new(format!("https://127.0.0.1:{}", closed_port()));
    let error = gateway.retrying(|| gateway.api().health_check().send()).await.unwrap_err();
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
}

#[tokio::test]
async fn a_plain_http_server_addressed_as_https_fails_the_handshake_cleanly() {
    // A server that answers in clear text: the TLS handshake starts (the
    // ClientHello goes out through rustls) and fails.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
        }
    });
    let gateway = Gateway::new(format!("https://127.0.0.1:{port}"));
    let error = gateway.retrying(|| gateway.api().health_check().send()).await.unwrap_err();
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
}

/// A server that answers every request `503 outcome_unknown` and records
/// each request's `Idempotency-Key`.
async fn outcome_unknown_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // The head, then as much body as it announces.
                let head_end = loop {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_lowercase();
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(|v| v.trim().to_string()))
                };
                let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                while request.len() < head_end + length {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..n]);
                }
                record.lock().unwrap().push(header("idempotency-key"));
                let body =
                    r#"{"error_code":"outcome_unknown","message":"may have been recorded","request_id":"r"}"#;
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

/// `outcome_unknown` may mean "recorded": an intent declaration (which
/// carries an `Idempotency-Key`) is retried under the same key; any other
/// call is not repeated.
#[tokio::test]
async fn outcome_unknown_is_retried_only_under_an_idempotency_key() {
    use lictor_client::{ErrorCode, RetryPolicy, types};
    let (url, seen) = outcome_unknown_server().await;
    let retry = RetryPolicy {
        max_retries: 2,
        base_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(5),
    };
    let gateway = Gateway::new(url).api_key("lictor_live_x").retry_policy(retry);

    let intent = lictor_client::intent("bot", types::ActionType::Access, "read").unwrap();
    let error = gateway.declare_intent(intent).await.unwrap_err();
    assert!(matches!(&error, Error::Api(api) if api.error_code == ErrorCode::OutcomeUnknown), "{error:?}");
    let keys = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys[0].is_some() && keys.iter().all(|k| k == &keys[0]), "{keys:?}");

    let body = types::AgentCreate {
        id: "bot".parse().unwrap(),
        name: "Bot".parse().unwrap(),
        owner: "ops".parse().unwrap(),
        description: None,
        budget: None,
    };
    let error =
        gateway.retrying(|| gateway.api().agent_create().body(body.clone()).send()).await.unwrap_err();
    assert!(matches!(&error, Error::Api(api) if api.error_code == ErrorCode::OutcomeUnknown), "{error:?}");
    assert_eq!(seen.lock().unwrap().len(), 1, "a call without a key was repeated");
}
