//! The language-neutral token vectors in `conformance/vectors/tokens/`.
//!
//! Regenerated here deterministically (fixed secrets, kid, jtis and
//! times) and compared byte for byte with the checked-in file, so the
//! format cannot drift from its vectors; `LICTOR_WRITE_VECTORS=1`
//! rewrites the file. Every vector is then run through parse and verify.

use std::path::PathBuf;

use lictor_api::ids::{AgentId, TenantId};
use lictor_api::intents::ActionType;
use serde::Serialize;
use serde_json::Value;

use super::format::{b64, chain_step};
use super::*;

const KID: &str = "tok-vectors-1";
const TENANT: &str = "acme";
const SUB: &str = "billing-bot";
/// 2026-01-01T00:00:00Z.
const IAT: i64 = 1_767_225_600;
const ROOT_JTI: &str = "tok_root";
const CHILD_JTI: &str = "tok_child";
const GRANDCHILD_JTI: &str = "tok_grandchild";

/// The signing secret every vector is minted with: bytes 0x00..=0x1f.
fn secret() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

/// A different secret, for the wrong-key vector: bytes 0xff down to 0xe0.
fn other_secret() -> [u8; 32] {
    std::array::from_fn(|i| 0xff - i as u8)
}

fn root_key() -> [u8; 32] {
    derive_root_key(&secret())
}

fn jti(value: &str) -> Jti {
    Jti::parse(value).unwrap()
}

fn root_header() -> TokenHeader {
    TokenHeader::root(KID, jti(ROOT_JTI), TenantId::parse(TENANT).unwrap(), AgentId::parse(SUB).unwrap(), IAT)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn every_caveat() -> Vec<Caveat> {
    vec![
        Caveat::Expires { at: IAT + 3600 },
        Caveat::Tools {
            allow: strings(&["github.*", "jira.get_?ssue"]),
            deny: strings(&["github.delete_*"]),
        },
        Caveat::Servers { allow: strings(&["github", "jira"]) },
        Caveat::ActionTypes { allow: vec![ActionType::Access, ActionType::Communicate] },
        Caveat::MaxCalls { n: 100 },
        Caveat::MaxUsd { cents: 2500 },
        Caveat::RatePerMin { n: 30 },
        Caveat::StepUp { at: IAT - 60 },
        Caveat::Audience { aud: "https://gateway.example.com".to_owned() },
    ]
}

fn mint_root(caveats: &[Caveat]) -> String {
    mint(&root_key(), &root_header(), caveats).unwrap()
}

/// `parent` attenuated to `jti` with `caveats`, and how.
fn attenuated(parent: String, jti: &'static str, caveats: Vec<Caveat>) -> (String, Attenuation) {
    let token = attenuate(&parent, jti, &caveats).unwrap();
    (token, Attenuation { parent, jti, caveats })
}

fn attenuated_once() -> (String, Attenuation) {
    let root = mint_root(&[
        Caveat::Expires { at: IAT + 86_400 },
        Caveat::Tools { allow: strings(&["github.*"]), deny: vec![] },
    ]);
    attenuated(
        root,
        CHILD_JTI,
        vec![
            Caveat::Tools { allow: strings(&["github.create_issue"]), deny: vec![] },
            Caveat::MaxCalls { n: 5 },
        ],
    )
}

fn attenuated_twice() -> (String, Attenuation) {
    attenuated(attenuated_once().0, GRANDCHILD_JTI, vec![Caveat::Expires { at: IAT + 600 }])
}

/// A token over arbitrary segment bytes, correctly chained under the
/// vector key, so the only defect is the one under test.
fn raw_token(header: &[u8], caveats: &[&[u8]]) -> String {
    let mut tag = chain_step(&root_key(), header);
    let mut token = format!("{PREFIX}{}", b64(header));
    for caveat in caveats {
        tag = chain_step(&tag, caveat);
        token.push('.');
        token.push_str(&b64(caveat));
    }
    format!("{token}.{}", b64(&tag))
}

fn root_header_json() -> Vec<u8> {
    serde_json_canonicalizer::to_vec(&root_header()).unwrap()
}

/// A root token with one raw caveat.
fn with_raw_caveat(caveat: &str) -> String {
    raw_token(&root_header_json(), &[caveat.as_bytes()])
}

/// Replaces the segment at `index` (0 = header) with the base64url of
/// `bytes`, keeping everything else.
fn replace_segment(token: &str, index: usize, bytes: &[u8]) -> String {
    let mut segments: Vec<String> =
        token.strip_prefix(PREFIX).unwrap().split('.').map(str::to_owned).collect();
    segments[index] = b64(bytes);
    format!("{PREFIX}{}", segments.join("."))
}

fn remove_segment(token: &str, index: usize) -> String {
    let mut segments: Vec<&str> = token.strip_prefix(PREFIX).unwrap().split('.').collect();
    segments.remove(index);
    format!("{PREFIX}{}", segments.join("."))
}

fn segment_json(token: &str, index: usize) -> String {
    let segment = token.strip_prefix(PREFIX).unwrap().split('.').nth(index).unwrap();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, segment);
    String::from_utf8(bytes.unwrap()).unwrap()
}

#[derive(Serialize)]
struct VectorFile {
    format: &'static str,
    description: &'static str,
    regenerate: &'static str,
    vectors: Vec<Vector>,
}

#[derive(Serialize)]
struct Vector {
    name: &'static str,
    description: &'static str,
    secret: String,
    root_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    now: Option<i64>,
    token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    attenuation: Option<Attenuation>,
    expect: Expect,
}

/// How an attenuated vector's token was made from its parent:
/// `attenuate(parent, jti, caveats)` must reproduce `token` exactly.
#[derive(Serialize)]
struct Attenuation {
    parent: String,
    jti: &'static str,
    caveats: Vec<Caveat>,
}

/// What a consumer must conclude. Field order is the file's order.
#[derive(Serialize)]
#[serde(untagged)]
// Built a few dozen times in a test: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
enum Expect {
    Valid {
        valid: bool,
        jti_chain: Vec<String>,
        header: TokenHeader,
        caveats: Vec<Caveat>,
        /// The scope jti of each caveat (a hop's is its own jti).
        caveat_scopes: Vec<String>,
        expires_at: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expired_at_now: Option<bool>,
    },
    Invalid {
        valid: bool,
        error: &'static str,
    },
}

fn valid(name: &'static str, description: &'static str, token: String, now: Option<i64>) -> Vector {
    valid_attenuated(name, description, (token, None), now)
}

fn valid_attenuated(
    name: &'static str,
    description: &'static str,
    (token, attenuation): (String, Option<Attenuation>),
    now: Option<i64>,
) -> Vector {
    let parsed = CapabilityToken::parse(&token).unwrap();
    parsed.verify(&root_key()).unwrap();
    let expect = Expect::Valid {
        valid: true,
        jti_chain: parsed.jti_chain().into_iter().map(str::to_owned).collect(),
        header: parsed.header().clone(),
        caveats: parsed.caveats().to_vec(),
        caveat_scopes: parsed.scopes.iter().map(|&i| parsed.chain[i].to_string()).collect(),
        expires_at: parsed.expires_at(),
        expired_at_now: now.map(|now| parsed.expires_at().is_some_and(|at| now >= at)),
    };
    Vector {
        name,
        description,
        secret: b64(&secret()),
        root_key: b64(&root_key()),
        now,
        token,
        attenuation,
        expect,
    }
}

fn invalid(name: &'static str, description: &'static str, token: String, error: &'static str) -> Vector {
    invalid_with_secret(name, description, token, error, secret())
}

fn invalid_with_secret(
    name: &'static str,
    description: &'static str,
    token: String,
    error: &'static str,
    verify_secret: [u8; 32],
) -> Vector {
    Vector {
        name,
        description,
        secret: b64(&verify_secret),
        root_key: b64(&derive_root_key(&verify_secret)),
        now: None,
        token,
        attenuation: None,
        expect: Expect::Invalid { valid: false, error },
    }
}

fn vectors() -> Vec<Vector> {
    let every = mint_root(&every_caveat());
    let max_calls_10 = mint_root(&[Caveat::MaxCalls { n: 10 }]);
    let tampered = {
        let json = segment_json(&max_calls_10, 1);
        assert_eq!(json, r#"{"n":10,"type":"max_calls"}"#);
        replace_segment(&max_calls_10, 1, json.replace("10", "90").as_bytes())
    };
    let twice = attenuated_twice().0;
    let truncated = remove_segment(&twice, twice.split('.').count() - 3);
    let child_header = TokenHeader::child(
        KID,
        jti("tok_minted_child"),
        jti(ROOT_JTI),
        jti(ROOT_JTI),
        TenantId::parse(TENANT).unwrap(),
        AgentId::parse(SUB).unwrap(),
        IAT + 60,
    );
    let max_caveats: Vec<Caveat> = (1..=32).map(|n| Caveat::MaxCalls { n }).collect();
    let too_many: Vec<String> = (1..=33).map(|n| format!(r#"{{"n":{n},"type":"max_calls"}}"#)).collect();
    let long_aud = format!(r#"{{"aud":"https://{}.example.com","type":"audience"}}"#, "a".repeat(230));
    let oversize: Vec<&[u8]> = (0..32).map(|_| long_aud.as_bytes()).collect();
    let header_v2 = String::from_utf8(root_header_json()).unwrap().replace(r#""v":1"#, r#""v":2"#);
    let header_null_parent = String::from_utf8(root_header_json())
        .unwrap()
        .replace(r#","root_jti""#, r#","parent_jti":null,"root_jti""#);
    let padded_header = {
        let token = mint_root(&[]);
        let header = token.strip_prefix(PREFIX).unwrap().split('.').next().unwrap().to_owned();
        assert!(!header.len().is_multiple_of(4), "the padding vector needs a header that pads");
        token.replacen(&header, &format!("{header}{}", "=".repeat(4 - header.len() % 4)), 1)
    };
    let short_tag = {
        let token = mint_root(&[]);
        let (rest, tag) = token.rsplit_once('.').unwrap();
        let tag = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, tag);
        format!("{rest}.{}", b64(&tag.unwrap()[..31]))
    };

    vec![
        valid("root_no_caveats", "a root token minted without caveats", mint_root(&[]), None),
        valid(
            "root_every_caveat",
            "a root token with one caveat of every non-hop type, in a fixed order",
            every.clone(),
            None,
        ),
        valid_attenuated(
            "attenuated_once",
            "a root token attenuated once: a hop to `tok_child`, then two caveats scoped to it",
            with_how(attenuated_once()),
            None,
        ),
        valid_attenuated(
            "attenuated_twice",
            "attenuated_once attenuated again to `tok_grandchild`: a jti chain of three",
            with_how(attenuated_twice()),
            None,
        ),
        valid_attenuated(
            "attenuated_without_caveats",
            "a hop without caveats: a separately revocable child with the parent's rights",
            with_how(attenuated(mint_root(&[Caveat::MaxCalls { n: 10 }]), CHILD_JTI, vec![])),
            None,
        ),
        valid(
            "gateway_minted_child",
            "a token the gateway minted from another one: the header carries `parent_jti`",
            mint(&root_key(), &child_header, &[Caveat::Servers { allow: strings(&["github"]) }]).unwrap(),
            None,
        ),
        valid("max_caveats", "exactly 32 caveats, the limit", mint_root(&max_caveats), None),
        valid(
            "expired",
            "valid and verifying, but `now` is past its `expires` caveat: consumers evaluate expiry",
            mint_root(&[Caveat::Expires { at: IAT + 3600 }]),
            Some(IAT + 7200),
        ),
        invalid(
            "tampered_caveat",
            "one byte of a caveat changed (`\"n\":10` to `\"n\":90`); still canonical JSON",
            tampered,
            "bad_signature",
        ),
        invalid(
            "truncated_last_caveat",
            "attenuated_twice with its last caveat segment removed and the tag kept",
            truncated,
            "bad_signature",
        ),
        invalid(
            "caveat_removed_from_middle",
            "root_every_caveat with its fifth caveat (`max_calls`) removed",
            remove_segment(&every, 5),
            "bad_signature",
        ),
        invalid_with_secret(
            "wrong_key",
            "root_every_caveat verified with another secret (bytes 0xff down to 0xe0)",
            every,
            "bad_signature",
            other_secret(),
        ),
        invalid(
            "non_canonical_whitespace",
            "a caveat with a space after a comma",
            with_raw_caveat(r#"{"n":5, "type":"max_calls"}"#),
            "non_canonical",
        ),
        invalid(
            "non_canonical_key_order",
            "a caveat whose keys are not sorted",
            with_raw_caveat(r#"{"type":"max_calls","n":5}"#),
            "non_canonical",
        ),
        invalid(
            "non_canonical_escape",
            "a string with a needless `\\u` escape",
            with_raw_caveat(r#"{"aud":"g\u0061teway","type":"audience"}"#),
            "non_canonical",
        ),
        invalid(
            "duplicate_field",
            "a caveat with the key `n` twice",
            with_raw_caveat(r#"{"n":5,"n":500,"type":"max_calls"}"#),
            "non_canonical",
        ),
        invalid(
            "null_optional_field",
            "a header with `\"parent_jti\":null` instead of omitting it",
            raw_token(header_null_parent.as_bytes(), &[]),
            "non_canonical",
        ),
        invalid(
            "empty_deny_list",
            "a tools caveat with `\"deny\":[]` instead of omitting it",
            with_raw_caveat(r#"{"allow":["github.*"],"deny":[],"type":"tools"}"#),
            "non_canonical",
        ),
        invalid(
            "unknown_field",
            "a max_calls caveat with an extra field `note`",
            with_raw_caveat(r#"{"n":5,"note":"x","type":"max_calls"}"#),
            "malformed",
        ),
        invalid(
            "unknown_caveat_type",
            "a caveat of type `geofence`, which this version does not know",
            with_raw_caveat(r#"{"region":"eu","type":"geofence"}"#),
            "unknown_caveat",
        ),
        invalid(
            "hop_wrong_parent",
            "a hop whose `parent_jti` is not the jti in effect (`tok_root`)",
            with_raw_caveat(r#"{"jti":"tok_child","parent_jti":"tok_other","type":"hop"}"#),
            "bad_hop",
        ),
        invalid(
            "hop_reused_jti",
            "a hop whose `jti` is the header's jti",
            with_raw_caveat(r#"{"jti":"tok_root","parent_jti":"tok_root","type":"hop"}"#),
            "bad_hop",
        ),
        invalid(
            "too_many_caveats",
            "33 caveats, one more than the limit",
            raw_token(&root_header_json(), &too_many.iter().map(String::as_bytes).collect::<Vec<_>>()),
            "too_many_caveats",
        ),
        invalid(
            "oversize",
            "32 audience caveats of 250 bytes each: every field in bounds, the token over 8192 bytes",
            raw_token(&root_header_json(), &oversize),
            "too_large",
        ),
        invalid(
            "field_too_large",
            "an audience of 257 bytes",
            with_raw_caveat(&format!(r#"{{"aud":"{}","type":"audience"}}"#, "a".repeat(257))),
            "field_too_large",
        ),
        invalid(
            "unsupported_version",
            "a header with `\"v\":2`",
            raw_token(header_v2.as_bytes(), &[]),
            "unsupported_version",
        ),
        invalid(
            "fractional_number",
            "a max_calls caveat with `\"n\":1.5`",
            with_raw_caveat(r#"{"n":1.5,"type":"max_calls"}"#),
            "malformed",
        ),
        invalid(
            "unsafe_integer",
            "a max_calls caveat with n = 2^53, beyond the JavaScript-safe range",
            with_raw_caveat(r#"{"n":9007199254740992,"type":"max_calls"}"#),
            "malformed",
        ),
        invalid(
            "zero_max_calls",
            "a max_calls caveat with `\"n\":0`",
            with_raw_caveat(r#"{"n":0,"type":"max_calls"}"#),
            "malformed",
        ),
        invalid(
            "unknown_action_type",
            "an action_types caveat allowing `launch`",
            with_raw_caveat(r#"{"allow":["launch"],"type":"action_types"}"#),
            "malformed",
        ),
        invalid(
            "non_ascii_string",
            "a servers caveat naming `gïthub` (raw UTF-8, canonical, but not printable ASCII)",
            with_raw_caveat(r#"{"allow":["gïthub"],"type":"servers"}"#),
            "malformed",
        ),
        invalid("base64_padding", "a header segment with `=` padding", padded_header, "malformed"),
        invalid(
            "wrong_prefix",
            "a token starting with `lictor_cap2.`",
            mint_root(&[]).replacen("lictor_cap1.", "lictor_cap2.", 1),
            "malformed",
        ),
        invalid("short_tag", "a tag of 31 bytes", short_tag, "malformed"),
    ]
}

fn with_how((token, how): (String, Attenuation)) -> (String, Option<Attenuation>) {
    (token, Some(how))
}

fn generate() -> String {
    let file = VectorFile {
        format: "lictor capability token vectors, format lictor_cap1",
        description: "see docs/tokens.md and README.md next to this file",
        regenerate: "LICTOR_WRITE_VECTORS=1 cargo test -p lictor-offline --lib token::vectors",
        vectors: vectors(),
    };
    let mut text = serde_json::to_string_pretty(&file).unwrap();
    text.push('\n');
    text
}

fn vector_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance/vectors/tokens/tokens.json")
}

#[test]
fn checked_in_vectors_match_the_implementation() {
    let generated = generate();
    let path = vector_path();
    if writing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "end of file".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "{} differs from the generated vectors (first difference at {line}); \
             if the change is intended, rewrite it with \
             `LICTOR_WRITE_VECTORS=1 cargo test -p lictor-offline --lib token::vectors`",
            path.display()
        );
    }
}

fn b64_key(text: &str) -> [u8; 32] {
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, text);
    bytes.unwrap().try_into().unwrap()
}

fn run_vector(vector: &Value) -> Result<CapabilityToken, TokenError> {
    let secret = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        vector["secret"].as_str().unwrap(),
    )
    .unwrap();
    let root_key = derive_root_key(&secret);
    assert_eq!(root_key, b64_key(vector["root_key"].as_str().unwrap()));
    let token = CapabilityToken::parse(vector["token"].as_str().unwrap())?;
    token.verify(&root_key)?;
    Ok(token)
}

fn writing() -> bool {
    std::env::var("LICTOR_WRITE_VECTORS").is_ok_and(|v| v == "1")
}

#[test]
fn every_vector_meets_its_expectation() {
    // While the file is being rewritten, check what is being written.
    let text = if writing() { generate() } else { std::fs::read_to_string(vector_path()).unwrap() };
    let file: Value = serde_json::from_str(&text).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 30);
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let expect = &vector["expect"];
        match (run_vector(vector), expect["valid"].as_bool().unwrap()) {
            (Ok(token), true) => {
                assert_eq!(serde_json::json!(token.jti_chain()), expect["jti_chain"], "{name}");
                assert_eq!(serde_json::json!(token.header()), expect["header"], "{name}");
                assert_eq!(serde_json::json!(token.caveats()), expect["caveats"], "{name}");
                let scopes: Vec<&str> = token.scopes.iter().map(|&i| token.chain[i].as_str()).collect();
                assert_eq!(serde_json::json!(scopes), expect["caveat_scopes"], "{name}");
                assert_eq!(serde_json::json!(token.expires_at()), expect["expires_at"], "{name}");
                if let Some(now) = vector["now"].as_i64() {
                    let expired = token.expires_at().is_some_and(|at| now >= at);
                    assert_eq!(Some(expired), expect["expired_at_now"].as_bool(), "{name}");
                }
                assert_eq!(token.encode(), vector["token"].as_str().unwrap(), "{name}");
                // Minting the header and every caveat (hops included) gives the same bytes.
                let root_key = b64_key(vector["root_key"].as_str().unwrap());
                let minted = mint(&root_key, token.header(), token.caveats()).unwrap();
                assert_eq!(minted, vector["token"].as_str().unwrap(), "{name}");
                if let Some(how) = vector.get("attenuation") {
                    let caveats: Vec<Caveat> = serde_json::from_value(how["caveats"].clone()).unwrap();
                    let parent = how["parent"].as_str().unwrap();
                    let derived = attenuate(parent, how["jti"].as_str().unwrap(), &caveats).unwrap();
                    assert_eq!(derived, vector["token"].as_str().unwrap(), "{name}");
                    CapabilityToken::parse(parent).unwrap().verify(&root_key).unwrap();
                }
            }
            (Err(error), false) => assert_eq!(error.code(), expect["error"], "{name}: {error}"),
            (Ok(_), false) => panic!("{name}: accepted, expected `{}`", expect["error"]),
            (Err(error), true) => panic!("{name}: rejected with `{}`: {error}", error.code()),
        }
    }
}

#[test]
fn expired_vector_is_expired_at_its_now() {
    let file: Value = serde_json::from_str(&generate()).unwrap();
    let expired = file["vectors"].as_array().unwrap().iter().find(|v| v["name"] == "expired").unwrap();
    assert_eq!(expired["expect"]["expired_at_now"], true);
    assert_eq!(expired["expect"]["valid"], true);
}

#[test]
fn every_error_code_but_unknown_kid_and_invalid_jti_has_a_vector() {
    let generated = generate();
    let file: Value = serde_json::from_str(&generated).unwrap();
    let codes: Vec<&str> =
        file["vectors"].as_array().unwrap().iter().filter_map(|v| v["expect"]["error"].as_str()).collect();
    for code in TokenError::CODES {
        if code != "unknown_kid" && code != "invalid_jti" {
            assert!(codes.contains(&code), "no vector for `{code}`");
        }
    }
}
