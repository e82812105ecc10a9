"""Where a submit's time goes: pyinstrument over the work the API's submit route does, in
process, on a real journal file (fsync included), for the benchmark's receipt.

    .venv/bin/pip install -e '.[bench]'
    python bench/profile_submit.py [--n 300] [--html out.html]

Uvicorn runs sync routes in a thread pool that pyinstrument does not follow, so the route's
steps are called here in the same order: request validation, render (the printability check),
paper estimate, the durable journal insert, and the response model. The HTTP and FastAPI
layers on top are what `bench/run.py` measures end to end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyinstrument import Profiler
from run import PROFILE, document

from receiptd.api.models import receipt_out
from receiptd.document import Submission
from receiptd.journal import Journal
from receiptd.render import paper_length_mm, render


def one(journal: Journal, k: int) -> bytes:
    body = json.dumps({"document": document(f"BXp{k:07d}"), "order_ref": f"p{k}",
                       "idempotency_key": f"p{k}"})
    submission = Submission.model_validate_json(body)
    content = submission.content()
    rendered = render(content, PROFILE)
    content_json = content.model_dump_json(exclude_none=True)
    request_hash = hashlib.sha256(
        json.dumps(["front", content_json, submission.order_ref]).encode()).hexdigest()
    receipt, _ = journal.receipts.submit(
        printer="front", kind=content.kind, content_json=content_json, rendered=rendered,
        profile=PROFILE.name, request_hash=request_hash,
        idempotency_key=submission.idempotency_key, order_ref=submission.order_ref,
        submitted_by="pos", paper_mm=paper_length_mm(content, PROFILE))
    return receipt_out(receipt).model_dump_json().encode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--html", type=Path)
    args = ap.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
