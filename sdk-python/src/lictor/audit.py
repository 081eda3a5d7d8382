"""Offline verification of audit exports (`GET /v1/admin/audit/export`).

An export is a tenant's entries 1..N and the signed checkpoints of that
log, each right after the entry it ends, the last one of size N closing the
file, as NDJSON or CSV (format version 2, version 1 still read, and CSV
files written before the `person` column; `docs/audit.md`). `verify_audit_export` reads it once, a line or row at a
time, in constant memory: the hash chain is checked entry by entry (SHA-256
of RFC 8785 canonical JSON), the RFC 6962 Merkle root is kept as a frontier
of at most 64 subtree hashes, every checkpoint is a C2SP signed note
verified with Ed25519 against the entries before it, and each checkpoint
after the first carries an RFC 9162 consistency proof from the one before.
Given a checkpoint saved earlier (`trusted=`), the export must also extend
it.

Failures carry the reason codes of the gateway's own verifier (`lictor
audit verify-export`) and the `seq` they concern, pinned by
`conformance/vectors/audit/`.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._generated import models as _models
from .canonical_json import CanonicalJsonError, canonical_json

__all__ = [
    "EXPORT_FAILURE_REASONS",
    "AuditExportError",
    "AuditExportReport",
    "NoteVerifier",
    "parse_keys",
    "verify_audit_export",
]

EXPORT_FORMAT = "lictor-audit-export"
# The version written by the gateway; versions 1 and 2 are read.
EXPORT_VERSION = 2
GENESIS_HASH = "0" * 64
MAX_LINE = 16 << 20
CHECKPOINT_KEY_PURPOSE = "audit-checkpoint"

EXPORT_FAILURE_REASONS = (
    "malformed",
    "tenant_mismatch",
    "sequence_gap",
    "broken_link",
    "hash_mismatch",
    "unknown_key",
    "bad_signature",
    "origin_mismatch",
    "truncated",
    "extra_entries",
    "root_mismatch",
    "bad_proof",
    "trusted_mismatch",
    "io_error",
)

CSV_COLUMNS = (
    "record",
    "version",
    "entry_id",
    "tenant",
    "seq",
    "ts",
    "kind",
    "intent_id",
    "agent_id",
    "environment",
    "enforced",
    "verdict",
    "stage",
    "reasons",
    "bundle_hash",
    "input_digest",
    "payload_digest",
    "principal",
    "jti",
    "tool",
    "approval_id",
    "outcome",
    "prev_hash",
    "hash",
    "checkpoint",
    "consistency",
    "person",
)
# Files written before `person` existed lack its column; version 1 also
# lacks `consistency`. New columns only ever come last.
CSV_COLUMNS_WITHOUT_PERSON = CSV_COLUMNS[:-1]
CSV_COLUMNS_V1 = CSV_COLUMNS[:-2]


def _spec_enum(schema: str) -> frozenset[str]:
    """The values of a string enum of the contract, from its generated model."""
    return frozenset(member.value for member in getattr(_models, schema))


AUDIT_KINDS = _spec_enum("AuditKind")
ENVIRONMENTS = _spec_enum("Environment")
VERDICTS = _spec_enum("Verdict")
STAGES = _spec_enum("StageName")
# Present only when set. Every one is a string but `person`, an object.
EXTENSION_FIELDS = ("principal", "person", "jti", "tool", "approval_id", "outcome")
_TEXT_EXTENSIONS = tuple(name for name in EXTENSION_FIELDS if name != "person")
# A person's fields: the first three always, the others only when set.
_PERSON_REQUIRED = ("issuer", "subject", "provider")
_PERSON_OPTIONAL = ("username", "email", "name")

_ENTRY_ID = re.compile(r"[A-Za-z0-9_]{1,64}\Z")
_TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
_AGENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")
_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z\Z")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)\Z")
_HASH_HEX = re.compile(r"[0-9a-fA-F]{64}\Z")
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9-]{0,63}\Z")
_U64 = 2**64 - 1


class AuditExportError(Exception):
    """The first place an export does not verify.

    `reason` is one of `EXPORT_FAILURE_REASONS`; `seq` the position in the
    log concerned (None for the NDJSON header); `line` the line of the file
    (for CSV, where the row starts), from 1.
    """

    def __init__(self, reason: str, seq: int | None, line: int, message: str) -> None:
        self.reason = reason
        self.seq = seq
        self.line = line
        self.message = message
        where = f" at seq {seq}" if seq is not None else ""
        super().__init__(f"{reason}{where} (line {line}): {message}")


@dataclass(frozen=True)
class AuditExportReport:
    """What a verified export proves: entries 1..`entries` of `tenant`,
    complete and untampered, under a checkpoint signed by `key_name` (the
    closing one: `origin`, `root_hash`, `checkpoint_time` are its), after
    `checkpoints` checkpoints verified, the closing one included."""

    tenant: str
    origin: str
    entries: int
    root_hash: str
    checkpoint_time: str | None
    key_name: str
    checkpoints: int


class _KeyError(ValueError):
    pass


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 signed-note verifier key: `<name>+<key id>+<base64(0x01 ‖ key)>`."""

    name: str
    key_id: bytes
    public_key: bytes

    @staticmethod
    def parse(vkey: str) -> NoteVerifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise _KeyError("expected `<name>+<key id>+<key>`")
        name, hex_id, key = parts
        if not re.fullmatch(r"[0-9a-fA-F]{1,8}", hex_id):
            raise _KeyError("the key id is not 8 hex digits")
        raw = _strict_b64(key)
        if raw is None:
            raise _KeyError("the key is not base64")
        if len(raw) < 1 or raw[0] != 0x01:
            raise _KeyError("not an Ed25519 key (algorithm byte 0x01)")
        if len(raw) != 33:
            raise _KeyError("an Ed25519 key has 32 bytes")
        verifier = NoteVerifier.new(name, raw[1:])
        if verifier.key_id != int(hex_id, 16).to_bytes(4, "big"):
            raise _KeyError("the key id does not match the name and key")
        return verifier

    @staticmethod
    def new(name: str, public_key: bytes) -> NoteVerifier:
        if not name or any(ch.isspace() or ch == "+" or not ch.isprintable() for ch in name):
            raise _KeyError(f"invalid key name `{name}`")
        try:
            Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError as error:
            raise _KeyError(f"not an Ed25519 public key: {error}") from None
        key_id = hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public_key).digest()[:4]
        return NoteVerifier(name, key_id, bytes(public_key))

    def vkey(self) -> str:
        key = base64.b64encode(b"\x01" + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{key}"


def _strict_b64(text: str) -> bytes | None:
    """Standard base64 with padding, canonical (re-encodes to itself)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def parse_keys(keys: Any) -> list[NoteVerifier]:
    """Checkpoint verifier keys from: the keys document of
    `GET /.well-known/lictor/keys` (JSON text, bytes or a dict), verifier
    key lines (`<name>+<id>+<key>`, `#` comments allowed), a list of vkeys,
    or `NoteVerifier`s. Raises ValueError when none is usable."""
    if isinstance(keys, NoteVerifier):
        return [keys]
    if isinstance(keys, bytes):
        keys = keys.decode("utf-8")
    if isinstance(keys, str) and keys.lstrip().startswith("{"):
        try:
            keys = json.loads(keys)
        except ValueError as error:
            raise ValueError(f"not a keys document: {error}") from None
    out: list[NoteVerifier] = []
    if isinstance(keys, Mapping):
        listed = keys.get("keys")
        if not isinstance(listed, list):
            raise ValueError("not a keys document: no `keys` list")
        for index, key in enumerate(listed):
            if not isinstance(key, Mapping):
                raise ValueError(f"keys[{index}]: not an object")
            if key.get("purpose") is not None and key.get("purpose") != CHECKPOINT_KEY_PURPOSE:
                continue
            vkey = key.get("vkey")
            if not isinstance(vkey, str):
                raise ValueError(f"keys[{index}]: no `vkey`")
            try:
                verifier = NoteVerifier.parse(vkey)
            except _KeyError as error:
                raise ValueError(f"keys[{index}]: {error}") from None
            if key.get("name") is not None and key.get("name") != verifier.name:
                raise ValueError(f"keys[{index}]: `name` is not the vkey's")
            if key.get("key_id") is not None and key.get("key_id") != verifier.key_id.hex():
                raise ValueError(f"keys[{index}]: `key_id` is not the vkey's")
            out.append(verifier)
    else:
        lines = keys.split("\n") if isinstance(keys, str) else list(keys)
        for index, line in enumerate(lines):
            if isinstance(line, NoteVerifier):
                out.append(line)
                continue
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                out.append(NoteVerifier.parse(line))
            except _KeyError as error:
                raise ValueError(f"line {index + 1}: {error}") from None
    if not out:
        raise ValueError("no audit-checkpoint key found")
    return out


class _Frontier:
    """The RFC 6962 Merkle tree over the leaves pushed so far, kept as the
    roots of its perfect subtrees (at most one per bit of the size)."""

    def __init__(self) -> None:
        self.size = 0
        self.nodes: list[bytes] = []  # largest subtree first

    def push(self, leaf: bytes) -> None:
        node = hashlib.sha256(b"\x00" + leaf).digest()
        size = self.size
        while size & 1:
            node = hashlib.sha256(b"\x01" + self.nodes.pop() + node).digest()
            size >>= 1
        self.nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return hashlib.sha256(b"").digest()
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = hashlib.sha256(b"\x01" + node + root).digest()
        return root


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> None:
    """Checks an RFC 9162 (§2.1.4.2) consistency proof that the tree of
    `new_size` leaves and root `new_root` extends the one of `old_size`
    and `old_root`; raises ValueError saying why when it does not."""
    if old_size == 0 or old_size > new_size:
        raise ValueError(f"no consistency proof from tree size {old_size} to {new_size}")
    wrong_length = ValueError(f"a proof of {len(proof)} hashes does not fit these tree sizes")
    if old_size == new_size:
        if proof:
            raise wrong_length
        if old_root != new_root:
            raise ValueError("consistency proof does not lead to the given new root")
        return
    if not proof:
        raise wrong_length
    # A power-of-two old tree is a node of the new one, so its root is the
    # path's implicit first element.
    if old_size & (old_size - 1) == 0:
        first, rest = old_root, proof
    else:
        first, rest = proof[0], proof[1:]
    # `node` and `last` are the RFC's fn and sn; `old_hash` and `new_hash` its fr and sr.
    node, last = old_size - 1, new_size - 1
    while node & 1:
        node >>= 1
        last >>= 1
    old_hash = new_hash = first
    for c in rest:
        if last == 0:
            raise wrong_length
        if node & 1 or node == last:
            old_hash = _node_hash(c, old_hash)
            new_hash = _node_hash(c, new_hash)
            while node & 1 == 0 and node != 0:
                node >>= 1
                last >>= 1
        else:
            new_hash = _node_hash(new_hash, c)
        node >>= 1
        last >>= 1
    if last != 0:
        raise wrong_length
    if old_hash != old_root:
        raise ValueError("consistency proof does not lead to the given old root")
    if new_hash != new_root:
        raise ValueError("consistency proof does not lead to the given new root")


@dataclass
class _Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    time: str | None


class _NoteError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind  # malformed | not_signed_by | bad_signature
        super().__init__(message)


def _lines(text: str) -> list[str]:
    """Rust's `str::lines`: split on `\\n`, a trailing `\\r` dropped, no final empty line."""
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return [p.removesuffix("\r") for p in parts]


def _open_with(note: str, key: NoteVerifier) -> str:
    at = note.rfind("\n\n")
    if at < 0:
        raise _NoteError("malformed", "malformed signed note: no blank line before the signatures")
    text, signatures = note[: at + 1], note[at + 2 :]
    if not signatures or not signatures.endswith("\n"):
        raise _NoteError("malformed", "malformed signed note: signature lines must end with a newline")
    found = False
    for line in _lines(signatures):
        if not line.startswith("\u2014 "):
            raise _NoteError("malformed", f"malformed signed note: not a signature line: `{line}`")
        name, sep, signature = line[2:].partition(" ")
        if not sep:
            raise _NoteError("malformed", f"malformed signed note: not a signature line: `{line}`")
        raw = _strict_b64(signature)
        if raw is None:
            raise _NoteError("malformed", "malformed signed note: a signature is not base64")
        if name != key.name or len(raw) < 4 or raw[:4] != key.key_id:
            continue
        found = True
        if len(raw) != 68:
            raise _NoteError("bad_signature", key.name)
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise _NoteError("bad_signature", key.name) from None
    if not found:
        raise _NoteError("not_signed_by", key.name)
    return text


def _parse_checkpoint(text: str) -> _Checkpoint:
    def bad(why: str) -> _NoteError:
        return _NoteError("malformed", f"malformed checkpoint: {why}")

    if not text.endswith("\n"):
        raise bad("no final newline")
    lines = text[:-1].split("\n")
    origin = lines[0] if lines else ""
    if not origin:
        raise bad("no origin")
    if len(lines) < 2:
        raise bad("no tree size")
    size = lines[1]
    if not _DECIMAL.match(size):
        raise bad("the tree size is not a decimal number")
    if int(size) > _U64:
        raise bad("the tree size is out of range")
    if len(lines) < 3:
        raise bad("no root hash")
    root = _strict_b64(lines[2])
    if root is None:
        raise bad("the root hash is not base64")
    if len(root) != 32:
        raise bad("the root hash is not 32 bytes")
    checkpoint_time = None
    for line in lines[3:]:
        if not line:
            raise bad("empty extension line")
        if line.startswith("time "):
            checkpoint_time = line[5:]
    return _Checkpoint(origin, int(size), root, checkpoint_time)


def _note_signers(note: str) -> list[str]:
    at = note.rfind("\n\n")
    if at < 0:
        return []
    out = []
    for line in _lines(note[at + 2 :]):
        if not line.startswith("\u2014 "):
            continue
        name, sep, signature = line[2:].partition(" ")
        if not sep:
            continue
        raw = _strict_b64(signature)
        out.append(f"`{name}` (key id {raw[:4].hex()})" if raw is not None and len(raw) >= 4 else f"`{name}`")
    return out


def _open_note(note: str, keys: list[NoteVerifier]) -> tuple[_Checkpoint, str]:
    bad_signature = None
    for key in keys:
        try:
            text = _open_with(note, key)
        except _NoteError as error:
            if error.kind == "not_signed_by":
                continue
            if error.kind == "bad_signature":
                bad_signature = key.name
                continue
            raise _Failure("malformed", str(error)) from None
        try:
            return _parse_checkpoint(text), key.name
        except _NoteError as error:
            raise _Failure("malformed", str(error)) from None
    if bad_signature is not None:
        raise _Failure("bad_signature", f"the checkpoint's signature by `{bad_signature}` does not verify")
    signers = _note_signers(note)
    if not signers:
        raise _Failure("unknown_key", "the checkpoint carries no signature")
    raise _Failure("unknown_key", f"the checkpoint is signed by {', '.join(signers)}, none of the given keys")


class _Failure(Exception):
    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(message)


@dataclass
class _Stated:
    """A checkpoint record as the file states it."""

    tree_size: int
    root_hash: str
    note: str
    # The RFC 9162 proof from the previous checkpoint (hex hashes); None when absent.
    consistency: list[str] | None
    # The CSV row's `tenant`.
    tenant: str | None


@dataclass
class _Verified:
    """The last checkpoint verified."""

    size: int
    root: bytes
    report: AuditExportReport


class _Chain:
    """The state of one pass: the chain so far and the tree over it."""

    def __init__(self, keys: list[NoteVerifier], trusted: _Checkpoint | None = None) -> None:
        self.keys = keys
        self.trusted = trusted
        # The export's tenant: the NDJSON header's, or the first CSV entry's.
        self.tenant: str | None = None
        # The NDJSON header's origin and entry count.
        self.origin: str | None = None
        self.announced: int | None = None
        self.frontier = _Frontier()
        self.prev_hash = GENESIS_HASH
        self.entries = 0
        self.last: _Verified | None = None

    def next_seq(self) -> int:
        """The position an entry read now must have."""
        return self.entries + 1

    def entry(self, tenant: str, seq: int, prev_hash: str, computed: str, stated: str, line: int) -> None:
        """Checks and appends an entry whose content hashes to `computed`."""

        def fail(reason: str, message: str) -> AuditExportError:
            return AuditExportError(reason, self.next_seq(), line, message)

        if self.tenant is None:
            self.tenant = tenant
        elif tenant != self.tenant:
            raise fail("tenant_mismatch", f"an entry of tenant `{tenant}` in the export of `{self.tenant}`")
        if seq != self.next_seq():
            raise fail("sequence_gap", f"expected entry {self.next_seq()}, found entry {seq}")
        if prev_hash != self.prev_hash:
            raise fail("broken_link", f"prev_hash `{prev_hash}` is not the previous entry's hash `{self.prev_hash}`")
        if computed != stated:
            raise fail("hash_mismatch", f"the entry hashes to `{computed}`, not to its hash `{stated}`")
        self.frontier.push(bytes.fromhex(computed))
        self.prev_hash = computed
        self.entries += 1
        trusted = self.trusted
        if trusted is not None and trusted.tree_size == self.entries:
            root = self.frontier.root()
            if trusted.root_hash != root:
                raise AuditExportError(
                    "trusted_mismatch",
                    self.entries,
                    line,
                    f"the first {self.entries} entries have the root `{root.hex()}`, "
                    f"the trusted checkpoint `{trusted.root_hash.hex()}`",
                )

    def checkpoint(self, stated: _Stated, line: int) -> None:
        """Checks a checkpoint against the entries read, and its proof
        against the previous checkpoint."""

        def at(reason: str, seq: int, message: str) -> AuditExportError:
            return AuditExportError(reason, seq, line, message)

        try:
            checkpoint, key_name = _open_note(stated.note, self.keys)
        except _Failure as failure:
            raise at(failure.reason, stated.tree_size, failure.message) from None
        size = checkpoint.tree_size
        tenant = self.tenant
        if tenant is not None and stated.tenant is not None and stated.tenant != tenant:
            raise at(
                "tenant_mismatch", size, f"the checkpoint row's tenant `{stated.tenant}` is not the entries' `{tenant}`"
            )
        tenant = tenant if tenant is not None else stated.tenant
        if tenant is None:
            raise at("malformed", size, "the checkpoint names no tenant")
        if not checkpoint.origin.endswith(f"/tenants/{tenant}"):
            raise at(
                "origin_mismatch", size, f"the checkpoint's origin `{checkpoint.origin}` is not of tenant `{tenant}`"
            )
        if self.origin is not None and self.origin != checkpoint.origin:
            raise at(
                "origin_mismatch",
                size,
                f"the checkpoint's origin `{checkpoint.origin}` is not the header's `{self.origin}`",
            )
        if self.trusted is not None and self.trusted.origin != checkpoint.origin:
            raise at(
                "origin_mismatch",
                size,
                f"the checkpoint's origin `{checkpoint.origin}` is not the trusted one's `{self.trusted.origin}`",
            )
        last = self.last
        if last is not None and last.size >= size:
            raise at("malformed", size, f"a checkpoint of size {size} after one of size {last.size}")
        if size > self.entries:
            raise at(
                "truncated", self.entries + 1, f"the checkpoint covers {size} entries, the file holds {self.entries}"
            )
        if size < self.entries:
            raise at("extra_entries", size + 1, f"the file holds {self.entries} entries, the checkpoint covers {size}")
        root = self.frontier.root()
        if checkpoint.root_hash != root:
            raise at(
                "root_mismatch",
                size,
                f"the signed root `{checkpoint.root_hash.hex()}` is not the root of the entries `{root.hex()}`",
            )
        if stated.tree_size != size or stated.root_hash != root.hex():
            raise at(
                "malformed",
                size,
                f"the record states tree size {stated.tree_size} and root `{stated.root_hash}`, "
                f"the note {size} and `{root.hex()}`",
            )
        if last is None:
            if stated.consistency is not None:
                raise at("malformed", size, "the first checkpoint carries a consistency proof")
        elif stated.consistency is None:
            raise at("malformed", size, f"no consistency proof from the checkpoint of size {last.size}")
        else:
            if not all(_HASH_HEX.match(h) for h in stated.consistency):
                raise at("malformed", size, "a consistency proof hash is not 64 hex digits")
            proof = [bytes.fromhex(h) for h in stated.consistency]
            try:
                _verify_consistency(last.size, size, last.root, root, proof)
            except ValueError as error:
                raise at(
                    "bad_proof", size, f"the proof from the checkpoint of size {last.size} does not hold: {error}"
                ) from None
        checkpoints = (last.report.checkpoints if last is not None else 0) + 1
        report = AuditExportReport(tenant, checkpoint.origin, size, root.hex(), checkpoint.time, key_name, checkpoints)
        self.last = _Verified(size, root, report)

    def end(self, line: int) -> AuditExportReport:
        """The verdict at the end of the input: the last record was the
        checkpoint of every entry, the number the header announced, and no
        fewer than a trusted checkpoint covers."""

        def at(reason: str, seq: int, message: str) -> AuditExportError:
            return AuditExportError(reason, seq, line, message)

        last = self.last
        if last is None:
            raise at("truncated", self.next_seq(), "the file ends without a checkpoint")
        if self.entries > last.size:
            raise at(
                "extra_entries",
                last.size + 1,
                f"the file holds {self.entries} entries, the last checkpoint covers {last.size}",
            )
        if self.announced is not None and self.announced != last.size:
            raise at(
                "malformed",
                last.size,
                f"the header announces {self.announced} entries, the checkpoint covers {last.size}",
            )
        if self.trusted is not None and self.trusted.tree_size > last.size:
            raise at(
                "truncated",
                last.size + 1,
                f"the export holds {last.size} entries, a trusted checkpoint covers {self.trusted.tree_size}: "
                "the log was cut",
            )
        return last.report


# ---- entries ---------------------------------------------------------------


def _entry_hash(document: Mapping[str, Any]) -> str:
    try:
        return hashlib.sha256(canonical_json(document)).hexdigest()
    except CanonicalJsonError as error:
        raise _Failure("malformed", f"the entry has no canonical form: {error}") from None


def _valid_ts(value: str) -> bool:
    match = _TS.match(value)
    if not match:
        return False
    try:
        datetime(*(int(g) for g in match.groups()[:6]))
    except ValueError:
        return False
    return True


def _is_uint(value: Any, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit


def _check_reasons(value: Any) -> str | None:
    if not isinstance(value, list):
        return "`reasons` is not an array of reasons"
    for reason in value:
        if not isinstance(reason, dict) or set(reason) != {"stage", "code", "message"}:
            return "a reason has fields other than `stage`, `code` and `message`"
        if (
            reason["stage"] not in STAGES
            or not isinstance(reason["code"], str)
            or not isinstance(reason["message"], str)
        ):
            return "not an array of reasons"
    return None


def _check_entry_fields(entry: Mapping[str, Any]) -> str | None:
    """Type checks of a decoded entry (what the typed reading refuses)."""

    def optional(name: str, test: Any) -> bool:
        value = entry.get(name)
        return value is None or test(value)

    def is_str(v):
        return isinstance(v, str)

    checks = [
        ("version", _is_uint(entry.get("version"), 2**32 - 1)),
        ("entry_id", isinstance(entry.get("entry_id"), str) and bool(_ENTRY_ID.match(entry["entry_id"]))),
        ("tenant", isinstance(entry.get("tenant"), str) and bool(_TENANT.match(entry["tenant"]))),
        ("seq", _is_uint(entry.get("seq"), _U64)),
        ("ts", isinstance(entry.get("ts"), str) and _valid_ts(entry["ts"])),
        ("kind", entry.get("kind") in AUDIT_KINDS),
        ("intent_id", optional("intent_id", lambda v: is_str(v) and _ENTRY_ID.match(v))),
        ("agent_id", optional("agent_id", lambda v: is_str(v) and _AGENT.match(v))),
        ("environment", optional("environment", lambda v: v in ENVIRONMENTS)),
        ("enforced", optional("enforced", lambda v: isinstance(v, bool))),
        ("verdict", optional("verdict", lambda v: v in VERDICTS)),
        ("stage", optional("stage", lambda v: v in STAGES)),
        ("bundle_hash", optional("bundle_hash", is_str)),
        ("input_digest", optional("input_digest", is_str)),
        ("payload_digest", optional("payload_digest", is_str)),
        *((name, optional(name, is_str)) for name in _TEXT_EXTENSIONS),
        ("prev_hash", isinstance(entry.get("prev_hash"), str)),
        ("hash", isinstance(entry.get("hash"), str)),
    ]
    for name, ok in checks:
        if not ok:
            return f"not an audit entry: `{name}` is missing or invalid"
    if entry.get("person") is not None:
        problem = _check_person(entry["person"])
        if problem:
            return f"`person`: {problem}"
    return _check_reasons(entry.get("reasons"))


def _check_person(value: Any) -> str | None:
    """Why `value` is not a person exactly as the hash covers it, or None."""
    if not isinstance(value, dict):
        return "not a person object"
    for name, field in value.items():
        if name not in _PERSON_REQUIRED + _PERSON_OPTIONAL:
            return f"unknown field `{name}`"
        if field is None:
            return f"`{name}` is null: an unset field is left out"
        if not isinstance(field, str):
            return f"`{name}` is not a string"
    missing = next((name for name in _PERSON_REQUIRED if name not in value), None)
    if missing:
        return f"`{missing}` is missing"
    if not _PROVIDER.match(value["provider"]):
        return f"`{value['provider']}` is not a provider name"
    return None


_BASE_FIELDS = (
    "version",
    "entry_id",
    "tenant",
    "seq",
    "ts",
    "kind",
    "intent_id",
    "agent_id",
    "environment",
    "enforced",
    "verdict",
    "stage",
    "reasons",
    "bundle_hash",
    "input_digest",
    "payload_digest",
    "prev_hash",
)


def _document(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical document an entry's hash covers: every base field
    (null when absent), the extension fields only when set."""
    document = {name: fields.get(name) for name in _BASE_FIELDS}
    for name in EXTENSION_FIELDS:
        if fields.get(name) is not None:
            document[name] = fields[name]
    return document


def _ndjson_entry(entry: Any) -> tuple[dict[str, Any], str]:
    if not isinstance(entry, dict):
        raise _Failure("malformed", "not an audit entry: not a JSON object")
    problem = _check_entry_fields(entry)
    if problem:
        raise _Failure("malformed", problem)
    document = _document(entry)
    expected = {**document, "hash": entry["hash"]}
    if expected.keys() != entry.keys():
        missing = [name for name in expected if name not in entry]
        if missing:
            raise _Failure("malformed", f"the entry lacks `{missing[0]}`")
        extra = next(name for name in entry if name not in expected)
        if entry[extra] is None:
            raise _Failure("malformed", f"`{extra}` is null: an unset extension field is left out")
        raise _Failure("malformed", f"unknown field `{extra}`")
    return document, _entry_hash(document)


# ---- reading ---------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"`{name}` is not JSON")


def _json(text: bytes) -> Any:
    return json.loads(text.decode("utf-8"), parse_constant=_no_constants)


def _verify_ndjson(stream: IO[bytes], chain: _Chain) -> AuditExportReport:
    line = 0
    while True:
        raw = stream.readline(MAX_LINE + 1)
        if not raw:
            break
        line += 1
        seq = chain.next_seq() if line > 1 else None
        if not raw.endswith(b"\n"):
            message = (
                f"a line longer than {MAX_LINE} bytes"
                if len(raw) > MAX_LINE
                else "the last line does not end with a newline"
            )
            raise AuditExportError("malformed", seq, line, message)
        try:
            record = _json(raw[:-1])
        except (UnicodeDecodeError, ValueError) as error:
            raise AuditExportError("malformed", seq, line, f"not a JSON object: {error}") from None
        if not isinstance(record, dict):
            raise AuditExportError("malformed", seq, line, "not a JSON object")
        kind = record.get("type") if isinstance(record.get("type"), str) else ""
        if line == 1:
            if kind != "header":
                raise AuditExportError("malformed", None, line, "the first line is not the export header")
            _read_header(record, chain, line)
        elif kind == "header":
            raise AuditExportError("malformed", seq, line, "a second header")
        elif kind == "entry":
            if set(record) != {"type", "entry"}:
                raise AuditExportError("malformed", seq, line, "an entry line has exactly `type` and `entry`")
            try:
                document, computed = _ndjson_entry(record["entry"])
            except _Failure as failure:
                raise AuditExportError("malformed", seq, line, failure.message) from None
            entry = record["entry"]
            chain.entry(document["tenant"], document["seq"], document["prev_hash"], computed, entry["hash"], line)
        elif kind == "checkpoint":
            if set(record) != {"type", "checkpoint"}:
                raise AuditExportError("malformed", seq, line, "a checkpoint line has exactly `type` and `checkpoint`")
            stated = _ndjson_checkpoint(record["checkpoint"])
            if stated is None:
                raise AuditExportError(
                    "malformed",
                    seq,
                    line,
                    "bad checkpoint: expected `tree_size`, `root_hash`, `note` and, after the first, `consistency`",
                )
            chain.checkpoint(stated, line)
        else:
            raise AuditExportError("malformed", seq, line, f"unknown record type `{kind}`")
    return chain.end(line + 1)


def _ndjson_checkpoint(fields: Any) -> _Stated | None:
    """A checkpoint object: `tree_size`, `root_hash`, `note`, and optionally
    `consistency` (a list of strings; null is absent), nothing else. None
    when it is not of that shape."""
    required = {"tree_size", "root_hash", "note"}
    if not isinstance(fields, dict) or not required <= set(fields) <= required | {"consistency"}:
        return None
    consistency = fields.get("consistency")
    if (
        not _is_uint(fields["tree_size"], _U64)
        or not isinstance(fields["root_hash"], str)
        or not isinstance(fields["note"], str)
        or not (consistency is None or (isinstance(consistency, list) and all(isinstance(h, str) for h in consistency)))
    ):
        return None
    return _Stated(fields["tree_size"], fields["root_hash"], fields["note"], consistency, None)


def _read_header(record: Mapping[str, Any], chain: _Chain, line: int) -> None:
    def bad(message: str) -> AuditExportError:
        return AuditExportError("malformed", None, line, message)

    expected = {"type", "format", "version", "tenant", "origin", "key_name", "exported_at", "entries"}
    if set(record) != expected:
        raise bad("bad header: expected exactly " + ", ".join(f"`{k}`" for k in sorted(expected)))
    tenant = record["tenant"]
    if not (
        isinstance(record["format"], str)
        and _is_uint(record["version"], _U64)
        and isinstance(tenant, str)
        and _TENANT.match(tenant)
        and isinstance(record["origin"], str)
        and isinstance(record["key_name"], str)
        and isinstance(record["exported_at"], str)
        and _RFC3339.match(record["exported_at"])
        and _is_uint(record["entries"], _U64)
    ):
        raise bad("bad header: a field has the wrong type")
    if record["format"] != EXPORT_FORMAT:
        raise bad(f"format `{record['format']}` is not `{EXPORT_FORMAT}`")
    if not 1 <= record["version"] <= EXPORT_VERSION:
        raise bad(f"unsupported export version {record['version']}")
    chain.tenant = tenant
    chain.origin = record["origin"]
    chain.announced = record["entries"]


class _Cells:
    def __init__(self, row: list[str]) -> None:
        self.row = row
        self.column = 1

    def next(self) -> tuple[str, str]:
        name = CSV_COLUMNS[self.column]
        cell = self.row[self.column]
        self.column += 1
        return name, cell

    def required(self, parse: Any) -> Any:
        name, cell = self.next()
        if cell == "":
            raise _Failure("malformed", f"`{name}` is empty")
        return self._parse(name, cell, parse)

    def optional(self, parse: Any) -> Any:
        name, cell = self.next()
        return None if cell == "" else self._parse(name, cell, parse)

    def empty(self) -> None:
        name, cell = self.next()
        if cell != "":
            raise _Failure("malformed", f"`{name}` must be empty in this row")

    def rest_empty(self) -> None:
        """The remaining cells of the row (as many as its header has) must be empty."""
        while self.column < len(self.row):
            self.empty()

    @staticmethod
    def _parse(name: str, cell: str, parse: Any) -> Any:
        try:
            return parse(cell)
        except ValueError as error:
            raise _Failure("malformed", f"`{name}`: {error}") from None


def _decimal(cell: str) -> int:
    if not _DECIMAL.match(cell) or int(cell) > _U64:
        raise ValueError(f"`{cell}` is not a plain decimal number")
    return int(cell)


def _matching(pattern: re.Pattern[str]) -> Any:
    def parse(cell: str) -> str:
        if not pattern.match(cell):
            raise ValueError(f"invalid id `{cell}`")
        return cell

    return parse


def _keyword(values: frozenset[str]) -> Any:
    def parse(cell: str) -> str:
        if cell not in values:
            raise ValueError(f"unknown value `{cell}`")
        return cell

    return parse


def _timestamp(cell: str) -> str:
    if not _valid_ts(cell):
        raise ValueError(f"`{cell}` is not RFC 3339 with six fractional digits and `Z`")
    return cell


def _boolean(cell: str) -> bool:
    if cell not in ("true", "false"):
        raise ValueError(f"`{cell}` is neither `true` nor `false`")
    return cell == "true"


def _reasons(cell: str) -> list[Any]:
    try:
        value = json.loads(cell, parse_constant=_no_constants)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    problem = _check_reasons(value)
    if problem:
        raise ValueError(problem)
    return value


def _person(cell: str) -> dict[str, str]:
    try:
        value = json.loads(cell, parse_constant=_no_constants)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    problem = _check_person(value)
    if problem:
        raise ValueError(problem)
    return value


def _text(cell: str) -> str:
    return cell


def _csv_entry(row: list[str]) -> tuple[dict[str, Any], str]:
    cells = _Cells(row)
    version = cells.required(_decimal)
    if version > 2**32 - 1:
        raise _Failure("malformed", f"`version` {version} is out of range")
    fields: dict[str, Any] = {
        "version": version,
        "entry_id": cells.required(_matching(_ENTRY_ID)),
        "tenant": cells.required(_matching(_TENANT)),
        "seq": cells.required(_decimal),
        "ts": cells.required(_timestamp),
        "kind": cells.required(_keyword(AUDIT_KINDS)),
        "intent_id": cells.optional(_matching(_ENTRY_ID)),
        "agent_id": cells.optional(_matching(_AGENT)),
        "environment": cells.optional(_keyword(ENVIRONMENTS)),
        "enforced": cells.optional(_boolean),
        "verdict": cells.optional(_keyword(VERDICTS)),
        "stage": cells.optional(_keyword(STAGES)),
        "reasons": cells.required(_reasons),
    }
    for name in ("bundle_hash", "input_digest", "payload_digest", *_TEXT_EXTENSIONS):
        fields[name] = cells.optional(_text)
    fields["prev_hash"] = cells.required(_text)
    stated = cells.required(_text)
    # `checkpoint` and `consistency` are empty; `person` comes last (it was
    # added last: files written before it lack the column).
    while cells.column < len(row) and CSV_COLUMNS[cells.column] != "person":
        cells.empty()
    fields["person"] = cells.optional(_person) if cells.column < len(row) else None
    cells.rest_empty()
    return fields, stated


def _csv_checkpoint(row: list[str]) -> _Stated:
    cells = _Cells(row)
    cells.empty()  # version
    cells.empty()  # entry_id
    tenant = cells.required(_matching(_TENANT))
    tree_size = cells.required(_decimal)
    while CSV_COLUMNS[cells.column] != "hash":
        cells.empty()
    root_hash = cells.required(_text)
    note = cells.required(_text)
    # Version 1 has no `consistency` column: absent, like an empty cell.
    proof = cells.optional(lambda cell: cell.split(" ")) if cells.column < len(row) else None
    cells.rest_empty()
    return _Stated(tree_size, root_hash, note, proof, tenant)


def _verify_csv(stream: IO[bytes], chain: _Chain) -> AuditExportReport:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    reader = csv.reader(text, strict=False)
    try:
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as error:
            raise AuditExportError("malformed", None, 1, f"not CSV: {error}") from None
        if header is None or tuple(header) not in (CSV_COLUMNS, CSV_COLUMNS_WITHOUT_PERSON, CSV_COLUMNS_V1):
            raise AuditExportError("malformed", None, 1, "the first row is not the export's column header")
        while True:
            seq = chain.next_seq()
            line = reader.line_num + 1
            try:
                row = next(reader, None)
            except (csv.Error, UnicodeDecodeError) as error:
                raise AuditExportError("malformed", seq, line, f"not CSV: {error}") from None
            if row is None:
                break
            if len(row) != len(header):
                raise AuditExportError("malformed", seq, line, f"a row of {len(row)} cells, not {len(header)}")
            try:
                if row[0] == "entry":
                    fields, stated = _csv_entry(row)
                    computed = _entry_hash(_document(fields))
                    chain.entry(fields["tenant"], fields["seq"], fields["prev_hash"], computed, stated, line)
                elif row[0] == "checkpoint":
                    chain.checkpoint(_csv_checkpoint(row), line)
                else:
                    raise _Failure("malformed", "`record` is neither `entry` nor `checkpoint`")
            except _Failure as failure:
                raise AuditExportError(failure.reason, seq, line, failure.message) from None
        return chain.end(reader.line_num + 1)
    finally:
        text.detach()


class _Prepend(io.RawIOBase):
    """A binary stream with bytes already read put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


def verify_audit_export(
    file: str | os.PathLike[str] | IO[bytes] | bytes,
    public_keys: Any,
    trusted: str | bytes | os.PathLike[str] | None = None,
) -> AuditExportReport:
    """Verifies an export offline; answers what it proves or raises
    `AuditExportError` at the first failure.

    `file` is a path, a binary file object or the export's bytes (NDJSON or
    CSV, told apart by the first byte). `public_keys` is anything
    `parse_keys` reads: the document of `GET /.well-known/lictor/keys`,
    vkey lines, or a list of vkeys. The file is read once, in constant
    memory.

    `trusted` is a checkpoint saved earlier (by `lictor audit monitor`, or
    the API's `note`): the signed note as text or bytes, or the path of a
    file holding it (a string without a line break is a path). The export
    must then extend it: cover at least its entries (`truncated`), be of
    its log (`origin_mismatch`), and its first entries must have its root
    (`trusted_mismatch`). This is what shows a whole rewrite, or a
    truncation whose checkpoints were deleted too. Raises ValueError when
    the trusted checkpoint does not open with the keys.
    """
    keys = parse_keys(public_keys)
    checkpoint = _open_trusted(trusted, keys) if trusted is not None else None
    if isinstance(file, (bytes, bytearray)):
        return _verify_stream(io.BytesIO(bytes(file)), keys, checkpoint)
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as stream:
            return _verify_stream(stream, keys, checkpoint)
    return _verify_stream(file, keys, checkpoint)


def _open_trusted(trusted: str | bytes | os.PathLike[str], keys: list[NoteVerifier]) -> _Checkpoint:
    """The trusted checkpoint: a signed note (text or bytes) or a file of
    one, opened with `keys`; ValueError when it does not open."""
    where = "the trusted checkpoint"
    if isinstance(trusted, str) and "\n" in trusted:
        note = trusted
    else:
        if isinstance(trusted, (bytes, bytearray)):
            raw = bytes(trusted)
        else:
            where = f"the trusted checkpoint `{os.fspath(trusted)}`"
            with open(trusted, "rb") as file:
                raw = file.read()
        try:
            note = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{where} is not UTF-8: {error}") from None
    try:
        checkpoint, _ = _open_note(note, keys)
    except _Failure as failure:
        raise ValueError(f"{where} does not open: {failure.message}") from None
    return checkpoint


def _verify_stream(
    stream: IO[bytes], keys: list[NoteVerifier], trusted: _Checkpoint | None = None
) -> AuditExportReport:
    try:
        first = stream.read(1)
    except OSError as error:
        raise AuditExportError("io_error", None, 1, f"cannot read the export: {error}") from None
    if not first:
        raise AuditExportError("malformed", None, 1, "the file is empty")
    if isinstance(first, str):
        raise TypeError("open the export in binary mode ('rb')")
    buffered = io.BufferedReader(_Prepend(first, stream))
    chain = _Chain(keys, trusted)
    try:
        if first == b"{":
            return _verify_ndjson(buffered, chain)
        return _verify_csv(buffered, chain)
    except OSError as error:
        raise AuditExportError("io_error", None, chain.next_seq(), f"cannot read the export: {error}") from None
