// Typed errors. HTTP failures are `ApiError`s keyed by the gateway's stable
// `error_code` (docs/errors.md); denied tool calls are one class per
// pipeline check, mapped from the JSON-RPC codes -32010…-32014
// (docs/mcp.md). A `block` verdict on `declareIntent` is not an error: it
// is a Decision.

import type { components } from "./generated/schema.js";

type Schemas = components["schemas"];

/** Every error this SDK throws on purpose derives from this. */
export class LictorError extends Error {
  override name = "LictorError";
}

/**
 * The stable `error_code`s of docs/errors.md (generated from the contract's
 * `ErrorCode`), plus `method_not_allowed` and `http_error` for dropshot's
 * own 405 and other answers without a code.
 */
export type ApiErrorCode = Schemas["ErrorCode"] | "method_not_allowed" | "http_error";

/** A failed HTTP request, in the gateway's error shape. */
export class ApiError extends LictorError {
  override name = "ApiError";
  /** The stable code; match on it (a code new to this SDK arrives as its string). */
  readonly errorCode: ApiErrorCode | (string & {});
  /** The id of the request in the gateway's logs (also the `x-request-id` header). */
  readonly requestId: string | null;
  /** JSONPath of the offending body field, for validation errors. */
  readonly path: string | null;
  /** The offending query, path or header parameter. */
  readonly parameter: string | null;
  /** Where in a policy module (`policy_compile_error`). */
  readonly location: Schemas["SourceLocation"] | null;

  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The body as received (the gateway's `Error`, dropshot's `{request_id, message}`, or text). */
    readonly body: unknown,
    requestIdHeader: string | null = null,
  ) {
    const error = (typeof body === "object" && body !== null ? body : {}) as Partial<Schemas["Error"]>;
    const code =
      typeof error.error_code === "string"
        ? error.error_code
        : status === 404
          ? "not_found"
          : status === 405
            ? "method_not_allowed"
            : "http_error";
    const message = typeof error.message === "string" ? error.message : typeof body === "string" && body ? body : `HTTP ${status}`;
    super(`${code} (HTTP ${status}): ${message}`);
    this.errorCode = code;
    this.message = message;
    this.requestId = typeof error.request_id === "string" ? error.request_id : requestIdHeader;
    this.path = error.path ?? null;
    this.parameter = error.parameter ?? null;
    this.location = error.location ?? null;
  }

  /** Whether `error` is an `ApiError`, optionally with this code. */
  static is(error: unknown, code?: ApiErrorCode): error is ApiError {
    return error instanceof ApiError && (code === undefined || error.errorCode === code);
  }
}

/** A response held an integer the JavaScript number type cannot represent exactly. */
export class PrecisionError extends LictorError {
  override name = "PrecisionError";
  constructor(
    /** JSONPath of the value. */
    readonly path: string,
    /** The exact value. */
    readonly value: bigint,
  ) {
    super(`the response holds ${value} at ${path}, beyond 2^53 − 1: a JavaScript number would silently round it`);
  }
}

/** A JSON-RPC error from `/v1/mcp` that is not a pipeline denial (protocol or upstream failures). */
export class JsonRpcError extends LictorError {
  override name = "JsonRpcError";
  constructor(
    /** The JSON-RPC code. */
    readonly code: number,
    message: string,
    /** `error.data`, if any. */
    readonly data: unknown,
  ) {
    super(`${message} (JSON-RPC ${code})`);
  }
}

/** What a denial's `error.data` always carries. */
export interface DenialData {
  stage: Schemas["StageName"];
  reason: string;
  intent_id: string;
  verdict: Schemas["Verdict"];
  reasons: Schemas["Reason"][];
  [key: string]: unknown;
}

/** A tool call the pipeline did not let through (-32010…-32014). */
export class ToolCallDenied extends JsonRpcError {
  override name = "ToolCallDenied";
  /** The stage that denied it. */
  readonly stage: Schemas["StageName"];
  /** The machine-readable reason (`tool_not_allowed`, `transact_over_limit`, …). */
  readonly reason: string;
  /** The intent the call became (its decision and audit entries use it). */
  readonly intentId: string;
  /** The verdict (`block`, or `escalate` for an approval). */
  readonly verdict: Schemas["Verdict"];
  /** Every reason given. */
  readonly reasons: Schemas["Reason"][];

  constructor(code: number, message: string, data: DenialData) {
    super(code, message, data);
    this.stage = data.stage;
    this.reason = data.reason;
    this.intentId = data.intent_id;
    this.verdict = data.verdict;
    this.reasons = data.reasons ?? [];
  }
}

/** -32010: the capability token does not allow the call. */
export class CapabilityError extends ToolCallDenied {
  override name = "CapabilityError";
}

/** -32011: not a valid intent, or the agent is unknown or suspended. */
export class IntentError extends ToolCallDenied {
  override name = "IntentError";
}

/** -32012: the policy blocked it. */
export class PolicyError extends ToolCallDenied {
  override name = "PolicyError";
}

/** -32013: the agent's budget is exhausted. */
export class BudgetError extends ToolCallDenied {
  override name = "BudgetError";
}

/** Options of waiting for a human. */
export interface WaitOptions {
  /** Give up after this long (default 15 minutes, the approval's lifetime). */
  timeoutMs?: number;
  /** Cancels the wait. */
  signal?: AbortSignal;
}

/** How `ApprovalRequired` reaches back to the gateway; set by `Gateway`. */
export interface ApprovalContinuation {
  wait(approvalId: string, options?: WaitOptions): Promise<Schemas["Approval"]>;
  resume(approvalId: string): Promise<unknown>;
}

/**
 * -32014: a human must approve the call first (or the approval presented
 * cannot be used: see `reason`). `resume()` waits for the decision and
 * repeats the identical call with the approval.
 */
export class ApprovalRequired extends ToolCallDenied {
  override name = "ApprovalRequired";
  /** The approval to wait for. */
  readonly approvalId: string;
  /** `pending`, `approved`, `rejected`, `expired` or `used`. */
  readonly approvalStatus: Schemas["ApprovalStatus"];
  /** When it expires (RFC 3339). */
  readonly expiresAt: string | null;
  #continuation: ApprovalContinuation | undefined;

  constructor(code: number, message: string, data: DenialData, continuation?: ApprovalContinuation) {
    super(code, message, data);
    this.approvalId = String(data.approval_id ?? "");
    this.approvalStatus = (data.status as Schemas["ApprovalStatus"]) ?? "pending";
    this.expiresAt = typeof data.expires_at === "string" ? data.expires_at : null;
    this.#continuation = continuation;
  }

  /** Waits until a human decides (or the approval expires); answers the approval. */
  waitForApproval(options?: WaitOptions): Promise<Schemas["Approval"]> {
    if (!this.#continuation) throw new LictorError("this error is not attached to a gateway");
    return this.#continuation.wait(this.approvalId, options);
  }

  /**
   * Waits for the human, then repeats the identical tool call with the
   * approval: its result when approved; otherwise the gateway's denial
   * (`approval_rejected`, `approval_expired`, …) is thrown.
   */
  async resume(options?: WaitOptions): Promise<unknown> {
    await this.waitForApproval(options);
    return this.#continuation!.resume(this.approvalId);
  }
}

/** The typed error for a JSON-RPC error object from `/v1/mcp`. */
export function toolCallError(error: Schemas["JsonRpcErrorObject"], continuation?: ApprovalContinuation): JsonRpcError {
  const data = error.data as DenialData | undefined;
  const denial = data !== null && typeof data === "object" && typeof data.reason === "string";
  if (!denial) return new JsonRpcError(error.code, error.message, error.data);
  switch (error.code) {
    case -32010:
      return new CapabilityError(error.code, error.message, data);
    case -32011:
      return new IntentError(error.code, error.message, data);
    case -32012:
      return new PolicyError(error.code, error.message, data);
    case -32013:
      return new BudgetError(error.code, error.message, data);
    case -32014:
      return new ApprovalRequired(error.code, error.message, data, continuation);
    default:
      return new JsonRpcError(error.code, error.message, error.data);
  }
}

/** A wait that did not end in time. */
export class TimeoutError extends LictorError {
  override name = "TimeoutError";
}

/**
 * No answer from the gateway: a refused or failed connection, a DNS
 * failure, a connection cut mid-answer. Thrown after the retries; `cause`
 * is what `fetch` threw. (An aborted request rethrows the abort reason.)
 */
export class TransportError extends LictorError {
  override name = "TransportError";
  /** The request's method and URL. */
  readonly method: string;
  readonly url: string;

  constructor(method: string, url: string, cause: unknown) {
    const origin = new URL(url).origin;
    const detail = describeCause(cause);
    super(
      `cannot reach the gateway at ${origin}: ${detail} (is it running? \`lictor serve\` listens on http://127.0.0.1:8080 by default)`,
      { cause },
    );
    this.method = method;
    this.url = url;
  }
}

// Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, …) is its cause.
function describeCause(cause: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = cause, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    parts.push(typeof code === "string" && !e.message.includes(code) ? `${e.message} (${code})` : e.message);
  }
  return parts.length > 0 ? parts.join(": ") : String(cause);
}
