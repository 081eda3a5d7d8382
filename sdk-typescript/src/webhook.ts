// Verifying `Lictor-Signature` headers on webhook deliveries
// (docs/webhooks.md), exactly as the gateway's reference implementation.

import { hmacSha256 } from "./crypto.js";
import { concat, constantTimeEqual, fromHex, toHex, utf8 } from "./encoding.js";

/** The header carrying the signature. */
export const SIGNATURE_HEADER = "Lictor-Signature";

/** Stable codes of webhook verification failures, checked in this order. */
export type WebhookErrorCode = "malformed_header" | "expired" | "signature_mismatch";

/** A delivery whose signature does not verify. */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
  constructor(
    readonly code: WebhookErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Options of `verifyWebhook`. */
export interface VerifyWebhookOptions {
  /** The receiver's clock (a `Date` or Unix seconds); default now. */
  now?: Date | number;
  /** Largest accepted distance between `t` and `now`, seconds (default 300). */
  tolerance?: number;
}

const I64_MAX = 2n ** 63n - 1n;

function bodyBytes(body: string | Uint8Array): Uint8Array {
  return typeof body === "string" ? utf8(body) : body;
}

/**
 * Checks a delivery: `header` is the `Lictor-Signature` value, `body` the
 * raw request body (bytes, or the exact text received — never re-serialised
 * JSON). Resolves to the signed timestamp (Unix seconds); rejects with
 * `WebhookVerificationError` (`malformed_header`, `expired`,
 * `signature_mismatch`, checked in that order).
 */
export async function verifyWebhook(
  secret: string,
  header: string,
  body: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): Promise<number> {
  const malformed = (why: string) => new WebhookVerificationError("malformed_header", why);
  let t: string | undefined;
  let v1: string | undefined;
  for (const part of header.split(",")) {
    const trimmed = part.trim();
    const eq = trimmed.indexOf("=");
    const [name, value] = eq < 0 ? [trimmed, undefined] : [trimmed.slice(0, eq), trimmed.slice(eq + 1)];
    if (name === "t" && value !== undefined && t === undefined) t = value;
    else if (name === "v1" && value !== undefined && v1 === undefined) v1 = value;
    else throw malformed("expected exactly `t=<seconds>,v1=<hex>`");
  }
  if (t === undefined || !/^[0-9]+$/.test(t) || BigInt(t) > I64_MAX) throw malformed("`t` is not a Unix time in seconds");
  if (v1 === undefined || !/^[0-9a-f]{64}$/.test(v1)) throw malformed("`v1` is not 64 lowercase hex digits");
  const timestamp = BigInt(t);
  const nowOption = options.now ?? new Date();
  const now = BigInt(Math.floor(nowOption instanceof Date ? nowOption.getTime() / 1000 : nowOption));
  const tolerance = BigInt(Math.floor(options.tolerance ?? 300));
  const distance = now > timestamp ? now - timestamp : timestamp - now;
  if (distance > tolerance) throw new WebhookVerificationError("expired", `signed at ${timestamp}, ${distance} s from now`);
  const expected = await hmacSha256(utf8(secret), concat(utf8(`${timestamp}.`), bodyBytes(body)));
  if (!constantTimeEqual(expected, fromHex(v1)!)) {
    throw new WebhookVerificationError("signature_mismatch", "the signature does not match the body");
  }
  return Number(timestamp);
}

/** The `Lictor-Signature` value for `body` at `timestamp` (for receivers' tests). */
export async function signWebhook(secret: string, timestamp: number, body: string | Uint8Array): Promise<string> {
  const mac = await hmacSha256(utf8(secret), concat(utf8(`${timestamp}.`), bodyBytes(body)));
  return `t=${timestamp},v1=${toHex(mac)}`;
}
