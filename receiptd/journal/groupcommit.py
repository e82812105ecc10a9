"""Group commit: submissions arriving together share one durable commit.

Every submission must be on disk (``synchronous=FULL``: one fsync per commit) before it is
acknowledged. Made one transaction each, concurrent submissions queue on SQLite's write lock,
whose busy handler sleeps in steps of milliseconds, and each pays its own fsync. Here the
first submitter to find no commit under way leads: it takes every submission waiting at that
moment, runs each in a savepoint of one transaction on its own connection, and commits once;
the others wait on a plain lock and wake the instant their commit is done (or lead the next
batch if theirs had not started). A lone submission commits at once, on its own thread:
there is no writer thread to hand over to.

A submission's failure (an idempotency conflict, the disk reserve) rolls back to its
savepoint and is raised to its own caller only; a failed commit is raised to every caller of
the batch, none of which was acknowledged.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: One group per journal file in this process (its journals are one per thread).
_GROUPS: dict[str, GroupCommit] = {}
_GROUPS_LOCK = threading.Lock()

Work = Callable[[sqlite3.Connection], Any]


class _Item(Generic[T]):
    __slots__ = ("error", "finished", "value", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], T]) -> None:
        self.work = work
        self.finished = False
        self.value: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class GroupCommit:
    """Batches write transactions of one journal file (see the module's docstring)."""

    def __init__(self) -> None:
        self._pending: list[_Item[Any]] = []
        self._mutex = threading.Lock()  # guards _pending only, never held across I/O
        self._leader = threading.Lock()  # held by the thread committing a batch
        self.batches = 0
        self.items = 0

    def run(self, begin: Callable[[], Any], work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` inside a committed transaction, possibly shared with others.

        ``begin()`` is the caller's own transaction context manager factory (its journal's
        ``tx``): used only if the caller leads the batch, so ``work`` must use the connection
        it is given, never its own."""
        item: _Item[T] = _Item(work)
        with self._mutex:
            self._pending.append(item)
        with self._leader:
            if not item.finished:
                with self._mutex:
                    batch, self._pending = self._pending, []
                self._commit(begin, batch)
        return item.outcome()

    def run_many(self, begin: Callable[[], Any],
                 works: list[Callable[[sqlite3.Connection], Any]]) -> list[Any]:
        """``run`` for several submissions at once, from one thread (the API's writer): they
        join the batch together. Returns each one's value, or the exception it raised."""
        items: list[_Item[Any]] = [_Item(work) for work in works]
        with self._mutex:
            self._pending.extend(items)
        with self._leader:
            if not all(item.finished for item in items):
                with self._mutex:
                    batch, self._pending = self._pending, []
                self._commit(begin, batch)
        return [item.value if item.error is None else item.error for item in items]

    def _commit(self, begin: Callable[[], Any], batch: list[_Item[Any]]) -> None:
        if len(batch) == 1:
            self._commit_alone(begin, batch[0])
            return
        try:
            with begin() as conn:
                for item in batch:
                    conn.execute("SAVEPOINT submission")
                    try:
                        item.value = item.work(conn)
                    except Exception as exc:
                        if not conn.in_transaction:  # SQLite rolled everything back (full
                            raise                    # disk, I/O error): the batch fails
                        conn.execute("ROLLBACK TO submission")  # this submission only
                        item.error = exc
                    conn.execute("RELEASE submission")
        except BaseException as exc:  # nothing of the batch is on disk
            for item in batch:
                if item.error is None:
                    item.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self.batches += 1
            self.items += len(batch)
            for item in batch:
                item.finished = True

    def _commit_alone(self, begin: Callable[[], Any], item: _Item[Any]) -> None:
        """A batch of one needs no savepoint: its failure rolls back a transaction that
        holds nothing else, which is what rolling back to its savepoint would leave."""
        try:
            with begin() as conn:
                item.value = item.work(conn)
        except BaseException as exc:
            item.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self.batches += 1
            self.items += 1
            item.finished = True


#: An absolute ``path`` as given → its group: ``realpath`` walks every component with a
#: system call, too dear for each submission (a relative name depends on the working
#: directory, so it is resolved every time).
_BY_NAME: dict[str, GroupCommit] = {}


def group_for(path: os.PathLike[str] | str) -> GroupCommit:
    """The process's group for the journal file at ``path``."""
    name = os.fspath(path)
    group = _BY_NAME.get(name)
    if group is not None:
        return group
    key = os.path.realpath(path)
    with _GROUPS_LOCK:
        group = _GROUPS.get(key)
        if group is None:
            group = _GROUPS[key] = GroupCommit()
        if os.path.isabs(name):
            _BY_NAME[name] = group
        return group
