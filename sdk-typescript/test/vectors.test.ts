// The shared conformance vectors (conformance/vectors/): this SDK must agree
// with the Rust implementation byte for byte on every one of them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

import { fromBase64Url, toBase64Url, utf8 } from "../src/encoding.js";
import {
  attenuateWith,
  deriveRootKey,
  ExportVerificationError,
  mintToken,
  parseToken,
  TokenError,
  verifyAuditExport,
  verifyToken,
  verifyWebhook,
  WebhookVerificationError,
  type Caveat,
  type TokenHeader,
} from "../src/index.js";
import { VECTORS } from "./support/paths.js";

function readJson<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(path.join(VECTORS, ...parts), "utf8")) as T;
}

interface TokenVector {
  name: string;
  secret: string;
  root_key: string;
  now?: number;
  token: string;
  attenuation?: { parent: string; jti: string; caveats: Caveat[] };
  expect:
    | {
        valid: true;
        jti_chain: string[];
        header: TokenHeader;
        caveats: Caveat[];
        caveat_scopes: string[];
        expires_at: number | null;
        expired_at_now?: boolean;
      }
    | { valid: false; error: string };
}

describe("token vectors", () => {
  const file = readJson<{ vectors: TokenVector[] }>("tokens", "tokens.json");
  assert.ok(file.vectors.length >= 30, "the vectors file is unexpectedly short");

  for (const vector of file.vectors) {
    it(vector.name, async () => {
      const secret = fromBase64Url(vector.secret)!;
      const rootKey = await deriveRootKey(secret);
      assert.equal(toBase64Url(rootKey), vector.root_key, "root key");
      const expect = vector.expect;
      if (!expect.valid) {
        await assert.rejects(
          verifyToken(vector.token, (kid) => (kid === "tok-vectors-1" ? rootKey : undefined)),
          (error: unknown) => error instanceof TokenError && error.code === expect.error,
        );
        return;
      }
      const parsed = await verifyToken(vector.token, (kid) => (kid === expect.header.kid ? rootKey : undefined));
      assert.deepEqual(parsed.header, expect.header);
      assert.deepEqual(parsed.caveats, expect.caveats);
      assert.deepEqual(parsed.jtiChain, expect.jti_chain);
      assert.deepEqual(parsed.caveatScopes, expect.caveat_scopes);
      assert.equal(parsed.expiresAt, expect.expires_at);
      if (vector.now !== undefined) {
        assert.equal(parsed.expiresAt !== null && vector.now >= parsed.expiresAt, expect.expired_at_now);
      }
      // Minting the same header and caveats reproduces the token exactly.
      assert.equal(await mintToken(rootKey, expect.header, expect.caveats), vector.token);
      if (vector.attenuation) {
        const { parent, jti, caveats } = vector.attenuation;
        assert.equal(await attenuateWith(parent, jti, caveats), vector.token);
      }
      // Parsing needs no key and gives the same view.
      assert.deepEqual(parseToken(vector.token).jtiChain, expect.jti_chain);
    });
  }

  it("an unknown kid is unknown_kid", async () => {
    const valid = file.vectors.find((v) => v.name === "root_every_caveat")!;
    await assert.rejects(verifyToken(valid.token, () => undefined), (e: unknown) => e instanceof TokenError && e.code === "unknown_kid");
  });
});

interface WebhookVector {
  name: string;
  secret: string;
  header: string;
  body: string;
  now: number;
  tolerance_seconds: number;
  valid: boolean;
  error: string | null;
}

describe("webhook vectors", () => {
  const file = readJson<{ vectors: WebhookVector[] }>("webhooks", "webhooks.json");
  assert.ok(file.vectors.length >= 20);
  for (const vector of file.vectors) {
    it(vector.name, async () => {
      const options = { now: vector.now, tolerance: vector.tolerance_seconds };
      for (const body of [vector.body, utf8(vector.body)]) {
        const outcome = verifyWebhook(vector.secret, vector.header, body, options);
        if (vector.valid) await outcome;
        else await assert.rejects(outcome, (e: unknown) => e instanceof WebhookVerificationError && e.code === vector.error);
      }
    });
  }
});

interface AuditVector {
  file: string;
  expect:
    | { valid: true; tenant: string; origin: string; entries: number; root_hash: string; checkpoint_time: string; key_name: string }
    | { valid: false; reason: string; seq: number };
}

describe("audit export vectors", () => {
  const manifest = readJson<{ keys: string; keys_document: string; vectors: AuditVector[] }>("audit", "manifest.json");
  const keyText = readFileSync(path.join(VECTORS, "audit", manifest.keys), "utf8");
  const keysDocument = readJson<object>("audit", manifest.keys_document);
  assert.ok(manifest.vectors.length >= 20);

  for (const vector of manifest.vectors) {
    for (const backend of ["webcrypto", "noble"] as const) {
      it(`${vector.file} (${backend})`, async () => {
        const bytes = readFileSync(path.join(VECTORS, "audit", vector.file));
        const expect = vector.expect;
        // Streamed in small uneven chunks, so no record arrives whole.
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let at = 0; at < bytes.length; at += 97) controller.enqueue(new Uint8Array(bytes.subarray(at, at + 97)));
            controller.close();
          },
        });
        const keys = backend === "noble" ? keyText : (keysDocument as Parameters<typeof verifyAuditExport>[1]);
        const outcome = verifyAuditExport(stream, keys, { ed25519: backend });
        if (expect.valid) {
          const report = await outcome;
          assert.deepEqual(report, {
            tenant: expect.tenant,
            origin: expect.origin,
            entries: expect.entries,
            rootHash: expect.root_hash,
            checkpointTime: expect.checkpoint_time,
            keyName: expect.key_name,
          });
        } else {
          await assert.rejects(outcome, (e: unknown) => {
            assert.ok(e instanceof ExportVerificationError, String(e));
            assert.equal(e.reason, expect.reason, e.message);
            assert.equal(e.seq, expect.seq, e.message);
            return true;
          });
        }
      });
    }
  }

  it("the same file as one string verifies too", async () => {
    const text = readFileSync(path.join(VECTORS, "audit", "valid.csv"), "utf8");
    const report = await verifyAuditExport(text, keyText);
    assert.equal(report.entries, 7);
  });

  it("an empty file is malformed", async () => {
    await assert.rejects(verifyAuditExport("", keyText), (e: unknown) => e instanceof ExportVerificationError && e.reason === "malformed");
  });
});
