// Offline verification of audit exports (`GET /v1/admin/audit/export`,
// NDJSON or CSV, format versions 1 and 2): one streaming pass, constant
// memory, the same verdicts and reason codes as the gateway's
// `lictor audit verify-export`. The format is specified in docs/audit.md
// and at the top of server/offline/src/audit/export.rs.
//
// Version 2 adds checkpoint records after any entry (each right after the
// entry it ends, the last closing the export), every one after the first
// with an RFC 9162 consistency proof from the one before; version 1 has a
// single checkpoint, at the end, and (CSV) no `consistency` column. The
// CSV column `person` came later, last: files written before it lack it.

import type { components } from "../generated/schema.js";
import { sha256, type Ed25519Backend } from "../crypto.js";
import { fromHex, toHex, utf8 } from "../encoding.js";
import { canonicalJson, JsonSyntaxError, parseJson, type JsonValue } from "../json.js";
import { CheckpointError, noteSigners, openCheckpoint, parseVerifierKey, type Checkpoint, type NoteVerifier } from "./checkpoint.js";
import { CsvReader, type CsvRow } from "./csv.js";
import { Frontier, verifyConsistency } from "./merkle.js";

type Schemas = components["schemas"];

/** Stable reasons an export does not verify (the Rust `ExportFailureReason` codes). */
export type ExportFailureReason =
  | "malformed"
  | "tenant_mismatch"
  | "sequence_gap"
  | "broken_link"
  | "hash_mismatch"
  | "unknown_key"
  | "bad_signature"
  | "origin_mismatch"
  | "truncated"
  | "extra_entries"
  | "root_mismatch"
  | "bad_proof"
  | "trusted_mismatch"
  | "io_error";

/** The first place an export does not verify. */
export class ExportVerificationError extends Error {
  override readonly name = "ExportVerificationError";
  constructor(
    /** What is wrong. */
    readonly reason: ExportFailureReason,
    /** The log position concerned (see docs/audit.md); `null` for the NDJSON header. */
    readonly seq: number | null,
    /** The line of the file (for CSV, where the row starts), from 1. */
    readonly line: number,
    /** Details, for people. */
    readonly detail: string,
  ) {
    super(`${reason}${seq === null ? "" : ` at seq ${seq}`} (line ${line}): ${detail}`);
  }
}

/** What a verified export proves. */
export interface ExportReport {
  /** The tenant. */
  tenant: string;
  /** The closing checkpoint's origin. */
  origin: string;
  /** Entries verified: 1..entries, the closing checkpoint's tree size. */
  entries: number;
  /** Their RFC 6962 root, lowercase hex. */
  rootHash: string;
  /** The closing checkpoint's `time` line, if any. */
  checkpointTime: string | null;
  /** The name of the key whose signature on the closing checkpoint verified. */
  keyName: string;
  /** Checkpoints verified (the closing one included). */
  checkpoints: number;
}

/** What an export can be read from. */
export type ExportSource = string | Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

/** Checkpoint keys: verifier keys (`name+id+base64`), the keys document of `GET /.well-known/lictor/keys` (object or text), or parsed keys. */
export type ExportKeys = string | readonly string[] | Schemas["PublicKeys"] | readonly NoteVerifier[];

/** Options of `verifyAuditExport`. */
export interface VerifyExportOptions {
  /** Called with the number of bytes read so far. */
  onProgress?: (bytes: number) => void;
  /** Force an Ed25519 implementation (default: WebCrypto where available). */
  ed25519?: Ed25519Backend;
  /**
   * A signed checkpoint saved earlier (the note's text, e.g. from `lictor
   * audit monitor` or the API), opened with the same keys: the export must
   * extend it. It must cover at least as many entries (`truncated`), be of
   * the same log (`origin_mismatch`), and its first entries must have the
   * trusted root (`trusted_mismatch`). A note that does not open with the
   * keys rejects with a plain `Error`, before the export is read.
   */
  trusted?: string;
}

/** The purpose of checkpoint keys in the keys document. */
export const CHECKPOINT_KEY_PURPOSE = "audit-checkpoint";

/**
 * The CSV columns, in order: format version 2's with `person`. Files written
 * before `person` existed lack the last; version 1 files, the last two.
 */
export const CSV_COLUMNS = [
  "record", "version", "entry_id", "tenant", "seq", "ts", "kind", "intent_id", "agent_id", "environment",
  "enforced", "verdict", "stage", "reasons", "bundle_hash", "input_digest", "payload_digest", "principal",
  "jti", "tool", "approval_id", "outcome", "prev_hash", "hash", "checkpoint", "consistency", "person",
] as const;

/** The CSV columns of files written before `person`: all but it. */
export const CSV_COLUMNS_WITHOUT_PERSON = CSV_COLUMNS.slice(0, -1) as readonly (typeof CSV_COLUMNS)[number][];

/** The CSV columns of format version 1: all but `consistency` and `person`. */
export const CSV_COLUMNS_V1 = CSV_COLUMNS.slice(0, -2) as readonly (typeof CSV_COLUMNS)[number][];

/** The highest export format version read (versions 1 to this one are). */
const EXPORT_VERSION = 2n;

const GENESIS_HASH = "0".repeat(64);
const MAX_LINE = 16 << 20;
const U64_MAX = 2n ** 64n - 1n;
const U32_MAX = 2n ** 32n - 1n;

const AUDIT_KINDS = [
  "decision", "approval_decision", "tool_result", "token_revoked", "tenant_created", "tenant_updated",
  "webhook_secret_rotated", "api_key_created", "api_key_revoked", "agent_created", "agent_updated", "token_minted",
  "upstream_created", "upstream_deleted", "payload_erased", "policy_draft_saved", "policy_draft_deleted",
  "policy_promoted", "policy_rolled_back", "policy_proposed", "policy_proposal_rejected", "integration_created",
  "integration_updated", "integration_deleted", "dead_letters_redriven", "operator_access_changed",
  "scim_token_rotated", "operator_sessions_ended", "scim_user_created", "scim_user_updated", "scim_user_deleted",
  "scim_group_created", "scim_group_updated", "scim_group_deleted",
  "discovered_agent_updated", "discovered_agent_attested", "discovery_settings_changed",
  "discovery_service_saved", "discovery_service_deleted",
] as const satisfies readonly Schemas["AuditKind"][];
// Every kind of the contract: a kind missing above fails to compile here.
const everyKind: Exclude<Schemas["AuditKind"], (typeof AUDIT_KINDS)[number]> extends never ? true : never = true;
void everyKind;
const ENVIRONMENTS = ["live", "shadow", "test"] as const satisfies readonly Schemas["Environment"][];
const VERDICTS = ["approve", "approve_modified", "escalate", "block"] as const satisfies readonly Schemas["Verdict"][];
const STAGES = [
  "authenticate", "validate", "identity", "capability", "risk", "policy", "budget", "decide", "audit",
] as const satisfies readonly Schemas["StageName"][];
/** The extension fields that are strings, in CSV column order. */
const TEXT_EXTENSIONS = ["principal", "jti", "tool", "approval_id", "outcome"] as const;
/** Present only when set; every one a string but `person`, an object. */
const EXTENSIONS = [...TEXT_EXTENSIONS, "person"] as const;
/** A person's fields: always these, and the optional ones only when set. */
const PERSON_REQUIRED = ["issuer", "subject", "provider"] as const;
const PERSON_OPTIONAL = ["username", "email", "name"] as const;
const PROVIDER = /^[a-z0-9][a-z0-9-]{0,63}$/;

const TENANT = /^[a-z0-9][a-z0-9-]{0,62}$/;
const AGENT = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const GENERATED = /^[A-Za-z0-9_]{1,64}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const TS = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;

/**
 * Reads checkpoint verifier keys: verifier key lines (blank lines and `#`
 * comments ignored), the JSON keys document of `GET
 * /.well-known/lictor/keys` (its `audit-checkpoint` keys' `vkey`), or
 * parsed keys. Throws `CheckpointError` on an unusable key or none.
 */
export async function parseCheckpointKeys(keys: ExportKeys): Promise<NoteVerifier[]> {
  let out: NoteVerifier[] = [];
  if (typeof keys === "string" && keys.trimStart().startsWith("{")) {
    return parseCheckpointKeys(JSON.parse(keys) as Schemas["PublicKeys"]);
  }
  if (typeof keys === "string") {
    for (const line of keys.split("\n").map((l) => l.trim())) {
      if (line === "" || line.startsWith("#")) continue;
      out.push(await parseVerifierKey(line));
    }
  } else if (Array.isArray(keys)) {
    for (const key of keys as readonly (string | NoteVerifier)[]) out.push(typeof key === "string" ? await parseVerifierKey(key) : key);
  } else {
    const document = keys as Schemas["PublicKeys"];
    if (!Array.isArray(document.keys)) throw new CheckpointError("malformed_key", "not a keys document: no `keys` list");
    for (const [index, key] of document.keys.entries()) {
      if (key.purpose !== undefined && key.purpose !== CHECKPOINT_KEY_PURPOSE) continue;
      if (!key.vkey) throw new CheckpointError("malformed_key", `keys[${index}]: no \`vkey\``);
      const verifier = await parseVerifierKey(key.vkey);
      if (key.name !== undefined && key.name !== verifier.name) throw new CheckpointError("malformed_key", `keys[${index}]: \`name\` is not the vkey's`);
      if (key.key_id !== undefined && key.key_id !== verifier.keyId) throw new CheckpointError("malformed_key", `keys[${index}]: \`key_id\` is not the vkey's`);
      out.push(verifier);
    }
  }
  if (out.length === 0) throw new CheckpointError("malformed_key", "no audit-checkpoint key found");
  return out;
}

// ---- reading the input a chunk at a time --------------------------------

async function* chunks(source: ExportSource): AsyncGenerator<Uint8Array> {
  if (typeof source === "string") {
    yield utf8(source);
    return;
  }
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  const ioError = (error: unknown) =>
    new ExportVerificationError("io_error", null, 0, `cannot read the export: ${error instanceof Error ? error.message : String(error)}`);
  if (typeof (source as ReadableStream<Uint8Array>).getReader === "function") {
    const reader = (source as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          throw ioError(error);
        }
        if (next.done) return;
        yield next.value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  const iterator = (source as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array | string>;
      try {
        next = await iterator.next();
      } catch (error) {
        throw ioError(error);
      }
      if (next.done) return;
      yield typeof next.value === "string" ? utf8(next.value) : next.value;
    }
  } finally {
    await iterator.return?.();
  }
}

// ---- the chain and the tree ----------------------------------------------

interface Record {
  tenant: string;
  seq: bigint;
  prevHash: string;
}

interface StatedCheckpoint {
  treeSize: bigint;
  rootHash: string;
  note: string;
  /** The consistency proof from the previous checkpoint (hex hashes), if stated. */
  consistency: string[] | null;
  /** The CSV row's tenant. */
  tenant: string | null;
}

/** The last checkpoint verified. */
interface Verified {
  size: bigint;
  root: Uint8Array;
  report: ExportReport;
}

function fail(reason: ExportFailureReason, seq: bigint | number | null, line: number, detail: string): ExportVerificationError {
  return new ExportVerificationError(reason, seq === null ? null : Number(seq), line, detail);
}

type Opened = { checkpoint: Checkpoint; keyName: string } | { reason: ExportFailureReason; detail: string };

/** Opens `note` with the first of `keys` that signed it (the Rust `open_note`). */
async function openNote(note: string, keys: readonly NoteVerifier[], backend: Ed25519Backend | undefined): Promise<Opened> {
  let badSignature: string | null = null;
  for (const key of keys) {
    try {
      return { checkpoint: await openCheckpoint(note, key, backend), keyName: key.name };
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      if (error.kind === "not_signed_by") continue;
      if (error.kind === "bad_signature") {
        badSignature = key.name;
        continue;
      }
      return { reason: "malformed", detail: error.message };
    }
  }
  if (badSignature !== null) {
    return { reason: "bad_signature", detail: `the checkpoint's signature by \`${badSignature}\` does not verify` };
  }
  const signers = noteSigners(note);
  const detail = signers.length === 0 ? "the checkpoint carries no signature" : `the checkpoint is signed by ${signers.join(", ")}, none of the given keys`;
  return { reason: "unknown_key", detail };
}

/** Opens a trusted checkpoint note with `keys`; throws a plain `Error` when it does not open. */
async function openTrusted(note: string, keys: readonly NoteVerifier[], backend: Ed25519Backend | undefined): Promise<Checkpoint> {
  if (typeof note !== "string") throw new TypeError("the trusted checkpoint must be the signed note's text (a string)");
  const opened = await openNote(note, keys, backend);
  if ("reason" in opened) throw new Error(`the trusted checkpoint does not open: ${opened.detail}`);
  return opened.checkpoint;
}

class Chain {
  tenant: string | null = null;
  origin: string | null = null;
  announced: bigint | null = null;
  private readonly frontier = new Frontier();
  private prevHash = GENESIS_HASH;
  entries = 0n;
  /** The last checkpoint that verified. */
  private last: Verified | null = null;

  constructor(
    private readonly keys: readonly NoteVerifier[],
    private readonly backend: Ed25519Backend | undefined,
    private readonly trusted: Checkpoint | null,
  ) {}

  nextSeq(): bigint {
    return this.entries + 1n;
  }

  async entry(record: Record, computed: string, stated: string, line: number): Promise<void> {
    if (this.tenant !== null && this.tenant !== record.tenant) {
      throw fail("tenant_mismatch", this.nextSeq(), line, `an entry of tenant \`${record.tenant}\` in the export of \`${this.tenant}\``);
    }
    this.tenant ??= record.tenant;
    if (record.seq !== this.nextSeq()) {
      throw fail("sequence_gap", this.nextSeq(), line, `expected entry ${this.nextSeq()}, found entry ${record.seq}`);
    }
    if (record.prevHash !== this.prevHash) {
      throw fail("broken_link", this.nextSeq(), line, `prev_hash \`${record.prevHash}\` is not the previous entry's hash \`${this.prevHash}\``);
    }
    if (computed !== stated) {
      throw fail("hash_mismatch", this.nextSeq(), line, `the entry hashes to \`${computed}\`, not to its hash \`${stated}\``);
    }
    await this.frontier.push(fromHex(computed)!);
    this.prevHash = computed;
    this.entries += 1n;
    if (this.trusted !== null && this.trusted.treeSize === this.entries) {
      const [root, trusted] = [toHex(await this.frontier.root()), toHex(this.trusted.rootHash)];
      if (root !== trusted) {
        throw fail("trusted_mismatch", this.entries, line, `the first ${this.entries} entries have the root \`${root}\`, the trusted checkpoint \`${trusted}\``);
      }
    }
  }

  async checkpoint(stated: StatedCheckpoint, line: number): Promise<void> {
    const opened = await openNote(stated.note, this.keys, this.backend);
    if ("reason" in opened) throw fail(opened.reason, stated.treeSize, line, opened.detail);
    const { checkpoint, keyName } = opened;
    const size = checkpoint.treeSize;
    const at = (reason: ExportFailureReason, seq: bigint, detail: string) => fail(reason, seq, line, detail);
    let tenant: string;
    const own = this.tenant;
    if (own !== null && stated.tenant !== null && stated.tenant !== own) {
      throw at("tenant_mismatch", size, `the checkpoint row's tenant \`${stated.tenant}\` is not the entries' \`${own}\``);
    } else if (own !== null) tenant = own;
    else if (stated.tenant !== null) tenant = stated.tenant;
    else throw at("malformed", size, "the checkpoint names no tenant");
    if (!checkpoint.origin.endsWith(`/tenants/${tenant}`)) {
      throw at("origin_mismatch", size, `the checkpoint's origin \`${checkpoint.origin}\` is not of tenant \`${tenant}\``);
    }
    if (this.origin !== null && this.origin !== checkpoint.origin) {
      throw at("origin_mismatch", size, `the checkpoint's origin \`${checkpoint.origin}\` is not the header's \`${this.origin}\``);
    }
    if (this.trusted !== null && this.trusted.origin !== checkpoint.origin) {
      throw at("origin_mismatch", size, `the checkpoint's origin \`${checkpoint.origin}\` is not the trusted one's \`${this.trusted.origin}\``);
    }
    const last = this.last;
    if (last !== null && last.size >= size) throw at("malformed", size, `a checkpoint of size ${size} after one of size ${last.size}`);
    if (size > this.entries) throw at("truncated", this.entries + 1n, `the checkpoint covers ${size} entries, the file holds ${this.entries}`);
    if (size < this.entries) throw at("extra_entries", size + 1n, `the file holds ${this.entries} entries, the checkpoint covers ${size}`);
    const rootBytes = await this.frontier.root();
    const root = toHex(rootBytes);
    const signed = toHex(checkpoint.rootHash);
    if (signed !== root) throw at("root_mismatch", size, `the signed root \`${signed}\` is not the root of the entries \`${root}\``);
    if (stated.treeSize !== size || stated.rootHash !== root) {
      throw at("malformed", size, `the record states tree size ${stated.treeSize} and root \`${stated.rootHash}\`, the note ${size} and \`${root}\``);
    }
    if (last === null) {
      if (stated.consistency !== null) throw at("malformed", size, "the first checkpoint carries a consistency proof");
    } else {
      if (stated.consistency === null) throw at("malformed", size, `no consistency proof from the checkpoint of size ${last.size}`);
      const proof: Uint8Array[] = [];
      for (const hash of stated.consistency) {
        const raw = fromHex(hash);
        if (!raw || raw.length !== 32) throw at("malformed", size, "a consistency proof hash is not 64 hex digits");
        proof.push(raw);
      }
      try {
        await verifyConsistency(last.size, size, last.root, rootBytes, proof);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        throw at("bad_proof", size, `the proof from the checkpoint of size ${last.size} does not hold: ${why}`);
      }
    }
    const report: ExportReport = {
      tenant,
      origin: checkpoint.origin,
      entries: Number(size),
      rootHash: root,
      checkpointTime: checkpoint.time,
      keyName,
      checkpoints: (last?.report.checkpoints ?? 0) + 1,
    };
    this.last = { size, root: rootBytes, report };
  }

  /**
   * The verdict at the end of the input: the last record was the
   * checkpoint of every entry, the number the header announced, and no
   * fewer than a trusted checkpoint covers.
   */
  end(line: number): ExportReport {
    const last = this.last;
    if (last === null) throw fail("truncated", this.nextSeq(), line, "the file ends without a checkpoint");
    if (this.entries > last.size) {
      throw fail("extra_entries", last.size + 1n, line, `the file holds ${this.entries} entries, the last checkpoint covers ${last.size}`);
    }
    if (this.announced !== null && this.announced !== last.size) {
      throw fail("malformed", last.size, line, `the header announces ${this.announced} entries, the checkpoint covers ${last.size}`);
    }
    if (this.trusted !== null && this.trusted.treeSize > last.size) {
      throw fail(
        "truncated",
        last.size + 1n,
        line,
        `the export holds ${last.size} entries, a trusted checkpoint covers ${this.trusted.treeSize}: the log was cut`,
      );
    }
    return last.report;
  }
}

// ---- entries: the exact form the hash covers ------------------------------

type JsonObject = { [key: string]: JsonValue };

function isObject(value: JsonValue | undefined): value is JsonObject {
  return value !== null && value !== undefined && typeof value === "object" && !Array.isArray(value);
}

function validTimestamp(ts: string): boolean {
  const m = TS.exec(ts);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= days && hour < 24 && minute < 60 && second < 60;
}

function isReasons(value: JsonValue): boolean {
  return (
    Array.isArray(value) &&
    value.every(
      (r) =>
        isObject(r) &&
        Object.keys(r).length === 3 &&
        typeof r.stage === "string" &&
        (STAGES as readonly string[]).includes(r.stage) &&
        typeof r.code === "string" &&
        typeof r.message === "string",
    )
  );
}

/** Why `value` is not a person exactly as the entry hash covers it, or `null`. */
function personProblem(value: JsonValue): string | null {
  if (!isObject(value)) return "not a person object";
  const known: readonly string[] = [...PERSON_REQUIRED, ...PERSON_OPTIONAL];
  for (const [name, field] of Object.entries(value)) {
    if (!known.includes(name)) return `unknown field \`${name}\``;
    if (field === null) return `\`${name}\` is null: an unset field is left out`;
    if (typeof field !== "string") return `\`${name}\` is not a string`;
  }
  const missing = PERSON_REQUIRED.find((name) => !Object.prototype.hasOwnProperty.call(value, name));
  if (missing !== undefined) return `\`${missing}\` is missing`;
  if (!PROVIDER.test(value.provider as string)) return `\`${String(value.provider)}\` is not a provider name`;
  return null;
}

/**
 * Checks that an NDJSON entry object is exactly the hashed document plus
 * `hash`; answers why not, or `null`.
 */
function entryFormProblem(entry: JsonObject): string | null {
  const base: [string, (v: JsonValue) => boolean][] = [
    ["version", (v) => typeof v === "bigint" && v >= 0n && v <= U32_MAX],
    ["entry_id", (v) => typeof v === "string" && GENERATED.test(v)],
    ["tenant", (v) => typeof v === "string" && TENANT.test(v)],
    ["seq", (v) => typeof v === "bigint" && v >= 0n && v <= U64_MAX],
    ["ts", (v) => typeof v === "string" && validTimestamp(v)],
    ["kind", (v) => typeof v === "string" && (AUDIT_KINDS as readonly string[]).includes(v)],
    ["intent_id", (v) => v === null || (typeof v === "string" && GENERATED.test(v))],
    ["agent_id", (v) => v === null || (typeof v === "string" && AGENT.test(v))],
    ["environment", (v) => v === null || (typeof v === "string" && (ENVIRONMENTS as readonly string[]).includes(v))],
    ["enforced", (v) => v === null || typeof v === "boolean"],
    ["verdict", (v) => v === null || (typeof v === "string" && (VERDICTS as readonly string[]).includes(v))],
    ["stage", (v) => v === null || (typeof v === "string" && (STAGES as readonly string[]).includes(v))],
    ["reasons", isReasons],
    ["bundle_hash", (v) => v === null || typeof v === "string"],
    ["input_digest", (v) => v === null || typeof v === "string"],
    ["payload_digest", (v) => v === null || typeof v === "string"],
    ["prev_hash", (v) => typeof v === "string"],
    ["hash", (v) => typeof v === "string"],
  ];
  for (const [name, valid] of base) {
    if (!Object.prototype.hasOwnProperty.call(entry, name)) return `the entry lacks \`${name}\``;
    if (!valid(entry[name]!)) return `\`${name}\` is not in the form its hash covers`;
  }
  for (const name of EXTENSIONS) {
    if (!Object.prototype.hasOwnProperty.call(entry, name)) continue;
    const value = entry[name];
    if (value === null) return `\`${name}\` is null: an unset extension field is left out`;
    if (name === "person") {
      const problem = personProblem(value!);
      if (problem !== null) return `\`person\`: ${problem}`;
    } else if (typeof value !== "string") return `\`${name}\` is not a string`;
  }
  const known = new Set<string>([...base.map(([name]) => name), ...EXTENSIONS]);
  const unknown = Object.keys(entry).find((name) => !known.has(name));
  return unknown === undefined ? null : `unknown field \`${unknown}\``;
}

async function hashDocument(document: JsonObject): Promise<string> {
  return toHex(await sha256(utf8(canonicalJson(document))));
}

// ---- NDJSON --------------------------------------------------------------

async function verifyNdjson(input: AsyncGenerator<Uint8Array>, first: Uint8Array, chain: Chain, progress: (n: number) => void): Promise<ExportReport> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let pending: Uint8Array[] = [];
  let pendingLength = 0;
  let line = 0;
  let bytes = 0;

  const handle = async (raw: Uint8Array): Promise<void> => {
    line += 1;
    bytes += raw.length + 1;
    const seq = line > 1 ? chain.nextSeq() : null;
    const malformed = (detail: string) => fail("malformed", seq, line, detail);
    let text: string;
    try {
      text = decoder.decode(raw);
    } catch {
      throw malformed("not a JSON object: invalid UTF-8");
    }
    let record: JsonValue;
    try {
      record = parseJson(text, { bigints: "all" });
    } catch (error) {
      throw malformed(`not a JSON object: ${error instanceof JsonSyntaxError ? error.message : String(error)}`);
    }
    if (!isObject(record)) throw malformed("not a JSON object");
    const kind = typeof record.type === "string" ? record.type : "";
    if (line === 1) {
      if (kind !== "header") throw malformed("the first line is not the export header");
      const fields = ["type", "format", "version", "tenant", "origin", "key_name", "exported_at", "entries"];
      const bad = (why: string) => fail("malformed", null, line, `bad header: ${why}`);
      for (const key of Object.keys(record)) if (!fields.includes(key)) throw bad(`unknown field \`${key}\``);
      for (const key of fields) if (!Object.prototype.hasOwnProperty.call(record, key)) throw bad(`missing field \`${key}\``);
      const { format, version, tenant, origin, key_name, exported_at, entries } = record;
      if (typeof format !== "string" || typeof origin !== "string" || typeof key_name !== "string") throw bad("a text field is not a string");
      if (typeof tenant !== "string" || !TENANT.test(tenant)) throw bad("`tenant` is not a tenant id");
      if (typeof exported_at !== "string" || !RFC3339.test(exported_at)) throw bad("`exported_at` is not an RFC 3339 time");
      if (typeof version !== "bigint" || version < 0n || version > U64_MAX) throw bad("`version` is not an integer");
      if (typeof entries !== "bigint" || entries < 0n || entries > U64_MAX) throw bad("`entries` is not an integer");
      if (format !== "lictor-audit-export") throw fail("malformed", null, line, `format \`${format}\` is not \`lictor-audit-export\``);
      if (version < 1n || version > EXPORT_VERSION) throw fail("malformed", null, line, `unsupported export version ${version}`);
      chain.tenant = tenant;
      chain.origin = origin;
      chain.announced = entries;
    } else if (kind === "header") {
      throw malformed("a second header");
    } else if (kind === "entry") {
      const entry = record.entry;
      if (entry === undefined || Object.keys(record).length !== 2) throw malformed("an entry line has exactly `type` and `entry`");
      if (!isObject(entry)) throw malformed("not an audit entry: not an object");
      const problem = entryFormProblem(entry);
      if (problem !== null) throw malformed(problem);
      const { hash, ...document } = entry;
      const computed = await hashDocument(document);
      const audit = { tenant: entry.tenant as string, seq: entry.seq as bigint, prevHash: entry.prev_hash as string };
      await chain.entry(audit, computed, hash as string, line);
    } else if (kind === "checkpoint") {
      const checkpoint = record.checkpoint;
      if (checkpoint === undefined || Object.keys(record).length !== 2) throw malformed("a checkpoint line has exactly `type` and `checkpoint`");
      const fields = ["tree_size", "root_hash", "note", "consistency"];
      const consistency = isObject(checkpoint) ? (checkpoint.consistency ?? null) : null;
      if (
        !isObject(checkpoint) ||
        Object.keys(checkpoint).some((key) => !fields.includes(key)) ||
        typeof checkpoint.tree_size !== "bigint" ||
        checkpoint.tree_size < 0n ||
        checkpoint.tree_size > U64_MAX ||
        typeof checkpoint.root_hash !== "string" ||
        typeof checkpoint.note !== "string" ||
        (consistency !== null && !(Array.isArray(consistency) && consistency.every((hash) => typeof hash === "string")))
      ) {
        throw malformed("bad checkpoint: expected `tree_size`, `root_hash`, `note` and, after the first, `consistency` (an array of hex strings)");
      }
      const stated: StatedCheckpoint = {
        treeSize: checkpoint.tree_size,
        rootHash: checkpoint.root_hash,
        note: checkpoint.note,
        consistency: consistency as string[] | null,
        tenant: null,
      };
      await chain.checkpoint(stated, line);
    } else {
      throw malformed(`unknown record type \`${kind}\``);
    }
    progress(bytes);
  };

  const drain = async (chunk: Uint8Array): Promise<void> => {
    let start = 0;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, i);
      const lineBytes = pending.length === 0 ? piece : joinBytes([...pending, piece], pendingLength + piece.length);
      pending = [];
      pendingLength = 0;
      if (lineBytes.length > MAX_LINE) throw fail("malformed", line > 0 ? chain.nextSeq() : null, line + 1, `a line longer than ${MAX_LINE} bytes`);
      await handle(lineBytes);
      start = i + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingLength += chunk.length - start;
      if (pendingLength > MAX_LINE) throw fail("malformed", line > 0 ? chain.nextSeq() : null, line + 1, `a line longer than ${MAX_LINE} bytes`);
    }
  };

  await drain(first);
  for await (const chunk of input) await drain(chunk);
  if (pendingLength > 0) {
    throw fail("malformed", line > 0 ? chain.nextSeq() : null, line + 1, "the last line does not end with a newline");
  }
  return chain.end(line + 1);
}

function joinBytes(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// ---- CSV -----------------------------------------------------------------

class Cells {
  private column = 1;
  constructor(private readonly row: string[]) {}

  private next(): [string, string] {
    const name = CSV_COLUMNS[this.column] ?? "?";
    const cell = this.row[this.column] ?? "";
    this.column += 1;
    return [name, cell];
  }

  optional<T>(parse: (cell: string) => T | Failure): T | null {
    const [name, cell] = this.next();
    if (cell === "") return null;
    return this.check(name, parse(cell));
  }

  required<T>(parse: (cell: string) => T | Failure): T {
    const [name, cell] = this.next();
    if (cell === "") throw new Error(`\`${name}\` is empty`);
    return this.check(name, parse(cell));
  }

  empty(): void {
    const [name, cell] = this.next();
    if (cell !== "") throw new Error(`\`${name}\` must be empty in this row`);
  }

  /** The remaining cells, which must be empty. */
  restEmpty(): void {
    while (this.column < this.row.length) this.empty();
  }

  emptyUntil(column: string): void {
    while (this.column < CSV_COLUMNS.length && CSV_COLUMNS[this.column] !== column) this.empty();
  }

  private check<T>(name: string, result: T | Failure): T {
    if (result instanceof Failure) throw new Error(`\`${name}\`: ${result.why}`);
    return result as T;
  }
}

class Failure {
  constructor(readonly why: string) {}
}

const text = (cell: string): string => cell;
const decimal = (cell: string): bigint | Failure =>
  /^(0|[1-9][0-9]*)$/.test(cell) && BigInt(cell) <= U64_MAX ? BigInt(cell) : new Failure(`\`${cell}\` is not a plain decimal number`);
const keyword = (values: readonly string[]) => (cell: string): string | Failure =>
  values.includes(cell) ? cell : new Failure(`unknown value \`${cell}\``);
const id = (grammar: RegExp) => (cell: string): string | Failure => (grammar.test(cell) ? cell : new Failure(`\`${cell}\` is not a valid id`));
const timestamp = (cell: string): string | Failure =>
  validTimestamp(cell) ? cell : new Failure(`\`${cell}\` is not RFC 3339 with six fractional digits and \`Z\``);
const boolean = (cell: string): boolean | Failure =>
  cell === "true" ? true : cell === "false" ? false : new Failure(`\`${cell}\` is neither \`true\` nor \`false\``);
const reasons = (cell: string): JsonValue | Failure => {
  let value: JsonValue;
  try {
    value = parseJson(cell);
  } catch (error) {
    return new Failure(`not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return isReasons(value) ? value : new Failure("not an array of reasons with exactly `stage`, `code` and `message`");
};
const person = (cell: string): JsonValue | Failure => {
  let value: JsonValue;
  try {
    value = parseJson(cell);
  } catch (error) {
    return new Failure(`not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const problem = personProblem(value);
  return problem === null ? value : new Failure(problem);
};

async function csvEntry(row: string[]): Promise<{ record: Record; computed: string; stated: string }> {
  const cells = new Cells(row);
  const version = cells.required(decimal);
  if (version > U32_MAX) throw new Error(`\`version\` ${version} is out of range`);
  const document: JsonObject = {
    version,
    entry_id: cells.required(id(GENERATED)),
    tenant: cells.required(id(TENANT)),
    seq: cells.required(decimal),
    ts: cells.required(timestamp),
    kind: cells.required(keyword(AUDIT_KINDS)),
    intent_id: cells.optional(id(GENERATED)),
    agent_id: cells.optional(id(AGENT)),
    environment: cells.optional(keyword(ENVIRONMENTS)),
    enforced: cells.optional(boolean),
    verdict: cells.optional(keyword(VERDICTS)),
    stage: cells.optional(keyword(STAGES)),
    reasons: cells.required(reasons),
    bundle_hash: cells.optional(text),
    input_digest: cells.optional(text),
    payload_digest: cells.optional(text),
  };
  for (const name of TEXT_EXTENSIONS) {
    const value = cells.optional(text);
    if (value !== null) document[name] = value;
  }
  document.prev_hash = cells.required(text);
  const stated = cells.required(text);
  // `checkpoint` and `consistency` are empty; `person` comes last (it was
  // added last: files written before it lack the column).
  cells.emptyUntil("person");
  const who = cells.optional(person);
  if (who !== null) document.person = who;
  cells.restEmpty();
  const record = { tenant: document.tenant as string, seq: document.seq as bigint, prevHash: document.prev_hash as string };
  return { record, computed: await hashDocument(document), stated };
}

function csvCheckpoint(row: string[]): StatedCheckpoint {
  const cells = new Cells(row);
  cells.empty(); // version
  cells.empty(); // entry_id
  const tenant = cells.required(id(TENANT));
  const treeSize = cells.required(decimal);
  cells.emptyUntil("hash");
  const rootHash = cells.required(text);
  const note = cells.required(text);
  // Version 1 has no `consistency` column.
  const consistency = cells.optional((proof) => proof.split(" "));
  cells.restEmpty();
  return { treeSize, rootHash, note, consistency, tenant };
}

async function verifyCsv(input: AsyncGenerator<Uint8Array>, first: Uint8Array, chain: Chain, progress: (n: number) => void): Promise<ExportReport> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const reader = new CsvReader();
  let header = true;
  let columns: readonly string[] = CSV_COLUMNS;
  let bytes = 0;
  let lastLine = 1;

  const handle = async (row: CsvRow): Promise<void> => {
    lastLine = row.line;
    if (header) {
      header = false;
      // Today's columns, those of files written before `person`, or
      // version 1's (no `consistency` either).
      const is = (names: readonly string[]) => row.cells.length === names.length && row.cells.every((cell, i) => cell === names[i]);
      if (is(CSV_COLUMNS)) columns = CSV_COLUMNS;
      else if (is(CSV_COLUMNS_WITHOUT_PERSON)) columns = CSV_COLUMNS_WITHOUT_PERSON;
      else if (is(CSV_COLUMNS_V1)) columns = CSV_COLUMNS_V1;
      else throw fail("malformed", null, 1, "the first row is not the export's column header");
      return;
    }
    const seq = chain.nextSeq();
    if (row.cells.length !== columns.length) {
      throw fail("malformed", seq, row.line, `a row of ${row.cells.length} cells, not ${columns.length}`);
    }
    const record = row.cells[0];
    if (record === "entry") {
      let parsed: Awaited<ReturnType<typeof csvEntry>>;
      try {
        parsed = await csvEntry(row.cells);
      } catch (error) {
        throw fail("malformed", seq, row.line, error instanceof Error ? error.message : String(error));
      }
      await chain.entry(parsed.record, parsed.computed, parsed.stated, row.line);
    } else if (record === "checkpoint") {
      let stated: StatedCheckpoint;
      try {
        stated = csvCheckpoint(row.cells);
      } catch (error) {
        throw fail("malformed", seq, row.line, error instanceof Error ? error.message : String(error));
      }
      await chain.checkpoint(stated, row.line);
    } else {
      throw fail("malformed", seq, row.line, "`record` is neither `entry` nor `checkpoint`");
    }
  };

  const feed = async (chunk: Uint8Array, last: boolean): Promise<void> => {
    let textChunk: string;
    try {
      textChunk = decoder.decode(chunk, { stream: !last });
    } catch {
      throw fail("malformed", header ? null : chain.nextSeq(), reader.currentLine, "not CSV: invalid UTF-8");
    }
    for (const row of reader.feed(textChunk)) await handle(row);
    bytes += chunk.length;
    progress(bytes);
  };

  await feed(first, false);
  for await (const chunk of input) await feed(chunk, false);
  await feed(new Uint8Array(0), true);
  for (const row of reader.end()) await handle(row);
  if (header) throw fail("malformed", null, 1, "the first row is not the export's column header");
  return chain.end(Math.max(lastLine, reader.currentLine));
}

/**
 * Verifies an audit export offline, in one streaming pass: every entry's
 * form, tenant, sequence, link and hash, and every signed checkpoint
 * (signature by one of `keys`, origin, size, Merkle root, and from the
 * second on the consistency proof from the one before); the last one must
 * cover every entry. With `options.trusted`, also that the export extends
 * that checkpoint. Resolves to what it proves; rejects with
 * `ExportVerificationError` carrying the same `reason` and `seq` as the
 * gateway's `lictor audit verify-export`.
 *
 * ```ts
 * const keys = await (await fetch(`${url}/.well-known/lictor/keys`)).json();
 * const report = await verifyAuditExport(response.body!, keys);
 * ```
 */
export async function verifyAuditExport(source: ExportSource, keys: ExportKeys, options: VerifyExportOptions = {}): Promise<ExportReport> {
  const verifiers = await parseCheckpointKeys(keys);
  const trusted = options.trusted === undefined ? null : await openTrusted(options.trusted, verifiers, options.ed25519);
  const input = chunks(source);
  const progress = options.onProgress ?? (() => {});
  try {
    let first: Uint8Array | undefined;
    for (;;) {
      const next = await input.next();
      if (next.done) break;
      if (next.value.length > 0) {
        first = next.value;
        break;
      }
    }
    if (!first) throw fail("malformed", null, 1, "the file is empty");
    const chain = new Chain(verifiers, options.ed25519, trusted);
    return first[0] === 0x7b ? await verifyNdjson(input, first, chain, progress) : await verifyCsv(input, first, chain, progress);
  } finally {
    await input.return(undefined);
  }
}
