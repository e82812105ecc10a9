"""Raw ESC/POS from an app that thinks it talks to the printer: keep what may print, drop and
count what may not, and pick out the questions the app asks the printer.

A virtual printer port (``receiptd.vport``) cannot refuse a job the way the API can (AppSocket
has no error channel, and the app would only print it again), so instead of ``check_raw``'s
all-or-nothing it walks the bytes with the same tables, command by command as the printer reads
them, and:

* keeps text, control bytes and every allowed command as they are;
* drops each forbidden command whole (its length is known, so the walk stays in step) and
  counts it by name: the journal records what the app asked for and did not get;
* hands out the status questions (``DLE EOT n``, ``GS a n``, ``GS r n``, ``GS I n``,
  ``DLE DC4 7 m``) and process IDs (``GS ( H`` fn 48) as ``Query`` values, in order, as soon
  as they are complete: the port answers them itself, at once, and never forwards them;
* turns the real-time drawer pulse ``DLE DC4 1 m t`` into the buffered ``ESC p`` kick, so the
  drawer still opens (with the receipt, not before it);
* clears one dot where raster data holds a real-time sequence (as receiptd's own renderer
  does), because the printer would execute it inside the image.

It takes bytes as they arrive (``feed``), so a question is seen as soon as its last byte is.
What comes out (``finish``) passes ``check_raw``, or the job is refused with its code: a
command the tables do not know (its length is unknown, so nothing after it can be trusted),
bad parameters, double-byte text that would swallow a command, or a real-time sequence that is
not in raster data. A command cut off by the end of the job is dropped (counted): the app went
away in the middle of it, and the printer would have waited for bytes that never come.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from receiptd.document.raw.check import check_raw
from receiptd.document.raw.syntax import (
    FORBIDDEN,
    TRUNCATED,
    UNKNOWN,
    Family,
    Fixed,
    Forbidden,
    Spec,
    Var,
    name_at,
    param,
)
from receiptd.document.raw.tables import DLE_COMMANDS, PREFIXES
from receiptd.document.raw.text import check_text
from receiptd.errors import RawRejected

_KANJI_ON: Final = b"\x1c\x26"  # FS &
_KANJI_OFF: Final = b"\x1c\x2e"  # FS .
_REALTIME: Final = (b"\x10\x04", b"\x10\x05", b"\x10\x14")

# How many parameter bytes follow a forbidden command that is not length-prefixed (after its
# last name byte). Forbidden commands missing here (GS D, FS g, FS q: NV definitions whose
# length depends on their data) refuse the job: the walk could not stay in step past them.
_FORBIDDEN_PARAMS: Final[Mapping[str, int]] = {
    "ESC =": 1, "ESC L": 0, "ESC u": 1, "ESC v": 0,
    "GS :": 0, "GS I": 1, "GS ^": 3, "GS a": 1, "GS g": 4, "GS j": 1, "GS r": 1,
    "FS C": 1,
}
# Questions: answered by the port, never forwarded.
_QUESTIONS: Final = frozenset({"GS I", "GS a", "GS r"})
# DLE DC4 fn -> parameter bytes after fn (Epson: 1 pulse, 2 power off, 3 buzzer, 7 status
# now, 8 clear buffers).
_DC4_PARAMS: Final[Mapping[int, int]] = {1: 2, 2: 2, 3: 5, 7: 1, 8: 7}
# Raster commands whose data may hold a real-time sequence: (name, header bytes).
_RASTER_HEADERS: Final[Mapping[str, int]] = {"GS v": 8, "ESC *": 5, "GS ( L fn 112": 15}
_PID_FN: Final = 48


@dataclass(frozen=True)
class Query:
    """A question the app asked the printer: ``name`` (``"DLE EOT"``, ``"GS a"``, ``"GS r"``,
    ``"GS I"``, ``"DLE DC4 7"``, ``"GS ( H fn 48"``), its parameter ``n`` and, for a process
    ID, the four ID bytes. ``at`` is how many kept bytes came before it: a process ID covers
    them."""

    name: str
    n: int = 0
    pid: bytes = b""
    at: int = 0


@dataclass
class Sanitized:
    """A finished job: the bytes to print (they pass ``check_raw``) and what was done."""

    data: bytes
    dropped: dict[str, int] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)
    converted: dict[str, int] = field(default_factory=dict)
    dots_cleared: int = 0

    @property
    def empty(self) -> bool:
        """Nothing that prints: no bytes, or only ``ESC @`` and NULs (an app that resets the
        printer before asking its status)."""
        return not self.data.replace(b"\x1b\x40", b"").replace(b"\x00", b"")


class _More(Exception):
    """The command at the walk's position is not complete yet: wait for more bytes, until the
    data reaches ``end`` if that is known (0: any byte may do). ``text``: it is a run of text,
    which only a control byte ends."""

    def __init__(self, end: int = 0, *, text: bool = False) -> None:
        super().__init__(end)
        self.end, self.text = end, text


PROCESS_ID: Final = "GS ( H fn 48"


class Sanitizer:
    """One job's bytes, walked as they arrive. ``feed`` returns the questions completed by
    the new bytes; ``finish`` the job. Raises ``RawRejected`` for a job that cannot print.

    With ``end_at_process_id``, a process ID that follows print data ends the job (``ended``):
    the app waits for its answer, which can only come once the job is printed. The bytes
    after it (``rest``) are the next job's first bytes."""

    def __init__(self, *, end_at_process_id: bool = False) -> None:
        self._end_at_pid = end_at_process_id
        self.ended = False
        self._pending = b""  # bytes not walked yet (an incomplete command or text run)
        # Bytes are walked again only when they can finish what the walk waits for: a long
        # image or text run trickling in byte by byte costs linear time, not quadratic.
        self._chunks: list[bytes] = []  # arrived since the last walk
        self._have = 0  # len(self._pending) + the chunks
        self._need = 0  # walk again once there are this many
        self._in_text = False  # the walk waits at the end of a run of text
        self._kept: list[bytes] = []
        self._kept_len = 0
        self._kanji = False  # an FS & is in force
        self._dropped: Counter[str] = Counter()
        self._answered: Counter[str] = Counter()
        self._converted: Counter[str] = Counter()
        self._dots = 0
        self._first = True  # no byte kept yet (a leading 04/05/14 is dropped)
        self.received = 0

    def feed(self, data: bytes) -> list[Query]:
        if self.ended:
            raise ValueError("the job ended at a process ID: take the rest() for the next one")
        self.received += len(data)
        self._chunks.append(data)
        self._have += len(data)
        if self._have < self._need or (self._in_text and data and min(data) >= 0x20):
            return []
        return self._walk(final=False)

    def rest(self) -> bytes:
        """The bytes not walked yet (after the process ID that ended the job)."""
        rest = b"".join([self._pending, *self._chunks])
        self._pending, self._chunks, self._have = b"", [], 0
        self.received -= len(rest)
        return rest

    def finish(self) -> tuple[Sanitized, list[Query]]:
        """The job ends here: walk the rest, drop a command the end cut off, check it all."""
        queries = self._walk(final=True)
        if self._kanji:  # the app left Kanji mode on: the next receipt must not start in it
            self._keep(_KANJI_OFF)
            self._converted["FS . added"] += 1
        out = b"".join(self._kept)
        if out.endswith(b"\x10"):  # a trailing DLE would join the daemon's next byte
            out += b"\x00"
        check_raw(out)
        return Sanitized(out, dict(self._dropped), dict(self._answered), dict(self._converted),
                         self._dots), queries

    # -- the walk ----------------------------------------------------------------------------

    def _walk(self, final: bool) -> list[Query]:
        data = b"".join([self._pending, *self._chunks]) if self._chunks else self._pending
        self._chunks, self._need, self._in_text = [], 0, False
        i, n = 0, len(data)
        queries: list[Query] = []
        while i < n:
            try:
                i = self._step(data, i, final, queries)
                if (self._end_at_pid and queries and queries[-1].name == PROCESS_ID
                        and queries[-1].at > 0):
                    self.ended = True
                    break
            except _More as more:
                self._need = more.end - i if more.end else n - i + 1
                self._in_text = more.text
                if final:
                    self._dropped["truncated " + name_at(data, i, min(n, i + 3))] += 1
                    i = n
                break
        self._pending = data[i:]
        self._have = len(self._pending)
        return queries

    def _step(self, data: bytes, i: int, final: bool, queries: list[Query]) -> int:
        n = len(data)
        b = data[i]
        if b >= 0x20:  # a run of text, up to the next control byte
            end = i + 1
            while end < n and data[end] >= 0x20:
                end += 1
            if end == n and not final:
                raise _More(text=True)
            check_text(data, i, end, kanji_from=0 if self._kanji else None)
            self._keep(data[i:end])
            return end
        table = PREFIXES.get(b)
        if table is not None:
            return self._command(data, i, table, queries)
        if b == 0x10:
            if i + 1 >= n:
                if not final:
                    raise _More
            elif data[i + 1] in DLE_COMMANDS:
                return self._realtime(data, i, queries)
        if self._first and b in (0x04, 0x05, 0x14):
            self._dropped[f"control {b:02X} first"] += 1  # a no-op that a DLE could complete
            return i + 1
        self._keep(data[i:i + 1])  # a one-byte control code (LF, CR, HT, FF, CAN, ...)
        return i + 1

    def _command(self, data: bytes, start: int, table: Mapping[int, Spec],
                 queries: list[Query]) -> int:
        pos = start + 1
        while True:
            spec = table.get(_param(data, pos, start))
            if spec is None:
                raise RawRejected(
                    f"unknown command {name_at(data, start, pos + 1)} at offset"
                    f" {self.received - len(data) + start}: without its length nothing after"
                    " it can be checked", code=UNKNOWN)
            if isinstance(spec, Family):
                table, pos = spec.members, pos + 1
                continue
            if isinstance(spec, Forbidden):
                return self._forbidden(data, start, pos + 1, spec, queries)
            if isinstance(spec, Fixed):
                end = pos + 1 + spec.params
            else:
                try:
                    end = self._var_end(data, start, pos + 1, spec)
                except _Drop as drop:
                    if drop.end > len(data):
                        raise _More(drop.end) from None
                    self._dropped[drop.name] += 1
                    return drop.end
            if end > len(data):
                raise _More(end)
            if data.startswith(_KANJI_ON, start):
                self._kanji = True
            elif data.startswith(_KANJI_OFF, start):
                self._kanji = False
            self._keep(self._defang(spec.name, data, start, end))
            return end

    def _var_end(self, data: bytes, start: int, pos: int, spec: Var) -> int:
        try:
            return spec.end(data, start, pos)
        except RawRejected as exc:
            if exc.code == TRUNCATED:
                raise _More from None
            if exc.code != FORBIDDEN:
                raise
        # A length-prefixed family member whose function is forbidden (GS ( k fn 82, the
        # GS ( L / GS 8 L functions that answer or write NV memory): drop it whole.
        width = 4 if spec.name.startswith("GS 8") else 2
        length = sum(_param(data, pos + k, start) << (8 * k) for k in range(width))
        fn = _param(data, pos + width + 1, start)  # the body is m fn ... (GS ( k: cn fn ...)
        raise _Drop(f"{spec.name} fn {fn}", pos + width + length)

    def _forbidden(self, data: bytes, start: int, pos: int, spec: Forbidden,
                   queries: list[Query]) -> int:
        name = spec.name
        if "(" in name:  # GS ( X, FS ( X: a two-byte length, then the body
            length = _param(data, pos, start) | _param(data, pos + 1, start) << 8
            end = pos + 2 + length
            if end > len(data):
                raise _More(end)
            body = data[pos + 2:end]
            if name == "GS ( H" and length == 6 and body[0] == _PID_FN:
                queries.append(Query(PROCESS_ID, pid=body[2:6], at=self._kept_len))
                self._answered[PROCESS_ID] += 1
                return end
            self._dropped[f"{name} fn {body[0]}" if body else name] += 1
            return end
        params = _FORBIDDEN_PARAMS.get(name)
        if params is None:
            raise RawRejected(
                f"{name} at offset {self.received - len(data) + start}: {spec.reason}; its length"
                " depends on its data, so nothing after it can be checked", code=FORBIDDEN)
        end = pos + params
        if end > len(data):
            raise _More(end)
        if name in _QUESTIONS:
            self._ask(queries, Query(name, data[pos] if params else 0, at=self._kept_len))
        else:
            self._dropped[name] += 1
        return end

    def _realtime(self, data: bytes, start: int, queries: list[Query]) -> int:
        kind = data[start + 1]
        if kind == 0x04:  # DLE EOT n (n = 7, 8 take one more byte)
            n = _param(data, start + 2, start)
            end = start + (4 if n in (7, 8) else 3)
            if end > len(data):
                raise _More(end)
            if 1 <= n <= 4:
                self._ask(queries, Query("DLE EOT", n, at=self._kept_len))
            else:
                self._dropped[f"DLE EOT {n}"] += 1
            return end
        if kind == 0x05:  # DLE ENQ n: recovery is the operator's, through receiptd
            if start + 3 > len(data):
                raise _More(start + 3)
            self._dropped["DLE ENQ"] += 1
            return start + 3
        fn = _param(data, start + 2, start)  # DLE DC4 fn ...
        params = _DC4_PARAMS.get(fn)
        if params is None:
            raise RawRejected(
                f"unknown real-time command DLE DC4 {fn} at offset"
                f" {self.received - len(data) + start}", code=UNKNOWN)
        end = start + 3 + params
        if end > len(data):
            raise _More(end)
        if fn == 7:
            self._ask(queries, Query("DLE DC4 7", data[start + 3], at=self._kept_len))
        elif fn == 1:  # pulse now -> ESC p with the receipt: m, on and off time in 2 ms
            m, t = data[start + 3], data[start + 4]
            ms2 = min(255, max(1, t) * 50)
            self._keep(b"\x1b\x70" + bytes([m & 1, ms2, ms2]))
            self._converted["DLE DC4 1 -> ESC p"] += 1
        else:
            self._dropped[f"DLE DC4 {fn}"] += 1
        return end

    # -- helpers -----------------------------------------------------------------------------

    def _ask(self, queries: list[Query], query: Query) -> None:
        queries.append(query)
        self._answered[f"{query.name} {query.n}"] += 1

    def _keep(self, piece: bytes) -> None:
        if piece:
            self._kept.append(piece)
            self._kept_len += len(piece)
            self._first = False

    def _defang(self, name: str, data: bytes, start: int, end: int) -> bytes:
        cmd = data[start:end]
        if name == "GS ( L" and len(cmd) > 6 and cmd[6] == 112:
            name = "GS ( L fn 112"
        header = _RASTER_HEADERS.get(name)
        if header is None or b"\x10" not in cmd[header:]:
            return cmd
        body = cmd[header:]
        for seq in _REALTIME:
            self._dots += body.count(seq)
            body = body.replace(seq, b"\x00" + seq[1:])
        return cmd[:header] + body


class _Drop(Exception):
    def __init__(self, name: str, end: int) -> None:
        super().__init__(name)
        self.name, self.end = name, end


def _param(data: bytes, pos: int, start: int) -> int:
    if pos >= len(data):
        raise _More(pos + 1)
    return param(data, pos, start)
