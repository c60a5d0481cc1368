"""Crash trials at scale: bench/faults.py --trials 200 [--seed N] [--scenarios convert,push-local,...]

Starts real hubmgr processes (convert, push to local:, the Hub test server and a git repo whose LFS
objects live on giftless over HTTP, pull from all three, rollback), kills each with SIGKILL / SIGINT / SIGTERM at a seeded random point, checks the
invariants (hubmgr.testing.faults) and prints: scenario, trials, clean, violations, early
(signals that landed outside hubmgr's handlers: interpreter start-up or teardown).
--trials is the total, split evenly over the scenarios. Exit 1 if any trial found a violation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubmgr.testing.faults import SCENARIOS, run_trials  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=200, help="total trials (split over the scenarios)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--verbose", "-v", action="store_true", help="one line per trial")
    args = ap.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    per = max(1, args.trials // len(scenarios))
    start = time.monotonic()

    def show(r) -> None:  # noqa: ANN001
        if args.verbose or r.violations:
            state = "ok" if not r.violations else "VIOLATION " + "; ".join(r.violations)
            print(f"{r.scenario:<11} #{r.trial:<3} SIG{r.signal:<4} at {r.delay:5.2f}s exit {r.returncode:>4} "
                  f"{'(early) ' if r.early else ''}{state}", flush=True)

    with tempfile.TemporaryDirectory(prefix="hubmgr-faults-") as tmp:
        report = run_trials(Path(tmp), scenarios=scenarios, trials=per, seed=args.seed, on_result=show)
    print(report.format_table())
    print(f"{len(report.results)} trials in {time.monotonic() - start:.0f} s (seed {args.seed})")
    for v in report.violations:
        print("violation:", v)
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
