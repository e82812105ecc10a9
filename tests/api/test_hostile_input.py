"""Hostile input end to end, against the real daemon and the emulator: size limits answer 413
``too_large``, text never becomes a printer command, ``raw`` outside the allow-list never reaches
the journal, and neither the journal nor the log gives receipt contents away."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from receiptd.document import MAX_BLOCKS, MAX_FIELD_CHARS, MAX_RAW_BYTES, MAX_TOTAL_TEXT_CHARS
from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, slips_with

pytestmark = pytest.mark.timeout(180)


def png(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("1", (width, height), 1).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def text_doc(text: str, n: int = 1) -> dict[str, Any]:
    return {"document": {"blocks": [{"type": "text", "text": text}] * n}}


def journal_count(daemon: DaemonProcess) -> int:
    with sqlite3.connect(f"file:{daemon.journal}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM receipts").fetchone()[0])


LIMITS: list[tuple[str, Any, int, str]] = [
    ("too many blocks", {"document": {"blocks": [{"type": "feed"}] * (MAX_BLOCKS + 1)}},
     413, "too_large"),
    ("one text field too long", text_doc("x" * (MAX_FIELD_CHARS + 1)), 413, "too_large"),
    ("too much text in all", text_doc("y" * MAX_FIELD_CHARS,
                                      MAX_TOTAL_TEXT_CHARS // MAX_FIELD_CHARS + 1),
     413, "too_large"),
    ("plain text too long", {"text": "z" * (MAX_TOTAL_TEXT_CHARS + 1)}, 413, "too_large"),
    ("image too wide", {"document": {"blocks": [{"type": "image", "png": png(2049, 8)}]}},
     413, "too_large"),
    ("image too tall", {"document": {"blocks": [{"type": "image", "png": png(8, 4097)}]}},
     413, "too_large"),
    ("raw too long", {"raw": base64.b64encode(b"a" * (MAX_RAW_BYTES + 1)).decode()},
     413, "too_large"),
    ("idempotency key too long", {"text": "x", "idempotency_key": "k" * 129}, 413, "too_large"),
    ("not a PNG", {"document": {"blocks": [{"type": "image", "png": base64.b64encode(
        b"GIF89a....").decode()}]}}, 422, "invalid_document"),
    ("unknown block", {"document": {"blocks": [{"type": "sound"}]}}, 422, "invalid_document"),
    ("unknown field", {"text": "x", "priority": 9}, 422, "invalid_request"),
    ("two contents", {"text": "x", "raw": "eA=="}, 422, "invalid_request"),
    ("control bytes in QR data", {"document": {"blocks": [{"type": "qr", "data": "a\x10\x14"}]}},
     422, "invalid_document"),
    ("forbidden raw: power off", {"raw": base64.b64encode(b"hi\n\x10\x14\x02\x01\x08").decode()},
     422, "raw_forbidden_command"),
    ("forbidden raw: memory switch", {"raw": base64.b64encode(
        b"\x1d\x28\x45\x03\x00\x01\x49\x4e").decode()}, 422, "raw_forbidden_command"),
    ("forbidden raw: real-time off", {"raw": base64.b64encode(
        b"\x1d\x28\x44\x05\x00\x14\x01\x00\x02\x00").decode()}, 422, "raw_forbidden_command"),
    ("raw truncated command", {"raw": base64.b64encode(b"x\x1d\x56").decode()},
     422, "raw_truncated"),
]


def test_limits_answer_stable_codes_and_nothing_reaches_the_journal(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    emulator.start_tcp()
    config = tmp_path / "receiptd.toml"
    config.write_text("[daemon]\nmax_body_bytes = 2097152\n")
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=["--config", str(config)])
    pos = daemon.clients["pos"]
    for name, body, status, code in LIMITS:
        r = pos.post("/v1/printers/front/receipts", json=body)
        assert r.status_code == status, (name, r.status_code, r.text[:300])
        assert r.json()["error"]["code"] == code, (name, r.json())
        assert r.json()["error"]["message"], name
    # The body limit itself, declared and streamed (chunked, no Content-Length).
    big = json.dumps({"text": "x" * 3_000_000}).encode()
    r = pos.post("/v1/printers/front/receipts", content=big,
                 headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "too_large")
    r = pos.post("/v1/printers/front/receipts", content=iter([big[i:i + 65536] for i in
                                                              range(0, len(big), 65536)]),
                 headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "too_large")
    r = pos.post("/v1/printers/front/receipts", content=b'{"text": "x"',
                 headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "malformed_json")
    assert journal_count(daemon) == 0, "a rejected request reached the journal"
    # The limits themselves are not off by one: exactly at each limit is accepted.
    at_limit = [
        {"document": {"blocks": [{"type": "feed"}] * (MAX_BLOCKS - 1) + [{"type": "cut"}]}},
        text_doc("x" * MAX_FIELD_CHARS),
        {"document": {"blocks": [{"type": "image", "png": png(2048, 16)}]}},
    ]
    for body in at_limit:
        r = pos.post("/v1/printers/front/receipts", json=body)
        assert r.status_code == 202, r.text[:300]
    assert journal_count(daemon) == len(at_limit)


# Every C0 control, DEL, C1 controls, and the sequences that would do damage as commands.
NASTY = (
    "".join(chr(c) for c in range(0x20)) + "\x7f" + "".join(chr(c) for c in range(0x80, 0xa0))
    + "\x1b@\x1bp\x00\x19\xfa"          # ESC @ (reset), ESC p (open the drawer)
    + "\x1dV\x00\x1dVA\x10"             # GS V (cut)
    + "\x10\x14\x02\x01\x08"            # DLE DC4 2: power off
    + "\x10\x14\x08\x01\x03\x14\x01\x06\x02\x08"  # DLE DC4 8: clear buffers
    + "\x10\x04\x01\x10\x05\x02"        # DLE EOT 1, DLE ENQ 2
    + "\x1d(E\x03\x00\x01IN"            # GS ( E: user setting mode
    + "\x1d(D\x05\x00\x14\x01\x00\x02\x00"  # GS ( D: real-time commands off
    + "\x1da\x00\x1b=\x02\x1b!\x38"     # ASB off, deselect the printer, big text
)


def test_control_bytes_in_text_never_reach_the_printer_as_commands(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    bodies = [
        {"text": f"PLAIN START\n{NASTY}\nPLAIN END"},
        {"document": {"blocks": [
            {"type": "text", "text": f"DOC START {NASTY}"},
            {"type": "row", "left": NASTY, "right": NASTY[:12]},
            {"type": "text", "text": NASTY, "bold": True, "size": [2, 2]},
            {"type": "text", "text": "DOC END"},
            {"type": "cut"}]}},
    ]
    ids = [daemon.submit(b)["id"] for b in bodies]
    for i in ids:
        daemon.wait_printed(i)
    # A cashier's copy renders the journaled text again: still text.
    r = daemon.clients["cashier"].post(f"/v1/receipts/{ids[1]}/reprint",
                                       json={"reason": NASTY[:200]})
    assert r.status_code == 202, r.text
    emulator.wait(lambda e: len(slips_with(e, "DOC START")) == 2, timeout=20)
    emulator.wait_idle()
    transcript = emulator.transcript
    entries = transcript.entries()
    kinds = {e["type"] for e in entries}
    assert kinds <= {"text", "cut"}, kinds  # no unknown command, drawer, event, image, ...
    assert [e for e in entries if e["type"] == "cut"] == [
        {"type": "cut", "partial": False}] * 3, "one cut per receipt, none from the text"
    assert len(transcript.slips()) == 3
    for e in entries:
        assert e["type"] != "text" or all(c.isprintable() for c in e["text"]), e
    snap = emulator.snapshot()
    assert snap["powered"] and snap["online"] and snap["faults"] == [], snap
    assert snap["counters"]["cuts"] == 3
    assert snap["asb"] != 0, "ASB was not switched off by text"
    assert daemon.printer()["state"] == "online"
    for needle in ("PLAIN START", "PLAIN END", "DOC END"):
        assert slips_with(emulator, needle)


def test_rejected_raw_never_reaches_the_journal_and_allowed_raw_prints(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    pos = daemon.clients["pos"]
    ok = base64.b64encode(b"\x1b@\x1ba\x01RAW OK\n\x1dV\x00").decode()
    bad = [b"RAW BAD 1\n\x10\x14\x02\x01\x08", b"RAW BAD 2\n\x1d(C\x05\x00\x00\x30\x00\x00\x00",
           b"RAW BAD 3\n\x1b\x99", b"RAW BAD 4\n\x1c\x71\x01"]
    for data in bad:
        r = pos.post("/v1/printers/front/receipts",
                     json={"raw": base64.b64encode(data).decode(), "order_ref": "RAW"})
        assert r.status_code == 422 and r.json()["error"]["code"].startswith("raw_"), r.text
    good = daemon.submit({"raw": ok, "order_ref": "RAW"})
    daemon.wait_printed(good["id"])
    listing = daemon.clients["cashier"].get("/v1/receipts", params={"order_ref": "RAW"}).json()
    assert [r["id"] for r in listing["receipts"]] == [good["id"]]
    assert journal_count(daemon) == 1
    assert slips_with(emulator, "RAW OK") and not slips_with(emulator, "RAW BAD")
    assert emulator.snapshot()["powered"]


# -- privacy ----------------------------------------------------------------------------------


def test_journal_is_private_and_the_log_has_ids_not_contents(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    emulator.start_tcp()
    journal = tmp_path / "state" / "journal.db"
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=["--journal", str(journal)])
    daemon.journal = journal
    secret = f"Zq{uuid.uuid4().hex[:10]}"
    body = {"document": {"blocks": [{"type": "text", "text": f"{secret} CUSTOMER NAME"},
                                    {"type": "row", "left": secret, "right": "9.99"},
                                    {"type": "cut"}]}}
    receipt = daemon.submit(body)
    daemon.wait_printed(receipt["id"])
    r = daemon.clients["cashier"].post(f"/v1/receipts/{receipt['id']}/reprint",
                                       json={"reason": f"{secret} lost it"})
    assert r.status_code == 202
    daemon.wait_printed(receipt["id"])
    emulator.wait(lambda e: len(slips_with(e, secret)) == 2, timeout=20)

    for f in [journal, Path(f"{journal}-wal"), Path(f"{journal}-shm")]:
        assert f.exists(), f
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, (f, oct(f.stat().st_mode))
    assert stat.S_IMODE(journal.parent.stat().st_mode) == 0o700
    # An admin's backup download is made next to the journal: private while it exists.
    r = daemon.clients["admin"].get("/v1/journal/backup")
    assert r.status_code == 200 and r.content.startswith(b"SQLite format 3")

    daemon.terminate()
    log = daemon.log_path.read_text()
    assert f'"receipt": {receipt["id"]}' in log, "receipt ids belong in the log"
    assert secret not in log
    assert secret.encode().hex(" ") not in log
    assert "CUSTOMER NAME" not in log

    # With the wire log on, the bytes (and only as hex) do go to the log: that is its job.
    config = tmp_path / "wire.toml"
    config.write_text("[daemon]\nwire_log = true\n")
    daemon.extra_args += ["--config", str(config)]
    daemon.start()
    receipt2 = daemon.submit({"document": {"blocks": [{"type": "text", "text": secret}]}})
    daemon.wait_printed(receipt2["id"])
    daemon.terminate()
    assert secret.encode().hex(" ") in daemon.log_path.read_text()
    assert TOKENS["pos"] not in daemon.log_path.read_text()


def test_query_times_are_iso_8601_not_numbers(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    """A bare number is not a time a client means (pydantic alone would read Unix seconds)."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    for value in ("0", "0.0", "-4.6304252284841726e-184", "1e9", "+12", "inf"):
        for key in ("since", "until"):
            r = daemon.clients["cashier"].get("/v1/receipts", params={key: value})
            assert r.status_code == 422, (key, value, r.text[:200])
            assert r.json()["error"]["code"] == "invalid_request", r.json()
    r = daemon.clients["cashier"].get("/v1/receipts", params={"since": "2026-05-01T12:00:00Z"})
    assert r.status_code == 200, r.text[:200]
