"""Capability tokens (`lictor_cap1.…`): parsing, offline attenuation, and the
gateway-side verification the conformance vectors exercise.

The byte format is normative in `docs/tokens.md` and pinned by
`conformance/vectors/tokens/`. Parsing checks the steps of that document in
order and reports the first failure as a `TokenError` whose `code` is the
Rust `TokenError::code()`.

Attenuation needs no key: it appends a hop and caveats and extends the
HMAC chain from the token's final tag. Nothing here talks to a gateway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .canonical_json import CanonicalJsonError, canonical_json

__all__ = [
    "ACTION_TYPES",
    "CAVEAT_TYPES",
    "CapabilityToken",
    "TokenError",
    "attenuate",
    "derive_root_key",
    "glob_match",
    "mint",
    "parse_token",
]

PREFIX = "lictor_cap1."
MAX_TOKEN_BYTES = 8192
MAX_CAVEATS = 32
MAX_STRING_BYTES = 256
MAX_LIST_ITEMS = 64
MAX_INTEGER = 2**53 - 1
ROOT_KEY_INFO = b"lictor/capability-token/v1"
TAG_LEN = 32

CAVEAT_TYPES = (
    "expires",
    "tools",
    "servers",
    "action_types",
    "max_calls",
    "max_usd",
    "rate_per_min",
    "step_up",
    "audience",
    "hop",
)
ACTION_TYPES = ("communicate", "transact", "access", "control", "publish", "recommend", "modify")

_JTI = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
_AGENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")
_B64URL = re.compile(r"[A-Za-z0-9_-]*\Z")

# Each caveat type's fields: name -> kind, in the order limits are checked.
_CAVEAT_FIELDS: dict[str, dict[str, str]] = {
    "expires": {"at": "i64"},
    "tools": {"allow": "strings", "deny": "strings?"},
    "servers": {"allow": "strings"},
    "action_types": {"allow": "actions"},
    "max_calls": {"n": "u64"},
    "max_usd": {"cents": "u64"},
    "rate_per_min": {"n": "u64"},
    "step_up": {"at": "i64"},
    "audience": {"aud": "string"},
    "hop": {"jti": "jti", "parent_jti": "jti"},
}


class TokenError(ValueError):
    """Why a token cannot be parsed, verified or attenuated.

    `code` is one of `too_large`, `too_many_caveats`, `malformed`,
    `non_canonical`, `unknown_caveat`, `unsupported_version`,
    `field_too_large`, `bad_hop`, `invalid_jti`, `unknown_kid`,
    `bad_signature`; `segment` names where (`token`, `header`, `caveat 3`,
    `tag`) when it applies.
    """

    def __init__(self, code: str, message: str, segment: str | None = None) -> None:
        self.code = code
        self.segment = segment
        self.message = message
        super().__init__(f"{code}: {segment + ': ' if segment else ''}{message}")


def derive_root_key(secret: bytes) -> bytes:
    """HKDF-SHA256(ikm=secret, salt=empty, info="lictor/capability-token/v1"), 32 bytes."""
    prk = hmac.new(b"\x00" * 32, secret, hashlib.sha256).digest()
    return hmac.new(prk, ROOT_KEY_INFO + b"\x01", hashlib.sha256).digest()


def _chain_step(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(segment: str, text: str) -> bytes:
    if not _B64URL.match(text):
        raise TokenError("malformed", "invalid base64url: a character is not in the URL-safe alphabet", segment)
    if len(text) % 4 == 1:
        raise TokenError("malformed", f"invalid base64url: length {len(text)} is impossible", segment)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise TokenError("malformed", f"invalid base64url: {error}", segment) from None
    if _b64(raw) != text:
        raise TokenError("malformed", "invalid base64url: unused bits are not zero", segment)
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not JSON")


def _check_numbers(segment: str, value: Any) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        ok = 0 <= value <= MAX_INTEGER
    elif isinstance(value, float):
        ok = value.is_integer() and 0.0 <= value <= float(MAX_INTEGER)
    elif isinstance(value, list):
        for item in value:
            _check_numbers(segment, item)
        return
    elif isinstance(value, dict):
        for item in value.values():
            _check_numbers(segment, item)
        return
    else:  # pragma: no cover - json.loads yields nothing else
        ok = False
    if not ok:
        raise TokenError("malformed", f"number `{value}` is not an integer in 0..=9007199254740991", segment)


def _canonical(segment: str, value: Any) -> bytes:
    try:
        return canonical_json(value)
    except CanonicalJsonError as error:
        raise TokenError("malformed", f"cannot canonicalise: {error}", segment) from None


def _decode_json(segment: str, text: str) -> tuple[bytes, Any]:
    raw = _unb64(segment, text)
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise TokenError("malformed", f"invalid JSON: {error}", segment) from None
    _check_numbers(segment, value)
    if _canonical(segment, value) != raw:
        raise TokenError("non_canonical", "not in its one canonical form", segment)
    return raw, value


def _is_int(value: Any) -> bool:
    # JSON integers parse to int; `1.0` was already refused as non-canonical.
    return isinstance(value, int) and not isinstance(value, bool)


def _typed_field(segment: str, name: str, kind: str, value: Any) -> Any:
    def bad(why: str) -> TokenError:
        return TokenError("malformed", f"`{name}`: {why}", segment)

    if kind in ("u64", "i64"):
        if not _is_int(value):
            raise bad("expected an integer")
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise bad("expected a string")
        return value
    if kind == "jti":
        if not isinstance(value, str) or not _JTI.match(value):
            raise bad("expected a jti (`[A-Za-z0-9_-]{1,64}`)")
        return value
    if kind in ("strings", "strings?"):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise bad("expected a list of strings")
        return value
    if kind == "actions":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise bad("expected a list of action types")
        for item in value:
            if item not in ACTION_TYPES:
                raise bad(f"unknown action type `{item}`")
        return value
    raise AssertionError(kind)  # pragma: no cover


def _check_string_len(segment: str, name: str, value: str) -> None:
    if len(value.encode("utf-8")) > MAX_STRING_BYTES:
        raise TokenError("field_too_large", f"`{name}` exceeds {MAX_STRING_BYTES} bytes", segment)


def _check_list_len(segment: str, name: str, items: Sequence[Any]) -> None:
    if len(items) > MAX_LIST_ITEMS:
        raise TokenError("field_too_large", f"`{name}` exceeds {MAX_LIST_ITEMS} items", segment)


def _check_text(segment: str, name: str, value: str) -> None:
    if not value:
        raise TokenError("malformed", f"`{name}` must not be empty", segment)
    if not all(0x20 <= ord(ch) <= 0x7E for ch in value):
        raise TokenError("malformed", f"`{name}` must be printable ASCII", segment)


_HEADER_FIELDS = {
    "v": "u64",
    "kid": "string",
    "jti": "jti",
    "parent_jti": "jti?",
    "root_jti": "jti",
    "tenant": "tenant",
    "sub": "agent",
    "iat": "i64",
}


def _parse_header(text: str) -> tuple[bytes, dict[str, Any]]:
    segment = "header"
    raw, value = _decode_json(segment, text)
    if not isinstance(value, dict):
        raise TokenError("malformed", "the header must be a JSON object", segment)
    if "v" in value and not (_is_int(value["v"]) and value["v"] == 1):
        raise TokenError("unsupported_version", f"version `{json.dumps(value['v'])}` is not 1", segment)
    header: dict[str, Any] = {}
    for name in value:
        if name not in _HEADER_FIELDS:
            raise TokenError("malformed", f"unknown field `{name}`", segment)
    for name, kind in _HEADER_FIELDS.items():
        if name not in value:
            if kind.endswith("?"):
                continue
            raise TokenError("malformed", f"missing field `{name}`", segment)
        item = value[name]
        if kind == "jti?":
            if item is None:
                continue
            kind = "jti"
        if kind == "tenant":
            if not isinstance(item, str) or not _TENANT.match(item):
                raise TokenError("malformed", f"`tenant`: invalid tenant id `{item}`", segment)
        elif kind == "agent":
            if not isinstance(item, str) or not _AGENT.match(item):
                raise TokenError("malformed", f"`sub`: invalid agent id `{item}`", segment)
        else:
            _typed_field(segment, name, kind, item)
        header[name] = item
    if _canonical(segment, header) != raw:
        raise TokenError("non_canonical", "an optional field is present but empty", segment)
    _check_string_len(segment, "kid", header["kid"])
    _check_text(segment, "kid", header["kid"])
    parent = header.get("parent_jti")
    if parent is None and header["root_jti"] != header["jti"]:
        raise TokenError("malformed", "`root_jti` must equal `jti` when there is no `parent_jti`", segment)
    if parent is not None and (parent == header["jti"] or header["root_jti"] == header["jti"]):
        raise TokenError(
            "malformed", "`jti` must differ from `parent_jti` and `root_jti` when there is a `parent_jti`", segment
        )
    return raw, header


def _typed_caveat(segment: str, value: Mapping[str, Any]) -> dict[str, Any]:
    kind = value["type"]
    fields = _CAVEAT_FIELDS[kind]
    for name in value:
        if name != "type" and name not in fields:
            raise TokenError("malformed", f"unknown field `{name}` in a `{kind}` caveat", segment)
    caveat: dict[str, Any] = {"type": kind}
    for name, field_kind in fields.items():
        if name not in value:
            if field_kind.endswith("?"):
                continue
            raise TokenError("malformed", f"missing field `{name}` in a `{kind}` caveat", segment)
        caveat[name] = _typed_field(segment, name, field_kind, value[name])
    # The optional `deny` list is omitted when empty.
    if kind == "tools" and caveat.get("deny") == []:
        del caveat["deny"]
    return caveat


def _check_caveat(segment: str, caveat: Mapping[str, Any]) -> None:
    kind = caveat["type"]
    # Limits: list lengths, then string lengths, in field order.
    if kind == "tools":
        allow, deny = caveat["allow"], caveat.get("deny", [])
        _check_list_len(segment, "allow", allow)
        _check_list_len(segment, "deny", deny)
        for i, item in enumerate(allow):
            _check_string_len(segment, f"allow[{i}]", item)
        for i, item in enumerate(deny):
            _check_string_len(segment, f"deny[{i}]", item)
    elif kind == "servers":
        _check_list_len(segment, "allow", caveat["allow"])
        for i, item in enumerate(caveat["allow"]):
            _check_string_len(segment, f"allow[{i}]", item)
    elif kind == "action_types":
        _check_list_len(segment, "allow", caveat["allow"])
    elif kind == "audience":
        _check_string_len(segment, "aud", caveat["aud"])
    # Values.
    if kind in ("tools", "servers", "action_types") and not caveat["allow"]:
        raise TokenError("malformed", "`allow` must not be empty", segment)
    if kind in ("tools", "servers"):
        for name in ("allow", "deny"):
            for i, item in enumerate(caveat.get(name, [])):
                _check_text(segment, f"{name}[{i}]", item)
    if kind in ("max_calls", "rate_per_min") and caveat["n"] == 0:
        raise TokenError("malformed", "`n` must be at least 1", segment)
    if kind == "audience":
        _check_text(segment, "aud", caveat["aud"])


def _parse_caveat(segment: str, text: str) -> tuple[bytes, dict[str, Any]]:
    raw, value = _decode_json(segment, text)
    if not isinstance(value, dict):
        raise TokenError("malformed", "a caveat must be a JSON object", segment)
    if "type" not in value:
        raise TokenError("malformed", "missing field `type`", segment)
    kind = value["type"]
    if not isinstance(kind, str):
        raise TokenError("malformed", "field `type` must be a string", segment)
    if kind not in CAVEAT_TYPES:
        raise TokenError("unknown_caveat", f"unknown caveat type `{kind}`", segment)
    caveat = _typed_caveat(segment, value)
    if _canonical(segment, caveat) != raw:
        raise TokenError("non_canonical", "an optional field is present but empty", segment)
    _check_caveat(segment, caveat)
    return raw, caveat


@dataclass(frozen=True)
class CapabilityToken:
    """A parsed (not verified) capability token."""

    header: dict[str, Any]
    caveats: list[dict[str, Any]]
    jti_chain: list[str]
    caveat_scopes: list[str]
    header_bytes: bytes = field(repr=False)
    caveat_bytes: list[bytes] = field(repr=False)
    tag: bytes = field(repr=False)

    @property
    def jti(self) -> str:
        """The effective jti: the last of the jti chain."""
        return self.jti_chain[-1]

    @property
    def tenant(self) -> str:
        return str(self.header["tenant"])

    @property
    def subject(self) -> str:
        return str(self.header["sub"])

    @property
    def expires_at(self) -> int | None:
        """The earliest `expires` caveat, Unix seconds, or None."""
        times = [c["at"] for c in self.caveats if c["type"] == "expires"]
        return min(times) if times else None

    def is_expired(self, now: float | None = None) -> bool:
        expires = self.expires_at
        return expires is not None and (time.time() if now is None else now) >= expires

    def revocation_jtis(self) -> list[str]:
        """Every jti whose revocation kills this token."""
        out: list[str] = []
        for jti in [self.header["root_jti"], self.header.get("parent_jti"), *self.jti_chain]:
            if jti is not None and jti not in out:
                out.append(jti)
        return out

    def verify(self, root_key: bytes) -> None:
        """Recomputes the tag chain under `root_key` (gateway side; the
        conformance vectors use it). Raises `TokenError("bad_signature")`."""
        tag = _chain_step(root_key, self.header_bytes)
        for raw in self.caveat_bytes:
            tag = _chain_step(tag, raw)
        if not hmac.compare_digest(tag, self.tag):
            raise TokenError("bad_signature", "the tag does not match the token's content")

    def encode(self) -> str:
        return _assemble(self.header_bytes, self.caveat_bytes, self.tag)


def parse_token(token: str) -> CapabilityToken:
    """Parses `token` without a key, checking every rule of `docs/tokens.md`."""
    if len(token.encode("utf-8")) > MAX_TOKEN_BYTES:
        raise TokenError("too_large", f"the token is over {MAX_TOKEN_BYTES} bytes")
    if not token.startswith(PREFIX):
        raise TokenError("malformed", f"does not start with `{PREFIX}`", "token")
    segments = token[len(PREFIX) :].split(".")
    if len(segments) < 2:
        raise TokenError("malformed", "needs at least a header and a tag segment", "token")
    header_text, caveat_texts, tag_text = segments[0], segments[1:-1], segments[-1]
    if len(caveat_texts) > MAX_CAVEATS:
        raise TokenError("too_many_caveats", f"{len(caveat_texts)} caveats, at most {MAX_CAVEATS}")
    header_bytes, header = _parse_header(header_text)
    chain = [header["jti"]]
    used = {header["jti"], header["root_jti"]}
    if header.get("parent_jti") is not None:
        used.add(header["parent_jti"])
    caveats: list[dict[str, Any]] = []
    caveat_bytes: list[bytes] = []
    scopes: list[str] = []
    for i, text in enumerate(caveat_texts):
        segment = f"caveat {i + 1}"
        raw, caveat = _parse_caveat(segment, text)
        if caveat["type"] == "hop":
            if caveat["parent_jti"] != chain[-1]:
                raise TokenError(
                    "bad_hop",
                    f"hop `parent_jti` `{caveat['parent_jti']}` is not the jti in effect `{chain[-1]}`",
                    segment,
                )
            if caveat["jti"] in used:
                raise TokenError("bad_hop", f"hop `jti` `{caveat['jti']}` is already used by this token", segment)
            used.add(caveat["jti"])
            chain.append(caveat["jti"])
        scopes.append(chain[-1])
        caveats.append(caveat)
        caveat_bytes.append(raw)
    tag = _unb64("tag", tag_text)
    if len(tag) != TAG_LEN:
        raise TokenError("malformed", f"must be {TAG_LEN} bytes, not {len(tag)}", "tag")
    return CapabilityToken(header, caveats, chain, scopes, header_bytes, caveat_bytes, tag)


def _assemble(header_bytes: bytes, caveat_bytes: Iterable[bytes], tag: bytes) -> str:
    return ".".join([PREFIX + _b64(header_bytes), *(_b64(raw) for raw in caveat_bytes), _b64(tag)])


def _encode_caveats(start: int, caveats: Iterable[Mapping[str, Any]]) -> list[bytes]:
    out = []
    for i, caveat in enumerate(caveats):
        segment = f"caveat {start + i + 1}"
        if not isinstance(caveat, Mapping) or not isinstance(caveat.get("type"), str):
            raise TokenError("malformed", "a caveat is an object with a string `type`", segment)
        if caveat["type"] not in CAVEAT_TYPES:
            raise TokenError("unknown_caveat", f"unknown caveat type `{caveat['type']}`", segment)
        _check_numbers(segment, dict(caveat))
        typed = _typed_caveat(segment, caveat)
        _check_caveat(segment, typed)
        out.append(_canonical(segment, typed))
    return out


def mint(root_key: bytes, header: Mapping[str, Any], caveats: Sequence[Mapping[str, Any]] = ()) -> str:
    """Mints a token under `root_key` (what the gateway does; the SDK uses
    it only to check itself against the vectors)."""
    header_bytes = _canonical("header", {k: v for k, v in header.items() if v is not None})
    caveat_bytes = _encode_caveats(0, caveats)
    tag = _chain_step(root_key, header_bytes)
    for raw in caveat_bytes:
        tag = _chain_step(tag, raw)
    token = _assemble(header_bytes, caveat_bytes, tag)
    parse_token(token)
    return token


def _usd_to_cents(amount: float | str | Decimal) -> int:
    try:
        cents = Decimal(str(amount)) * 100
    except InvalidOperation:
        raise TokenError("malformed", f"`max_usd` `{amount}` is not an amount") from None
    if cents != cents.to_integral_value() or cents < 0:
        raise TokenError("malformed", f"`max_usd` `{amount}` is not a non-negative amount in whole cents")
    return int(cents)


def attenuate(
    token: str,
    *,
    tools: Sequence[str] | None = None,
    deny_tools: Sequence[str] | None = None,
    servers: Sequence[str] | None = None,
    action_types: Sequence[str] | None = None,
    max_calls: int | None = None,
    max_usd: float | str | Decimal | None = None,
    max_usd_cents: int | None = None,
    rate_per_min: int | None = None,
    expires_in: float | None = None,
    expires_at: int | None = None,
    step_up_at: int | None = None,
    audience: str | None = None,
    caveats: Sequence[Mapping[str, Any]] = (),
    jti: str | None = None,
    now: int | None = None,
) -> str:
    """Narrows `token` offline: a hop to a new jti, then the caveats asked for.

    Keyword caveats are appended in the order of `docs/tokens.md`'s table
    (`expires`, `tools`, `servers`, `action_types`, `max_calls`, `max_usd`,
    `rate_per_min`, `step_up`, `audience`), then `caveats` (raw caveat
    objects such as `{"type": "max_calls", "n": 5}`) as given.
    `max_usd` is in dollars (whole cents only); `max_usd_cents` in cents.
    `expires_in` is seconds from `now` (default: the current time).
    `jti` defaults to a fresh random `tok_…`.

    The result never grants more than `token`: the gateway enforces every
    caveat of the chain.
    """
    parent = parse_token(token)
    new_jti = jti if jti is not None else "tok_" + secrets.token_urlsafe(18)
    if not isinstance(new_jti, str) or not _JTI.match(new_jti):
        raise TokenError("invalid_jti", f"`{new_jti}` is not a jti (`[A-Za-z0-9_-]{{1,64}}`)")
    appended: list[Mapping[str, Any]] = [{"type": "hop", "jti": new_jti, "parent_jti": parent.jti}]
    if expires_in is not None or expires_at is not None:
        at = expires_at
        if expires_in is not None:
            at_in = int((time.time() if now is None else now) + expires_in)
            at = at_in if at is None else min(at, at_in)
        appended.append({"type": "expires", "at": at})
    if tools is not None or deny_tools is not None:
        caveat: dict[str, Any] = {"type": "tools", "allow": list(tools) if tools is not None else ["*"]}
        if deny_tools:
            caveat["deny"] = list(deny_tools)
        appended.append(caveat)
    if servers is not None:
        appended.append({"type": "servers", "allow": list(servers)})
    if action_types is not None:
        appended.append({"type": "action_types", "allow": list(action_types)})
    if max_calls is not None:
        appended.append({"type": "max_calls", "n": max_calls})
    if max_usd is not None or max_usd_cents is not None:
        cents = [c for c in (max_usd_cents, None if max_usd is None else _usd_to_cents(max_usd)) if c is not None]
        appended.append({"type": "max_usd", "cents": min(cents)})
    if rate_per_min is not None:
        appended.append({"type": "rate_per_min", "n": rate_per_min})
    if step_up_at is not None:
        appended.append({"type": "step_up", "at": step_up_at})
    if audience is not None:
        appended.append({"type": "audience", "aud": audience})
    appended.extend(caveats)
    count = len(parent.caveats) + len(appended)
    if count > MAX_CAVEATS:
        raise TokenError("too_many_caveats", f"{count} caveats, at most {MAX_CAVEATS}")
    new_bytes = _encode_caveats(len(parent.caveats), appended)
    tag = parent.tag
    for raw in new_bytes:
        tag = _chain_step(tag, raw)
    result = _assemble(parent.header_bytes, [*parent.caveat_bytes, *new_bytes], tag)
    parse_token(result)
    return result


def glob_match(pattern: str, name: str) -> bool:
    """The glob dialect of `tools` caveats: `*` any run (including `.` and
    nothing), `?` one character, everything else itself; whole name."""
    p = n = 0
    star: tuple[int, int] | None = None
    while n < len(name):
        if p < len(pattern) and pattern[p] == "*":
            star = (p, n)
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == name[n]):
            p += 1
            n += 1
        elif star is not None:
            p = star[0] + 1
            n = star[1] + 1
            star = (star[0], star[1] + 1)
        else:
            return False
    return all(ch == "*" for ch in pattern[p:])
