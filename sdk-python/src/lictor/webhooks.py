"""Verifying webhook deliveries (`Lictor-Signature`), per `docs/webhooks.md`.

`Lictor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`

The checks run in the order of the shared vectors
(`conformance/vectors/webhooks/`): the header parses (`malformed_header`),
`t` is within the tolerance of the receiver's clock (`expired`), and the
HMAC over the raw body matches in constant time (`signature_mismatch`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

__all__ = ["SIGNATURE_HEADER", "WebhookVerificationError", "sign_webhook", "verify_webhook"]

SIGNATURE_HEADER = "Lictor-Signature"

_DIGITS = re.compile(r"[0-9]+\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_MAX_I64 = 2**63 - 1


class WebhookVerificationError(ValueError):
    """A delivery that must not be trusted. `code` is `malformed_header`,
    `expired` or `signature_mismatch`."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def _mac(secret: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).digest()


def sign_webhook(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value the gateway sends for `body` at `timestamp` (for tests of receivers)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body).hex()}"


def verify_webhook(
    secret: str,
    header: str,
    body: bytes | str,
    now: float | None = None,
    tolerance: int = 300,
) -> int:
    """Verifies one delivery; answers its timestamp or raises `WebhookVerificationError`.

    `secret` is the tenant's whole `lictor_whsec_…` string, `header` the
    `Lictor-Signature` value, `body` the raw request body (before any JSON
    parsing; a `str` is taken as its UTF-8 bytes), `now` the receiver's
    clock in Unix seconds (default: the current time).
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    timestamp_text: str | None = None
    given_text: str | None = None
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep and name == "t" and timestamp_text is None:
            timestamp_text = value
        elif sep and name == "v1" and given_text is None:
            given_text = value
        else:
            raise WebhookVerificationError("malformed_header", f"unexpected part `{part.strip()}`")
    if timestamp_text is None or not _DIGITS.match(timestamp_text) or int(timestamp_text) > _MAX_I64:
        raise WebhookVerificationError("malformed_header", "`t` must be Unix seconds")
    if given_text is None or not _HEX64.match(given_text):
        raise WebhookVerificationError("malformed_header", "`v1` must be 64 lowercase hex digits")
    timestamp = int(timestamp_text)
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance:
        raise WebhookVerificationError("expired", f"`t` {timestamp} is more than {tolerance} s from now")
    if not hmac.compare_digest(_mac(secret, timestamp, raw), bytes.fromhex(given_text)):
        raise WebhookVerificationError("signature_mismatch", "the signature does not match the body and secret")
    return timestamp
