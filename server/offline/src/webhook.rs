//! Webhook signatures: how the gateway signs a delivery and how a receiver
//! verifies it.
//!
//! `Lictor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//!
//! Delivery itself (retries, backoff, the worker) is the gateway's; this
//! module is only the byte format, shared with the SDKs and pinned by
//! `conformance/vectors/webhooks/`.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Lictor-Signature";

/// The `Lictor-Signature` value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable_hmac());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a `Lictor-Signature` does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The header is not `t=<seconds>,v1=<64 hex digits>`.
    MalformedHeader,
    /// `t` is further than the tolerance from the receiver's clock.
    Expired,
    /// The HMAC does not match the body and secret.
    SignatureMismatch,
}

impl SignatureError {
    /// Stable code (the SDKs use the same ones).
    pub const fn code(self) -> &'static str {
        match self {
            SignatureError::MalformedHeader => "malformed_header",
            SignatureError::Expired => "expired",
            SignatureError::SignatureMismatch => "signature_mismatch",
        }
    }
}

/// Verifies a delivery as a receiver should (see `docs/webhooks.md`): the
/// header parses, `t` is within `tolerance` seconds of `now`, and `v1` is
/// the HMAC of `"<t>.<body>"` (compared in constant time).
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let (mut timestamp, mut given) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) if timestamp.is_none() => timestamp = Some(value),
            Some(("v1", value)) if given.is_none() => given = Some(value),
            _ => return Err(SignatureError::MalformedHeader),
        }
    }
    let timestamp = timestamp
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or(SignatureError::MalformedHeader)?;
    let given = given
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .and_then(|v| hex::decode(v).ok())
        .ok_or(SignatureError::MalformedHeader)?;
    if (now - timestamp).abs() > tolerance {
        return Err(SignatureError::Expired);
    }
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable_hmac());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| SignatureError::SignatureMismatch)
}

// HMAC accepts keys of any length.
#[allow(clippy::panic)]
fn unreachable_hmac<T>() -> T {
    panic!("HMAC-SHA256 rejected a key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // Computed independently with Python's hmac module.
        let sig = signature("lictor_whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "t=1700000000,v1=88d781c1924b299b50b946033d6211f10033f2341eed344b4db74e713e116159");
        assert_ne!(sig, signature("lictor_whsec_other", 1_700_000_000, br#"{"a":1}"#));
        // The vector published in docs/webhooks.md.
        assert_eq!(
            signature(
                "lictor_whsec_example",
                1_763_805_600,
                br#"{"intent_id":"int_example","verdict":"approve"}"#
            ),
            "t=1763805600,v1=04eb610a61a9cf7e0c827bd840303abdd6a519572b391a89411ab122a583403f"
        );
        assert_ne!(sig, signature("lictor_whsec_test", 1_700_000_001, br#"{"a":1}"#));
    }

    /// The shared vectors in `conformance/vectors/webhooks/` (every SDK
    /// verifies them the same way). `LICTOR_WRITE_VECTORS=1` rewrites them.
    #[test]
    fn webhook_vectors_match_the_reference() {
        use serde_json::json;
        let (secret, t) = ("lictor_whsec_vector_secret", 1_763_805_600_i64);
        let body = r#"{"intent_id":"int_vector","verdict":"approve","note":"café ✓"}"#;
        let header = signature(secret, t, body.as_bytes());
        let v1 = header.split_once(",v1=").map(|(_, v)| v.to_string()).unwrap_or_default();
        let cases: Vec<(&str, String, String, String, i64, i64)> = vec![
            ("valid", secret.into(), header.clone(), body.into(), t, 300),
            ("valid_at_the_edge_of_the_tolerance", secret.into(), header.clone(), body.into(), t + 300, 300),
            ("valid_with_a_clock_behind", secret.into(), header.clone(), body.into(), t - 300, 300),
            ("valid_with_spaces_after_commas", secret.into(), format!("t={t}, v1={v1}"), body.into(), t, 300),
            ("wrong_secret", "lictor_whsec_other".into(), header.clone(), body.into(), t, 300),
            ("body_reformatted", secret.into(), header.clone(), body.replace(',', ", "), t, 300),
            (
                "body_one_byte_changed",
                secret.into(),
                header.clone(),
                body.replace("approve", "approvE"),
                t,
                300,
            ),
            (
                "timestamp_changed",
                secret.into(),
                header.replacen(&t.to_string(), &(t + 1).to_string(), 1),
                body.into(),
                t,
                300,
            ),
            ("expired", secret.into(), header.clone(), body.into(), t + 301, 300),
            ("from_the_future", secret.into(), header.clone(), body.into(), t - 301, 300),
            ("missing_v1", secret.into(), format!("t={t}"), body.into(), t, 300),
            ("missing_t", secret.into(), format!("v1={v1}"), body.into(), t, 300),
            ("empty_header", secret.into(), String::new(), body.into(), t, 300),
            ("uppercase_hex", secret.into(), format!("t={t},v1={}", v1.to_uppercase()), body.into(), t, 300),
            ("short_signature", secret.into(), format!("t={t},v1={}", &v1[..62]), body.into(), t, 300),
            ("non_numeric_timestamp", secret.into(), format!("t=soon,v1={v1}"), body.into(), t, 300),
            ("negative_timestamp", secret.into(), format!("t=-{t},v1={v1}"), body.into(), t, 300),
            ("unknown_scheme", secret.into(), format!("t={t},v0={v1}"), body.into(), t, 300),
            ("duplicate_v1", secret.into(), format!("t={t},v1={v1},v1={v1}"), body.into(), t, 300),
            ("empty_body", secret.into(), signature(secret, t, b""), String::new(), t, 300),
        ];
        let vectors: Vec<serde_json::Value> = cases
            .into_iter()
            .map(|(name, secret, header, body, now, tolerance)| {
                let result = verify_signature(&secret, &header, body.as_bytes(), now, tolerance);
                json!({
                    "name": name,
                    "secret": secret,
                    "header": header,
                    "body": body,
                    "now": now,
                    "tolerance_seconds": tolerance,
                    "valid": result.is_ok(),
                    "error": result.err().map(SignatureError::code),
                })
            })
            .collect();
        let document = json!({
            "format": "lictor webhook signature vectors",
            "description": "Lictor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>. \
                A receiver splits the header on `,` into exactly one `t` (decimal digits) and one `v1` \
                (64 lowercase hex digits), optionally with spaces after commas; anything else is \
                malformed_header. |now - t| > tolerance_seconds is expired. Otherwise the HMAC over the \
                UTF-8 bytes of the body must equal v1 (constant-time), else signature_mismatch. \
                Checks run in that order.",
            "regenerate": "LICTOR_WRITE_VECTORS=1 cargo test -p lictor-offline --lib webhook",
            "vectors": vectors,
        });
        let text = format!("{}\n", serde_json::to_string_pretty(&document).unwrap_or_default());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../conformance/vectors/webhooks/webhooks.json");
        if std::env::var("LICTOR_WRITE_VECTORS").is_ok_and(|v| v == "1") {
            std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            stored, text,
            "stale vectors: regenerate with LICTOR_WRITE_VECTORS=1 cargo test -p lictor-offline --lib webhook"
        );
        // The published example verifies; every case's verdict is what the
        // rules above say.
        assert_eq!(
            verify_signature(
                "lictor_whsec_example",
                "t=1763805600,v1=04eb610a61a9cf7e0c827bd840303abdd6a519572b391a89411ab122a583403f",
                br#"{"intent_id":"int_example","verdict":"approve"}"#,
                1_763_805_600,
                300
            ),
            Ok(())
        );
        let by_name = |n: &str| {
            document["vectors"]
                .as_array()
                .and_then(|v| v.iter().find(|c| c["name"] == n).cloned())
                .unwrap_or_default()
        };
        for (name, error) in [
            ("valid", None),
            ("valid_with_spaces_after_commas", None),
            ("wrong_secret", Some("signature_mismatch")),
            ("expired", Some("expired")),
            ("duplicate_v1", Some("malformed_header")),
            ("uppercase_hex", Some("malformed_header")),
            ("empty_body", None),
        ] {
            assert_eq!(by_name(name)["error"].as_str(), error, "{name}");
        }
    }
}
