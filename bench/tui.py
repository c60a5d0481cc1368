"""Benchmark: how fast the TUI paints 1,000 catalog entries, and how fast filtering/sorting is.

Run by hand:  .venv/bin/python bench/tui.py [N]
Builds a temp catalog with N synthetic checkpoints (150 tensors each, like GPT-2 small),
starts the app headless at 120x40, and reports the time from launch until the table holds
every row (the first paint from the catalog), then the time of a filter and a sort.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path


def build_catalog(root: Path, n: int):
    from hubmgr.catalog import Catalog
    from hubmgr.models import CheckpointInfo, FileInfo, SafetyInfo, TensorInfo

    catalog = Catalog(root / ".hubmgr" / "catalog.db")
    kinds = [("hf_model", "safetensors", "not_pickle"), ("state_dict", "torch_zip", "safe"),
             ("full_model_pickle", "torch_zip", "needs_code"), ("training_checkpoint", "torch_zip", "unsafe")]
    infos = []
    for i in range(n):
        kind, fmt, verdict = kinds[i % len(kinds)]
        tensors = tuple(TensorInfo(f"transformer.h.{j // 6}.layer{j % 6}.weight", "F32", (64, 64), "model.safetensors")
                        for j in range(150))
        infos.append(CheckpointInfo(
            path=str(root / "runs" / f"run-{i // 10:03d}" / f"checkpoint-{i:05d}"), name=f"checkpoint-{i:05d}",
            kind=kind, format=fmt, size_bytes=400_000 + i * 997, params=100_000 + i, dtypes=("F32",), step=i * 10,
            metrics={"eval_loss": 1.0 / (i + 1)}, best_metric=1.0 / (i + 1), safety=SafetyInfo(verdict),
            files=(FileInfo("model.safetensors", 400_000 + i * 997, f"{i:064x}"),), tensors=tensors))
    catalog.upsert_checkpoints(infos)
    for i in range(0, n, 7):
        catalog.record_push(checkpoint_path=infos[i].path, remote="local:bench", repo="bench", revision="main",
                            tag=None, commit_sha=f"{i:040x}", url=None)
    return catalog


async def measure(root: Path, catalog, n: int) -> dict[str, float]:
    from hubmgr.tui.app import create_app

    t0 = time.perf_counter()
    app = create_app(root, catalog=catalog, rescan_on_start=False, workspace_label="~/bench")
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        while not app._main_screen():
            await asyncio.sleep(0.005)
        out["main screen up, before rows (s)"] = time.perf_counter() - t0
        while not (app.catalog_loaded and app._main_screen() and app._main_screen().table.row_count == n):
            await asyncio.sleep(0.005)
        await pilot.pause()
        out["first paint with all rows (s)"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        app.set_filter("checkpoint-009")
        await pilot.pause()
        out[f"filter to {app._main_screen().table.row_count} rows (s)"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        app.set_filter("")
        app.sort_by("size")
        await pilot.pause()
        out["clear filter + sort by size (s)"] = time.perf_counter() - t2
        t4 = time.perf_counter()
        app.sort_by("params")
        await pilot.pause()
        out["sort 1,000 rows by params (s)"] = time.perf_counter() - t4
        t3 = time.perf_counter()
        for _ in range(50):
            await pilot.press("down")
        await pilot.pause()
        out["50 x cursor down with detail updates (s)"] = time.perf_counter() - t3
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("HUBMGR_HOME", str(Path(tmp) / "home"))
        root = Path(tmp) / "ws"
        root.mkdir()
        catalog = build_catalog(root, n)
        from hubmgr.tui.app import read_snapshot

        t = time.perf_counter()
        read_snapshot(catalog)
        print(f"read catalog snapshot of {n} entries: {time.perf_counter() - t:.3f}s")
        for name, value in asyncio.run(measure(root, catalog, n)).items():
            print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
