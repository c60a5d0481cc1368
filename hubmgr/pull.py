"""Pull use case: resolve the revision once, download into a staging dir, verify every byte, promote
to ``DIR/releases/<sha>``, switch ``DIR/current`` atomically, prune (see ``deploy``); or fill the
Hugging Face cache (``--cache``). Also browsing a remote's refs and the local registry.

Remotes do the transport (``remotes.open_remote``); this module never runs git or HTTP itself.
"""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from . import deploy
from .errors import (ConflictError, CorruptFileError, DiskSpaceError, IncompleteReleaseError, NotFoundError,
                     UsageError, VerificationError, local_os_error)
from .formats.relpath import check_commit_id
from .deploy_models import PullResult, ReleaseLock
from .progress import CancelToken, ProgressSink, check_cancel, no_progress
from .remotes import RemoteFile, RemoteTarget, asked_revision, backend_for, in_scope, open_target, parse_target
from .shared_files import reuse_kept_files

if TYPE_CHECKING:
    from .catalog import Catalog
    from .formats.hashing import FileDigest
    from .config import Settings
    from .remotes import Remote


def pull(
    spec_or_pointer: str | os.PathLike[str],
    *,
    dest: str | os.PathLike[str] | None,
    keep: int = 3,
    revision: str | None = None,
    include: tuple[str, ...] | list[str] = (),
    exclude: tuple[str, ...] | list[str] = (),
    cache: bool = False,
    require_signature: tuple[str, ...] | list[str] | None = None,
    token: str | None = None,
    allow_incomplete: bool = False,
    switch_source: bool = False,
    commit: str | None = None,
    activate: bool = True,
    catalog: "Catalog | None" = None,
    remote: "Remote | None" = None,
    progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> PullResult:
    """Deploy one exact commit into ``dest`` (verified, atomic) or, with ``cache``, into the HF cache.

    A dest serves one source: pulling another repository into it is refused unless ``switch_source``.
    ``commit``: deploy this sha, already resolved from the asked revision (``pull --follow``), which the
    lock file still records. ``activate=False`` stops after ``releases/<sha>`` is complete: current does
    not move and nothing is pruned (the follow loop smoke-tests first).

    ``revision`` is the ``hf download --revision`` spelling of ``SPEC@REV`` (giving both differently is refused).
    ``require_signature``: public keys (PEM); the release must carry a ``model.sig`` by one of them
    covering exactly its files, else nothing goes live. None means the config's ``[trust] keys``.
    """
    from .formats.pointer_file import looks_like_pointer, read_pointer

    include, exclude = tuple(include), tuple(exclude)
    pointer = None
    spec = str(spec_or_pointer)
    if looks_like_pointer(spec):
        if revision:
            raise UsageError("a pointer file pins its own commit: --revision does not apply",
                             "drop --revision, or pull the remote named in the pointer file")
        pointer = read_pointer(spec)
        target = parse_target(pointer.remote)
        target = RemoteTarget(target.kind, target.location, pointer.commit)
        asked = pointer.revision
    else:
        target = parse_target(spec)
        asked = asked_revision(target, revision)
        target = RemoteTarget(target.kind, target.location, asked)
    if keep < 1:
        raise UsageError("--keep must be at least 1", "the live release is always kept")
    trusted = _trusted_keys(require_signature)
    t, remote = open_target(target, remote, token)
    # once: everything below uses this exact commit, and only after it is known to be a commit id
    sha = check_commit_id(commit or remote.resolve_revision(t.revision), source=remote.name)
    check_cancel(cancel)

    if cache:
        if trusted:
            raise UsageError("--cache cannot check signatures (the HF cache has no verified release)",
                             "pull with --dest DIR to require a signature")
        return _pull_into_cache(remote, t, sha, asked, include, exclude, catalog=catalog)
    if dest is None:
        raise UsageError("pull needs --dest DIR (or --cache)", "e.g. hubmgr pull local:demo --dest /srv/model")

    files, warnings = _remote_selection(remote.list_files(sha), include, exclude)
    # a pointer file (guard --fix hub) pins exactly the weights a code repo needs: that set is the release
    missing = missing_for_deploy([f.path for f in files]) if pointer is None else []
    if missing and not allow_incomplete:
        raise IncompleteReleaseError(
            f"{t.display} at {sha[:12]} has no {' and no '.join(missing)}: refusing to make it live",
            "push the model's weights and config.json, or pass --allow-incomplete to deploy it anyway")
    if missing:
        warnings.append(f"deployed without {' and '.join(missing)} (--allow-incomplete)")
    if pointer is not None:
        _check_pointer_files(pointer, files)
    dest_path = Path(dest).expanduser().resolve()
    if not switch_source:
        _check_source(dest_path, remote.name)
    with deploy.locked(dest_path):
        deploy.clean_staging(dest_path, keep_sha=sha)
        reused = deploy.release_is_complete(dest_path, sha) and _same_selection(dest_path, sha, files)
        downloaded = shared = 0
        if not reused:
            downloaded, shared = _download_release(remote, t, sha, asked, files, dest_path, trusted=trusted,
                                           progress=progress, cancel=cancel)
        signer = None
        if trusted:  # a reused release is checked again: it may have been pulled before trust was required
            release = deploy.release_dir(dest_path, sha)
            signer = _check_signature(release, deploy.read_lock(release).files, trusted)["signer"]
        check_cancel(cancel)
        if activate:
            previous = deploy.switch_current(dest_path, sha)
            pruned = deploy.prune(dest_path, keep)
        else:
            previous, pruned = deploy.live_sha(dest_path), ()
    result = PullResult(
        dest=str(dest_path), remote=remote.name, revision=asked, commit_sha=sha,
        release=str(deploy.release_dir(dest_path, sha)), current=str(dest_path / deploy.CURRENT),
        previous_sha=previous, files=len(files), bytes_total=sum(f.size for f in files), bytes_downloaded=downloaded,
        bytes_shared=shared, reused=reused, pruned=pruned, pointer=str(Path(spec).resolve()) if pointer else None, signer=signer,
        warnings=tuple(warnings),
    )
    if catalog is not None:
        catalog.record_pull(remote=remote.name, repo=t.location, revision=asked, commit_sha=sha, dest=str(dest_path),
                            details={"files": result.files, "bytes": result.bytes_total, "reused": reused,
                                     "previous": previous, "pruned": list(pruned)})
    return result


def _check_source(dest: Path, source: str) -> None:
    """A deploy dir remembers its source (the live release's lock file): refuse to mix repositories."""
    live = deploy.live_sha(dest)
    if live is None:
        return
    try:
        serving = deploy.read_lock(deploy.release_dir(dest, live)).remote
    except (NotFoundError, CorruptFileError):
        return  # a damaged live release is status's business, not a reason to refuse a fix
    if serving != source:
        raise ConflictError(f"{dest} serves {serving}; refusing to pull {source} into it",
                            "pull into another --dest, or pass --switch-source to make it serve the new source")


WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".onnx", ".pt", ".pth", ".ckpt")
_HF_BIN_WEIGHTS = re.compile(r"^pytorch_model(-\d+-of-\d+)?\.bin$")


def missing_for_deploy(paths: Iterable[str]) -> list[str]:
    """What a release lacks to be served: ``weights`` and/or ``config.json`` (top level)."""
    paths = list(paths)
    names = [p.rsplit("/", 1)[-1] for p in paths]
    missing = []
    if not any(n.lower().endswith(WEIGHT_SUFFIXES) or _HF_BIN_WEIGHTS.match(n) for n in names):
        missing.append("weights")
    if "config.json" not in paths:
        missing.append("config.json")
    return missing


def _remote_selection(files: list[RemoteFile], include: tuple[str, ...], exclude: tuple[str, ...] = ()
                      ) -> tuple[list[RemoteFile], list[str]]:
    warnings = []
    selected = []
    for f in files:
        deploy.safe_relpath(f.path)  # refuse before anything is written
        if f.path == deploy.LOCK_NAME:
            warnings.append(f"the remote has its own {deploy.LOCK_NAME}; it is not deployed")
            continue
        if not in_scope(f.path, include, exclude):
            continue
        selected.append(f)
    if not selected:
        raise UsageError("nothing to pull: no file matches" + (f" {', '.join(include)}" if include else "")
                         + (f" (excluding {', '.join(exclude)})" if exclude else ""),
                         "check --include/--exclude, or the repository is empty")
    return selected, warnings


def _check_pointer_files(pointer, files: list[RemoteFile]) -> None:
    from .errors import VerificationError

    by_path = {f.path: f for f in files}
    for pf in pointer.files:
        rf = by_path.get(pf.path)
        if rf is None:
            raise VerificationError(f"{pf.path} is pinned by the pointer file but missing at {pointer.commit[:12]}",
                                    "the pointer does not match its remote; check the pointer file")
        if rf.size != pf.size or (pf.sha256 and rf.sha256 and rf.sha256 != pf.sha256):
            raise VerificationError(f"{pf.path} on the remote differs from the pointer file",
                                    "the pointer does not match its remote; check the pointer file")


def _same_selection(dest: Path, sha: str, files: list[RemoteFile]) -> bool:
    lock = deploy.read_lock(deploy.release_dir(dest, sha))
    return {f.path for f in lock.files} == {f.path for f in files}


def _trusted_keys(require_signature) -> tuple[str, ...]:
    if require_signature:
        return tuple(str(k) for k in require_signature)
    from .config import load_settings

    return tuple(str(k) for k in load_settings().trust_keys)


def _check_signature(root: Path, locked_files, trusted: tuple[str, ...]) -> dict:
    """Refuse a release whose ``model.sig`` is missing, untrusted or does not cover exactly its files.

    Uses the sha256 computed from the downloaded bytes (the lock entries), so a remote that lies
    about a file's hash in its listing is caught here even though the size and listing agree.
    """
    from . import trust

    check = trust.check_release(root, {f.path: f.sha256 for f in locked_files}, public_keys=trusted)
    key = next((k for k in trusted if trust.fingerprint(Path(k).expanduser().read_bytes()) == check.signer), None)
    return {"signer": check.signer, "public_key": str(Path(key).expanduser().resolve()) if key else None,
            "files": check.files}


def _download_release(remote: "Remote", t: RemoteTarget, sha: str, asked: str | None, files: list[RemoteFile],
                      dest: Path, *, trusted: tuple[str, ...] = (), progress: ProgressSink,
                      cancel: CancelToken | None) -> tuple[int, int]:
    """Download + verify (+ signature check) into the staging dir, write the lock file, rename to releases/<sha>.

    Returns (bytes downloaded, bytes shared with kept releases)."""
    from .formats.safetensors_writer import check_disk_space

    staging = deploy.staging_dir(dest, sha)
    staging.mkdir(parents=True, exist_ok=True)
    # files a kept release already has are hard-linked, not downloaded (verified below like the rest)
    files_to_fetch, shared = reuse_kept_files(dest, staging, files)
    before = _dir_bytes(staging)
    verifier = deploy.FileVerifier(staging, files, progress=progress, cancel=cancel)
    # each file is verified as soon as it is complete, while later ones still download: by the digest
    # its download measured as the bytes arrived (no second read), or, for a file the remote did not
    # hash (hard-linked, left by an earlier attempt, a git remote), by reading it
    if hasattr(remote, "preload"):  # before any worker thread: no two threads importing at a Ctrl-C
        remote.preload()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pull-verify") as pool:
        checks: dict[str, Future] = {}

        def verify_soon(f: RemoteFile, digest: FileDigest | None = None) -> None:
            checks[f.path] = pool.submit(verifier.check, f) if digest is None else pool.submit(verifier.accept, f,
                                                                                                digest)

        fetching = {f.path for f in files_to_fetch}
        try:
            for f in files:
                if f.path not in fetching:  # hard-linked: nothing to wait for
                    verify_soon(f)
            # sizes are known: a full disk is told before the download, as a local problem
            check_disk_space(staging, sum(f.size for f in files) - before,
                             hint="free some space on the deploy disk (or pull into another --dest); "
                                  "older releases go with --keep N")
            if files_to_fetch:
                remote.download(sha, staging, files=files_to_fetch, progress=progress, cancel=cancel,
                                on_file=verify_soon)
        except (OSError, DiskSpaceError) as exc:  # no room: drop the partial download, it only takes space
            pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):
                raise local_os_error(exc, f"cannot write the release into {dest}") from exc
            raise
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # nothing may hash a file the caller is about to drop
            raise
    check_cancel(cancel)
    shutil.rmtree(staging / ".cache", ignore_errors=True)  # a client's resume bookkeeping is not the release
    linked = [f for f in files if f not in files_to_fetch]
    first = True
    while True:
        try:
            if first:  # files the remote did not report (or a resume skipped) are checked now
                first = False
                # downloaded files first: a bad download's own error fails the pull, as before
                by_path = {f.path: checks[f.path].result() if f.path in checks else verifier.check(f)
                           for f in sorted(files, key=lambda f: f in linked)}
                locked_files = tuple(by_path[f.path] for f in files)
                verifier.finished()
            else:
                locked_files = deploy.verify_files(staging, files, progress=progress, cancel=cancel)
            break
        except VerificationError:
            # a kept release's copy changed since it was pulled (verification dropped the link): download
            # it instead. A bad download is not retried here: it fails the pull as always.
            # (every check has run by now, the pool was shut down: all bad copies are gone)
            gone = [f for f in linked if not (staging / f.path).is_file()]
            if not gone:
                raise
            linked = [f for f in linked if f not in gone]
            remote.download(sha, staging, files=gone, progress=progress, cancel=cancel)
            before -= sum(f.size for f in gone)
    signature = None
    if trusted:
        try:
            signature = _check_signature(staging, locked_files, trusted)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # content nobody trusted is not kept for a resume
            raise
    deploy.write_lock(staging, ReleaseLock(remote=remote.name, repo=t.location, revision=asked, commit=sha,
                                           pulled_at=deploy.now_iso(), files=locked_files, signature=signature))
    check_cancel(cancel)
    deploy.promote(staging, dest, sha)
    return max(0, sum(f.size for f in files) - before), shared


def _dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _pull_into_cache(remote: "Remote", t: RemoteTarget, sha: str, asked: str | None, include: tuple[str, ...],
                     exclude: tuple[str, ...], *, catalog: "Catalog | None") -> PullResult:
    if not backend_for(t.kind).fills_hf_cache:
        raise UsageError("--cache fills the Hugging Face cache, so it needs a Hub remote",
                         "for git remotes use --dest DIR")
    snapshot = remote.fill_hf_cache(sha, include, revision=asked, exclude=exclude)  # refs/<asked or main> -> sha
    files = [f for f in remote.list_files(sha) if in_scope(f.path, include, exclude)]
    if catalog is not None:
        catalog.record_pull(remote=remote.name, repo=t.location, revision=asked, commit_sha=sha,
                            dest=str(snapshot), details={"cache": True})
    return PullResult(dest=None, remote=remote.name, revision=asked, commit_sha=sha, release=None, current=None,
                      previous_sha=None, files=len(files), bytes_total=sum(f.size for f in files),
                      bytes_downloaded=0, reused=False, cache_dir=str(snapshot) if snapshot else None)


# --- browsing remotes ------------------------------------------------------------------


def list_remote(spec: str, *, limit: int = 20, token: str | None = None, remote: "Remote | None" = None):
    """Refs (branches, tags) and the latest commits of the asked (or default) revision."""
    from .models import RemoteListing

    t, remote = open_target(spec, remote, token)
    refs = remote.list_refs()
    commits = remote.list_commits(t.revision, limit=limit) if refs else []
    return RemoteListing(remote=remote.name, refs=tuple(refs), commits=tuple(commits))


def list_registry(settings: "Settings | None" = None):
    """Every repository of the embedded local registry (``local:NAME``)."""
    from .config import load_settings
    from .git import registry as local

    return local.list_repos(settings or load_settings())
