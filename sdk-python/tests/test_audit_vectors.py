"""Every export in conformance/vectors/audit/ gets the reference verdict, in
both encodings, from a path, a file object and bytes, alone or against the
trusted checkpoint its vector names."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

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


def case_id(case: dict[str, Any]) -> str:
    """The vector's file, and the trusted checkpoint it is checked against if any."""
    return f"{case['file']}+{case['trusted']}" if "trusted" in case else case["file"]


def trusted_of(case: dict[str, Any]) -> Path | None:
    """The trusted checkpoint file the vector names, if any."""
    return AUDIT / case["trusted"] if "trusted" in case else None


def test_every_vector_file_is_in_the_manifest() -> None:
    listed = {case["file"] for case in CASES}
    on_disk = {p.name for p in AUDIT.iterdir() if p.suffix in (".ndjson", ".csv")}
    assert listed == on_disk
    assert {case["trusted"] for case in CASES if "trusted" in case} <= {p.name for p in AUDIT.iterdir()}


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
@pytest.mark.parametrize("keys", [KEY_TEXT, KEYS_DOCUMENT], ids=["key.txt", "keys.json"])
def test_audit_export_vector(case: dict[str, Any], keys: str) -> None:
    path = AUDIT / case["file"]
    trusted = trusted_of(case)
    expect = case["expect"]
    if expect["valid"]:
        report = verify_audit_export(path, keys, trusted=trusted)
        got = {
            "valid": True,
            "tenant": report.tenant,
            "origin": report.origin,
            "entries": report.entries,
            "root_hash": report.root_hash,
            "checkpoint_time": report.checkpoint_time,
            "key_name": report.key_name,
            "checkpoints": report.checkpoints,
        }
        assert got == expect
        assert verify_audit_export(io.BytesIO(path.read_bytes()), keys, trusted=trusted) == report
        assert verify_audit_export(path.read_bytes(), keys, trusted=trusted) == report
    else:
        with pytest.raises(AuditExportError) as caught:
            verify_audit_export(path, keys, trusted=trusted)
        assert (caught.value.reason, caught.value.seq) == (expect["reason"], expect["seq"]), str(caught.value)


def test_the_trusted_checkpoint_is_read_from_a_path_text_or_bytes() -> None:
    path = AUDIT / "trusted_checkpoint.txt"
    for trusted in (path, str(path), path.read_text(encoding="utf-8"), path.read_bytes()):
        assert verify_audit_export(AUDIT / "valid.ndjson", KEY_TEXT, trusted=trusted).checkpoints == 3
        with pytest.raises(AuditExportError) as caught:
            verify_audit_export(AUDIT / "forked.ndjson", KEY_TEXT, trusted=trusted)
        assert (caught.value.reason, caught.value.seq) == ("trusted_mismatch", 5)


def test_a_trusted_checkpoint_that_does_not_open_is_refused() -> None:
    """A ValueError before the export is read, not a verdict on the export."""
    note = (AUDIT / "trusted_checkpoint.txt").read_text(encoding="utf-8")
    [key] = parse_keys(KEY_TEXT)
    other = NoteVerifier.new("someone-else", key.public_key)
    tampered = note.replace("\n5\n", "\n6\n", 1)
    assert tampered != note
    for trusted, keys in ((note, [other]), (tampered, [key]), ("not a note\n", [key])):
        with pytest.raises(ValueError, match="the trusted checkpoint .*does not open"):
            verify_audit_export(AUDIT / "valid.ndjson", keys, trusted=trusted)


def test_files_of_version_1_still_verify() -> None:
    """Version 1: NDJSON as version 2 with one checkpoint; CSV without the
    `consistency` column."""
    v1 = verify_audit_export(AUDIT / "version_1.ndjson", KEY_TEXT)
    assert (v1.entries, v1.checkpoints) == (7, 1)
    rows = (AUDIT / "valid.csv").read_bytes().decode("utf-8").split("\r\n")
    assert rows[0].endswith(",consistency") and rows[-1] == ""
    # The closing checkpoint alone (the last row, its proof dropped): a version 1 file.
    entries = [row.removesuffix(",") for row in rows[1:-1] if row.startswith("entry,")]
    closing = rows[-2].rsplit(",", 1)[0]
    header = rows[0].removesuffix(",consistency")
    csv_v1 = "\r\n".join([header, *entries, closing, ""])
    assert verify_audit_export(csv_v1.encode("utf-8"), KEY_TEXT) == v1
    # A row of version 2 width in a version 1 file is refused.
    wide = "\r\n".join([header, entries[0] + ",", *entries[1:], closing, ""])
    with pytest.raises(AuditExportError) as caught:
        verify_audit_export(wide.encode("utf-8"), KEY_TEXT)
    assert (caught.value.reason, caught.value.seq) == ("malformed", 1)


def test_an_unsupported_version_is_malformed() -> None:
    text = (AUDIT / "valid.ndjson").read_text(encoding="utf-8")
    v3 = text.replace('"version":2,"tenant"', '"version":3,"tenant"', 1)
    assert v3 != text
    with pytest.raises(AuditExportError) as caught:
        verify_audit_export(v3.encode("utf-8"), KEY_TEXT)
    assert (caught.value.reason, caught.value.seq, caught.value.message) == (
        "malformed",
        None,
        "unsupported export version 3",
    )


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


def test_files_written_before_the_person_column_still_verify() -> None:
    """`person` is the last column: valid.csv, written before it existed, and
    the same rows with an empty `person` cell verify alike."""
    text = (AUDIT / "valid.csv").read_bytes().decode("utf-8")
    assert text.split("\r\n", 1)[0].endswith(",consistency")
    rows = text.split("\r\n")
    # Every row ends its last cell at the line end (the notes' LFs stay inside).
    widened = "\r\n".join([rows[0] + ",person", *(row + "," for row in rows[1:-1]), ""])
    assert verify_audit_export(widened.encode("utf-8"), KEY_TEXT) == verify_audit_export(AUDIT / "valid.csv", KEY_TEXT)
    people = (AUDIT / "person.csv").read_bytes().decode("utf-8")
    assert people.split("\r\n", 1)[0].endswith(",consistency,person")


def _person_export(fmt: str) -> str:
    return (AUDIT / f"person.{fmt}").read_bytes().decode("utf-8")


def _failure(text: str) -> tuple[str, int | None, str]:
    with pytest.raises(AuditExportError) as caught:
        verify_audit_export(text.encode("utf-8"), KEY_TEXT)
    return caught.value.reason, caught.value.seq, caught.value.message


def test_a_person_is_exactly_the_object_its_hash_covers() -> None:
    ndjson = _person_export("ndjson")
    report = verify_audit_export(ndjson.encode("utf-8"), KEY_TEXT)
    assert (report.entries, report.checkpoints) == (9, 4)
    okta = '"provider":"okta",'
    assert okta in ndjson
    for edited, seq in (
        (ndjson.replace(okta, '"provider":"okta","groups":["ops"],', 1), 8),
        (ndjson.replace(okta, '"provider":"Okta",', 1), 8),
        (ndjson.replace('"provider":"google"}', '"provider":"google","username":null}', 1), 9),
        (ndjson.replace('"person":{"issuer":"https://accounts.google.com",', '"person":{', 1), 9),
        (ndjson.replace('"prev_hash"', '"person":null,"prev_hash"', 1), 1),
        (ndjson.replace('"prev_hash"', '"person":"superadmin","prev_hash"', 1), 1),
    ):
        assert edited != ndjson
        assert _failure(edited)[:2] == ("malformed", seq)
    assert _failure(ndjson.replace("Zoë", "Zoe", 1))[:2] == ("hash_mismatch", 8)

    csv_text = _person_export("csv")
    # Any JSON text of the same object: the hash covers the object, not the text.
    spaced = csv_text.replace('"{""email"":', '"{ ""email"" :', 1)
    assert spaced != csv_text
    assert verify_audit_export(spaced.encode("utf-8"), KEY_TEXT) == report
    google = '""provider"":""google"",'
    assert google in csv_text
    for edited, message in (
        (
            csv_text.replace(google, google + '""email"":null,', 1),
            "`person`: `email` is null: an unset field is left out",
        ),
        (csv_text.replace(google, google + '""groups"":[],', 1), "`person`: unknown field `groups`"),
        (csv_text.replace('"{""email""', '"{email', 1), None),
    ):
        assert edited != csv_text
        reason, _, got = _failure(edited)
        assert reason == "malformed"
        assert message is None or got == message, got
    # A checkpoint row has no person.
    closing = csv_text.rsplit('",', 1)
    on_checkpoint = closing[0] + '",' + closing[1].replace(",\r\n", ",{}\r\n", 1)
    assert on_checkpoint != csv_text
    assert _failure(on_checkpoint) == ("malformed", 10, "`person` must be empty in this row")
