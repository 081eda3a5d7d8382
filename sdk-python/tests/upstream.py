"""A tiny MCP server (2025-11-25, sessions) over HTTP, with the standard
library only: what the gateway forwards approved tool calls to.

It answers `initialize` with an `Mcp-Session-Id`, then `tools/list` and
`tools/call` on that session; `server/discover` (the modern era's probe) and
anything else without a session are refused the way a legacy-only server
refuses them, so the gateway falls back to `initialize`. Every call it
executes is recorded, so tests can see what was (not) forwarded.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSIONS = ("2025-11-25", "2025-06-18")

TOOLS: list[dict[str, Any]] = [
    {
        "name": "echo",
        "description": "Returns the text it is given.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": "send_email",
        "description": "Sends an email.",
        "inputSchema": {
            "type": "object",
            "properties": {"to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}},
            "required": ["to", "subject", "body"],
        },
        "annotations": {"readOnlyHint": False, "destructiveHint": False, "openWorldHint": True},
    },
    {
        "name": "transfer_funds",
        "description": "Wires money to an account.",
        "inputSchema": {
            "type": "object",
            "properties": {"amount_usd": {"type": "number"}, "to": {"type": "string"}},
            "required": ["amount_usd", "to"],
        },
        "annotations": {"readOnlyHint": False, "destructiveHint": True, "openWorldHint": True},
    },
    {
        "name": "fail",
        "description": "Always fails (a tool execution error).",
        "inputSchema": {"type": "object", "properties": {}},
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    },
]


def run_tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    if name == "echo":
        return {
            "content": [{"type": "text", "text": arguments.get("text", "")}],
            "structuredContent": {"text": arguments.get("text", "")},
        }
    if name == "send_email":
        return {"content": [{"type": "text", "text": f"email to {arguments.get('to')} queued"}]}
    if name == "transfer_funds":
        return {
            "content": [{"type": "text", "text": f"transferred {arguments.get('amount_usd')} USD"}],
            "structuredContent": {"transfer_id": "tr-0001", "amount_usd": arguments.get("amount_usd")},
        }
    return {"content": [{"type": "text", "text": "the tool failed: quota exhausted"}], "isError": True}


class McpUpstream:
    def __init__(self) -> None:
        self.sessions: dict[str, str] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                try:
                    message = json.loads(self.rfile.read(length))
                except ValueError:
                    return self.reply(
                        400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
                    )
                status, body, headers = upstream.handle(message, self.headers.get("mcp-session-id"))
                self.reply(status, body, headers)

            def do_DELETE(self) -> None:
                with upstream.lock:
                    upstream.sessions.pop(self.headers.get("mcp-session-id") or "", None)
                self.reply(204, None)

            def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/mcp"

    def start(self) -> McpUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls_of(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [arguments for called, arguments in self.calls if called == name]

    def handle(self, message: Any, session: str | None) -> tuple[int, Any, dict[str, str]]:
        def error(status: int, code: int, text: str) -> tuple[int, Any, dict[str, str]]:
            return status, {"jsonrpc": "2.0", "id": message.get("id"), "error": {"code": code, "message": text}}, {}

        if not isinstance(message, dict):
            return 400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "no batches"}}, {}
        method = message.get("method")
        if method == "initialize":
            requested = (message.get("params") or {}).get("protocolVersion")
            version = requested if requested in VERSIONS else VERSIONS[0]
            new_session = uuid.uuid4().hex
            with self.lock:
                self.sessions[new_session] = version
            result = {
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "sdk-test-upstream", "version": "1.0.0"},
            }
            return 200, {"jsonrpc": "2.0", "id": message.get("id"), "result": result}, {"Mcp-Session-Id": new_session}
        if session is None:
            return error(400, -32600, "missing mcp-session-id")
        with self.lock:
            known = session in self.sessions
        if not known:
            return 404, None, {}
        if "id" not in message:
            return 202, None, {}
        params = message.get("params") or {}
        if method == "ping":
            return 200, {"jsonrpc": "2.0", "id": message["id"], "result": {}}, {}
        if method == "tools/list":
            return 200, {"jsonrpc": "2.0", "id": message["id"], "result": {"tools": TOOLS}}, {}
        if method == "tools/call":
            name = params.get("name")
            if not any(tool["name"] == name for tool in TOOLS):
                return error(200, -32602, f"Unknown tool: {name}")
            arguments = params.get("arguments") or {}
            with self.lock:
                self.calls.append((name, arguments))
            return 200, {"jsonrpc": "2.0", "id": message["id"], "result": run_tool(name, arguments)}, {}
        return error(200, -32601, f"method not found: {method}")
