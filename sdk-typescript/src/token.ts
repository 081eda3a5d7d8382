// Capability tokens (`lictor_cap1.…`): parsing, verification, minting and offline
// attenuation, byte for byte as docs/tokens.md specifies and
// conformance/vectors/tokens/ pins. Parsing is synchronous; everything that
// computes an HMAC is async because it runs on WebCrypto.

import { hkdfSha256, hmacSha256 } from "./crypto.js";
import { constantTimeEqual, fromBase64Url, fromUtf8, toBase64Url, utf8 } from "./encoding.js";
import { canonicalJson, JsonSyntaxError, parseJson, type JsonValue } from "./json.js";

/** The literal prefix of format version 1. */
export const TOKEN_PREFIX = "lictor_cap1.";
/** Longest token, in bytes (= characters: tokens are ASCII). */
export const MAX_TOKEN_BYTES = 8192;
/** Most caveats per token, hops included. */
export const MAX_CAVEATS = 32;
/** Longest free-text string field, in bytes. */
export const MAX_STRING_BYTES = 256;
/** Most items per list field. */
export const MAX_LIST_ITEMS = 64;
/** Largest integer a token may hold (2^53 − 1). */
export const MAX_INTEGER = Number.MAX_SAFE_INTEGER;
/** HKDF `info` of the root key. */
export const ROOT_KEY_INFO = "lictor/capability-token/v1";

/** Stable codes of token failures, as the Rust `TokenError::code()`. */
export type TokenErrorCode =
  | "too_large"
  | "too_many_caveats"
  | "malformed"
  | "non_canonical"
  | "unknown_caveat"
  | "unsupported_version"
  | "field_too_large"
  | "bad_hop"
  | "invalid_jti"
  | "unknown_kid"
  | "bad_signature";

/** Why a token cannot be parsed, verified or attenuated. */
export class TokenError extends Error {
  override readonly name = "TokenError";
  constructor(
    /** The stable code (see docs/tokens.md). */
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** An action type, as `action_types` caveats list them. */
export type ActionType = "communicate" | "transact" | "access" | "control" | "publish" | "recommend" | "modify";
const ACTION_TYPES: readonly string[] = ["communicate", "transact", "access", "control", "publish", "recommend", "modify"];

/** The gateway-signed header. */
export interface TokenHeader {
  v: number;
  kid: string;
  jti: string;
  parent_jti?: string;
  root_jti: string;
  tenant: string;
  sub: string;
  iat: number;
}

/** A caveat: one restriction. */
export type Caveat =
  | { type: "expires"; at: number }
  | { type: "tools"; allow: string[]; deny?: string[] }
  | { type: "servers"; allow: string[] }
  | { type: "action_types"; allow: ActionType[] }
  | { type: "max_calls"; n: number }
  | { type: "max_usd"; cents: number }
  | { type: "rate_per_min"; n: number }
  | { type: "step_up"; at: number }
  | { type: "audience"; aud: string }
  | { type: "hop"; jti: string; parent_jti: string };

/** Every caveat type this version knows. */
export const CAVEAT_TYPES = [
  "expires",
  "tools",
  "servers",
  "action_types",
  "max_calls",
  "max_usd",
  "rate_per_min",
  "step_up",
  "audience",
  "hop",
] as const satisfies readonly Caveat["type"][];

/** A parsed (not yet verified) token. */
export interface ParsedToken {
  readonly header: TokenHeader;
  /** Every caveat in order, hops included. */
  readonly caveats: readonly Caveat[];
  /** `[header.jti, hop1.jti, …]`. */
  readonly jtiChain: readonly string[];
  /** The effective jti: the last of the chain. */
  readonly jti: string;
  /** One per caveat: the jti in effect where it appears (a hop's is its own). */
  readonly caveatScopes: readonly string[];
  /** The earliest `expires` caveat, Unix seconds, or `null`. */
  readonly expiresAt: number | null;
  /** Every jti whose revocation revokes this token. */
  readonly revocationJtis: readonly string[];
}

interface Segments {
  headerBytes: Uint8Array;
  caveatBytes: Uint8Array[];
  tag: Uint8Array;
}

type Segment = "token" | "header" | "tag" | `caveat ${number}`;

const JTI = /^[A-Za-z0-9_-]{1,64}$/;
const TENANT = /^[a-z0-9][a-z0-9-]{0,62}$/;
const AGENT = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

function malformed(segment: Segment, reason: string): TokenError {
  return new TokenError("malformed", `${segment}: ${reason}`);
}

function nonCanonical(segment: Segment): TokenError {
  return new TokenError("non_canonical", `${segment}: not in its one canonical form`);
}

function checkNumbers(segment: Segment, value: JsonValue): void {
  if (typeof value === "number" || typeof value === "bigint") {
    const ok = typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_INTEGER;
    if (!ok) throw malformed(segment, `number \`${value}\` is not an integer in 0..=${MAX_INTEGER}`);
  } else if (Array.isArray(value)) {
    for (const item of value) checkNumbers(segment, item);
  } else if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) checkNumbers(segment, item);
  }
}

// Steps 4.1–4.4: base64url, JSON, numbers, canonical form.
function decodeJson(segment: Segment, text: string): { bytes: Uint8Array; value: JsonValue } {
  const bytes = fromBase64Url(text);
  if (!bytes) throw malformed(segment, "invalid base64url");
  const json = fromUtf8(bytes);
  if (json === undefined) throw malformed(segment, "invalid JSON: not UTF-8");
  let value: JsonValue;
  try {
    value = parseJson(json);
  } catch (error) {
    throw malformed(segment, `invalid JSON: ${error instanceof JsonSyntaxError ? error.message : String(error)}`);
  }
  checkNumbers(segment, value);
  if (!sameBytes(utf8(canonicalJson(value)), bytes)) throw nonCanonical(segment);
  return { bytes, value };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

type JsonObject = { [key: string]: JsonValue };

function isObject(value: JsonValue): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// Typed decoding (step 4.6): the shape serde would accept.
class Shape {
  private readonly seen = new Set<string>();
  constructor(
    private readonly segment: Segment,
    private readonly object: JsonObject,
  ) {}

  private take(field: string): JsonValue | undefined {
    this.seen.add(field);
    return Object.prototype.hasOwnProperty.call(this.object, field) ? this.object[field] : undefined;
  }

  private required(field: string): JsonValue {
    const value = this.take(field);
    if (value === undefined) throw malformed(this.segment, `missing field \`${field}\``);
    return value;
  }

  integer(field: string): number {
    const value = this.required(field);
    if (typeof value !== "number") throw malformed(this.segment, `\`${field}\` must be an integer`);
    return value;
  }

  string(field: string, grammar?: RegExp, what?: string): string {
    const value = this.required(field);
    if (typeof value !== "string") throw malformed(this.segment, `\`${field}\` must be a string`);
    if (grammar && !grammar.test(value)) throw malformed(this.segment, `\`${field}\` is not a valid ${what}`);
    return value;
  }

  optionalString(field: string, grammar: RegExp, what: string): string | undefined {
    const value = this.take(field);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || !grammar.test(value)) throw malformed(this.segment, `\`${field}\` is not a valid ${what}`);
    return value;
  }

  strings(field: string, optional = false): string[] | undefined {
    const value = optional ? this.take(field) : this.required(field);
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
      throw malformed(this.segment, `\`${field}\` must be a list of strings`);
    }
    return value as string[];
  }

  done(): void {
    for (const key of Object.keys(this.object)) {
      if (!this.seen.has(key)) throw malformed(this.segment, `unknown field \`${key}\``);
    }
  }
}

function checkStringLen(segment: Segment, field: string, value: string): void {
  if (utf8(value).length > MAX_STRING_BYTES) {
    throw new TokenError("field_too_large", `${segment}: \`${field}\` is longer than ${MAX_STRING_BYTES} bytes`);
  }
}

function checkListLen(segment: Segment, field: string, length: number): void {
  if (length > MAX_LIST_ITEMS) {
    throw new TokenError("field_too_large", `${segment}: \`${field}\` has more than ${MAX_LIST_ITEMS} items`);
  }
}

function checkText(segment: Segment, field: string, value: string): void {
  if (value.length === 0) throw malformed(segment, `\`${field}\` must not be empty`);
  if (!/^[\x20-\x7e]*$/.test(value)) throw malformed(segment, `\`${field}\` must be printable ASCII`);
}

function parseHeader(text: string): { bytes: Uint8Array; header: TokenHeader } {
  const segment: Segment = "header";
  const { bytes, value } = decodeJson(segment, text);
  if (!isObject(value)) throw malformed(segment, "the header must be a JSON object");
  if (Object.prototype.hasOwnProperty.call(value, "v") && value.v !== 1) {
    throw new TokenError("unsupported_version", `header: version \`${canonicalJson(value.v)}\` is not 1`);
  }
  const shape = new Shape(segment, value);
  const header: TokenHeader = {
    v: shape.integer("v"),
    kid: shape.string("kid"),
    jti: shape.string("jti", JTI, "jti"),
    root_jti: shape.string("root_jti", JTI, "jti"),
    tenant: shape.string("tenant", TENANT, "tenant id"),
    sub: shape.string("sub", AGENT, "agent id"),
    iat: shape.integer("iat"),
  };
  const parent = shape.optionalString("parent_jti", JTI, "jti");
  if (parent !== undefined) header.parent_jti = parent;
  shape.done();
  if (!sameBytes(utf8(canonicalJson(header)), bytes)) throw nonCanonical(segment);
  checkStringLen(segment, "kid", header.kid);
  checkText(segment, "kid", header.kid);
  if (header.parent_jti === undefined) {
    if (header.root_jti !== header.jti) throw malformed(segment, "`root_jti` must equal `jti` when there is no `parent_jti`");
  } else if (header.parent_jti === header.jti || header.root_jti === header.jti) {
    throw malformed(segment, "`jti` must differ from `parent_jti` and `root_jti` when there is a `parent_jti`");
  }
  return { bytes, header };
}

function typedCaveat(segment: Segment, type: string, shape: Shape): Caveat {
  switch (type) {
    case "expires":
    case "step_up":
      return { type, at: shape.integer("at") };
    case "tools": {
      const allow = shape.strings("allow")!;
      const deny = shape.strings("deny", true);
      return deny && deny.length > 0 ? { type, allow, deny } : { type, allow };
    }
    case "servers":
      return { type, allow: shape.strings("allow")! };
    case "action_types": {
      const allow = shape.strings("allow")!;
      const unknown = allow.find((item) => !ACTION_TYPES.includes(item));
      if (unknown !== undefined) throw malformed(segment, `unknown action type \`${unknown}\``);
      return { type, allow: allow as ActionType[] };
    }
    case "max_calls":
    case "rate_per_min":
      return { type, n: shape.integer("n") };
    case "max_usd":
      return { type, cents: shape.integer("cents") };
    case "audience":
      return { type, aud: shape.string("aud") };
    case "hop":
      return { type, jti: shape.string("jti", JTI, "jti"), parent_jti: shape.string("parent_jti", JTI, "jti") };
    default:
      throw new TokenError("unknown_caveat", `${segment}: unknown caveat type \`${type}\``);
  }
}

function checkCaveat(segment: Segment, caveat: Caveat): void {
  // Step 4.8, limits: list lengths first, then string lengths, in field order.
  switch (caveat.type) {
    case "tools":
      checkListLen(segment, "allow", caveat.allow.length);
      checkListLen(segment, "deny", caveat.deny?.length ?? 0);
      caveat.allow.forEach((item, i) => checkStringLen(segment, `allow[${i}]`, item));
      (caveat.deny ?? []).forEach((item, i) => checkStringLen(segment, `deny[${i}]`, item));
      break;
    case "servers":
      checkListLen(segment, "allow", caveat.allow.length);
      caveat.allow.forEach((item, i) => checkStringLen(segment, `allow[${i}]`, item));
      break;
    case "action_types":
      checkListLen(segment, "allow", caveat.allow.length);
      break;
    case "audience":
      checkStringLen(segment, "aud", caveat.aud);
      break;
    default:
      break;
  }
  // Step 4.9, values.
  switch (caveat.type) {
    case "tools":
      if (caveat.allow.length === 0) throw malformed(segment, "`allow` must not be empty");
      caveat.allow.forEach((item, i) => checkText(segment, `allow[${i}]`, item));
      (caveat.deny ?? []).forEach((item, i) => checkText(segment, `deny[${i}]`, item));
      break;
    case "servers":
      if (caveat.allow.length === 0) throw malformed(segment, "`allow` must not be empty");
      caveat.allow.forEach((item, i) => checkText(segment, `allow[${i}]`, item));
      break;
    case "action_types":
      if (caveat.allow.length === 0) throw malformed(segment, "`allow` must not be empty");
      break;
    case "max_calls":
    case "rate_per_min":
      if (caveat.n === 0) throw malformed(segment, "`n` must be at least 1");
      break;
    case "audience":
      checkText(segment, "aud", caveat.aud);
      break;
    default:
      break;
  }
}

function parseCaveat(segment: Segment, text: string): { bytes: Uint8Array; caveat: Caveat } {
  const { bytes, value } = decodeJson(segment, text);
  if (!isObject(value)) throw malformed(segment, "a caveat must be a JSON object");
  if (!Object.prototype.hasOwnProperty.call(value, "type")) throw malformed(segment, "missing field `type`");
  const type = value.type;
  if (typeof type !== "string") throw malformed(segment, "field `type` must be a string");
  if (!(CAVEAT_TYPES as readonly string[]).includes(type)) {
    throw new TokenError("unknown_caveat", `${segment}: unknown caveat type \`${type}\``);
  }
  const shape = new Shape(segment, value);
  shape.string("type");
  const caveat = typedCaveat(segment, type, shape);
  shape.done();
  if (!sameBytes(utf8(canonicalJson(caveat)), bytes)) throw nonCanonical(segment);
  checkCaveat(segment, caveat);
  return { bytes, caveat };
}

interface Parsed extends ParsedToken, Segments {}

function parse(token: string): Parsed {
  const length = utf8(token).length;
  if (length > MAX_TOKEN_BYTES) throw new TokenError("too_large", `the token is ${length} bytes, over ${MAX_TOKEN_BYTES}`);
  if (!token.startsWith(TOKEN_PREFIX)) throw malformed("token", `does not start with \`${TOKEN_PREFIX}\``);
  const segments = token.slice(TOKEN_PREFIX.length).split(".");
  if (segments.length < 2) throw malformed("token", "needs at least a header and a tag segment");
  const caveatTexts = segments.slice(1, -1);
  if (caveatTexts.length > MAX_CAVEATS) {
    throw new TokenError("too_many_caveats", `${caveatTexts.length} caveats, over ${MAX_CAVEATS}`);
  }
  const { bytes: headerBytes, header } = parseHeader(segments[0]!);
  const chain = [header.jti];
  const used = new Set([header.jti, header.root_jti, ...(header.parent_jti ? [header.parent_jti] : [])]);
  const caveats: Caveat[] = [];
  const caveatBytes: Uint8Array[] = [];
  const caveatScopes: string[] = [];
  caveatTexts.forEach((text, i) => {
    const segment: Segment = `caveat ${i + 1}`;
    const { bytes, caveat } = parseCaveat(segment, text);
    if (caveat.type === "hop") {
      const current = chain[chain.length - 1]!;
      if (caveat.parent_jti !== current) {
        throw new TokenError("bad_hop", `${segment}: hop \`parent_jti\` \`${caveat.parent_jti}\` is not the jti in effect \`${current}\``);
      }
      if (used.has(caveat.jti)) {
        throw new TokenError("bad_hop", `${segment}: hop \`jti\` \`${caveat.jti}\` is already used by this token`);
      }
      used.add(caveat.jti);
      chain.push(caveat.jti);
    }
    caveatScopes.push(chain[chain.length - 1]!);
    caveats.push(caveat);
    caveatBytes.push(bytes);
  });
  const tag = fromBase64Url(segments[segments.length - 1]!);
  if (!tag) throw malformed("tag", "invalid base64url");
  if (tag.length !== 32) throw malformed("tag", `must be 32 bytes, not ${tag.length}`);
  const expiries = caveats.flatMap((c) => (c.type === "expires" ? [c.at] : []));
  const revocationJtis = [...new Set([header.root_jti, ...(header.parent_jti ? [header.parent_jti] : []), ...chain])];
  return {
    header,
    caveats,
    jtiChain: chain,
    jti: chain[chain.length - 1]!,
    caveatScopes,
    expiresAt: expiries.length > 0 ? Math.min(...expiries) : null,
    revocationJtis,
    headerBytes,
    caveatBytes,
    tag,
  };
}

/**
 * Parses a token without any key: its structure, canonical form and jti
 * chain. Throws `TokenError` with the code of the first failure, in the
 * order docs/tokens.md specifies.
 */
export function parseToken(token: string): ParsedToken {
  const { headerBytes: _h, caveatBytes: _c, tag: _t, ...parsed } = parse(token);
  return parsed;
}

/** The root key of a signing secret: HKDF-SHA256(secret, salt empty, info `lictor/capability-token/v1`). */
export function deriveRootKey(secret: Uint8Array): Promise<Uint8Array> {
  return hkdfSha256(secret, ROOT_KEY_INFO);
}

async function extendChain(tag: Uint8Array, segments: Uint8Array[]): Promise<Uint8Array> {
  let current = tag;
  for (const bytes of segments) current = await hmacSha256(current, bytes);
  return current;
}

function assemble(headerBytes: Uint8Array, caveatBytes: Uint8Array[], tag: Uint8Array): string {
  return [TOKEN_PREFIX + toBase64Url(headerBytes), ...caveatBytes.map(toBase64Url), toBase64Url(tag)].join(".");
}

/**
 * Parses `token` and verifies its HMAC chain under the root key of its
 * `kid` (`rootKeyFor` answers `undefined` for an unknown kid:
 * `unknown_kid`). Only the gateway, or whoever holds its signing secret,
 * can do this.
 */
export async function verifyToken(
  token: string,
  rootKeyFor: (kid: string) => Uint8Array | undefined | Promise<Uint8Array | undefined>,
): Promise<ParsedToken> {
  const parsed = parse(token);
  const rootKey = await rootKeyFor(parsed.header.kid);
  if (!rootKey) throw new TokenError("unknown_kid", `no signing key \`${parsed.header.kid}\``);
  const expected = await extendChain(await hmacSha256(rootKey, parsed.headerBytes), parsed.caveatBytes);
  if (!constantTimeEqual(expected, parsed.tag)) throw new TokenError("bad_signature", "the tag does not verify");
  return parseToken(token);
}

function caveatBytes(caveat: Caveat): Uint8Array {
  // `deny` is omitted when empty: the one canonical form.
  const normalised = caveat.type === "tools" && caveat.deny?.length === 0 ? { type: caveat.type, allow: caveat.allow } : caveat;
  return utf8(canonicalJson(normalised));
}

/** Mints a token under `rootKey` (what the gateway does; tests and tools use it). */
export async function mintToken(rootKey: Uint8Array, header: TokenHeader, caveats: readonly Caveat[]): Promise<string> {
  const headerBytes = utf8(canonicalJson(header));
  const bytes = caveats.map(caveatBytes);
  const tag = await extendChain(await hmacSha256(rootKey, headerBytes), bytes);
  const token = assemble(headerBytes, bytes, tag);
  parse(token);
  return token;
}

/**
 * The exact attenuation of docs/tokens.md: appends a hop to `jti` and then
 * `caveats` to `token`, extending its HMAC chain. No key is involved.
 */
export async function attenuateWith(token: string, jti: string, caveats: readonly Caveat[]): Promise<string> {
  const parent = parse(token);
  if (!JTI.test(jti)) throw new TokenError("invalid_jti", `\`${jti}\` is not a jti ([A-Za-z0-9_-]{1,64})`);
  const count = parent.caveats.length + 1 + caveats.length;
  if (count > MAX_CAVEATS) throw new TokenError("too_many_caveats", `${count} caveats, over ${MAX_CAVEATS}`);
  const appended = [caveatBytes({ type: "hop", jti, parent_jti: parent.jti }), ...caveats.map(caveatBytes)];
  const tag = await extendChain(parent.tag, appended);
  const result = assemble(parent.headerBytes, [...parent.caveatBytes, ...appended], tag);
  parse(result); // the result must satisfy every rule (limits, values, hops)
  return result;
}

/** What `attenuate` narrows a token to. Every option adds one caveat. */
export interface AttenuateOptions {
  /** The child's jti; default a random `tok_…`. */
  jti?: string;
  /** Tool name globs (`github.*`), or allow and deny lists. */
  tools?: readonly string[] | { allow: readonly string[]; deny?: readonly string[] };
  /** Upstream server names, exact. */
  servers?: readonly string[];
  /** Action types. */
  actionTypes?: readonly ActionType[];
  /** At most this many allowed calls with the child. */
  maxCalls?: number;
  /** At most this many US dollars of summed financial exposure (whole cents). */
  maxUsd?: number;
  /** The same limit in US cents. */
  maxUsdCents?: number;
  /** At most this many allowed calls per calendar minute. */
  ratePerMin?: number;
  /** Expires this many seconds after `now`. */
  expiresIn?: number;
  /** Expires at this time (a `Date` or Unix seconds). */
  expiresAt?: Date | number;
  /** Step-up authentication completed at this time (a `Date` or Unix seconds). */
  stepUpAt?: Date | number;
  /** The gateway audience the child is for. */
  audience?: string;
  /** The clock for `expiresIn` (default: now). */
  now?: Date | number;
}

function unixSeconds(value: Date | number): number {
  return value instanceof Date ? Math.floor(value.getTime() / 1000) : value;
}

/** A random jti, `tok_` and 22 base64url characters (128 bits). */
export function randomJti(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return `tok_${toBase64Url(bytes)}`;
}

/** The caveats `options` describe, in the order of the docs' table. */
export function caveatsFor(options: AttenuateOptions): Caveat[] {
  const caveats: Caveat[] = [];
  const expiries: number[] = [];
  if (options.expiresIn !== undefined) expiries.push(unixSeconds(options.now ?? new Date()) + options.expiresIn);
  if (options.expiresAt !== undefined) expiries.push(unixSeconds(options.expiresAt));
  if (expiries.length > 0) caveats.push({ type: "expires", at: Math.min(...expiries) });
  if (options.tools !== undefined) {
    const tools = options.tools;
    const { allow, deny } = isList(tools) ? { allow: tools, deny: undefined } : tools;
    caveats.push(deny && deny.length > 0 ? { type: "tools", allow: [...allow], deny: [...deny] } : { type: "tools", allow: [...allow] });
  }
  if (options.servers !== undefined) caveats.push({ type: "servers", allow: [...options.servers] });
  if (options.actionTypes !== undefined) caveats.push({ type: "action_types", allow: [...options.actionTypes] });
  if (options.maxCalls !== undefined) caveats.push({ type: "max_calls", n: options.maxCalls });
  const cents: number[] = [];
  if (options.maxUsdCents !== undefined) cents.push(options.maxUsdCents);
  if (options.maxUsd !== undefined) {
    const value = Math.round(options.maxUsd * 100);
    if (!Number.isFinite(options.maxUsd) || Math.abs(value - options.maxUsd * 100) > 1e-6) {
      throw malformed("token", `\`maxUsd\` ${options.maxUsd} is not a whole number of cents`);
    }
    cents.push(value);
  }
  if (cents.length > 0) caveats.push({ type: "max_usd", cents: Math.min(...cents) });
  if (options.ratePerMin !== undefined) caveats.push({ type: "rate_per_min", n: options.ratePerMin });
  if (options.stepUpAt !== undefined) caveats.push({ type: "step_up", at: unixSeconds(options.stepUpAt) });
  if (options.audience !== undefined) caveats.push({ type: "audience", aud: options.audience });
  return caveats;
}

function isList(value: AttenuateOptions["tools"]): value is readonly string[] {
  return Array.isArray(value);
}

/**
 * Narrows `token` offline: a child token with a new jti and the caveats
 * `options` describe, which never grants more than its parent.
 *
 * ```ts
 * const reader = await attenuate(token, { tools: ["github.get_*"], maxCalls: 10, expiresIn: 3600 });
 * ```
 */
export function attenuate(token: string, options: AttenuateOptions = {}): Promise<string> {
  return attenuateWith(token, options.jti ?? randomJti(), caveatsFor(options));
}

/**
 * The glob dialect of `tools` caveats: `*` any run of characters (none and
 * `.` included), `?` exactly one, anything else itself; the whole name.
 */
export function globMatch(pattern: string, name: string): boolean {
  const p = [...pattern];
  const n = [...name];
  let pi = 0;
  let ni = 0;
  let star = -1;
  let absorbed = 0;
  while (ni < n.length) {
    if (p[pi] === "*") {
      star = pi;
      absorbed = ni;
      pi += 1;
    } else if (pi < p.length && (p[pi] === "?" || p[pi] === n[ni])) {
      pi += 1;
      ni += 1;
    } else if (star >= 0) {
      pi = star + 1;
      absorbed += 1;
      ni = absorbed;
    } else {
      return false;
    }
  }
  return p.slice(pi).every((c) => c === "*");
}
