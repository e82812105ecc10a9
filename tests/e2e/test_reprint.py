"""Reprint (by id, by order, last of a printer), the duplicate check, journal search and the
electronic copy, all through the real daemon and the emulated printer on loopback."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from receiptd.cli import ctl
from receiptd.emulator import Emulator
from receiptd.render import split_marker
from receiptd.render.profiles import get_profile
from receiptd.testing.loopback import free_port  # a port nothing listens on: a dead printer

from ..support import TOKENS, DaemonProcess, sample_document, wait_until

Factory = Callable[..., DaemonProcess]

# What the printer session writes on its own (status polls: DLE EOT 1-4; maintenance
# counter queries: GS g 2), and what the spooler appends to every print (GS a: re-arm ASB;
# GS ( H fn 48: the process ID).
POLL = bytes.fromhex("10 04 01 10 04 02 10 04 03 10 04 04")
COUNTERS = re.compile(rb"(?:\x1d\x67\x32\x00..)+", re.S)
PROLOGUE = b"\x1b@\x1bt"
ASB = bytes.fromhex("1d 61 4e")
PROCESS_ID = re.compile(rb"\x1d\x28\x48\x06\x00\x30\x30.{4}", re.S)
# The session's flow marks (receiptd.printer.flow): its own process IDs, ending in a space.
FLOW_MARK = re.compile(rb"\x1d\(H\x06\x0000[0-9]{3} ")


def wire_daemon(factory: Factory, tmp_path: Path, printers: dict[str, str]) -> DaemonProcess:
    """A daemon that hex-dumps every byte it writes to a printer (``wire_log``)."""
    config = tmp_path / "wire.toml"
    config.write_text("[daemon]\nwire_log = true\n")
    return factory(printers, extra_args=["--config", str(config)])


def sent_payloads(daemon: DaemonProcess, url: str) -> list[bytes]:
    """The bytes of each print as the spooler sent them to ``url``, in order: the wire log's
    writes joined (the session's own writes, which may fall between two chunks of a print,
    left out), cut at every process ID, each piece from its prologue (``ESC @ ESC t``) on."""
    writes = []
    for line in daemon.log_path.read_text(errors="replace").splitlines():
        m = re.search(r" wire (\S+) > \d+ ([0-9a-f ]+)$", line)
        if m and m.group(1) == url:
            data = bytes.fromhex(m.group(2))
            if data != POLL and not COUNTERS.fullmatch(data) and not FLOW_MARK.fullmatch(data):
                writes.append(data)
    pieces = PROCESS_ID.split(b"".join(writes))[:-1]
    return [p[p.index(PROLOGUE):].removesuffix(ASB) for p in pieces if PROLOGUE in p]


def raw_submission() -> dict[str, Any]:
    data = b"\x1b@RAW SLIP\n\x1bE\x01BOLD LINE\x1bE\x00\nplain\n\x1dV\x00"
    return {"raw": base64.b64encode(data).decode()}


# ---------------------------------------------------------------------------- reprint


def test_reprint_is_byte_identical_but_for_the_copy_marker(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path
) -> None:
    emulator.start_tcp()
    daemon = wire_daemon(daemon_factory, tmp_path, {"front": emulator.tcp_url})
    profile = get_profile(daemon.printer()["profile"])
    bodies = [{"document": sample_document("BYTES"), "order_ref": "B-1"},
              {"text": "TEXT SLIP\nline two\n", "order_ref": "B-2"},
              raw_submission()]
    ids = []
    for body in bodies:
        r = daemon.submit(body)
        daemon.wait_printed(r["id"])
        ids.append(r["id"])
    cashier = daemon.clients["cashier"]
    for rid in ids:
        r = cashier.post(f"/v1/receipts/{rid}/reprint", json={"reason": "customer lost it"})
        assert r.status_code == 202, r.text
    for rid in ids:
        wait_until(lambda rid=rid: daemon.receipt(rid)["copies"] == 1, what=f"copy of {rid}")

    payloads = sent_payloads(daemon, emulator.tcp_url)
    assert len(payloads) == 6, [p[:40] for p in payloads]
    for original, copy, rid in zip(payloads[:3], payloads[3:], ids, strict=True):
        head, no_marker, body = split_marker(original, profile)
        copy_head, marker, copy_body = split_marker(copy, profile)
        assert no_marker == b""
        assert copy_head == head and copy_body == body, f"receipt {rid}: bodies differ"
        assert b"COPY 1 - original printed " in marker
        receipt = daemon.receipt(rid)
        reprint = [p for p in receipt["prints"] if p["kind"] == "reprint"]
        assert len(reprint) == 1 and reprint[0]["state"] == "printed"
        assert reprint[0]["requested_by"] == "cashier (cashier)"
        assert reprint[0]["reason"] == "customer lost it"
        assert reprint[0]["created_at"] and reprint[0]["copy_number"] == 1
    # and on paper: the copy of the document carries the marker above the same lines
    slips = [s for s in emulator.transcript.slips()
             if any(e.get("text") == "RECEIPT BYTES" for e in s)]
    assert len(slips) == 2
    texts = [[e["text"] for e in s if e["type"] == "text"] for s in slips]
    assert any(t.startswith("COPY 1 - original printed") for t in texts[1])
    assert texts[1][-len(texts[0]):] == texts[0]


def test_reprint_by_order_and_last_of_printer(
    emulator: Emulator, daemon_factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    first = daemon.submit({"document": sample_document("ORD-A"), "order_ref": "T-77"})
    second = daemon.submit({"document": sample_document("ORD-B"), "order_ref": "T-77"})
    other = daemon.submit({"document": sample_document("ORD-C"), "order_ref": "T-78"})
    for r in (first, second, other):
        daemon.wait_printed(r["id"])
    cashier = daemon.clients["cashier"]

    r = cashier.post("/v1/orders/T-77/reprint", json={"reason": "slip torn"})
    assert r.status_code == 202, r.text
    assert r.json()["receipt"]["id"] == second["id"]  # the newest receipt of the order
    assert r.json()["print"]["copy_number"] == 1
    assert r.json()["print"]["reason"] == "slip torn"

    r = cashier.post("/v1/orders/NOPE-1/reprint")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_order"
    r = daemon.clients["pos"].post("/v1/orders/T-77/reprint")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"

    r = cashier.post("/v1/printers/front/reprint-last")
    assert r.status_code == 202 and r.json()["receipt"]["id"] == other["id"]

    # receiptctl reprint --order: the same route, a second copy of the same receipt
    argv = ["--url", daemon.url, "--token", TOKENS["cashier"]]
    assert ctl.main([*argv, "reprint", "--order", "T-77", "--reason", "again"]) == 0
    assert f"receipt {second['id']}: copy queued" in capsys.readouterr().out
    assert ctl.main([*argv, "reprint", "--order", "NOPE-1"]) == 1
    assert "unknown_order" in capsys.readouterr().err

    wait_until(lambda: daemon.receipt(second["id"])["copies"] == 2, what="two copies")
    wait_until(lambda: daemon.receipt(other["id"])["copies"] == 1, what="copy of last")
    copies = [p for p in daemon.receipt(second["id"])["prints"] if p["kind"] == "reprint"]
    assert [(p["copy_number"], p["reason"]) for p in copies] == [(1, "slip torn"), (2, "again")]
    assert daemon.receipt(first["id"])["copies"] == 0
    markers = [e["text"] for e in emulator.transcript.entries()
               if e["type"] == "text" and e["text"].startswith("COPY ")]
    assert [m.split(" - ")[0] for m in markers] == ["COPY 1", "COPY 1", "COPY 2"]


# ---------------------------------------------------------------------------- duplicate check


def test_order_check_says_whether_the_receipt_printed(
    emulator: Emulator, daemon_factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.start_tcp()
    dead = f"tcp://127.0.0.1:{free_port()}"  # nothing listens: receipts stay queued
    daemon = daemon_factory({"front": emulator.tcp_url, "back": dead})
    printed = daemon.submit({"document": sample_document("DUP-1"), "order_ref": "D-1"})
    daemon.wait_printed(printed["id"])
    waiting = daemon.submit({"text": "stuck\n", "order_ref": "D-2"}, printer="back")
    pos = daemon.clients["pos"]

    r = pos.get("/v1/orders/D-1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["order_ref"] == "D-1" and body["printed"] is True
    assert [(x["id"], x["state"], x["copies"]) for x in body["receipts"]] == [
        (printed["id"], "printed", 0)]
    assert body["receipts"][0]["prints"][0]["state"] == "printed"

    body = pos.get("/v1/orders/D-2").json()
    assert body["printed"] is False
    assert [(x["id"], x["state"]) for x in body["receipts"]] == [(waiting["id"], "queued")]

    body = pos.get("/v1/orders/NEVER-SEEN").json()
    assert body == {"order_ref": "NEVER-SEEN", "printed": False, "receipts": []}

    argv = ["--url", daemon.url, "--token", TOKENS["pos"]]
    assert ctl.main([*argv, "order", "D-1"]) == 0
    assert "order D-1: PRINTED" in capsys.readouterr().out
    assert ctl.main([*argv, "order", "D-2"]) == 3
    assert "order D-2: NOT PRINTED" in capsys.readouterr().out


# ---------------------------------------------------------------------------- search


def _ids(page: dict[str, Any]) -> list[int]:
    return [r["id"] for r in page["receipts"]]


def test_search_filters_and_pages_return_exactly_the_expected_receipts(
    emulator: Emulator, daemon_factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.start_tcp()
    dead = f"tcp://127.0.0.1:{free_port()}"
    daemon = daemon_factory({"front": emulator.tcp_url, "back": dead})
    made: list[dict[str, Any]] = []
    for i in range(7):
        made.append(daemon.submit({"text": f"front {i}\n", "order_ref": f"S-{i % 3}"}))
    for i in range(4):
        made.append(daemon.submit({"text": f"back {i}\n", "order_ref": f"S-{i % 3}"},
                                  printer="back"))
    for r in made[:7]:
        daemon.wait_printed(r["id"])
    cashier = daemon.clients["cashier"]

    def search(**params: Any) -> list[int]:
        """Every page of a search, 2 at a time, through next_before_id."""
        out: list[int] = []
        params["limit"] = 2
        while True:
            r = cashier.get("/v1/receipts", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["receipts"]) <= 2
            out += _ids(page)
            if page["next_before_id"] is None:
                return out
            assert page["next_before_id"] == out[-1]
            params["before_id"] = page["next_before_id"]

    by_id = {r["id"]: r for r in made}
    newest_first = sorted(by_id, reverse=True)

    def expect(pred: Callable[[dict[str, Any]], bool]) -> list[int]:
        return [i for i in newest_first if pred(by_id[i])]

    assert search() == newest_first
    assert search(printer="front") == expect(lambda r: r["printer"] == "front")
    assert search(printer="back") == expect(lambda r: r["printer"] == "back")
    assert search(order_ref="S-1") == expect(lambda r: r["order_ref"] == "S-1")
    assert search(state="printed") == expect(lambda r: r["printer"] == "front")
    assert search(state="queued") == expect(lambda r: r["printer"] == "back")
    assert search(printer="back", order_ref="S-0") == expect(
        lambda r: r["printer"] == "back" and r["order_ref"] == "S-0")
    assert search(state="cancelled") == []
    # time window: since inclusive, until exclusive, on the journal's created_at
    created = {i: datetime.fromisoformat(by_id[i]["created_at"]) for i in by_id}
    mid = sorted(created.values())[5]
    assert search(since=mid.isoformat()) == [i for i in newest_first if created[i] >= mid]
    assert search(until=mid.isoformat()) == [i for i in newest_first if created[i] < mid]
    later = (max(created.values()) + timedelta(seconds=1)).isoformat()
    assert search(since=later) == []
    # one page: next_before_id is None only when the page is not full
    page = cashier.get("/v1/receipts", params={"limit": 11}).json()
    assert _ids(page) == newest_first and page["next_before_id"] == newest_first[-1]
    assert cashier.get("/v1/receipts", params={"before_id": newest_first[-1]}).json() == {
        "receipts": [], "next_before_id": None}
    r = cashier.get("/v1/receipts", params={"state": "lost"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = daemon.clients["pos"].get("/v1/receipts")
    assert r.status_code == 403

    # receiptctl receipts: a readable table, a hint for the next page, --before-id, --all
    argv = ["--url", daemon.url, "--token", TOKENS["cashier"], "receipts"]
    assert ctl.main([*argv, "--printer", "front", "--limit", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["ID", "PRINTER", "STATE", "ORDER", "COPIES"]
    front = expect(lambda r: r["printer"] == "front")
    assert [int(line.split()[0]) for line in out[1:4]] == front[:3]
    assert out[4] == f"-- more: add --before-id {front[2]} for the next page, or --all"
    assert ctl.main([*argv, "--printer", "front", "--limit", "3",
                     "--before-id", str(front[2])]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in out[1:4]] == front[3:6]
    assert ctl.main([*argv, "--limit", "2", "--all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in out[1:]] == newest_first
    assert ctl.main([*argv, "--state", "cancelled"]) == 0
    assert capsys.readouterr().out.strip() == "no receipts"


# ---------------------------------------------------------------------------- preview


def _normalise(lines: list[str]) -> list[str]:
    """Compare slips line by line after: trailing spaces stripped (the transcript does not
    keep them); blank lines dropped (a feed is empty lines in the preview and nothing or an
    empty text entry in the transcript, depending on how the printer advanced); leading
    spaces stripped from ``[BARCODE …]``/``[QR …]``/``[CUT]`` lines only (the preview places
    them as aligned on paper, the transcript records no position for them). Text lines keep
    their alignment padding, so alignment is compared."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        line = line.rstrip()
        out.append(line.lstrip() if line.lstrip().startswith("[") else line)
    return out


def test_preview_is_the_electronic_copy_of_what_printed(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    doc = sample_document("PREVIEW", lines=3)
    doc["blocks"][-1:-1] = [
        {"type": "text", "text": "Thank you", "align": "right"},
        {"type": "barcode", "data": "ORDER-5521", "symbology": "CODE128"},
        {"type": "qr", "data": "https://luna.example/r/5521"},
        {"type": "feed", "lines": 2},
    ]
    r = daemon.submit({"document": doc, "order_ref": "P-1"})
    daemon.wait_printed(r["id"])
    cashier = daemon.clients["cashier"]

    png = cashier.get(f"/v1/receipts/{r['id']}/preview", params={"format": "png"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    found = {(b.format.name, b.text) for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(
        png.content)))}
    assert found == {("Code128", "ORDER-5521"), ("QRCode", "https://luna.example/r/5521")}

    txt = cashier.get(f"/v1/receipts/{r['id']}/preview", params={"format": "txt"})
    assert txt.status_code == 200 and txt.headers["content-type"].startswith("text/plain")
    slip = next(s for s in emulator.transcript.slips()
                if any(e.get("text") == "RECEIPT PREVIEW" for e in s))
    printed = [emulator.transcript.render(e) for e in slip if e["type"] != "event"]
    assert _normalise(txt.text.splitlines()) == _normalise(printed)

    # a copy's preview carries the same marker the printed copy does
    cashier.post(f"/v1/receipts/{r['id']}/reprint")
    wait_until(lambda: daemon.receipt(r["id"])["copies"] == 1, what="copy printed")
    copy_slip = [s for s in emulator.transcript.slips()
                 if any(e.get("text") == "RECEIPT PREVIEW" for e in s)][1]
    txt1 = cashier.get(f"/v1/receipts/{r['id']}/preview", params={"copy": 1}).text
    assert txt1.splitlines()[1].startswith("COPY 1 - original printed")
    assert _normalise(txt1.splitlines()) == _normalise(
        [emulator.transcript.render(e) for e in copy_slip if e["type"] != "event"])

    for params, code in (({"format": "pdf"}, 422), ({"copy": 0}, 422)):
        bad = cashier.get(f"/v1/receipts/{r['id']}/preview", params=params)
        assert bad.status_code == code and bad.json()["error"]["code"] == "invalid_request"
    assert cashier.get("/v1/receipts/99999/preview").status_code == 404
    # A till reads its own receipts' copies only (this one it submitted itself).
    assert daemon.clients["pos"].get(f"/v1/receipts/{r['id']}/preview").status_code == 200

    # receiptctl show ID --text / --png FILE
    argv = ["--url", daemon.url, "--token", TOKENS["cashier"], "show", str(r["id"])]
    assert ctl.main([*argv, "--text"]) == 0
    assert capsys.readouterr().out == txt.text
    out = tmp_path / "r.png"
    assert ctl.main([*argv, "--png", str(out)]) == 0
    assert out.read_bytes() == png.content
