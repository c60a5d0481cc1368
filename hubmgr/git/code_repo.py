"""Git plumbing for inspecting and rewriting a user's *code* repository (the GitHub guard).

``guard.py`` decides; this module runs git (DESIGN rule 3: only ``remotes/`` runs git).
Everything here works on a non-bare working copy and never touches remote repositories:
no fetch, no push. Rewrites are limited to commits the caller names.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..errors import ConflictError, NotFoundError
from .cmd import GitError, git_text, require_git, require_git_lfs, run_git

ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class BlobChange:
    """One commit adding, changing or deleting one path, with the blob ids on both sides."""

    commit: str
    path: str
    status: str  # A, M, D, T (type change)
    old_oid: str
    new_oid: str


# --- where we are ------------------------------------------------------------


def toplevel(repo_dir: str | os.PathLike[str]) -> Path:
    """The root of the working copy containing ``repo_dir``; ``GitError`` if not a git repository."""
    require_git()
    path = Path(repo_dir).expanduser()
    if not path.is_dir():
        raise NotFoundError(f"no such directory: {path}", "give the path of your code repository")
    proc = run_git(["rev-parse", "--show-toplevel"], cwd=path, check=False, lfs=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise GitError(f"not a git repository: {path.resolve()}",
                       "run it inside your code repository, or pass its path (hubmgr guard PATH)")
    return Path(proc.stdout.decode().strip()).resolve()


def current_branch(repo: Path) -> str | None:
    """``refs/heads/NAME`` of HEAD, or None when HEAD is detached."""
    proc = run_git(["symbolic-ref", "-q", "HEAD"], cwd=repo, check=False, lfs=False)
    return proc.stdout.decode().strip() or None


def upstream_of(repo: Path, branch: str | None) -> str | None:
    """Full ref of the branch's upstream (``refs/remotes/origin/main``), or None if it has none."""
    if not branch:
        return None
    short = branch.removeprefix("refs/heads/")
    proc = run_git(["rev-parse", "--symbolic-full-name", f"{short}@{{upstream}}"], cwd=repo, check=False, lfs=False)
    ref = proc.stdout.decode().strip()
    if proc.returncode != 0 or not ref or resolve(repo, ref) is None:
        return None
    return ref


def remote_refs(repo: Path, remote: str | None = None) -> list[str]:
    """Remote-tracking refs (all remotes, or one), i.e. what we know is already pushed."""
    pattern = f"refs/remotes/{remote}/" if remote else "refs/remotes/"
    out = git_text(["for-each-ref", "--format=%(refname)", pattern], cwd=repo, lfs=False)
    return [ln for ln in out.splitlines() if ln and not ln.endswith("/HEAD")]


def resolve(repo: Path, rev: str) -> str | None:
    """Commit sha of ``rev``, or None if it does not name a commit here."""
    proc = run_git(["rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], cwd=repo, check=False, lfs=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.decode().strip() or None


def list_remotes(repo: Path) -> list[str]:
    return git_text(["remote"], cwd=repo, lfs=False).split()


def is_clean(repo: Path) -> bool:
    """No staged or unstaged changes to tracked files (untracked files do not count)."""
    out = git_text(["status", "--porcelain", "--untracked-files=no"], cwd=repo, lfs=False)
    return not out


def hooks_dir(repo: Path) -> Path:
    """Where git looks for hooks (respects ``core.hooksPath``)."""
    path = Path(git_text(["rev-parse", "--git-path", "hooks"], cwd=repo, lfs=False))
    return path if path.is_absolute() else (repo / path).resolve()


def git_dir(repo: Path) -> Path:
    path = Path(git_text(["rev-parse", "--git-dir"], cwd=repo, lfs=False))
    return path if path.is_absolute() else (repo / path).resolve()


# --- what is not pushed yet --------------------------------------------------


def _range_args(include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    return [*include, "--not", *exclude] if exclude else list(include)


def rev_list(repo: Path, include: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """Commits reachable from ``include`` but not from ``exclude`` (newest first)."""
    if not include:
        return []
    out = git_text(["rev-list", *_range_args(include, exclude)], cwd=repo, lfs=False)
    return out.split()


def new_objects(repo: Path, include: Sequence[str], exclude: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``(oid, path)`` of every object reachable from ``include`` and not from ``exclude``.

    This is what a push would send: a blob added then deleted in the range is
    still listed, because its commit is.
    """
    if not include:
        return []
    out = run_git(["rev-list", "--objects", *_range_args(include, exclude)], cwd=repo, lfs=False).stdout
    result = []
    for line in out.decode(errors="surrogateescape").splitlines():
        oid, _, path = line.partition(" ")
        if oid:
            result.append((oid, path))
    return result


def object_sizes(repo: Path, oids: Iterable[str]) -> dict[str, tuple[str, int]]:
    """``oid -> (type, size)`` through one ``git cat-file --batch-check``."""
    unique = list(dict.fromkeys(oids))
    if not unique:
        return {}
    data = ("\n".join(unique) + "\n").encode()
    out = run_git(["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"],
                  cwd=repo, input=data, lfs=False).stdout.decode()
    sizes: dict[str, tuple[str, int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            sizes[parts[0]] = (parts[1], int(parts[2]))
    return sizes


def read_blobs(repo: Path, oids: Iterable[str]) -> dict[str, bytes]:
    """Contents of (small) blobs through one ``git cat-file --batch``."""
    unique = list(dict.fromkeys(oids))
    if not unique:
        return {}
    out = run_git(["cat-file", "--batch"], cwd=repo, input=("\n".join(unique) + "\n").encode(), lfs=False).stdout
    blobs: dict[str, bytes] = {}
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split()
        pos = nl + 1
        if len(header) < 3:  # "<oid> missing"
            continue
        size = int(header[2])
        blobs[header[0].decode()] = out[pos:pos + size]
        pos += size + 1  # content is followed by a newline
    return blobs


def blob_changes(repo: Path, include: Sequence[str], exclude: Sequence[str] = ()) -> list[BlobChange]:
    """Every path change of every commit in the range (merges against each parent)."""
    if not include:
        return []
    out = run_git(["log", "--format=%x01%H", "--raw", "--no-abbrev", "--no-renames", "-m", "-z",
                   *_range_args(include, exclude)], cwd=repo, lfs=False).stdout.decode(errors="surrogateescape")
    changes: list[BlobChange] = []
    commit = ""
    tokens = out.split("\0")
    i = 0
    while i < len(tokens):
        token = tokens[i].lstrip("\n")
        i += 1
        if token.startswith("\x01"):
            commit = token[1:].strip()
        elif token.startswith(":") and i < len(tokens):
            fields = token[1:].split()
            path = tokens[i]
            i += 1
            if len(fields) >= 5:
                changes.append(BlobChange(commit, path, fields[4][:1], fields[2], fields[3]))
    return changes


def tree_blobs(repo: Path, rev: str = "HEAD") -> dict[str, list[str]]:
    """``oid -> [paths]`` of the files in ``rev``'s tree."""
    if resolve(repo, rev) is None:
        return {}
    out = run_git(["ls-tree", "-r", "-z", rev], cwd=repo, lfs=False).stdout.decode(errors="surrogateescape")
    blobs: dict[str, list[str]] = {}
    for entry in out.split("\0"):
        meta, _, path = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            blobs.setdefault(parts[2], []).append(path)
    return blobs


def tracked_files(repo: Path, paths: Sequence[str]) -> list[str]:
    """Files of the index under ``paths`` (files or directories), repo-relative."""
    if not paths:
        return []
    out = run_git(["ls-files", "-z", "--", *paths], cwd=repo, lfs=False).stdout.decode(errors="surrogateescape")
    return [p for p in out.split("\0") if p]


def remote_refs_containing(repo: Path, commit: str) -> list[str]:
    """Remote-tracking refs that already contain ``commit`` (it was pushed there)."""
    out = git_text(["for-each-ref", "--format=%(refname)", f"--contains={commit}", "refs/remotes/"],
                   cwd=repo, lfs=False)
    return [ln for ln in out.splitlines() if ln and not ln.endswith("/HEAD")]


def has_commit(repo: Path, sha: str) -> bool:
    return run_git(["cat-file", "-e", f"{sha}^{{commit}}"], cwd=repo, check=False, lfs=False).returncode == 0


# --- rewriting the unpushed range --------------------------------------------


def lfs_migrate_import(repo: Path, *, paths: Sequence[str], branch: str, exclude_refs: Sequence[str]) -> None:
    """``git lfs migrate import`` of ``paths`` on ``branch``, leaving ``exclude_refs``' history alone."""
    require_git_lfs()
    args = ["lfs", "migrate", "import", "--yes", f"--include={','.join(paths)}", f"--include-ref={branch}"]
    args += [f"--exclude-ref={ref}" for ref in exclude_refs]
    run_git(args, cwd=repo)
    # migrate's own checkout leaves pointer text in the working tree; put the real content back
    # from the local LFS store (git lfs checkout only replaces files that hold a pointer).
    run_git(["lfs", "checkout", *paths], cwd=repo)
    # The repo now stores files with LFS: give it the LFS filters in its own config (no hooks, no
    # global config), so `git status` and later checkouts work even if `git lfs install` never ran.
    run_git(["lfs", "install", "--local", "--skip-repo"], cwd=repo)


def remove_paths_from_range(repo: Path, *, paths: Sequence[str], branch: str, exclude: Sequence[str]) -> None:
    """Drop ``paths`` from every commit of ``branch`` not reachable from ``exclude``.

    ``git filter-branch --index-filter 'git rm --cached ...'``: built into git, rewrites
    only the named range, and prunes commits that become empty. The backup refs it
    leaves under ``refs/original/`` are removed (the reflog still has the old tip).
    """
    rm = "git rm -r -q --cached --ignore-unmatch -- " + " ".join(shlex.quote(p) for p in paths)
    env = {"FILTER_BRANCH_SQUELCH_WARNING": "1"}
    args = ["filter-branch", "-f", "--prune-empty", "--index-filter", rm, "--", branch, *(f"^{r}" for r in exclude)]
    run_git(args, cwd=repo, env=env)
    backup = f"refs/original/{branch}"
    run_git(["update-ref", "-d", backup], cwd=repo, check=False, lfs=False)


def commit_paths(repo: Path, paths: Sequence[str], message: str) -> str:
    """Stage exactly ``paths`` and commit them; returns the new HEAD sha."""
    run_git(["add", "--", *paths], cwd=repo)
    run_git(["commit", "-q", "-m", message, "--", *paths], cwd=repo)
    return git_text(["rev-parse", "HEAD"], cwd=repo, lfs=False)


def head_sha(repo: Path) -> str | None:
    return resolve(repo, "HEAD")


# --- hooks --------------------------------------------------------------------

HOOK_MARKER = "# installed by hubmgr guard"


def install_pre_push_hook(repo: Path, render: Callable[[Path | None], str]) -> tuple[Path, Path | None]:
    """Write ``render(chained)`` as the pre-push hook.

    An existing hook that is not ours is kept as ``pre-push.hubmgr-chained`` and
    passed to ``render`` so the new hook can call it. Re-installing replaces our own hook only.
    """
    hooks = hooks_dir(repo)
    hooks.mkdir(parents=True, exist_ok=True)
    hook = hooks / "pre-push"
    chained = hooks / "pre-push.hubmgr-chained"
    if hook.exists() and HOOK_MARKER not in hook.read_text(errors="replace"):
        if chained.exists():
            raise ConflictError(f"both {hook} and {chained} exist",
                                "merge them by hand, or delete one and run `hubmgr guard install` again")
        shutil.move(str(hook), str(chained))
    kept = chained if chained.exists() else None
    tmp = hook.with_name("pre-push.hubmgr-tmp")
    tmp.write_text(render(kept))
    tmp.chmod(0o755)
    os.replace(tmp, hook)
    return hook, kept


@dataclass(frozen=True)
class WorktreeState:
    """Where a run's code stood: the repository, its HEAD commit, and uncommitted tracked changes."""

    toplevel: str
    commit: str | None  # None: no commit yet
    dirty: bool


def find_worktree_root(path: str | os.PathLike[str]) -> Path | None:
    """The nearest directory at or above ``path`` holding ``.git`` (no git process: scans call this a lot)."""
    here = Path(path).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def worktree_state(root: Path) -> WorktreeState | None:
    """HEAD commit and dirty flag of the working copy at ``root``; None if git cannot tell (or is missing)."""
    import shutil as _shutil

    if _shutil.which("git") is None:
        return None
    head = run_git(["rev-parse", "--verify", "-q", "HEAD"], cwd=root, check=False, lfs=False)
    if head.returncode not in (0, 1):
        return None
    # tracked changes only: untracked checkpoints and logs inside a run dir do not make the code "dirty"
    status = run_git(["status", "--porcelain", "--untracked-files=no"], cwd=root, check=False, lfs=False)
    if status.returncode != 0:
        return None
    return WorktreeState(str(root), head.stdout.decode().strip() or None, bool(status.stdout.strip()))
