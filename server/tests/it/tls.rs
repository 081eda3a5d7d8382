//! TLS with certificates made here (`rcgen`): HTTPS served and reloaded in
//! place, client certificates, and upstreams behind a private CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lictor_server::catalog::ConfiguredUpstream;
use lictor_server::tls::TlsSettings;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::support::mcp_server::McpServer;
use crate::support::process::Deployment;
use crate::support::{Backend, TestGateway};

/// A certificate authority made for one test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, in PEM.
#[derive(Clone)]
struct Leaf {
    cert: String,
    key: String,
}

impl Leaf {
    /// The SHA-256 of the certificate's DER.
    fn fingerprint(&self) -> String {
        let der = CertificateDer::from_pem_slice(self.cert.as_bytes()).unwrap();
        hex::encode(Sha256::digest(der.as_ref()))
    }

    /// Writes it as `cert.pem` and `key.pem` in `dir`.
    fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert, key)
    }

    fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert, self.key).as_bytes()).unwrap()
    }
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Ca { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn certificate(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.pem().as_bytes()).unwrap()
    }

    /// A server certificate for 127.0.0.1.
    fn server(&self) -> Leaf {
        self.leaf(CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap())
    }

    /// A client certificate.
    fn client(&self, name: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.leaf(params)
    }

    fn leaf(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }
}

/// A client trusting `ca` alone, showing the peer's certificate.
fn client(ca: &Ca) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_certs_only([ca.certificate()])
        .tls_info(true)
        .timeout(Duration::from_secs(10))
}

/// The fingerprint of the certificate `url` presented, or the error.
async fn presented(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client.get(format!("{url}/healthz")).send().await.map_err(|e| format!("{e:?}"))?;
    assert_eq!(response.status(), 200);
    let info = response.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info");
    Ok(hex::encode(Sha256::digest(info.peer_certificate().expect("a peer certificate"))))
}

/// Waits until a new connection to `url` is served `leaf`.
async fn until_served(ca: &Ca, url: &str, leaf: &Leaf) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let fresh = client(ca).build().unwrap();
        let seen = presented(&fresh, url).await;
        if seen.as_deref() == Ok(leaf.fingerprint().as_str()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "still served {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn settings(cert: PathBuf, key: PathBuf, client_ca: Option<PathBuf>) -> TlsSettings {
    TlsSettings { cert, key, client_ca, reload_interval: Duration::from_millis(100) }
}

/// HTTPS with the configured certificate, to clients that trust its CA
/// only; a new certificate written over the files is served to new
/// connections while open ones keep theirs, and a broken one is not
/// taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_certificates_are_reloaded_in_place() {
    let ca = Ca::new("lictor test CA");
    let dir = tempfile::tempdir().unwrap();
    let first = ca.server();
    let (cert, key) = first.write(dir.path());
    let gw = TestGateway::start_with(Backend::Sqlite, |c| c.tls = Some(settings(cert, key, None))).await;
    let url = gw.url.clone();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let kept = client(&ca).pool_max_idle_per_host(1).build().unwrap();
    assert_eq!(presented(&kept, &url).await, Ok(first.fingerprint()));
    // Plain HTTP, or a client that does not trust the CA, gets nothing.
    let plain = url.replacen("https://", "http://", 1);
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err());
    let untrusting = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let refused = untrusting.get(format!("{url}/healthz")).send().await.unwrap_err();
    assert!(format!("{refused:?}").contains("UnknownIssuer"), "{refused:?}");

    let second = ca.server();
    second.write(dir.path());
    until_served(&ca, &url, &second).await;
    // The connection opened before the reload is still open, still on the first.
    assert_eq!(presented(&kept, &url).await, Ok(first.fingerprint()));

    // A broken certificate is not taken: the second one stays.
    std::fs::write(dir.path().join("cert.pem"), "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh = client(&ca).build().unwrap();
    assert_eq!(presented(&fresh, &url).await, Ok(second.fingerprint()));
    // A certificate with another key than the one on disk is not taken either.
    std::fs::write(dir.path().join("cert.pem"), ca.server().cert).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh = client(&ca).build().unwrap();
    assert_eq!(presented(&fresh, &url).await, Ok(second.fingerprint()));
}

/// With `--tls-client-ca`, only clients with a certificate from that CA
/// get through the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_when_a_client_ca_is_set() {
    let (servers, clients, strangers) = (Ca::new("servers"), Ca::new("clients"), Ca::new("strangers"));
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = servers.server().write(dir.path());
    let client_ca = dir.path().join("clients.pem");
    std::fs::write(&client_ca, clients.pem()).unwrap();
    let gw = TestGateway::start_with(Backend::Sqlite, |c| c.tls = Some(settings(cert, key, Some(client_ca))))
        .await;
    let url = gw.url.clone();

    let anonymous = client(&servers).build().unwrap();
    assert!(presented(&anonymous, &url).await.is_err(), "a client without a certificate got through");
    let stranger = client(&servers).identity(strangers.client("agent").identity()).build().unwrap();
    assert!(presented(&stranger, &url).await.is_err(), "a client of another CA got through");
    let known = client(&servers).identity(clients.client("agent").identity()).build().unwrap();
    assert!(presented(&known, &url).await.is_ok());
}

/// TLS in front of a plain server: the certificate `leaf`, forwarding to `target`.
async fn tls_proxy(target: SocketAddr, leaf: &Leaf) -> SocketAddr {
    let certs = CertificateDer::pem_slice_iter(leaf.cert.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await
                    && let Ok(mut plain) = tokio::net::TcpStream::connect(target).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    address
}

/// An upstream whose certificate comes from a private CA is refused
/// until `--ca-file` names that CA; the system's roots still count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_behind_a_private_ca_needs_the_ca_file() {
    let ca = Ca::new("private upstreams");
    let upstream = McpServer::builder().start().await;
    let plain: SocketAddr =
        upstream.url().trim_start_matches("http://").trim_end_matches("/mcp").parse().unwrap();
    let proxy = tls_proxy(plain, &ca.server()).await;
    let url = format!("https://{proxy}/mcp");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    for trusted in [false, true] {
        let (url, ca_file) = (url.clone(), ca_file.clone());
        let gw = TestGateway::start_with(Backend::Sqlite, move |c| {
            c.upstreams = vec![ConfiguredUpstream {
                name: lictor_api::tokens::UpstreamName::parse("mail").unwrap(),
                url,
                credential: None,
            }];
            c.ca_file = trusted.then_some(ca_file);
        })
        .await;
        let f = gw.tenant_fixture().await;
        let body = json!({"tool": "mail.echo", "agent_id": "agent-1", "arguments": {"text": "over tls"}});
        let answer = gw.post("/v1/tool-call", &f.live, &body).await;
        match trusted {
            false => {
                answer.expect_error(502, "upstream_unavailable");
            }
            true => assert_eq!(answer.expect(200)["result"]["structuredContent"]["text"], "over tls"),
        }
    }
    assert_eq!(upstream.calls().len(), 1, "only the gateway trusting the CA reached the upstream");
}

/// A certificate or CA file that cannot be used stops the start, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_files_stop_the_start() {
    let ca = Ca::new("ca");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.server().write(dir.path());
    let other_key = dir.path().join("other.pem");
    std::fs::write(&other_key, ca.server().key).unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (Some(settings(missing.clone(), key.clone(), None)), None, "TLS certificate"),
        (Some(settings(garbage.clone(), key.clone(), None)), None, "holds no `BEGIN CERTIFICATE` block"),
        (Some(settings(cert.clone(), other_key.clone(), None)), None, "does not go with the certificate"),
        (Some(settings(cert.clone(), key.clone(), Some(garbage.clone()))), None, "TLS client CA"),
        (None, Some(garbage.clone()), "CA file"),
    ];
    for (tls, ca_file, expected) in cases {
        let mut config = crate::support::test_config();
        config.data_dir = dir.path().join("data");
        config.tls = tls;
        config.ca_file = ca_file;
        let log = lictor_server::gateway::logger(&config).unwrap();
        let error = match lictor_server::start(config, log).await {
            Ok(gateway) => {
                let _ = gateway.stop().await;
                panic!("started without {expected}");
            }
            Err(error) => error.to_string(),
        };
        assert!(error.contains(expected), "{error}");
    }
}

/// `lictor audit monitor --ca-file` witnesses a gateway whose certificate
/// comes from a private CA; without it the gateway cannot be reached (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_reaches_an_https_gateway_with_its_ca() {
    let ca = Ca::new("ca");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.server().write(dir.path());
    let gw = TestGateway::start_with(Backend::Sqlite, |c| {
        c.tls = Some(settings(cert, key, None));
        c.checkpoints.every = 1;
        c.checkpoints.interval = Duration::from_millis(100);
    })
    .await
    .trusting(ca.certificate());
    let f = gw.tenant_fixture().await;
    let keys_file = dir.path().join("keys.json");
    let keys = gw.call(reqwest::Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
    std::fs::write(&keys_file, keys.to_string()).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let state = dir.path().join("checkpoint.note");
    let monitor = |with_ca: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lictor"));
        command.args(["audit", "monitor", &gw.url, "--key"]).arg(&keys_file).arg("--state").arg(&state);
        if with_ca {
            command.arg("--ca-file").arg(&ca_file);
        }
        command.env("LICTOR_API_KEY", &f.admin);
        tokio::task::block_in_place(|| command.output().unwrap())
    };
    let witnessed = crate::support::eventually(Duration::from_secs(10), async || {
        let output = monitor(true);
        (output.status.code() == Some(0)).then_some(output)
    })
    .await
    .expect("the witness saved a checkpoint");
    assert!(String::from_utf8_lossy(&witnessed.stdout).starts_with("ok:"));
    let refused = monitor(false);
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
}

/// SIGHUP reloads the certificate at once (the process keeps running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate() {
    let ca = Ca::new("ca");
    let dir = tempfile::tempdir().unwrap();
    let first = ca.server();
    let (cert, key) = first.write(dir.path());
    let mut deployment = Deployment::new(Backend::Sqlite).await;
    let (cert, key) = (cert.to_str().unwrap().to_string(), key.to_str().unwrap().to_string());
    let url = deployment
        .start_with(&[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-reload-seconds",
            "3600",
            "--log-level",
            "info",
        ])
        .await;
    assert!(url.starts_with("https://"), "{url}");
    assert_eq!(presented(&client(&ca).build().unwrap(), &url).await, Ok(first.fingerprint()));
    let second = ca.server();
    second.write(dir.path());
    let pid = deployment.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    until_served(&ca, &url, &second).await;
    assert!(deployment.is_running());
    let logged = crate::support::eventually(Duration::from_secs(5), async || {
        let log = deployment.log();
        (log.contains("TLS certificate loaded") && log.contains("on=SIGHUP")).then_some(())
    })
    .await;
    assert!(logged.is_some(), "{}", deployment.log());
}

/// `lictor healthcheck` (the image's HEALTHCHECK) asks the management
/// listener when there is one, so it works whatever TLS the API speaks;
/// with TLS and no such listener it says what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_asks_the_management_listener() {
    let ca = Ca::new("ca");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.server().write(dir.path());
    let gw = TestGateway::start_with(Backend::Sqlite, |c| {
        c.tls = Some(settings(cert.clone(), key.clone(), None));
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let management = gw.metrics_url().unwrap().trim_start_matches("http://").to_string();
    let api = gw.url.trim_start_matches("https://").to_string();
    let healthcheck = |env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lictor"));
        command.arg("healthcheck").env_remove("LICTOR_METRICS_LISTEN").env_remove("LICTOR_TLS_CERT");
        command.envs(env.iter().copied());
        tokio::task::block_in_place(|| command.output().unwrap())
    };
    let cert = cert.to_str().unwrap();
    let healthy = healthcheck(&[
        ("LICTOR_LISTEN", &api),
        ("LICTOR_METRICS_LISTEN", &management),
        ("LICTOR_TLS_CERT", cert),
    ]);
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stderr));
    let refused = healthcheck(&[("LICTOR_LISTEN", &api), ("LICTOR_TLS_CERT", cert)]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("set LICTOR_METRICS_LISTEN"));
    // Plain HTTP against the HTTPS port is no answer: unhealthy.
    let wrong = healthcheck(&[("LICTOR_LISTEN", &api)]);
    assert_eq!(wrong.status.code(), Some(1));
}
