"""What the journal writes to disk: content once, small rows per state change, where each
receipt came from, and receipts journaled as already failed."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from receiptd.journal import Journal, migrations

from .test_journal import submit

BIG = bytes(range(256)) * 1000  # 256 KB of rendered bytes, like a big raw receipt


@pytest.fixture
def j(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db") as journal:
        yield journal


def wal_growth(j: Journal, step: object) -> int:
    """Bytes the WAL grew by while ``step()`` ran, from an empty WAL."""
    j.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = Path(f"{j.path}-wal")
    before = wal.stat().st_size if wal.exists() else 0
    step()  # type: ignore[operator]
    return wal.stat().st_size - before


def test_printing_a_big_receipt_does_not_write_it_again(j: Journal) -> None:
    written_to_accept = wal_growth(
        j, lambda: submit(j, rendered=BIG, content_json='{"raw": "x"}'))
    job = j.receipts.next_print("front")
    assert job is not None

    def print_it() -> None:
        j.receipts.start_print(job.id)
        j.receipts.finish_print(job.id, confirmation="process_id")

    written_to_print = wal_growth(j, print_it)
    assert written_to_accept > len(BIG)
    # Two small transactions, a few pages each: not the 256 KB body again (it was ~2 × 260 KB
    # when a state change rewrote the whole receipt row).
    assert written_to_print < 64 * 1024, written_to_print
    assert j.receipts.get(job.receipt_id).rendered == BIG


def test_the_source_and_what_its_door_recorded_are_kept(j: Journal) -> None:
    r = submit(j, source="virtual_port",
               source_detail={"port": 9100, "peer": "127.0.0.1", "dropped": {"ESC p": 1}})
    again = j.receipts.get(r.id)
    assert again.source == "virtual_port"
    assert again.source_detail == {"port": 9100, "peer": "127.0.0.1", "dropped": {"ESC p": 1}}
    plain = submit(j)
    assert plain.source == "api"
    with pytest.raises(ValueError):
        submit(j, source="fax")
    assert [x.id for x in j.search.find(source="virtual_port")] == [r.id]
    assert [x.id for x in j.search.find(source="api")] == [plain.id]
    assert [x.id for x in j.search.find(source="cups")] == []


def test_a_receipt_its_client_was_told_failed_never_prints_by_itself(j: Journal) -> None:
    r = submit(j, failed="reported failed to the client: paper out")
    assert r.state == "failed"
    assert [(p.kind, p.state, p.reason) for p in r.prints] == [
        ("original", "failed", "reported failed to the client: paper out")]
    assert j.receipts.next_print("front") is None
    copy = j.receipts.add_reprint(r.id, requested_by="ann (cashier)", reason="app resent")
    assert (copy.kind, copy.copy_number, copy.state) == ("reprint", 1, "queued")
    nxt = j.receipts.next_print("front")
    assert nxt is not None and nxt.id == copy.id and nxt.needs_marker


def test_a_version_4_journal_keeps_every_body(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    migrations.migrate(Database(conn), applied_at="t", migrations=migrations.MIGRATIONS[:4])
    for i in range(3):
        conn.execute(
            "INSERT INTO receipts (printer, state, kind, content, rendered, profile, "
            "request_hash, created_at) VALUES ('front', 'queued', 'text', ?, ?, 'TM-T88V', "
            "'h', '2024-05-01T12:00:00.000Z')", (f'{{"text": "r{i}"}}', bytes([i]) * 10))
        conn.execute("INSERT INTO prints (receipt_id, printer, kind, state, attempt, "
                     "created_at) VALUES (?, 'front', 'original', 'queued', 1, "
                     "'2024-05-01T12:00:00.000Z')", (i + 1,))
    conn.close()

    with Journal(path) as j:
        assert migrations.schema_version(j.conn) == migrations.latest_version()
        assert j.admin.check() == ["ok"]
        for i in range(3):
            r = j.receipts.get(i + 1)
            assert (r.content, r.rendered, r.source) == (f'{{"text": "r{i}"}}',
                                                         bytes([i]) * 10, "api")
        columns = {row[1] for row in j.conn.execute("PRAGMA table_info(receipts)")}
        assert not columns & {"content", "rendered"}
        assert submit(j).id == 4


def test_purging_a_receipt_deletes_its_body(j: Journal) -> None:
    r = submit(j)
    j.receipts.cancel(r.id, by=None)
    j.conn.execute("DELETE FROM receipts WHERE id = ?", (r.id,))
    assert j.conn.execute("SELECT count(*) FROM receipt_bodies").fetchone()[0] == 0


def test_concurrent_submissions_share_commits_and_keep_their_own_errors(
    tmp_path: Path,
) -> None:
    """16 threads, each with its own journal on one file, submit at once: every receipt is
    journaled once, fewer commits than receipts were made, and one thread's idempotency
    conflict is raised to it alone."""
    import threading

    from receiptd.errors import Conflict
    from receiptd.journal.groupcommit import group_for

    path = tmp_path / "journal.db"
    Journal(path).close()
    group = group_for(path)
    batches, items = group.batches, group.items
    start = threading.Barrier(16)
    results: dict[int, object] = {}

    def client(n: int) -> None:
        with Journal(path) as j:
            start.wait()
            for k in range(10):
                key = "shared" if k == 0 else f"t{n}-{k}"
                try:
                    results[n * 100 + k] = submit(
                        j, idempotency_key=key, request_hash=f"h{n}" if k == 0 else "h",
                    ).id
                except Conflict as exc:
                    results[n * 100 + k] = exc.code
                except AssertionError:  # ``submit`` asserts created: the replay of "shared"
                    results[n * 100 + k] = "replayed"

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    with Journal(path) as j:
        ids = [v for v in results.values() if isinstance(v, int)]
        assert len(ids) == len(set(ids)) == 16 * 9 + 1  # one thread won the shared key
        assert sorted(v for v in results.values() if isinstance(v, str)) == [
            "idempotency_conflict"] * 15
        assert j.conn.execute("SELECT count(*) FROM receipts").fetchone()[0] == 16 * 9 + 1
        assert j.admin.check() == ["ok"]
    assert group.items - items == 160
    assert group.batches - batches < 160  # some commits carried several submissions


def test_failing_what_was_not_sent_never_touches_a_print_on_its_way(j: Journal) -> None:
    queued = submit(j)
    sending = submit(j)
    j.receipts.start_print(sending.prints[0].id)
    assert j.receipts.fail_unsent(sending.id, reason="client told it failed") is None
    assert j.receipts.get(sending.id).prints[0].state == "sending"

    failed = j.receipts.fail_unsent(queued.id, reason="client told it failed")
    assert failed is not None and [p.state for p in failed] == ["failed"]
    assert failed[0].outcome == "failed: client told it failed"
    assert j.receipts.get(queued.id).state == "failed"
    assert j.receipts.fail_unsent(queued.id, reason="again") == []  # settled: nothing left
    assert j.search.counters("front")["failed"] == 1


def test_a_test_print_is_not_counted_as_a_sale(j: Journal) -> None:
    submit(j)
    submit(j, source="doctor")
    counters = j.search.counters("front")
    assert (counters["submitted"], counters["test_prints"]) == (1, 1)


def stored_content(j: Journal, receipt_id: int) -> str:
    row = j.conn.execute("SELECT content FROM receipt_bodies WHERE receipt_id = ?",
                         (receipt_id,)).fetchone()
    return str(row[0])


def test_a_raw_receipts_bytes_are_stored_once(j: Journal) -> None:
    """A raw receipt's rendering ends with the very bytes its content carries in base64: the
    content is stored as a pointer into the rendering and read back as the same JSON value."""
    content_json = json.dumps({"raw": base64.b64encode(BIG).decode()}, separators=(",", ":"))
    r = submit(j, kind="raw", rendered=b"\x1b@\x1bt\x10" + BIG, content_json=content_json)
    assert stored_content(j, r.id) == f'{{"raw_tail":{len(BIG)}}}'
    assert j.receipts.get(r.id).content == content_json
    size = j.conn.execute("SELECT sum(length(content) + length(rendered)) "
                          "FROM receipt_bodies").fetchone()[0]
    assert size < len(BIG) + 64


@pytest.mark.parametrize("content_json", [
    '{"raw":"QUJD"}',            # bytes the rendering does not end with
    '{"raw":"QUJDRA"}',          # base64 that re-encoding would not give back (no padding)
    '{"raw":"QUJDRA==","x":1}',  # more than raw
    '{"text":"ABCD"}',
])
def test_content_that_is_not_the_renderings_tail_is_kept_as_it_came(
        j: Journal, content_json: str) -> None:
    r = submit(j, kind="raw", rendered=b"\x1b@xyzABCD", content_json=content_json)
    assert stored_content(j, r.id) == content_json
    assert j.receipts.get(r.id).content == content_json
