"""What is in the journal always prints: validation happens once, at submit, and the spooler
never lays a journaled receipt out again in a way that can fail."""

from __future__ import annotations

from pathlib import Path

from receiptd.emulator import Emulator

from ..support import DaemonProcess, is_marked, slips_with, wait_until

# 400 dots wide at module width 2: fits an 80 mm TM-T88V (576 dots), not a 58 mm POS-5890 (384).
WIDE_BARCODE = {"type": "barcode", "data": "A" * 15, "width": 2}


def _config(path: Path, url: str, profile: str) -> Path:
    path.write_text(f'[printers.front]\nurl = "{url}"\nprofile = "{profile}"\n')
    return path


def _document(tag: str) -> dict[str, object]:
    return {"blocks": [{"type": "text", "text": f"RECEIPT {tag}"}, WIDE_BARCODE,
                       {"type": "text", "text": "TOTAL 1.00"}, {"type": "cut"}]}


def test_receipt_accepted_before_a_profile_change_still_prints(tmp_path: Path,
                                                               emulator: Emulator) -> None:
    url = f"tcp://127.0.0.1:{emulator.start_tcp()}"
    wide = _config(tmp_path / "wide.toml", url, "TM-T88V")
    narrow = _config(tmp_path / "narrow.toml", url, "POS-5890")

    emulator.inject("paper_out")  # accepted and journaled, not yet printed
    daemon = DaemonProcess(tmp_path, {}, extra_args=["--config", str(wide)])
    daemon.start()
    try:
        held = daemon.submit({"document": _document("HELD")})
        daemon.wait_state("paper_out")
        daemon.kill()

        # The shop swapped in a 58 mm printer: the same document is now refused at submit ...
        daemon.extra_args = ["--config", str(narrow)]
        daemon.start()
        refused = daemon.clients["pos"].post("/v1/printers/front/receipts",
                                             json={"document": _document("NEW")})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_document"
        # ... but the one accepted before prints, as it was accepted, and so does what follows.
        after = daemon.submit({"text": "RECEIPT AFTER\nTOTAL 0.00\n"})
        emulator.clear("paper_out")
        daemon.wait_printed(held["id"])
        daemon.wait_printed(after["id"])
        assert len(slips_with(emulator, "RECEIPT HELD")) == 1
        assert "print_with_accepted_layout" in daemon.log()

        # A cashier's copy of it is marked, and prints too.
        copy = daemon.clients["cashier"].post(f"/v1/receipts/{held['id']}/reprint")
        assert copy.status_code in (200, 202), copy.text
        daemon.wait_printed(held["id"])
        _wait_all_printed(daemon, held["id"])
        assert [is_marked(s) for s in slips_with(emulator, "RECEIPT HELD")] == [False, True]
    finally:
        daemon.close()


def test_marked_reprint_is_the_journaled_bytes_with_a_marker(tmp_path: Path,
                                                             emulator: Emulator) -> None:
    """A copy is the original byte for byte, but for its marker section: the document is not
    laid out again (the emulator sees the same lines below the marker)."""
    url = f"tcp://127.0.0.1:{emulator.start_tcp()}"
    daemon = DaemonProcess(tmp_path, {"front": url})
    daemon.start()
    try:
        first = daemon.submit({"document": _document("SAME")})
        daemon.wait_printed(first["id"])
        copy = daemon.clients["cashier"].post(f"/v1/receipts/{first['id']}/reprint")
        assert copy.status_code in (200, 202), copy.text
        _wait_all_printed(daemon, first["id"])
        original, marked = slips_with(emulator, "RECEIPT SAME")
        assert not is_marked(original) and is_marked(marked)
        body = [e for e in marked if not (e.get("type") == "text" and "COPY" in e.get("text", ""))]
        start = next(i for i, e in enumerate(body) if "RECEIPT SAME" in e.get("text", ""))
        assert body[start:] == original[next(i for i, e in enumerate(original)
                                             if "RECEIPT SAME" in e.get("text", "")):]
    finally:
        daemon.close()


def _wait_all_printed(daemon: DaemonProcess, receipt_id: int) -> None:
    """Every print of the receipt confirmed on paper (so the slips are whole)."""
    wait_until(lambda: all(p["state"] == "printed" for p in daemon.receipt(receipt_id)["prints"]),
               timeout=20, what=f"every print of receipt {receipt_id} printed")
