// JSON without silent precision loss, and RFC 8785 canonical JSON.
//
// `JSON.parse` turns every number into a double, so an integer above
// 2^53 − 1 comes back rounded. `parseJson` keeps such integers exact as
// `bigint`; `canonicalJson` writes the one RFC 8785 (JCS) encoding of a
// value, the form token segments and audit entry hashes are computed over.

/** A parsed JSON value. Integers outside ±(2^53 − 1) are `bigint`. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON text that could not be read, with the offset of the problem. */
export class JsonSyntaxError extends Error {
  override readonly name = "JsonSyntaxError";
  constructor(
    message: string,
    /** Offset (UTF-16 code units) into the text. */
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
  }
}

/** How `parseJson` represents integer literals. */
export interface ParseOptions {
  /**
   * `"unsafe"` (default): integers beyond 2^53 − 1 in magnitude become
   * `bigint`, the rest `number`. `"all"`: every integer literal (no
   * fraction, no exponent) becomes `bigint`, so integer fields can be told
   * from `1.0`.
   */
  bigints?: "unsafe" | "all";
}

const WS = /[ \t\n\r]*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/**
 * Parses RFC 8259 JSON strictly (no extensions, no lone surrogates, no
 * trailing content). Duplicate keys keep the last value, as `JSON.parse`
 * does.
 */
export function parseJson(text: string, options: ParseOptions = {}): JsonValue {
  const allBigints = options.bigints === "all";
  let at = 0;

  const fail = (message: string): never => {
    throw new JsonSyntaxError(message, at);
  };
  const skip = () => {
    WS.lastIndex = at;
    WS.exec(text);
    at = WS.lastIndex;
  };

  const string = (): string => {
    // at points at the opening quote
    at += 1;
    let out = "";
    let start = at;
    for (;;) {
      if (at >= text.length) fail("unterminated string");
      const c = text.charCodeAt(at);
      if (c === 0x22) {
        out += text.slice(start, at);
        at += 1;
        break;
      }
      if (c < 0x20) fail("control character in string");
      if (c === 0x5c) {
        out += text.slice(start, at);
        const e = text[at + 1];
        at += 2;
        switch (e) {
          case '"': out += '"'; break;
          case "\\": out += "\\"; break;
          case "/": out += "/"; break;
          case "b": out += "\b"; break;
          case "f": out += "\f"; break;
          case "n": out += "\n"; break;
          case "r": out += "\r"; break;
          case "t": out += "\t"; break;
          case "u": {
            const hex = text.slice(at, at + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
            out += String.fromCharCode(parseInt(hex, 16));
            at += 4;
            break;
          }
          default:
            at -= 2;
            fail("bad escape");
        }
        start = at;
        continue;
      }
      at += 1;
    }
    if (!isWellFormed(out)) fail("lone surrogate in string");
    return out;
  };

  const number = (): number | bigint => {
    NUMBER.lastIndex = at;
    const match = NUMBER.exec(text);
    if (!match) return fail("unexpected character");
    at = NUMBER.lastIndex;
    const literal = match[0];
    const integer = match[1] === undefined && match[2] === undefined;
    if (integer) {
      if (allBigints) return BigInt(literal);
      const value = Number(literal);
      return Number.isSafeInteger(value) ? value : BigInt(literal);
    }
    const value = Number(literal);
    if (!Number.isFinite(value)) fail("number out of range");
    return value;
  };

  const value = (depth: number): JsonValue => {
    if (depth > 512) fail("nested too deeply");
    skip();
    const c = text[at];
    if (c === "{") {
      at += 1;
      const object: { [key: string]: JsonValue } = {};
      skip();
      if (text[at] === "}") {
        at += 1;
        return object;
      }
      for (;;) {
        skip();
        if (text[at] !== '"') fail("expected a string key");
        const key = string();
        skip();
        if (text[at] !== ":") fail("expected `:`");
        at += 1;
        const item = value(depth + 1);
        Object.defineProperty(object, key, { value: item, enumerable: true, writable: true, configurable: true });
        skip();
        if (text[at] === ",") {
          at += 1;
          continue;
        }
        if (text[at] === "}") {
          at += 1;
          return object;
        }
        fail("expected `,` or `}`");
      }
    }
    if (c === "[") {
      at += 1;
      const array: JsonValue[] = [];
      skip();
      if (text[at] === "]") {
        at += 1;
        return array;
      }
      for (;;) {
        array.push(value(depth + 1));
        skip();
        if (text[at] === ",") {
          at += 1;
          continue;
        }
        if (text[at] === "]") {
          at += 1;
          return array;
        }
        fail("expected `,` or `]`");
      }
    }
    if (c === '"') return string();
    if (text.startsWith("true", at)) {
      at += 4;
      return true;
    }
    if (text.startsWith("false", at)) {
      at += 5;
      return false;
    }
    if (text.startsWith("null", at)) {
      at += 4;
      return null;
    }
    if (c === undefined) fail("unexpected end of input");
    return number();
  };

  const result = value(0);
  skip();
  if (at !== text.length) fail("trailing content");
  return result;
}

/** Whether `text` has no lone UTF-16 surrogate. */
export function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i += 1;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

/** A value `canonicalJson` cannot encode (a lone surrogate, a non-finite number, …). */
export class CanonicalJsonError extends Error {
  override readonly name = "CanonicalJsonError";
}

/**
 * The RFC 8785 (JCS) encoding of `value`: no whitespace, object keys sorted
 * by UTF-16 code units, strings with the minimal escapes, numbers in
 * ECMAScript form. `bigint`s are written as their exact decimal digits;
 * object members whose value is `undefined` are left out.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case "string":
      if (!isWellFormed(value)) throw new CanonicalJsonError("a string holds a lone surrogate");
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`\`${value}\` is not a JSON number`);
      return JSON.stringify(value); // ECMAScript Number::toString; -0 becomes 0
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(",")}]`;
      const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
      // Default sort compares UTF-16 code units, which is what RFC 8785 asks.
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${canonicalJson(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    default:
      throw new CanonicalJsonError(`a ${typeof value} is not a JSON value`);
  }
}

/** The first integer beyond ±(2^53 − 1) in `value`, with its JSONPath. */
export function findUnsafeInteger(value: JsonValue, path = "$"): { path: string; value: bigint } | undefined {
  if (typeof value === "bigint") {
    return Number.isSafeInteger(Number(value)) && BigInt(Number(value)) === value ? undefined : { path, value };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const found = findUnsafeInteger(value[i]!, `${path}[${i}]`);
      if (found) return found;
    }
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const found = findUnsafeInteger(item, /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`);
      if (found) return found;
    }
  }
  return undefined;
}
