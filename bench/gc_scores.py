"""Benchmark ``hubmgr gc`` planning and the "best" queries on a long Trainer run (issue 11, points 3-4).

Run by hand (not part of pytest)::

    .venv/bin/python bench/gc_scores.py                 # 400 checkpoints, 20 000 stored scores
    .venv/bin/python bench/gc_scores.py --checkpoints 1000 --scores 50000

A real tiny Trainer run (``run_tiny_trainer``) is cloned into N ``checkpoint-K`` dirs whose big files
are hard links (no disk cost) and whose ``trainer_state.json`` carries a log history up to K with
falling-then-noisy eval_loss. The catalog gets a scan of the run, a push of three checkpoints and
``--scores`` eval rows (several suite configurations). Times are wall clock of the core calls and
of whole ``hubmgr`` processes (interpreter start included).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_run(base: Path, n: int) -> Path:
    from hubmgr.testing.checkpoint_factory import run_tiny_trainer

    template = run_tiny_trainer(base / "template", steps=2)
    run = base / "run"
    run.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "training_args.bin"):
        os.link(template / name, run / name)
    src = template / "checkpoint-2"
    state = json.loads((src / "trainer_state.json").read_text())
    rng = random.Random(0)
    history = []
    for k in range(1, n + 1):
        history.append({"eval_loss": 3.0 / (1 + k / 50) + rng.uniform(0, 0.05), "step": k * 10, "epoch": k / 10})
        d = run / f"checkpoint-{k * 10}"
        d.mkdir()
        for f in src.iterdir():
            if f.name != "trainer_state.json":
                os.link(f, d / f.name)
        (d / "trainer_state.json").write_text(json.dumps(dict(state, global_step=k * 10, log_history=history)))
    return run


def timed(label: str, fn, rows: list[tuple[str, float, str]]) -> object:
    start = time.perf_counter()
    result = fn()
    rows.append((label, time.perf_counter() - start, ""))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoints", type=int, default=400)
    parser.add_argument("--scores", type=int, default=20000)
    args = parser.parse_args()
    from hubmgr.catalog import Catalog
    from hubmgr.checkpoints import scan
    from hubmgr.gc import plan_gc
    from hubmgr.scores import best_checkpoint, score_column

    base = Path(tempfile.mkdtemp(prefix="hubmgr-bench-gc-"))
    rows: list[tuple[str, float, str]] = []
    try:
        run = timed(f"build run ({args.checkpoints} checkpoints)", lambda: build_run(base, args.checkpoints), rows)
        catalog = Catalog(base / "catalog.db")
        timed("scan (hashing hard-linked files once each path)", lambda: scan([run], catalog=catalog), rows)
        dirs = sorted((p for p in run.iterdir() if p.name.startswith("checkpoint-")), key=lambda p: int(p.name[11:]))
        for d in dirs[:: max(1, len(dirs) // 3)][:3]:
            catalog.record_push(checkpoint_path=str(d), remote="local:bench", repo="bench", revision="main", tag=None,
                                commit_sha=f"{len(d.name):040x}", url=None)
        rng = random.Random(1)
        for i in range(args.scores):
            d = dirs[i % len(dirs)]
            catalog.record_eval(checkpoint_path=str(d), weights_sha256=None, suite="arithmetic", metric="accuracy",
                                value=rng.random(), source="hubmgr",
                                params={"suite": "arithmetic", "n": 200, "seed": i % 4, "digits": "1-2", "ops": "+-*"})
        records = catalog.list_evals()
        column = timed(f"score_column over {len(records)} scores", lambda: score_column(records), rows)
        best = timed("best_checkpoint (trainer eval_loss)", lambda: best_checkpoint(run), rows)
        plan = timed("plan_gc keep-best 3 keep-last 2 --include-unpushed",
                     lambda: plan_gc([run], keep_best=3, keep_last=2, include_unpushed=True, catalog=catalog), rows)
        hubmgr = str(Path(sys.executable).with_name("hubmgr"))
        for label, cmd in (("hubmgr gc --dry-run --json (process)",
                            [hubmgr, "--catalog", str(catalog.path), "gc", str(run), "--include-unpushed",
                             "--keep-best", "3", "--keep-last", "2", "--dry-run", "--json"]),
                           ("hubmgr ls --json (process)", [hubmgr, "--catalog", str(catalog.path), "ls", "--json"])):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            rows.append((label, time.perf_counter() - start, ""))
        print(f"score column: {column.label}; best: {Path(best.path).name} ({best.value:.4f}); plan: delete "
              f"{len(plan.deleted)}, keep {len(plan.items) - len(plan.deleted)}")
        print("| step | seconds |\n|---|---|")
        for label, seconds, _ in rows:
            print(f"| {label} | {seconds:.2f} |")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
