"""Every vector of conformance/vectors/webhooks/ gives the reference verdict."""

from __future__ import annotations

import pytest

from lictor.webhooks import WebhookVerificationError, sign_webhook, verify_webhook

from .vectors import load

VECTORS = load("webhooks/webhooks.json")["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_webhook_vector(vector: dict) -> None:
    body = vector["body"].encode("utf-8")
    args = (vector["secret"], vector["header"], body)
    if vector["valid"]:
        assert verify_webhook(*args, now=vector["now"], tolerance=vector["tolerance_seconds"]) > 0
    else:
        with pytest.raises(WebhookVerificationError) as caught:
            verify_webhook(*args, now=vector["now"], tolerance=vector["tolerance_seconds"])
        assert caught.value.code == vector["error"]


def test_the_documented_example_verifies_with_the_clock_at_its_time() -> None:
    header = "t=1763805600,v1=04eb610a61a9cf7e0c827bd840303abdd6a519572b391a89411ab122a583403f"
    body = b'{"intent_id":"int_example","verdict":"approve"}'
    assert verify_webhook("lictor_whsec_example", header, body, now=1763805600) == 1763805600
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook("lictor_whsec_example", header, body)  # today is long after that
    assert caught.value.code == "expired"


def test_signing_and_verifying_round_trip() -> None:
    header = sign_webhook("lictor_whsec_x", b"{}", timestamp=1_800_000_000)
    assert verify_webhook("lictor_whsec_x", header, "{}", now=1_800_000_100) == 1_800_000_000
