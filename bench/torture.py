"""The long torture run: 1,000 receipts, 50 daemon SIGKILLs, printer power cycles and
paper-outs at random, several concurrent clients; then the journal against the paper.

    python bench/torture.py [--receipts 1000] [--kills 50] [--clients 4] [--seed N] [--dir D]

Prints the seed first (rerun the same chaos schedule with --seed; thread interleavings still
vary) and a JSON report last; exits 1 if a receipt was lost or printed unmarked twice.
See receiptd/testing/torture.py for what is checked; tests/e2e/test_torture.py is the CI size.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from receiptd.testing.torture import run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--receipts", type=int, default=1000)
    p.add_argument("--kills", type=int, default=50)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seed", type=int)
    p.add_argument("--dir", type=Path, help="work directory (default: a fresh temporary one)")
    a = p.parse_args()
    workdir = a.dir or Path(tempfile.mkdtemp(prefix="receiptd-torture-"))
    report = run(workdir, receipts=a.receipts, kills=a.kills, clients=a.clients, seed=a.seed,
                 settle_timeout=900)
    out = {**dataclasses.asdict(report), "ok": report.ok, "workdir": str(workdir)}
    print(json.dumps(out, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
