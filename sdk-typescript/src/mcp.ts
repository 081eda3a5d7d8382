// A minimal MCP client for the gateway's `/v1/mcp`: the 2025 session era
// (`initialize`, `Mcp-Session-Id`, re-initialised once when the gateway
// answers 404 for a forgotten session), JSON-RPC over HTTP POST. It is what
// `Gateway.callTool` and `Gateway.listTools` use; it is not a general MCP
// client (no sampling, roots or server-to-client requests).

import type { components } from "./generated/schema.js";
import { ApiError, JsonRpcError, toolCallError, type ApprovalContinuation } from "./errors.js";
import { SDK_VERSION } from "./version.js";

type Schemas = components["schemas"];

/** The protocol revision this client speaks. */
export const MCP_PROTOCOL_VERSION = "2025-11-25";

/** A tool as `tools/list` describes it. */
export interface McpTool {
  name: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  [key: string]: unknown;
}

/** A `tools/call` result (MCP `CallToolResult`); `isError: true` is the tool's own failure. */
export interface CallToolResult {
  content: Array<{ type: string; text?: string; [key: string]: unknown }>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  [key: string]: unknown;
}

interface Session {
  id: string | null;
  version: string;
}

/** One MCP session with the gateway. */
export class McpSession {
  private session: Promise<Session> | undefined;
  private nextId = 1;

  constructor(
    private readonly endpoint: string,
    private readonly fetch: (request: Request) => Promise<Response>,
  ) {}

  /** Sends a request; answers its `result` or throws the typed error. */
  async request(
    method: string,
    params: Record<string, unknown>,
    options: { headers?: Record<string, string>; signal?: AbortSignal; continuation?: ApprovalContinuation } = {},
  ): Promise<unknown> {
    for (let renewed = false; ; renewed = true) {
      const session = await this.open();
      const id = this.nextId++;
      const response = await this.post({ jsonrpc: "2.0", id, method, params }, session, options.headers, options.signal);
      if (response.status === 404 && !renewed) {
        // The gateway forgot the session (expired, or another credential's): start again once.
        await response.body?.cancel();
        this.session = undefined;
        continue;
      }
      const message = await this.readMessage(response);
      if (message.error) throw toolCallError(message.error, options.continuation);
      return message.result;
    }
  }

  /** Ends the session (`DELETE /v1/mcp`); best effort. */
  async close(): Promise<void> {
    const current = this.session;
    this.session = undefined;
    if (!current) return;
    const session = await current.catch(() => undefined);
    if (!session?.id) return;
    const response = await this.fetch(
      new Request(this.endpoint, { method: "DELETE", headers: { "mcp-session-id": session.id, "mcp-protocol-version": session.version } }),
    ).catch(() => undefined);
    await response?.body?.cancel();
  }

  private open(): Promise<Session> {
    this.session ??= this.initialize().catch((error: unknown) => {
      this.session = undefined;
      throw error;
    });
    return this.session;
  }

  private async initialize(): Promise<Session> {
    const params = {
      protocolVersion: MCP_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: "lictor-sdk-typescript", version: SDK_VERSION },
    };
    const response = await this.post({ jsonrpc: "2.0", id: this.nextId++, method: "initialize", params }, null);
    const message = await this.readMessage(response);
    if (message.error) throw toolCallError(message.error);
    const result = message.result as { protocolVersion?: unknown } | undefined;
    const version = typeof result?.protocolVersion === "string" ? result.protocolVersion : MCP_PROTOCOL_VERSION;
    const session: Session = { id: response.headers.get("mcp-session-id"), version };
    const ack = await this.post({ jsonrpc: "2.0", method: "notifications/initialized" }, session);
    if (!ack.ok) throw await apiError(ack);
    await ack.body?.cancel();
    return session;
  }

  private post(message: Schemas["JsonRpcMessage"], session: Session | null, headers?: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    const all: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    };
    if (session?.id) all["mcp-session-id"] = session.id;
    if (session) all["mcp-protocol-version"] = session.version;
    return this.fetch(new Request(this.endpoint, { method: "POST", headers: all, body: JSON.stringify(message), signal: signal ?? null }));
  }

  private async readMessage(response: Response): Promise<Schemas["JsonRpcResponse"]> {
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok && !type.includes("json")) throw await apiError(response);
    const text = await response.text();
    let message: unknown;
    try {
      message = type.includes("text/event-stream") ? lastSseMessage(text) : JSON.parse(text);
    } catch {
      throw new ApiError(response.status, text, response.headers.get("x-request-id"));
    }
    const rpc = message as Partial<Schemas["JsonRpcResponse"]> & { error_code?: unknown };
    if (typeof rpc !== "object" || rpc === null || rpc.jsonrpc !== "2.0") {
      // Not JSON-RPC: the gateway's HTTP error shape (credentials, sessions).
      throw new ApiError(response.status, message, response.headers.get("x-request-id"));
    }
    if (!response.ok && !rpc.error) throw new ApiError(response.status, message, response.headers.get("x-request-id"));
    if (rpc.error && typeof rpc.error.code !== "number") throw new JsonRpcError(-32603, "malformed JSON-RPC error", rpc.error);
    return rpc as Schemas["JsonRpcResponse"];
  }
}

async function apiError(response: Response): Promise<ApiError> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return new ApiError(response.status, body, response.headers.get("x-request-id"));
}

/** The last JSON-RPC response in an SSE body. */
function lastSseMessage(text: string): unknown {
  let last: unknown;
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n");
    if (!data) continue;
    const parsed = JSON.parse(data) as { id?: unknown; method?: unknown };
    if (parsed.id !== undefined && parsed.method === undefined) last = parsed;
  }
  if (last === undefined) throw new Error("no response in the event stream");
  return last;
}
