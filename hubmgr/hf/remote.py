"""The Hugging Face Hub as a remote, through ``huggingface_hub.HfApi`` only.

Endpoint: ``Settings.hub_endpoint`` (``HF_ENDPOINT`` or the config file), else the
library's default. Token: the one passed in, else ``HF_TOKEN`` or the standard login
store (``huggingface_hub.get_token()``). A token is never put into a message, a log
line or the catalog: messages are scrubbed of anything that looks like one.

Every ``huggingface_hub`` / ``httpx2`` exception stops here and becomes a
``HubmgrError`` with a hint (``_hub_errors``). The library's tqdm bars are silenced;
progress goes to hubmgr's ``ProgressSink`` instead. Xet is left to the library (the real
Hub stores new uploads with Xet); only the tests set ``HF_HUB_DISABLE_XET=1``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import (
    ENVIRONMENT_ERRNOS, AuthError, ConflictError, HubmgrError, RemoteError, RemoteNotFoundError,
    UnsafeContentError, UsageError, VerificationError, local_os_error,
)
from .. import __version__
from ..formats.relpath import SHA256_HEX, check_commit_id, check_inside, check_relpath, is_commit_id, is_safe_relpath
from ..progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress
from ..remotes import PushOutcome, PushRequest, RemoteCommit, RemoteFile, RemoteRef, RemoteTarget, branch_moved
from ..formats.hashing import FileDigest
from .download import (PARTIAL_DIR, FileTransfer, download_timeout, request_headers, resolve_url,
                       writer_thread_pays)
from .transfer import TransferMeter

if TYPE_CHECKING:
    from ..config import Settings
    from .upload import HubPushSession

LOGIN_HINT = "set HF_TOKEN or run `hf auth login`"
DOWNLOAD_ATTEMPTS = 4  # per file, on top of huggingface_hub's own in-call retries/resume
METADATA_ATTEMPTS = 4  # idempotent reads (revision, files, refs, commits) on 5xx / network errors
log = logging.getLogger("hubmgr.hf")
# A Hub user/org token: "hf_" + 30 or more letters and digits as one word. Not "hf_home" or "hf_cache".
_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9_])")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` without the given secrets (the token in use) or anything shaped like a Hub token."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _TOKEN_RE.sub("hf_***", text)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


class HubRemote:
    """One repository on a Hub endpoint. Implements ``hubmgr.remotes.Remote``."""

    def __init__(self, target: RemoteTarget, settings: "Settings", *, token: str | None = None) -> None:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # never garble the TUI or --json; we report through ProgressSink
        self.target = target
        self.repo_id = target.location
        self.endpoint = (settings.hub_endpoint or "").rstrip("/") or None
        self.__token = token
        self._xet_paths: set[str] = set()  # files the last listing showed stored with Xet

    def __repr__(self) -> str:
        return f"HubRemote({self.name!r}, endpoint={self.endpoint_display!r})"

    # --- identity ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"hub:{self.repo_id}"

    @property
    def endpoint_display(self) -> str:
        if self.endpoint:
            return self.endpoint
        from huggingface_hub import constants

        return constants.ENDPOINT

    def _token(self) -> str | None:
        if self.__token:
            return self.__token
        from huggingface_hub import get_token

        with contextlib.suppress(Exception):
            return get_token()
        return None

    def _api(self):
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.__token or None, library_name="hubmgr",
                      library_version=__version__)  # User-Agent: hubmgr/<version>

    def preload(self) -> None:
        """Import here (the main thread) what a push's or a pull's worker threads would import lazily,
        and make the shared HTTP client. A Ctrl-C that lands while two threads import at once can
        leave CPython's import locks held, and the process then hangs instead of exiting (seen in
        the crash trials)."""
        import encodings.idna  # noqa: F401 - the HTTP client's first request encodes the host name with it

        import huggingface_hub._commit_api  # noqa: F401
        import huggingface_hub.errors  # noqa: F401
        import huggingface_hub.file_download  # noqa: F401
        import huggingface_hub.hf_api  # noqa: F401
        import huggingface_hub.lfs  # noqa: F401
        import huggingface_hub.repocard  # noqa: F401
        from huggingface_hub.utils import get_session

        get_session()
        _is_network_error(OSError())  # its transport module

    def _require_token(self) -> None:
        if not self._token():
            raise AuthError(f"not logged in to the Hub ({self.endpoint_display}): pushing needs a token", LOGIN_HINT)

    @contextlib.contextmanager
    def _hub_errors(self, action: str, revision: str | None = None) -> Iterator[None]:
        """Turn ``huggingface_hub`` / ``httpx2`` exceptions into ``HubmgrError``s with hints."""
        try:
            yield
        except HubmgrError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped below; unknown ones re-raised
            mapped = self._map_error(exc, action, revision)
            if mapped is None:
                raise
            raise mapped from None

    def _retrying(self, action: str, call: Callable[[], Any], revision: str | None = None, *,
                  attempts: int = METADATA_ATTEMPTS, on_retry: Callable[[], None] | None = None) -> Any:
        """``call()`` under ``_hub_errors``, again after a transient failure (5xx, 429, network).

        Only for idempotent calls. Bounded: ``attempts`` tries, backoff 0.5 s doubling to 4 s,
        each retry logged (a warning on stderr at the CLI).
        """
        for attempt in range(1, attempts + 1):
            try:
                with self._hub_errors(action, revision):
                    return call()
            except RemoteError as exc:
                if on_retry is not None:
                    on_retry()
                if attempt == attempts or not is_transient(exc):
                    raise
                delay = min(0.5 * 2 ** (attempt - 1), 4.0)
                log.warning("%s; retrying in %.1fs (attempt %d of %d)", exc.message, delay, attempt + 1, attempts)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _map_error(self, exc: Exception, action: str, revision: str | None) -> HubmgrError | None:
        from huggingface_hub import errors as hf_errors

        repo, where = self.repo_id, self.endpoint_display
        detail = scrub(_first_line(exc), self._token())
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(exc, hf_errors.GatedRepoError):
            return AuthError(f"{repo} is a gated repository: your account has no access to it",
                             f"request access on {where}/{repo}, then use that account's token ({LOGIN_HINT})")
        if isinstance(exc, hf_errors.DisabledRepoError):
            return RemoteError(f"{repo} has been disabled on {where}", None)
        if isinstance(exc, hf_errors.RevisionNotFoundError):
            return RemoteNotFoundError(f"revision {revision or 'main'!r} not found in {repo}",
                                       f"list branches and tags with `hubmgr remote ls {repo}` or check {where}/{repo}")
        if isinstance(exc, hf_errors.RepositoryNotFoundError):
            hint = ("check the repo id; a private repo also needs a token: " + LOGIN_HINT if not self._token()
                    else "check the repo id, and that your token's account can see it (private repos)")
            return RemoteNotFoundError(f"repository {repo} not found on {where}", hint)
        if isinstance(exc, hf_errors.EntryNotFoundError):
            return RemoteNotFoundError(f"file not found in {repo}: {detail}", None)
        if isinstance(exc, hf_errors.LocalTokenNotFoundError):
            return AuthError(f"not logged in to the Hub ({where})", LOGIN_HINT)
        if isinstance(exc, hf_errors.OfflineModeIsEnabled):
            return RemoteError(f"cannot {action}: HF_HUB_OFFLINE is set", "unset HF_HUB_OFFLINE to reach the Hub")
        if isinstance(exc, hf_errors.HfHubHTTPError) and status is not None:
            if status == 401:
                return AuthError(f"cannot {action}: the Hub rejected the credentials (not logged in or invalid token)",
                                 LOGIN_HINT)
            if status == 403:
                return AuthError(f"cannot {action}: no write access to {repo} with this token",
                                 f"use a token with the 'write' role for that namespace ({LOGIN_HINT})")
            if status == 412:
                return ConflictError(f"cannot {action}: {repo} changed on the Hub while pushing",
                                     "run the push again")
            if status == 429:
                return _transient(RemoteError(f"cannot {action}: rate limited by {where}", "wait a moment and retry"))
            if status >= 500:
                return _transient(RemoteError(f"cannot {action}: {where} answered HTTP {status}", "retry later"))
            return RemoteError(f"cannot {action}: {detail}", None)
        if isinstance(exc, (ConnectionError, TimeoutError)) or _is_network_error(exc):
            return _transient(RemoteError(f"cannot {action}: network error talking to {where} ({detail})",
                                          "check the connection and HF_ENDPOINT, then retry"))
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:  # disk full, read-only: ours, not the Hub's
            return local_os_error(exc, f"cannot {action}")
        if isinstance(exc, OSError):  # e.g. "Consistency check failed" on a short body
            return _transient(RemoteError(f"cannot {action}: {detail}", "retry"))
        if isinstance(exc, ValueError):
            return RemoteError(f"cannot {action}: {detail}", None)
        return None

    # --- reading ----------------------------------------------------------------------------------
    def resolve_revision(self, revision: str | None) -> str:
        info = self._retrying("resolve the revision", lambda: self._api().repo_info(self.repo_id,
                                                                                      revision=revision or None),
                              revision)
        if not info.sha:
            raise RemoteError(f"the Hub did not report a commit for {self.repo_id}@{revision or 'main'}")
        return check_commit_id(info.sha, source=f"{self.endpoint_display} ({self.repo_id})")

    def list_files(self, commit_sha: str) -> list[RemoteFile]:
        from huggingface_hub.hf_api import RepoFile

        entries = self._retrying("list files", lambda: list(self._api().list_repo_tree(
            self.repo_id, revision=commit_sha, recursive=True)), commit_sha)
        files = []
        for e in entries:
            if not isinstance(e, RepoFile):
                continue
            lfs = e.lfs
            files.append(RemoteFile(path=e.path, size=int(e.size), sha256=lfs.sha256 if lfs else None,
                                    git_oid=e.blob_id, is_lfs=lfs is not None))
            if getattr(e, "xet_hash", None):
                self._xet_paths.add(e.path)
        return sorted(files, key=lambda f: f.path)

    def list_refs(self) -> list[RemoteRef]:
        refs = self._retrying("list branches and tags", lambda: self._api().list_repo_refs(self.repo_id))
        return ([RemoteRef(b.name, "branch", b.target_commit) for b in refs.branches]
                + [RemoteRef(t.name, "tag", t.target_commit) for t in refs.tags])

    def list_commits(self, revision: str | None = None, limit: int = 50) -> list[RemoteCommit]:
        def first_commits() -> list[RemoteCommit]:
            commits = []
            for c in self._api().list_repo_commits(self.repo_id, revision=revision or None):
                commits.append(RemoteCommit(sha=c.commit_id, title=c.title,
                                            date=c.created_at.isoformat().replace("+00:00", "Z"),
                                            author=c.authors[0] if c.authors else None))
                if len(commits) >= limit:
                    break
            return commits

        return self._retrying("list commits", first_commits, revision)

    # --- downloading ------------------------------------------------------------------------------
    def download(self, commit_sha: str, dest: Path, *, files: list[RemoteFile],
                 progress: ProgressSink = no_progress, cancel: CancelToken | None = None,
                 on_file: Callable[[RemoteFile, FileDigest | None], None] | None = None) -> None:
        """Download ``files`` of ``commit_sha`` into ``dest`` (a staging dir), 8 at a time like ``hf download``.

        Each file is hashed while it arrives and takes its final name only when its size and hash
        match the listing (``hf.download``); ``on_file(f, digest)`` then hands the measured digest
        to the caller. A dropped body resumes with Range; a file that still fails is tried again
        up to ``DOWNLOAD_ATTEMPTS`` times. A file already at its final path (an earlier attempt)
        is reported with ``digest=None``: the caller hashes it. Xet-stored files, when hf_xet is
        installed, go through the library (its Xet protocol), also reported with ``None``.
        """
        for f in files:
            check_relpath(f.path, hint="refusing to download from this repository; report it to its owner")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        meter = TransferMeter(progress, f"pull:{self.repo_id}", f"downloading {self.repo_id}",
                               total_bytes=sum(f.size for f in files), total_files=len(files), cancel=cancel)
        headers, timeout = request_headers(self.__token or None, __version__), download_timeout()
        through_library = self._xet_files(files)
        threaded = writer_thread_pays(files)

        def fetch(f: RemoteFile) -> None:
            check_cancel(cancel)
            if meter.stopped:
                return
            if (dest / f.path).is_file():
                digest = None
                meter.file_done(f.size)
            elif f.path in through_library:
                digest = self._library_download(f, commit_sha, dest, meter)
            else:
                digest = self._stream(f, commit_sha, dest, meter, headers, timeout, cancel, threaded)
            if on_file is not None and not meter.stopped:
                on_file(f, digest)

        workers = max(1, min(8, len(files)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hub-download") as pool:
            futures = [pool.submit(fetch, f) for f in files]
            try:
                for fut in futures:
                    fut.result()
            except BaseException:
                meter.abort()  # in-flight downloads stop at their next chunk
                for fut in futures:
                    fut.cancel()
                raise
        # partial files and huggingface_hub's bookkeeping for local_dir: not part of the release
        shutil.rmtree(dest / PARTIAL_DIR, ignore_errors=True)
        shutil.rmtree(dest / ".cache" / "huggingface", ignore_errors=True)
        with contextlib.suppress(OSError):
            (dest / ".cache").rmdir()
        meter.finish()

    def _stream(self, f: RemoteFile, commit_sha: str, dest: Path, meter: TransferMeter, headers: dict[str, str],
                timeout: float, cancel: CancelToken | None, threaded: bool) -> FileDigest:
        url = resolve_url(self.endpoint, self.repo_id, commit_sha, f.path)
        while True:
            with self._hub_errors(f"download {f.path}", commit_sha):
                transfer = FileTransfer(f, dest, meter=meter, cancel=cancel, writer_thread=threaded)
            try:
                # a retry continues from the bytes already written and hashed
                self._retrying(f"download {f.path}", lambda: transfer.attempt(url, headers, timeout), commit_sha,
                               attempts=DOWNLOAD_ATTEMPTS)
                with self._hub_errors(f"download {f.path}", commit_sha):
                    digest = transfer.finish()
            except VerificationError:
                transfer.discard()  # bad bytes are never resumed from
                if not transfer.kept_from_disk:
                    raise
                # the partial file an earlier pull left was not this file's start: once more, from zero
                log.warning("%s: the partial download left by an earlier pull is damaged; downloading it again",
                            f.path)
                meter.rewind(transfer)
                continue
            finally:
                transfer.close()
            meter.file_done(f.size, transfer)
            return digest

    def _xet_files(self, files: list[RemoteFile]) -> set[str]:
        """Files the listing showed as Xet-stored, when the library can speak Xet (else plain HTTP serves them)."""
        import importlib.util

        from huggingface_hub import constants

        xet = {f.path for f in files} & self._xet_paths
        return xet if xet and not constants.HF_HUB_DISABLE_XET and importlib.util.find_spec("hf_xet") else set()

    def _library_download(self, f: RemoteFile, commit_sha: str, dest: Path, meter: TransferMeter) -> None:
        bars: list = []

        def once() -> None:
            bars.append(meter.bar_class(f.path))
            self._api().hf_hub_download(self.repo_id, f.path, revision=commit_sha, local_dir=dest,
                                        tqdm_class=bars[-1])

        self._retrying(f"download {f.path}", once, commit_sha, attempts=DOWNLOAD_ATTEMPTS,
                       on_retry=lambda: meter.rewind(bars[-1]) if bars else None)
        meter.file_done(f.size, bars[-1])
        return None

    def fill_hf_cache(self, commit_sha: str, include: list[str] | tuple[str, ...] | None = None, *,
                      revision: str | None = None, exclude: list[str] | tuple[str, ...] | None = None,
                      progress: ProgressSink = no_progress) -> Path:
        """Download ``commit_sha`` into the standard HF cache and point ``refs/<revision>`` at it.

        Afterwards ``from_pretrained(repo_id)`` (or ``revision=...``) works offline on this host.
        ``revision`` defaults to ``main``; a sha revision writes no ref.
        """
        from huggingface_hub import constants

        progress(ProgressEvent(f"pull:{self.repo_id}", f"filling the HF cache with {self.repo_id}", 0, None,
                               "files"))
        # Everything the server says becomes a cache path (snapshot dir, blob names, file names):
        # check it all before the library writes anything. A commit id given as the revision is used
        # as the snapshot name as is (huggingface_hub >= 1.0), so it must be ours, checked.
        check_commit_id(commit_sha, source=self.name)
        ref = revision or "main"
        if not is_safe_relpath(ref) or not re.fullmatch(r"[\w.\-/]+", ref):
            raise UsageError(f"revision {ref!r} cannot name an HF cache ref", "pull a branch, tag or commit id")
        listed = {f.path: f for f in self.list_files(commit_sha)}
        self._check_cache_names(commit_sha, listed)
        with self._hub_errors("download into the HF cache", commit_sha):
            folder = Path(self._api().snapshot_download(self.repo_id, revision=commit_sha,
                                                        allow_patterns=list(include) if include else None,
                                                        ignore_patterns=list(exclude) if exclude else None))
        self._verify_snapshot(folder, listed, Path(constants.HF_HUB_CACHE))
        if not _SHA_RE.match(ref):
            refs = folder.parent.parent / "refs"
            ref_file = refs / ref
            check_inside(refs, ref_file)
            ref_file.parent.mkdir(parents=True, exist_ok=True)
            ref_file.write_text(commit_sha)
        progress(ProgressEvent(f"pull:{self.repo_id}", f"cached {self.repo_id}", 1, 1, "files", finished=True))
        return folder

    def _check_cache_names(self, commit_sha: str, listed: dict[str, RemoteFile]) -> None:
        """Refuse file names, LFS hashes and per-file commit/ETag headers that cannot safely name cache paths."""
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        hint = "refusing to fill the HF cache from this repository; report it to its owner"
        for f in listed.values():
            check_relpath(f.path, hint=hint)
            if f.sha256 is not None and not SHA256_HEX.fullmatch(f.sha256):
                raise UnsafeContentError(f"{self.name} lists {f.path!r} with sha256 {f.sha256[:80]!r}", hint)
        for f in listed.values():  # the library names blobs by the ETag of a HEAD request: check those too
            url = hf_hub_url(self.repo_id, f.path, revision=commit_sha, endpoint=self.endpoint)
            meta = self._retrying(f"check {f.path}", lambda: get_hf_file_metadata(url, token=self._token()),
                                  commit_sha)
            if not is_commit_id(meta.etag or "") or (meta.commit_hash and meta.commit_hash != commit_sha):
                raise UnsafeContentError(f"{self.name} answers {f.path!r} with ETag {str(meta.etag)[:80]!r} "
                                         f"and commit {str(meta.commit_hash)[:80]!r}", hint)
            if f.sha256 is not None and meta.etag != f.sha256:
                raise VerificationError(f"{self.name} lists {f.path!r} with sha256 {f.sha256} but serves "
                                        f"ETag {meta.etag}", hint)

    def _verify_snapshot(self, folder: Path, listed: dict[str, RemoteFile], cache_root: Path) -> None:
        """Every cached file lies inside the cache and matches the listing (size, LFS sha256)."""
        from ..formats.hashing import git_blob_sha1, sha256_file

        check_inside(cache_root, folder)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            check_inside(cache_root, path)
            rel = path.relative_to(folder).as_posix()
            f = listed.get(rel)
            real = path.resolve()
            if f is None or real.stat().st_size != f.size or (
                    sha256_file(real) != f.sha256 if f.sha256 is not None
                    else bool(f.git_oid) and git_blob_sha1(real.read_bytes()) != f.git_oid):
                path.unlink(missing_ok=True)
                real.unlink(missing_ok=True)  # the blob: nothing unverified stays in the cache
                raise VerificationError(f"{self.name}: {rel} in the HF cache does not match the listing of "
                                        f"{folder.name[:12]} (size or sha256)",
                                        "the server is broken or hostile; the file was removed from the cache")

    # --- pushing ----------------------------------------------------------------------------------
    def push(self, request: PushRequest, *, progress: ProgressSink = no_progress,
             cancel: CancelToken | None = None) -> PushOutcome:
        """Commit exactly ``request.upload`` and ``request.delete`` (no empty commit), then tag."""
        session = self.begin_push(revision=request.revision, base_commit=request.base_commit,
                                  check_base=request.check_base, private=request.private,
                                  create_pr=request.create_pr, progress=progress, cancel=cancel)
        try:
            return session.finish(request)
        finally:
            session.close()

    def begin_push(self, *, revision: str | None, base_commit: str | None, check_base: bool, private: bool = False,
                   create_pr: bool = False, progress: ProgressSink = no_progress,
                   cancel: CancelToken | None = None) -> "HubPushSession":
        """A push whose uploads start while its plan is still hashing (``sync.push``); see ``hf.upload``."""
        from .upload import HubPushSession

        return HubPushSession(self, revision=revision, base_commit=base_commit, check_base=check_base,
                              private=private, create_pr=create_pr, progress=progress, cancel=cancel)

    def _repo_web_url(self) -> str:
        return f"{self.endpoint_display.rstrip('/')}/{self.repo_id}"

    def _ensure_repo(self, api: Any, private: bool) -> None:
        from huggingface_hub import errors as hf_errors

        def exists() -> bool:
            try:
                api.repo_info(self.repo_id)
            except hf_errors.GatedRepoError:
                return True  # it exists; access is checked by the commit itself
            except hf_errors.RepositoryNotFoundError:
                return False
            return True

        if self._retrying(f"read {self.repo_id}", exists):
            return
        with self._hub_errors(f"create the repository {self.repo_id}"):
            api.create_repo(self.repo_id, private=private, exist_ok=True)

    def _ensure_branch(self, api: Any, branch: str, *, plan_had_it: bool = True) -> dict[str, str]:
        """Branch heads; creates ``branch`` from main when it does not exist yet."""
        heads = self._retrying("list branches", lambda: {b.name: b.target_commit
                                                          for b in api.list_repo_refs(self.repo_id).branches}, branch)
        if branch in heads and not plan_had_it and any(f.path != ".gitattributes"
                                                       for f in self.list_files(heads[branch])):
            # the plan saw no branch (everything new); another push filled it since (a new repo's
            # initial commit holds only .gitattributes)
            raise branch_moved(f"{self.endpoint_display}/{self.repo_id}", branch, None, heads[branch])
        if branch not in heads:
            with self._hub_errors(f"create the branch {branch}", branch):
                api.create_branch(self.repo_id, branch=branch, exist_ok=True)
                heads = {b.name: b.target_commit for b in api.list_repo_refs(self.repo_id).branches}
        return heads

    def _tag(self, api: Any, tag: str, commit_sha: str) -> None:
        tags = self._retrying("list tags", lambda: {t.name: t.target_commit
                                                    for t in api.list_repo_refs(self.repo_id).tags})
        if tag in tags:
            if tags[tag] == commit_sha:
                return
            raise ConflictError(f"tag {tag!r} already exists in {self.repo_id} at {tags[tag][:12]}",
                                "choose another tag name (tags are never moved by hubmgr)")
        with self._hub_errors(f"create the tag {tag}", tag):
            api.create_tag(self.repo_id, tag=tag, revision=commit_sha)


# --- helpers ----------------------------------------------------------------------------------------


def _is_network_error(exc: BaseException) -> bool:
    try:
        import httpx2
    except ImportError:  # pragma: no cover - older huggingface_hub uses httpx
        import httpx as httpx2  # type: ignore[no-redef]
    return isinstance(exc, httpx2.TransportError)


def _transient(exc: RemoteError) -> RemoteError:
    """Mark an error as worth another attempt (network errors, 5xx/429, short bodies)."""
    exc.transient = True  # type: ignore[attr-defined]
    return exc


def is_transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "transient", False))
