//! The entry point: a gateway address, a credential, and the retry policy
//! every call goes through.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use progenitor_client::ResponseValue;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::error::{ApiError, Error, ErrorCode};
use crate::generated::{self, types};

/// When and how long to wait before retrying an answer that says "later":
/// `429` and `503` (a `store_unavailable` gateway wrote nothing).
///
/// The delay before retry `n` (from 1) is `base × 2^(n-1)`, capped at `max`,
/// with full jitter (a random delay up to it), unless the gateway sent
/// `Retry-After`, which wins (capped at `max` too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// The first delay.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry `retry` (from 1), given the `Retry-After`
    /// seconds the gateway sent, if any.
    pub fn delay(&self, retry: u32, retry_after: Option<u64>) -> Duration {
        if let Some(seconds) = retry_after {
            return Duration::from_secs(seconds).min(self.max_delay);
        }
        let exponent = retry.saturating_sub(1).min(20);
        let ceiling = self.base_delay.saturating_mul(1 << exponent).min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        // Full jitter: clients retrying after the same failure spread out.
        Duration::from_millis(if millis == 0 { 0 } else { rand::random_range(0..=millis) })
    }
}

/// A Lictor gateway, as one credential sees it. Cheap to clone.
///
/// ```no_run
/// # async fn example() -> Result<(), lictor_client::Error> {
/// let admin = lictor_client::Gateway::new("http://127.0.0.1:8080").api_key("lictor_admin_…");
/// let tenants = admin.retrying(|| admin.api().tenant_list().send()).await?;
/// # let _ = tenants; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) api: generated::Client,
    pub(crate) credential: Option<String>,
    pub(crate) retry: RetryPolicy,
    /// The MCP session `initialize` opened (2025 revisions), shared by clones.
    pub(crate) mcp_session: Mutex<Option<String>>,
}

impl Gateway {
    /// A gateway at `url` (e.g. `http://127.0.0.1:8080`), without credentials
    /// (enough for `/healthz` and the published keys).
    pub fn new(url: impl Into<String>) -> Gateway {
        let base_url = url.into().trim_end_matches('/').to_string();
        Gateway::build(base_url, None, RetryPolicy::default())
    }

    /// The same gateway with an API key (`lictor_admin_…`, `lictor_live_…`,
    /// `lictor_shadow_…`, `lictor_test_…`).
    pub fn api_key(self, key: impl Into<String>) -> Gateway {
        Gateway::build(self.inner.base_url.clone(), Some(key.into()), self.inner.retry.clone())
    }

    /// The same gateway with a capability token (`lictor_cap1.…`) instead.
    pub fn token(self, token: impl Into<String>) -> Gateway {
        self.api_key(token)
    }

    /// The same gateway with another retry policy.
    pub fn retry_policy(self, retry: RetryPolicy) -> Gateway {
        Gateway::build(self.inner.base_url.clone(), self.inner.credential.clone(), retry)
    }

    fn build(base_url: String, credential: Option<String>, retry: RetryPolicy) -> Gateway {
        let mut headers = HeaderMap::new();
        // A credential that cannot be a header value is left out: the
        // gateway then answers `401 unauthenticated`, as for a wrong one.
        if let Some(value) =
            credential.as_ref().and_then(|c| HeaderValue::from_str(&format!("Bearer {c}")).ok())
        {
            let mut value = value;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("lictor-client-rust/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10));
        let http = with_tls(builder).build().unwrap_or_default();
        let api = generated::Client::new_with_client(&base_url, http.clone());
        Gateway {
            inner: Arc::new(Inner { base_url, http, api, credential, retry, mcp_session: Mutex::new(None) }),
        }
    }

    /// The generated client, for every operation of the API (administration
    /// included), authenticated with this gateway's credential. Wrap calls in
    /// [`Gateway::retrying`] for retries and typed errors.
    pub fn api(&self) -> &generated::Client {
        &self.inner.api
    }

    /// The gateway's address.
    pub fn url(&self) -> &str {
        &self.inner.base_url
    }

    /// The HTTP client, with the credential as a default header.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Runs a generated call, retrying `429` and `503` answers as the
    /// [`RetryPolicy`] says, and answers its body or a typed [`Error`].
    ///
    /// `503 outcome_unknown` is not retried: the gateway may have recorded
    /// the request, and a retry without an `Idempotency-Key` could record
    /// it twice. The SDK's own intent declarations, which always carry a
    /// key, do retry it.
    ///
    /// ```no_run
    /// # async fn example(gateway: lictor_client::Gateway) -> Result<(), lictor_client::Error> {
    /// let agents = gateway.retrying(|| gateway.api().agent_list().limit(10).send()).await?;
    /// # let _ = agents; Ok(()) }
    /// ```
    pub async fn retrying<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, progenitor_client::Error<types::Error>>>,
    {
        self.retry(call, false).await
    }

    /// [`Gateway::retrying`] for a call that carries an `Idempotency-Key`
    /// on every attempt (the same one): `outcome_unknown` is retried too,
    /// since the gateway replays what it recorded under the key.
    pub(crate) async fn retrying_keyed<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, progenitor_client::Error<types::Error>>>,
    {
        self.retry(call, true).await
    }

    async fn retry<T, F, Fut>(&self, mut call: F, keyed: bool) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, progenitor_client::Error<types::Error>>>,
    {
        let mut retry = 0;
        loop {
            match call().await {
                Ok(value) => return Ok(value.into_inner()),
                Err(error) => {
                    let error = convert(error).await;
                    if let Error::Api(api) = &error
                        && matches!(api.status, 429 | 503)
                        && (keyed || api.error_code != ErrorCode::OutcomeUnknown)
                        && retry < self.inner.retry.max_retries
                    {
                        retry += 1;
                        tokio::time::sleep(self.inner.retry.delay(retry, api.retry_after)).await;
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }
}

/// With the `rustls` feature alone: rustls on the ring provider, trusting
/// the platform's certificate store. The configuration is handed to reqwest
/// whole, so no process-wide crypto provider is installed (or needed).
#[cfg(all(feature = "rustls", not(feature = "rustls-aws-lc"), not(feature = "native-tls")))]
fn with_tls(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    // rustls 0.23.48 deprecates the ring provider for its lack of
    // post-quantum key exchange (X25519MLKEM768); it stays the default
    // here because it needs no C build. `rustls-aws-lc` has it.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|config| config.with_platform_verifier());
    match config {
        Ok(config) => builder.tls_backend_preconfigured(config.with_no_client_auth()),
        // No usable certificate store: plain HTTP still works, and HTTPS
        // fails with a transport error naming the cause.
        Err(_) => builder,
    }
}

/// Otherwise reqwest's own TLS backend, as the features chose it
/// (`rustls-aws-lc`, `native-tls`), or plain HTTP only.
#[cfg(not(all(feature = "rustls", not(feature = "rustls-aws-lc"), not(feature = "native-tls"))))]
fn with_tls(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
}

/// `Retry-After` as seconds (the delta form; dates are ignored).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

/// A generated call's error as this SDK's.
pub(crate) async fn convert(error: progenitor_client::Error<types::Error>) -> Error {
    match error {
        progenitor_client::Error::ErrorResponse(value) => {
            let status = value.status().as_u16();
            let after = retry_after(value.headers());
            Error::Api(ApiError::from_body(status, value.into_inner(), after))
        }
        progenitor_client::Error::UnexpectedResponse(response) => unexpected(response).await,
        progenitor_client::Error::InvalidRequest(message) => Error::InvalidArgument(message),
        progenitor_client::Error::InvalidResponsePayload(bytes, error) => {
            Error::Unexpected { status: 0, body: format!("{error}: {}", String::from_utf8_lossy(&bytes)) }
        }
        other => Error::Transport(other.to_string()),
    }
}

/// An answer outside the contract, or an HTTP error read by hand.
pub(crate) async fn unexpected(response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let after = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<types::Error>(&text) {
        Ok(body) => Error::Api(ApiError::from_body(status, body, after)),
        Err(_) => Error::Unexpected { status, body: text },
    }
}

/// A transport failure as an [`Error`].
pub(crate) fn transport(error: reqwest::Error) -> Error {
    Error::Transport(error.to_string())
}
