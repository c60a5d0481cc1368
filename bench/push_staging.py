"""What the push staging costs: `push --dry-run` of a 256 MB model, with and without staging.

Modes (all dry runs against an empty local: registry, catalog on so sha256s are cached by path):
  folder      a model dir with its own README.md: read in place, no staging
  card        the same dir without README.md: staging of hard links + a card generated for the push
  trainer     a Trainer-style run dir (checkpoint-N/ with optimizer.pt, training_args.bin): staging,
              checkpoint dirs left out, training_args.json written
  checkpoint  the same run with --checkpoint last (files from checkpoint-N/, tokenizer from the top)

"cold" hashes every byte once; "warm" is the next dry run (sha256 cache hit, staging redone).
Run: .venv/bin/python bench/push_staging.py [--mb 256]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _model_dir(root: Path, mb: int) -> Path:
    import torch
    from safetensors.torch import save_file

    from hubmgr.tiny_model import build_char_tokenizer

    root.mkdir(parents=True)
    n = mb * 2**20 // 4
    save_file({"transformer.wte.weight": torch.zeros(n // 64, 64)}, root / "model.safetensors")
    (root / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    build_char_tokenizer().save_pretrained(root)
    return root


def _trainer_run(root: Path, model: Path) -> Path:
    import torch

    shutil.copytree(model, root)
    (root / "README.md").unlink(missing_ok=True)
    ckpt = root / "checkpoint-100"
    ckpt.mkdir()
    for name in ("model.safetensors", "config.json"):
        os.link(root / name, ckpt / name)
    torch.save({"state": {}, "param_groups": []}, ckpt / "optimizer.pt")
    torch.save({"lr": 0.1}, ckpt / "scheduler.pt")
    (root / "trainer_state.json").write_text(json.dumps({"global_step": 100, "log_history": []}))
    return root


def _time(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-push-"))
    os.environ["HUBMGR_HOME"] = str(work / "home")
    try:
        from hubmgr import sync
        from hubmgr.catalog import Catalog

        with_card = _model_dir(work / "folder", args.mb)
        (with_card / "README.md").write_text("# bench\n")
        no_card = work / "card"
        shutil.copytree(with_card, no_card)
        (no_card / "README.md").unlink()
        run = _trainer_run(work / "run", no_card)
        cases = [("folder", with_card, {}), ("card", no_card, {}), ("trainer", run, {}),
                 ("checkpoint", run, {"checkpoint": "last"})]
        print(f"push --dry-run of a {args.mb} MB model to local: (catalog on); seconds, {os.cpu_count()} CPUs "
              f"shared with other jobs\n")
        print(f"{'mode':<11} {'cold':>7} {'warm (median)':>14} {'files':>6} {'staged':>7}")
        for name, path, extra in cases:
            catalog = Catalog(work / f"{name}.db")

            def once():
                return sync.push(path, f"local:bench-{name}", dry_run=True, catalog=catalog, **extra)

            t0 = time.perf_counter()
            result = once()
            cold = time.perf_counter() - t0
            warm = statistics.median(_time(once, args.repeat))
            staged = "yes" if result.plan.path != str(path.resolve()) else "no"
            print(f"{name:<11} {cold:>7.2f} {warm:>14.3f} {len(result.plan.upload):>6} {staged:>7}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
