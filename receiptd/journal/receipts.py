"""The receipt and print state machine: every change one ``BEGIN IMMEDIATE`` transaction.

Print states: ``queued → sending → printed``; ``sending → queued`` (unstart: nothing was sent);
``sending → interrupted`` (a new ``interrupted_retry`` print is queued in the same transaction,
or ``held`` once the printer's limit of attempts in a row is reached); ``held → queued`` when a
person releases it (a cashier's reprint, an admin's recovery); ``queued | sending → failed``
when the print cannot be made at all (terminal, with the reason); ``queued → cancelled``.
Receipt states follow the receipt's original delivery: ``queued → printing → printed``,
``printing → queued`` (interrupted), ``printing → held → queued``, ``→ failed``, ``queued →
cancelled``; later reprints never change a printed receipt.

Queue order: ``next_print()`` returns a printer's queued interrupted retries first (oldest
first), then everything else strictly by id (FIFO). A merchant whose receipt was cut short by a
paper-out expects that receipt to come out first once the paper is refilled, not after the
receipts queued behind it.

The per-printer counters (``printer_counters``) are bumped in the transaction of the change
they count, so they never disagree with the receipts, and survive ``purge``.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from receiptd.errors import Conflict, NotFound
from receiptd.journal import bodies
from receiptd.journal.db import guarded
from receiptd.journal.groupcommit import group_for
from receiptd.journal.reads import load_print, load_receipt, receipt_row
from receiptd.journal.records import (
    CONFIRMATIONS,
    RECEIPT_KINDS,
    RECEIPT_SOURCES,
    Print,
    Receipt,
    parse_ts,
    print_from,
)
from receiptd.journal.trouble import TroubleStore, count, insert_print, mark_failed


@dataclass(frozen=True)
class NewReceipt:
    """A receipt to journal: ``ReceiptStore.submit``'s arguments, for ``submit_many``."""

    printer: str
    kind: str
    content_json: str
    rendered: bytes
    profile: str
    request_hash: str
    idempotency_key: str | None
    order_ref: str | None
    submitted_by: str | None
    paper_mm: float | None = None
    source: str = "api"
    source_detail: Mapping[str, object] | None = None
    failed: str | None = None
    #: Its printer's idle spooler took it (``spool.handoff``): journal its print ``sending``,
    #: if nothing else of that printer is queued or being sent in the same transaction.
    start: bool = False


#: What journaling a receipt gives back: its id, whether it was created (False: an idempotent
#: replay), and the receipt as committed when the inserter could say it without reading it.
Inserted = tuple[int, bool, Receipt | None]


def _journaled(new: NewReceipt, receipt_id: int, print_id: int, at: datetime,
               detail: str | None, started: bool) -> Receipt:
    """The receipt ``new`` as its inserts just left it (queued with one queued original
    print, or ``started``: printing, its print sending): the values ``load_receipt`` would
    read back after the commit, built from what was written instead of read again while the
    submitter waits."""
    first = Print(
        id=print_id, receipt_id=receipt_id, printer=new.printer, kind="original",
        state="sending" if started else "queued", attempt=1, copy_number=None, retry_of=None,
        marker=None, requested_by=None, reason=None, created_at=at,
        sent_at=at if started else None, finished_at=None, outcome=None, confirmation=None,
        hold_base=0)
    return Receipt(
        id=receipt_id, printer=new.printer, state="printing" if started else "queued",
        kind=new.kind,
        content=bodies.unpack(bodies.pack(new.content_json, new.rendered), new.rendered),
        rendered=new.rendered, profile=new.profile, request_hash=new.request_hash,
        idempotency_key=new.idempotency_key, order_ref=new.order_ref,
        submitted_by=new.submitted_by, created_at=at, printed_at=None,
        paper_mm=None if new.paper_mm is None else float(new.paper_mm), cancelled_at=None,
        cancelled_by=None, prints=(first,), source=new.source,
        source_detail=None if detail is None else json.loads(detail))


def _busy(conn: sqlite3.Connection, printer: str) -> bool:
    """Whether ``printer`` has a print queued or being sent (both by index)."""
    return bool(conn.execute(
        "SELECT EXISTS (SELECT 1 FROM prints WHERE printer = ? AND state = 'queued') "
        "OR EXISTS (SELECT 1 FROM prints WHERE state = 'sending' AND printer = ?)",
        (printer, printer),
    ).fetchone()[0])


def _check_confirmation(confirmation: str) -> None:
    if confirmation not in CONFIRMATIONS:
        raise ValueError(f"unknown confirmation {confirmation!r}")


def _print_row(conn: sqlite3.Connection, print_id: int) -> sqlite3.Row:
    """A print's row read on ``conn`` (in a group commit: the leader's connection)."""
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    row: sqlite3.Row | None = cur.execute(
        "SELECT * FROM prints WHERE id = ?", (print_id,)).fetchone()
    if row is None:
        raise NotFound(f"print {print_id} not found")
    return row


class ReceiptStore(TroubleStore):
    """``journal.receipts``: submissions, the spooler's transitions, reprints, cancels."""

    # -- submission ---------------------------------------------------------------------------

    @guarded
    def submit(
        self,
        *,
        printer: str,
        kind: str,
        content_json: str,
        rendered: bytes,
        profile: str,
        request_hash: str,
        idempotency_key: str | None,
        order_ref: str | None,
        submitted_by: str | None,
        paper_mm: float | None = None,
        source: str = "api",
        source_detail: Mapping[str, object] | None = None,
        failed: str | None = None,
        start: bool = False,
    ) -> tuple[Receipt, bool]:
        """Journal a receipt and its first print. Returns (receipt, created).

        A known ``idempotency_key`` with the same ``request_hash`` returns the existing
        receipt and inserts nothing; with another hash it is a ``Conflict``.

        ``failed``: the reason its client was already told it did not print (an ePOS-Print
        error answer): the receipt is journaled ``failed`` and never printed by itself; the
        app resends it, and a cashier's reprint (marked) is the only way it reaches paper.

        ``start``: see ``NewReceipt.start``.
        """
        new = NewReceipt(
            printer=printer, kind=kind, content_json=content_json, rendered=rendered,
            profile=profile, request_hash=request_hash, idempotency_key=idempotency_key,
            order_ref=order_ref, submitted_by=submitted_by, paper_mm=paper_mm, source=source,
            source_detail=source_detail, failed=failed, start=start)
        db = self._db
        # Concurrent submissions share one durable commit (``groupcommit``).
        receipt_id, created, built = group_for(db.path).run(db.tx, self._inserter(new))
        return built or load_receipt(db, receipt_id), created

    def submit_many(self, news: Sequence[NewReceipt]) -> list[tuple[Receipt, bool] | Exception]:
        """``submit`` for several receipts at once (the API's writer thread): they share one
        durable commit with each other and with whatever else is waiting. Each gets its
        (receipt, created), or the error ``submit`` would have raised for it alone."""
        db = self._db
        try:
            workers = [self._inserter(new) for new in news]
            outcomes = group_for(db.path).run_many(db.tx, workers)
        except Exception as exc:
            return [self._error(exc)] * len(news)
        out: list[tuple[Receipt, bool] | Exception] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                out.append(self._error(outcome))
                continue
            receipt_id, created, built = outcome
            try:
                out.append((built or self._load(receipt_id), created))
            except Exception as exc:
                out.append(self._error(exc))
        return out

    @guarded
    def _load(self, receipt_id: int) -> Receipt:
        return load_receipt(self._db, receipt_id)

    def _error(self, exc: BaseException) -> Exception:
        """What ``guarded`` makes of ``exc``: a SQLite error as the journal's own."""
        try:
            self._raise(exc)
        except Exception as mapped:
            return mapped
        raise AssertionError("unreachable")  # pragma: no cover

    @guarded
    def _raise(self, exc: BaseException) -> None:
        raise exc

    def _inserter(self, new: NewReceipt) -> Callable[[sqlite3.Connection], Inserted]:
        """The work of journaling ``new``, for a savepoint of a (group) transaction."""
        if new.kind not in RECEIPT_KINDS:
            raise ValueError(f"unknown receipt kind {new.kind!r}")
        if new.source not in RECEIPT_SOURCES:
            raise ValueError(f"unknown receipt source {new.source!r}")
        db = self._db
        detail = json.dumps(dict(new.source_detail)) if new.source_detail else None
        printer, idempotency_key, failed = new.printer, new.idempotency_key, new.failed

        def insert(conn: sqlite3.Connection) -> Inserted:
            # Runs in a savepoint of a transaction that may be another thread's: only
            # ``conn`` touches the database (``db`` lends its clock and disk check).
            if idempotency_key is not None:
                existing = conn.execute(
                    "SELECT id, request_hash FROM receipts WHERE idempotency_key = ?",
                    (idempotency_key,),
                ).fetchone()
                if existing is not None:
                    if existing[1] != new.request_hash:
                        raise Conflict(
                            f"idempotency key {idempotency_key!r} was already used for a "
                            f"different request (receipt {existing[0]})",
                            code="idempotency_conflict",
                        )
                    return int(existing[0]), False, None
            db.admit()  # a replay above needs no space
            now = db.now()
            # Straight to sending only when it is the printer's one print: never ahead of
            # another's queue or beside a print in flight.
            start = new.start and failed is None and not _busy(conn, printer)
            cur = conn.execute(
                """
                INSERT INTO receipts (printer, state, kind, profile, request_hash,
                                      idempotency_key, order_ref, submitted_by, created_at,
                                      paper_mm, source, source_detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (printer, "printing" if start else "queued", new.kind, new.profile,
                 new.request_hash,
                 idempotency_key, new.order_ref, new.submitted_by, now, new.paper_mm,
                 new.source, detail),
            )
            assert cur.lastrowid is not None
            receipt_id = cur.lastrowid
            conn.execute(
                "INSERT INTO receipt_bodies (receipt_id, content, rendered) VALUES (?, ?, ?)",
                (receipt_id, bodies.pack(new.content_json, new.rendered),
                 sqlite3.Binary(new.rendered)),
            )
            print_id = insert_print(conn, receipt_id=receipt_id, printer=printer,
                                    kind="original", attempt=1, created_at=now, reason=failed,
                                    state="sending" if start else "queued",
                                    sent_at=now if start else None)
            if failed:  # as fail_print() leaves a print, in the same transaction
                mark_failed(conn, print_id=print_id, receipt_id=receipt_id, printer=printer,
                            reason=failed, now=now)
            # A test print is not a sale: counted apart (receiptd_receipts_submitted_total
            # counts what the shop sold).
            count(conn, printer, "test_prints" if new.source == "doctor" else "submitted", 1)
            if failed:  # states and reasons mark_failed wrote: read back once committed
                return receipt_id, True, None
            return receipt_id, True, _journaled(new, receipt_id, print_id, parse_ts(now),
                                                detail, start)

        return insert

    # -- the spooler's transitions ------------------------------------------------------------

    @guarded
    def next_print(self, printer: str) -> Print | None:
        """The print to send next: queued interrupted retries first, then FIFO by id. A
        print row too damaged to read fails (``fail_damaged``) instead of blocking the
        queue."""
        while True:
            row = self._db.row(
                """
                SELECT * FROM prints WHERE printer = ? AND state = 'queued'
                ORDER BY (kind != 'interrupted_retry'), id LIMIT 1
                """,
                (printer,),
            )
            if row is None:
                return None
            job = self.readable(row)
            if job is not None:
                return job

    @guarded
    def start_print(self, print_id: int) -> Print:
        """``queued → sending``: call just before the first byte goes out. Committed with the
        submissions arriving meanwhile (``groupcommit``): one fsync for them all, and no
        sleeping in SQLite's busy handler while they commit."""
        db = self._db

        def start(conn: sqlite3.Connection) -> Print:
            started = self._start(conn, print_id)
            if isinstance(started, str):
                raise Conflict(f"print {print_id} is {started}, not queued", code="not_queued")
            return started

        return group_for(db.path).run(db.tx, start)

    @guarded
    def finish_then_start(self, confirmed: Sequence[tuple[int, str]],
                          then: int) -> tuple[list[Print], Print | None]:
        """Prints the printer confirmed (``sending → printed``, each with its confirmation)
        and the next print's ``queued → sending``, in one commit: the first byte of the next
        print waits for one fsync instead of two, and nothing is on disk sooner or later than
        with two commits. The next print is not started (None) if it is no longer queued (a
        cancel came first); the confirmations are committed all the same."""
        for _, confirmation in confirmed:
            _check_confirmation(confirmation)
        db = self._db

        def finish_then_start(conn: sqlite3.Connection) -> tuple[list[Print], Print | None]:
            now = db.now()  # one commit, one moment: the next started as these finished
            done = [self._finish(conn, print_id, confirmation, now)
                    for print_id, confirmation in confirmed]
            started = self._start(conn, then, now)
            return done, None if isinstance(started, str) else started

        return group_for(db.path).run(db.tx, finish_then_start)

    def _start(self, conn: sqlite3.Connection, print_id: int,
               now: str | None = None) -> Print | str:
        """``queued → sending`` on ``conn``; the print's state instead if it is not queued."""
        p = _print_row(conn, print_id)
        if p["state"] != "queued":
            return str(p["state"])
        now = now or self._db.now()
        conn.execute("UPDATE prints SET state = 'sending', sent_at = ? WHERE id = ?",
                     (now, print_id))
        conn.execute(
            "UPDATE receipts SET state = 'printing' WHERE id = ? AND state = 'queued'",
            (p["receipt_id"],),
        )
        # The row read above, as the update left it: no second read before the first byte.
        return dataclasses.replace(print_from(p), state="sending", sent_at=parse_ts(now))

    @staticmethod
    def _sending(conn: sqlite3.Connection, print_id: int) -> sqlite3.Row:
        """The print's row on ``conn``; ``Conflict`` unless it is ``sending``."""
        p = _print_row(conn, print_id)
        if p["state"] != "sending":
            raise Conflict(f"print {print_id} is {p['state']}, not sending", code="not_sending")
        return p

    @guarded
    def unstart_print(self, print_id: int, reason: str) -> Print:
        """``sending → queued`` when provably nothing was sent (link failed before byte one)."""
        with self._db.tx() as conn:
            p = self._sending(conn, print_id)
            conn.execute(
                "UPDATE prints SET state = 'queued', sent_at = NULL, outcome = ? WHERE id = ?",
                (f"not started: {reason}", print_id),
            )
            conn.execute(
                "UPDATE receipts SET state = 'queued' WHERE id = ? AND state = 'printing'",
                (p["receipt_id"],),
            )
            return load_print(self._db, print_id)

    @guarded
    def finish_print(self, print_id: int, *, confirmation: str) -> Print:
        """``sending → printed``, once the printer confirmed it (process ID or clean status).
        Committed with the submissions arriving meanwhile, as ``start_print`` is."""
        _check_confirmation(confirmation)
        db = self._db
        return group_for(db.path).run(
            db.tx, lambda conn: self._finish(conn, print_id, confirmation))

    def _finish(self, conn: sqlite3.Connection, print_id: int, confirmation: str,
                now: str | None = None) -> Print:
        """``sending → printed`` on ``conn``, with the counters it moves."""
        p = self._sending(conn, print_id)
        now = now or self._db.now()
        outcome = f"confirmed by {confirmation.replace('_', ' ')}"
        conn.execute(
            """
            UPDATE prints SET state = 'printed', finished_at = ?, outcome = ?, confirmation = ?
            WHERE id = ?
            """,
            (now, outcome, confirmation, print_id),
        )
        receipt_state, paper_mm = conn.execute(  # two columns: not the body
            "SELECT state, paper_mm FROM receipts WHERE id = ?", (p["receipt_id"],)
        ).fetchone()
        if receipt_state != "printed":
            conn.execute(
                """
                UPDATE receipts SET state = 'printed', printed_at = coalesce(printed_at, ?)
                WHERE id = ?
                """,
                (now, p["receipt_id"]),
            )
            count(conn, p["printer"], "printed_originals", 1)
        else:
            count(conn, p["printer"], "copies_printed", 1)
        if paper_mm is not None:
            count(conn, p["printer"], "paper_mm", float(paper_mm))
        return dataclasses.replace(
            print_from(p), state="printed", finished_at=parse_ts(now), outcome=outcome,
            confirmation=confirmation)

    def _interrupt(self, conn: sqlite3.Connection, p: sqlite3.Row, reason: str,
                   marker: str | None, max_attempts: int | None) -> int:
        now = self._db.now()
        conn.execute(
            "UPDATE prints SET state = 'interrupted', finished_at = ?, outcome = ? WHERE id = ?",
            (now, reason, p["id"]),
        )
        in_a_row = p["attempt"] - p["hold_base"]
        held = max_attempts is not None and in_a_row >= max_attempts
        retry_id = insert_print(
            conn, receipt_id=p["receipt_id"], printer=p["printer"], kind="interrupted_retry",
            attempt=p["attempt"] + 1, created_at=now, copy_number=p["copy_number"],
            retry_of=p["id"], marker=marker, requested_by=p["requested_by"],
            reason=f"held after {in_a_row} interrupted attempts in a row: {reason}" if held
            else reason,
            state="held" if held else "queued", hold_base=p["hold_base"],
        )
        conn.execute(
            "UPDATE receipts SET state = ? WHERE id = ? AND state IN ('printing', 'queued')",
            ("held" if held else "queued", p["receipt_id"]),
        )
        count(conn, p["printer"], "interrupted_retries", 1)
        if held:
            count(conn, p["printer"], "held", 1)
        return retry_id

    @guarded
    def interrupt_print(self, print_id: int, *, reason: str, marker: str | None = None,
                        max_attempts: int | None = None) -> Print:
        """``sending → interrupted`` and queue its marked retry, atomically; returns the retry.

        The retry keeps ``copy_number`` (an interrupted copy stays a marked copy) and is
        taken before the printer's other queued prints (see module docstring). Once
        ``max_attempts`` attempts in a row were interrupted, the retry is ``held`` instead:
        it waits for a person (``release_held``) rather than loop, feeding paper and
        holding back every receipt behind it."""
        with self._db.tx() as conn:
            p = self._sending(conn, print_id)
            retry_id = self._interrupt(conn, p, reason, marker, max_attempts)
            return load_print(self._db, retry_id)

    @guarded
    def recover_in_doubt(self, *, printer: str | None = None, reason: str = "daemon restart",
                         max_attempts: Mapping[str, int] | None = None) -> list[Print]:
        """Every print still ``sending`` (of ``printer``, or of all) lost its sender between
        its first byte and its confirmation: at daemon start, the process died; while
        running, the printer's spooler failed. Interrupt each and return the retries
        (queued, or held past the printer's ``max_attempts``)."""
        db = self._db
        limits = max_attempts or {}
        with db.tx() as conn:
            rows = db.rows(
                "SELECT * FROM prints WHERE state = 'sending' AND (? IS NULL OR printer = ?) "
                "ORDER BY id",
                (printer, printer),
            )
            retry_ids = [self._interrupt(conn, p, reason, None, limits.get(p["printer"]))
                         for p in rows]
            return [load_print(db, i) for i in retry_ids]

    # -- the cashier and the admin ------------------------------------------------------------

    @guarded
    def add_reprint(
        self,
        receipt_id: int,
        *,
        requested_by: str | None,
        reason: str | None,
        marker: str | None = None,
    ) -> Print:
        """Queue a cashier's copy of a printed receipt (``copy_number`` = copies asked + 1),
        or of a failed one (one its client was told did not print, say): a copy is marked,
        so it can never pass for a first print the app resent.

        A receipt with a print ``held`` after too many interrupted attempts gets that print
        released instead (the cashier's word that the printer is fit again): no second copy
        is added while one waits. Returns the print queued."""
        released = self.release_held(receipt_id=receipt_id, by=requested_by)
        if released:
            return released[0]
        db = self._db
        with db.tx() as conn:
            r = receipt_row(db, receipt_id)
            if r["state"] not in ("printed", "failed"):
                raise Conflict(
                    f"receipt {receipt_id} is {r['state']}: only a printed (or failed) "
                    "receipt can be reprinted",
                    code="not_printed",
                )
            db.admit()  # after the state check: a refusal for the state needs no space
            n = db.row(
                "SELECT count(*) AS n FROM prints WHERE receipt_id = ? AND kind = 'reprint'",
                (receipt_id,),
            )
            copy_number = (n["n"] if n is not None else 0) + 1
            print_id = insert_print(
                conn, receipt_id=receipt_id, printer=r["printer"], kind="reprint", attempt=1,
                created_at=db.now(), copy_number=copy_number, marker=marker,
                requested_by=requested_by, reason=reason,
            )
            count(conn, r["printer"], "reprints_requested", 1)
            return load_print(db, print_id)

    @guarded
    def fail_unsent(self, receipt_id: int, *, reason: str) -> list[Print] | None:
        """Its client was told the receipt failed (after it was accepted): fail every print
        of it still ``queued`` or ``held``, in one transaction, so none comes out by itself.

        None while a print of it is ``sending`` (the spooler confirms or interrupts it;
        ask again after): a print already on its way is never marked failed. Otherwise the
        prints failed (maybe none), the receipt ``failed`` unless it printed."""
        db = self._db
        with db.tx() as conn:
            receipt_row(db, receipt_id)  # NotFound
            prints = db.rows("SELECT id, state, printer FROM prints WHERE receipt_id = ?",
                             (receipt_id,))
            if any(p["state"] == "sending" for p in prints):
                return None
            now = db.now()
            failed = [p for p in prints if p["state"] in ("queued", "held")]
            for p in failed:
                mark_failed(conn, print_id=p["id"], receipt_id=receipt_id,
                            printer=p["printer"], reason=reason, now=now)
            return [load_print(db, p["id"]) for p in failed]

    @guarded
    def cancel(self, receipt_id: int, *, by: str | None) -> Receipt:
        """Cancel a receipt of which nothing was ever sent; idempotent on a cancelled one."""
        db = self._db
        with db.tx() as conn:
            r = receipt_row(db, receipt_id)
            if r["state"] == "cancelled":
                return load_receipt(db, receipt_id)
            sent = db.row(
                """
                SELECT id, state FROM prints WHERE receipt_id = ? AND sent_at IS NOT NULL
                ORDER BY id LIMIT 1
                """,
                (receipt_id,),
            )
            if sent is not None:
                raise Conflict(
                    f"receipt {receipt_id} cannot be cancelled: print {sent['id']} was already "
                    f"sent ({sent['state']})",
                    code="already_sent",
                )
            now = db.now()
            conn.execute(
                """
                UPDATE prints SET state = 'cancelled', finished_at = ?, outcome = ?
                WHERE receipt_id = ? AND state = 'queued'
                """,
                (now, f"cancelled by {by or 'unknown'}", receipt_id),
            )
            conn.execute(
                """
                UPDATE receipts SET state = 'cancelled', cancelled_at = ?, cancelled_by = ?
                WHERE id = ?
                """,
                (now, by, receipt_id),
            )
            count(conn, r["printer"], "cancelled", 1)
            return load_receipt(db, receipt_id)

    # -- by id --------------------------------------------------------------------------------

    @guarded
    def get(self, receipt_id: int) -> Receipt:
        """The receipt with all its prints; ``NotFound`` if there is none."""
        return load_receipt(self._db, receipt_id)

    @guarded
    def state_of(self, receipt_id: int) -> tuple[str, str | None]:
        """A receipt's state and order reference, for an event about one of its prints: two
        small columns, not the receipt, its body and its prints. ``NotFound`` if there is
        none."""
        row = self._db.row("SELECT state, order_ref FROM receipts WHERE id = ?", (receipt_id,))
        if row is None:
            raise NotFound(f"receipt {receipt_id} not found")
        return str(row["state"]), row["order_ref"]

    @guarded
    def get_print(self, print_id: int) -> Print:
        return load_print(self._db, print_id)
