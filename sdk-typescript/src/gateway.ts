// `Gateway`: the hand-written entry point. Three lines to a governed call:
//
//   const gw = new Gateway({ url, apiKey });
//   const decision = await gw.declareIntent({ agent: { id: "billing-bot" }, action: { type: "access", verb: "read" } });
//   if (decision.verdict === "approve") { … }
//
// Everything else the API offers is on `gw.api`, the generated client.

import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./generated/schema.js";
import { ApiError, TimeoutError, type ApprovalContinuation, type WaitOptions } from "./errors.js";
import { governedFetch, sleep, type HttpOptions, type RetryOptions } from "./http.js";
import { McpSession, type CallToolResult, type McpTool } from "./mcp.js";
import { paginate, type Page } from "./pagination.js";

type Schemas = components["schemas"];

/** A decision: the verdict and everything that led to it. `block` is a Decision, not an error. */
export type Decision = Schemas["Decision"];
/** An intent: who wants to do what. */
export type Intent = Schemas["Intent"];
/** A verdict. */
export type Verdict = Schemas["Verdict"];
/** An approval request. */
export type Approval = Schemas["Approval"];

/** Where the gateway is and who is calling. */
export type GatewayOptions = {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Retries on 429/503 (default: 3 retries, exponential backoff with jitter); `false` to disable. */
  retry?: RetryOptions | false;
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: (request: Request) => Promise<Response>;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Integers beyond 2^53 − 1 in answers: `"error"` (default) throws `PrecisionError`; `"off"` lets `JSON.parse` round them. */
  precision?: "error" | "off";
} & ({ apiKey: string; token?: never } | { token: string; apiKey?: never } | { apiKey?: undefined; token?: undefined });

/** Options of `declareIntent`. */
export interface DeclareOptions {
  /** Free-form context handed to policy (`input.intent.context`). */
  context?: Record<string, unknown>;
  /** Replays the original decision for the same key and body (default: a fresh key per call, reused by retries). */
  idempotencyKey?: string;
  /** Resume an escalation a human approved: the identical request with its approval id. */
  approvalId?: string;
  signal?: AbortSignal;
}

/** Options of `callTool`. */
export interface CallToolOptions {
  /** An approved approval for exactly this call (`Lictor-Approval-Id`). */
  approvalId?: string;
  signal?: AbortSignal;
}

/** Options of `waitForDecision`. */
export interface WaitForDecisionOptions extends WaitOptions {
  /** Poll interval, ms (default 250). */
  intervalMs?: number;
  /** Keep waiting while the verdict is `escalate` (until the human's decision settles it). */
  untilSettled?: boolean;
}

/** The answer of an openapi-fetch call. */
export type FetchResult<T> = { data?: T; error?: unknown; response: Response };

/** The data of a successful call; throws `ApiError` for an error answer. */
export async function unwrap<T>(result: FetchResult<T> | Promise<FetchResult<T>>): Promise<T> {
  const { data, error, response } = await result;
  if (!response.ok || error !== undefined) throw new ApiError(response.status, error, response.headers.get("x-request-id"));
  return data as T;
}

// Paths whose GET answers a page of items.
type ListPath = {
  [P in keyof paths]: paths[P] extends { get: { responses: { 200: { content: { "application/json": { items: unknown[] } } } } } } ? P : never;
}[keyof paths];
type ListGet<P extends ListPath> = paths[P] extends { get: infer G } ? G : never;
type ListItem<P extends ListPath> = ListGet<P> extends { responses: { 200: { content: { "application/json": { items: (infer I)[] } } } } } ? I : never;
type ListParams<P extends ListPath> = ListGet<P> extends { parameters: infer R } ? R : never;
/** The query (without `cursor`) and path parameters of a list. */
export type ListOptions<P extends ListPath> = {
  query?: Omit<NonNullable<ListParams<P> extends { query?: infer Q } ? Q : never>, "cursor">;
} & (ListParams<P> extends { path: infer A } ? { path: A } : { path?: never });

/** A Lictor gateway, as one credential sees it. */
export class Gateway {
  /** The gateway's base URL. */
  readonly url: string;
  /** The generated client: every operation of `openapi/lictor.json`, with this gateway's credential, retries and precision guard. */
  readonly api: Client<paths>;
  private readonly fetch: (request: Request) => Promise<Response>;
  private readonly mcp: McpSession;

  constructor(options: GatewayOptions) {
    this.url = options.url.replace(/\/+$/, "");
    const http: HttpOptions = {
      credential: options.apiKey ?? options.token,
      retry: options.retry,
      fetch: options.fetch,
      headers: options.headers,
      precision: options.precision,
    };
    this.fetch = governedFetch(http);
    this.api = createClient<paths>({ baseUrl: this.url, fetch: this.fetch });
    this.mcp = new McpSession(`${this.url}/v1/mcp`, this.fetch);
  }

  /**
   * Declares an intent and answers the Decision. Every verdict, `block`
   * included, is a Decision; only failures to decide (bad input, bad
   * credentials, an unavailable store after retries) throw `ApiError`.
   */
  async declareIntent(intent: Intent, options: DeclareOptions = {}): Promise<Decision> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
    if (options.approvalId) headers["lictor-approval-id"] = options.approvalId;
    const body: Schemas["IntentRequest"] = options.context ? { intent, context: options.context } : { intent };
    return unwrap(this.api.POST("/v1/intents", { body, headers, signal: options.signal }));
  }

  /** Declares an intent to be decided in the background; `waitForDecision` (or the callback) gives the Decision. */
  async declareIntentAsync(
    intent: Intent,
    options: Omit<DeclareOptions, "approvalId"> & { callbackUrl?: string } = {},
  ): Promise<Schemas["IntentAccepted"]> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
    const body: Schemas["AsyncIntentRequest"] = { intent };
    if (options.context) body.context = options.context;
    if (options.callbackUrl) body.callback_url = options.callbackUrl;
    return unwrap(this.api.POST("/v1/intents/async", { body, headers, signal: options.signal }));
  }

  /** Polls an intent until it is decided (or settled, with `untilSettled`); answers its Decision. */
  async waitForDecision(intentId: string, options: WaitForDecisionOptions = {}): Promise<Decision> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const interval = options.intervalMs ?? 250;
    for (;;) {
      const state = await unwrap(
        this.api.GET("/v1/intents/{intent_id}/decision", { params: { path: { intent_id: intentId } }, signal: options.signal }),
      );
      const decision = state.decision;
      if (state.status === "decided" && decision && !(options.untilSettled && decision.verdict === "escalate")) return decision;
      if (Date.now() + interval > deadline) throw new TimeoutError(`intent \`${intentId}\` is not decided yet`);
      await sleep(interval, options.signal);
    }
  }

  /** Waits until a human decides an approval (or it expires); answers it. Uses the gateway's long poll. */
  async waitForApproval(approvalId: string, options: WaitOptions = {}): Promise<Approval> {
    const deadline = Date.now() + (options.timeoutMs ?? 15 * 60_000);
    for (;;) {
      const remaining = Math.ceil((deadline - Date.now()) / 1000);
      const approval = await unwrap(
        this.api.GET("/v1/approvals/{approval_id}", {
          params: { path: { approval_id: approvalId }, query: { wait_seconds: Math.max(0, Math.min(30, remaining)) } },
          signal: options.signal,
        }),
      );
      if (approval.status !== "pending") return approval;
      if (remaining <= 0) throw new TimeoutError(`approval \`${approvalId}\` is still pending`);
    }
  }

  /**
   * For an `escalate` Decision: waits for the human, then declares the
   * identical intent again with the approval; answers the new Decision
   * (`approve` once approved; `block` with `approval_rejected` otherwise).
   */
  async resumeIntent(intent: Intent, decision: Decision, options: WaitOptions & Omit<DeclareOptions, "approvalId"> = {}): Promise<Decision> {
    const approvalId = decision.approval?.approval_id;
    if (!approvalId) throw new TypeError(`the decision of \`${decision.intent_id}\` opened no approval (verdict \`${decision.verdict}\`)`);
    await this.waitForApproval(approvalId, options);
    return this.declareIntent(intent, { ...options, approvalId });
  }

  /**
   * Calls a tool through the gateway (`tools/call` on `/v1/mcp`): decided,
   * audited, then forwarded. Answers the tool's result; a denial throws
   * `CapabilityError`, `IntentError`, `PolicyError`, `BudgetError` or
   * `ApprovalRequired` (whose `resume()` waits for the human and retries).
   */
  async callTool(name: string, args: Record<string, unknown> = {}, options: CallToolOptions = {}): Promise<CallToolResult> {
    const headers: Record<string, string> = {};
    if (options.approvalId) headers["lictor-approval-id"] = options.approvalId;
    const continuation: ApprovalContinuation = {
      wait: (approvalId, wait) => this.waitForApproval(approvalId, wait),
      resume: (approvalId) => this.callTool(name, args, { ...options, approvalId }),
    };
    const result = await this.mcp.request("tools/call", { name, arguments: args }, { headers, signal: options.signal, continuation });
    return result as CallToolResult;
  }

  /** The tools this credential may call (`tools/list`, every page). */
  async listTools(): Promise<McpTool[]> {
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    do {
      const page = (await this.mcp.request("tools/list", cursor ? { cursor } : {})) as { tools: McpTool[]; nextCursor?: string };
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    return tools;
  }

  /**
   * Every item of a list operation, fetched page by page as you iterate.
   *
   * ```ts
   * for await (const agent of gw.list("/v1/agents", { query: { limit: 100 } })) console.log(agent.id);
   * ```
   */
  list<P extends ListPath>(path: P, ...[options]: ListParams<P> extends { path: unknown } ? [ListOptions<P>] : [ListOptions<P>?]): AsyncGenerator<ListItem<P>, void, undefined> {
    const opts = (options ?? {}) as { query?: Record<string, unknown>; path?: Record<string, unknown> };
    const get = this.api.GET as unknown as (path: string, init: unknown) => Promise<FetchResult<Page<ListItem<P>>>>;
    return paginate((cursor) => unwrap(get(path, { params: { query: { ...opts.query, ...(cursor ? { cursor } : {}) }, path: opts.path } })));
  }

  /** Ends the MCP session, if one was opened. */
  close(): Promise<void> {
    return this.mcp.close();
  }
}
