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
