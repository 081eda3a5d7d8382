"""Retries, as httpx transports, so that the generated client and the
hand-written layer share them.

- `429` and `503` are retried with exponential backoff and full jitter,
  honouring `Retry-After` (seconds or an HTTP date) when the gateway sends
  it. Both mean nothing was done (`store_unavailable`: "nothing was written
  — retry"), so retrying is safe for every method. A refused connection is
  retried too: the request never left.
- `503 outcome_unknown` is the exception: the store lost the connection
  while committing, so the request may have been recorded. It is retried
  only when the request carries an `Idempotency-Key` (the gateway then
  replays what it recorded); anything else raises `OutcomeUnknown`.
- Every other failure to get an answer (a timeout, a connection cut while
  the answer is read) raises `lictor.errors.TransportError`, as does a
  refused connection once the retries are spent: callers see the SDK's
  errors only, never a raw `httpx` one.
- `POST /v1/intents` and `POST /v1/intents/async` get an `Idempotency-Key`
  when the caller gave none, before the first attempt, so every retry of
  one declaration is the same declaration for the gateway (no second audit
  entry, no second budget charge).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from .errors import TransportError

__all__ = ["AsyncRetryTransport", "RetryPolicy", "RetryTransport"]

RETRY_STATUSES = frozenset({429, 503})
OUTCOME_UNKNOWN = "outcome_unknown"
IDEMPOTENT_INTENT_PATHS = frozenset({"/v1/intents", "/v1/intents:async", "/v1/intents/async"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. `max_retries=0` disables retries."""

    max_retries: int = 3
    base_delay: float = 0.25
    max_delay: float = 20.0

    def delay(self, attempt: int, response: httpx.Response | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (from 0)."""
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        jittered = rng.uniform(0, backoff)
        retry_after = _retry_after(response) if response is not None else None
        if retry_after is not None:
            # The gateway asked for at least this long; jitter only adds.
            return min(self.max_delay, max(retry_after, 0.0) + jittered * 0.1)
        return jittered


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Stream(httpx.SyncByteStream):
    """An answer's body whose read failures are the SDK's `TransportError`."""

    def __init__(self, inner: httpx.SyncByteStream, request: httpx.Request) -> None:
        self.inner = inner
        self.request = request

    def __iter__(self):  # type: ignore[override]
        try:
            yield from self.inner
        except httpx.TransportError as error:
            raise TransportError(self.request, error) from error

    def close(self) -> None:
        self.inner.close()


class _AsyncStream(httpx.AsyncByteStream):
    """The asynchronous twin of `_Stream`."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self.inner = inner
        self.request = request

    async def __aiter__(self):  # type: ignore[override]
        try:
            async for chunk in self.inner:
                yield chunk
        except httpx.TransportError as error:
            raise TransportError(self.request, error) from error

    async def aclose(self) -> None:
        await self.inner.aclose()


def _error_code(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    code = parsed.get("error_code") if isinstance(parsed, dict) else None
    return code if isinstance(code, str) else None


def _retryable(request: httpx.Request, response: httpx.Response) -> bool:
    """Whether the (already read) answer may be retried."""
    if response.status_code not in RETRY_STATUSES:
        return False
    if _error_code(response.content) == OUTCOME_UNKNOWN:
        return "idempotency-key" in request.headers
    return True


def _prepare(request: httpx.Request) -> None:
    if (
        request.method == "POST"
        and request.url.path in IDEMPOTENT_INTENT_PATHS
        and "idempotency-key" not in request.headers
    ):
        request.headers["Idempotency-Key"] = f"sdk-{uuid.uuid4()}"


class RetryTransport(httpx.BaseTransport):
    """Wraps a transport with the retry policy."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _prepare(request)
        attempt = 0
        while True:
            try:
                response = self.inner.handle_request(request)
            except httpx.ConnectError as error:
                if attempt >= self.policy.max_retries:
                    raise TransportError(request, error) from error
                self.sleep(self.policy.delay(attempt, None, self.rng))
                attempt += 1
                continue
            except httpx.TransportError as error:
                raise TransportError(request, error) from error
            if response.status_code in RETRY_STATUSES:
                try:
                    response.read()
                except httpx.TransportError as error:
                    raise TransportError(request, error) from error
            if not _retryable(request, response) or attempt >= self.policy.max_retries:
                if isinstance(response.stream, httpx.SyncByteStream):
                    response.stream = _Stream(response.stream, request)
                return response
            delay = self.policy.delay(attempt, response, self.rng)
            response.close()
            self.sleep(delay)
            attempt += 1

    def close(self) -> None:
        self.inner.close()


class AsyncRetryTransport(httpx.AsyncBaseTransport):
    """The asynchronous twin of `RetryTransport`."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _prepare(request)
        attempt = 0
        while True:
            try:
                response = await self.inner.handle_async_request(request)
            except httpx.ConnectError as error:
                if attempt >= self.policy.max_retries:
                    raise TransportError(request, error) from error
                await self.sleep(self.policy.delay(attempt, None, self.rng))
                attempt += 1
                continue
            except httpx.TransportError as error:
                raise TransportError(request, error) from error
            if response.status_code in RETRY_STATUSES:
                try:
                    await response.aread()
                except httpx.TransportError as error:
                    raise TransportError(request, error) from error
            if not _retryable(request, response) or attempt >= self.policy.max_retries:
                if isinstance(response.stream, httpx.AsyncByteStream):
                    response.stream = _AsyncStream(response.stream, request)
                return response
            delay = self.policy.delay(attempt, response, self.rng)
            await response.aclose()
            await self.sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        await self.inner.aclose()
