"""The GitHub 100 MB guard: find files a push would be rejected for, explain, fix.

GitHub refuses a push if *any* commit in it holds a file over 100 MB, even if a
later commit deleted the file: the push sends the whole history it lacks. The
guard looks at exactly that set (commits not yet on the upstream), and the fixes
rewrite only that set, never history that is already pushed.

Git itself runs in ``hubmgr.git.code_repo``; this module decides.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path, PurePosixPath
from typing import Sequence

from .errors import ConflictError, UsageError
from .formats.lfs_pointer import LFS_POINTER_MAX, parse_lfs_pointer
from .formats.pointer_file import DEFAULT_POINTER_NAME
from .models import (GUARD_BLOCK, GUARD_WARN, GuardBlob, GuardChange, GuardFixResult, GuardHookResult,
                     GuardReport)
from .progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress
from .git import code_repo as git_repo

# GitHub's "100 MB" is 100 MiB (it rejects files over 104,857,600 bytes); git and git-lfs print MiB too.
GITHUB_LIMIT = 100 * 2**20
GITHUB_WARN = 50 * 2**20
GITHUB_LFS_LIMIT = 2 * 2**30
_LINK_FROM = 10 * 10**6  # stage files this big by hard link instead of a copy
_CHANGE_WORDS = {"A": "added", "M": "modified", "T": "modified", "D": "deleted"}


def mb(n: int) -> str:
    """Sizes in binary units, as git's and git-lfs's messages print them: '2.56 MiB', '2.00 GiB'."""
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    return f"{n / 2**20:.2f} MiB"


def _limits(limit_bytes: int | None, warn_bytes: int | None) -> tuple[int, int]:
    if limit_bytes is None or warn_bytes is None:
        from .config import load_settings

        settings = load_settings()
        limit_bytes = settings.guard_limit_bytes if limit_bytes is None else limit_bytes
        warn_bytes = settings.guard_warn_bytes if warn_bytes is None else warn_bytes
    if limit_bytes <= 0:
        raise UsageError(f"the size limit must be positive, not {limit_bytes}", "e.g. --limit 100MB")
    return limit_bytes, min(warn_bytes, limit_bytes)


# --- check --------------------------------------------------------------------


def check_repo(
    repo_dir: str | os.PathLike[str] = ".",
    *,
    limit_bytes: int | None = None,
    warn_bytes: int | None = None,
    lfs_limit_bytes: int = GITHUB_LFS_LIMIT,
    upstream: str | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> GuardReport:
    """Find every file over the limit in commits not yet pushed.

    The range is ``include`` (default HEAD) minus ``exclude`` (default: ``upstream``,
    else the branch's ``@{upstream}``, else every remote-tracking ref).
    """
    limit_bytes, warn_bytes = _limits(limit_bytes, warn_bytes)
    repo = git_repo.toplevel(repo_dir)
    branch = git_repo.current_branch(repo)
    up = _upstream(repo, branch, upstream)
    if include is None:
        include = ["HEAD"] if git_repo.head_sha(repo) else []
    if exclude is None:
        exclude = [up] if up else git_repo.remote_refs(repo)
    task = "guard:scan"
    progress(ProgressEvent(task, "listing unpushed objects", unit="objects"))
    commits = git_repo.rev_list(repo, include, exclude)
    objects = git_repo.new_objects(repo, include, exclude)
    check_cancel(cancel)
    first_path: dict[str, str] = {}
    for oid, path in objects:
        if path:
            first_path.setdefault(oid, path)
    sizes = git_repo.object_sizes(repo, (oid for oid, _ in objects))
    blob_sizes = {oid: size for oid, (kind, size) in sizes.items() if kind == "blob"}
    progress(ProgressEvent(task, "checking sizes", completed=len(blob_sizes), total=len(blob_sizes), unit="objects"))

    big = {oid: size for oid, size in blob_sizes.items() if size >= warn_bytes}
    pointers = _lfs_pointers(repo, blob_sizes)
    lfs_big = {oid: ptr for oid, ptr in pointers.items() if ptr[1] > lfs_limit_bytes}
    check_cancel(cancel)

    flagged = set(big) | set(lfs_big)
    changes = git_repo.blob_changes(repo, include, exclude) if flagged else []
    head = git_repo.tree_blobs(repo, "HEAD") if flagged else {}

    def describe(oid: str, size: int, severity: str, lfs_oid: str | None = None) -> GuardBlob:
        mine = [c for c in changes if oid in (c.new_oid, c.old_oid)]
        found = [GuardChange(c.commit, c.path, _change_word(c, oid)) for c in mine]
        paths = list(dict.fromkeys([*(c.path for c in found), *([first_path[oid]] if oid in first_path else [])]))
        return GuardBlob(
            oid=oid, size_bytes=size, severity=severity, paths=tuple(paths),
            added_in=tuple(dict.fromkeys(c.commit for c in mine if c.new_oid == oid)),
            deleted_in=tuple(dict.fromkeys(c.commit for c in mine if c.old_oid == oid and c.new_oid != oid)),
            in_head=oid in head, lfs_oid=lfs_oid, changes=tuple(found),
        )

    by_size = sorted(big.items(), key=lambda kv: -kv[1])
    blocking = tuple(describe(oid, size, GUARD_BLOCK) for oid, size in by_size if size > limit_bytes)
    warnings = tuple(describe(oid, size, GUARD_WARN) for oid, size in by_size if size <= limit_bytes)
    lfs_blocking = tuple(describe(oid, ptr[1], GUARD_BLOCK, lfs_oid=ptr[0])
                         for oid, ptr in sorted(lfs_big.items(), key=lambda kv: -kv[1][1]))
    progress(ProgressEvent(task, "done", completed=len(blob_sizes), total=len(blob_sizes), unit="objects",
                           finished=True))
    ok = not blocking and not lfs_blocking
    base = tuple(exclude)
    return GuardReport(
        repo=str(repo), branch=branch, upstream=up, base_refs=base, commits_checked=len(commits),
        objects_checked=len(objects), limit_bytes=limit_bytes, warn_bytes=warn_bytes,
        lfs_limit_bytes=lfs_limit_bytes, blocking=blocking, lfs_blocking=lfs_blocking, warnings=warnings,
        ok=ok, explanation=explain(blocking, lfs_blocking, warnings, upstream=up, base=base,
                                   limit_bytes=limit_bytes, warn_bytes=warn_bytes, lfs_limit_bytes=lfs_limit_bytes),
        fixes=_fix_commands(blocking, lfs_blocking, repo=repo, limit_bytes=limit_bytes),
    )


def _upstream(repo: Path, branch: str | None, upstream: str | None) -> str | None:
    if upstream is None:
        return git_repo.upstream_of(repo, branch)
    for candidate in (upstream, f"refs/remotes/{upstream}"):
        if git_repo.resolve(repo, candidate):
            full = git_repo.git_text(["rev-parse", "--symbolic-full-name", candidate], cwd=repo, lfs=False)
            return full or candidate
    raise UsageError(f"unknown upstream: {upstream}", "give a remote-tracking branch such as origin/main")


def _change_word(change: git_repo.BlobChange, oid: str) -> str:
    if change.new_oid == oid:
        return "added" if change.status == "A" else "modified"
    return "deleted" if change.status == "D" else "replaced"


def _lfs_pointers(repo: Path, blob_sizes: dict[str, int]) -> dict[str, tuple[str, int]]:
    """``oid -> (sha256, size)`` of the Git LFS pointers among the blobs."""
    small = [oid for oid, size in blob_sizes.items() if 40 <= size <= LFS_POINTER_MAX]
    result = {}
    for oid, data in git_repo.read_blobs(repo, small).items():
        ptr = parse_lfs_pointer(data)
        if ptr:
            result[oid] = ptr
    return result


def explain(blocking: Sequence[GuardBlob], lfs_blocking: Sequence[GuardBlob], warnings: Sequence[GuardBlob], *,
            upstream: str | None, base: Sequence[str], limit_bytes: int, warn_bytes: int,
            lfs_limit_bytes: int) -> str:
    """The problem in plain words."""
    where = _short_ref(upstream) if upstream else ("any remote" if base else "a remote yet")
    parts = []
    if blocking:
        deleted = [b for b in blocking if not b.in_head]
        n = len(blocking)
        text = (f"{n} file{'s' if n > 1 else ''} over {mb(limit_bytes)} {'are' if n > 1 else 'is'} in commits "
                f"not pushed to {where} yet. GitHub rejects the whole push if any commit in it holds a file over "
                f"{mb(limit_bytes)}, because a push sends every commit the server does not have.")
        if deleted:
            text += (f" Deleting the file in a later commit does not help: "
                     f"{', '.join(deleted[0].paths[:1]) or deleted[0].oid[:10]}"
                     f"{' and others' if len(deleted) > 1 else ''} was deleted, but the earlier commit still "
                     f"holds it, so the push still carries it.")
        text += (" Fix it by rewriting only those unpushed commits: store the files with Git LFS "
                 "(--fix lfs), or move the weights to a model repository and keep a small pointer file "
                 "(--fix hub --to TARGET). Already-pushed history is never rewritten.")
        parts.append(text)
    if lfs_blocking:
        parts.append(f"{len(lfs_blocking)} Git LFS file(s) are over {mb(lfs_limit_bytes)}, the largest file GitHub's "
                     f"LFS storage accepts. Split them (sharded safetensors) or move them to a model repository "
                     f"(--fix hub --to TARGET).")
    if warnings and not parts:
        parts.append(f"{len(warnings)} file(s) are over {mb(warn_bytes)}: GitHub accepts them with a warning. "
                     f"Model weights belong in Git LFS or a model repository.")
    return "\n\n".join(parts)


def _short_ref(ref: str) -> str:
    return ref.removeprefix("refs/remotes/").removeprefix("refs/heads/")


def _fix_commands(blocking: Sequence[GuardBlob], lfs_blocking: Sequence[GuardBlob], *, repo: Path,
                  limit_bytes: int) -> tuple[str, ...]:
    if not blocking and not lfs_blocking:
        return ()
    try:
        here = Path.cwd().resolve() == repo
    except OSError:
        here = False
    extra = "" if here else f" {shlex.quote(str(repo))}"
    if limit_bytes != GITHUB_LIMIT:  # same limit as this check, or the fix would find nothing to do
        extra += f" --limit {limit_bytes}B"
    fixes = []
    if blocking:
        fixes.append(f"hubmgr guard{extra} --fix lfs")
    fixes.append(f"hubmgr guard{extra} --fix hub --to local:NAME")
    return tuple(fixes)


def check_pre_push(
    repo_dir: str | os.PathLike[str],
    *,
    remote: str | None,
    ref_lines: str,
    limit_bytes: int | None = None,
    warn_bytes: int | None = None,
    lfs_limit_bytes: int = GITHUB_LFS_LIMIT,
    progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> GuardReport:
    """The check a pre-push hook runs: ``ref_lines`` is what git writes on the hook's stdin
    (``<local ref> <local sha> <remote ref> <remote sha>`` per line)."""
    repo = git_repo.toplevel(repo_dir)
    include: list[str] = []
    exclude: list[str] = []
    for line in ref_lines.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        _, local_sha, _, remote_sha = parts
        if local_sha != git_repo.ZERO_SHA:  # zeros: the push deletes that ref
            include.append(local_sha)
        if remote_sha != git_repo.ZERO_SHA and git_repo.has_commit(repo, remote_sha):
            exclude.append(remote_sha)
    if remote and remote in git_repo.list_remotes(repo):
        exclude += git_repo.remote_refs(repo, remote)
    return check_repo(repo, limit_bytes=limit_bytes, warn_bytes=warn_bytes, lfs_limit_bytes=lfs_limit_bytes,
                      include=include, exclude=exclude, progress=progress, cancel=cancel)


# --- fixes --------------------------------------------------------------------


def _prepare_fix(repo_dir, paths, limit_bytes, warn_bytes, lfs_limit_bytes, upstream, *, lfs_too: bool):
    """Shared checks of both fixes: report, branch, clean tree, paths, protected refs, refusal."""
    report = check_repo(repo_dir, limit_bytes=limit_bytes, warn_bytes=warn_bytes,
                        lfs_limit_bytes=lfs_limit_bytes, upstream=upstream)
    repo = Path(report.repo)
    if not report.branch:
        raise UsageError("HEAD is detached", "check out the branch you want to push first")
    offenders = list(report.blocking) + (list(report.lfs_blocking) if lfs_too else [])
    chosen = tuple(dict.fromkeys(p.strip("/") for p in paths)) if paths else tuple(
        dict.fromkeys(p for b in offenders for p in b.paths))
    protected = tuple(dict.fromkeys([*([report.upstream] if report.upstream else []),
                                     *git_repo.remote_refs(repo)]))
    if not chosen:
        return report, repo, chosen, protected
    if not git_repo.is_clean(repo):
        raise ConflictError("the working tree has uncommitted changes",
                            "commit or stash them first; the fix rewrites unpushed commits")
    _refuse_pushed(repo, report, offenders, chosen)
    return report, repo, chosen, protected


def _refuse_pushed(repo: Path, report: GuardReport, offenders: list[GuardBlob], chosen: Sequence[str]) -> None:
    """Refuse when a commit holding an offending file is already on some remote."""
    for blob in offenders:
        for change in blob.changes:
            if change.change == "deleted" or not any(change.path == c or change.path.startswith(c.rstrip("/") + "/")
                                                       for c in chosen):
                continue
            pushed = git_repo.remote_refs_containing(repo, change.commit)
            if pushed:
                raise ConflictError(
                    f"{change.path} ({mb(blob.size_bytes)}) is in commit {change.commit[:10]}, which is already "
                    f"pushed to {_short_ref(pushed[0])}; fixing it would rewrite pushed history",
                    "hubmgr never rewrites pushed history: clean that remote by hand (with everyone who "
                    "cloned it), or push to a branch that does not contain that commit",
                )


def _nothing_to_do(report: GuardReport, method: str, protected: tuple[str, ...]) -> GuardFixResult:
    head = git_repo.head_sha(Path(report.repo)) or ""
    return GuardFixResult(repo=report.repo, method=method, branch=report.branch or "", paths=(), old_head=head,
                          new_head=head, commits_rewritten=0, protected_refs=protected, after=report)


def fix_lfs(
    repo_dir: str | os.PathLike[str] = ".",
    *,
    paths: Sequence[str] = (),
    limit_bytes: int | None = None,
    warn_bytes: int | None = None,
    lfs_limit_bytes: int = GITHUB_LFS_LIMIT,
    upstream: str | None = None,
    progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> GuardFixResult:
    """Store ``paths`` (default: every file over the limit) with Git LFS in the unpushed commits only.

    Runs ``git lfs migrate import --include=PATHS --include-ref=BRANCH --exclude-ref=UPSTREAM``
    (and every other remote-tracking ref), so pushed commits keep their shas.
    """
    git_repo.require_git_lfs()  # fail before anything changes
    report, repo, chosen, protected = _prepare_fix(repo_dir, paths, limit_bytes, warn_bytes, lfs_limit_bytes,
                                                   upstream, lfs_too=False)
    if not chosen:
        return _nothing_to_do(report, "lfs", protected)
    # a directory: every file under it (gitattributes patterns do not recurse by themselves)
    chosen = tuple(f"{p}/**" if (repo / p).is_dir() else p for p in chosen)
    bad = [p for p in chosen if "," in p]
    if bad:
        raise UsageError(f"cannot convert a path with a comma: {bad[0]}", "rename the file, then run the fix again")
    check_cancel(cancel)
    branch = report.branch or ""
    old_head = git_repo.head_sha(repo) or ""
    progress(ProgressEvent("guard:fix", f"git lfs migrate import {len(chosen)} path(s)", unit="steps"))
    git_repo.lfs_migrate_import(repo, paths=chosen, branch=branch, exclude_refs=protected)
    new_head = git_repo.head_sha(repo) or ""
    progress(ProgressEvent("guard:fix", "done", unit="steps", finished=True))
    after = check_repo(repo, limit_bytes=report.limit_bytes, warn_bytes=report.warn_bytes,
                       lfs_limit_bytes=lfs_limit_bytes, upstream=upstream)
    return GuardFixResult(
        repo=str(repo), method="lfs", branch=branch, paths=chosen, old_head=old_head, new_head=new_head,
        commits_rewritten=len(git_repo.rev_list(repo, [old_head], [new_head])) if old_head != new_head else 0,
        protected_refs=protected, after=after, undo=f"git reset --keep {old_head}",
    )


def fix_hub(
    repo_dir: str | os.PathLike[str] = ".",
    *,
    target: str,
    paths: Sequence[str] = (),
    message: str | None = None,
    limit_bytes: int | None = None,
    warn_bytes: int | None = None,
    lfs_limit_bytes: int = GITHUB_LFS_LIMIT,
    upstream: str | None = None,
    private: bool = False,
    allow_pickle: bool = False,
    catalog=None,
    progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> GuardFixResult:
    """Move the weights to a model repo, drop them from the unpushed commits, commit a pointer file.

    Order keeps every step safe: push first (nothing in the code repo changed yet if it fails),
    then rewrite the unpushed range, then put the files back in the working tree (now ignored),
    then commit ``model.hubmgr.json`` and the ``.gitignore`` entries.
    """
    from .remotes import parse_target

    spec = parse_target(target)
    report, repo, chosen, protected = _prepare_fix(repo_dir, paths, limit_bytes, warn_bytes, lfs_limit_bytes,
                                                   upstream, lfs_too=True)
    if not chosen:
        return _nothing_to_do(report, "hub", protected)
    branch = report.branch or ""
    # files of the working tree to move (a directory given with --path moves every tracked file in it)
    present = [p for p in git_repo.tracked_files(repo, chosen) if (repo / p).is_file()]
    if not present:
        raise UsageError("none of the oversized files is in the working tree any more, so there is nothing to "
                         "move", "use --fix lfs, or pass the files to move with --path")
    base = _common_dir(present)
    pointer_rel = (PurePosixPath(base) / DEFAULT_POINTER_NAME).as_posix() if base else DEFAULT_POINTER_NAME
    stage = git_repo.git_dir(repo) / "hubmgr-guard-stage"
    if stage.exists():
        shutil.rmtree(stage)
    old_head = git_repo.head_sha(repo) or ""
    try:
        _stage_files(repo, present, base, stage)
        check_cancel(cancel)
        pushed = _push_weights(stage, spec, message or f"Model weights moved out of {repo.name} by hubmgr guard",
                               private=private, allow_pickle=allow_pickle, catalog=catalog, progress=progress,
                               cancel=cancel)
        progress(ProgressEvent("guard:fix", "removing the weights from unpushed commits", unit="steps"))
        git_repo.remove_paths_from_range(repo, paths=chosen, branch=branch, exclude=protected)
        _restore_files(repo, present, base, stage)
        gitignore = _ignore_paths(repo, present)
        files = [_file_entry(repo, p, base) for p in present]
        remote = _remote_name(spec)
        _write_pointer(repo / pointer_rel, remote=remote, commit=pushed.commit_sha, files=files,
                       revision=spec.revision or pushed.revision)
        new_head = git_repo.commit_paths(
            repo, [pointer_rel, ".gitignore"],
            f"Replace model weights with a pointer to {remote}\n\n"
            f"The weights are in {remote} at commit {pushed.commit_sha}.\n"
            f"Get them with: hubmgr pull {pointer_rel} --dest DIR")
    finally:
        if stage.exists():
            _restore_files(repo, present, base, stage)
            shutil.rmtree(stage, ignore_errors=True)
    progress(ProgressEvent("guard:fix", "done", unit="steps", finished=True))
    after = check_repo(repo, limit_bytes=report.limit_bytes, warn_bytes=report.warn_bytes,
                       lfs_limit_bytes=lfs_limit_bytes, upstream=upstream)
    return GuardFixResult(
        repo=str(repo), method="hub", branch=branch, paths=chosen, old_head=old_head, new_head=new_head,
        commits_rewritten=len(git_repo.rev_list(repo, [old_head], [new_head])),
        protected_refs=protected, after=after, target=spec.display, remote_commit=pushed.commit_sha,
        pointer_file=pointer_rel, gitignore=gitignore,
        undo=f"git reset --keep {old_head}",
    )


def _common_dir(paths: Sequence[str]) -> str:
    parents = [PurePosixPath(p).parent.parts for p in paths]
    common: list[str] = []
    for level in zip(*parents):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common)


def _relative_to_base(path: str, base: str) -> str:
    return PurePosixPath(path).relative_to(base).as_posix() if base else path


def _stage_files(repo: Path, present: Sequence[str], base: str, stage: Path) -> None:
    """Hard-link (or copy) the weights into a staging folder inside .git: the push source, and
    the copy that survives while the rewrite checks out a tree without them."""
    for path in present:
        dest = stage / _relative_to_base(path, base)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if (repo / path).stat().st_size < _LINK_FROM:
            shutil.copy2(repo / path, dest)  # small files: a copy, so nothing can write through a link
            continue
        try:
            os.link(repo / path, dest)
        except OSError:
            shutil.copy2(repo / path, dest)


def _restore_files(repo: Path, present: Sequence[str], base: str, stage: Path) -> None:
    for path in present:
        src, dest = stage / _relative_to_base(path, base), repo / path
        if src.exists() and not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dest) if _same_fs(src, dest.parent) else shutil.copy2(src, dest)


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def _file_entry(repo: Path, path: str, base: str) -> dict:
    from .formats.hashing import sha256_file

    rel = _relative_to_base(path, base)
    file = repo / path
    return {"path": rel, "size": file.stat().st_size, "sha256": sha256_file(file)}


def _ignore_line(path: str) -> str:
    """An anchored .gitignore line matching exactly ``path`` (glob characters escaped)."""
    escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in path)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def _ignore_paths(repo: Path, paths: Sequence[str]) -> str:
    """Append ``/path`` lines for the moved files to the top-level .gitignore."""
    gitignore = repo / ".gitignore"
    text = gitignore.read_text() if gitignore.exists() else ""
    existing = set(text.splitlines())
    new = [line for line in (_ignore_line(p) for p in paths) if line not in existing]
    if new:
        if text and not text.endswith("\n"):
            text += "\n"
        text += "# model weights moved out of git by hubmgr guard (see model.hubmgr.json)\n" + "\n".join(new) + "\n"
        gitignore.write_text(text)
    return ".gitignore"


def _remote_name(spec) -> str:
    """The target spec without ``@rev`` (what a pointer file records as ``remote``)."""
    from .remotes import RemoteTarget

    return RemoteTarget(spec.kind, spec.location).display


def _push_weights(folder: Path, spec, message: str, *, private: bool, allow_pickle: bool, catalog, progress,
                  cancel):
    """Push the staged weights with the push use case; returns its ``PushResult``."""
    from . import sync

    result = sync.push(folder, spec.display, message=message, private=private, allow_pickle=allow_pickle,
                       catalog=catalog, progress=progress, cancel=cancel)
    if not result.commit_sha:
        raise ConflictError(f"the push to {spec.display} returned no commit", "push the weights by hand first")
    return result


def _write_pointer(path: Path, *, remote: str, commit: str, files: list[dict], revision: str | None) -> None:
    from .formats.pointer_file import write_pointer

    write_pointer(path, remote=remote, revision=revision, commit=commit, files=files)


# --- pre-push hook ------------------------------------------------------------


def hook_command(*, limit_bytes: int | None = None, warn_bytes: int | None = None) -> list[str]:
    """The command the hook runs (the interpreter running hubmgr now, by absolute path)."""
    cmd = [sys.executable, "-m", "hubmgr", "guard", "--pre-push"]
    if limit_bytes is not None:
        cmd += ["--limit", str(limit_bytes)]
    if warn_bytes is not None:
        cmd += ["--warn", str(warn_bytes)]
    return cmd


def _hook_script(command: list[str], chained: Path | None) -> str:
    quoted = " ".join(shlex.quote(c) for c in command)
    lines = [
        "#!/bin/sh",
        f"{git_repo.HOOK_MARKER}: blocks a push that GitHub would reject for files over its size limit,",
        "# before anything is uploaded. Uninstall: delete this file"
        + (" and rename pre-push.hubmgr-chained back to pre-push." if chained else "."),
        f'if [ ! -x {shlex.quote(command[0])} ]; then',
        f'  echo "hubmgr guard: {command[0]} is gone; run hubmgr guard install again, or delete $0" >&2; exit 1',
        "fi",
        'refs=$(cat)',
        f'printf \'%s\\n\' "$refs" | {quoted} --remote "$1" || exit 1',
    ]
    if chained:
        lines.append(f'printf \'%s\\n\' "$refs" | {shlex.quote(str(chained))} "$@" || exit $?')
    if not chained or "git lfs pre-push" not in chained.read_text(errors="replace"):
        # What `git lfs install` would put here: upload LFS objects before git sends the pointers.
        lines.append('if command -v git-lfs >/dev/null 2>&1; then '
                     'printf \'%s\\n\' "$refs" | git lfs pre-push "$@" || exit $?; fi')
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def install_hook(
    repo_dir: str | os.PathLike[str] = ".",
    *,
    limit_bytes: int | None = None,
    warn_bytes: int | None = None,
) -> GuardHookResult:
    """Install a pre-push hook running ``hubmgr guard --pre-push`` (keeps an existing hook, chained)."""
    repo = git_repo.toplevel(repo_dir)
    command = hook_command(limit_bytes=limit_bytes, warn_bytes=warn_bytes)
    hook, chained = git_repo.install_pre_push_hook(repo, lambda kept: _hook_script(command, kept))
    return GuardHookResult(repo=str(repo), hook=str(hook), chained=str(chained) if chained else None,
                           command=" ".join(shlex.quote(c) for c in command))


__all__ = ["check_repo", "check_pre_push", "fix_lfs", "fix_hub", "install_hook", "explain"]
