"""Typed errors of the Lictor SDK.

Two families:

- `ApiError` — an HTTP failure in the gateway's error shape
  (`docs/errors.md`), one subclass per stable `error_code`
  (`NotFound`, `InvalidField`, `StoreUnavailable`, …). Routes that do not
  exist answer dropshot's own `{request_id, message}`; they become the
  subclass of their status (`NotFound` for 404) with `error_code` None.
- `ToolCallError` — a tool call the pipeline refused (`/v1/mcp`, JSON-RPC
  `-32010`…`-32014`), one subclass per check: `CapabilityError`,
  `IntentError`, `PolicyError`, `BudgetError`, `ApprovalRequired`. Other
  JSON-RPC errors (protocol, upstream) are `McpError`.

A request that never got an answer (the gateway is down or unreachable, a
timeout, a connection cut mid-answer) raises `TransportError`, after the
retries, with the underlying `httpx` error as its `cause`.

A verdict on a declared intent is never an error: `declare_intent` answers
a `Decision` whatever the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

__all__ = [
    "AlreadyExists",
    "ApiError",
    "ApprovalRequired",
    "BodyTooLarge",
    "BudgetError",
    "CapabilityError",
    "Conflict",
    "DecisionTimeout",
    "Draining",
    "Forbidden",
    "IdempotencyConflict",
    "IntentError",
    "InternalError",
    "InvalidCursor",
    "InvalidField",
    "InvalidParameter",
    "InvalidRequest",
    "LictorError",
    "MalformedJson",
    "McpError",
    "MissingField",
    "NotFound",
    "OutcomeUnknown",
    "PolicyCompileError",
    "PolicyError",
    "StoreUnavailable",
    "ToolCallError",
    "TransportError",
    "Unauthenticated",
    "UnknownField",
    "UnsupportedMediaType",
    "UpstreamUnavailable",
]


class LictorError(Exception):
    """Every error this SDK raises on purpose."""


class ApiError(LictorError):
    """An HTTP failure of the gateway."""

    def __init__(
        self,
        status: int,
        error_code: str | None,
        message: str,
        request_id: str | None = None,
        path: str | None = None,
        parameter: str | None = None,
        location: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.message = message
        self.request_id = request_id
        self.path = path
        self.parameter = parameter
        self.location = dict(location) if location else None
        self.body = body
        detail = f" at `{path}`" if path else f" (parameter `{parameter}`)" if parameter else ""
        super().__init__(f"{status} {error_code or 'error'}: {message}{detail} [request {request_id}]")

    @staticmethod
    def from_response(response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        fields = body if isinstance(body, dict) else {}
        code = fields.get("error_code") if isinstance(fields.get("error_code"), str) else None
        cls = ERROR_CLASSES.get(code or "", STATUS_CLASSES.get(response.status_code, ApiError))
        message = fields.get("message")
        if not isinstance(message, str):
            message = response.text[:500] if body is None else json.dumps(body)[:500]
        return cls(
            response.status_code,
            code,
            message,
            fields.get("request_id") or response.headers.get("x-request-id"),
            fields.get("path"),
            fields.get("parameter"),
            fields.get("location"),
            body,
        )


class MalformedJson(ApiError):
    """400 `malformed_json`."""


class MissingField(ApiError):
    """400 `missing_field`: `path` names the field."""


class UnknownField(ApiError):
    """400 `unknown_field`: `path` names the field."""


class InvalidField(ApiError):
    """400 `invalid_field`: `path` names the field."""


class InvalidParameter(ApiError):
    """400 `invalid_parameter`: `parameter` names it."""


class InvalidCursor(ApiError):
    """400 `invalid_cursor`."""


class InvalidRequest(ApiError):
    """400 `invalid_request`."""


class PolicyCompileError(ApiError):
    """400 `policy_compile_error`: `path` names the module, `location` the place."""


class Unauthenticated(ApiError):
    """401 `unauthenticated`."""


class StepUpRequired(ApiError):
    """401 `step_up_required`: a destructive operation needs a more recent
    or stronger sign-in; `step_up` says what (`max_age_seconds`,
    `acr_values`, `amr_values`, `login_url`)."""

    @property
    def step_up(self) -> dict[str, Any] | None:
        """What the operation needs, as the gateway said."""
        body = self.body if isinstance(self.body, dict) else {}
        challenge = body.get("step_up")
        return dict(challenge) if isinstance(challenge, dict) else None


class Forbidden(ApiError):
    """403 `forbidden`."""


class NotFound(ApiError):
    """404 `not_found` (or a route that does not exist)."""


class AlreadyExists(ApiError):
    """409 `already_exists`."""


class IdempotencyConflict(ApiError):
    """409 `idempotency_conflict`."""


class Conflict(ApiError):
    """409 `conflict`."""


class BodyTooLarge(ApiError):
    """413 `body_too_large`."""


class UnsupportedMediaType(ApiError):
    """415 `unsupported_media_type`."""


class RateLimited(ApiError):
    """429 `rate_limited` (retried automatically first, after `Retry-After`):
    the credential or its tenant used up its rate limit."""


class InternalError(ApiError):
    """500 `internal`."""


class UpstreamUnavailable(ApiError):
    """502 `upstream_unavailable`."""


class StoreUnavailable(ApiError):
    """503 `store_unavailable` (retried automatically first)."""


class Draining(ApiError):
    """503 `draining`: the gateway is shutting down (retried
    automatically first, reaching another replica behind the same
    address)."""


class OutcomeUnknown(ApiError):
    """503 `outcome_unknown`: the store lost the connection while
    committing, and the request may have been recorded. Intent
    declarations (which always carry an `Idempotency-Key`) are retried
    automatically; anything else is not — read it back before repeating."""


ERROR_CLASSES: dict[str, type[ApiError]] = {
    "malformed_json": MalformedJson,
    "missing_field": MissingField,
    "unknown_field": UnknownField,
    "invalid_field": InvalidField,
    "invalid_parameter": InvalidParameter,
    "invalid_cursor": InvalidCursor,
    "invalid_request": InvalidRequest,
    "policy_compile_error": PolicyCompileError,
    "unauthenticated": Unauthenticated,
    "step_up_required": StepUpRequired,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "already_exists": AlreadyExists,
    "idempotency_conflict": IdempotencyConflict,
    "conflict": Conflict,
    "body_too_large": BodyTooLarge,
    "unsupported_media_type": UnsupportedMediaType,
    "rate_limited": RateLimited,
    "internal": InternalError,
    "upstream_unavailable": UpstreamUnavailable,
    "store_unavailable": StoreUnavailable,
    "outcome_unknown": OutcomeUnknown,
    "draining": Draining,
}

STATUS_CLASSES: dict[int, type[ApiError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    413: BodyTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
    500: InternalError,
    502: UpstreamUnavailable,
    503: StoreUnavailable,
}


class McpError(LictorError):
    """A JSON-RPC error from `/v1/mcp` that is not a pipeline denial
    (`-32600` invalid request, `-32602` unknown tool, `-32603` upstream
    failure, or an upstream's own error code)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"JSON-RPC error {code}: {message}")


class ToolCallError(McpError):
    """A tool call the gateway refused. `data` is `{stage, reason,
    intent_id, verdict, reasons}`; the fields are also attributes."""

    jsonrpc_code = 0

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(code, message, data)
        fields = data if isinstance(data, dict) else {}
        self.stage: str | None = fields.get("stage")
        self.reason: str | None = fields.get("reason")
        self.intent_id: str | None = fields.get("intent_id")
        self.verdict: str | None = fields.get("verdict")
        self.reasons: list[dict[str, Any]] = list(fields.get("reasons") or [])

    def __str__(self) -> str:
        return f"{type(self).__name__} ({self.code}, {self.reason}): {self.message}"


class CapabilityError(ToolCallError):
    """-32010: the capability token does not allow the call."""

    jsonrpc_code = -32010


class IntentError(ToolCallError):
    """-32011: not a valid intent, or the agent is unknown or suspended."""

    jsonrpc_code = -32011


class PolicyError(ToolCallError):
    """-32012: the policy blocked it."""

    jsonrpc_code = -32012


class BudgetError(ToolCallError):
    """-32013: the agent's budget is exhausted."""

    jsonrpc_code = -32013


class ApprovalRequired(ToolCallError):
    """-32014: a human must approve the call first, or the approval
    presented cannot be used (`status` says which: `pending`, `rejected`,
    `expired`, `used`).

    `wait()` blocks until a human decided (answering the approval) and
    `resume()` waits and then repeats the identical call with the approval;
    on an `AsyncGateway` both are coroutines.
    """

    jsonrpc_code = -32014

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(code, message, data)
        fields = data if isinstance(data, dict) else {}
        self.approval_id: str | None = fields.get("approval_id")
        self.status: str | None = fields.get("status")
        self.expires_at: str | None = fields.get("expires_at")
        self._wait: Callable[..., Any] | None = None
        self._resume: Callable[..., Any] | None = None

    def wait(self, timeout: float = 300.0) -> Any:
        """Waits for the human's decision; answers the approval (a dict with `status`)."""
        if self._wait is None or self.approval_id is None:
            raise LictorError("this error was not raised by a gateway call: nothing to wait for")
        return self._wait(self.approval_id, timeout=timeout)

    def resume(self, timeout: float = 300.0) -> Any:
        """Waits for the decision, then repeats the call with the approval.
        A rejected or expired approval raises `ApprovalRequired` again, with that status."""
        if self._resume is None or self.approval_id is None:
            raise LictorError("this error was not raised by a gateway call: nothing to resume")
        return self._resume(timeout)


TOOL_ERRORS: dict[int, type[ToolCallError]] = {
    cls.jsonrpc_code: cls for cls in (CapabilityError, IntentError, PolicyError, BudgetError, ApprovalRequired)
}


def tool_error(code: int, message: str, data: Any) -> McpError:
    """The typed error of a JSON-RPC error object."""
    cls = TOOL_ERRORS.get(code)
    return cls(code, message, data) if cls else McpError(code, message, data)


class TransportError(LictorError):
    """No answer from the gateway: refused or failed connection, timeout,
    or a connection cut while the answer was read.

    `url` is the request's, `cause` the `httpx` error (also `__cause__`).
    """

    def __init__(self, request: httpx.Request, cause: httpx.TransportError) -> None:
        self.url = str(request.url)
        self.method = request.method
        self.cause = cause
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"
        detail = str(cause) or type(cause).__name__
        if isinstance(cause, httpx.ConnectError):
            message = (
                f"cannot reach the gateway at {origin}: {detail} "
                "(is it running? `lictor serve` listens on http://127.0.0.1:8080 by default)"
            )
        elif isinstance(cause, httpx.TimeoutException):
            message = f"the gateway at {origin} did not answer {self.method} {request.url.path} in time: {detail}"
        else:
            message = f"{self.method} {self.url} failed: {detail}"
        super().__init__(message)


class DecisionTimeout(LictorError):
    """An async intent or an approval was still undecided when the wait ended."""
