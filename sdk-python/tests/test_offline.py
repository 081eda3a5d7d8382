"""Canonical JSON, attenuation options and globs, without a gateway."""

from __future__ import annotations

import base64
import json

import pytest

from lictor.canonical_json import CanonicalJsonError, canonical_json
from lictor.tokens import TokenError, attenuate, derive_root_key, glob_match, parse_token

from .vectors import load

ROOT = next(v for v in load("tokens/tokens.json")["vectors"] if v["name"] == "root_no_caveats")


def test_canonical_json_follows_rfc_8785() -> None:
    assert (
        canonical_json({"b": [1, 2.0, True, None], "a": "é\n\x1f"})
        == '{"a":"é\\n\\u001f","b":[1,2,true,null]}'.encode()
    )
    # Keys sort by UTF-16 code units (RFC 8785 §3.2.3's example order).
    assert list(json.loads(canonical_json({"\ufb01": 1, "\U0001f600": 2, "\u20ac": 3}))) == [
        "\u20ac",
        "\U0001f600",
        "\ufb01",
    ]
    assert canonical_json([1e21, 1e-7, 0.1, -0.0, 123.456]) == b"[1e+21,1e-7,0.1,0,123.456]"
    with pytest.raises(CanonicalJsonError):
        canonical_json(float("nan"))
    with pytest.raises(CanonicalJsonError):
        canonical_json({1: "x"})


def test_attenuate_appends_every_caveat_type_in_table_order() -> None:
    child = attenuate(
        ROOT["token"],
        jti="tok_sdk",
        tools=["github.*"],
        deny_tools=["github.delete_*"],
        servers=["github"],
        action_types=["access"],
        max_calls=5,
        max_usd="12.50",
        rate_per_min=3,
        expires_at=1767312000,
        step_up_at=1767225600,
        audience="lictor",
    )
    token = parse_token(child)
    assert token.caveats == [
        {"type": "hop", "jti": "tok_sdk", "parent_jti": "tok_root"},
        {"type": "expires", "at": 1767312000},
        {"type": "tools", "allow": ["github.*"], "deny": ["github.delete_*"]},
        {"type": "servers", "allow": ["github"]},
        {"type": "action_types", "allow": ["access"]},
        {"type": "max_calls", "n": 5},
        {"type": "max_usd", "cents": 1250},
        {"type": "rate_per_min", "n": 3},
        {"type": "step_up", "at": 1767225600},
        {"type": "audience", "aud": "lictor"},
    ]
    assert token.jti == "tok_sdk" and token.caveat_scopes == ["tok_sdk"] * 10
    secret = base64.urlsafe_b64decode(ROOT["secret"] + "=" * (-len(ROOT["secret"]) % 4))
    token.verify(derive_root_key(secret))  # the chain still verifies under the gateway's key
    assert parse_token(attenuate(child, max_calls=2, jti="tok_more")).jti_chain == ["tok_root", "tok_sdk", "tok_more"]


def test_expires_in_counts_from_now_and_bad_requests_are_refused() -> None:
    assert parse_token(attenuate(ROOT["token"], expires_in=60, now=1000)).expires_at == 1060
    for bad, code in [
        (dict(jti="not a jti"), "invalid_jti"),
        (dict(max_calls=0), "malformed"),
        (dict(action_types=["launch"]), "malformed"),
        (dict(max_usd="0.001"), "malformed"),
        (dict(audience="x" * 257), "field_too_large"),
        (dict(caveats=[{"type": "geofence"}]), "unknown_caveat"),
        (dict(caveats=[{"type": "max_calls", "n": 1}] * 32), "too_many_caveats"),
    ]:
        with pytest.raises(TokenError) as caught:
            attenuate(ROOT["token"], **bad)
        assert caught.value.code == code, bad


def test_globs() -> None:
    assert glob_match("github.*", "github.create_issue")
    assert not glob_match("github.*", "github")
    assert glob_match("*.delete_*", "jira.delete_issue")
    assert glob_match("a?c", "abc") and not glob_match("a?c", "ac")
    assert glob_match("*", "") and not glob_match("", "x")
