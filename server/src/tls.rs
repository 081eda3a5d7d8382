//! TLS, served and spoken, with rustls (its `ring` provider).
//!
//! - Served: `--tls-cert`/`--tls-key` (PEM; the chain, leaf first, and its
//!   PKCS #8, PKCS #1 or SEC 1 key). The certificate is reloaded without a
//!   restart when the files change (checked every `--tls-reload-seconds`)
//!   or on SIGHUP: new handshakes get the new one, open connections keep
//!   theirs, and a pair that does not load (half-written, mismatched)
//!   leaves the current one in place. `--tls-client-ca` asks every client
//!   for a certificate chained to one of its CAs (mutual TLS).
//! - Spoken: requests to upstream MCP servers, webhooks and witnesses
//!   verify certificates against the system's roots plus `--ca-file`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};
use tokio::task::JoinHandle;

/// What `--tls-*` configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// CAs a client certificate must chain to; `None` asks for none.
    pub client_ca: Option<PathBuf>,
    /// How often the files are checked for a new certificate.
    pub reload_interval: Duration,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{what} `{path}`: {error}")]
    Read {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A file's contents are not what they must be.
    #[error("{what} `{path}`: {reason}")]
    Invalid {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read { what, path: path.to_path_buf(), error })
}

fn invalid(what: &'static str, path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::Invalid { what, path: path.to_path_buf(), reason: reason.to_string() }
}

/// The certificates of a PEM file (at least one).
fn certificates(
    what: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(what, path, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(what, path, "holds no `BEGIN CERTIFICATE` block"));
    }
    Ok(certs)
}

/// A certificate and key as loaded, with the digest of the files they
/// came from (to tell a change).
struct Loaded {
    certified: Arc<CertifiedKey>,
    files: [u8; 32],
}

fn load(settings: &TlsSettings, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
    let cert_pem = read("TLS certificate", &settings.cert)?;
    let key_pem = read("TLS key", &settings.key)?;
    let chain = certificates("TLS certificate", &settings.cert, &cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid("TLS key", &settings.key, format!("no PEM private key (PKCS #8, PKCS #1 or SEC 1): {e}"))
    })?;
    let certified = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| invalid("TLS key", &settings.key, format!("does not go with the certificate: {e}")))?;
    Ok(Loaded { certified: Arc::new(certified), files: digest(&cert_pem, &key_pem) })
}

fn digest(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(Sha256::digest(cert_pem));
    hasher.update(Sha256::digest(key_pem));
    hasher.finalize().into()
}

/// The SHA-256 fingerprint of a certificate (hex), as logged.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    hex::encode(Sha256::digest(cert.as_ref()))
}

/// Hands every handshake the current certificate.
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|current| Arc::clone(&current))
    }
}

/// The served TLS: the rustls configuration dropshot accepts with, and
/// what reloads its certificate.
pub struct ServerTls {
    config: rustls::ServerConfig,
    current: Arc<CurrentCert>,
    files: [u8; 32],
    settings: TlsSettings,
}

impl ServerTls {
    /// Loads the certificate, its key and the client CAs; any problem is
    /// an error naming the file.
    pub fn load(settings: &TlsSettings) -> Result<ServerTls, TlsError> {
        let provider = provider();
        let loaded = load(settings, &provider)?;
        let current = Arc::new(CurrentCert(RwLock::new(loaded.certified)));
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("TLS certificate", &settings.cert, e))?;
        let builder = match &settings.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let pem = read("TLS client CA", path)?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates("TLS client CA", path, &pem)? {
                    roots.add(cert).map_err(|e| invalid("TLS client CA", path, e))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| invalid("TLS client CA", path, e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls { config, current, files: loaded.files, settings: settings.clone() })
    }

    /// The configuration to serve with.
    pub fn config(&self) -> rustls::ServerConfig {
        self.config.clone()
    }

    /// The leaf certificate's fingerprint.
    pub fn fingerprint(&self) -> String {
        self.current.0.read().ok().and_then(|c| c.end_entity_cert().ok().map(fingerprint)).unwrap_or_default()
    }

    /// Reloads the certificate when its files change (checked every
    /// `reload_interval`) or the process gets SIGHUP.
    pub fn watch(self, log: slog::Logger) -> JoinHandle<()> {
        let ServerTls { current, mut files, settings, .. } = self;
        tokio::spawn(async move {
            let provider = provider();
            let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut tick = tokio::time::interval(settings.reload_interval.max(Duration::from_millis(50)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let signalled = tokio::select! {
                    _ = tick.tick() => false,
                    Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => true,
                };
                match load(&settings, &provider) {
                    Ok(loaded) if loaded.files == files && !signalled => {}
                    Ok(loaded) => {
                        let fingerprint =
                            loaded.certified.end_entity_cert().map(fingerprint).unwrap_or_default();
                        if let Ok(mut slot) = current.0.write() {
                            *slot = loaded.certified;
                        }
                        files = loaded.files;
                        slog::info!(log, "TLS certificate loaded"; "sha256" => fingerprint, "on" => if signalled { "SIGHUP" } else { "file change" });
                    }
                    // A half-written or mismatched pair: keep serving the
                    // current one, and say so once per change.
                    Err(error) => {
                        let seen = std::fs::read(&settings.cert).unwrap_or_default();
                        let now = digest(&seen, &std::fs::read(&settings.key).unwrap_or_default());
                        if now != files || signalled {
                            slog::error!(log, "TLS certificate not reloaded; the current one stays"; "error" => %error);
                            files = now;
                        }
                    }
                }
            }
        })
    }
}

/// The outbound TLS roots: the system's plus `--ca-file`'s.
#[derive(Clone, Debug, Default)]
pub struct OutboundRoots {
    certificates: Vec<reqwest::Certificate>,
    pem: Vec<u8>,
}

impl OutboundRoots {
    /// The CAs of `ca_file` (PEM, one or more), beside the system's.
    pub fn load(ca_file: Option<&Path>) -> Result<OutboundRoots, TlsError> {
        let Some(path) = ca_file else { return Ok(OutboundRoots::default()) };
        let pem = read("CA file", path)?;
        // Checked as rustls reads them, so a bad file fails here.
        certificates("CA file", path, &pem)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid("CA file", path, e))?;
        Ok(OutboundRoots { certificates: certs, pem })
    }

    /// The extra CAs as PEM (empty without `--ca-file`), for clients that
    /// are not `reqwest`'s.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The gateway's outbound HTTP client, to be given its timeouts: these
    /// roots trusted too, redirects never followed (the URL configured is
    /// the one reached), the gateway's user agent.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        self.apply(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lictor/", env!("CARGO_PKG_VERSION")))
    }

    /// `builder` trusting these roots too.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        match self.certificates.is_empty() {
            true => builder,
            false => builder.tls_certs_merge(self.certificates.iter().cloned()),
        }
    }
}
