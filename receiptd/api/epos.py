"""``POST /cgi-bin/epos/service.cgi``: Epson ePOS-Print XML, for the web and tablet POS apps
that post to a printer's own web service (Odoo's POS, Epson's ePOS-Print SDK for JavaScript).
Served only when ``[daemon] epos = true`` (or ``--epos``).

The app is pointed at receiptd instead of the printer and nothing else changes, so the answer
is the printer's: a ``<response>`` inside a SOAP envelope, HTTP 200 whatever it says. Success
comes only once the receipt is confirmed on paper (status bit ``ASB_PRINT_SUCCESS``); a printer
in a fault when the job arrives is answered at once, before printing, with Epson's code for the
fault, and the job is journaled ``failed`` (the app will resend it; only a cashier's marked
copy can print it). A print that faults or times out after it was accepted is answered the
same way, and what of it has not gone to the printer is failed once the print settles, so it
never comes out unmarked after the app was told it failed (docs/DESIGN.md "Epson ePOS-Print").

ePOS clients send no token: a request takes the ``pos`` role and is served only to addresses
in ``[daemon] epos_allow`` (loopback by default); others get ``403 epos_address_not_allowed``.
A browser page may post from a ``cors_origins`` origin, or from the same host (any port).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

import anyio
import structlog
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiptd import intake
from receiptd.api.deps import client_address
from receiptd.api.origin import same_host
from receiptd.api.routing import Param, Route, starlette_route
from receiptd.epos import (
    CONTENT_TYPE,
    SERVICE_PATH,
    Converted,
    EposRequest,
    SchemaError,
    convert,
    fault_code,
    read_request,
    response_xml,
    status_bits,
)
from receiptd.epos import status as asb
from receiptd.errors import (
    Forbidden,
    InvalidDocument,
    JournalCorrupt,
    JournalUnavailable,
    TooLarge,
)
from receiptd.events import Event
from receiptd.intake.backend import Backend
from receiptd.journal import Receipt
from receiptd.printer.states import Snapshot

log = structlog.get_logger("receiptd.epos")

#: Epson's own default and ceiling for ``timeout`` (ms): 60 s when omitted, at most 300 s.
DEFAULT_TIMEOUT_MS = 60_000
MAX_TIMEOUT_MS = 300_000
#: A print already on its way to the paper when the timeout passes gets this much longer to
#: be confirmed, rather than be reported failed while it is coming out.
IN_FLIGHT_GRACE_S = 30.0
#: How often a waiting request looks at the journal besides being woken by events.
POLL_S = 0.25
#: How long a failure answered while a print was in flight is followed until it settles.
SETTLE_LIMIT_S = 900.0
#: Requests parsed and rendered at once (each may decode a receipt-sized image).
PARSES_AT_ONCE = 2
SUBMITTER = "epos"
PREFLIGHT_HEADERS = "content-type, soapaction, if-modified-since"


@dataclass(frozen=True)
class Answer:
    success: bool
    code: str
    status: int


def _answer(answer: Answer, job: str | None) -> Response:
    return Response(response_xml(success=answer.success, code=answer.code,
                                 status=answer.status, printjobid=job),
                    media_type=CONTENT_TYPE)


def _status(snap: Snapshot, printed: bool = False) -> int:
    # Offline without the printer saying so: connected, but it stopped answering.
    answering = not (snap.state == "offline" and "offline" not in snap.flags)
    return status_bits(snap.flags, connected=snap.connected, printed=printed,
                       answering=answering)


def _printer_answer(snap: Snapshot, code: str | None = None) -> Answer:
    found = code or fault_code(snap.state, connected=snap.connected) or asb.EX_TIMEOUT
    return Answer(False, found, _status(snap))


def _timeout_s(value: str | None) -> float:
    if value is None or not value.strip():
        return DEFAULT_TIMEOUT_MS / 1000
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise SchemaError(f"timeout must be milliseconds, not {value!r}")
    ms = int(text)
    return (DEFAULT_TIMEOUT_MS if ms <= 0 else min(ms, MAX_TIMEOUT_MS)) / 1000


async def _next_event(queue: asyncio.Queue[Event], receipt: Receipt, wait_s: float) -> None:
    """Until an event about this receipt or its printer, or ``wait_s`` (a look at the
    journal is due then anyway): other receipts' events do not cost a journal read."""
    loop = asyncio.get_running_loop()
    end = loop.time() + wait_s
    while (left := end - loop.time()) > 0:
        try:
            event = await asyncio.wait_for(queue.get(), timeout=left)
        except TimeoutError:
            return
        if event.data.get("receipt_id") == receipt.id or (
                event.type == "printer" and event.data.get("printer") == receipt.printer):
            return


class _Service:
    """The endpoint's work, apart from HTTP: parse, decide, journal, wait, settle."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.networks = [ipaddress.ip_network(n, strict=False)
                         for n in backend.config.daemon.epos_allow]
        self.parses = anyio.CapacityLimiter(PARSES_AT_ONCE)
        self.settling: set[asyncio.Task[None]] = set()

    def allowed(self, client: str) -> bool:
        if client == "local":  # the Unix socket: its file mode decides who gets here
            return True
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def printer(self, devid: str | None) -> str | None:
        """The printer ``devid`` names; Epson's default ``local_printer`` is the first one
        configured unless a printer has that name."""
        printers = list(self.backend.config.printers)
        if devid in printers:
            return devid
        if devid == "local_printer" and printers:
            return printers[0]
        return None

    @staticmethod
    def parse(body: bytes) -> tuple[EposRequest, Converted]:
        request = read_request(body)
        return request, convert(request.document)

    def journal(self, printer: str, converted: Converted, detail: dict[str, Any],
                failed: str | None) -> Receipt:
        receipt, _ = intake.accept(self.backend, printer, converted.content, intake.Origin(
            source="epos", submitted_by=SUBMITTER, detail=detail, failed=failed))
        return receipt

    async def wait(self, receipt: Receipt, queue: asyncio.Queue[Event],
                   timeout_s: float) -> Answer:
        """Until the receipt is printed (success), its printer faults, it stops by itself
        (held, failed) or the time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        journal = self.backend.journal
        now = receipt
        while True:
            try:
                now = await anyio.to_thread.run_sync(
                    lambda: journal().receipts.get(receipt.id))
            except (JournalUnavailable, JournalCorrupt):
                # Keep the last look: the printer goes on, and the answer stays an ePOS one.
                log.warning("epos_wait_journal_unreadable", receipt=receipt.id)
            snap = self.backend.snapshot(receipt.printer)
            if now.state == "printed":
                return Answer(True, "", _status(snap, printed=True))
            if now.state in ("failed", "cancelled", "held"):
                return _printer_answer(snap, code=None if now.state == "held" else
                                       asb.PRINT_SYSTEM_ERROR)
            if fault_code(snap.state, connected=snap.connected):
                return _printer_answer(snap)
            left = deadline - loop.time()
            if any(p.state == "sending" for p in now.prints):
                left += IN_FLIGHT_GRACE_S
            if left <= 0:
                return _printer_answer(snap, code=asb.EX_TIMEOUT)
            await _next_event(queue, receipt, min(POLL_S, left))

    def settle(self, receipt_id: int, reason: str) -> None:
        """After a failure was answered: follow the receipt until none of its prints is on
        its way to the printer, then fail what is still queued or held, so that nothing of
        it comes out by itself (an interrupted print's retry would be marked, but the app
        resends the receipt, and one copy of it is enough)."""
        task = asyncio.get_running_loop().create_task(self._settle(receipt_id, reason))
        self.settling.add(task)
        task.add_done_callback(self.settling.discard)

    async def _settle(self, receipt_id: int, reason: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + SETTLE_LIMIT_S
        while loop.time() < end:
            try:
                if await anyio.to_thread.run_sync(self._fail_unsent, receipt_id, reason):
                    return
            except (JournalUnavailable, JournalCorrupt):
                pass  # the disk is failing: try again, the print is not going anywhere
            await asyncio.sleep(POLL_S)
        log.error("epos_settle_gave_up", receipt=receipt_id)

    def _fail_unsent(self, receipt_id: int, reason: str) -> bool:
        """True once settled. A print ``sending`` is left to the spooler: it is confirmed,
        or interrupted (its retry then queued, to be failed here on the next look)."""
        journal = self.backend.journal()
        receipt = journal.receipts.get(receipt_id)
        if receipt.state == "printed":
            # Confirmed after the app was told it failed (it outlasted the timeout and the
            # grace): the app may resend it. Rare, and logged, since nothing can unprint it.
            log.warning("epos_printed_after_failure", receipt=receipt_id, reason=reason)
            return True
        failed = journal.receipts.fail_unsent(
            receipt_id, reason=f"ePOS-Print client was answered {reason}")
        if failed is None:
            return False  # a print is on its way: the spooler settles it, look again
        state = journal.receipts.get(receipt_id).state if failed else receipt.state
        for job in failed:
            self.backend.bus.publish("receipt", {
                "receipt_id": receipt_id, "printer": receipt.printer, "state": state,
                "print_id": job.id, "print_kind": job.kind, "print_state": job.state,
                "outcome": job.outcome, "reason": job.reason,
            })
            log.info("epos_print_failed_after_answer", receipt=receipt_id, print_id=job.id,
                     reason=reason)
        return True

    async def handle(self, request: Request, devid: str | None,
                     timeout: str | None) -> Response:
        client = client_address(request)
        if not self.allowed(client):
            raise Forbidden(f"ePOS-Print is not served to {client}; add its network to "
                            "[daemon] epos_allow", code="epos_address_not_allowed")
        body = await request.body()
        job: str | None = None
        try:
            parsed, converted = await anyio.to_thread.run_sync(
                self.parse, body, limiter=self.parses)
            job = parsed.printjobid
            timeout_s = _timeout_s(timeout if timeout is not None else parsed.timeout)
        except SchemaError as exc:
            log.info("epos_schema_error", client=client, error=exc.message, code=exc.code)
            return _answer(Answer(False, asb.SCHEMA_ERROR, 0), job)
        except TooLarge as exc:
            log.info("epos_too_large", client=client, error=exc.message)
            return _answer(Answer(False, asb.TOO_LARGE, 0), job)
        name = devid if devid is not None else parsed.devid
        printer = self.printer(name)
        if printer is None:
            log.info("epos_device_not_found", client=client, devid=name)
            return _answer(Answer(False, asb.DEVICE_NOT_FOUND, 0), job)
        detail: dict[str, Any] = {"peer": client, "devid": name}
        if job is not None:
            detail["printjobid"] = job
        if converted.notes:
            detail["notes"] = list(converted.notes)
        snap = self.backend.snapshot(printer)
        code = fault_code(snap.state, connected=snap.connected)
        queue, _ = self.backend.bus.subscribe(None)  # before accepting: miss no event
        try:
            failed = None if code is None else f"{code}: answered before printing " \
                f"(printer {snap.state})"
            try:
                receipt = await anyio.to_thread.run_sync(
                    functools.partial(self.journal, printer, converted, detail, failed),
                    limiter=self.parses)
            except TooLarge as exc:
                log.info("epos_too_large", client=client, error=exc.message)
                return _answer(Answer(False, asb.TOO_LARGE, 0), job)
            except InvalidDocument as exc:  # cannot be printed here, or over the paper cap
                log.info("epos_unprintable", client=client, error=exc.message, code=exc.code)
                why = asb.TOO_LARGE if exc.code == "too_much_paper" else asb.SCHEMA_ERROR
                return _answer(Answer(False, why, 0), job)
            except JournalUnavailable as exc:
                log.error("epos_journal_unavailable", client=client, error=exc.message)
                return _answer(Answer(False, asb.PRINT_SYSTEM_ERROR, 0), job)
            log.info("epos_accepted", receipt=receipt.id, printer=printer, client=client,
                     failed=failed, notes=list(converted.notes))
            if code is not None:
                return _answer(_printer_answer(snap, code), job)
            answer = await self.wait(receipt, queue, timeout_s)
        finally:
            self.backend.bus.unsubscribe(queue)
        log.info("epos_answered", receipt=receipt.id, success=answer.success,
                 code=answer.code, status=answer.status)
        if not answer.success:
            self.settle(receipt.id, answer.code)
        return _answer(answer, job)


def epos_route(backend: Backend) -> Route:
    service = _Service(backend)

    async def epos_print(request: Request, devid: str | None, timeout: str | None) -> Response:
        return await service.handle(request, devid, timeout)

    return Route("POST", SERVICE_PATH, epos_print, tags=("epos",), in_schema=False,
                 params=(Param("devid", str | None, None), Param("timeout", str | None, None)))


class EposCors:
    """CORS for the ePOS-Print path alone: the SDK's requests carry ``SOAPAction`` and
    ``If-Modified-Since`` headers, so browsers ask first (a preflight), and the answer must
    name those headers; and a page on the same host but another port is an origin too.

    Allowed: the origins in ``[daemon] cors_origins`` and any origin on the host the request
    was sent to. The write itself is still checked by ``BrowserGuard``."""

    def __init__(self, app: ASGIApp, *, allowed_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.allowed = {o.rstrip("/").lower() for o in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != SERVICE_PATH:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        ok = origin is not None and (origin.rstrip("/").lower() in self.allowed
                                     or same_host(origin, headers.get("host")))
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(send, origin if ok else None, headers)
            return
        if not ok or origin is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["access-control-allow-origin"] = origin
                out["vary"] = "Origin"
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(send: Send, origin: str | None, asked: Headers) -> None:
        if origin is None:
            head = [(b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 403, "headers": head})
            await send({"type": "http.response.body", "body": b""})
            return
        head = [(b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", b"POST, OPTIONS"),
                (b"access-control-allow-headers", PREFLIGHT_HEADERS.encode()),
                (b"access-control-max-age", b"600"), (b"vary", b"Origin"),
                (b"content-length", b"0")]
        if asked.get("access-control-request-private-network") == "true":
            head.append((b"access-control-allow-private-network", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": head})
        await send({"type": "http.response.body", "body": b""})


def install_epos(app: Starlette, backend: Backend) -> None:
    """Serve ePOS-Print on ``app`` (called by ``create_app`` when ``[daemon] epos``)."""
    app.router.routes.append(starlette_route(epos_route(backend)))
    app.add_middleware(EposCors, allowed_origins=backend.config.daemon.cors_origins)
