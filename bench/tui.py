"""Benchmark: how fast the TUI first paints N catalog entries, and filters and sorts them.

Run by hand (the machine is shared: the load is printed with the figures)::

    .venv/bin/python bench/tui.py [--sizes 1000,10000,50000] [--tensors 150] [--repeat 3]

Builds a temp catalog per size with N synthetic checkpoints (``--tensors`` tensors each; 150 is like
GPT-2 small), starts the app headless at 120x40 and reports, median of ``--repeat`` runs:
the main screen up (before rows), the catalog read in the worker, the first paint (app start until
a checkpoint row has been drawn on screen with every row in the table), a filter, clearing it plus
a sort, a reverse sort and 20 cursor moves. ``growth`` = figure ratio / size ratio between
neighbouring sizes (1.0 = linear). bench/scale.py reuses ``tui_times`` on a real scanned workspace.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAINT_GOAL = (10_000, 1.0)  # issue 16: first paint <= 1 s at 10,000 rows
FIRST_PAINT = "TUI first paint, all rows (s)"
FIRST_PAINT_CPU = "TUI first paint, CPU of all threads (s)"  # less sensitive to the load of a shared box


def build_catalog(root: Path, n: int, tensors: int = 150):
    from hubmgr.catalog import Catalog
    from hubmgr.models import CheckpointInfo, FileInfo, SafetyInfo, TensorInfo

    catalog = Catalog(root / ".hubmgr" / "catalog.db")
    kinds = [("hf_model", "safetensors", "not_pickle"), ("state_dict", "torch_zip", "safe"),
             ("full_model_pickle", "torch_zip", "needs_code"), ("training_checkpoint", "torch_zip", "unsafe")]
    infos = []
    for i in range(n):
        kind, fmt, verdict = kinds[i % len(kinds)]
        tensor_infos = tuple(TensorInfo(f"transformer.h.{j // 6}.layer{j % 6}.weight", "F32", (64, 64),
                                        "model.safetensors") for j in range(tensors))
        infos.append(CheckpointInfo(
            path=str(root / "runs" / f"run-{i // 10:03d}" / f"checkpoint-{i:05d}"), name=f"checkpoint-{i:05d}",
            kind=kind, format=fmt, size_bytes=400_000 + (i * 7919) % 100_003, params=100_000 + i, dtypes=("F32",),
            step=i * 10, metrics={"eval_loss": 1.0 / (i + 1)}, best_metric=1.0 / (i + 1),
            safety=SafetyInfo(verdict), files=(FileInfo("model.safetensors", 400_000 + i * 997, f"{i:064x}"),),
            tensors=tensor_infos))
    catalog.upsert_checkpoints(infos)
    for i in range(0, n, 7):
        catalog.record_push(checkpoint_path=infos[i].path, remote="local:bench", repo="bench", revision="main",
                            tag=None, commit_sha=f"{i:040x}", url=None)
    return catalog


class _Probe:
    """Times what the app does, from outside: wraps the catalog read and the table's line rendering."""

    def __init__(self) -> None:
        from hubmgr.tui import app as app_module
        from hubmgr.tui.screens.main import MainScreen
        from hubmgr.tui.widgets.checkpoint_table import CheckpointTable

        self.read_seconds: float | None = None
        self.screen_up_at: float | None = None
        self.row_drawn_at: float | None = None
        self.row_drawn_cpu: float | None = None  # process CPU seconds (all threads) when the row was drawn
        self._undo = []
        read = app_module.read_snapshot
        render_line = CheckpointTable.render_line
        mounted = MainScreen.on_mount
        probe = self

        def noting_mount(screen):
            mounted(screen)
            probe.screen_up_at = time.perf_counter()

        def timed_read(catalog):
            t0 = time.perf_counter()
            try:
                return read(catalog)
            finally:
                probe.read_seconds = time.perf_counter() - t0

        def noting_render_line(table, y):
            strip = render_line(table, y)
            if y > 0 and table.rows_shown and probe.row_drawn_at is None:
                probe.row_drawn_at = time.perf_counter()  # a checkpoint row (not the header) was drawn
                probe.row_drawn_cpu = time.process_time()
            return strip

        app_module.read_snapshot = timed_read
        CheckpointTable.render_line = noting_render_line
        MainScreen.on_mount = noting_mount
        self._undo = [(app_module, "read_snapshot", read), (CheckpointTable, "render_line", render_line),
                      (MainScreen, "on_mount", mounted)]

    def close(self) -> None:
        for owner, name, value in self._undo:
            setattr(owner, name, value)


async def tui_times(root: Path, catalog, n: int, filter_text: str) -> dict[str, float]:
    """Figures of one app run on ``catalog`` (``n`` entries); ``filter_text`` must match some rows, not all."""
    from hubmgr.tui.app import create_app

    out: dict[str, float] = {}
    probe = _Probe()
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        app = create_app(root, catalog=catalog, rescan_on_start=False, workspace_label="~/bench")
        async with app.run_test(size=(120, 40)) as pilot:
            while not (app.catalog_loaded and app._main_screen() and app._main_screen().table.row_count == n
                       and probe.row_drawn_at is not None):
                await asyncio.sleep(0.002)
            out["TUI main screen up, before rows (s)"] = probe.screen_up_at - t0
            out["TUI catalog read, in the worker (s)"] = probe.read_seconds
            out[FIRST_PAINT] = probe.row_drawn_at - t0
            out[FIRST_PAINT_CPU] = probe.row_drawn_cpu - cpu0
            table = app._main_screen().table
            if table.selected is None or table.row_count != n:
                raise SystemExit(f"table shows {table.row_count} of {n} rows")

            async def timed(label: str, *steps) -> None:
                t = time.perf_counter()
                for step in steps:
                    step()
                await pilot.pause()
                out[label] = time.perf_counter() - t

            await timed(f"TUI filter {filter_text!r} (s)", lambda: app.set_filter(filter_text))
            shown = table.row_count
            if not 0 < shown < n:
                raise SystemExit(f"filter {filter_text!r} showed {shown} of {n} rows")
            await timed("TUI clear filter + sort by size (s)", lambda: app.set_filter(""),
                        lambda: app.sort_by("size"))
            sizes = [r.size_bytes for r in table.rows_shown]
            if len(sizes) != n or sizes != sorted(sizes):
                raise SystemExit("sort by size did not order every row")
            await timed("TUI reverse sort (s)", lambda: app.sort_by("size"))
            start, t = table.cursor_row, time.perf_counter()
            for _ in range(20):
                await pilot.press("down")
            await pilot.pause()
            out["TUI 20 x cursor down (s)"] = time.perf_counter() - t
            if table.cursor_row != min(start + 20, n - 1):
                raise SystemExit(f"cursor at {table.cursor_row} after 20 downs from {start}")
    finally:
        probe.close()
    return out


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def growth_table(title: str, sizes: list[int], rows: dict[int, dict[str, float]]) -> None:
    """The figure at each size, then growth = figure ratio / size ratio between neighbouring sizes."""
    print(f"\n{title}")
    keys = list(next(iter(rows.values())).keys())
    print(f"{'measure':<42}" + "".join(f"{s:>12,}" for s in sizes)
          + "".join(f"{'growth ' + str(i + 1):>10}" for i in range(len(sizes) - 1)))
    for key in keys:
        vals = [rows[s][key] for s in sizes]
        cells = "".join(f"{v:>12.3f}" if isinstance(v, float) else f"{v:>12}" for v in vals)
        growth = ""
        for i in range(1, len(sizes)):
            a, b = vals[i - 1], vals[i]
            growth += f"{(b / a) / (sizes[i] / sizes[i - 1]):>10.2f}" if a else f"{'-':>10}"
        print(f"{key:<42}{cells}{growth}")


def paint_goal_line(rows: dict[int, dict[str, float]]) -> str:
    size, goal = PAINT_GOAL
    if size not in rows:
        return f"TUI first paint goal (<= {goal:.1f} s at {size:,} rows): not measured (add {size} to --sizes)"
    value = rows[size][FIRST_PAINT]
    return (f"TUI first paint at {size:,} rows: {value:.2f} s (goal <= {goal:.1f} s) "
            f"{'OK' if value <= goal else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="catalog entries, comma separated")
    parser.add_argument("--tensors", type=int, default=150, help="tensors per synthetic checkpoint")
    parser.add_argument("--repeat", type=int, default=3, help="app runs per size (median reported)")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    print("load:", uptime())
    rows: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("HUBMGR_HOME", str(Path(tmp) / "home"))
        for n in sizes:
            root = Path(tmp) / f"ws-{n}"
            root.mkdir()
            catalog = build_catalog(root, n, args.tensors)
            runs = [asyncio.run(tui_times(root, catalog, n, "checkpoint-009")) for _ in range(args.repeat)]
            rows[n] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            print(f"{n:,} rows: first paint {rows[n][FIRST_PAINT]:.3f} s (runs: "
                  + ", ".join(f"{run[FIRST_PAINT]:.2f}" for run in runs) + ")", flush=True)
    growth_table(f"TUI, synthetic catalog ({args.tensors} tensors per entry), median of {args.repeat}", sizes, rows)
    print("\n" + paint_goal_line(rows))
    print("load:", uptime())
    return 0


if __name__ == "__main__":
    sys.exit(main())
