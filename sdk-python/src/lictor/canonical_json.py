"""RFC 8785 (JSON Canonicalization Scheme) encoding.

Capability tokens and audit entries are hashed and signed over canonical
JSON, so this encoder must produce exactly the bytes the gateway produces.
It covers every JSON value; numbers are written in ECMAScript form, which
for the integers tokens and audit entries hold is plain decimal digits.

It is deliberately not a general serialiser: only `dict` (string keys),
`list`/`tuple`, `str`, `int`, `float`, `bool` and `None` are accepted.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["CanonicalJsonError", "canonical_json"]


class CanonicalJsonError(ValueError):
    """A value that has no RFC 8785 encoding (NaN, a non-string key, a lone surrogate, ...)."""


_SHORT_ESCAPES = {
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}


def _string(value: str) -> str:
    out = ['"']
    for ch in value:
        code = ord(ch)
        escape = _SHORT_ESCAPES.get(code)
        if escape is not None:
            out.append(escape)
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise CanonicalJsonError("a string holds a lone surrogate, which is not UTF-8")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _number(value: float) -> str:
    """ECMAScript `Number.prototype.toString` for a finite double."""
    if not math.isfinite(value):
        raise CanonicalJsonError(f"`{value}` has no JSON encoding")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + _number(-value)
    # repr gives the shortest digits that round-trip, as ECMAScript requires:
    # value = int(whole + fraction) * 10^(exponent - len(fraction)).
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # The n such that value = 0.d1d2... * 10^n.
    n = len(digits) + (int(exponent) if exponent else 0) - len(fraction)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    if k == 1:
        return f"{digits}e{sign}{abs(e)}"
    return f"{digits[0]}.{digits[1:]}e{sign}{abs(e)}"


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        # Integers beyond 2^53 are not exactly representable in ECMAScript;
        # encode them as the double they would become.
        if abs(value) <= 2**53:
            out.append(str(value))
        else:
            out.append(_number(float(value)))
    elif isinstance(value, float):
        if value.is_integer() and abs(value) <= 2**53:
            out.append(str(int(value)))
        else:
            out.append(_number(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalJsonError(f"object key `{key!r}` is not a string")
        out.append("{")
        # RFC 8785 sorts keys by their UTF-16 code units.
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))):
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    else:
        raise CanonicalJsonError(f"`{type(value).__name__}` is not a JSON value")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of `value`."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
