"""The long torture run: receipts from several concurrent tills while the daemon is SIGKILLed,
the printer power-cycles and runs out of paper at random; optionally long receipts at
250 mm/s, raw receipts from a fuzzer corpus and a hostile till replaying the known attacks.
Then the journal against the paper.

    python bench/torture.py [--receipts 1000] [--kills 50] [--clients 4] [--seed N] [--dir D]
        [--speed 250] [--long 0.2] [--corpus FILE [--corpus-share 0.2]]
        [--attacks [--attack-rounds 5] [--flood 300]] [--fault-every 3] [--backlog 8]

Make a corpus with ``python bench/raw_fuzz.py --seconds 120 --corpus FILE``. Prints the seed
first (rerun the same chaos schedule with --seed; thread interleavings still vary) and a JSON
report last; exits 1 if a verdict failed (a receipt lost, printed unmarked twice, stuck, held
at the end, failed; a worker error; no last receipt). See receiptd/testing/torture.py for what
is checked; tests/e2e/test_torture.py is the CI size.
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
    p.add_argument("--speed", type=float, default=400.0,
                   help="printer speed in mm/s (250: a real mid-range printer)")
    p.add_argument("--long", type=float, default=0.0,
                   help="share of long receipts (150-250 lines, ~9 KB)")
    p.add_argument("--corpus", type=Path,
                   help="raw receipts from this fuzzer corpus (hex lines, raw_fuzz.py --corpus)")
    p.add_argument("--corpus-share", type=float, default=0.2,
                   help="share of raw receipts from the corpus")
    p.add_argument("--attacks", action="store_true",
                   help="a hostile till replays the known attacks and floods wrong secrets")
    p.add_argument("--attack-rounds", type=int, default=5,
                   help="with --attacks: how many times each attack is made")
    p.add_argument("--flood", type=int, default=300,
                   help="with --attacks: wrong-secret tries in all")
    p.add_argument("--fault-every", type=float, default=3.0,
                   help="mean seconds between printer faults (power cycle, paper out, forged "
                   "replies with --attacks)")
    p.add_argument("--backlog", type=int, default=8,
                   help="receipts the tills keep ahead of the paper at most")
    a = p.parse_args()
    workdir = a.dir or Path(tempfile.mkdtemp(prefix="receiptd-torture-"))
    report = run(workdir, receipts=a.receipts, kills=a.kills, clients=a.clients, seed=a.seed,
                 settle_timeout=900, speed_mm_s=a.speed, long_share=a.long, corpus=a.corpus,
                 corpus_share=a.corpus_share, attacks=a.attack_rounds if a.attacks else 0,
                 flood_tries=a.flood, fault_every_s=a.fault_every, backlog=a.backlog)
    out = {**dataclasses.asdict(report), "ok": report.ok, "workdir": str(workdir)}
    print(json.dumps(out, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
