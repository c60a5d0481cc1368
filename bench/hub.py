"""Benchmark: hubmgr push/pull of a ~1 GB model vs `hf upload` / `hf download` on loopback.

Each tool talks to its own fresh Hub test server (hubmgr.testing.hub_server, run as a
separate process so it does not share the GIL with the clients; separate storage so
neither finds the other's LFS objects already uploaded), plain LFS
(HF_HUB_DISABLE_XET=1). Every operation runs as a fresh CLI process, so start-up
costs count for both. Run by hand (takes a few minutes, needs ~4 GB of free disk)::

    .venv/bin/python bench/hub.py [--size-mb 1024] [--shards 40] [--workdir /tmp/hubbench]

Prints one table: seconds per operation, the hubmgr/hf ratio, and what the server
received (LFS PUTs, LFS bytes, commits) for each push.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TOKEN = "hf_hubmgrBENCH_write_0000"
VENV_BIN = Path(sys.executable).parent


def write_model(folder: Path, size_mb: int, shards: int = 1) -> int:
    """Real safetensors weights (one F32 tensor of random bytes per file) + config.json, ~size_mb MB.

    ``shards`` > 1 splits the weights into that many files (a sharded checkpoint)."""
    if shards > 1:
        for k in range(shards):
            write_model(folder / f".shard-{k}", max(1, size_mb // shards))
            os.replace(folder / f".shard-{k}" / "model.safetensors",
                       folder / f"model-{k + 1:05d}-of-{shards:05d}.safetensors")
            shutil.rmtree(folder / f".shard-{k}")
        (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2}) + "\n")
        return sum(p.stat().st_size for p in folder.iterdir())
    folder.mkdir(parents=True, exist_ok=True)
    nbytes = size_mb * 1024 * 1024
    header = json.dumps({"weight": {"dtype": "F32", "shape": [nbytes // 4], "data_offsets": [0, nbytes]}}).encode()
    header += b" " * (-len(header) % 8)
    block = os.urandom(16 * 1024 * 1024)
    with open(folder / "model.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        written = 0
        while written < nbytes:
            chunk = block[: min(len(block), nbytes - written)]
            # vary blocks so nothing is trivially deduplicated
            fh.write(chunk[:8] + struct.pack("<Q", written) + chunk[16:])
            written += len(chunk)
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2}) + "\n")
    return sum(p.stat().st_size for p in folder.iterdir())


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "hubmgr.testing.hub_server", "--root", str(root),
                             "--token", f"{TOKEN}:alice:write"], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"server did not start: {url!r}")
    return proc, url


def server_call(url: str, path: str, method: str = "GET") -> dict:
    req = urllib.request.Request(url + path, method=method)
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def timed(label: str, argv: list[str], env: dict, url: str, results: list) -> float:
    server_call(url, "/_test/reset", "POST")
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"FAILED: {' '.join(argv)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}", file=sys.stderr)
        raise SystemExit(1)
    stats = server_call(url, "/_test/stats")
    results.append({"op": label, "seconds": round(elapsed, 2), **stats})
    print(f"  {label:<28} {elapsed:7.2f} s   lfs_puts={stats['lfs_puts']} lfs_bytes={stats['lfs_bytes']}"
          f" commits={stats['commits']}", flush=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--shards", type=int, default=1, help="split the weights into this many files")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hubbench-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    print(f"workdir {work}")
    model = work / "model"
    total = write_model(model, args.size_mb, args.shards)
    print(f"model: {total / 1e9:.2f} GB")

    servers = {tool: start_server(work / f"hub-{tool}") for tool in ("hubmgr", "hf")}
    base_env = {**os.environ, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HUBMGR_HOME": str(work / "hubmgr-home")}
    env = {tool: {**base_env, "HF_ENDPOINT": url, "HF_HOME": str(work / f"hf-home-{tool}")}
           for tool, (_, url) in servers.items()}
    url = {tool: u for tool, (_, u) in servers.items()}
    hubmgr, hf = str(VENV_BIN / "hubmgr"), str(VENV_BIN / "hf")
    push_hubmgr = [hubmgr, "push", str(model), "alice/bench", "--json"]
    push_hf = [hf, "upload", "alice/bench", str(model), "."]
    results: list[dict] = []
    try:
        t = {}
        t["push hubmgr"] = timed("hubmgr push", push_hubmgr, env["hubmgr"], url["hubmgr"], results)
        t["push hf"] = timed("hf upload", push_hf, env["hf"], url["hf"], results)
        t["repush hubmgr"] = timed("hubmgr push (unchanged)", push_hubmgr, env["hubmgr"], url["hubmgr"], results)
        t["repush hf"] = timed("hf upload (unchanged)", push_hf, env["hf"], url["hf"], results)
        t["pull hubmgr"] = timed("hubmgr pull", [hubmgr, "pull", "alice/bench", "--dest", str(work / "deploy"),
                                                 "--json"], env["hubmgr"], url["hubmgr"], results)
        t["pull hf"] = timed("hf download", [hf, "download", "alice/bench", "--local-dir", str(work / "hf-dl")],
                             env["hf"], url["hf"], results)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
    print()
    print(f"{'operation':<10} {'hubmgr s':>9} {'hf s':>8} {'ratio':>7}")
    for op in ("push", "repush", "pull"):
        a, b = t[f"{op} hubmgr"], t[f"{op} hf"]
        print(f"{op:<10} {a:9.2f} {b:8.2f} {a / b:7.2f}")
    print(f"throughput: hubmgr push {total / t['push hubmgr'] / 1e6:.0f} MB/s, "
          f"pull {total / t['pull hubmgr'] / 1e6:.0f} MB/s")
    (work / "results.json").write_text(json.dumps(results, indent=2))
    for tool in servers:
        shutil.rmtree(work / f"hub-{tool}", ignore_errors=True)
    shutil.rmtree(work / "deploy", ignore_errors=True)
    shutil.rmtree(work / "hf-dl", ignore_errors=True)


if __name__ == "__main__":
    main()
