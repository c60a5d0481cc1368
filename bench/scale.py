"""Benchmark: how cost grows with the size of the work (issue 16, goal 5).

Run by hand (the machine is shared: note ``uptime`` next to the figures)::

    .venv/bin/python bench/scale.py [--sizes 1000,10000] [--hub-files 200,2000]
                                    [--guard-commits 2000,20000] [--skip hub,guard]

Workspace sizes (checkpoints, mixed kinds, tiny files; bench/scan.py's build()):
cold scan, warm rescan (must hash 0 bytes), ``hubmgr ls --json`` (fresh process),
TUI first paint with every row, filter, sort, catalog size. Hub (own test-server
process): push of a folder of N files, unchanged re-push (listing calls, uploads),
pull. Guard: ``hubmgr guard`` (fresh process) on a repo of N commits, all unpushed
and with all but 10 pushed. One table per measure: the figure at each size, then
``growth`` = figure ratio / size ratio between neighbouring sizes (1.0 = linear).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub import TOKEN, server_call, start_server  # noqa: E402
from scan import build  # noqa: E402
from tui import growth_table, tui_times  # noqa: E402

VENV_BIN = Path(sys.executable).parent
HUBMGR = str(VENV_BIN / "hubmgr")
HUB_SIZES: list[int] = []
TUI_RUNS = 3  # app runs per workspace size; the median is reported


def run(argv: list[str], env: dict, cwd: Path | None = None, ok=(0,)) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise SystemExit(f"FAILED ({proc.returncode}): {' '.join(argv)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, proc


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ---------------------------------------------------------------- workspace

def workspace(n: int, work: Path) -> dict[str, float]:
    from hubmgr.catalog import Catalog
    from hubmgr.checkpoints import scan

    root = work / f"ws-{n}"
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    build(root, n)
    print(f"  built {n} checkpoints ({dir_bytes(root) / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f}s", flush=True)
    db = root / ".hubmgr" / "catalog.db"
    db.parent.mkdir()
    catalog = Catalog(db)
    out: dict[str, float] = {}
    for label in ("cold scan (s)", "warm rescan (s)"):
        t0 = time.perf_counter()
        result = scan([root], catalog=catalog)
        out[label] = time.perf_counter() - t0
        print(f"  {label} {out[label]:.2f}  entries={len(result.checkpoints)} hashed={result.bytes_hashed} B",
              flush=True)
    if result.bytes_hashed:
        raise SystemExit("warm rescan hashed bytes")
    entries = len(result.checkpoints)
    out["catalog size (MB)"] = sum(p.stat().st_size for p in db.parent.glob("catalog.db*")) / 1e6
    env = {**os.environ, "HUBMGR_CATALOG": str(db), "HUBMGR_HOME": str(work / "home")}
    out["hubmgr ls --json, fresh process (s)"], proc = run([HUBMGR, "ls", "--json"], env, cwd=root)
    listed = len(json.loads(proc.stdout)["checkpoints"])
    if listed != entries:
        raise SystemExit(f"ls --json listed {listed}, scan found {entries}")
    os.environ.setdefault("HUBMGR_HOME", str(work / "home"))
    runs = [asyncio.run(tui_times(root, catalog, entries, "sd-")) for _ in range(TUI_RUNS)]
    out.update({key: statistics.median(run[key] for run in runs) for key in runs[0]})
    catalog.close() if hasattr(catalog, "close") else None
    shutil.rmtree(root, ignore_errors=True)
    return out


# ---------------------------------------------------------------- hub

def hub_folder(folder: Path, n: int) -> None:
    """A model folder of ``n`` files: config.json, tiny safetensors shards (LFS) and small text files."""
    import torch
    from safetensors.torch import save_file

    (folder / "shards").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "gpt2", "n_layer": 2}\n')
    for i in range(1, n):
        if i % 2:
            save_file({"w": torch.full((8, 8), float(i))}, str(folder / f"shards/part-{i:05d}.safetensors"))
        else:
            sub = folder / "notes" / f"{i // 500:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"note-{i:05d}.txt").write_text(f"note {i}\n")


def hub(n: int, work: Path) -> dict[str, float]:
    base = work / f"hub-{n}"
    folder = base / "model"
    hub_folder(folder, n)
    proc, url = start_server(base / "server")
    env = {**os.environ, "HF_TOKEN": TOKEN, "HF_ENDPOINT": url, "HF_HUB_DISABLE_XET": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "HUBMGR_HOME": str(base / "home"), "HF_HOME": str(base / "hf-home")}
    out: dict[str, float] = {}
    try:
        push = [HUBMGR, "push", str(folder), "alice/scale", "--json"]
        for label in ("push", "unchanged re-push"):
            server_call(url, "/_test/reset", "POST")
            out[f"hub {label} (s)"], _ = run(push, env)
            stats = server_call(url, "/_test/stats")
            out[f"hub {label}: HTTP requests"] = stats["requests"]
            out[f"hub {label}: listing calls"] = stats["listing_calls"]
            out[f"hub {label}: LFS uploads"] = stats["lfs_puts"]
            out[f"hub {label}: commits"] = stats["commits"]
        server_call(url, "/_test/reset", "POST")
        out["hub pull (s)"], _ = run([HUBMGR, "pull", "alice/scale", "--dest", str(base / "deploy"), "--json"], env)
        out["hub pull: HTTP requests"] = server_call(url, "/_test/stats")["requests"]
        current = base / "deploy" / "current"
        pulled = {str(p.relative_to(current)) for p in current.rglob("*") if p.is_file()}
        pushed = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
        if pushed - pulled:
            raise SystemExit(f"pull lacks {len(pushed - pulled)} pushed files, e.g. {sorted(pushed - pulled)[:3]}")
        if n == min(HUB_SIZES):
            print(f"  pull also wrote (card, manifest...): {sorted(pulled - pushed)}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)
    return out


# ---------------------------------------------------------------- guard

def guard_repo(repo: Path, n: int) -> None:
    """``n`` commits (each changing one small file) via git fast-import, which writes them in one pass."""
    git = ["git", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    lines: list[str] = []
    for i in range(n):
        data = f"step {i}\n"
        msg = f"commit {i}\n"
        lines += ["commit refs/heads/main", f"mark :{i + 1}",
                  f"committer Bench <bench@example.com> {1_700_000_000 + i} +0000",
                  f"data {len(msg)}", msg.rstrip("\n")]
        if i:
            lines.append(f"from :{i}")
        lines += [f"M 100644 inline files/f{i % 500:03d}.txt", f"data {len(data)}", data.rstrip("\n"), ""]
    subprocess.run(git + ["fast-import", "--quiet"], input="\n".join(lines) + "\n", text=True, check=True)
    subprocess.run(git + ["checkout", "-q", "main"], check=True)


def guard(n: int, work: Path) -> dict[str, float]:
    repo = work / f"guard-{n}"
    guard_repo(repo, n)
    env = {**os.environ, "HUBMGR_HOME": str(work / "home")}
    out: dict[str, float] = {}
    try:
        out["guard, all commits unpushed (s)"], _ = run([HUBMGR, "guard", str(repo), "--json"], env)
        # all but the last 10 commits pushed: a remote-tracking ref at main~10
        subprocess.run(["git", "-C", str(repo), "update-ref", "refs/remotes/origin/main", "main~10"], check=True)
        out["guard, 10 unpushed (s)"], _ = run([HUBMGR, "guard", str(repo), "--json"], env)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    return out


# ---------------------------------------------------------------- report

# Issue 16 goal 5: (measure, size) -> limit; and no measure may grow faster than linearly.
GOALS = {("warm rescan (s)", 10_000): 1.0, ("TUI first paint, all rows (s)", 10_000): 1.0}
GROWTH_LIMIT = 1.3  # growth above 1.0 within this margin is noise on a shared box; fixed costs pull it below


def goals(sizes: list[int], rows: dict[int, dict[str, float]]) -> None:
    """Each goal next to its figure: absolute limits, then linear growth of every time and size."""
    print("goals:")
    for (key, size), limit in GOALS.items():
        if size in rows and key in rows[size]:
            v = rows[size][key]
            print(f"  {key} at {size:,}: {v:.3f} (goal <= {limit}) {'OK' if v <= limit else 'MISSED'}")
    for key in next(iter(rows.values())):
        if not key.endswith(("(s)", "(MB)")):
            continue
        for a, b in zip(sizes, sizes[1:]):
            if rows[a][key] > 0.05:  # below that, start-up noise decides the ratio
                g = (rows[b][key] / rows[a][key]) / (b / a)
                print(f"  {key} growth {a:,}->{b:,}: {g:.2f} (goal <= {GROWTH_LIMIT}) "
                      f"{'OK' if g <= GROWTH_LIMIT else 'MISSED'}")


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=ints, default=ints("1000,10000"), help="workspace checkpoints")
    parser.add_argument("--hub-files", type=ints, default=ints("200,2000"))
    parser.add_argument("--guard-commits", type=ints, default=ints("2000,20000"))
    parser.add_argument("--skip", default="", help="comma list of: workspace,hub,guard")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    HUB_SIZES[:] = args.hub_files
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    work = Path(tempfile.mkdtemp(prefix="hubmgr-bench-scale-"))
    try:
        parts = [("workspace", args.sizes, workspace, "workspace (checkpoints)"),
                 ("hub", args.hub_files, hub, "Hub repo (files)"),
                 ("guard", args.guard_commits, guard, "guard (commits)")]
        for name, sizes, fn, title in parts:
            if name in skip:
                continue
            rows = {}
            for n in sizes:
                print(f"{name} {n:,} ...", flush=True)
                rows[n] = fn(n, work)
            growth_table(title, sizes, rows)
            if name == "workspace":
                goals(sizes, rows)
        print("\nload:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
