"""A bare git repository that refuses large files the way GitHub does (tests, users' CI).

``make_github_like_remote(path, limit_bytes=1_000_000)`` creates a bare repo whose
pre-receive hook rejects a push if any *new* blob is over the limit (even one
deleted again by a later commit in the same push), printing GitHub's GH001
message, and rejects Git LFS pointers whose recorded size is over the LFS cap.
Push to it with ``file://`` URLs; git-lfs's standalone file transfer stores LFS
objects in ``<repo>/lfs/objects``.
"""

from __future__ import annotations

import sys
from pathlib import Path

GH001 = "GH001: Large files detected."

_HOOK = r'''#!{python}
"""pre-receive: reject blobs over {limit} bytes and LFS files over {lfs_limit} bytes (GitHub-like)."""
import subprocess
import sys

LIMIT = {limit}
LFS_LIMIT = {lfs_limit}
ZERO = "0" * 40
POINTER = b"version https://git-lfs.github.com/spec/v1"


def mb(n):
    return "%.2f MB" % (n / 10**6) if n < 10**9 else "%.2f GB" % (n / 10**9)


def git(*args, data=None):
    return subprocess.run(["git", *args], input=data, capture_output=True, check=True).stdout


problems = []
for line in sys.stdin.read().splitlines():
    old, new, ref = line.split()
    if new == ZERO:
        continue
    listing = git("rev-list", "--objects", new, "--not", "--all").decode(errors="replace").splitlines()
    paths = {{}}
    for entry in listing:
        oid, _, path = entry.partition(" ")
        paths.setdefault(oid, path)
    if not paths:
        continue
    checked = git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                  data=("\n".join(paths) + "\n").encode()).decode().splitlines()
    small = []
    for row in checked:
        oid, kind, size = row.split()
        size = int(size)
        if kind != "blob":
            continue
        if size > LIMIT:
            problems.append("File %s is %s; this exceeds GitHub's file size limit of %s"
                            % (paths[oid] or oid, mb(size), mb(LIMIT)))
        elif size <= 1024:
            small.append(oid)
    for oid in small:
        data = git("cat-file", "blob", oid)
        if not data.startswith(POINTER):
            continue
        for field in data.decode(errors="replace").splitlines():
            if field.startswith("size ") and int(field[5:]) > LFS_LIMIT:
                problems.append("Git LFS file %s is %s; this exceeds GitHub's Git LFS file size limit of %s"
                                % (paths[oid] or oid, mb(int(field[5:])), mb(LFS_LIMIT)))

if problems:
    print("error: Trace: hubmgr-github-like", file=sys.stderr)
    print("error: See https://gh.io/lfs for more information.", file=sys.stderr)
    for problem in problems:
        print("error: " + problem, file=sys.stderr)
    print("error: {gh001} You may want to try Git Large File Storage - https://git-lfs.com.", file=sys.stderr)
    sys.exit(1)
'''


def make_github_like_remote(path: str | Path, *, limit_bytes: int = 100 * 10**6,
                            lfs_limit_bytes: int = 2 * 2**30) -> Path:
    """Create a bare repo at ``path`` (must not exist) with the GitHub-like pre-receive hook."""
    from ..git.cmd import run_git

    repo = Path(path)
    if repo.exists():
        raise FileExistsError(repo)
    repo.parent.mkdir(parents=True, exist_ok=True)
    run_git(["init", "-q", "--bare", "-b", "main", str(repo)], lfs=False)
    hook = repo / "hooks" / "pre-receive"
    hook.write_text(_HOOK.format(python=sys.executable, limit=int(limit_bytes), lfs_limit=int(lfs_limit_bytes),
                                 gh001=GH001))
    hook.chmod(0o755)
    return repo


def git(repo: str | Path, *args: str, check: bool = True, input: bytes | None = None):
    """Run git in ``repo`` with the Git LFS filters configured (no global ``git lfs install`` needed).

    Returns the ``CompletedProcess`` (bytes); ``check=False`` to inspect a failure.
    """
    import subprocess

    from ..git.cmd import LFS_CONFIG, _base_env

    return subprocess.run(["git", *LFS_CONFIG, *args], cwd=repo, input=input, capture_output=True,
                          env=_base_env(None), check=check)


def init_code_repo(path: str | Path, *, origin: str | Path | None = None) -> Path:
    """A code repository with one small commit on ``main``, pushed to ``origin`` (upstream set) if given."""
    repo = Path(path)
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    (repo / "README.md").write_text("# my project\n")
    (repo / "train.py").write_text("print('training')\n")
    git(repo, "add", "README.md", "train.py")
    git(repo, "commit", "-q", "-m", "initial code")
    if origin is not None:
        url = origin if "://" in str(origin) else Path(origin).resolve().as_uri()
        git(repo, "remote", "add", "origin", str(url))
        git(repo, "push", "-q", "-u", "origin", "main")
    return repo
