"""Every export in conformance/vectors/audit/ gets the reference verdict, in
both encodings, from a path, a file object and bytes."""

from __future__ import annotations

import io

import pytest

from lictor.audit import (
    AUDIT_KINDS,
    STAGES,
    AuditExportError,
    NoteVerifier,
    parse_keys,
    verify_audit_export,
)

from .vectors import VECTORS, load

AUDIT = VECTORS / "audit"
MANIFEST = load("audit/manifest.json")
CASES = MANIFEST["vectors"]
KEY_TEXT = (AUDIT / MANIFEST["keys"]).read_text(encoding="utf-8")
KEYS_DOCUMENT = (AUDIT / MANIFEST["keys_document"]).read_text(encoding="utf-8")


def test_every_vector_file_is_in_the_manifest() -> None:
    listed = {case["file"] for case in CASES}
    on_disk = {p.name for p in AUDIT.iterdir() if p.suffix in (".ndjson", ".csv")}
    assert listed == on_disk


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
@pytest.mark.parametrize("keys", [KEY_TEXT, KEYS_DOCUMENT], ids=["key.txt", "keys.json"])
def test_audit_export_vector(case: dict, keys: str) -> None:
    path = AUDIT / case["file"]
    expect = case["expect"]
    if expect["valid"]:
        report = verify_audit_export(path, keys)
        got = {
            "valid": True,
            "tenant": report.tenant,
            "origin": report.origin,
            "entries": report.entries,
            "root_hash": report.root_hash,
            "checkpoint_time": report.checkpoint_time,
            "key_name": report.key_name,
        }
        assert got == expect
        assert verify_audit_export(io.BytesIO(path.read_bytes()), keys) == report
        assert verify_audit_export(path.read_bytes(), keys) == report
    else:
        with pytest.raises(AuditExportError) as caught:
            verify_audit_export(path, keys)
        assert (caught.value.reason, caught.value.seq) == (expect["reason"], expect["seq"]), str(caught.value)


def test_the_published_key_document_and_the_vkey_agree() -> None:
    [from_text] = parse_keys(KEY_TEXT)
    [from_document] = parse_keys(KEYS_DOCUMENT)
    assert from_text == from_document
    assert from_text.vkey() == KEY_TEXT.strip()
    assert from_text.name == "lictor-vectors" and from_text.key_id.hex() == "1c31bfa3"


def test_contract_enums_are_read_from_the_generated_models() -> None:
    assert {"decision", "tool_result", "tenant_created"} <= AUDIT_KINDS
    assert "policy" in STAGES and len(STAGES) == 9


def test_an_empty_file_and_a_bad_key_are_refused() -> None:
    with pytest.raises(AuditExportError) as caught:
        verify_audit_export(b"", KEY_TEXT)
    assert caught.value.reason == "malformed"
    with pytest.raises(ValueError):
        parse_keys("lictor-vectors+aae70818+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4")
    with pytest.raises(ValueError):
        NoteVerifier.parse("no plus signs")


def test_a_key_of_another_name_is_unknown() -> None:
    [key] = parse_keys(KEY_TEXT)
    other = NoteVerifier.new("someone-else", key.public_key)
    with pytest.raises(AuditExportError) as caught:
        verify_audit_export(AUDIT / "valid.ndjson", [other])
    assert caught.value.reason == "unknown_key"
