"""Where a submit's time goes, two ways.

    .venv/bin/pip install -e '.[bench]' py-spy
    python bench/profile_submit.py stages [--n 2000]
    python bench/profile_submit.py inproc [--n 300] [--html out.html]
    python bench/profile_submit.py daemon [--mode one|burst] [--n 1000] [--svg out.svg]

``stages``: the same work timed step by step with the clock alone (no profiler: a
profiler's own cost per call made the layout look five times its size), median and p95 of
each step over ``--n`` submits.

``inproc``: pyinstrument over the work the submit route does below HTTP, in this process, on
a real journal file (fsync included), for the benchmark's receipt: request validation, one
render (the printability check and the paper estimate from one layout), the durable journal
insert, and the response model.

``daemon``: the real thing end to end. Starts ``receiptd run`` against an emulated printer
(fast paper: the host is the bottleneck) exactly as ``bench/run.py`` does, sends it receipts
one at a time (``--mode one``) or from 8 kept-alive clients at once (``--mode burst``), and
records the daemon with ``py-spy record`` for the length of that load: every thread (the
event loop, the request threads, the printer's session and spooler), idle time left out.
The SVG is a flame graph; ``bench/flame/README.md`` says what the committed ones show.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import FAST_MM_S, PROFILE, Printer, Receiptd, document

from receiptd.api.models import receipt_out
from receiptd.document import Submission
from receiptd.journal import Journal
from receiptd.render import render_measured


def one(journal: Journal, k: int) -> bytes:
    body = json.dumps({"document": document(f"BXp{k:07d}"), "order_ref": f"p{k}",
                       "idempotency_key": f"p{k}"})
    submission = Submission.model_validate_json(body)
    content = submission.content()
    rendered, paper_mm = render_measured(content, PROFILE)
    content_json = content.model_dump_json(exclude_none=True)
    request_hash = hashlib.sha256(
        json.dumps(["front", content_json, submission.order_ref]).encode()).hexdigest()
    receipt, _ = journal.receipts.submit(
        printer="front", kind=content.kind, content_json=content_json, rendered=rendered,
        profile=PROFILE.name, request_hash=request_hash,
        idempotency_key=submission.idempotency_key, order_ref=submission.order_ref,
        submitted_by="pos", paper_mm=paper_mm)
    return receipt_out(receipt).model_dump_json().encode()


STAGES = ("parse and validate", "content", "render", "content JSON and hash", "journal",
          "answer")


def one_timed(journal: Journal, k: int) -> list[float]:
    """``one``, with the seconds each of its ``STAGES`` took."""
    clock = time.perf_counter
    body = json.dumps({"document": document(f"BXs{k:07d}"), "order_ref": f"s{k}",
                       "idempotency_key": f"s{k}"})
    t0 = clock()
    submission = Submission.model_validate_json(body)
    t1 = clock()
    content = submission.content()
    t2 = clock()
    rendered, paper_mm = render_measured(content, PROFILE)
    t3 = clock()
    content_json = content.model_dump_json(exclude_none=True)
    request_hash = hashlib.sha256(
        json.dumps(["front", content_json, submission.order_ref]).encode()).hexdigest()
    t4 = clock()
    receipt, _ = journal.receipts.submit(
        printer="front", kind=content.kind, content_json=content_json, rendered=rendered,
        profile=PROFILE.name, request_hash=request_hash,
        idempotency_key=submission.idempotency_key, order_ref=submission.order_ref,
        submitted_by="pos", paper_mm=paper_mm)
    t5 = clock()
    receipt_out(receipt).model_dump_json()
    t6 = clock()
    return [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5]


def stages(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.db")
        for k in range(50):
            one_timed(journal, 10_000_000 + k)  # warm: imports, caches, statements
        runs = [one_timed(journal, k) for k in range(args.n)]
        journal.close()
    print(f"{args.n} submits in process, ms per step, median / p95 (the journal step is the "
          f"inserts and the durable commit)")
    totals = [sum(r) for r in runs]
    for name, values in [*zip(STAGES, zip(*runs, strict=True), strict=True), ("all", totals)]:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        print(f"  {name:<24}{statistics.median(ordered) * 1000:>8.3f}{p95 * 1000:>8.3f}")
    return 0


def inproc(args: argparse.Namespace) -> int:
    from pyinstrument import Profiler

    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.db")
        for k in range(20):
            one(journal, 10_000_000 + k)  # warm: imports, caches, statements
        profiler = Profiler(interval=0.0002)
        t = time.perf_counter()
        profiler.start()
        for k in range(args.n):
            one(journal, k)
        profiler.stop()
        per = (time.perf_counter() - t) / args.n * 1000
        journal.close()
    print(f"{per:.2f} ms per submit (in process, profiled)")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())
    return 0


def daemon(args: argparse.Namespace) -> int:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(pyspy):
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="receiptd-profile-"))
    printer = Printer(FAST_MM_S)
    rd = Receiptd(work / "daemon", printer.url)
    try:
        rd.start()
        warm = rd.connect()
        for k in range(30):
            warm.submit(f"W{k:06d}")
        warm.close()
        clients = 1 if args.mode == "one" else args.clients
        conns = [rd.connect() for _ in range(clients)]
        per = [args.n // clients + (1 if i < args.n % clients else 0) for i in range(clients)]
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen([pyspy, "record", "--pid", str(rd.pid), "--output",
                                str(args.svg), "--rate", str(args.rate), "--nonblocking",
                                "--format", args.format], stdout=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attached

        def client(i: int) -> None:
            for k in range(per[i]):
                conns[i].submit(f"P{i}{k:06d}")

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - t0
        spy.send_signal(2)  # SIGINT: py-spy writes the SVG and exits
        spy.wait(60)
        for c in conns:
            c.close()
        print(f"{args.n} submits from {clients} client(s) in {seconds:.2f} s: "
              f"{args.n / seconds:.0f}/s, {seconds / args.n * 1000 * clients:.2f} ms each "
              f"(profiled); flame graph: {args.svg}")
    finally:
        rd.stop()
        printer.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("stages", help="each step of the route's work timed, no profiler")
    c.add_argument("--n", type=int, default=2000)
    a = sub.add_parser("inproc", help="pyinstrument, the route's work in this process")
    a.add_argument("--n", type=int, default=300)
    a.add_argument("--html", type=Path)
    b = sub.add_parser("daemon", help="py-spy, the running daemon under load")
    b.add_argument("--mode", choices=("one", "burst"), default="burst")
    b.add_argument("--n", type=int, default=1000)
    b.add_argument("--clients", type=int, default=8)
    b.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    b.add_argument("--svg", type=Path, default=Path("bench/flame/submit.svg"))
    b.add_argument("--format", choices=("flamegraph", "raw"), default="flamegraph",
                   help="raw: collapsed stacks (text), for reading with a script")
    args = ap.parse_args(argv)
    return {"stages": stages, "inproc": inproc, "daemon": daemon}[args.what](args)


if __name__ == "__main__":
    raise SystemExit(main())
