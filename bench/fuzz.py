"""Long mutation-fuzz run of hubmgr's readers (issue 13): pickle, torch zip, torch legacy, safetensors.

Run by hand (not part of pytest)::

    .venv/bin/python bench/fuzz.py                   # 20,000 cases, seed 0
    .venv/bin/python bench/fuzz.py --cases 50000 --seed 7 --limit-as-gb 4

Each case is a small valid seed file (written by torch / safetensors / pickle) with 1-4 random
mutations (byte flips, inserts, deletes, truncation, extreme integers over length/count/offset
fields), applied to the raw bytes or to the inner layer (data.pkl of a zip, the JSON header of a
safetensors file). Every reader of that kind runs on it (the restricted unpickler, the verdict,
``inspect``, the safetensors header reader). Counts: cases, outcomes by exception type, unexpected
exceptions (anything not a HubmgrError: a bug), slowest case, peak RSS. The process runs under
RLIMIT_AS (``--limit-as-gb``) so a memory bomb shows up as a MemoryError instead of swapping.
"""

from __future__ import annotations

import argparse
import collections
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit-as-gb", type=float, default=6.0, help="address-space limit of this process")
    args = parser.parse_args()

    from hubmgr.testing import fuzz

    with tempfile.TemporaryDirectory(prefix="hubmgr-fuzz-") as tmp:
        work = Path(tmp)
        seeds = fuzz.seeds(work / "seeds")  # torch is imported here, before the limit
        limit = int(args.limit_as_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        rng = random.Random(args.seed)
        rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        by_kind: dict[str, collections.Counter] = {k: collections.Counter() for k in fuzz.KINDS}
        unexpected: list[tuple[str, str, str]] = []
        slowest = (0.0, "", "")
        started = time.perf_counter()
        for i in range(args.cases):
            kind = fuzz.KINDS[i % len(fuzz.KINDS)]
            seed = rng.choice(seeds[kind])
            mutations = [(rng.choice(fuzz.OPS), rng.random(), rng.randrange(2**16)) for _ in range(rng.randint(1, 4))]
            data = fuzz.build(kind, seed, mutations, rng.randint(0, 1))
            for outcome in fuzz.run_case(kind, data, work):
                by_kind[kind][outcome.error or "ok"] += 1
                if not outcome.expected:
                    unexpected.append((kind, outcome.reader, outcome.detail))
                if outcome.seconds > slowest[0]:
                    slowest = (outcome.seconds, kind, outcome.reader)
            if (i + 1) % 2000 == 0:
                print(f"  {i + 1:,} cases, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    print(f"cases: {args.cases:,} (seed {args.seed}), {elapsed:.0f} s wall, "
          f"{sum(sum(c.values()) for c in by_kind.values()):,} reader runs")
    print(f"max time of one reader run: {slowest[0] * 1000:.0f} ms ({slowest[1]}, {slowest[2]})")
    print(f"peak RSS: {peak / 1024:.0f} MB (after loading seeds and torch: {rss_start / 1024:.0f} MB); "
          f"RLIMIT_AS {args.limit_as_gb:g} GB")
    print(f"unexpected exceptions (bugs): {len(unexpected)}")
    for kind, reader, detail in unexpected[:20]:
        print(f"  {kind} {reader}: {detail}")
    print("\n| kind | outcome | reader runs |\n|---|---|---:|")
    for kind, counter in by_kind.items():
        for outcome, count in counter.most_common():
            print(f"| {kind} | {outcome} | {count:,} |")
    return 1 if unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
