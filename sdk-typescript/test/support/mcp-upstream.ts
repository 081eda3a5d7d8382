// A tiny MCP server for the live tests, written from the MCP spec with
// node:http: JSON-RPC over HTTP POST, the 2025 session era (`initialize`
// opens an `Mcp-Session-Id`, notifications are answered 202). The gateway
// first asks `server/discover` (2026-07-28); answering "method not found"
// makes it fall back to `initialize`, as a 2025-only server would.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A `tools/call` the server executed. */
export interface RecordedCall {
  name: string;
  arguments: Record<string, unknown>;
  authorization: string | undefined;
}

/** The running server. */
export interface McpUpstream {
  /** `http://127.0.0.1:<port>/mcp`. */
  url: string;
  /** The credential the gateway must present (`Authorization` value). */
  credential: string;
  calls: RecordedCall[];
  close(): Promise<void>;
}

const TOOLS = [
  {
    name: "get_balance",
    description: "Reads an account balance",
    inputSchema: { type: "object", properties: { account: { type: "string" } } },
    annotations: { readOnlyHint: true },
  },
  {
    name: "transfer_funds",
    description: "Moves money",
    inputSchema: { type: "object", properties: { amount_usd: { type: "number" }, to: { type: "string" } } },
    annotations: { destructiveHint: true },
  },
  {
    name: "send_message",
    description: "Sends a message",
    inputSchema: { type: "object", properties: { text: { type: "string" } } },
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
  },
];

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => resolve(body));
    request.on("error", reject);
  });
}

/** Starts the server on a free loopback port. */
export async function startMcpUpstream(credential = "Bearer upstream-secret-for-tests"): Promise<McpUpstream> {
  const sessions = new Map<string, string>();
  const calls: RecordedCall[] = [];
  let nextSession = 1;

  const json = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    response.writeHead(status, { "content-type": "application/json", ...headers });
    response.end(JSON.stringify(body));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    if (request.headers.authorization !== credential) return json(response, 401, { error: "unauthorized" });
    if (request.method === "DELETE") {
      const id = request.headers["mcp-session-id"];
      response.writeHead(typeof id === "string" && sessions.delete(id) ? 204 : 404).end();
      return;
    }
    if (request.method !== "POST") return void response.writeHead(405).end();
    let message: { jsonrpc?: string; id?: unknown; method?: string; params?: Record<string, unknown> };
    try {
      message = JSON.parse(await readBody(request));
    } catch {
      return json(response, 400, { jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } });
    }
    const { id, method, params = {} } = message;
    const reply = (result: unknown) => json(response, 200, { jsonrpc: "2.0", id, result });
    const error = (code: number, text: string) => json(response, 200, { jsonrpc: "2.0", id, error: { code, message: text } });
    if (method === "initialize") {
      const session = `session-${nextSession++}`;
      const version = typeof params.protocolVersion === "string" ? params.protocolVersion : "2025-06-18";
      sessions.set(session, version);
      return json(
        response,
        200,
        { jsonrpc: "2.0", id, result: { protocolVersion: version, capabilities: { tools: {} }, serverInfo: { name: "sdk-test-upstream", version: "1.0.0" } } },
        { "mcp-session-id": session },
      );
    }
    const session = request.headers["mcp-session-id"];
    if (typeof session !== "string") {
      // Not in a session: a 2025-only server knows no `server/discover`.
      return error(-32601, `method not found: ${method}`);
    }
    if (!sessions.has(session)) return void response.writeHead(404).end();
    if (id === undefined) return void response.writeHead(202).end();
    switch (method) {
      case "ping":
        return reply({});
      case "tools/list":
        return reply({ tools: TOOLS });
      case "tools/call": {
        const name = String(params.name);
        const args = (params.arguments ?? {}) as Record<string, unknown>;
        calls.push({ name, arguments: args, authorization: request.headers.authorization });
        if (!TOOLS.some((tool) => tool.name === name)) return error(-32602, `unknown tool: ${name}`);
        const text = name === "get_balance" ? `balance of ${String(args.account)}: 1234.56 USD` : `${name} done`;
        return reply({ content: [{ type: "text", text }], structuredContent: { tool: name, arguments: args } });
      }
      default:
        return error(-32601, `method not found: ${method}`);
    }
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((e: unknown) => {
      response.writeHead(500).end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    credential,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
