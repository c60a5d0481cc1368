"""Deploy directories: verified releases, an atomic ``current`` symlink, rollback, status.

Layout of a deploy dir ``DIR``::

    DIR/
      .hubmgr-deploy.lock           flock held while a pull/rollback changes DIR
      current -> releases/<sha>     relative symlink, replaced atomically (rename)
      releases/
        <sha>/                      a complete, verified release
          hubmgr.lock.json          remote, revision asked, commit, files (size + sha256)
          config.json ...
        .staging-<sha>/             a download in progress (kept after a failure so it can resume)

A release directory only ever appears by renaming a fully verified staging dir,
so ``releases/<sha>`` is never half written and ``current`` never points at one.
The order of releases (rollback target, pruning) is the time they last became live,
kept as the release directory's mtime.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from .errors import (ConflictError, CorruptFileError, NotFoundError, UsageError,
                     VerificationError, local_os_error)
from .formats.hashing import BAD_DOWNLOAD_HINT, FileDigest, digest_problem, hash_file, wants_git_blob_sha1
from .formats.relpath import COMMIT_ID, check_commit_id, check_inside, check_relpath
from .formats.lfs_pointer import read_lfs_pointer
from .deploy_models import DeployStatus, LockedFile, ReleaseInfo, ReleaseLock, RollbackResult
from .progress import CancelToken, ProgressEvent, ProgressSink, no_progress

if TYPE_CHECKING:
    from .remotes import RemoteFile

RELEASES = "releases"
CURRENT = "current"
LOCK_NAME = "hubmgr.lock.json"
DEPLOY_LOCK = ".hubmgr-deploy.lock"
STAGING_PREFIX = ".staging-"
LOCK_VERSION = 1
_SHA_RE = re.compile(rf"^{COMMIT_ID.pattern}$")


# --- paths ---------------------------------------------------------------------


def releases_dir(dest: Path) -> Path:
    return Path(dest) / RELEASES


def release_dir(dest: Path, sha: str) -> Path:
    # A commit id names a directory only once checked: a remote's "../../x" must never become a path.
    return releases_dir(dest) / check_commit_id(sha, source="the release")


def staging_dir(dest: Path, sha: str) -> Path:
    return releases_dir(dest) / f"{STAGING_PREFIX}{check_commit_id(sha, source='the release')}"


def safe_relpath(path: str) -> str:
    """Return ``path`` if it stays inside a destination dir; ``UnsafeContentError`` otherwise."""
    return check_relpath(path)


# --- locking -------------------------------------------------------------------


@contextlib.contextmanager
def locked(dest: Path) -> Iterator[None]:
    """Exclusive lock on a deploy dir: two pulls never interleave."""
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        fh = open(dest / DEPLOY_LOCK, "a+")
    except OSError as exc:
        raise local_os_error(exc, f"cannot use the deploy dir {dest}") from exc
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ConflictError(f"another hubmgr pull or rollback is working on {dest}",
                                "wait for it to finish, then try again") from exc
        yield
    finally:
        fh.close()


# --- verification ----------------------------------------------------------------


class FileVerifier:
    """Checks downloaded files one by one against what the remote reported (see ``verify_files``).

    ``check`` may run in a worker thread while other files still download; it is not
    meant to be called from two threads at once (one verifier thread is enough: hashing
    keeps pace with loopback downloads, and it keeps the progress count simple).
    """

    def __init__(self, root: Path, files: Iterable["RemoteFile"], *, progress: ProgressSink = no_progress,
                 cancel: CancelToken | None = None, discard_bad: bool = True) -> None:
        self.root, self.progress, self.cancel, self.discard_bad = root, progress, cancel, discard_bad
        self.total = sum(f.size for f in files)
        self.done = 0

    def _tick(self, n: int) -> None:
        self.done += n
        self.progress(ProgressEvent("pull:verify", "verifying", self.done, self.total))

    def check(self, f: "RemoteFile") -> LockedFile:
        """Read and hash the file at its place in ``root``."""
        path = self._present(f)
        size = path.stat().st_size
        if f.is_lfs and read_lfs_pointer(path) is not None:
            self._refuse(path, f"{f.path} is a Git LFS pointer file, not the weights it points to")
        if size != f.size:
            self._refuse(path, f"{f.path} has {size} bytes, the remote says {f.size}")
        sha256, blob_sha1 = hash_file(path, want_git_blob_sha1=wants_git_blob_sha1(f), cancel=self.cancel,
                                      on_bytes=self._tick)
        return self._judged(f, path, FileDigest(size, sha256, blob_sha1))

    def accept(self, f: "RemoteFile", digest: FileDigest) -> LockedFile:
        """Judge a file by the digest its download measured while the bytes arrived (no second read)."""
        path = self._present(f)
        if path.stat().st_size != digest.size:  # changed since it was hashed
            self._refuse(path, f"{f.path} has {path.stat().st_size} bytes, {digest.size} were downloaded")
        if f.is_lfs and read_lfs_pointer(path) is not None:
            self._refuse(path, f"{f.path} is a Git LFS pointer file, not the weights it points to")
        self._tick(digest.size)
        return self._judged(f, path, digest)

    def _present(self, f: "RemoteFile") -> Path:
        safe_relpath(f.path)
        path = self.root / f.path
        if not path.is_file() or path.is_symlink():
            raise VerificationError(f"{f.path} was not downloaded", "run the pull again")
        return path

    def _judged(self, f: "RemoteFile", path: Path, digest: FileDigest) -> LockedFile:
        problem = digest_problem(f, digest)
        if problem:
            self._refuse(path, problem)
        return LockedFile(f.path, digest.size, digest.sha256)

    def _refuse(self, path: Path, problem: str) -> None:
        if self.discard_bad:
            path.unlink(missing_ok=True)
        raise VerificationError(problem, BAD_DOWNLOAD_HINT)

    def finished(self) -> None:
        self.progress(ProgressEvent("pull:verify", "verified", self.done, self.total, finished=True))


def verify_files(root: Path, files: Iterable["RemoteFile"], *, progress: ProgressSink = no_progress,
                 cancel: CancelToken | None = None, discard_bad: bool = True) -> tuple[LockedFile, ...]:
    """Check every downloaded file against what the remote reported; return the lock entries.

    Size must match; content must match the LFS sha256 when the remote knows it, else the
    git blob sha1. An LFS pointer where the remote promised content is refused. A file that
    fails is deleted (``discard_bad``) so a retry downloads it again.
    """
    files = list(files)
    verifier = FileVerifier(root, files, progress=progress, cancel=cancel, discard_bad=discard_bad)
    locked_files = tuple(verifier.check(f) for f in files)
    verifier.finished()
    return locked_files


# --- lock files -------------------------------------------------------------------


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_lock(release: Path, lock: ReleaseLock) -> Path:
    doc = {"hubmgr_lock": LOCK_VERSION, **lock.to_dict()}
    path = release / LOCK_NAME
    tmp = release / f".{LOCK_NAME}.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_lock(release: Path) -> ReleaseLock:
    path = Path(release) / LOCK_NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return ReleaseLock(
            remote=doc["remote"], repo=doc["repo"], revision=doc.get("revision"), commit=doc["commit"],
            pulled_at=doc.get("pulled_at", ""),
            files=tuple(LockedFile(f["path"], int(f["size"]), f["sha256"]) for f in doc["files"]),
            signature=doc.get("signature") if isinstance(doc.get("signature"), dict) else None,
        )
    except FileNotFoundError as exc:
        raise NotFoundError(f"no {LOCK_NAME} in {release}", "this is not a release made by hubmgr pull") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"{path} is damaged ({exc})", "pull the release again") from exc


# --- releases -------------------------------------------------------------------


def live_sha(dest: Path) -> str | None:
    """The sha ``DIR/current`` points at, or None."""
    link = Path(dest) / CURRENT
    if not link.is_symlink():
        return None
    name = Path(os.readlink(link)).name
    return name if _SHA_RE.match(name) else None


def list_release_dirs(dest: Path) -> list[Path]:
    """Complete releases, most recently live first."""
    root = releases_dir(dest)
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and _SHA_RE.match(p.name)
            and (p / LOCK_NAME).is_file()]
    return sorted(dirs, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def release_is_complete(dest: Path, sha: str) -> bool:
    """A release dir exists with a lock file whose files all have the recorded sizes."""
    return not release_problems(release_dir(dest, sha))


def release_problems(release: Path, *, verify: bool = False, progress: ProgressSink = no_progress,
                     cancel: CancelToken | None = None) -> tuple[str, ...]:
    """Why a release cannot be made live (empty = complete): lock file, presence and size of
    every file; with ``verify`` also sha256 and files that are not part of the release."""
    try:
        lock = read_lock(release)
    except (NotFoundError, CorruptFileError) as exc:
        return (exc.message,)
    if lock.commit != release.name:
        return (f"{LOCK_NAME} is for commit {lock.commit[:12]}, not {release.name[:12]}",)
    return _check_files(release, lock, verify=verify, progress=progress, cancel=cancel)


def promote(staging: Path, dest: Path, sha: str) -> Path:
    """Rename a verified staging dir to ``releases/<sha>`` (replacing a broken leftover)."""
    final = release_dir(dest, sha)
    check_inside(releases_dir(dest), final)
    old = None
    if final.exists():  # same commit pulled again with another --include: swap, then delete the old copy
        old = final.with_name(f".old-{sha}-{os.getpid()}")
        os.rename(final, old)
    os.rename(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def switch_current(dest: Path, sha: str) -> str | None:
    """Point ``DIR/current`` at ``releases/<sha>`` atomically; returns the previous live sha."""
    dest = Path(dest)
    target = release_dir(dest, sha)
    if not target.is_dir():
        raise NotFoundError(f"no release {sha} in {dest}", "pull it first")
    check_inside(releases_dir(dest), target)
    previous = live_sha(dest)
    link = dest / CURRENT
    if link.exists() and not link.is_symlink():
        raise ConflictError(f"{link} exists and is not a symlink", "move it away; hubmgr manages `current`")
    tmp = dest / f".{CURRENT}.tmp-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.join(RELEASES, sha), tmp)
    os.replace(tmp, link)  # rename(2) over the old symlink: readers see the old or the new, never nothing
    now = time.time()
    os.utime(target, (now, now))  # order of "last live" for rollback and pruning
    return previous


def prune(dest: Path, keep: int) -> tuple[str, ...]:
    """Delete the oldest releases beyond ``keep`` (the live one counts and is never deleted)."""
    if keep < 1:
        raise UsageError("--keep must be at least 1", "the live release is always kept")
    live = live_sha(dest)
    ordered = list_release_dirs(dest)
    kept = {live} if live else set()
    for rel in ordered:
        if len(kept) >= keep:
            break
        kept.add(rel.name)
    removed = []
    for rel in ordered:
        if rel.name not in kept:
            _remove_release(rel)
            removed.append(rel.name)
    return tuple(removed)


def _remove_release(rel: Path) -> None:
    # The lock file goes first: a crash half way leaves a dir that no longer counts as a release
    # (list_release_dirs skips it, clean_staging removes it), never a lock over missing files.
    (rel / LOCK_NAME).unlink(missing_ok=True)
    shutil.rmtree(rel, ignore_errors=True)


def clean_staging(dest: Path, *, keep_sha: str | None = None) -> None:
    """Remove staging dirs left by interrupted pulls of other commits (caller holds the lock)."""
    root = releases_dir(dest)
    if not root.is_dir():
        return
    for p in sorted(root.iterdir()):
        stale_staging = p.name.startswith(STAGING_PREFIX) and p.name != f"{STAGING_PREFIX}{keep_sha}"
        if p.name.startswith(".old-"):  # a promote() swap interrupted by a crash
            sha = p.name.split("-")[1]
            final = release_dir(dest, sha)
            if _SHA_RE.match(sha) and not final.exists():
                os.rename(p, final)  # the crash came between the two renames: the old copy is the release
            else:
                shutil.rmtree(p, ignore_errors=True)
        elif stale_staging:
            shutil.rmtree(p, ignore_errors=True)
        elif _SHA_RE.match(p.name) and p.is_dir() and not (p / LOCK_NAME).exists() and p.name != live_sha(dest):
            shutil.rmtree(p, ignore_errors=True)  # a prune interrupted after it removed the lock file


def _find_release(dest: Path, sha_prefix: str) -> Path:
    matches = [p for p in list_release_dirs(dest) if p.name.startswith(sha_prefix.lower())]
    if not matches:
        raise NotFoundError(f"no release {sha_prefix} in {dest}", "see the releases with `hubmgr status --dest DIR`")
    if len(matches) > 1:
        raise UsageError(f"{sha_prefix} matches {len(matches)} releases", "give more characters of the sha")
    return matches[0]


def rollback(dest: str | os.PathLike[str], *, to: str | None = None, verify: bool = False,
             progress: ProgressSink = no_progress, cancel: CancelToken | None = None) -> RollbackResult:
    """Make an earlier release live again (default: the newest complete one before the current one).

    Only a complete release goes live: every file of its lock file present with its size, and with
    ``verify`` its sha256. An incomplete one named by ``to`` is refused; by default it is skipped.
    """
    dest = Path(dest).resolve()
    with locked(dest):
        live = live_sha(dest)
        skipped: list[str] = []
        if to is not None:
            target = _find_release(dest, to)
            problems = release_problems(target, verify=verify, progress=progress, cancel=cancel)
            if problems:
                raise VerificationError(f"release {target.name[:12]} is incomplete: {_summary(problems)}",
                                        "pull that commit again: hubmgr pull REMOTE@SHA --dest DIR")
        else:
            target = None
            for rel in (p for p in list_release_dirs(dest) if p.name != live):
                problems = release_problems(rel, verify=verify, progress=progress, cancel=cancel)
                if not problems:
                    target = rel
                    break
                skipped.append(f"{rel.name[:12]} ({_summary(problems)})")
            if target is None:
                why = f" (incomplete: {'; '.join(skipped)})" if skipped else ""
                raise NotFoundError(f"no earlier release to roll back to in {dest}{why}",
                                    "pull another revision first; `hubmgr status --dest DIR` lists releases")
        switch_current(dest, target.name)
    return RollbackResult(dest=str(dest), from_sha=live, to_sha=target.name, release=str(target),
                          verified=verify, skipped=tuple(skipped))


def _summary(problems: tuple[str, ...]) -> str:
    return "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")


def _release_info(rel: Path, live: str | None) -> ReleaseInfo:
    try:
        lock = read_lock(rel)
        return ReleaseInfo(rel.name, str(rel), rel.name == live, lock.revision, lock.remote, lock.pulled_at,
                           len(lock.files), sum(f.size for f in lock.files), complete=not release_problems(rel))
    except (NotFoundError, CorruptFileError):
        return ReleaseInfo(rel.name, str(rel), rel.name == live, None, None, None, 0, 0, complete=False)


def verify_release(release: Path, *, progress: ProgressSink = no_progress,
                   cancel: CancelToken | None = None) -> tuple[str, ...]:
    """Re-hash a release against its lock file; returns the problems found (empty = intact)."""
    return _check_files(release, read_lock(release), verify=True, progress=progress, cancel=cancel)


def _check_files(release: Path, lock: ReleaseLock, *, verify: bool, progress: ProgressSink,
                 cancel: CancelToken | None) -> tuple[str, ...]:
    problems = []
    total = sum(f.size for f in lock.files)
    done = 0
    for f in lock.files:
        p = release / f.path
        if not p.is_file():
            problems.append(f"{f.path}: missing")
            continue
        if p.stat().st_size != f.size:
            problems.append(f"{f.path}: size {p.stat().st_size}, lock file says {f.size}")
            continue
        if not verify:
            continue
        digest, _ = hash_file(p, cancel=cancel)
        done += f.size
        progress(ProgressEvent("status:verify", f"verifying {f.path}", done, total))
        if digest != f.sha256:
            problems.append(f"{f.path}: modified (sha256 {digest[:12]}..., lock file says {f.sha256[:12]}...)")
    if verify:
        listed = {f.path for f in lock.files}
        for p in sorted(release.rglob("*")):
            rel = p.relative_to(release).as_posix()
            if p.is_file() and rel not in listed and rel != LOCK_NAME:
                problems.append(f"{rel}: not part of the release")
        progress(ProgressEvent("status:verify", "verified", done, total, finished=True))
    return tuple(problems)


def status(dest: str | os.PathLike[str], *, verify: bool = False, check_remote: bool = True,
           progress: ProgressSink = no_progress, cancel: CancelToken | None = None) -> DeployStatus:
    """What is live in a deploy dir, whether its remote revision moved, and (``verify``) whether it is intact."""
    dest = Path(dest).resolve()
    if not dest.is_dir():
        raise NotFoundError(f"no deploy dir {dest}", "pull into it first: hubmgr pull SPEC --dest DIR")
    live = live_sha(dest)
    releases = tuple(_release_info(p, live) for p in list_release_dirs(dest))
    from .serve.state import server_state  # stdlib only: what serve / pull --follow wrote here

    server = server_state(dest)
    if live is None:
        return DeployStatus(str(dest), None, None, None, None, releases, server=server)
    lock = read_lock(release_dir(dest, live))
    remote_sha = moved = error = None
    if check_remote:
        remote_sha, error = _remote_head(lock)
        moved = None if remote_sha is None else remote_sha != live
    # presence + size always (cheap, stat only); sha256 and stray files with verify
    missing = release_problems(release_dir(dest, live))
    problems = release_problems(release_dir(dest, live), progress=progress, cancel=cancel,
                                verify=True) if verify and not missing else missing
    signature = _signature_status(release_dir(dest, live), lock, recheck=verify)
    if verify and signature.get("status") == "invalid":
        problems = (*problems, f"{signature.get('reason')}")
    return DeployStatus(str(dest), live, lock.remote, lock.revision, lock.pulled_at, releases,
                        remote_sha=remote_sha, remote_moved=moved, remote_error=error,
                        verified=(not problems) if verify else None, problems=problems, complete=not missing,
                        signature=signature, server=server)


def _signature_status(release: Path, lock: ReleaseLock, *, recheck: bool) -> dict:
    """Who signed the live release; with ``recheck``, verify it again with the key the pull trusted."""
    from . import trust

    recorded = lock.signature or {}
    if not recheck:
        if recorded.get("signer"):
            return {"status": "valid", "signer": recorded["signer"], "checked_at_pull": True}
        return {**trust.describe(release).to_dict(), "checked_at_pull": False}
    keys = [recorded["public_key"]] if recorded.get("public_key") else []
    if not keys:
        from .config import load_settings

        keys = [str(k) for k in load_settings().trust_keys]
    check = trust.describe(release, {f.path: f.sha256 for f in lock.files}, public_keys=keys)
    return {**check.to_dict(), "checked_at_pull": bool(recorded)}


# signature status -> the one word `hubmgr ls` and the TUI show for a release
SIGNATURE_BADGES = {"valid": "signed", "signed": "unverified", "unsigned": "unsigned", "invalid": "INVALID"}


def signature_badge(release: Path) -> str | None:
    """'signed' (checked against the key the pull trusted), 'unverified' (a model.sig nobody checked),
    'unsigned', 'INVALID'; None if ``release`` is not a release made by pull. Uses the lock's hashes:
    one signature check, no file is read again."""
    try:
        lock = read_lock(release)
    except (NotFoundError, CorruptFileError):
        return None
    return SIGNATURE_BADGES.get(_signature_status(release, lock, recheck=True).get("status"), "INVALID")


def _remote_head(lock: ReleaseLock) -> tuple[str | None, str | None]:
    """Where the lock's revision points on the remote now: (sha, None) or (None, error text)."""
    from .errors import HubmgrError
    from .remotes import open_remote, parse_target

    try:
        target = parse_target(lock.remote)
        if lock.revision and _SHA_RE.match(lock.revision):
            return lock.revision, None  # pinned to a commit: it cannot move
        remote = open_remote(type(target)(target.kind, target.location, lock.revision))
        return check_commit_id(remote.resolve_revision(lock.revision), source=lock.remote), None
    except HubmgrError as exc:
        return None, exc.message
