//! Console sessions and the sign-in flow's secrets.
//!
//! A session's cookie is `<id>.<secret>`: HttpOnly, `SameSite=Lax`,
//! `Path=/`, and `Secure` with the `__Host-` name prefix whenever the
//! gateway's public URL is `https`. The database keeps, beside what the
//! session is, `v1.<kid>.<mac>`: HMAC-SHA256 under a key derived with
//! HKDF-SHA256 (info `lictor operator sessions v1`) from the checkpoint
//! key `kid` — outside the database — of the canonical JSON of the id,
//! the secret and every column that gives the session its power (person,
//! groups, sign-in strength, expiry, CSRF token). Reading the table
//! reveals no usable session; writing it makes none either.
//!
//! Requests that change something (`POST`, `PUT`, `PATCH`, `DELETE`) with
//! a session also carry `X-CSRF-Token` (the session's token, which only
//! `GET /v1/whoami` tells), and an `Origin`, when the browser sends one,
//! that is the gateway's own.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::signing::{Keyring, Purpose};
use crate::store::SessionRow;

/// The session cookie's name over plain HTTP (development).
pub const COOKIE: &str = "lictor_session";

/// Its name when the gateway is reached over HTTPS.
pub const SECURE_COOKIE: &str = "__Host-lictor_session";

/// The sign-in binding cookie's name (the browser that started a sign-in
/// is the one that finishes it).
pub const LOGIN_COOKIE: &str = "lictor_login";

/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a sign-in may take.
pub const LOGIN_TTL_SECONDS: i64 = 600;

const INFO: &[u8] = b"lictor operator sessions v1";

/// 32 random bytes, base64url (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256 of a secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// PKCE's S256 challenge of `verifier` (RFC 7636, 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn mac_key(secret: &[u8; 32]) -> [u8; 32] {
    let mut key = [0u8; 32];
    // 32 bytes is within HKDF-SHA256's output limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, secret).expand(INFO, &mut key);
    key
}

fn mac_input(row: &SessionRow, secret: &str) -> Vec<u8> {
    let document = serde_json::json!({
        "acr": row.acr,
        "amr": row.amr,
        "auth_time": row.auth_time,
        "csrf_token": row.csrf_token,
        "expires_at": row.expires_at.micros(),
        "groups": row.groups,
        "id": row.id,
        "issuer": row.issuer,
        "person": row.person,
        "provider": row.provider,
        "secret": secret,
        "subject": row.subject,
        "username_key": row.username_key,
    });
    lictor_offline::audit::canonical_bytes(&document)
}

fn compute(key: &[u8; 32], input: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key(key)).ok()?;
    mac.update(input);
    Some(mac)
}

/// Seals `row` for `secret` with the newest checkpoint key (`None`
/// without one).
pub fn seal(ring: &Keyring, row: &SessionRow, secret: &str) -> Option<String> {
    let key = ring.current(Purpose::Checkpoint)?;
    let mac = compute(&key.secret, &mac_input(row, secret))?;
    Some(format!("v1.{}.{}", key.kid, hex::encode(mac.finalize().into_bytes())))
}

/// Whether `row` is the session `secret` opens, unchanged.
pub fn opens(ring: &Keyring, row: &SessionRow, secret: &str) -> bool {
    let mut parts = row.mac.splitn(3, '.');
    let (Some("v1"), Some(kid), Some(tag)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let (Some(key), Ok(tag)) = (ring.get(Purpose::Checkpoint, kid), hex::decode(tag)) else { return false };
    compute(&key.secret, &mac_input(row, secret)).is_some_and(|mac| mac.verify_slice(&tag).is_ok())
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

/// A `Set-Cookie` value: HttpOnly, `SameSite=Lax`, `Secure` when `secure`.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// The session cookie's name for a gateway reached over `https` or not.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE } else { COOKIE }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn row() -> SessionRow {
        SessionRow {
            id: "ses_1".into(),
            mac: String::new(),
            provider: "corp".into(),
            issuer: "https://id.example.com".into(),
            subject: "alice".into(),
            username_key: Some("alice@example.com".into()),
            person: "{}".into(),
            groups: "[\"admins\"]".into(),
            auth_time: Some(1),
            acr: None,
            amr: "[]".into(),
            csrf_token: "csrf".into(),
            created_at: Timestamp::from_seconds(1),
            expires_at: Timestamp::from_seconds(2),
            last_seen_at: Timestamp::from_seconds(1),
            ended_at: None,
        }
    }

    #[test]
    fn a_session_opens_only_with_its_secret_and_unchanged() {
        let ring = Keyring::generated();
        let mut session = row();
        session.mac = seal(&ring, &session, "secret").expect("sealed");
        assert!(opens(&ring, &session, "secret"));
        assert!(!opens(&ring, &session, "other"));
        let mut widened = session.clone();
        widened.groups = "[\"admins\",\"superadmins\"]".into();
        assert!(!opens(&ring, &widened, "secret"));
        let mut longer = session.clone();
        longer.expires_at = Timestamp::from_seconds(3);
        assert!(!opens(&ring, &longer, "secret"));
        assert!(!opens(&Keyring::generated(), &session, "secret"));
    }

    #[test]
    fn cookies_are_read_and_written() {
        assert_eq!(cookie("a=1; lictor_session=x.y; b=2", COOKIE), Some("x.y"));
        assert_eq!(cookie("a=1", COOKIE), None);
        let set = set_cookie(SECURE_COOKIE, "v", "/", 60, true);
        assert_eq!(set, "__Host-lictor_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure");
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
