"""Benchmark: push and pull ~1 GB of weights through hubmgr vs plain git + git-lfs, same kind of local bare repo.

    .venv/bin/python bench/git.py [--size-mb 1000] [--keep-dir]

hubmgr:  push (cold: new repo), re-push of the unchanged model, pull into a deploy dir on a
         "fresh host" (its own HUBMGR_HOME, so nothing is cached), verified + atomic switch.
plain:   git add + commit + `git lfs push` + `git push` from a repo holding the model;
         `git clone` (GIT_LFS_SKIP_SMUDGE=1) + `git lfs pull`, then a re-add/commit of the unchanged model.
Both sides use the same git/git-lfs binaries and file:// bare repos (git-lfs standalone transfer).
Prints a table and the ratios hubmgr/plain. Run by hand; numbers go into the issue note.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_model(folder: Path, size_mb: int) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bench"}))
    (folder / "README.md").write_text("# bench model\n")
    chunk = os.urandom(16 * 1024 * 1024)
    with open(folder / "model.safetensors", "wb") as fh:
        written = 0
        i = 0
        while written < size_mb * 10**6:
            block = chunk[: min(len(chunk), size_mb * 10**6 - written)]
            fh.write(bytes([i % 256]) + block[1:])  # distinct blocks
            written += len(block)
            i += 1


def timed(label: str, results: dict, fn) -> None:
    start = time.perf_counter()
    fn()
    results[label] = time.perf_counter() - start
    print(f"  {label:<28} {results[label]:7.2f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--keep-dir", action="store_true")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="hubmgr-bench-git-"))
    os.environ.update(HOME=str(root), GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@x",
                      GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="b@x", HUBMGR_HOME=str(root / "home"))
    from hubmgr import sync
    from hubmgr.catalog import Catalog
    from hubmgr.git.cmd import run_git

    model = root / "model"
    print(f"writing a {args.size_mb} MB model in {root} ...", flush=True)
    make_model(model, args.size_mb)
    size = sum(p.stat().st_size for p in model.iterdir())
    r: dict[str, float] = {}
    catalog = Catalog(root / "catalog.db")

    print("hubmgr:")
    timed("push (new repo)", r, lambda: sync.push(model, "local:bench", catalog=catalog))
    timed("re-push unchanged", r, lambda: sync.push(model, "local:bench", catalog=catalog))
    # the lifecycle usually scans (hashes) a checkpoint before pushing it: sha256 already in the catalog
    timed("push (new repo, hashes known)", r, lambda: sync.push(model, "local:bench-warm", catalog=catalog))
    host = root / "host"
    host.mkdir()
    (host / "config.toml").write_text(f'[registry]\ndir = "{root / "home" / "registry"}"\n')
    os.environ["HUBMGR_HOME"] = str(host)
    timed("pull (fresh host)", r, lambda: sync.pull("local:bench", dest=root / "srv"))

    print("plain git + git-lfs:")
    bare = root / "plain.git"
    run_git(["init", "-q", "--bare", str(bare)])
    work = root / "plain-work"
    shutil.copytree(model, work)  # the user's repo already holds the model: not timed
    run_git(["init", "-q"], cwd=work)
    run_git(["lfs", "track", "*.safetensors"], cwd=work)
    run_git(["remote", "add", "origin", bare.as_uri()], cwd=work)

    def plain_push() -> None:
        run_git(["add", "-A"], cwd=work)
        run_git(["commit", "-q", "-m", "model"], cwd=work)
        run_git(["lfs", "push", "origin", "main"], cwd=work)
        run_git(["push", "-q", "origin", "main"], cwd=work)

    def plain_repush() -> None:  # what a user does to check/update: add + status; nothing to commit
        os.utime(work / "model.safetensors")  # touched by a re-save: git must re-hash it
        run_git(["add", "-A"], cwd=work)
        run_git(["lfs", "push", "origin", "main"], cwd=work)
        run_git(["push", "-q", "origin", "main"], cwd=work)

    def plain_pull() -> None:
        clone = root / "plain-clone"
        run_git(["clone", "-q", bare.as_uri(), str(clone)], env={"GIT_LFS_SKIP_SMUDGE": "1"})
        run_git(["lfs", "pull"], cwd=clone)

    timed("git lfs push + git push", r, plain_push)
    timed("plain re-push unchanged", r, plain_repush)
    timed("git clone + git lfs pull", r, plain_pull)
    assert (root / "plain-clone" / "model.safetensors").read_bytes()[:1000] == \
        (root / "srv" / "current" / "model.safetensors").read_bytes()[:1000]

    keys = list(r)
    print(f"\nsize {size / 1e6:.0f} MB")
    print(f"{'':<22}{'hubmgr':>10}{'plain':>10}{'ratio':>8}")
    for label, (h, p) in {"push (cold)": (keys[0], keys[4]), "push (hashes known)": (keys[2], keys[4]),
                          "re-push unchanged": (keys[1], keys[5]), "pull": (keys[3], keys[6])}.items():
        print(f"{label:<22}{r[h]:>9.2f}s{r[p]:>9.2f}s{r[h] / r[p]:>8.2f}")
    if not args.keep_dir:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
