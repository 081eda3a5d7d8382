// The cryptography the SDK needs, on WebCrypto (`globalThis.crypto.subtle`)
// so that it runs unchanged in browsers, Deno, Bun and Node ≥ 19 (Node 18:
// see README, "Install"). Ed25519 uses WebCrypto where the platform has it
// and @noble/ed25519 (audited, dependency-free) where it does not.

import * as ed from "@noble/ed25519";

import { utf8 } from "./encoding.js";

/** WebCrypto is missing: the platform is too old or not a secure context. */
export class CryptoUnavailableError extends Error {
  override readonly name = "CryptoUnavailableError";
  constructor() {
    super(
      "WebCrypto (`globalThis.crypto.subtle`) is not available: use Node ≥ 19, a browser in a secure context, " +
        "or on Node 18 set `globalThis.crypto` to the `webcrypto` export of Node's crypto module",
    );
  }
}

function subtle(): SubtleCrypto {
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!subtle) throw new CryptoUnavailableError();
  return subtle;
}

// WebCrypto's `BufferSource` wants an ArrayBuffer-backed view.
function view(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

/** SHA-256. */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest("SHA-256", view(bytes)));
}

/** HMAC-SHA256 of `message` under `key`. */
export async function hmacSha256(key: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  const s = subtle();
  const k = await s.importKey("raw", view(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await s.sign("HMAC", k, view(message)));
}

/** HKDF-SHA256 (RFC 5869) with an empty salt, 32 bytes of output. */
export async function hkdfSha256(ikm: Uint8Array, info: string): Promise<Uint8Array> {
  const s = subtle();
  const k = await s.importKey("raw", view(ikm), "HKDF", false, ["deriveBits"]);
  const params = { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: view(utf8(info)) };
  return new Uint8Array(await s.deriveBits(params, k, 256));
}

/** Which Ed25519 implementation verifies signatures. */
export type Ed25519Backend = "webcrypto" | "noble";

let webcryptoEd25519: Promise<boolean> | undefined;

function hasWebCryptoEd25519(): Promise<boolean> {
  webcryptoEd25519 ??= (async () => {
    try {
      // The base point's encoding: a valid public key on every platform.
      const probe = ed.Point.BASE.toBytes();
      await subtle().importKey("raw", view(probe), { name: "Ed25519" }, false, ["verify"]);
      return true;
    } catch {
      return false;
    }
  })();
  return webcryptoEd25519;
}

/** Whether `publicKey` (32 bytes) is the encoding of a point on Ed25519. */
export function isEd25519PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  try {
    ed.Point.fromBytes(publicKey);
    return true;
  } catch {
    return false;
  }
}

/**
 * Verifies an Ed25519 signature. `backend` forces an implementation
 * (tests use it to check both); by default WebCrypto when available.
 */
export async function ed25519Verify(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
  backend?: Ed25519Backend,
): Promise<boolean> {
  if (signature.length !== 64 || !isEd25519PublicKey(publicKey)) return false;
  const useWebCrypto = backend ? backend === "webcrypto" : await hasWebCryptoEd25519();
  if (useWebCrypto) {
    const s = subtle();
    const key = await s.importKey("raw", view(publicKey), { name: "Ed25519" }, false, ["verify"]);
    return s.verify({ name: "Ed25519" }, key, view(signature), view(message));
  }
  try {
    return await ed.verifyAsync(signature, message, publicKey);
  } catch {
    return false;
  }
}
