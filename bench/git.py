"""Benchmark: push and pull ~1 GB of weights through hubmgr vs plain git + git-lfs (issue 16 point 3).

    .venv/bin/python bench/git.py [--size-mb 1000] [--shards 1] [--repeat 3] [--lfs-server local|giftless] [--keep-dir]

--lfs-server local (default): refs and LFS objects in file:// bare repos (hubmgr: local:NAME;
    git-lfs: its standalone file transfer).
--lfs-server giftless: refs in a bare repo on disk, LFS objects on a giftless server on 127.0.0.1
    (local storage backend), reached through ``lfs.url`` by both tools.

hubmgr:  push (cold: new repo; and "hashes known": the lifecycle scanned the checkpoint before, its
         sha256 is in the catalog), re-push of the unchanged model, pull into a deploy dir on a
         "fresh host" (its own HUBMGR_HOME, nothing cached), verified + atomic switch.
plain:   git add + commit + `git lfs push` + `git push` from a repo holding the model;
         `git clone` (GIT_LFS_SKIP_SMUDGE=1) + `git lfs pull`; a re-add of the touched, unchanged model.
Each repetition runs the hubmgr and plain steps interleaved on fresh repos (``sync`` before each timed
step); the table gives medians and the ratio hubmgr/plain with the goal (<= 0.90 for push and pull).
Both tools write every pushed/pulled byte once, so on a box whose disk is saturated by others the
ratios drift towards 1.0: note the load average the script prints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL = 0.90


def make_model(folder: Path, size_mb: int, shards: int = 1) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bench"}))
    (folder / "README.md").write_text("# bench model\n")
    chunk = os.urandom(16 * 1024 * 1024)
    names = (["model.safetensors"] if shards == 1 else
             [f"model-{k:05d}-of-{shards:05d}.safetensors" for k in range(1, shards + 1)])
    per_file = size_mb * 10**6 // shards
    i = 0
    for name in names:
        with open(folder / name, "wb") as fh:
            written = 0
            while written < per_file:
                block = chunk[: min(len(chunk), per_file - written)]
                fh.write(bytes([i % 256, i // 256 % 256]) + block[2:])  # distinct blocks
                written += len(block)
                i += 1


def read_through(folder: Path) -> None:
    """Read every file once (untimed) so both tools start a push with their source in the page cache."""
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def timed(label: str, results: dict, fn, before=None) -> None:
    if before is not None:
        before()
    # every step starts with no dirty pages: a step must not pay the write-back of the one before it
    os.sync()
    start = time.perf_counter()
    fn()
    results.setdefault(label, []).append(time.perf_counter() - start)
    print(f"  {label:<30} {results[label][-1]:7.2f} s", flush=True)


@contextlib.contextmanager
def lfs_url_env(url: str | None):
    """``lfs.url`` for every git that hubmgr starts (its working copies live under HUBMGR_HOME)."""
    if url is None:
        yield
        return
    os.environ.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="lfs.url", GIT_CONFIG_VALUE_0=url)
    try:
        yield
    finally:
        for key in ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"):
            os.environ.pop(key, None)


def one_round(i: int, root: Path, source: Path, r: dict, server: str | None, keep: bool) -> None:
    from hubmgr import sync
    from hubmgr.catalog import Catalog
    from hubmgr.git.cmd import run_git

    rnd = root / f"round-{i}"
    rnd.mkdir()
    home = rnd / "home"
    os.environ["HUBMGR_HOME"] = str(home)
    catalog = Catalog(rnd / "catalog.db")

    def lfs_url(name: str) -> str | None:
        return None if server is None else f"{server}/bench/{name}-{i}.git/info/lfs"

    def target(name: str) -> str:
        if server is None:
            return f"local:{name}"
        bare = rnd / f"{name}.git"  # refs on disk; the LFS objects go to giftless
        if not bare.exists():
            run_git(["init", "-q", "--bare", str(bare)])
        return str(bare)

    cold, warm = target("hubmgr"), target("hubmgr-warm")
    # each side pushes its own fresh copy of the model (not timed), read into the page cache before each push
    model = rnd / "hub-model"
    shutil.copytree(source, model)
    # plain side setup (not timed): the user's repo already holds the model
    bare = rnd / "plain.git"
    run_git(["init", "-q", "--bare", str(bare)])
    work = rnd / "plain-work"
    shutil.copytree(source, work)
    run_git(["init", "-q"], cwd=work)
    if server is not None:
        run_git(["config", "lfs.url", lfs_url("plain")], cwd=work)
    run_git(["lfs", "track", "*.safetensors"], cwd=work)
    run_git(["remote", "add", "origin", bare.as_uri()], cwd=work)

    def plain_push() -> None:
        run_git(["add", "-A"], cwd=work)
        run_git(["commit", "-q", "-m", "model"], cwd=work)
        run_git(["lfs", "push", "origin", "main"], cwd=work)
        run_git(["push", "-q", "origin", "main"], cwd=work)

    def plain_repush() -> None:  # what a user does to check/update: add + push; nothing to commit
        for weights in work.glob("*.safetensors"):  # touched by a re-save: git must re-hash them
            os.utime(weights)
        run_git(["add", "-A"], cwd=work)
        run_git(["lfs", "push", "origin", "main"], cwd=work)
        run_git(["push", "-q", "origin", "main"], cwd=work)

    clone = rnd / "plain-clone"

    def plain_pull() -> None:
        run_git(["clone", "-q", bare.as_uri(), str(clone)], env={"GIT_LFS_SKIP_SMUDGE": "1"})
        if server is not None:
            run_git(["config", "lfs.url", lfs_url("plain")], cwd=clone)
        run_git(["lfs", "pull"], cwd=clone)

    def hub_pull() -> None:
        host = rnd / "host"  # a deploy host: its own HUBMGR_HOME, the same registry
        host.mkdir()
        (host / "config.toml").write_text(f'[registry]\ndir = "{home / "registry"}"\n')
        os.environ["HUBMGR_HOME"] = str(host)
        try:
            with lfs_url_env(lfs_url("hubmgr")):
                sync.pull(cold, dest=rnd / "srv")
        finally:
            os.environ["HUBMGR_HOME"] = str(home)

    def hub_push(where: str, name: str):
        def run() -> None:
            with lfs_url_env(lfs_url(name)):
                sync.push(model, where, catalog=catalog)
        return run

    print(f"round {i + 1}:", flush=True)
    hub_warm, plain_warm = (lambda: read_through(model)), (lambda: read_through(work))
    timed("hubmgr push (cold)", r, hub_push(cold, "hubmgr"), hub_warm)
    timed("plain git lfs push + git push", r, plain_push, plain_warm)
    timed("hubmgr re-push unchanged", r, hub_push(cold, "hubmgr"), hub_warm)
    timed("plain re-push unchanged", r, plain_repush, plain_warm)
    # the lifecycle usually scans (hashes) a checkpoint before pushing it: sha256 already in the catalog
    timed("hubmgr push (hashes known)", r, hub_push(warm, "hubmgr-warm"), hub_warm)
    timed("hubmgr pull (fresh host)", r, hub_pull)
    timed("plain clone + git lfs pull", r, plain_pull)
    for weights in model.glob("*.safetensors"):  # both tools brought back the same bytes
        with open(clone / weights.name, "rb") as a, open(rnd / "srv" / "current" / weights.name, "rb") as b:
            assert a.read(1 << 20) == b.read(1 << 20)
    if not keep:
        shutil.rmtree(rnd, ignore_errors=True)  # ~7 GB per round


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lfs-server", choices=("local", "giftless"), default="local")
    ap.add_argument("--shards", type=int, default=1, help="split the weights over this many files")
    ap.add_argument("--keep-dir", action="store_true")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="hubmgr-bench-git-"))
    os.environ.update(HOME=str(root), GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@x",
                      GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="b@x")
    model = root / "model"
    print(f"writing a {args.size_mb} MB model in {root} ...", flush=True)
    make_model(model, args.size_mb, args.shards)
    size = sum(p.stat().st_size for p in model.iterdir())
    r: dict[str, list[float]] = {}
    load = os.getloadavg()
    with contextlib.ExitStack() as stack:
        server = None
        if args.lfs_server == "giftless":
            from hubmgr.testing.lfs_server import giftless_server

            server = stack.enter_context(giftless_server(root / "giftless-storage"))
            print(f"giftless on {server}", flush=True)
        for i in range(args.repeat):
            one_round(i, root, model, r, server, args.keep_dir)
            if server is not None and not args.keep_dir:
                shutil.rmtree(root / "giftless-storage" / "bench", ignore_errors=True)
    load_after = os.getloadavg()

    med = {k: statistics.median(v) for k, v in r.items()}
    print(f"\nsize {size / 1e6:.0f} MB in {args.shards} weight file(s), LFS store: {args.lfs_server}, "
          f"median of {args.repeat}, "
          f"load average {load[0]:.2f} before / {load_after[0]:.2f} after")
    print(f"{'':<22}{'hubmgr':>10}{'plain':>10}{'ratio':>8}")
    rows = {"push (cold)": ("hubmgr push (cold)", "plain git lfs push + git push", GOAL),
            "push (hashes known)": ("hubmgr push (hashes known)", "plain git lfs push + git push", GOAL),
            "re-push unchanged": ("hubmgr re-push unchanged", "plain re-push unchanged", None),
            "pull": ("hubmgr pull (fresh host)", "plain clone + git lfs pull", GOAL)}
    for label, (h, p, goal) in rows.items():
        ratio = med[h] / med[p]
        verdict = f"  (goal <= {goal:.2f}) {'OK' if ratio <= goal else 'MISSED'}" if goal else ""
        print(f"{label:<22}{med[h]:>9.2f}s{med[p]:>9.2f}s{ratio:>8.2f}{verdict}")
    if not args.keep_dir:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
