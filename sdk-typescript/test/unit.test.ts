// The hand-written layer without a gateway: retries and idempotency keys
// against a scripted HTTP server, the precision guard, canonical JSON,
// attenuation options, globs and webhook signing.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { fromBase64Url } from "../src/encoding.js";
import {
  ApiError,
  ApprovalRequired,
  attenuate,
  backoffMs,
  canonicalJson,
  caveatsFor,
  deriveRootKey,
  Gateway,
  globMatch,
  JsonRpcError,
  ToolCallDenied,
  paginate,
  collect,
  parseJson,
  parseToken,
  PrecisionError,
  retryAfterMs,
  signWebhook,
  TokenError,
  LictorError,
  TransportError,
  unwrap,
  verifyToken,
  verifyWebhook,
  WebhookVerificationError,
} from "../src/index.js";
import { PACKAGE_ROOT, VECTORS } from "./support/paths.js";

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

describe("HTTP behaviour against a scripted server", () => {
  let url: string;
  let handler: Handler = (_q, _b, response) => response.writeHead(500).end();
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => handler(request, body, response));
  });

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const json = (response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) =>
    response.writeHead(status, { "content-type": "application/json", "x-request-id": "req-1", ...headers }).end(body);

  it("retries 503 and 429 honouring Retry-After, with one Idempotency-Key for every attempt", async () => {
    const seen: { key: string | undefined; auth: string | undefined; body: string }[] = [];
    handler = (request, body, response) => {
      seen.push({ key: request.headers["idempotency-key"] as string | undefined, auth: request.headers.authorization, body });
      if (seen.length === 1) return json(response, 503, '{"error_code":"store_unavailable","message":"busy","request_id":"r"}', { "retry-after": "0" });
      if (seen.length === 2) return json(response, 429, '{"error_code":"rate_limited","message":"slow down","request_id":"r"}');
      json(response, 200, '{"intent_id":"int_1","verdict":"approve"}');
    };
    const gw = new Gateway({ url, apiKey: "lictor_live_test", retry: { baseDelayMs: 1 } });
    const decision = await gw.declareIntent({ agent: { id: "a" }, action: { type: "access", verb: "read" } });
    assert.equal(decision.verdict, "approve");
    assert.equal(seen.length, 3);
    assert.match(seen[0]!.key ?? "", /^lictor-sdk-/);
    assert.ok(seen.every((s) => s.key === seen[0]!.key), "retries reuse the key");
    assert.ok(seen.every((s) => s.auth === "Bearer lictor_live_test"));
    assert.ok(seen.every((s) => s.body === seen[0]!.body), "retries resend the same body");
    // A second declaration gets a fresh key.
    seen.length = 0;
    handler = (request, _body, response) => {
      seen.push({ key: request.headers["idempotency-key"] as string | undefined, auth: undefined, body: "" });
      json(response, 200, '{"intent_id":"int_2","verdict":"approve"}');
    };
    await gw.declareIntent({ agent: { id: "a" }, action: { type: "access", verb: "read" } });
    assert.notEqual(seen[0]!.key, undefined);
  });

  it("retries outcome_unknown only for a request that carries an Idempotency-Key", async () => {
    const unknown = '{"error_code":"outcome_unknown","message":"may have been recorded","request_id":"r"}';
    const keys: (string | undefined)[] = [];
    handler = (request, _body, response) => {
      keys.push(request.headers["idempotency-key"] as string | undefined);
      if (keys.length === 1) return json(response, 503, unknown);
      json(response, 200, '{"intent_id":"int_1","verdict":"approve"}');
    };
    const gw = new Gateway({ url, apiKey: "k", retry: { baseDelayMs: 1 } });
    const decision = await gw.declareIntent({ agent: { id: "a" }, action: { type: "access", verb: "read" } });
    assert.equal(decision.verdict, "approve");
    assert.equal(keys.length, 2);
    assert.ok(keys[0] !== undefined && keys[0] === keys[1], "the retry replays the same key");

    // Anything else may have been recorded: it is not repeated.
    let attempts = 0;
    handler = (_q, _b, response) => {
      attempts += 1;
      json(response, 503, unknown);
    };
    await assert.rejects(unwrap(gw.api.POST("/v1/agents", { body: { id: "bot", name: "Bot", owner: "ops" } })), (e: unknown) => ApiError.is(e, "outcome_unknown"));
    assert.equal(attempts, 1);
  });

  it("gives up after the retries and throws the typed error", async () => {
    let attempts = 0;
    handler = (_q, _b, response) => {
      attempts += 1;
      json(response, 503, '{"error_code":"store_unavailable","message":"the store is locked","request_id":"req-9"}');
    };
    const gw = new Gateway({ url, apiKey: "k", retry: { maxRetries: 2, baseDelayMs: 1 } });
    await assert.rejects(gw.declareIntent({ agent: { id: "a" }, action: { type: "access", verb: "read" } }), (e: unknown) => {
      assert.ok(ApiError.is(e, "store_unavailable"));
      assert.equal(e.status, 503);
      assert.equal(e.requestId, "req-9");
      assert.equal(e.message, "the store is locked");
      return true;
    });
    assert.equal(attempts, 3);
  });

  it("does not wait for a Retry-After longer than the longest delay", async () => {
    let attempts = 0;
    handler = (_q, _b, response) => {
      attempts += 1;
      json(response, 429, '{"error_code":"rate_limited","message":"later","request_id":"r"}', { "retry-after": "3600" });
    };
    const gw = new Gateway({ url, apiKey: "k", retry: { maxDelayMs: 1000 } });
    await assert.rejects(unwrap(gw.api.GET("/v1/agents")), (e: unknown) => e instanceof ApiError && e.status === 429);
    assert.equal(attempts, 1);
  });

  it("does not retry other failures, and maps dropshot's own 404", async () => {
    let attempts = 0;
    handler = (_q, _b, response) => {
      attempts += 1;
      json(response, 404, '{"request_id":"abc","message":"Not Found"}');
    };
    const gw = new Gateway({ url, apiKey: "k" });
    await assert.rejects(unwrap(gw.api.GET("/v1/agents")), (e: unknown) => ApiError.is(e, "not_found") && e.requestId === "abc");
    assert.equal(attempts, 1);
  });

  it("throws PrecisionError instead of rounding a 64-bit integer", async () => {
    handler = (_q, _b, response) => json(response, 200, '{"items":[{"seq":9007199254740993}],"next_cursor":null}');
    const gw = new Gateway({ url, apiKey: "k" });
    await assert.rejects(unwrap(gw.api.GET("/v1/admin/audit")), (e: unknown) => {
      assert.ok(e instanceof PrecisionError, String(e));
      assert.equal(e.path, "$.items[0].seq");
      assert.equal(e.value, 9007199254740993n);
      return true;
    });
    handler = (_q, _b, response) => json(response, 200, '{"items":[{"seq":9007199254740991}],"next_cursor":null}');
    const page = await unwrap(gw.api.GET("/v1/admin/audit"));
    assert.equal(page.items[0]!.seq, Number.MAX_SAFE_INTEGER);
    handler = (_q, _b, response) => json(response, 200, '{"items":[{"seq":9007199254740993}],"next_cursor":null}');
    const lax = new Gateway({ url, apiKey: "k", precision: "off" });
    assert.equal((await unwrap(lax.api.GET("/v1/admin/audit"))).items[0]!.seq, 9007199254740992, "JSON.parse rounds");
  });

  it("opens an MCP session, renews it once when the gateway forgot it, and maps denials", async () => {
    const log: string[] = [];
    let sessions = 0;
    let forget = true;
    handler = (request, body, response) => {
      const message = JSON.parse(body) as { id?: number; method: string; params?: { name?: string } };
      const session = request.headers["mcp-session-id"];
      log.push(`${message.method}${session ? `@${session}` : ""}`);
      if (message.method === "initialize") {
        sessions += 1;
        return json(response, 200, JSON.stringify({ jsonrpc: "2.0", id: message.id, result: { protocolVersion: "2025-11-25" } }), {
          "mcp-session-id": `s${sessions}`,
        });
      }
      if (request.headers["mcp-protocol-version"] !== "2025-11-25") return json(response, 400, '{"error_code":"invalid_parameter","message":"version","request_id":"r"}');
      if (message.id === undefined) return void response.writeHead(202).end();
      if (forget && session === "s1") {
        forget = false;
        return json(response, 404, '{"error_code":"not_found","message":"unknown session","request_id":"r"}');
      }
      if (message.params?.name === "bank.pay") {
        const data = { stage: "policy", reason: "approval_needed", intent_id: "int_9", verdict: "escalate", reasons: [], approval_id: "apr_1", status: "pending", expires_at: "2030-01-01T00:00:00Z" };
        return json(response, 200, JSON.stringify({ jsonrpc: "2.0", id: message.id, error: { code: -32014, message: "approval required", data } }));
      }
      if (message.params?.name === "bank.nope") {
        return json(response, 200, JSON.stringify({ jsonrpc: "2.0", id: message.id, error: { code: -32602, message: "unknown tool" } }));
      }
      json(response, 200, JSON.stringify({ jsonrpc: "2.0", id: message.id, result: { content: [{ type: "text", text: "ok" }] } }));
    };
    const gw = new Gateway({ url, token: "lictor_cap1.x" });
    const result = await gw.callTool("bank.read", { a: 1 });
    assert.equal(result.content[0]?.text, "ok");
    assert.deepEqual(log, ["initialize", "notifications/initialized@s1", "tools/call@s1", "initialize", "notifications/initialized@s2", "tools/call@s2"]);
    await assert.rejects(gw.callTool("bank.pay"), (e: unknown) => {
      assert.ok(e instanceof ApprovalRequired, String(e));
      assert.equal(e.approvalId, "apr_1");
      assert.equal(e.expiresAt, "2030-01-01T00:00:00Z");
      assert.equal(e.intentId, "int_9");
      return true;
    });
    await assert.rejects(gw.callTool("bank.nope"), (e: unknown) => e instanceof JsonRpcError && !(e instanceof ToolCallDenied) && e.code === -32602);
  });

  it("follows cursors until there is none", async () => {
    const pages: Record<string, string> = {
      "": '{"items":[{"id":"a"},{"id":"b"}],"next_cursor":"c1"}',
      c1: '{"items":[{"id":"c"}],"next_cursor":"c2"}',
      c2: '{"items":[],"next_cursor":null}',
    };
    const cursors: string[] = [];
    handler = (request, _b, response) => {
      const cursor = new URL(request.url!, url).searchParams.get("cursor") ?? "";
      cursors.push(cursor);
      json(response, 200, pages[cursor]!);
    };
    const gw = new Gateway({ url, apiKey: "k" });
    const ids = (await collect(gw.list("/v1/agents", { query: { limit: 2 } }))).map((a) => a.id);
    assert.deepEqual(ids, ["a", "b", "c"]);
    assert.deepEqual(cursors, ["", "c1", "c2"]);
    await assert.rejects(collect(paginate(async () => ({ items: [1], next_cursor: "same" }))), /repeated cursor/);
  });
});

describe("a gateway that is down", () => {
  it("throws the SDK's TransportError naming the address and the cause", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const url = `http://127.0.0.1:${port}`;
    const gw = new Gateway({ url, apiKey: "lictor_live_x", retry: { maxRetries: 1, baseDelayMs: 1 } });
    const error = await gw.declareIntent({ agent: { id: "a" }, action: { type: "access", verb: "read" } }).then(
      () => assert.fail("declared against a closed port"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof TransportError && error instanceof LictorError, String(error));
    assert.equal(error.url, `${url}/v1/intents`);
    assert.match(error.message, new RegExp(`^cannot reach the gateway at ${url}: .*ECONNREFUSED`));
    assert.ok(error.cause instanceof Error);
    // The generated client goes through the same fetch.
    await assert.rejects(gw.api.GET("/healthz"), TransportError);
  });
});

describe("backoff", () => {
  it("doubles, caps and jitters", () => {
    const options = { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(backoffMs(0, options, () => 1), 100);
    assert.equal(backoffMs(0, options, () => 0), 50);
    assert.equal(backoffMs(3, options, () => 1), 800);
    assert.equal(backoffMs(10, options, () => 1), 1000);
    assert.equal(retryAfterMs("2"), 2000);
    assert.equal(retryAfterMs("Wed, 21 Oct 2015 07:28:10 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")), 10_000);
    assert.equal(retryAfterMs("soon"), undefined);
  });
});

describe("JSON", () => {
  it("writes RFC 8785 canonical JSON", () => {
    assert.equal(canonicalJson({ b: 1, a: [true, null, "é\u2028\n\u0001"], "\u20ac": 1, "\ud83d\ude00": 2, "\ufb33": 3 }),
      '{"a":[true,null,"é\u2028\\n\\u0001"],"b":1,"\u20ac":1,"\ud83d\ude00":2,"\ufb33":3}');
    assert.equal(canonicalJson(-0), "0");
    assert.equal(canonicalJson(1e21), "1e+21");
    assert.equal(canonicalJson(0.000001), "0.000001");
    assert.equal(canonicalJson(12345678901234567890n), "12345678901234567890");
    assert.throws(() => canonicalJson("\ud800"));
  });

  it("keeps integers beyond 2^53 exact", () => {
    assert.deepEqual(parseJson('{"a":9007199254740993,"b":1.5,"c":-9007199254740993}'), {
      a: 9007199254740993n,
      b: 1.5,
      c: -9007199254740993n,
    });
    assert.deepEqual(parseJson("[1,2]", { bigints: "all" }), [1n, 2n]);
    for (const bad of ["", "{", "[1,]", "01", "NaN", '"\\ud800"', '{"a":1} x', "'a'"]) assert.throws(() => parseJson(bad), bad);
  });
});

describe("attenuate", () => {
  const vectors = JSON.parse(readFileSync(path.join(VECTORS, "tokens", "tokens.json"), "utf8")) as {
    vectors: { name: string; secret: string; token: string }[];
  };
  const root = vectors.vectors.find((v) => v.name === "root_no_caveats")!;

  it("adds one caveat per option, every type, and the result verifies", async () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const options = {
      jti: "tok_sdk",
      now,
      expiresIn: 3600,
      tools: { allow: ["github.*"], deny: ["github.delete_*"] },
      servers: ["github"],
      actionTypes: ["access", "communicate"] as const,
      maxCalls: 5,
      maxUsd: 12.34,
      ratePerMin: 10,
      stepUpAt: now,
      audience: "https://gateway.example.com",
    };
    const child = await attenuate(root.token, { ...options, actionTypes: [...options.actionTypes] });
    const parsed = parseToken(child);
    const at = Math.floor(now.getTime() / 1000);
    assert.deepEqual(parsed.caveats, [
      { type: "hop", jti: "tok_sdk", parent_jti: "tok_root" },
      { type: "expires", at: at + 3600 },
      { type: "tools", allow: ["github.*"], deny: ["github.delete_*"] },
      { type: "servers", allow: ["github"] },
      { type: "action_types", allow: ["access", "communicate"] },
      { type: "max_calls", n: 5 },
      { type: "max_usd", cents: 1234 },
      { type: "rate_per_min", n: 10 },
      { type: "step_up", at },
      { type: "audience", aud: "https://gateway.example.com" },
    ]);
    assert.deepEqual(parsed.jtiChain, ["tok_root", "tok_sdk"]);
    assert.equal(parsed.expiresAt, at + 3600);
    const rootKey = await deriveRootKey(fromBase64Url(root.secret)!);
    await verifyToken(child, () => rootKey);
    // A random jti by default, and attenuation composes.
    const grandchild = await attenuate(child, { tools: ["github.get_*"] });
    assert.match(parseToken(grandchild).jti, /^tok_[A-Za-z0-9_-]{22}$/);
    await verifyToken(grandchild, () => rootKey);
    // Dropping a caveat breaks the chain.
    const segments = grandchild.split(".");
    segments.splice(3, 1);
    await assert.rejects(verifyToken(segments.join("."), () => rootKey), (e: unknown) => e instanceof TokenError && e.code === "bad_signature");
  });

  it("refuses what the format cannot carry", async () => {
    const code = (expected: string) => (e: unknown) => e instanceof TokenError && e.code === expected;
    await assert.rejects(attenuate(root.token, { jti: "not a jti" }), code("invalid_jti"));
    await assert.rejects(attenuate(root.token, { maxCalls: 0 }), code("malformed"));
    await assert.rejects(attenuate(root.token, { maxCalls: 1.5 }), code("malformed"));
    await assert.rejects(attenuate(root.token, { actionTypes: ["launch" as "access"] }), code("malformed"));
    await assert.rejects(attenuate(root.token, { audience: "x".repeat(257) }), code("field_too_large"));
    assert.throws(() => caveatsFor({ maxUsd: 1.234 }), code("malformed"));
    await assert.rejects(attenuate(root.token, { tools: [] }), code("malformed"));
    let token = root.token;
    for (let i = 0; i < 16; i += 1) token = await attenuate(token, { maxCalls: 100 });
    await assert.rejects(attenuate(token, {}), code("too_many_caveats"));
    await assert.rejects(attenuate("lictor_cap2.abc.def", {}), code("malformed"));
  });

  it("matches globs as the gateway does", () => {
    assert.ok(globMatch("github.*", "github.create_issue"));
    assert.ok(!globMatch("github.*", "github"));
    assert.ok(globMatch("*.delete_*", "jira.delete_issue"));
    assert.ok(globMatch("jira.get_?ssue", "jira.get_issue"));
    assert.ok(!globMatch("jira.get_?ssue", "jira.get_ssue"));
    assert.ok(globMatch("*", ""));
    assert.ok(globMatch("a*b*c", "a.b.b.c"));
    assert.ok(!globMatch("GitHub.*", "github.x"));
  });
});

describe("webhooks", () => {
  it("verifies what it signs, and checks in order", async () => {
    const body = '{"intent_id":"int_1","verdict":"approve"}';
    const header = await signWebhook("lictor_whsec_test", 1_700_000_000, body);
    assert.match(header, /^t=1700000000,v1=[0-9a-f]{64}$/);
    assert.equal(await verifyWebhook("lictor_whsec_test", header, body, { now: new Date(1_700_000_100_000) }), 1_700_000_000);
    const code = (expected: string) => (e: unknown) => e instanceof WebhookVerificationError && e.code === expected;
    await assert.rejects(verifyWebhook("lictor_whsec_test", header, body), code("expired"));
    await assert.rejects(verifyWebhook("lictor_whsec_test", header, `${body} `, { now: 1_700_000_000 }), code("signature_mismatch"));
    await assert.rejects(verifyWebhook("lictor_whsec_test", "t=1,v1=zz", body, { now: 1 }), code("malformed_header"));
    // The reference value from the gateway's own tests.
    assert.equal(
      await signWebhook("lictor_whsec_test", 1_700_000_000, '{"a":1}'),
      "t=1700000000,v1=88d781c1924b299b50b946033d6211f10033f2341eed344b4db74e713e116159",
    );
  });
});

describe("the built library", () => {
  it("uses no Node module at runtime (fetch and WebCrypto only)", () => {
    const dist = path.join(PACKAGE_ROOT, "dist");
    const files = readdirSync(dist, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".js"));
    assert.ok(files.includes("index.js"), "build first: npm run build");
    for (const file of files) {
      const code = readFileSync(path.join(dist, file), "utf8");
      assert.doesNotMatch(code, /\bfrom\s*["']node:|\bimport\s*\(\s*["']node:|\brequire\s*\(|\bBuffer\.|\bprocess\./, file);
    }
  });
});
