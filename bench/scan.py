"""Benchmark: scan 1,000 small checkpoints (mixed kinds) cold, then warm.

Run by hand: ``.venv/bin/python bench/scan.py [--count 1000] [--keep DIR]``.
Warm must hash 0 bytes (the sha256 cache keyed by path, size, mtime_ns, inode).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path


def build(root: Path, count: int) -> dict[str, int]:
    """``count`` checkpoints, cycling through the kinds a workspace holds."""
    import torch
    from safetensors.torch import save_file

    from hubmgr.testing import checkpoint_factory as cf

    torch.manual_seed(0)
    small = {"w": torch.randn(16, 8), "b": torch.zeros(16), "h": torch.randn(4, 4).half()}
    kinds: dict[str, int] = {}
    config = '{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}'
    for i in range(count):
        group = root / f"group-{i // 100:02d}"
        kind = ("state_dict", "safetensors", "hf_dir", "trainer_ckpt", "legacy", "training", "full_model",
                "lfs_pointer", "state_dict", "safetensors")[i % 10]
        kinds[kind] = kinds.get(kind, 0) + 1
        group.mkdir(parents=True, exist_ok=True)
        if kind == "state_dict":
            torch.save(small, group / f"sd-{i}.pt")
        elif kind == "safetensors":
            save_file(small, str(group / f"w-{i}.safetensors"))
        elif kind in ("hf_dir", "trainer_ckpt"):
            d = group / (f"model-{i}" if kind == "hf_dir" else f"run-{i}/checkpoint-{i}")
            d.mkdir(parents=True, exist_ok=True)
            (d / "config.json").write_text(config)
            save_file(small, str(d / "model.safetensors"))
            if kind == "trainer_ckpt":
                (d / "trainer_state.json").write_text(
                    '{"global_step": %d, "best_metric": 1.5, "log_history": [{"eval_loss": 1.5, "step": %d}]}'
                    % (i, i))
        elif kind == "legacy":
            torch.save(small, group / f"old-{i}.pth", _use_new_zipfile_serialization=False)
        elif kind == "training":
            cf.save_training_checkpoint(group / f"train-{i}.ckpt")
        elif kind == "full_model":
            cf.save_full_model(group / f"model-{i}.pt")
        elif kind == "lfs_pointer":
            cf.write_lfs_pointer(group / f"lfs-{i}" / "model.safetensors", data=str(i).encode())
    return kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--keep", type=Path, default=None, help="build into this dir and keep it")
    args = parser.parse_args()

    from hubmgr.catalog import Catalog
    from hubmgr.checkpoints import scan

    tmp = Path(tempfile.mkdtemp(prefix="hubmgr-bench-scan-"))
    root = args.keep or tmp / "ws"
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        kinds = build(root, args.count)
        built = time.perf_counter() - t0
        total_bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        catalog = Catalog(tmp / "catalog.db")
        print(f"built {args.count} checkpoints ({', '.join(f'{k}={v}' for k, v in sorted(kinds.items()))}),"
              f" {total_bytes / 1e6:.1f} MB in {built:.1f}s")
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            result = scan([root], catalog=catalog)
            wall = time.perf_counter() - t0
            print(f"{label}: {wall:6.2f}s wall  {len(result.checkpoints)} checkpoints  "
                  f"hashed {result.files_hashed} files / {result.bytes_hashed} bytes  "
                  f"warnings {len(result.warnings)}")
        if result.bytes_hashed != 0:
            print("FAIL: warm scan hashed bytes", file=sys.stderr)
            return 1
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
