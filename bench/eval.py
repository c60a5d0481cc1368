"""Benchmark: `hubmgr eval` on a tiny trained GPT-2, n=200, CPU.

Run by hand: ``.venv/bin/python bench/eval.py [--n 200] [--steps 300] [--keep DIR]``.
Prints the training time, the accuracy of the untrained and trained model on 1-digit
addition, the scoring time for n problems (1-2 digits, + - *) and the whole CLI wall time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()

    from hubmgr.evaluate import evaluate_checkpoint
    from hubmgr.testing.tiny_models import make_tiny_gpt2, save_hf_dir, train_addition_dir

    root = args.keep or Path(tempfile.mkdtemp(prefix="hubmgr-bench-eval-"))
    model, tok = make_tiny_gpt2(seed=0)
    untrained = save_hf_dir(model, tok, root / "untrained")
    t0 = time.perf_counter()
    trained = train_addition_dir(root / "trained", steps=args.steps)
    print(f"train {args.steps} steps: {time.perf_counter() - t0:.1f} s")
    for name, d in (("untrained", untrained), ("trained", trained)):
        r = evaluate_checkpoint(d, n=args.n, digits=1, ops="+")
        print(f"{name}: 1-digit addition accuracy {r.metrics['accuracy']:.3f} (n={r.n}), {r.runtime_seconds:.2f} s")
    r = evaluate_checkpoint(trained, n=args.n)
    print(f"trained: 1-2 digit + - * accuracy {r.metrics['accuracy']:.3f} (n={r.n}), scoring {r.runtime_seconds:.2f} s")
    cmd = [sys.executable, "-m", "hubmgr", "--catalog", str(root / "cat.db"), "eval", str(trained),
           "--n", str(args.n), "--json"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    print(f"CLI `hubmgr eval PATH --n {args.n}` wall time (python + torch import + load + score): "
          f"{time.perf_counter() - t0:.2f} s")
    if args.keep is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
