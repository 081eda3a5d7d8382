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
  /** A trusted checkpoint (file name) the export must extend. */
  trusted?: string;
  expect:
    | {
        valid: true;
        tenant: string;
        origin: string;
        entries: number;
        root_hash: string;
        checkpoint_time: string;
        key_name: string;
        checkpoints: number;
      }
    | { valid: false; reason: string; seq: number };
}

describe("audit export vectors", () => {
  const manifest = readJson<{ keys: string; keys_document: string; vectors: AuditVector[] }>("audit", "manifest.json");
  const keyText = readFileSync(path.join(VECTORS, "audit", manifest.keys), "utf8");
  const keysDocument = readJson<object>("audit", manifest.keys_document);
  assert.ok(manifest.vectors.length >= 20);

  for (const vector of manifest.vectors) {
    // A file may appear twice: alone, and against a trusted checkpoint.
    const name = vector.trusted === undefined ? vector.file : `${vector.file} (trusted)`;
    for (const backend of ["webcrypto", "noble"] as const) {
      it(`${name} (${backend})`, async () => {
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
        const trusted = vector.trusted === undefined ? undefined : readFileSync(path.join(VECTORS, "audit", vector.trusted), "utf8");
        const outcome = verifyAuditExport(stream, keys, { ed25519: backend, trusted });
        if (expect.valid) {
          const report = await outcome;
          assert.deepEqual(report, {
            tenant: expect.tenant,
            origin: expect.origin,
            entries: expect.entries,
            rootHash: expect.root_hash,
            checkpointTime: expect.checkpoint_time,
            keyName: expect.key_name,
            checkpoints: expect.checkpoints,
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

  it("a trusted checkpoint that does not open is rejected before the export is read", async () => {
    const file = manifest.vectors.find((v) => v.trusted !== undefined)!.trusted!;
    const note = readFileSync(path.join(VECTORS, "audit", file), "utf8");
    const text = readFileSync(path.join(VECTORS, "audit", "valid.ndjson"), "utf8");
    const lines = note.split("\n");
    lines[2] = `${lines[2]!.startsWith("A") ? "B" : "A"}${lines[2]!.slice(1)}`;
    const notes = {
      "edited root": lines.join("\n"),
      "signed by an unknown key": note.replace("\u2014 lictor-vectors ", "\u2014 someone-else "),
      unsigned: note.slice(0, note.lastIndexOf("\n\n") + 2),
      "not a signed note": "lictor-vectors/tenants/acme\n5\n",
    };
    let read = false;
    const source = {
      async *[Symbol.asyncIterator]() {
        read = true;
        yield utf8(text);
      },
    };
    for (const [what, bad] of Object.entries(notes)) {
      await assert.rejects(verifyAuditExport(source, keyText, { trusted: bad }), (e: unknown) => {
        assert.ok(e instanceof Error && !(e instanceof ExportVerificationError), `${what}: ${String(e)}`);
        assert.match(e.message, /trusted checkpoint does not open/, what);
        return true;
      });
    }
    assert.equal(read, false, "the export was read");
    // The same note, untouched, opens.
    assert.equal((await verifyAuditExport(text, keyText, { trusted: note })).checkpoints, 3);
  });

  it("an empty file is malformed", async () => {
    await assert.rejects(verifyAuditExport("", keyText), (e: unknown) => e instanceof ExportVerificationError && e.reason === "malformed");
  });

  const failure = async (text: string): Promise<[string, number | null, string]> => {
    try {
      await verifyAuditExport(text, keyText);
    } catch (error) {
      assert.ok(error instanceof ExportVerificationError, String(error));
      return [error.reason, error.seq, error.detail];
    }
    assert.fail("verified");
  };

  it("files written before the person column still verify", async () => {
    // `person` is the last column: valid.csv was written before it existed.
    const text = readFileSync(path.join(VECTORS, "audit", "valid.csv"), "utf8");
    const rows = text.split("\r\n");
    assert.ok(rows[0]!.endsWith(",consistency"));
    const widened = [`${rows[0]},person`, ...rows.slice(1, -1).map((row) => `${row},`), ""].join("\r\n");
    assert.deepEqual(await verifyAuditExport(widened, keyText), await verifyAuditExport(text, keyText));
    const people = readFileSync(path.join(VECTORS, "audit", "person.csv"), "utf8");
    assert.ok(people.split("\r\n")[0]!.endsWith(",consistency,person"));
  });

  it("a person is exactly the object its hash covers", async () => {
    const ndjson = readFileSync(path.join(VECTORS, "audit", "person.ndjson"), "utf8");
    const report = await verifyAuditExport(ndjson, keyText);
    assert.deepEqual([report.entries, report.checkpoints], [9, 4]);
    const okta = '"provider":"okta",';
    const edits: [string, string, number][] = [
      [okta, '"provider":"okta","groups":["ops"],', 8],
      [okta, '"provider":"Okta",', 8],
      ['"provider":"google"}', '"provider":"google","username":null}', 9],
      ['"person":{"issuer":"https://accounts.google.com",', '"person":{', 9],
      ['"prev_hash"', '"person":null,"prev_hash"', 1],
      ['"prev_hash"', '"person":"superadmin","prev_hash"', 1],
    ];
    for (const [from, to, seq] of edits) {
      assert.ok(ndjson.includes(from), from);
      assert.deepEqual((await failure(ndjson.replace(from, to))).slice(0, 2), ["malformed", seq], to);
    }
    assert.deepEqual((await failure(ndjson.replace("Zoë", "Zoe"))).slice(0, 2), ["hash_mismatch", 8]);

    const csv = readFileSync(path.join(VECTORS, "audit", "person.csv"), "utf8");
    // Any JSON text of the same object: the hash covers the object, not the text.
    const spaced = csv.replace('"{""email"":', '"{ ""email"" :');
    assert.notEqual(spaced, csv);
    assert.deepEqual(await verifyAuditExport(spaced, keyText), report);
    const google = '""provider"":""google"",';
    assert.ok(csv.includes(google));
    const cases: [string, string | null][] = [
      [csv.replace(google, `${google}""email"":null,`), "`person`: `email` is null: an unset field is left out"],
      [csv.replace(google, `${google}""groups"":[],`), "`person`: unknown field `groups`"],
      [csv.replace('"{""email""', '"{email'), null],
    ];
    for (const [edited, detail] of cases) {
      assert.notEqual(edited, csv);
      const [reason, , got] = await failure(edited);
      assert.equal(reason, "malformed", got);
      if (detail !== null) assert.equal(got, detail);
    }
    // A checkpoint row has no person.
    const at = csv.lastIndexOf('",');
    const onCheckpoint = csv.slice(0, at) + csv.slice(at).replace(",\r\n", ",{}\r\n");
    assert.notEqual(onCheckpoint, csv);
    assert.deepEqual(await failure(onCheckpoint), ["malformed", 10, "`person` must be empty in this row"]);
  });
});
