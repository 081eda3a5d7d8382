"""Retries and idempotency keys, with a scripted transport (no gateway)."""

from __future__ import annotations

import random

import httpx
import pytest

from lictor import AsyncGateway, Gateway, LictorError, RetryPolicy, TransportError
from lictor.errors import OutcomeUnknown, StoreUnavailable
from lictor.retries import AsyncRetryTransport, RetryTransport

DECISION = {
    "intent_id": "int_1",
    "tenant": "acme",
    "agent_id": "bot",
    "verdict": "approve",
    "enforced": True,
    "environment": "live",
    "reasons": [],
    "stages": [],
    "risk": {"level": "low", "score": 0.1, "factors": []},
    "policy": {"bundle_name": "default", "bundle_hash": "x"},
    "decided_at": "2026-01-01T00:00:00Z",
    "latency_us": 1,
}


def scripted(
    statuses: list[int],
    seen: list[httpx.Request],
    headers: dict[str, str] | None = None,
    code: str = "store_unavailable",
):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = statuses.pop(0)
        if status == 200:
            return httpx.Response(200, json=DECISION)
        body = {"error_code": code, "message": "the store is locked", "request_id": "r1"}
        return httpx.Response(status, json=body, headers=headers or {})

    return httpx.MockTransport(handler)


def test_503_and_429_are_retried_with_one_idempotency_key() -> None:
    seen: list[httpx.Request] = []
    sleeps: list[float] = []
    transport = RetryTransport(scripted([503, 429, 200], seen), RetryPolicy(max_retries=3), sleeps.append)
    with httpx.Client(transport=transport, base_url="http://gw") as client:
        response = client.post("/v1/intents", json={"intent": {}})
    assert response.status_code == 200 and len(seen) == 3 and len(sleeps) == 2
    keys = {request.headers["idempotency-key"] for request in seen}
    assert len(keys) == 1 and next(iter(keys)).startswith("sdk-")


def test_outcome_unknown_is_retried_only_under_an_idempotency_key() -> None:
    # An intent declaration carries a key: the retry replays what was recorded.
    seen: list[httpx.Request] = []
    transport = RetryTransport(scripted([503, 200], seen, code="outcome_unknown"), RetryPolicy(), lambda _: None)
    with httpx.Client(transport=transport, base_url="http://gw") as client:
        response = client.post("/v1/intents", json={"intent": {}})
    assert response.status_code == 200 and len(seen) == 2
    assert seen[0].headers["idempotency-key"] == seen[1].headers["idempotency-key"]

    # Anything else may have been recorded: it is not repeated.
    seen = []
    transport = RetryTransport(scripted([503, 200], seen, code="outcome_unknown"), RetryPolicy(), lambda _: None)
    with httpx.Client(transport=transport, base_url="http://gw") as client:
        response = client.post("/v1/agents", json={})
    assert response.status_code == 503 and len(seen) == 1
    assert response.json()["error_code"] == "outcome_unknown"


async def test_async_outcome_unknown_is_not_retried_without_a_key() -> None:
    seen: list[httpx.Request] = []

    async def no_sleep(_: float) -> None:
        return None

    transport = AsyncRetryTransport(scripted([503, 200], seen, code="outcome_unknown"), RetryPolicy(), no_sleep)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.post("/v1/admin/tenants", json={})
    assert response.status_code == 503 and len(seen) == 1


def test_the_gateway_raises_outcome_unknown_once_retries_are_spent() -> None:
    seen: list[httpx.Request] = []
    gateway = Gateway(
        "http://gw",
        api_key="lictor_live_x",
        agent_id="bot",
        retry=RetryPolicy(max_retries=1, base_delay=0),
        transport=scripted([503, 503], seen, code="outcome_unknown"),
    )
    with pytest.raises(OutcomeUnknown):
        gateway.declare_intent("access", "read")
    assert len(seen) == 2 and seen[0].headers["idempotency-key"] == seen[1].headers["idempotency-key"]
    gateway.close()


def test_retry_after_is_honoured_and_backoff_grows() -> None:
    seen: list[httpx.Request] = []
    sleeps: list[float] = []
    transport = RetryTransport(scripted([503, 200], seen, {"Retry-After": "7"}), RetryPolicy(), sleeps.append)
    with httpx.Client(transport=transport, base_url="http://gw") as client:
        client.get("/v1/agents")
    assert 7.0 <= sleeps[0] <= 7.5
    policy = RetryPolicy(base_delay=1.0, max_delay=100.0)
    rng = random.Random(1)
    ceilings = [max(policy.delay(attempt, None, rng) for _ in range(200)) for attempt in range(4)]
    assert ceilings == sorted(ceilings) and ceilings[3] > 4.0 and all(c <= 2**a for a, c in enumerate(ceilings))


def test_other_posts_get_no_idempotency_key_and_gaps_in_retries_end() -> None:
    seen: list[httpx.Request] = []
    transport = RetryTransport(scripted([503, 503, 503], seen), RetryPolicy(max_retries=2), lambda _: None)
    with httpx.Client(transport=transport, base_url="http://gw") as client:
        response = client.post("/v1/agents", json={})
    assert response.status_code == 503 and len(seen) == 3
    assert "idempotency-key" not in seen[0].headers


def test_the_gateway_raises_a_typed_error_once_retries_are_spent() -> None:
    seen: list[httpx.Request] = []
    gateway = Gateway(
        "http://gw",
        api_key="lictor_live_x",
        agent_id="bot",
        retry=RetryPolicy(max_retries=1, base_delay=0),
        transport=scripted([503, 503], seen),
    )
    with pytest.raises(StoreUnavailable) as caught:
        gateway.declare_intent("access", "read")
    assert caught.value.error_code == "store_unavailable" and caught.value.request_id == "r1"
    assert len(seen) == 2 and seen[0].headers["authorization"] == "Bearer lictor_live_x"
    gateway.close()


def test_a_given_idempotency_key_is_kept() -> None:
    seen: list[httpx.Request] = []
    with Gateway("http://gw", api_key="k", agent_id="bot", transport=scripted([200], seen)) as gateway:
        assert gateway.declare_intent("access", "read", idempotency_key="mine").allowed
    assert seen[0].headers["idempotency-key"] == "mine"


async def test_async_transport_retries_too() -> None:
    seen: list[httpx.Request] = []

    async def no_sleep(_: float) -> None:
        return None

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(429 if len(seen) == 1 else 200, json=DECISION)

    transport = AsyncRetryTransport(httpx.MockTransport(handler), RetryPolicy(), no_sleep)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.post("/v1/intents:async", json={})
    assert response.status_code == 200 and len(seen) == 2
    assert seen[0].headers["idempotency-key"] == seen[1].headers["idempotency-key"]


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_gateway_that_is_down_raises_the_sdks_transport_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    gateway = Gateway(url, api_key="lictor_live_x", agent_id="bot", retry=RetryPolicy(max_retries=1, base_delay=0))
    with pytest.raises(TransportError) as raised:
        gateway.declare_intent("access", "read")
    error = raised.value
    assert isinstance(error, LictorError) and isinstance(error.cause, httpx.ConnectError)
    assert error.__cause__ is error.cause and error.url == f"{url}/v1/intents"
    assert str(error).startswith(f"cannot reach the gateway at {url}: ") and "lictor serve" in str(error)
    # The generated client goes through the same transport.
    from lictor.openapi import api

    with pytest.raises(TransportError):
        api.system.health_check.sync(client=gateway.api)


async def test_the_async_gateway_raises_it_too() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    gateway = AsyncGateway(url, api_key="lictor_live_x", agent_id="bot", retry=RetryPolicy(max_retries=0))
    with pytest.raises(TransportError, match="cannot reach the gateway"):
        await gateway.declare_intent("access", "read")


def test_timeouts_and_cut_answers_are_transport_errors() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    transport = RetryTransport(httpx.MockTransport(timeout), RetryPolicy(max_retries=3), lambda _: None)
    with httpx.Client(transport=transport, base_url="http://gw") as client, pytest.raises(TransportError) as raised:
        client.get("/v1/agents")
    assert "did not answer GET /v1/agents in time" in str(raised.value)

    class Cut(httpx.SyncByteStream):
        def __iter__(self):
            yield b'{"items": ['
            raise httpx.RemoteProtocolError("peer closed connection")

    def cut(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Cut(), headers={"content-type": "application/json"})

    transport = RetryTransport(httpx.MockTransport(cut), RetryPolicy(), lambda _: None)
    with httpx.Client(transport=transport, base_url="http://gw") as client, pytest.raises(TransportError) as raised:
        client.get("/v1/agents")
    assert isinstance(raised.value.cause, httpx.RemoteProtocolError)
