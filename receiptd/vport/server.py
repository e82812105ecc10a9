"""One virtual printer port: a TCP server an unmodified POS app prints raw ESC/POS to as if
it were the printer (AppSocket, "port 9100").

Per connection, bytes are read as they come. A **job** is what arrives up to the close of the
connection, a gap of ``virtual_port_idle_s`` without a byte, or a process ID after print data
(the app now waits for its answer); the connection may carry more jobs after it. Each job
is sanitized (``receiptd.document.raw.sanitize``): forbidden commands dropped and counted,
status questions answered here at once from receiptd's view of the real printer and never
forwarded. A job with something to print is handed to
``receiptd.intake.accept`` (journaled durably before a byte goes to the printer), with what was
dropped in its ``source_detail``. A job with nothing to print (only questions) journals nothing.

A process ID the app sends (``GS ( H`` fn 48) is answered on its connection only once the
receipt carrying it is ``printed``; if the connection is gone by then, nobody is told.

AppSocket has no error channel: a job refused (too big, too slow, unprintable) is logged with
its stable code and the connection is closed, which is all the app can see.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from receiptd.config import PrinterConfig, parse_listen
from receiptd.document import Content
from receiptd.document.limits import MAX_RAW_BYTES
from receiptd.document.raw.sanitize import PROCESS_ID, Query, Sanitized, Sanitizer
from receiptd.errors import ClientError, ReceiptdError
from receiptd.intake import Backend, Origin, accept
from receiptd.vport import answers
from receiptd.vport.resend import ResendWindow
from receiptd.vport.watch import Watch

log = structlog.get_logger("receiptd.vport")
_T = TypeVar("_T")

#: Connections one port serves at once; more are closed at once (logged).
MAX_CONNECTIONS = 16
#: A connection with no job in progress is closed after this long without a byte (unless it
#: waits for ASB blocks or process IDs).
CONNECTION_IDLE_S = 300.0
#: A job still arriving after this long is refused (a sender dribbling bytes for ever).
JOB_MAX_S = 120.0
#: How often a connection with ASB on looks at the printer between state-change events.
ASB_POLL_S = 0.5
READ_SIZE = 65536
#: On stop, how long connections get to wind down before their handlers are cancelled.
STOP_WAIT_S = 2.0

# Stable codes of the refusals (log field ``code``); raw_* come from the sanitizer.
TOO_MANY_CONNECTIONS = "too_many_connections"
JOB_TOO_LARGE = "too_large"
JOB_TOO_SLOW = "job_too_slow"


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(eq=False)
class _Connection:
    """One app's connection: where answers go, and what it has asked for."""

    writer: asyncio.StreamWriter
    peer: str
    asb_mask: int = 0
    asb_sent: bytes = b""  # what the enabled items saw in the last block sent
    asb_task: asyncio.Task[None] | None = None
    last_receipt: int | None = None  # what a process ID with no print data of its own covers
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)


class VirtualPort:
    def __init__(self, backend: Backend, printer: str, config: PrinterConfig,
                 watch: Watch) -> None:
        assert config.virtual_port
        self.backend = backend
        self.printer = printer
        self.config = config
        self.watch = watch
        self.address = config.virtual_port
        self.resends = ResendWindow(config.resend_window_s)
        self.max_job_bytes = min(MAX_RAW_BYTES, backend.config.daemon.max_body_bytes)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._accepting = asyncio.Lock()  # resend check and accept, one job at a time
        self._log = log.bind(printer=printer)

    async def start(self) -> str:
        """Listen; returns the bound address (a port 0 becomes the port the kernel chose)."""
        host, port = parse_listen(self.address)
        self._server = await asyncio.start_server(self._handle, host, port,
                                                  reuse_address=True)
        sock = self._server.sockets[0].getsockname()
        self.address = f"[{sock[0]}]:{sock[1]}" if ":" in sock[0] else f"{sock[0]}:{sock[1]}"
        self._log.info("vport_listening", address=self.address,
                       idle_s=self.config.virtual_port_idle_s,
                       resend_window_s=self.config.resend_window_s)
        return self.address

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.writer.close()  # each handler reads the end of its stream and returns
        if self._handlers:
            _, late = await asyncio.wait(set(self._handlers), timeout=STOP_WAIT_S)
            for task in late:  # e.g. one whose job is being journaled in a worker thread
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=STOP_WAIT_S)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # -- one connection -------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else "?"
        if len(self._connections) >= MAX_CONNECTIONS:
            self._log.warning("vport_connection_refused", peer=peer, code=TOO_MANY_CONNECTIONS,
                              limit=MAX_CONNECTIONS)
            writer.close()
            return
        conn = _Connection(writer, peer)
        self._connections.add(conn)
        self._handlers.add(task)
        self._log.debug("vport_connected", peer=peer)
        try:
            more, rest = True, b""
            while more:
                more, rest = await self._job(reader, conn, rest)
            if conn.tasks:
                # The app closed its side but may still read (a half-close): its process IDs
                # are answered when they print, for as long as an idle connection may live.
                await asyncio.wait(set(conn.tasks), timeout=CONNECTION_IDLE_S)
        except _Refused as exc:
            self._log.warning("vport_job_refused", peer=peer, code=exc.code, reason=str(exc))
        except (ConnectionError, asyncio.IncompleteReadError):
            self._log.info("vport_connection_lost", peer=peer)
        except asyncio.CancelledError:
            # Only stop() cancels a handler; a connection callback that ends cancelled makes
            # asyncio log a spurious error, so it ends here instead.
            self._log.info("vport_connection_stopped", peer=peer)
        finally:
            self._connections.discard(conn)
            self._handlers.discard(task)
            for t in (*conn.tasks, *([conn.asb_task] if conn.asb_task else [])):
                t.cancel()
            writer.close()
            self._log.debug("vport_disconnected", peer=peer)

    async def _job(self, reader: asyncio.StreamReader, conn: _Connection,
                   first: bytes) -> tuple[bool, bytes]:
        """Read, answer and journal one job, starting with ``first`` (what came after the
        process ID that ended the job before). Returns (more jobs may follow, the bytes
        after this job's process ID)."""
        job = Sanitizer(end_at_process_id=True)
        pids: list[Query] = []
        started: float | None = None
        more, chunk = True, first
        while True:
            if not chunk:
                wait = (self.config.virtual_port_idle_s if started is not None
                        else CONNECTION_IDLE_S)
                try:
                    chunk = await asyncio.wait_for(reader.read(READ_SIZE), wait)
                except TimeoutError:
                    if started is not None:
                        break  # the idle gap ends the job
                    if conn.asb_mask or conn.tasks:
                        continue  # it listens for status changes or process IDs: keep it
                    return False, b""  # an idle connection: close it
                if not chunk:
                    if self._stopping and started is not None:
                        # Our own close at shutdown, not the app's: the job may be incomplete.
                        # Not journaled; the app sees the printer go away and sends it again.
                        self._log.warning("vport_job_dropped_at_stop", peer=conn.peer,
                                          bytes=job.received)
                        return False, b""
                    more = False
                    break
            started = started if started is not None else time.monotonic()
            if job.received + len(chunk) > self.max_job_bytes:
                raise _Refused(JOB_TOO_LARGE, f"job over {self.max_job_bytes} bytes")
            if time.monotonic() - started > JOB_MAX_S:
                raise _Refused(JOB_TOO_SLOW, f"job still arriving after {JOB_MAX_S:.0f} s")
            pids += self._answer(conn, _refusing(job.feed, chunk))
            chunk = b""
            await conn.writer.drain()
            if job.ended:  # a process ID after print data: the app now waits for it
                break
        rest = job.rest() if job.ended else b""
        if started is None:
            return more, b""
        result, queries = _refusing(lambda _: job.finish(), b"")
        pids += self._answer(conn, queries)
        receipt_id = covers = None
        if not result.empty:
            receipt_id, covers = await self._journal(conn, result, pids, job.received)
        for q in pids:
            # A process ID after print data covers this job's receipt (or the one it resends);
            # one before any covers what this connection sent before.
            self._answer_pid(conn, q.pid, covers if covers and q.at else conn.last_receipt)
        if covers is not None:
            conn.last_receipt = covers
        if receipt_id is None:
            self._log.debug("vport_job_empty", peer=conn.peer, bytes=job.received,
                           answered=result.answered, dropped=result.dropped)
        with contextlib.suppress(ConnectionError):
            await conn.writer.drain()
        return more, rest

    async def _journal(self, conn: _Connection, result: Sanitized, pids: list[Query],
                       received: int) -> tuple[int, int]:
        """Journal the job (or its resend); returns (its receipt, the receipt that prints
        it: the original for a resend)."""
        detail: dict[str, Any] = {
            "port": self.address, "peer": conn.peer, "bytes": received,
            "dropped": result.dropped, "answered": result.answered,
        }
        if result.converted:
            detail["converted"] = result.converted
        if result.dots_cleared:
            detail["dots_cleared"] = result.dots_cleared
        if pids:
            detail["process_ids"] = [q.pid.decode("latin-1") for q in pids]
        key = ResendWindow.key(result.data)
        content = Content(raw=base64.b64encode(result.data).decode())
        async with self._accepting:
            original = self.resends.original(key)
            failed = None
            if original is not None:
                detail["resend_of"] = original
                failed = f"resend of receipt {original}"
            origin = Origin(source="virtual_port", submitted_by="virtual_port",
                            detail=detail, failed=failed)
            try:
                receipt, _ = await asyncio.to_thread(accept, self.backend, self.printer,
                                                     content, origin)
            except ClientError as exc:
                raise _Refused(exc.code, str(exc)) from None
            except ReceiptdError as exc:  # the journal is failing: the app was told nothing
                raise _Refused(getattr(exc, "code", "journal_unavailable"), str(exc)) from None
            if original is None:
                self.resends.remember(key, receipt.id)
        if original is not None:
            self._log.warning("vport_resend", peer=conn.peer, receipt=receipt.id,
                              resend_of=original, bytes=received)
            return receipt.id, original
        self._log.info("vport_job_accepted", peer=conn.peer, receipt=receipt.id, bytes=received,
                       dropped=result.dropped, answered=result.answered)
        return receipt.id, receipt.id

    # -- answers ----------------------------------------------------------------------------

    def _answer(self, conn: _Connection, queries: list[Query]) -> list[Query]:
        """Answer each status question now; return the process IDs (answered later)."""
        pids = []
        for q in queries:
            if q.name == PROCESS_ID:
                pids.append(q)
                continue
            reply = self._reply(conn, q)
            if reply:
                conn.send(reply)
        return pids

    def _reply(self, conn: _Connection, q: Query) -> bytes | None:
        snap = self.backend.snapshot(self.printer)
        if q.name == "DLE EOT":
            return answers.dle_eot(snap, q.n)
        if q.name == "GS r":
            return answers.sensor(snap, q.n)
        if q.name == "GS I":
            return answers.identity(snap, self.backend.profile(self.printer), q.n)
        if q.name == "DLE DC4 7":
            return answers.status_now(snap, q.n)
        if q.name == "GS a":  # a block now, then one whenever the enabled items change
            conn.asb_mask = q.n & answers.ASB_ITEMS
            if not conn.asb_mask:
                return None
            block = answers.asb_block(snap)
            conn.asb_sent = answers.asb_view(block, conn.asb_mask)
            if conn.asb_task is None:
                conn.asb_task = asyncio.create_task(self._asb(conn))
            return block
        return None

    async def _asb(self, conn: _Connection) -> None:
        """Automatic Status Back: a block whenever what the enabled items see changes."""
        while not conn.writer.is_closing():
            await self.watch.changed(self.printer, ASB_POLL_S)
            if not conn.asb_mask:
                continue
            block = answers.asb_block(self.backend.snapshot(self.printer))
            view = answers.asb_view(block, conn.asb_mask)
            if view != conn.asb_sent:
                conn.asb_sent = view
                conn.send(block)

    def _answer_pid(self, conn: _Connection, pid: bytes, covers: int | None) -> None:
        """``37 22 pid 00`` once receipt ``covers`` is printed (at once if it covers none)."""
        if covers is None:
            conn.send(answers.process_id(pid))
            return

        async def when_printed() -> None:
            await self.watch.printed(covers)
            if conn.writer.is_closing():
                return
            conn.send(answers.process_id(pid))
            self._log.info("vport_process_id_answered", peer=conn.peer, receipt=covers,
                           pid=pid.decode("latin-1"))

        task = asyncio.create_task(when_printed())
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)


def _refusing(step: Callable[[bytes], _T], data: bytes) -> _T:
    """Run a sanitizer step; a job it cannot print becomes a refusal with its code."""
    try:
        return step(data)
    except ClientError as exc:
        raise _Refused(exc.code, str(exc)) from None
