"""Benchmark: hubmgr push/pull of a ~1 GB model vs `hf upload` / `hf download` on loopback.

Each tool talks to its own fresh Hub test server (hubmgr.testing.hub_server, run as a
separate process so it does not share the GIL with the clients; separate storage so
neither finds the other's LFS objects already uploaded), plain LFS
(HF_HUB_DISABLE_XET=1). Every operation runs as a fresh CLI process, so start-up
costs count for both. Each repetition starts fresh servers and fresh homes (hubmgr's
catalog starts empty: no sha256 is known before the push), and the two tools take
turns going first. Run by hand (a few minutes, needs ~4 GB of free disk)::

    .venv/bin/python bench/hub.py [--size-mb 1024] [--shards 40] [--repeat 3] [--ops pull] [--workdir /tmp/hubbench]

Prints each run (wall seconds, CPU seconds of the client and of the server, what the server
received: LFS PUTs, LFS bytes, commits), then a table of medians: seconds per operation, the
hubmgr/hf ratio with the goal of issue 16 next to it, and the ratio of CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
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


def cpu_seconds(pid: int) -> float:
    """user+system CPU time a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(label: str, argv: list[str], env: dict, url: str, results: list, server_pid: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the client process and the server together) of one CLI run."""
    server_call(url, "/_test/reset", "POST")
    os.sync()  # the previous operation's dirty pages are written back before this one, not during it
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = cpu_seconds(server_pid)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    server = cpu_seconds(server_pid) - server_before
    if proc.returncode != 0:
        print(f"FAILED: {' '.join(argv)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}", file=sys.stderr)
        raise SystemExit(1)
    stats = server_call(url, "/_test/stats")
    hashed = _bytes_hashed(proc.stdout) if label.startswith("hubmgr push") else None
    results.append({"op": label, "seconds": round(elapsed, 2), "client_cpu": round(client, 2),
                    "server_cpu": round(server, 2), **stats})
    print(f"  {label:<28} {elapsed:7.2f} s  cpu client {client:5.2f} server {server:5.2f}   lfs_puts={stats['lfs_puts']}"
          f" lfs_bytes={stats['lfs_bytes']} commits={stats['commits']} served={stats.get('resolve_bytes', 0)}"
          + (f" hashed={hashed}" if hashed is not None else ""),
          flush=True)
    return elapsed, client + server


def _bytes_hashed(stdout: str) -> int | None:
    """PushPlan.bytes_hashed from ``hubmgr push --json`` (bytes this push read for sha256)."""
    try:
        doc = json.loads(stdout)
    except ValueError:
        return None
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "bytes_hashed" in node:
                return node["bytes_hashed"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def same_files_new_commit(url: str, repo: str, config: Path) -> None:
    """Two commits (drop config.json, put it back): a new tip whose files all exist in the first release."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(endpoint=url, token=TOKEN)
    api.create_commit(repo, [CommitOperationDelete("config.json")], commit_message="drop config")
    api.create_commit(repo, [CommitOperationAdd("config.json", config)], commit_message="restore config")


GOALS = {"push": 0.95, "pull": 1.0}  # issue 16: hubmgr/hf wall-time ratio
OPS = ("push", "repush", "pull")


def run_once(work: Path, model: Path, rep: int, order: tuple[str, str], t: dict[str, list[float]],
             results: list, served: dict[str, list[int]], ops: tuple[str, ...] = OPS,
             scanned: bool = False) -> None:
    """One repetition: fresh servers and homes, each operation by each tool in ``order``.

    ``scanned``: an untimed ``hubmgr scan`` of the model first, as on the user's path (convert or
    scan came before the push), so the push may take sha256 from the catalog where the files' stat
    fingerprints are unchanged. ``hf upload`` has no such cache and hashes every time."""
    rep_dir = work / f"rep{rep}"
    servers = {tool: start_server(rep_dir / f"hub-{tool}") for tool in ("hubmgr", "hf")}
    base_env = {**os.environ, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HUBMGR_HOME": str(rep_dir / "hubmgr-home")}
    env = {tool: {**base_env, "HF_ENDPOINT": url, "HF_HOME": str(rep_dir / f"hf-home-{tool}")}
           for tool, (_, url) in servers.items()}
    url = {tool: u for tool, (_, u) in servers.items()}
    hubmgr, hf = str(VENV_BIN / "hubmgr"), str(VENV_BIN / "hf")
    argv = {
        ("push", "hubmgr"): [hubmgr, "push", str(model), "alice/bench", "--json"],
        ("push", "hf"): [hf, "upload", "alice/bench", str(model), "."],
        ("pull", "hubmgr"): [hubmgr, "pull", "alice/bench", "--dest", str(rep_dir / "deploy"), "--json"],
        ("pull", "hf"): [hf, "download", "alice/bench", "--local-dir", str(rep_dir / "hf-dl")],
    }
    labels = {"push": ("hubmgr push", "hf upload"), "repush": ("hubmgr push (unchanged)", "hf upload (unchanged)"),
              "pull": ("hubmgr pull", "hf download")}
    try:
        if "push" not in ops:  # the pull rows alone: both servers get the model by an untimed hf upload
            for tool in order:
                subprocess.run(argv[("push", "hf")], env=env[tool], capture_output=True, check=True)
        for op in ops:
            for tool in order:
                label = labels[op][tool == "hf"]
                if scanned and op == "push" and tool == "hubmgr":
                    subprocess.run([hubmgr, "scan", str(model)], env=env[tool], capture_output=True, check=True)
                    label += " (after scan)"
                wall, cpu = timed(label, argv[("push" if op == "repush" else op, tool)], env[tool], url[tool],
                                  results, servers[tool][0].pid)
                t[f"{op} {tool}"].append(wall)
                t[f"{op} {tool} cpu"].append(cpu)
        if "pull" in ops:  # a release whose files a kept release already has: hard links, no byte on the network
            same_files_new_commit(url["hubmgr"], "alice/bench", model / "config.json")
            timed("hubmgr pull (kept files)", argv[("pull", "hubmgr")], env["hubmgr"], url["hubmgr"], results,
                  servers["hubmgr"][0].pid)
            served["kept"].append(results[-1]["resolve_bytes"])
            served["pull"].append(next(r["resolve_bytes"] for r in results[::-1] if r["op"] == "hubmgr pull"))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(rep_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--shards", type=int, default=1, help="split the weights into this many files")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (fresh servers each); medians reported")
    parser.add_argument("--scanned", action="store_true",
                        help="run an untimed `hubmgr scan` of the model before hubmgr's push (catalog sha256 reuse)")
    parser.add_argument("--ops", default=",".join(OPS),
                        help="operations to time (comma-separated; 'pull' alone uploads the model untimed)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hubbench-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    print(f"workdir {work}")
    model = work / "model"
    total = write_model(model, args.size_mb, args.shards)
    files = sum(1 for _ in model.iterdir())
    print(f"model: {total / 1e9:.2f} GB in {files} files; load {os.getloadavg()[0]:.2f} (1-min average)")
    ops = tuple(op for op in OPS if op in args.ops.split(","))
    t: dict[str, list[float]] = {f"{op} {tool}{cpu}": [] for op in OPS for tool in ("hubmgr", "hf")
                                 for cpu in ("", " cpu")}
    results: list[dict] = []
    served: dict[str, list[int]] = {"pull": [], "kept": []}  # file bytes the server sent to hubmgr pull
    loads = []
    for rep in range(args.repeat):
        order = ("hubmgr", "hf") if rep % 2 == 0 else ("hf", "hubmgr")
        print(f"repetition {rep + 1}/{args.repeat} ({order[0]} first), load {os.getloadavg()[0]:.2f}")
        run_once(work, model, rep, order, t, results, served, ops, args.scanned)
        loads.append(os.getloadavg()[0])
    print()
    print(f"{total / 1e9:.2f} GB in {files} files, median of {args.repeat} (load during the runs: "
          f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs)")
    print(f"{'operation':<10} {'hubmgr s':>9} {'hf s':>8} {'ratio':>7}  {'goal':<27} {'cpu ratio':>9}  wall ratio of each run")
    for op in ops:
        a, b = statistics.median(t[f"{op} hubmgr"]), statistics.median(t[f"{op} hf"])
        ratios = [x / y for x, y in zip(t[f"{op} hubmgr"], t[f"{op} hf"])]
        cpu = statistics.median(t[f"{op} hubmgr cpu"]) / max(1e-9, statistics.median(t[f"{op} hf cpu"]))
        goal = GOALS.get(op)
        verdict = (f"(goal <= {goal:.2f}) {'OK' if a / b <= goal else 'NOT MET'}" if goal else "")
        print(f"{op:<10} {a:9.2f} {b:8.2f} {a / b:7.2f}  {verdict:<27} {cpu:9.2f}  "
              f"{' '.join(f'{r:.2f}' for r in ratios)}")
    print("(cpu ratio: CPU seconds of client + server, hubmgr/hf; on a loaded box it tracks the wall ratio "
          "a quiet box would show only when both are CPU-bound)")
    kept = [r["seconds"] for r in results if r["op"] == "hubmgr pull (kept files)"]
    if kept:
        print(f"hubmgr pull of a release whose files a kept release has: server sent {max(served['kept'])} file bytes "
              f"(goal 0) {'OK' if max(served['kept']) == 0 else 'NOT MET'} in {statistics.median(kept):.2f} s "
              f"(each linked file is hashed again); the first pull: {min(served['pull'])}")
    print("throughput (hubmgr): " + ", ".join(f"{op} {total / statistics.median(t[f'{op} hubmgr']) / 1e6:.0f} MB/s"
                                            for op in ops if op != "repush"))
    (work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
