"""Every vector of conformance/vectors/tokens/ must agree byte for byte with
the Rust implementation that generated it."""

from __future__ import annotations

import base64

import pytest

from lictor.tokens import TokenError, attenuate, derive_root_key, mint, parse_token

from .vectors import load

DOCUMENT = load("tokens/tokens.json")
VECTORS = DOCUMENT["vectors"]


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_vector_file_is_the_one_this_suite_knows() -> None:
    assert DOCUMENT["format"] == "lictor capability token vectors, format lictor_cap1"
    assert len(VECTORS) >= 30
    assert {v["expect"].get("error") for v in VECTORS if not v["expect"]["valid"]} >= {
        "bad_signature",
        "non_canonical",
        "malformed",
        "unknown_caveat",
        "bad_hop",
        "too_many_caveats",
        "too_large",
        "field_too_large",
        "unsupported_version",
    }


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_token_vector(vector: dict) -> None:
    root_key = derive_root_key(unb64(vector["secret"]))
    assert base64.urlsafe_b64encode(root_key).rstrip(b"=").decode() == vector["root_key"]
    expect = vector["expect"]
    if not expect["valid"]:
        with pytest.raises(TokenError) as caught:
            parse_token(vector["token"]).verify(root_key)
        assert caught.value.code == expect["error"], str(caught.value)
        return

    token = parse_token(vector["token"])
    token.verify(root_key)
    assert token.header == expect["header"]
    assert token.caveats == expect["caveats"]
    assert token.jti_chain == expect["jti_chain"]
    assert token.caveat_scopes == expect["caveat_scopes"]
    assert token.expires_at == expect["expires_at"]
    if "now" in vector:
        assert token.is_expired(vector["now"]) == expect["expired_at_now"]
    assert token.encode() == vector["token"]
    # Minting the header and every caveat (hops included) reproduces it.
    assert mint(root_key, expect["header"], expect["caveats"]) == vector["token"]
    if "attenuation" in vector:
        attenuation = vector["attenuation"]
        derived = attenuate(attenuation["parent"], jti=attenuation["jti"], caveats=attenuation["caveats"])
        assert derived == vector["token"]


def test_a_tampered_tag_is_refused_under_the_right_key() -> None:
    valid = next(v for v in VECTORS if v["name"] == "attenuated_once")
    key = derive_root_key(unb64(valid["secret"]))
    head, _, tag = valid["token"].rpartition(".")
    flipped = "A" if tag[0] != "A" else "B"
    with pytest.raises(TokenError) as caught:
        parse_token(f"{head}.{flipped}{tag[1:]}").verify(key)
    assert caught.value.code == "bad_signature"
