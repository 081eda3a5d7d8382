// Signed checkpoints: a C2SP tlog-checkpoint body signed as a C2SP signed
// note with Ed25519, as the gateway writes them (docs/audit.md).
//
//   <origin>\n<tree size>\n<base64 root>\n[time <RFC 3339>\n]\n— <key name> <base64(key id ‖ signature)>\n

import { ed25519Verify, isEd25519PublicKey, sha256, type Ed25519Backend } from "../crypto.js";
import { concat, fromBase64, toHex, utf8 } from "../encoding.js";

const ED25519 = 0x01;
const EM_DASH_SPACE = "\u2014 ";

/** Why a note, a checkpoint or a key cannot be used. */
export type CheckpointErrorKind = "malformed_note" | "malformed_checkpoint" | "malformed_key" | "not_signed_by" | "bad_signature";

/** A note, checkpoint or verifier key that cannot be used. */
export class CheckpointError extends Error {
  override readonly name = "CheckpointError";
  constructor(
    readonly kind: CheckpointErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** The 4-byte id of an Ed25519 key named `name`: SHA-256(name ‖ `\n` ‖ 0x01 ‖ key)[0..4]. */
export async function keyId(name: string, publicKey: Uint8Array): Promise<Uint8Array> {
  return (await sha256(concat(utf8(name), utf8("\n"), new Uint8Array([ED25519]), publicKey))).slice(0, 4);
}

function validKeyName(name: string): boolean {
  // Non-empty, no whitespace, no `+`, no control characters.
  return name.length > 0 && !/[\s+\p{Cc}]/u.test(name);
}

/** A public key that verifies signed notes. */
export interface NoteVerifier {
  /** The key's name (the signer's name in signature lines). */
  readonly name: string;
  /** Its 4-byte id, hex. */
  readonly keyId: string;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

/** Parses a verifier key, `<name>+<key id hex>+<base64(0x01 ‖ public key)>`. */
export async function parseVerifierKey(vkey: string): Promise<NoteVerifier> {
  const bad = (why: string) => new CheckpointError("malformed_key", `malformed verifier key: ${why}`);
  const text = vkey.trim();
  const first = text.indexOf("+");
  const second = first < 0 ? -1 : text.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw bad("expected `<name>+<key id>+<key>`");
  const [name, id, key] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  if (!/^[0-9a-fA-F]{1,8}$/.test(id)) throw bad("the key id is not 8 hex digits");
  const raw = fromBase64(key);
  if (!raw) throw bad("the key is not base64");
  if (raw.length === 0 || raw[0] !== ED25519) throw bad("not an Ed25519 key (algorithm byte 0x01)");
  const publicKey = raw.slice(1);
  if (publicKey.length !== 32) throw bad("an Ed25519 key has 32 bytes");
  if (!validKeyName(name)) throw bad(`invalid key name \`${name}\``);
  if (!isEd25519PublicKey(publicKey)) throw bad("not an Ed25519 public key");
  const computed = toHex(await keyId(name, publicKey));
  if (computed !== id.toLowerCase().padStart(8, "0")) throw bad("the key id does not match the name and key");
  return { name, keyId: computed, publicKey };
}

/** Splits a signed note into its text (ending in `\n`) and its signature block. */
function splitNote(note: string): [string, string] {
  const at = note.lastIndexOf("\n\n");
  if (at < 0) throw new CheckpointError("malformed_note", "malformed signed note: no blank line before the signatures");
  const text = note.slice(0, at + 1);
  const signatures = note.slice(at + 2);
  if (signatures.length === 0 || !signatures.endsWith("\n")) {
    throw new CheckpointError("malformed_note", "malformed signed note: signature lines must end with a newline");
  }
  return [text, signatures];
}

function lines(block: string): string[] {
  const out = block.split("\n");
  if (out[out.length - 1] === "") out.pop();
  return out.map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line));
}

/** Checks that `note` carries a valid signature by `key`; answers the signed text. */
export async function openNote(note: string, key: NoteVerifier, backend?: Ed25519Backend): Promise<string> {
  const [text, signatures] = splitNote(note);
  let found = false;
  for (const line of lines(signatures)) {
    const malformed = new CheckpointError("malformed_note", `malformed signed note: not a signature line: \`${line}\``);
    if (!line.startsWith(EM_DASH_SPACE)) throw malformed;
    const rest = line.slice(EM_DASH_SPACE.length);
    const space = rest.indexOf(" ");
    if (space < 0) throw malformed;
    const name = rest.slice(0, space);
    const raw = fromBase64(rest.slice(space + 1));
    if (!raw) throw new CheckpointError("malformed_note", "malformed signed note: a signature is not base64");
    if (name !== key.name || raw.length < 4 || toHex(raw.slice(0, 4)) !== key.keyId) continue;
    found = true;
    if (!(await ed25519Verify(key.publicKey, raw.slice(4), utf8(text), backend))) {
      throw new CheckpointError("bad_signature", `the signature by \`${key.name}\` does not verify`);
    }
  }
  if (!found) throw new CheckpointError("not_signed_by", `the note carries no signature by \`${key.name}\``);
  return text;
}

/** A checkpoint's content. */
export interface Checkpoint {
  /** The log's name, `<audit origin>/tenants/<tenant>`. */
  origin: string;
  /** Entries covered. */
  treeSize: bigint;
  /** The RFC 6962 root of those entries. */
  rootHash: Uint8Array;
  /** When it was signed, from the `time` line. */
  time: string | null;
}

/** Parses a checkpoint text (unknown extension lines are ignored, as the format requires). */
export function parseCheckpoint(text: string): Checkpoint {
  const bad = (why: string) => new CheckpointError("malformed_checkpoint", `malformed checkpoint: ${why}`);
  if (!text.endsWith("\n")) throw bad("no final newline");
  const [origin, size, root, ...extensions] = text.slice(0, -1).split("\n");
  if (!origin) throw bad("no origin");
  if (size === undefined) throw bad("no tree size");
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw bad("the tree size is not a decimal number");
  const treeSize = BigInt(size);
  if (treeSize > 2n ** 64n - 1n) throw bad("the tree size is out of range");
  if (root === undefined) throw bad("no root hash");
  const rootHash = fromBase64(root);
  if (!rootHash) throw bad("the root hash is not base64");
  if (rootHash.length !== 32) throw bad("the root hash is not 32 bytes");
  let time: string | null = null;
  for (const line of extensions) {
    if (line === "") throw bad("empty extension line");
    if (line.startsWith("time ")) time = line.slice(5);
  }
  return { origin, treeSize, rootHash, time };
}

/** Verifies `note` with `key` and parses its checkpoint. */
export async function openCheckpoint(note: string, key: NoteVerifier, backend?: Ed25519Backend): Promise<Checkpoint> {
  return parseCheckpoint(await openNote(note, key, backend));
}

/** `` `name` (key id xxxxxxxx) `` for each signature line of `note`. */
export function noteSigners(note: string): string[] {
  const at = note.lastIndexOf("\n\n");
  if (at < 0) return [];
  return lines(note.slice(at + 2)).flatMap((line) => {
    if (!line.startsWith(EM_DASH_SPACE)) return [];
    const rest = line.slice(EM_DASH_SPACE.length);
    const space = rest.indexOf(" ");
    if (space < 0) return [];
    const raw = fromBase64(rest.slice(space + 1));
    const name = rest.slice(0, space);
    return [raw && raw.length >= 4 ? `\`${name}\` (key id ${toHex(raw.slice(0, 4))})` : `\`${name}\``];
  });
}
