//! Behaviour of the token module beyond what the vectors pin.

use lictor_api::ids::{AgentId, TenantId};
use lictor_api::intents::ActionType;

use super::format::{b64, chain_step};
use super::*;

fn key() -> [u8; 32] {
    derive_root_key(b"unit-test secret")
}

fn jti(value: &str) -> Jti {
    Jti::parse(value).unwrap()
}

fn header() -> TokenHeader {
    TokenHeader::root(
        "tok-test",
        jti("root"),
        TenantId::parse("acme").unwrap(),
        AgentId::parse("bot").unwrap(),
        1_700_000_000,
    )
}

fn tools(allow: &[&str], deny: &[&str]) -> Caveat {
    Caveat::Tools {
        allow: allow.iter().map(|s| (*s).to_owned()).collect(),
        deny: deny.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// A root token over raw caveat JSON, correctly chained.
fn raw(caveats: &[&str]) -> String {
    let header = serde_json_canonicalizer::to_vec(&header()).unwrap();
    let mut tag = chain_step(&key(), &header);
    let mut token = format!("{PREFIX}{}", b64(&header));
    for caveat in caveats {
        tag = chain_step(&tag, caveat.as_bytes());
        token.push('.');
        token.push_str(&b64(caveat.as_bytes()));
    }
    format!("{token}.{}", b64(&tag))
}

fn code(token: &str) -> &'static str {
    match CapabilityToken::parse(token) {
        Ok(parsed) => match parsed.verify(&key()) {
            Ok(()) => "ok",
            Err(error) => error.code(),
        },
        Err(error) => error.code(),
    }
}

/// Whether `tool` passes every tools caveat of `token`, the way the
/// pipeline combines them (all must hold).
fn allows_tool(token: &CapabilityToken, tool: &str) -> bool {
    token.scoped_caveats().iter().all(|(_, caveat)| match caveat {
        Caveat::Tools { allow, deny } => {
            allow.iter().any(|glob| glob_match(glob, tool)) && !deny.iter().any(|glob| glob_match(glob, tool))
        }
        _ => true,
    })
}

#[test]
fn root_key_is_hkdf_sha256_with_the_specified_info() {
    // Computed independently with Python's hmac module (RFC 5869 by hand).
    assert_eq!(
        hex::encode(derive_root_key(&std::array::from_fn::<u8, 32, _>(|i| i as u8))),
        "8e5ccfc81ba4532f6cbe30251b517640281fe630c072d0b79bdcee81fa6612fe"
    );
}

#[test]
fn minted_token_round_trips_and_verifies() {
    let caveats = [Caveat::Expires { at: 1_700_003_600 }, tools(&["github.*"], &[])];
    let token = mint(&key(), &header(), &caveats).unwrap();
    let parsed = CapabilityToken::parse(&token).unwrap();
    parsed.verify(&key()).unwrap();
    assert_eq!(parsed.encode(), token);
    assert_eq!(parsed.header(), &header());
    assert_eq!(parsed.caveats(), caveats);
    assert_eq!(parsed.jti(), "root");
    assert_eq!(parsed.expires_at(), Some(1_700_003_600));
    assert_eq!(token.parse::<CapabilityToken>().unwrap(), parsed);
}

#[test]
fn wrong_key_is_a_bad_signature() {
    let token = mint(&key(), &header(), &[]).unwrap();
    let parsed = CapabilityToken::parse(&token).unwrap();
    let error = parsed.verify(&derive_root_key(b"another secret")).unwrap_err();
    assert_eq!(error, TokenError::BadSignature);
}

#[test]
fn verify_with_looks_the_key_up_by_kid() {
    let parsed = CapabilityToken::parse(&mint(&key(), &header(), &[]).unwrap()).unwrap();
    parsed.verify_with(|kid| (kid == "tok-test").then(key)).unwrap();
    let error = parsed.verify_with(|_| None).unwrap_err();
    assert_eq!(error.code(), "unknown_kid");
    assert_eq!(error.to_string(), "unknown token signing key `tok-test`");
}

#[test]
fn debug_output_leaves_out_the_tag() {
    let token = mint(&key(), &header(), &[]).unwrap();
    let tag = token.rsplit('.').next().unwrap();
    let debug = format!("{:?}", CapabilityToken::parse(&token).unwrap());
    assert!(!debug.contains(tag), "{debug}");
    assert!(debug.contains("<redacted>"));
}

#[test]
fn canonical_caveat_is_accepted() {
    assert_eq!(code(&raw(&[r#"{"n":5,"type":"max_calls"}"#])), "ok");
}

#[test]
fn non_canonical_json_is_rejected() {
    for caveat in [
        r#"{"n":5, "type":"max_calls"}"#,
        r#" {"n":5,"type":"max_calls"}"#,
        "{\"n\":5,\"type\":\"max_calls\"}\n",
        r#"{"type":"max_calls","n":5}"#,
        r#"{"n":5,"n":5,"type":"max_calls"}"#,
        r#"{"n":5.0,"type":"max_calls"}"#,
        r#"{"n":5e0,"type":"max_calls"}"#,
        r#"{"n":-0,"type":"max_calls"}"#,
        r#"{"aud":"\u0061","type":"audience"}"#,
        r#"{"aud":"a\/b","type":"audience"}"#,
        r#"{"allow":["a"],"deny":[],"type":"tools"}"#,
    ] {
        let error = CapabilityToken::parse(&raw(&[caveat])).unwrap_err();
        assert_eq!(error, TokenError::NonCanonical { segment: Segment::Caveat(1) }, "{caveat}");
    }
}

#[test]
fn null_optional_header_field_is_not_canonical() {
    let header = String::from_utf8(serde_json_canonicalizer::to_vec(&header()).unwrap())
        .unwrap()
        .replace(r#","root_jti""#, r#","parent_jti":null,"root_jti""#);
    let tag = chain_step(&key(), header.as_bytes());
    let token = format!("{PREFIX}{}.{}", b64(header.as_bytes()), b64(&tag));
    assert_eq!(
        CapabilityToken::parse(&token).unwrap_err(),
        TokenError::NonCanonical { segment: Segment::Header }
    );
}

#[test]
fn numbers_must_be_javascript_safe_non_negative_integers() {
    assert_eq!(code(&raw(&[r#"{"n":9007199254740991,"type":"max_calls"}"#])), "ok");
    for n in ["9007199254740992", "18446744073709551616", "-1", "1.5", "1e400", "05", "+1"] {
        let caveat = format!(r#"{{"n":{n},"type":"max_calls"}}"#);
        assert_eq!(code(&raw(&[&caveat])), "malformed", "{n}");
    }
    // Numbers are checked everywhere, even where a string is expected.
    assert_eq!(code(&raw(&[r#"{"aud":-1,"type":"audience"}"#])), "malformed");
}

#[test]
fn unknown_fields_and_types_are_rejected() {
    assert_eq!(code(&raw(&[r#"{"n":5,"note":"x","type":"max_calls"}"#])), "malformed");
    assert_eq!(code(&raw(&[r#"{"region":"eu","type":"geofence"}"#])), "unknown_caveat");
    assert_eq!(code(&raw(&[r#"{"n":5}"#])), "malformed");
    assert_eq!(code(&raw(&[r#"{"n":5,"type":5}"#])), "malformed");
    assert_eq!(code(&raw(&["[]"])), "malformed");
    assert_eq!(code(&raw(&[r#"{"type":"max_calls"}"#])), "malformed");
    // The type is looked at before the other fields.
    assert_eq!(code(&raw(&[r#"{"n":-1,"type":"geofence"}"#])), "malformed");
    assert_eq!(code(&raw(&[r#"{"n":"x","type":"geofence"}"#])), "unknown_caveat");
}

#[test]
fn caveat_values_are_validated() {
    for caveat in [
        r#"{"n":0,"type":"max_calls"}"#,
        r#"{"n":0,"type":"rate_per_min"}"#,
        r#"{"allow":[],"type":"tools"}"#,
        r#"{"allow":[],"type":"servers"}"#,
        r#"{"allow":[],"type":"action_types"}"#,
        r#"{"allow":["launch"],"type":"action_types"}"#,
        r#"{"allow":[""],"type":"servers"}"#,
        r#"{"allow":["a\tb"],"type":"servers"}"#,
        r#"{"aud":"","type":"audience"}"#,
        r#"{"jti":"bad jti","parent_jti":"root","type":"hop"}"#,
    ] {
        assert_eq!(code(&raw(&[caveat])), "malformed", "{caveat}");
    }
    assert_eq!(code(&raw(&[r#"{"cents":0,"type":"max_usd"}"#])), "ok");
    assert_eq!(code(&raw(&[r#"{"allow":["access","modify"],"type":"action_types"}"#])), "ok");
}

#[test]
fn structure_errors_are_malformed() {
    let good = mint(&key(), &header(), &[Caveat::MaxCalls { n: 1 }]).unwrap();
    let (rest, tag) = good.rsplit_once('.').unwrap();
    for token in [
        String::new(),
        "lictor_cap1.".to_owned(),
        good.replacen("lictor_cap1.", "lictor_cap2.", 1),
        good.replacen("lictor_cap1.", "", 1),
        rest.split('.').take(2).collect::<Vec<_>>().join("."),
        format!("{rest}..{tag}"),
        format!("{rest}.{tag}="),
        format!("{rest}.+{}", &tag[1..]),
        format!("{rest}.{}", &tag[..tag.len() - 1]),
        format!("{rest}.{tag}AAAA"),
        good.replacen("lictor_cap1.", "lictor_cap1.\u{e9}", 1),
    ] {
        assert_eq!(code(&token), "malformed", "{token}");
    }
}

#[test]
fn base64_with_non_zero_trailing_bits_is_rejected() {
    let token = mint(&key(), &header(), &[]).unwrap();
    let (rest, tag) = token.rsplit_once('.').unwrap();
    // 32 bytes are 43 characters whose last one carries 2 unused bits.
    let last = tag.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let sloppy = alphabet.chars().nth(index | 1).unwrap();
    let tampered = format!("{rest}.{}{sloppy}", &tag[..tag.len() - 1]);
    assert_eq!(code(&tampered), "malformed");
}

#[test]
fn header_version_and_lineage_are_checked() {
    let mut v2 = header();
    v2.v = 2;
    assert_eq!(mint(&key(), &v2, &[]).unwrap_err().code(), "unsupported_version");

    let mut orphan = header();
    orphan.root_jti = jti("elsewhere");
    assert_eq!(mint(&key(), &orphan, &[]).unwrap_err().code(), "malformed");

    let mut own_parent = header();
    own_parent.parent_jti = Some(jti("root"));
    assert_eq!(mint(&key(), &own_parent, &[]).unwrap_err().code(), "malformed");

    let mut child = header();
    child.jti = jti("child");
    child.parent_jti = Some(jti("root"));
    let token = mint(&key(), &child, &[]).unwrap();
    let parsed = CapabilityToken::parse(&token).unwrap();
    assert_eq!(parsed.revocation_jtis(), ["root", "child"]);

    let mut empty_kid = header();
    empty_kid.kid = String::new();
    assert_eq!(mint(&key(), &empty_kid, &[]).unwrap_err().code(), "malformed");
}

#[test]
fn token_size_limit_is_inclusive() {
    let base = mint(&key(), &header(), &[]).unwrap();
    let at_limit = format!("{base}{}", "A".repeat(MAX_TOKEN_BYTES - base.len()));
    assert_eq!(at_limit.len(), MAX_TOKEN_BYTES);
    // Not rejected for its size (its tag is now too long).
    assert_eq!(code(&at_limit), "malformed");
    assert_eq!(code(&format!("{at_limit}A")), "too_large");

    // The largest valid token of 31 audiences is accepted; one byte more is not.
    let audiences =
        |len: usize| -> Vec<Caveat> { (0..31).map(|_| Caveat::Audience { aud: "a".repeat(len) }).collect() };
    let mut len = 100;
    while mint(&key(), &header(), &audiences(len + 1)).is_ok() {
        len += 1;
    }
    let largest = mint(&key(), &header(), &audiences(len)).unwrap();
    assert!(largest.len() <= MAX_TOKEN_BYTES && largest.len() > MAX_TOKEN_BYTES - 31 * 2);
    assert_eq!(code(&largest), "ok");
    let error = mint(&key(), &header(), &audiences(len + 1)).unwrap_err();
    assert_eq!(error.code(), "too_large");
}

#[test]
fn caveat_count_limit_counts_hops() {
    let caveats: Vec<Caveat> = (1..=32).map(|n| Caveat::MaxCalls { n }).collect();
    let full = mint(&key(), &header(), &caveats).unwrap();
    assert_eq!(code(&full), "ok");
    let over: Vec<Caveat> = (1..=33).map(|n| Caveat::MaxCalls { n }).collect();
    assert_eq!(mint(&key(), &header(), &over).unwrap_err(), TokenError::TooManyCaveats { count: 33 });
    let error = attenuate(&full, "child", &[]).unwrap_err();
    assert_eq!(error, TokenError::TooManyCaveats { count: 33 });
    let almost = mint(&key(), &header(), &caveats[..31]).unwrap();
    assert!(attenuate(&almost, "child", &[]).is_ok());
    assert!(attenuate(&almost, "child", &[Caveat::MaxCalls { n: 1 }]).is_err());
}

#[test]
fn field_limits_are_inclusive() {
    let aud = |len: usize| Caveat::Audience { aud: "a".repeat(len) };
    assert!(mint(&key(), &header(), &[aud(MAX_STRING_BYTES)]).is_ok());
    let error = mint(&key(), &header(), &[aud(MAX_STRING_BYTES + 1)]).unwrap_err();
    assert_eq!(error.code(), "field_too_large");
    assert_eq!(error.to_string(), "caveat 1: `aud` exceeds the limit of 256 bytes");

    let servers = |n: usize| Caveat::Servers { allow: (0..n).map(|i| format!("s{i}")).collect() };
    assert!(mint(&key(), &header(), &[servers(MAX_LIST_ITEMS)]).is_ok());
    let error = mint(&key(), &header(), &[servers(MAX_LIST_ITEMS + 1)]).unwrap_err();
    assert_eq!(error.to_string(), "caveat 1: `allow` exceeds the limit of 64 items");

    let long_deny = tools(&["a"], &[&"d".repeat(257)]);
    let error = mint(&key(), &header(), &[long_deny]).unwrap_err();
    assert_eq!(error.to_string(), "caveat 1: `deny[0]` exceeds the limit of 256 bytes");

    let mut long_kid = header();
    long_kid.kid = "k".repeat(257);
    assert_eq!(mint(&key(), &long_kid, &[]).unwrap_err().code(), "field_too_large");
}

#[test]
fn limits_come_before_value_rules() {
    // An over-long string that is also not ASCII reports the limit.
    let caveat = format!(r#"{{"aud":"{}","type":"audience"}}"#, "\u{e9}".repeat(200));
    assert_eq!(code(&raw(&[&caveat])), "field_too_large");
}

#[test]
fn glob_matching() {
    let cases = [
        ("github.create_issue", "github.create_issue", true),
        ("github.create_issue", "github.create_issues", false),
        ("github.*", "github.create_issue", true),
        ("github.*", "github.", true),
        ("github.*", "github", false),
        ("*", "", true),
        ("*", "anything.at.all", true),
        ("", "", true),
        ("", "a", false),
        ("*.delete_*", "github.delete_repo", true),
        ("*.delete_*", "github.create_issue", false),
        ("git*hub", "github", true),
        ("git*hub", "git.x.hub", true),
        ("a*b*c", "a.b.b.c", true),
        ("a*b*c", "a.b.b.d", false),
        ("jira.get_?ssue", "jira.get_issue", true),
        ("jira.get_?ssue", "jira.get_ssue", false),
        ("???", "abc", true),
        ("???", "ab", false),
        ("?*", "", false),
        ("*?", "x", true),
        ("**", "x", true),
        ("GitHub.*", "github.x", false),
        ("[ab]", "a", false),
        ("[ab]", "[ab]", true),
        ("a\\*", "a\\bc", true),
        ("*a*a*a*a*a*b", &"a".repeat(200), false),
    ];
    for (pattern, name, expected) in cases {
        assert_eq!(glob_match(pattern, name), expected, "{pattern} vs {name}");
    }
}

#[test]
fn attenuation_only_narrows() {
    let root = mint(&key(), &header(), &[tools(&["github.*", "jira.*"], &[])]).unwrap();
    let child =
        attenuate(&root, "child", &[tools(&["github.*"], &["github.delete_*"]), Caveat::MaxCalls { n: 3 }])
            .unwrap();
    let parent = CapabilityToken::parse(&root).unwrap();
    let derived = CapabilityToken::parse(&child).unwrap();
    derived.verify(&key()).unwrap();

    // The parent's caveats are a prefix of the child's: all still apply.
    assert_eq!(&derived.caveats()[..parent.caveats().len()], parent.caveats());
    assert_eq!(derived.header(), parent.header());
    for tool in ["github.create_issue", "github.delete_repo", "jira.get_issue", "slack.post"] {
        assert!(
            !allows_tool(&derived, tool) || allows_tool(&parent, tool),
            "child allows `{tool}` which its parent does not"
        );
    }
    assert!(allows_tool(&parent, "jira.get_issue"));
    assert!(!allows_tool(&derived, "jira.get_issue"));
    assert!(!allows_tool(&derived, "github.delete_repo"));
    assert!(allows_tool(&derived, "github.create_issue"));

    // Dropping the child's restrictions (keeping its tag) breaks the chain.
    let segments: Vec<&str> = child.split('.').collect();
    let stripped = format!("{}.{}", segments[..segments.len() - 3].join("."), segments[segments.len() - 1]);
    assert_eq!(code(&stripped), "bad_signature");
    // So does swapping in a wider caveat.
    let wider = b64(serde_json_canonicalizer::to_string(&tools(&["*"], &[])).unwrap().as_bytes());
    let mut swapped: Vec<&str> = segments.clone();
    let index = segments.len() - 3;
    swapped[index] = &wider;
    assert_eq!(code(&swapped.join(".")), "bad_signature");
}

#[test]
fn attenuation_needs_no_key_and_validates_the_new_jti() {
    let root = mint(&key(), &header(), &[]).unwrap();
    assert_eq!(attenuate(&root, "bad jti", &[]).unwrap_err().code(), "invalid_jti");
    assert_eq!(attenuate(&root, &"j".repeat(65), &[]).unwrap_err().code(), "invalid_jti");
    assert!(attenuate(&root, &"j".repeat(64), &[]).is_ok());
    assert_eq!(attenuate(&root, "root", &[]).unwrap_err().code(), "bad_hop");
    assert_eq!(attenuate("lictor_cap1.nope", "child", &[]).unwrap_err().code(), "malformed");
    // Attenuating a token with a wrong signature still works offline; the
    // result fails verification just the same.
    let forged = mint(&derive_root_key(b"forger"), &header(), &[]).unwrap();
    let child = attenuate(&forged, "child", &[]).unwrap();
    assert_eq!(code(&child), "bad_signature");
}

#[test]
fn jti_chain_and_scopes_follow_the_hops() {
    let root =
        mint(&key(), &header(), &[Caveat::MaxCalls { n: 100 }, Caveat::MaxUsd { cents: 500 }]).unwrap();
    let child = attenuate(&root, "child", &[Caveat::MaxCalls { n: 10 }]).unwrap();
    let grandchild = attenuate(&child, "grandchild", &[Caveat::RatePerMin { n: 2 }]).unwrap();
    let bare = attenuate(&grandchild, "great", &[]).unwrap();

    let parsed = CapabilityToken::parse(&grandchild).unwrap();
    parsed.verify(&key()).unwrap();
    assert_eq!(parsed.jti_chain(), ["root", "child", "grandchild"]);
    assert_eq!(parsed.jti(), "grandchild");
    assert_eq!(parsed.revocation_jtis(), ["root", "child", "grandchild"]);
    let scoped: Vec<(&str, &str)> =
        parsed.scoped_caveats().into_iter().map(|(scope, c)| (scope, c.type_name())).collect();
    assert_eq!(
        scoped,
        [("root", "max_calls"), ("root", "max_usd"), ("child", "max_calls"), ("grandchild", "rate_per_min")]
    );
    assert_eq!(parsed.caveats()[2], Caveat::Hop { jti: jti("child"), parent_jti: jti("root") });

    let parsed = CapabilityToken::parse(&bare).unwrap();
    assert_eq!(parsed.jti(), "great");
    assert_eq!(parsed.scoped_caveats().len(), 4);
    assert_eq!(parsed.caveats().len(), 7);
    assert_eq!(CapabilityToken::parse(&root).unwrap().jti_chain(), ["root"]);
}

#[test]
fn hops_must_continue_the_chain() {
    let hop = |jti: &str, parent: &str| format!(r#"{{"jti":"{jti}","parent_jti":"{parent}","type":"hop"}}"#);
    assert_eq!(code(&raw(&[&hop("a", "root"), &hop("b", "a")])), "ok");
    assert_eq!(code(&raw(&[&hop("a", "root"), &hop("b", "root")])), "bad_hop");
    assert_eq!(code(&raw(&[&hop("a", "other")])), "bad_hop");
    assert_eq!(code(&raw(&[&hop("a", "root"), &hop("root", "a")])), "bad_hop");
    assert_eq!(code(&raw(&[&hop("a", "root"), &hop("a", "a")])), "bad_hop");
    // Minting checks hops too.
    let error = mint(&key(), &header(), &[Caveat::Hop { jti: jti("a"), parent_jti: jti("x") }]).unwrap_err();
    assert_eq!(error.to_string(), "caveat 1: hop `parent_jti` `x` is not the jti in effect `root`");
}

#[test]
fn expires_at_is_the_earliest_expiry_of_any_scope() {
    let root = mint(&key(), &header(), &[Caveat::Expires { at: 500 }, Caveat::Expires { at: 900 }]).unwrap();
    let child = attenuate(&root, "child", &[Caveat::Expires { at: 300 }]).unwrap();
    assert_eq!(CapabilityToken::parse(&root).unwrap().expires_at(), Some(500));
    assert_eq!(CapabilityToken::parse(&child).unwrap().expires_at(), Some(300));
    assert_eq!(CapabilityToken::parse(&mint(&key(), &header(), &[]).unwrap()).unwrap().expires_at(), None);
}

#[test]
fn every_caveat_type_is_known_and_round_trips() {
    let caveats = [
        Caveat::Expires { at: 1 },
        tools(&["a"], &["b"]),
        Caveat::Servers { allow: vec!["s".to_owned()] },
        Caveat::ActionTypes { allow: ActionType::ALL.to_vec() },
        Caveat::MaxCalls { n: 1 },
        Caveat::MaxUsd { cents: 0 },
        Caveat::RatePerMin { n: 1 },
        Caveat::StepUp { at: 1 },
        Caveat::Audience { aud: "gw".to_owned() },
        Caveat::Hop { jti: jti("h"), parent_jti: jti("root") },
    ];
    assert_eq!(caveats.iter().map(Caveat::type_name).collect::<Vec<_>>(), Caveat::TYPES);
    for caveat in &caveats {
        let json: serde_json::Value = serde_json::to_value(caveat).unwrap();
        assert_eq!(json["type"], caveat.type_name());
    }
    let token = mint(&key(), &header(), &caveats).unwrap();
    assert_eq!(CapabilityToken::parse(&token).unwrap().caveats(), caveats);
}

#[test]
fn error_codes_are_distinct_snake_case() {
    let mut codes = TokenError::CODES.to_vec();
    assert!(codes.iter().all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), TokenError::CODES.len());
    assert!(TokenError::CODES.contains(&TokenError::BadSignature.code()));
}

/// The glob dialect by its definition, recursively (exponential, fine for
/// short inputs).
fn glob_by_definition(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| glob_by_definition(rest, &name[skip..])),
        Some((&c, rest)) => name
            .split_first()
            .is_some_and(|(&n, tail)| (c == '?' || c == n) && glob_by_definition(rest, tail)),
    }
}

proptest::proptest! {
    #[test]
    fn glob_match_agrees_with_its_definition(pattern in "[ab.*?]{0,8}", name in "[ab.]{0,10}") {
        let expected = glob_by_definition(
            &pattern.chars().collect::<Vec<_>>(),
            &name.chars().collect::<Vec<_>>(),
        );
        proptest::prop_assert_eq!(glob_match(&pattern, &name), expected);
    }

    #[test]
    fn parse_never_panics_and_accepts_only_its_own_encoding(suffix in "[A-Za-z0-9_.=-]{0,200}") {
        let text = format!("{PREFIX}{suffix}");
        if let Ok(token) = CapabilityToken::parse(&text) {
            proptest::prop_assert_eq!(token.encode(), text);
        }
    }

    #[test]
    fn attenuated_tokens_keep_every_parent_caveat_and_verify(
        limits in proptest::collection::vec(1u64..1000, 0..6),
        hops in proptest::collection::vec((1u64..1000, 0i64..2_000_000_000), 1..5),
    ) {
        let caveats: Vec<Caveat> = limits.iter().map(|&n| Caveat::MaxCalls { n }).collect();
        let mut token = mint(&key(), &header(), &caveats).unwrap();
        for (i, (n, at)) in hops.iter().enumerate() {
            let parent = CapabilityToken::parse(&token).unwrap();
            let child = attenuate(&token, &format!("hop{i}"), &[Caveat::MaxCalls { n: *n }, Caveat::Expires { at: *at }])
                .unwrap();
            let derived = CapabilityToken::parse(&child).unwrap();
            derived.verify(&key()).unwrap();
            proptest::prop_assert_eq!(&derived.caveats()[..parent.caveats().len()], parent.caveats());
            proptest::prop_assert_eq!(derived.jti_chain().len(), parent.jti_chain().len() + 1);
            proptest::prop_assert!(derived.expires_at() <= parent.expires_at().or(Some(i64::MAX)));
            token = child;
        }
    }
}
