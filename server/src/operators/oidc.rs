//! The deployment's OpenID Connect providers.
//!
//! Each is configured by `LICTOR_OIDC_<NAME>` (a JSON object, or `@file`),
//! discovered from `<issuer>/.well-known/openid-configuration` on first
//! use, and its signing keys (JWKS) cached: a token signed with a key the
//! cache does not know makes one refetch, at most one every
//! [`MIN_REFETCH`] however many such tokens arrive, so a forged `kid`
//! cannot make the gateway hammer the provider.
//!
//! Tokens are checked with the `jsonwebtoken` crate (signature, `exp`,
//! `nbf`, `iss`, `aud`, bounded leeway) after the gateway picked the
//! algorithm from its own allow-list and the key from the provider's set
//! (the header's `alg` must fit the key's type and curve: no algorithm
//! confusion), and checked the token's kind from its `typ`: an access
//! token (`at+jwt`, RFC 9068) is never taken for an ID token, nor the
//! reverse.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lictor_api::operators::ProviderName;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The prefix of the variables configuring providers.
pub const ENV_PREFIX: &str = "LICTOR_OIDC_";

/// The signature algorithms accepted: asymmetric only (`none` and the
/// HMAC family never verify a provider's token).
pub const ALGORITHMS: [Algorithm; 4] =
    [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA];

/// The most clock skew tolerated, in seconds.
pub const MAX_LEEWAY: u64 = 60;

/// At most one key-set refetch in this time.
pub const MIN_REFETCH: Duration = Duration::from_secs(5);

/// A key set older than this is refetched when next used (retired keys go).
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);

/// Discovery is refreshed this often.
const METADATA_MAX_AGE: Duration = Duration::from_secs(3600);

/// The longest token read.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// One provider's configuration (docs/operators.md, "Identity providers").
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// The issuer URL, exactly as the provider states it.
    pub issuer: String,
    /// The gateway's client id at the provider.
    pub client_id: String,
    /// Its client secret (`client_secret_basic`); without one, the gateway
    /// is a public client and relies on PKCE alone.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes asked at sign-in (must include `openid`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Audiences a bearer access token may be for (default: the client id).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The claim naming the person's user name (matched with SCIM's
    /// `userName`).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim holding the email address.
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    /// The claim holding the display name.
    #[serde(default = "default_name_claim")]
    pub name_claim: String,
    /// The claim holding the person's groups (or roles).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Members of these groups are the deployment's superadmins.
    #[serde(default)]
    pub superadmin_groups: Vec<String>,
    /// Clock skew tolerated, in seconds (at most 60; default 30).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// A name to show on the sign-in page.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}
fn default_username_claim() -> String {
    "email".into()
}
fn default_email_claim() -> String {
    "email".into()
}
fn default_name_claim() -> String {
    "name".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_leeway() -> u64 {
    30
}

impl ProviderSettings {
    /// Checks the settings, naming the bad field.
    pub fn check(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.issuer).map_err(|e| format!("`issuer` is not a URL: {e}"))?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err("`issuer` must be an https URL (plain http only on the loopback interface)".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("`issuer` must not have a query or fragment".into());
        }
        let text = |name: &str, value: &str| {
            if value.is_empty() || value.len() > 512 || value.chars().any(char::is_control) {
                Err(format!("`{name}` must be 1 to 512 characters without control characters"))
            } else {
                Ok(())
            }
        };
        text("client_id", &self.client_id)?;
        if let Some(secret) = &self.client_secret {
            text("client_secret", secret)?;
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err("`scopes` must include `openid`".into());
        }
        for scope in &self.scopes {
            if scope.is_empty() || !scope.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
                return Err(format!("`scopes`: `{scope}` is not a scope token"));
            }
        }
        for (name, value) in [
            ("username_claim", &self.username_claim),
            ("email_claim", &self.email_claim),
            ("name_claim", &self.name_claim),
            ("groups_claim", &self.groups_claim),
        ] {
            text(name, value)?;
        }
        for audience in &self.audiences {
            text("audiences", audience)?;
        }
        for group in &self.superadmin_groups {
            text("superadmin_groups", group)?;
        }
        if self.leeway_seconds > MAX_LEEWAY {
            return Err(format!("`leeway_seconds` must be at most {MAX_LEEWAY}"));
        }
        Ok(())
    }

    /// The audiences a bearer access token may name.
    pub fn audiences(&self) -> Vec<String> {
        if self.audiences.is_empty() { vec![self.client_id.clone()] } else { self.audiences.clone() }
    }
}

/// The providers `LICTOR_OIDC_<NAME>` variables configure, by name.
pub fn from_env(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(ProviderName, ProviderSettings)>, String> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let mut providers = Vec::new();
    for (key, name, json) in crate::sinks::settings::env_values(&vars, ENV_PREFIX)? {
        let name = ProviderName::parse(name).map_err(|e| format!("{key}: {e}"))?;
        let settings: ProviderSettings =
            serde_json::from_str(&json).map_err(|e| format!("{key}: not valid provider settings: {e}"))?;
        settings.check().map_err(|e| format!("{key}: {e}"))?;
        providers.push((name, settings));
    }
    let mut issuers = std::collections::HashSet::new();
    for (name, settings) in &providers {
        if !issuers.insert(settings.issuer.as_str()) {
            return Err(format!("{ENV_PREFIX}{}: another provider has the issuer {}", name, settings.issuer));
        }
    }
    Ok(providers)
}

/// Why a token is refused, or a provider cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The provider's metadata or keys cannot be fetched.
    #[error("identity provider `{0}` cannot be reached: {1}")]
    Unreachable(String, String),
    /// The token is refused.
    #[error("{0}")]
    Refused(String),
}

fn refused(message: impl Into<String>) -> OidcError {
    OidcError::Refused(message.into())
}

/// What discovery says.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    /// The issuer, byte for byte the configured one.
    pub issuer: String,
    /// Where browsers are sent to sign in.
    pub authorization_endpoint: String,
    /// Where codes are exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// Where browsers are sent to sign out (RP-initiated logout).
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// The PKCE methods supported.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

/// A verified token's claims.
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Audience(s).
    pub aud: OneOrMany,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    #[serde(default)]
    pub iat: Option<i64>,
    /// When the person authenticated.
    #[serde(default)]
    pub auth_time: Option<i64>,
    /// The authentication context class.
    #[serde(default)]
    pub acr: Option<String>,
    /// The authentication methods.
    #[serde(default)]
    pub amr: Option<Vec<String>>,
    /// The authorised party.
    #[serde(default)]
    pub azp: Option<String>,
    /// The sign-in's nonce.
    #[serde(default)]
    pub nonce: Option<String>,
    /// The token's id.
    #[serde(default)]
    pub jti: Option<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One audience or several.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// As a list.
    pub fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(one) => std::slice::from_ref(one),
            OneOrMany::Many(many) => many,
        }
    }
}

impl Claims {
    /// A string claim (`None` when absent or not a string).
    pub fn text(&self, name: &str) -> Option<String> {
        match name {
            "sub" => Some(self.sub.clone()),
            "iss" => Some(self.iss.clone()),
            _ => self.other.get(name).and_then(Value::as_str).map(str::to_string),
        }
    }

    /// A list claim: an array of strings, or one string (some providers
    /// send a single group so).
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.other.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        }
    }
}

/// What a token must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect<'a> {
    /// The ID token of a sign-in this gateway started, with its nonce.
    SignIn {
        /// The nonce the sign-in sent.
        nonce: &'a str,
    },
    /// A bearer token on the API: an access token for one of the
    /// provider's audiences, or an ID token for the gateway's client.
    Bearer,
}

struct Key {
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

struct KeySet {
    keys: HashMap<String, Key>,
    fetched: Instant,
}

/// One configured provider.
pub struct Provider {
    /// Its name.
    pub name: ProviderName,
    /// Its settings.
    pub settings: ProviderSettings,
    http: reqwest::Client,
    metadata: RwLock<Option<(Arc<Metadata>, Instant)>>,
    keys: RwLock<Option<Arc<KeySet>>>,
    /// Serialises fetches, and when the last one started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("name", &self.name).field("issuer", &self.settings.issuer).finish()
    }
}

impl Provider {
    /// A provider reached with `http`.
    pub fn new(name: ProviderName, settings: ProviderSettings, http: reqwest::Client) -> Provider {
        Provider {
            name,
            settings,
            http,
            metadata: RwLock::new(None),
            keys: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(None),
        }
    }

    fn unreachable(&self, message: impl std::fmt::Display) -> OidcError {
        OidcError::Unreachable(self.name.to_string(), message.to_string())
    }

    /// The provider's metadata, discovered when first asked and refreshed
    /// hourly (a stale copy serves while the provider is down).
    pub async fn metadata(&self) -> Result<Arc<Metadata>, OidcError> {
        let known = self.metadata.read().ok().and_then(|m| m.clone());
        if let Some((metadata, at)) = &known
            && at.elapsed() < METADATA_MAX_AGE
        {
            return Ok(metadata.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer.trim_end_matches('/'));
        let fetched: Result<Metadata, OidcError> = self.get_json(&url).await;
        let metadata = match (fetched, known) {
            (Ok(metadata), _) => metadata,
            (Err(_), Some((metadata, _))) => return Ok(metadata),
            (Err(error), None) => return Err(error),
        };
        // OpenID Connect Discovery 1.0, 4.3: the issuer must be the very one.
        if metadata.issuer != self.settings.issuer {
            return Err(self.unreachable(format!(
                "its discovery document names the issuer `{}`, not `{}`",
                metadata.issuer, self.settings.issuer
            )));
        }
        let metadata = Arc::new(metadata);
        if let Ok(mut slot) = self.metadata.write() {
            *slot = Some((metadata.clone(), Instant::now()));
        }
        Ok(metadata)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response =
            self.http.get(url).send().await.map_err(|e| self.unreachable(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(self.unreachable(format!("{url} answered {}", response.status())));
        }
        let bytes = response.bytes().await.map_err(|e| self.unreachable(format!("{url}: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.unreachable(format!("{url}: not the expected JSON: {e}")))
    }

    /// The key set holding `kid`: the cached one while it is fresh and
    /// knows it; else a refetch, at most one per [`MIN_REFETCH`] (callers
    /// arriving meanwhile wait for it and share its result).
    async fn key_set_for(&self, kid: &str) -> Result<Arc<KeySet>, OidcError> {
        let usable = |set: &KeySet| set.keys.contains_key(kid) && set.fetched.elapsed() < KEYS_MAX_AGE;
        let cached = || self.keys.read().ok().and_then(|k| k.clone());
        if let Some(set) = cached().filter(|s| usable(s)) {
            return Ok(set);
        }
        let mut last = self.fetching.lock().await;
        let known = cached();
        if let Some(set) = known.clone().filter(|s| usable(s)) {
            return Ok(set);
        }
        if last.is_some_and(|at| at.elapsed() < MIN_REFETCH) {
            return match known {
                Some(set) if set.keys.contains_key(kid) => Ok(set),
                _ => Err(refused(format!("the token's signing key `{kid}` is not one of the provider's"))),
            };
        }
        *last = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(set) => {
                let set = Arc::new(set);
                if let Ok(mut slot) = self.keys.write() {
                    *slot = Some(set.clone());
                }
                if set.keys.contains_key(kid) {
                    Ok(set)
                } else {
                    Err(refused(format!("the token's signing key `{kid}` is not one of the provider's")))
                }
            }
            // The provider is down: known keys keep verifying.
            Err(_) if known.as_ref().is_some_and(|s| s.keys.contains_key(kid)) => {
                known.ok_or_else(|| refused("no keys"))
            }
            Err(error) => Err(error),
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, OidcError> {
        #[derive(Deserialize)]
        struct Raw {
            keys: Vec<Value>,
        }
        let metadata = self.metadata().await?;
        let raw: Raw = self.get_json(&metadata.jwks_uri).await?;
        let mut keys = HashMap::new();
        // Key by key: one the gateway cannot use does not void the others.
        for value in raw.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else { continue };
            let (Some(kid), Some(algorithms)) = (jwk.common.key_id.clone(), usable_algorithms(&jwk)) else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(&jwk) {
                keys.insert(kid, Key { algorithms, key });
            }
        }
        Ok(KeySet { keys, fetched: Instant::now() })
    }

    /// Verifies `token` as `expect` says.
    pub async fn verify(&self, token: &str, expect: Expect<'_>) -> Result<Claims, OidcError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(refused("the token is too long"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| refused(format!("malformed token: {e}")))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(refused(format!("tokens signed with {:?} are not accepted", header.alg)));
        }
        let typ = header.typ.as_deref().map(str::to_ascii_lowercase);
        let access = matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt"));
        let id_token = matches!(typ.as_deref(), None | Some("jwt"));
        let audiences = match expect {
            Expect::SignIn { .. } if id_token => vec![self.settings.client_id.clone()],
            Expect::Bearer if access => self.settings.audiences(),
            Expect::Bearer if id_token => vec![self.settings.client_id.clone()],
            _ => {
                return Err(refused(format!(
                    "a token of type `{}` is not accepted here",
                    typ.unwrap_or_default()
                )));
            }
        };
        let kid = header.kid.as_deref().ok_or_else(|| refused("the token names no signing key (`kid`)"))?;
        let set = self.key_set_for(kid).await?;
        let key = set.keys.get(kid).ok_or_else(|| refused("unknown signing key"))?;
        if !key.algorithms.contains(&header.alg) {
            return Err(refused(format!("the key `{kid}` does not sign with {:?}", header.alg)));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.settings.leeway_seconds.min(MAX_LEEWAY);
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| refused(format!("token rejected: {e}")))?
            .claims;
        let now = crate::clock::Timestamp::now().seconds();
        let leeway = i64::try_from(validation.leeway).unwrap_or(0);
        if claims.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(refused("the token was issued in the future"));
        }
        if claims.auth_time.is_some_and(|at| at > now + leeway) {
            return Err(refused("the token's `auth_time` is in the future"));
        }
        if !access {
            // An ID token: OpenID Connect Core 1.0, 3.1.3.7.
            if claims.aud.as_slice().len() > 1 && claims.azp.as_deref() != Some(&self.settings.client_id) {
                return Err(refused("the ID token has several audiences and another authorised party"));
            }
            if claims.iat.is_none() {
                return Err(refused("the ID token has no `iat`"));
            }
        }
        if let Expect::SignIn { nonce } = expect
            && claims.nonce.as_deref() != Some(nonce)
        {
            return Err(refused("the ID token's nonce is not the sign-in's"));
        }
        Ok(claims)
    }
}

/// Which accepted algorithms a key may verify: `None` for a key the
/// gateway does not use (encryption, HMAC, another curve, or an `alg`
/// contradicting its type).
fn usable_algorithms(jwk: &Jwk) -> Option<Vec<Algorithm>> {
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return None;
    }
    if jwk.common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify)) {
        return None;
    }
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![Algorithm::RS256, Algorithm::PS256],
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => vec![Algorithm::ES256],
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
        _ => return None,
    };
    // `alg` is optional in a JWK (some providers omit it).
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(named) => {
            let algorithm = Algorithm::try_from(named).ok()?;
            by_type.contains(&algorithm).then(|| vec![algorithm])
        }
    }
}

/// The configured providers.
#[derive(Clone, Debug, Default)]
pub struct Providers {
    all: Vec<Arc<Provider>>,
}

impl Providers {
    /// The providers of `settings`, reached with `http`.
    pub fn new(settings: Vec<(ProviderName, ProviderSettings)>, http: &reqwest::Client) -> Providers {
        Providers {
            all: settings.into_iter().map(|(n, s)| Arc::new(Provider::new(n, s, http.clone()))).collect(),
        }
    }

    /// Whether any is configured.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// All of them.
    pub fn all(&self) -> &[Arc<Provider>] {
        &self.all
    }

    /// The one named `name`.
    pub fn named(&self, name: &str) -> Option<&Arc<Provider>> {
        self.all.iter().find(|p| p.name.as_str() == name)
    }

    /// The one whose issuer is `issuer`.
    pub fn by_issuer(&self, issuer: &str) -> Option<&Arc<Provider>> {
        self.all.iter().find(|p| p.settings.issuer == issuer)
    }
}

/// The issuer a JWT claims, read without verifying anything (to pick the
/// provider that will verify it).
pub fn claimed_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    serde_json::from_slice::<Iss>(&bytes).ok().map(|c| c.iss)
}

/// Whether `token` has the shape of a JWT (three base64url parts, a JSON
/// header): what an API key or capability token never has.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: Value) -> Result<ProviderSettings, String> {
        let settings: ProviderSettings = serde_json::from_value(json).map_err(|e| e.to_string())?;
        settings.check().map(|()| settings)
    }

    #[test]
    fn settings_are_checked() {
        let ok = settings(serde_json::json!({"issuer": "https://id.example.com", "client_id": "lictor"}));
        assert!(ok.is_ok(), "{ok:?}");
        let loopback = settings(serde_json::json!({"issuer": "http://127.0.0.1:9000", "client_id": "l"}));
        assert!(loopback.is_ok());
        for (json, want) in [
            (serde_json::json!({"issuer": "http://id.example.com", "client_id": "l"}), "https"),
            (serde_json::json!({"issuer": "https://id.example.com", "client_id": ""}), "client_id"),
            (
                serde_json::json!({"issuer": "https://id.example.com", "client_id": "l", "scopes": ["email"]}),
                "openid",
            ),
            (
                serde_json::json!({"issuer": "https://id.example.com", "client_id": "l", "leeway_seconds": 600}),
                "leeway",
            ),
            (
                serde_json::json!({"issuer": "https://id.example.com", "client_id": "l", "colour": 1}),
                "unknown field",
            ),
        ] {
            let error = settings(json).expect_err("refused");
            assert!(error.contains(want), "{error}");
        }
    }

    #[test]
    fn providers_come_from_the_environment() {
        let vars = vec![
            (
                "LICTOR_OIDC_CORP".to_string(),
                r#"{"issuer":"https://id.example.com","client_id":"l"}"#.to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let providers = from_env(vars).expect("parsed");
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].0.as_str(), "corp");
        let twice = vec![
            (
                "LICTOR_OIDC_A".to_string(),
                r#"{"issuer":"https://id.example.com","client_id":"l"}"#.to_string(),
            ),
            (
                "LICTOR_OIDC_B".to_string(),
                r#"{"issuer":"https://id.example.com","client_id":"m"}"#.to_string(),
            ),
        ];
        assert!(from_env(twice).expect_err("refused").contains("issuer"));
    }

    #[test]
    fn jwts_are_told_from_keys() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"));
        assert!(!looks_like_jwt("lictor_live_abc"));
        assert!(!looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0"));
        assert_eq!(claimed_issuer("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln").as_deref(), Some("x"));
    }
}
