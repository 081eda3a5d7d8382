// The one fetch every request goes through: credentials, retries with
// exponential backoff and jitter on 429/503 (honouring `Retry-After`), an
// `Idempotency-Key` on intent declarations so a retry never decides twice,
// and a guard against integers JavaScript would silently round.
//
// `503 outcome_unknown` (the store lost the connection while committing:
// the request may have been recorded) is retried only for a request that
// carries an `Idempotency-Key`, which the gateway then replays.

import { PrecisionError, TransportError } from "./errors.js";
import { findUnsafeInteger, parseJson } from "./json.js";

/** Retry settings; `false` disables retries. */
export interface RetryOptions {
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** First backoff, ms (default 250); doubles per retry. */
  baseDelayMs?: number;
  /** Longest backoff, and longest `Retry-After` honoured, ms (default 30 000). */
  maxDelayMs?: number;
}

/** Settings of `governedFetch`. */
export interface HttpOptions {
  /** `Authorization: Bearer …` value (API key or capability token). */
  credential?: string;
  /** Retries (default on). */
  retry?: RetryOptions | false;
  /** The underlying fetch (default `globalThis.fetch`). */
  fetch?: (request: Request) => Promise<Response>;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** `"error"` (default): a JSON answer holding an integer beyond 2^53 − 1 throws `PrecisionError`; `"off"`: no check. */
  precision?: "error" | "off";
  /** Sleep (tests replace it). */
  sleep?: (ms: number, signal?: AbortSignal | null) => Promise<void>;
}

const RETRY_STATUSES = new Set([429, 503]);
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);
const INTENT_ROUTES = /\/v1\/intents(?::async|\/async)?$/;

/** Sleeps `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A random id for `Idempotency-Key`s. */
export function randomId(): string {
  const crypto = (globalThis as { crypto?: Crypto }).crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto!.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The delay `Retry-After` asks for, ms, or `undefined`. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^[0-9]+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The backoff before retry `retry` (0-based): exponential, capped, with jitter in [½, 1]. */
export function backoffMs(retry: number, options: Required<RetryOptions>, random = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retry);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** A fetch function applying `options` to every request. */
export function governedFetch(options: HttpOptions = {}): (request: Request) => Promise<Response> {
  const retry: Required<RetryOptions> | false =
    options.retry === false ? false : { maxRetries: 3, baseDelayMs: 250, maxDelayMs: 30_000, ...options.retry };
  const pause = options.sleep ?? sleep;
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));

  return async (input: Request): Promise<Response> => {
    const request = new Request(input);
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (!request.headers.has(name)) request.headers.set(name, value);
    }
    if (options.credential && !request.headers.has("authorization")) {
      request.headers.set("authorization", `Bearer ${options.credential}`);
    }
    const path = new URL(request.url).pathname;
    if (request.method === "POST" && INTENT_ROUTES.test(path) && !request.headers.has("idempotency-key")) {
      // Set on the first attempt already: a retry must carry the same key.
      request.headers.set("idempotency-key", `lictor-sdk-${randomId()}`);
    }
    const replayable = IDEMPOTENT_METHODS.has(request.method) || request.headers.has("idempotency-key");
    const attempts = retry ? retry.maxRetries + 1 : 1;
    for (let attempt = 0; ; attempt += 1) {
      const last = attempt + 1 >= attempts;
      let response: Response;
      try {
        response = await send(last ? request : request.clone());
      } catch (error) {
        if (request.signal.aborted) throw error;
        // Network failures: only where repeating cannot act twice.
        if (last || !replayable || !retry) throw new TransportError(request.method, request.url, error);
        await pause(backoffMs(attempt, retry), request.signal);
        continue;
      }
      if (!last && retry && RETRY_STATUSES.has(response.status) && (await mayRetry(request, response))) {
        const asked = retryAfterMs(response.headers.get("retry-after"));
        if (asked === undefined || asked <= retry.maxDelayMs) {
          await response.body?.cancel();
          await pause(asked ?? backoffMs(attempt, retry), request.signal);
          continue;
        }
      }
      return options.precision === "off" ? response : guardPrecision(response);
    }
  };
}

/** Whether a 429/503 answer may be retried: all but `outcome_unknown` without an `Idempotency-Key`. */
async function mayRetry(request: Request, response: Response): Promise<boolean> {
  if (request.headers.has("idempotency-key")) return true;
  try {
    const body: unknown = await response.clone().json();
    return !(typeof body === "object" && body !== null && (body as { error_code?: unknown }).error_code === "outcome_unknown");
  } catch {
    return true;
  }
}

async function guardPrecision(response: Response): Promise<Response> {
  const type = response.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json" || response.body === null) return response;
  const text = await response.text();
  if (/[0-9]{16}/.test(text)) {
    // Only texts with a 16-digit run can hold an integer beyond 2^53 − 1.
    try {
      const unsafe = findUnsafeInteger(parseJson(text));
      if (unsafe) throw new PrecisionError(unsafe.path, unsafe.value);
    } catch (error) {
      if (error instanceof PrecisionError) throw error;
      // Not JSON after all: hand it on as it came.
    }
  }
  return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
}
