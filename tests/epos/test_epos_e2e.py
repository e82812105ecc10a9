"""ePOS-Print end to end: a real daemon (``--epos``) and the emulated printer, posted to as
Odoo's POS and as Epson's JavaScript SDK post to a printer. Success only once the paper is
out; a fault answered before printing, and nothing of a job reported failed ever printed
unmarked; a SIGKILL in the middle of a job loses nothing the app was told printed."""

from __future__ import annotations

import base64
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from receiptd.emulator import Emulator
from receiptd.epos import EPOS_NS

from ..rig import occurrences
from ..support import DaemonProcess, sample_document, slips_with, wait_until

SERVICE = "/cgi-bin/epos/service.cgi"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
#: What Epson's SDK sends with every request (and so what makes a browser ask first).
SDK_HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""',
               "If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}


def envelope(body: str, header: str = "") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}">{header}'
            f'<s:Body><epos-print xmlns="{EPOS_NS}">{body}</epos-print></s:Body></s:Envelope>')


def odoo_image_request(width: int, height: int) -> str:
    """The request Odoo's POS (pos_epson_printer) sends: its receipt drawn on a canvas,
    dithered to 1 bit, packed 8 dots a byte, base64, then a cut."""
    rows = b"".join(bytes(0xFF if (x // 8 + y // 16) % 2 else 0x00 for x in range(0, width, 8))
                    for y in range(height))
    data = base64.b64encode(rows).decode()
    return envelope(f'<image width="{width}" height="{height}" align="center">{data}</image>'
                    '<cut type="feed"/>')


def text_receipt(tag: str, lines: int = 3, extra: str = "") -> str:
    """What the SDK's builder makes of a small receipt (addTextAlign, addTextDouble, addText,
    addFeedLine, addCut)."""
    body = ('<text lang="en" smooth="true"/><text align="center"/><text dw="true" dh="true"/>'
            f'<text>RECEIPT {tag}&#10;</text><text dw="false" dh="false"/><text align="left"/>')
    for i in range(lines):
        body += f'<text>Item {i}</text><text x="360"/><text>{i}.00&#10;</text>'
    body += (f'<text em="true">TOTAL</text><text x="360"/><text>{lines * (lines - 1) // 2}.00'
             f'&#10;</text><text em="false"/>{extra}<feed line="2"/><cut type="feed"/>')
    return envelope(body)


def post(daemon: DaemonProcess, xml: str, *, devid: str = "front", timeout_ms: int = 20000,
         headers: dict[str, str] | None = None, client: httpx.Client | None = None,
         ) -> tuple[httpx.Response, dict[str, str]]:
    r = (client or httpx).post(  # type: ignore[attr-defined]
        f"{daemon.url}{SERVICE}?devid={devid}&timeout={timeout_ms}", content=xml.encode(),
        headers=headers or SDK_HEADERS, timeout=60)
    if r.headers.get("content-type", "").startswith("text/xml"):
        found = ET.fromstring(r.content).find(f".//{{{EPOS_NS}}}response")
        assert found is not None, r.text
        return r, dict(found.attrib)
    return r, {}


def copy_marked(slip: list[dict[str, Any]]) -> bool:
    """A COPY or REPRINT marker on the slip (a copy of a receipt never printed says only
    "COPY n", which ``support.MARKER`` does not take)."""
    return any(e.get("type") == "text" and re.match(r"\s*(COPY \d+|\*\*\* REPRINT)", e["text"])
               for e in slip)


def latest(daemon: DaemonProcess) -> Any:
    r = daemon.clients["cashier"].get("/v1/receipts", params={"printer": "front", "limit": 1})
    assert r.status_code == 200, r.text
    return r.json()["receipts"][0]


def epos_daemon(factory: Callable[..., DaemonProcess], emu: Emulator,
                extra: list[str] | None = None) -> DaemonProcess:
    daemon = factory({"front": emu.tcp_url}, extra_args=["--epos", *(extra or [])])
    daemon.wait_state("online")
    return daemon


def test_odoo_image_receipt_succeeds_only_once_it_is_on_paper(
        daemon_factory: Callable[..., DaemonProcess]) -> None:
    with Emulator(speed_mm_s=60.0) as emu:  # ~40 mm of image: most of a second on paper
        emu.start_tcp()
        daemon = epos_daemon(daemon_factory, emu)
        cut_at: list[float] = []
        emu.subscribe(lambda e: cut_at.append(time.monotonic()) if e.get("type") == "cut"
                      else None)
        # Odoo posts with fetch() and a string body: text/plain, from its own origin.
        r, answer = post(daemon, odoo_image_request(512, 320), devid="local_printer",
                         headers={"Content-Type": "text/plain;charset=UTF-8",
                                  "Origin": "http://127.0.0.1:8069",
                                  "Sec-Fetch-Site": "same-site"})
        answered_at = time.monotonic()
        assert r.status_code == 200, r.text
        assert answer["success"] == "true" and answer["code"] == "", answer
        assert int(answer["status"]) & 0x2 and answer["battery"] == "0"
        assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:8069"
        assert cut_at and cut_at[0] < answered_at, "answered before the paper was cut"
        slip = emu.transcript.slips()[0]
        assert [e["type"] for e in slip if e["type"] in ("image", "cut")][-1] == "cut"
        assert sum(e["height"] for e in slip if e["type"] == "image") == 320
        receipt = latest(daemon)
        assert (receipt["source"], receipt["state"]) == ("epos", "printed"), receipt
        # Odoo's cash drawer button: a document of one <pulse/>.
        _, answer = post(daemon, envelope("<pulse/>"), devid="local_printer",
                         headers={"Content-Type": "text/plain;charset=UTF-8"})
        assert answer["success"] == "true", answer
        assert emu.transcript.entries()[-1] == {"type": "drawer", "pin": 2}


def test_text_element_receipt_prints_as_laid_out(
        daemon_factory: Callable[..., DaemonProcess]) -> None:
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon = epos_daemon(daemon_factory, emu)
        header = (f'<s:Header><parameter xmlns="{EPOS_NS}"><printjobid>JOB-7</printjobid>'
                  "</parameter></s:Header>")
        qr = '<symbol type="qrcode_model_2" level="level_m" width="4">https://x.test/7</symbol>'
        xml = text_receipt("SDK-1", extra=qr).replace("<s:Body>", header + "<s:Body>")
        r, answer = post(daemon, xml)
        assert answer["success"] == "true", answer
        assert ET.fromstring(r.content).findtext(f".//{{{EPOS_NS}}}printjobid") == "JOB-7"
        assert occurrences(emu) == [("SDK-1", False, True)]
        lines = emu.transcript.texts()
        assert any(t.startswith("Item 1") and t.rstrip().endswith("1.00") for t in lines), lines
        assert {"type": "qr", "data": "https://x.test/7"}.items() <= next(
            e for e in emu.transcript.entries() if e["type"] == "qr").items()
        receipt = latest(daemon)
        assert receipt["source"] == "epos" and receipt["state"] == "printed"
        # A schema error journals nothing; an unknown device is DeviceNotFound.
        r, answer = post(daemon, envelope("<bogus/>"))
        assert (answer["success"], answer["code"]) == ("false", "SchemaError")
        r, answer = post(daemon, text_receipt("NOWHERE"), devid="back")
        assert (answer["success"], answer["code"]) == ("false", "DeviceNotFound")
        assert latest(daemon)["id"] == receipt["id"]


def test_paper_out_is_answered_before_printing_and_never_prints_unmarked(
        daemon_factory: Callable[..., DaemonProcess]) -> None:
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon = epos_daemon(daemon_factory, emu)
        emu.inject("paper_out")
        daemon.wait_state("paper_out")
        r, answer = post(daemon, text_receipt("EMPTY-1"))
        assert (answer["success"], answer["code"]) == ("false", "EPTR_REC_EMPTY"), answer
        status = int(answer["status"])
        assert status & 0x80000 and not status & 0x2, hex(status)
        failed = latest(daemon)
        assert (failed["source"], failed["state"]) == ("epos", "failed"), failed
        emu.clear("paper_out")
        daemon.wait_state("online")
        # The app resends; that print comes out, and nothing of the first one before it.
        r, answer = post(daemon, text_receipt("EMPTY-1"))
        assert answer["success"] == "true", answer
        emu.wait_idle(10)
        assert occurrences(emu) == [("EMPTY-1", False, True)], emu.transcript.text()
        # The failed one still prints, when a cashier asks: marked as a copy.
        r = daemon.clients["cashier"].post(f"/v1/receipts/{failed['id']}/reprint")
        assert r.status_code == 202, r.text
        wait_until(lambda: daemon.receipt(failed["id"])["prints"][-1]["state"] == "printed",
                   what="the marked copy printed")
        emu.wait_idle(10)
        slips = slips_with(emu, "RECEIPT EMPTY-1")
        # Its copy says "COPY 1" alone: the original never printed, so no date follows.
        assert [copy_marked(s) for s in slips] == [False, True], emu.transcript.text()


def test_a_fault_mid_print_is_answered_and_its_retry_is_failed(
        daemon_factory: Callable[..., DaemonProcess]) -> None:
    with Emulator(speed_mm_s=200.0) as emu:
        emu.start_tcp()
        daemon = epos_daemon(daemon_factory, emu)
        emu.arm("paper_out", after_mm=8)  # runs out inside the receipt
        _, answer = post(daemon, text_receipt("MID-1", lines=12))
        assert (answer["success"], answer["code"]) == ("false", "EPTR_REC_EMPTY"), answer
        rid = latest(daemon)["id"]
        wait_until(lambda: daemon.receipt(rid)["state"] == "failed", timeout=20,
                   what="the interrupted receipt failed, not requeued")
        emu.clear("paper_out")
        daemon.wait_state("online")
        _, answer = post(daemon, text_receipt("AFTER-1"))
        assert answer["success"] == "true", answer
        emu.wait_idle(10)
        seen = occurrences(emu)
        assert ("AFTER-1", False, True) in seen
        assert not [o for o in seen if o[0] == "MID-1" and o[2]], seen  # never came out whole
        prints = daemon.receipt(rid)["prints"]
        assert [p["state"] for p in prints] == ["interrupted", "failed"], prints


def test_sigkill_mid_job_loses_nothing_confirmed_and_prints_nothing_twice_unmarked(
        daemon_factory: Callable[..., DaemonProcess]) -> None:
    with Emulator(speed_mm_s=200.0) as emu:
        emu.start_tcp()
        daemon = epos_daemon(daemon_factory, emu)
        _, answer = post(daemon, text_receipt("DONE-1", lines=1))
        assert answer["success"] == "true", answer
        started: list[bool] = []
        emu.subscribe(lambda e: started.append(True) if "RECEIPT KILL-1" in e.get("text", "")
                      else None)
        outcome: list[object] = []

        def app() -> None:
            try:
                outcome.append(post(daemon, text_receipt("KILL-1", lines=6))[1])
            except httpx.HTTPError as exc:
                outcome.append(exc)

        emu.inject("slow", mm_per_s=4.0)  # busy and answering: the job stays in flight
        thread = threading.Thread(target=app)
        thread.start()
        wait_until(lambda: started, timeout=30, what="the ePOS job on paper")
        daemon.kill()
        thread.join(30)
        assert outcome and isinstance(outcome[0], httpx.HTTPError), outcome  # never "success"
        emu.clear("slow")
        daemon.start()
        wait_until(lambda: latest(daemon)["state"] == "printed", timeout=60,
                   what="the interrupted job reprinted")
        emu.wait_idle(20)
        seen = occurrences(emu)
        assert [o for o in seen if o[0] == "DONE-1"] == [("DONE-1", False, True)], seen
        kill = [o for o in seen if o[0] == "KILL-1"]
        assert len([o for o in kill if not o[1]]) <= 1, seen
        assert any(marked and whole for _, marked, whole in kill), seen


def test_addresses_outside_epos_allow_are_refused(
        daemon_factory: Callable[..., DaemonProcess], tmp_path: Path) -> None:
    config = tmp_path / "epos.toml"
    config.write_text('[daemon]\nepos_allow = ["127.0.0.1/32"]\n')
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon = epos_daemon(daemon_factory, emu, ["--config", str(config)])
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with other:
            r, _ = post(daemon, text_receipt("OUTSIDE"), client=other)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "epos_address_not_allowed"
        r, answer = post(daemon, text_receipt("INSIDE"))
        assert answer["success"] == "true"
        assert [o[0] for o in occurrences(emu)] == ["INSIDE"]
        # Browsers: a page of another site is refused, before and at the post; a page on
        # this host (another port) gets its preflight answered with the SDK's headers.
        asked = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,soapaction,if-modified-since",
                 "Access-Control-Request-Private-Network": "true"}
        r = httpx.options(f"{daemon.url}{SERVICE}", headers={
            **asked, "Origin": "http://127.0.0.1:3000"})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
        assert "soapaction" in r.headers["access-control-allow-headers"]
        assert r.headers["access-control-allow-private-network"] == "true"
        r = httpx.options(f"{daemon.url}{SERVICE}", headers={
            **asked, "Origin": "https://evil.example"})
        assert r.status_code == 403
        r, _ = post(daemon, text_receipt("EVIL"), headers={
            **SDK_HEADERS, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request"
        r, _ = post(daemon, text_receipt("REBOUND"), headers={
            **SDK_HEADERS, "Host": "evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "host_not_allowed"
        assert [o[0] for o in occurrences(emu)] == ["INSIDE"]


def test_other_faults_on_arrival_carry_their_code_and_bits(
        daemon_factory: Callable[..., DaemonProcess]) -> None:
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon = epos_daemon(daemon_factory, emu)
        emu.inject("cover_open")
        daemon.wait_state("cover_open")
        _, answer = post(daemon, text_receipt("COVER-1"))
        assert (answer["success"], answer["code"]) == ("false", "EPTR_COVER_OPEN"), answer
        assert int(answer["status"]) & 0x20 and not int(answer["status"]) & 0x2
        emu.clear("cover_open")
        daemon.wait_state("online")
        emu.inject("silent")  # connected, but no status answers any more
        daemon.wait_state("offline", timeout=15)
        _, answer = post(daemon, text_receipt("SILENT-1"))
        assert (answer["success"], answer["code"]) == ("false", "EX_TIMEOUT"), answer
        assert int(answer["status"]) & 0x1, answer
        emu.clear("silent")
        daemon.wait_state("online", timeout=15)
        _, answer = post(daemon, text_receipt("AFTER-2"))
        assert answer["success"] == "true", answer
        emu.wait_idle(10)
        assert [o[0] for o in occurrences(emu)] == ["AFTER-2"], emu.transcript.text()


def test_a_timeout_while_queued_fails_the_job_before_it_prints(
        daemon_factory: Callable[..., DaemonProcess]) -> None:
    """The receipt ahead is held on paper (a printer slowed to a crawl, still online) until the
    job's answer has come. The answer comes while that receipt's first print is still awaited,
    which the daemon gives up on only after its confirm timeout (20 s): the job's 500 ms was
    honoured, not a wait for the printer or for the app's default 60 s."""
    with Emulator(speed_mm_s=40.0) as emu:
        emu.start_tcp()
        daemon = epos_daemon(daemon_factory, emu)
        emu.inject("slow", mm_per_s=0.001)  # a line an hour: the receipt ahead holds the printer
        ahead = daemon.submit({"document": sample_document("AHEAD-1", lines=10)})["id"]
        wait_until(lambda: daemon.receipt(ahead)["state"] == "printing", what="ahead printing")
        _, answer = post(daemon, text_receipt("LATE-1"), timeout_ms=500)
        held = daemon.receipt(ahead)  # still on its first print, which the daemon still awaits
        assert (held["state"], [(p["kind"], p["state"]) for p in held["prints"]]) == (
            "printing", [("original", "sending")]), held
        assert not [e for slip in slips_with(emu, "AHEAD-1") for e in slip
                    if e["type"] == "cut"], emu.transcript.text()  # not cut off yet
        assert (answer["success"], answer["code"]) == ("false", "EX_TIMEOUT"), answer
        assert not int(answer["status"]) & 0x2
        late = latest(daemon)["id"]
        wait_until(lambda: daemon.receipt(late)["state"] == "failed", what="the late job failed")
        emu.clear("slow")
        daemon.wait_printed(ahead, timeout=60)
        emu.wait_idle(20)
        assert [o[0] for o in occurrences(emu)] == ["AHEAD-1"], emu.transcript.text()
        assert [p["state"] for p in daemon.receipt(late)["prints"]] == ["failed"]


def test_the_endpoint_is_absent_unless_enabled(
        daemon_factory: Callable[..., DaemonProcess]) -> None:
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon = daemon_factory({"front": emu.tcp_url})
        r, _ = post(daemon, text_receipt("OFF-1"))
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
