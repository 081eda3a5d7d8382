"""`Gateway` and `AsyncGateway`: the hand-written layer over the generated client.

    from lictor import Gateway
    gateway = Gateway("http://127.0.0.1:8080", token=token)
    result = gateway.call_tool("bank.transfer_funds", {"amount_usd": 250, "to": "DE89…"})

Both classes share one httpx client with the generated client
(`gateway.api`), so retries (`lictor.retries`) and typed errors
(`lictor.errors`) apply to every call, hand-written or generated.
What is hand-written here is what the contract cannot say by itself: MCP
sessions on `/v1/mcp`, polling async intents and approvals, pagination and
streaming exports.

Each operation is written once, in `_Base`, as a generator that yields the
requests (`_Send`) and pauses (`_Sleep`) it needs and returns its result;
`Gateway` runs it with blocking I/O and `AsyncGateway` with `await`, so the
two classes differ in how they wait, never in what they do.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from ._generated.client import AuthenticatedClient, Client
from ._version import __version__
from .decision import Decision, ToolResult
from .errors import ApiError, ApprovalRequired, DecisionTimeout, LictorError, McpError, NotFound, tool_error
from .retries import AsyncRetryTransport, RetryPolicy, RetryTransport
from .tokens import TokenError, parse_token

__all__ = ["AsyncGateway", "Gateway"]

T = TypeVar("T")

MCP_PROTOCOL_VERSION = "2025-11-25"
APPROVAL_HEADER = "Lictor-Approval-Id"


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        response.read()
        raise ApiError.from_response(response)


async def _araise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        await response.aread()
        raise ApiError.from_response(response)


@dataclass(frozen=True)
class _Send:
    """One request an operation needs; answered with its response."""

    method: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Sleep:
    """A pause an operation needs (polling); answered with None."""

    seconds: float


_Op = Generator["_Send | _Sleep", Any, T]


class _Base:
    """What both gateways share: configuration and request shapes."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        agent_id: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if api_key is not None and token is not None:
            raise ValueError("give `api_key` or `token`, not both")
        self.url = url.rstrip("/")
        self.credential = token if token is not None else api_key
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.agent_id = agent_id
        if token is not None:
            try:
                parsed = parse_token(token)
            except TokenError as error:
                raise ValueError(f"`token` is not a capability token: {error}") from None
            self.agent_id = agent_id or parsed.subject
        self._mcp_session: str | None = None
        self._mcp_ids = itertools.count(1)

    def _generated(self) -> AuthenticatedClient | Client:
        """The generated client for this gateway and credential."""
        if self.credential is not None:
            return AuthenticatedClient(base_url=self.url, token=self.credential)
        return Client(base_url=self.url)

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": f"lictor-python/{__version__}"}
        if self.credential is not None:
            headers["Authorization"] = f"Bearer {self.credential}"
        return headers

    def _intent_body(
        self,
        action_type: str | None,
        verb: str | None,
        *,
        intent: Mapping[str, Any] | None,
        agent_id: str | None,
        target: Mapping[str, Any] | None,
        payload: Mapping[str, Any] | None,
        framework: str | None,
        context: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if intent is None:
            if action_type is None or verb is None:
                raise ValueError("give `action_type` and `verb`, or a whole `intent`")
            agent = agent_id or self.agent_id
            if agent is None:
                raise ValueError("no agent: pass `agent_id` (or construct the gateway with one or with a token)")
            action: dict[str, Any] = {"type": action_type, "verb": verb}
            if target is not None:
                action["target"] = dict(target)
            if payload is not None:
                action["payload"] = dict(payload)
            agent_ref: dict[str, Any] = {"id": agent}
            if framework is not None:
                agent_ref["framework"] = framework
            intent = {"agent": agent_ref, "action": action}
        body: dict[str, Any] = {"intent": dict(intent)}
        if context is not None:
            body["context"] = dict(context)
        return body

    def _next_id(self) -> str:
        return f"py-{next(self._mcp_ids)}"

    def _initialize_message(self) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "id": self._next_id(),
            "method": "initialize",
            "params": {
                "protocolVersion": MCP_PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "lictor-python", "version": __version__},
            },
        }

    def _mcp_headers(self, approval_id: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MCP_PROTOCOL_VERSION}
        if self._mcp_session is not None:
            headers["Mcp-Session-Id"] = self._mcp_session
        if approval_id is not None:
            headers[APPROVAL_HEADER] = approval_id
        return headers

    @staticmethod
    def _rpc_result(response: httpx.Response) -> Any:
        message = response.json()
        error = message.get("error")
        if error:
            raise tool_error(int(error.get("code", -32603)), str(error.get("message", "")), error.get("data"))
        return message.get("result")

    # ---- operations, written once (see the module's docstring) ------------

    def _declare_intent(
        self,
        action_type: str | None,
        verb: str | None,
        *,
        intent: Mapping[str, Any] | None,
        agent_id: str | None,
        target: Mapping[str, Any] | None,
        payload: Mapping[str, Any] | None,
        framework: str | None,
        context: Mapping[str, Any] | None,
        approval_id: str | None,
        idempotency_key: str | None,
    ) -> _Op[Decision]:
        body = self._intent_body(
            action_type,
            verb,
            intent=intent,
            agent_id=agent_id,
            target=target,
            payload=payload,
            framework=framework,
            context=context,
        )
        headers = {}
        if approval_id is not None:
            headers[APPROVAL_HEADER] = approval_id
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        response = yield _Send("POST", "/v1/intents", {"json": body, "headers": headers})
        return Decision.from_dict(response.json())

    def _submit_intent(
        self,
        action_type: str | None,
        verb: str | None,
        *,
        intent: Mapping[str, Any] | None,
        agent_id: str | None,
        target: Mapping[str, Any] | None,
        payload: Mapping[str, Any] | None,
        framework: str | None,
        context: Mapping[str, Any] | None,
        callback_url: str | None,
        idempotency_key: str | None,
    ) -> _Op[str]:
        body = self._intent_body(
            action_type,
            verb,
            intent=intent,
            agent_id=agent_id,
            target=target,
            payload=payload,
            framework=framework,
            context=context,
        )
        if callback_url is not None:
            body["callback_url"] = callback_url
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        response = yield _Send("POST", "/v1/intents/async", {"json": body, "headers": headers})
        return str(response.json()["intent_id"])

    def _wait_for_decision(self, intent_id: str, timeout: float, interval: float) -> _Op[Decision]:
        deadline = time.monotonic() + timeout
        while True:
            body = (yield _Send("GET", f"/v1/intents/{intent_id}/decision")).json()
            if body.get("status") == "decided" and body.get("decision"):
                return Decision.from_dict(body["decision"])
            if time.monotonic() >= deadline:
                raise DecisionTimeout(f"intent `{intent_id}` is still `{body.get('status')}` after {timeout} s")
            yield _Sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, 2.0)

    def _get_approval(self, approval_id: str, wait_seconds: int) -> _Op[dict[str, Any]]:
        params = {"wait_seconds": wait_seconds} if wait_seconds else {}
        options = {"params": params, "timeout": self.timeout + wait_seconds}
        response = yield _Send("GET", f"/v1/approvals/{approval_id}", options)
        return dict(response.json())

    def _wait_for_approval(self, approval_id: str, timeout: float) -> _Op[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            approval = yield from self._get_approval(approval_id, max(0, min(60, int(remaining))))
            if approval.get("status") != "pending":
                return approval
            if time.monotonic() >= deadline:
                raise DecisionTimeout(f"approval `{approval_id}` is still pending after {timeout} s")

    def _mcp_initialize(self) -> _Op[None]:
        self._mcp_session = None
        response = yield _Send("POST", "/v1/mcp", {"json": self._initialize_message(), "headers": self._mcp_headers()})
        self._rpc_result(response)
        session = response.headers.get("mcp-session-id")
        if not session:
            raise McpError(-32600, "the gateway opened no MCP session")
        self._mcp_session = session
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        yield _Send("POST", "/v1/mcp", {"json": initialized, "headers": self._mcp_headers()})

    def _mcp_request(self, method: str, params: Mapping[str, Any], approval_id: str | None = None) -> _Op[Any]:
        if self._mcp_session is None:
            yield from self._mcp_initialize()
        message = {"jsonrpc": "2.0", "id": self._next_id(), "method": method, "params": dict(params)}
        try:
            response = yield _Send("POST", "/v1/mcp", {"json": message, "headers": self._mcp_headers(approval_id)})
        except NotFound:
            # The session expired or is unknown to the gateway: open another once.
            yield from self._mcp_initialize()
            response = yield _Send("POST", "/v1/mcp", {"json": message, "headers": self._mcp_headers(approval_id)})
        return self._rpc_result(response)

    def _list_tools(self) -> _Op[list[dict[str, Any]]]:
        tools: list[dict[str, Any]] = []
        cursor = None
        while True:
            result = yield from self._mcp_request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(result.get("tools") or [])
            cursor = result.get("nextCursor")
            if not cursor:
                return tools

    def _call_tool(self, name: str, arguments: dict[str, Any], approval_id: str | None) -> _Op[ToolResult]:
        result = yield from self._mcp_request("tools/call", {"name": name, "arguments": arguments}, approval_id)
        return ToolResult.from_dict(result or {})

    def _close_mcp_session(self) -> _Op[None]:
        if self._mcp_session is not None:
            try:
                yield _Send("DELETE", "/v1/mcp", {"headers": self._mcp_headers()})
            finally:
                self._mcp_session = None

    def _public_keys(self) -> _Op[dict[str, Any]]:
        return dict((yield _Send("GET", "/.well-known/lictor/keys")).json())


class Gateway(_Base):
    """A synchronous client of one Lictor gateway.

    `api_key` (`lictor_…`) or `token` (`lictor_cap1.…`, a capability token) is the
    bearer credential; with a token the agent id is the token's subject.
    `gateway.api` is the generated client, sharing this connection pool,
    retries and typed errors, for every operation of the contract.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        agent_id: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key=api_key, token=token, agent_id=agent_id, timeout=timeout, retry=retry)
        self.http = httpx.Client(
            base_url=self.url,
            headers=self._headers(),
            timeout=timeout,
            transport=RetryTransport(transport, self.retry),
            event_hooks={"response": [_raise_for_status]},
        )
        self.api = self._generated().set_httpx_client(self.http)

    def _run(self, operation: _Op[T]) -> T:
        """Runs an operation with blocking I/O; a failed request is raised
        inside it, where it may be handled."""
        try:
            step = next(operation)
            while True:
                try:
                    if isinstance(step, _Sleep):
                        time.sleep(step.seconds)
                        answer = None
                    else:
                        answer = self.http.request(step.method, step.path, **step.options)
                except Exception as error:  # noqa: BLE001 - handed to the operation
                    step = operation.throw(error)
                    continue
                step = operation.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- intents -----------------------------------------------------------

    def declare_intent(
        self,
        action_type: str | None = None,
        verb: str | None = None,
        *,
        intent: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        target: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        framework: str | None = None,
        context: Mapping[str, Any] | None = None,
        approval_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Decision:
        """Declares an intent and answers the Decision, whatever its verdict.

        Either `action_type` and `verb` (with optional `target`, `payload`)
        for the gateway's agent, or a whole `intent` document. Resume an
        approved escalation with `approval_id`.
        """
        return self._run(
            self._declare_intent(
                action_type,
                verb,
                intent=intent,
                agent_id=agent_id,
                target=target,
                payload=payload,
                framework=framework,
                context=context,
                approval_id=approval_id,
                idempotency_key=idempotency_key,
            )
        )

    def submit_intent(
        self,
        action_type: str | None = None,
        verb: str | None = None,
        *,
        intent: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        target: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        framework: str | None = None,
        context: Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Declares an intent asynchronously (`POST /v1/intents/async`);
        answers its id. Get the decision with `wait_for_decision`."""
        return self._run(
            self._submit_intent(
                action_type,
                verb,
                intent=intent,
                agent_id=agent_id,
                target=target,
                payload=payload,
                framework=framework,
                context=context,
                callback_url=callback_url,
                idempotency_key=idempotency_key,
            )
        )

    def wait_for_decision(self, intent_id: str, timeout: float = 60.0, interval: float = 0.2) -> Decision:
        """Polls an intent until it is decided; raises `DecisionTimeout`."""
        return self._run(self._wait_for_decision(intent_id, timeout, interval))

    # ---- approvals ---------------------------------------------------------

    def get_approval(self, approval_id: str, wait_seconds: int = 0) -> dict[str, Any]:
        """An approval as the agent may see it (`GET /v1/approvals/{id}`)."""
        return self._run(self._get_approval(approval_id, wait_seconds))

    def wait_for_approval(self, approval_id: str, timeout: float = 300.0) -> dict[str, Any]:
        """Waits until a human decided (or the approval expired); answers
        the approval. Raises `DecisionTimeout` if it is still pending."""
        return self._run(self._wait_for_approval(approval_id, timeout))

    # ---- tool calls --------------------------------------------------------

    def list_tools(self) -> list[dict[str, Any]]:
        """The tools this credential may call (`tools/list` on `/v1/mcp`)."""
        return self._run(self._list_tools())

    def call_tool(
        self, name: str, arguments: Mapping[str, Any] | None = None, *, approval_id: str | None = None
    ) -> ToolResult:
        """Calls `<upstream>.<tool>` through the gateway (`tools/call` on
        `/v1/mcp`). A refusal raises the `ToolCallError` of its check;
        `ApprovalRequired.resume()` waits for the human and calls again."""
        args = dict(arguments or {})
        try:
            return self._run(self._call_tool(name, args, approval_id))
        except ApprovalRequired as error:
            error._wait = self.wait_for_approval
            error._resume = lambda timeout, refused=error: self._resume(refused, name, args, timeout)
            raise

    def _resume(self, error: ApprovalRequired, name: str, args: dict[str, Any], timeout: float) -> ToolResult:
        assert error.approval_id is not None
        self.wait_for_approval(error.approval_id, timeout=timeout)
        return self.call_tool(name, args, approval_id=error.approval_id)

    def close_mcp_session(self) -> None:
        """Ends the MCP session (`DELETE /v1/mcp`), if one is open."""
        self._run(self._close_mcp_session())

    # ---- lists and exports -------------------------------------------------

    def paginate(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list operation (`{items, next_cursor}`), page after page."""
        query = {k: v for k, v in params.items() if v is not None}
        while True:
            page = self.http.get(path, params=query).json()
            yield from page.get("items") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    def public_keys(self) -> dict[str, Any]:
        """`GET /.well-known/lictor/keys` (needs no credentials)."""
        return self._run(self._public_keys())

    def download_audit_export(
        self, destination: str | Path | IO[bytes], format: str = "ndjson", tenant: str | None = None
    ) -> None:
        """Streams `GET /v1/admin/audit/export` into a file or path, in constant memory."""
        params = {"format": format, **({"tenant": tenant} if tenant else {})}
        with self.http.stream("GET", "/v1/admin/audit/export", params=params) as response:
            if isinstance(destination, (str, Path)):
                with open(destination, "wb") as out:
                    out.writelines(response.iter_bytes())
            else:
                for chunk in response.iter_bytes():
                    destination.write(chunk)


class AsyncGateway(_Base):
    """The asynchronous twin of `Gateway`: the same operations, awaitable."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        agent_id: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key=api_key, token=token, agent_id=agent_id, timeout=timeout, retry=retry)
        self.http = httpx.AsyncClient(
            base_url=self.url,
            headers=self._headers(),
            timeout=timeout,
            transport=AsyncRetryTransport(transport, self.retry),
            event_hooks={"response": [_araise_for_status]},
        )
        self.api = self._generated().set_async_httpx_client(self.http)

    async def _run(self, operation: _Op[T]) -> T:
        """Runs an operation with `await`ed I/O (see `Gateway._run`)."""
        try:
            step = next(operation)
            while True:
                try:
                    if isinstance(step, _Sleep):
                        await asyncio.sleep(step.seconds)
                        answer = None
                    else:
                        answer = await self.http.request(step.method, step.path, **step.options)
                except Exception as error:  # noqa: BLE001 - handed to the operation
                    step = operation.throw(error)
                    continue
                step = operation.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def declare_intent(
        self,
        action_type: str | None = None,
        verb: str | None = None,
        *,
        intent: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        target: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        framework: str | None = None,
        context: Mapping[str, Any] | None = None,
        approval_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Decision:
        """See `Gateway.declare_intent`."""
        return await self._run(
            self._declare_intent(
                action_type,
                verb,
                intent=intent,
                agent_id=agent_id,
                target=target,
                payload=payload,
                framework=framework,
                context=context,
                approval_id=approval_id,
                idempotency_key=idempotency_key,
            )
        )

    async def submit_intent(
        self,
        action_type: str | None = None,
        verb: str | None = None,
        *,
        intent: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        target: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        framework: str | None = None,
        context: Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """See `Gateway.submit_intent`."""
        return await self._run(
            self._submit_intent(
                action_type,
                verb,
                intent=intent,
                agent_id=agent_id,
                target=target,
                payload=payload,
                framework=framework,
                context=context,
                callback_url=callback_url,
                idempotency_key=idempotency_key,
            )
        )

    async def wait_for_decision(self, intent_id: str, timeout: float = 60.0, interval: float = 0.2) -> Decision:
        """See `Gateway.wait_for_decision`."""
        return await self._run(self._wait_for_decision(intent_id, timeout, interval))

    async def get_approval(self, approval_id: str, wait_seconds: int = 0) -> dict[str, Any]:
        """See `Gateway.get_approval`."""
        return await self._run(self._get_approval(approval_id, wait_seconds))

    async def wait_for_approval(self, approval_id: str, timeout: float = 300.0) -> dict[str, Any]:
        """See `Gateway.wait_for_approval`."""
        return await self._run(self._wait_for_approval(approval_id, timeout))

    async def list_tools(self) -> list[dict[str, Any]]:
        """See `Gateway.list_tools`."""
        return await self._run(self._list_tools())

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any] | None = None, *, approval_id: str | None = None
    ) -> ToolResult:
        """See `Gateway.call_tool`; `await error.resume()` on `ApprovalRequired`."""
        args = dict(arguments or {})
        try:
            return await self._run(self._call_tool(name, args, approval_id))
        except ApprovalRequired as error:
            error._wait = self.wait_for_approval
            error._resume = lambda timeout, refused=error: self._resume(refused, name, args, timeout)
            raise

    async def _resume(self, error: ApprovalRequired, name: str, args: dict[str, Any], timeout: float) -> ToolResult:
        assert error.approval_id is not None
        await self.wait_for_approval(error.approval_id, timeout=timeout)
        return await self.call_tool(name, args, approval_id=error.approval_id)

    async def close_mcp_session(self) -> None:
        """See `Gateway.close_mcp_session`."""
        await self._run(self._close_mcp_session())

    async def paginate(self, path: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """See `Gateway.paginate`."""
        query = {k: v for k, v in params.items() if v is not None}
        while True:
            page = (await self.http.get(path, params=query)).json()
            for item in page.get("items") or []:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    async def public_keys(self) -> dict[str, Any]:
        """See `Gateway.public_keys`."""
        return await self._run(self._public_keys())


def paginate(operation: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
    """Every item of a generated list operation (`…_list.sync`), following
    `next_cursor`: `paginate(agent_list.sync, client=gateway.api, limit=100)`."""
    cursor = kwargs.pop("cursor", None)
    while True:
        page = operation(**kwargs, **({"cursor": cursor} if cursor else {}))
        if page is None or not hasattr(page, "items"):
            raise LictorError(f"`{getattr(operation, '__module__', operation)}` did not answer a page")
        yield from page.items
        cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
        if not cursor:
            return
