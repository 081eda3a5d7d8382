//! A real OpenID Provider for the tests: the certified `oidc-provider`
//! package from npm (the version pinned in
//! `server/tests/oidc-provider/package-lock.json`), installed once into
//! `target/oidc-provider` and run by Node on a loopback port.
//!
//! `provider.mjs` signs people in without a form: the one named by the
//! request's `login_hint` (or queued with [`Provider::next_login`]), with
//! the `acr`/`amr` asked for. Its `/__admin/` routes (test only) register
//! clients, change users and rotate keys.
//!
//! [`Browser`] follows redirects by hand with a cookie jar, as a browser
//! would, so a test can look at every hop of a sign-in.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

const SOURCES: [(&str, &str); 3] = [
    ("package.json", include_str!("../../oidc-provider/package.json")),
    ("package-lock.json", include_str!("../../oidc-provider/package-lock.json")),
    ("provider.mjs", include_str!("../../oidc-provider/provider.mjs")),
];

/// Where it is installed: `<workspace>/target/oidc-provider`.
fn install_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("target/oidc-provider")
}

fn is_current(dir: &Path) -> bool {
    dir.join("node_modules/oidc-provider/package.json").exists()
        && SOURCES
            .iter()
            .all(|(name, text)| std::fs::read_to_string(dir.join(name)).is_ok_and(|t| t == *text))
}

/// Installs the pinned package once (a process builds it aside and
/// renames it into place; one that loses the race uses the winner's).
fn install() -> Result<PathBuf, String> {
    let dir = install_dir();
    if is_current(&dir) {
        return Ok(dir);
    }
    let parent = dir.parent().ok_or("no parent directory")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let unique = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let building = parent.join(format!("oidc-provider.building-{unique}"));
    let built = (|| {
        std::fs::create_dir_all(&building).map_err(|e| e.to_string())?;
        for (name, text) in SOURCES {
            std::fs::write(building.join(name), text).map_err(|e| format!("{name}: {e}"))?;
        }
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&building)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("npm: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "npm ci: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(())
    })();
    if let Err(error) = built {
        let _ = std::fs::remove_dir_all(&building);
        return Err(format!("installing oidc-provider (needs node ≥ 20.18, npm, the npm registry): {error}"));
    }
    if dir.exists() && !is_current(&dir) {
        let stale = parent.join(format!("oidc-provider.stale-{unique}"));
        if std::fs::rename(&dir, &stale).is_ok() {
            let _ = std::fs::remove_dir_all(&stale);
        }
    }
    if std::fs::rename(&building, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    if is_current(&dir) { Ok(dir) } else { Err(format!("{} is not the pinned provider", dir.display())) }
}

async fn installed() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = tokio::task::spawn_blocking(|| DIR.get_or_init(install).clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    dir.unwrap_or_else(|e| panic!("{e}"))
}

/// A running OpenID Provider, killed when dropped.
pub struct Provider {
    child: Child,
    /// Its issuer (`http://127.0.0.1:<port>`).
    pub issuer: String,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client id the gateway has at the provider.
pub const CLIENT_ID: &str = "lictor";
/// Its secret.
pub const CLIENT_SECRET: &str = "lictor-client-secret";
/// The client id automation (the tests' own token requests) has.
pub const AUTOMATION_ID: &str = "automation";
/// The audience of access tokens for the gateway's API.
pub const API_AUDIENCE: &str = "https://lictor.test/api";
const AUTOMATION_SECRET: &str = "automation-secret";
const AUTOMATION_REDIRECT: &str = "http://127.0.0.1:9/automation/callback";

impl Provider {
    /// A provider whose users are alice (groups `lictor-admins`,
    /// `lictor-approvers`), bob (`lictor-approvers`, `lictor-authors`),
    /// carol (`lictor-auditors`) and root (`lictor-superadmins`).
    pub async fn start() -> Provider {
        let dir = installed().await;
        let config = json!({
            "clients": [],
            "users": {
                "alice": {"email": "alice@example.test", "email_verified": true, "name": "Alice Anders",
                          "preferred_username": "alice", "groups": ["lictor-admins", "lictor-authors"]},
                "bob": {"email": "bob@example.test", "email_verified": true, "name": "Bob Brown",
                        "preferred_username": "bob", "groups": ["lictor-approvers", "lictor-authors"]},
                "carol": {"email": "carol@example.test", "email_verified": true, "name": "Carol Clark",
                          "preferred_username": "carol", "groups": ["lictor-auditors"]},
                "dave": {"email": "dave@example.test", "email_verified": false, "name": "Dave Doe",
                         "preferred_username": "dave", "groups": ["lictor-admins"]},
                "root": {"email": "root@example.test", "email_verified": true, "name": "Root",
                         "groups": ["lictor-superadmins"]},
            },
            "resources": {API_AUDIENCE: {"scope": "lictor", "alg": "RS256", "ttl": 600}},
        });
        let config_path =
            std::env::temp_dir().join(format!("lictor-op-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(&config_path, config.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args(["--port", "0", "--host", "127.0.0.1", "--config"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("node: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let issuer = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("provider output: {e}"));
        let issuer = issuer
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("provider said {issuer:?}"))
            .to_string();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let provider = Provider { child, issuer, http };
        provider
            .admin(
                reqwest::Method::PUT,
                &format!("/clients/{AUTOMATION_ID}"),
                json!({
                    "client_secret": AUTOMATION_SECRET,
                    "redirect_uris": [AUTOMATION_REDIRECT],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "client_secret_basic",
                }),
            )
            .await;
        provider
    }

    /// Calls its test-only control API.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}/__admin{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("provider admin {path}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert!(status.is_success(), "provider admin {path}: {status} {body}");
        body
    }

    /// Registers the gateway at `gateway` (its public URL) as the client
    /// [`CLIENT_ID`].
    pub async fn register_gateway(&self, gateway: &str) {
        self.admin(
            reqwest::Method::PUT,
            &format!("/clients/{CLIENT_ID}"),
            json!({
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [format!("{gateway}/v1/auth/callback"), AUTOMATION_REDIRECT],
                "post_logout_redirect_uris": [format!("{gateway}/")],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
                "id_token_signed_response_alg": "RS256",
            }),
        )
        .await;
    }

    /// Queues the next sign-in's outcome (`{sub, acr, amr, ts, deny}`).
    pub async fn next_login(&self, login: Value) {
        self.admin(reqwest::Method::POST, "/next-login", login).await;
    }

    /// Adds new signing keys (the old ones stay unless `retire_old`).
    pub async fn rotate_keys(&self, retire_old: bool) -> Value {
        self.admin(
            reqwest::Method::POST,
            "/rotate-keys",
            json!({"algs": ["RS256", "ES256"], "retire_old": retire_old}),
        )
        .await
    }

    /// The provider's settings for the gateway (`LICTOR_OIDC_<NAME>`).
    pub fn settings(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scopes": ["openid", "email", "profile", "groups"],
            "audiences": [API_AUDIENCE],
            "superadmin_groups": ["lictor-superadmins"],
            "display_name": "Test OP",
        })
    }

    /// Tokens for `sub` from a code flow of the gateway's client (run by
    /// the test, as automation would): `(access token for the gateway's
    /// API, ID token)`.
    pub async fn tokens(&self, sub: &str) -> (String, String) {
        self.tokens_with(sub, &[]).await
    }

    /// [`Provider::tokens`], with extra authorization parameters.
    pub async fn tokens_with(&self, sub: &str, extra: &[(&str, &str)]) -> (String, String) {
        self.tokens_of((CLIENT_ID, CLIENT_SECRET), sub, extra).await
    }

    /// Tokens for `sub` issued to another client than the gateway's.
    pub async fn foreign_tokens(&self, sub: &str) -> (String, String) {
        self.tokens_of((AUTOMATION_ID, AUTOMATION_SECRET), sub, &[]).await
    }

    async fn tokens_of(
        &self,
        (client, secret): (&str, &str),
        sub: &str,
        extra: &[(&str, &str)],
    ) -> (String, String) {
        let verifier = "a-fixed-verifier-of-the-tests-that-is-long-enough-0123456789";
        use base64::Engine as _;
        use sha2::Digest as _;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", AUTOMATION_REDIRECT),
            ("scope", "openid email profile groups"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", API_AUDIENCE),
            ("login_hint", sub),
            ("prompt", "login"),
        ];
        query.extend_from_slice(extra);
        let mut browser = Browser::new();
        let url = reqwest::Url::parse_with_params(&format!("{}/auth", self.issuer), &query)
            .unwrap_or_else(|e| panic!("{e}"));
        let landed = browser.follow(url.as_str(), |url| url.starts_with(AUTOMATION_REDIRECT)).await;
        let code = reqwest::Url::parse(&landed)
            .unwrap_or_else(|e| panic!("{e}"))
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {landed}"));
        let answer: Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", AUTOMATION_REDIRECT),
                ("code_verifier", verifier),
                ("resource", API_AUDIENCE),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("token: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("token: {e}"));
        let access = answer["access_token"].as_str().unwrap_or_else(|| panic!("no access token: {answer}"));
        let id = answer["id_token"].as_str().unwrap_or_else(|| panic!("no ID token: {answer}"));
        (access.to_string(), id.to_string())
    }
}

/// A browser: a cookie jar (loopback only, so names are enough) and
/// redirects followed one by one.
pub struct Browser {
    http: reqwest::Client,
    /// The cookies, by name.
    pub jar: BTreeMap<String, String>,
    /// Every URL visited, in order.
    pub visited: Vec<String>,
}

impl Default for Browser {
    fn default() -> Browser {
        Browser::new()
    }
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        Browser { http, jar: BTreeMap::new(), visited: Vec::new() }
    }

    /// The `Cookie` header.
    pub fn cookie_header(&self) -> String {
        self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// Keeps the cookies an answer sets (`Max-Age=0` removes).
    pub fn keep(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else { continue };
            let removed = text.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
            if removed {
                self.jar.remove(name.trim());
            } else {
                self.jar.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
    }

    /// One `GET`, cookies sent and kept.
    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        self.visited.push(url.to_string());
        let response = self
            .http
            .get(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        self.keep(&response);
        response
    }

    /// Follows redirects from `url` until one goes where `stop` says (not
    /// fetched) or an answer is not a redirect: the URL it stopped at.
    pub async fn follow(&mut self, url: &str, stop: impl Fn(&str) -> bool) -> String {
        let mut url = url.to_string();
        for _ in 0..20 {
            if stop(&url) {
                return url;
            }
            let response = self.get(&url).await;
            let status = response.status();
            let Some(location) = response.headers().get(reqwest::header::LOCATION) else {
                let body = response.text().await.unwrap_or_default();
                panic!("{url} answered {status} without a redirect: {body}");
            };
            let location = location.to_str().unwrap_or_default();
            url = reqwest::Url::parse(&url)
                .and_then(|base| base.join(location))
                .unwrap_or_else(|e| panic!("{location}: {e}"))
                .to_string();
        }
        panic!("too many redirects from {url}");
    }

    /// Signs in at `gateway` through its provider: follows the sign-in
    /// from `/v1/auth/login?<query>` to where it lands back on the
    /// gateway; the answer of that last hop.
    pub async fn sign_in(&mut self, gateway: &str, query: &str) -> String {
        let start = format!("{gateway}/v1/auth/login?{query}");
        let callback = format!("{gateway}/v1/auth/callback");
        let at_callback = self.follow(&start, |url| url.starts_with(&callback)).await;
        let response = self.get(&at_callback).await;
        let status = response.status();
        match response.headers().get(reqwest::header::LOCATION) {
            Some(location) if status == reqwest::StatusCode::SEE_OTHER => {
                location.to_str().unwrap_or_default().to_string()
            }
            _ => panic!("the callback answered {status}: {}", response.text().await.unwrap_or_default()),
        }
    }

    /// A request to the gateway with this browser's cookies.
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url).header(reqwest::header::COOKIE, self.cookie_header())
    }
}
