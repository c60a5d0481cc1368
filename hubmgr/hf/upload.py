"""The upload side of a Hub push: LFS transfers on one bounded pool of connections, started while
the push is still hashing its later files.

huggingface_hub's LFS path hashes every file, then uploads five files at a time, each file's
multipart parts one after the other. The Hub's part URLs are independent presigned PUTs, so here
the parts of one large file share the same pool of workers as the files of a batch (a 1 GB model
is one file: its parts go in parallel), and a file is handed over (``offer``) as soon as its
sha256 is known, so uploading file k overlaps hashing file k+1. The bytes, the sha256 the server
checks them against, the verify call and the commit are the same as the library's.

Uses the library's own request helpers (``http_backoff``: its retries and back-off) and its
upload-mode and LFS-batch calls; the commit is ``HfApi.create_commit`` over the same operations.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from ..errors import CancelledError, VerificationError
from ..formats.relpath import is_safe_relpath
from ..progress import CancelToken, check_cancel
from .transfer import TransferMeter

UPLOAD_WORKERS = 5  # PUTs in flight (huggingface_hub's num_threads for LFS uploads)
BODY_CHUNK = 1 << 20  # bytes per read of a request body (httpx reads file objects 64 KiB at a time)
LFS_HEADERS = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}


class FileRange:
    """A request body: bytes ``[offset, offset + length)`` of a file, read in ``BODY_CHUNK`` pieces.

    Iterable again from the start (a retried request resends the whole range); a new attempt takes
    back from the progress what the failed one reported. Stops with ``CancelledError`` when
    ``stopped()`` says so (cancel, or another transfer failed).
    """

    def __init__(self, path: str, offset: int, length: int, on_bytes: Callable[[int], None],
                 stopped: Callable[[], bool]) -> None:
        self.path, self.offset, self.length = path, offset, length
        self._on_bytes, self._stopped = on_bytes, stopped
        self.counted = 0

    def __iter__(self) -> Iterator[bytes]:
        if self.counted:
            self._on_bytes(-self.counted)
            self.counted = 0
        with open(self.path, "rb", buffering=0) as fh:
            fh.seek(self.offset)
            left = self.length
            while left > 0:
                if self._stopped():
                    raise CancelledError()
                data = fh.read(min(BODY_CHUNK, left))
                if not data:  # the file shrank since it was hashed: the server would refuse it anyway
                    raise VerificationError(f"{self.path} changed while it was being uploaded",
                                            "push again once the file is complete")
                left -= len(data)
                self.counted += len(data)
                self._on_bytes(len(data))
                yield data


class _FileUpload:
    """One file's transfer: its operation, its parts' ETags, what it reported to the meter."""

    def __init__(self, op: Any, size: int) -> None:
        self.op, self.size = op, size
        self.urls: list[str] = []
        self.bodies: list[FileRange] = []
        self.etags: list[str | None] = []
        self.left = 0
        self.complete: str | None = None  # multipart: the URL that assembles the parts
        self.verify: dict | None = None
        self.lock = threading.Lock()

    @property
    def counted(self) -> int:  # TransferMeter.file_done reads it
        return sum(b.counted for b in self.bodies)


class LfsUploader:
    """Uploads the LFS content of ``CommitOperationAdd``s whose sha256 is known, as they are submitted.

    ``submit`` queues operations from any thread; a dispatcher asks the upload modes and LFS
    batch for whatever is queued (after ``ready`` is set: the repo and branch exist), then every
    basic PUT and multipart part runs on ``UPLOAD_WORKERS`` threads. ``wait`` returns once all
    submitted files are uploaded (or known to the server) and raises the first failure.
    """

    def __init__(self, *, repo_id: str, endpoint: str | None, revision: str, create_pr: bool,
                 headers: dict[str, str], meter: TransferMeter, cancel: CancelToken | None,
                 ready: Callable[[], None]) -> None:
        self.repo_id, self.endpoint, self.create_pr = repo_id, endpoint, create_pr
        self.revision = quote(revision, safe="")  # as HfApi.preupload_lfs_files sends it
        self.headers, self.meter, self.cancel = headers, meter, cancel
        self._ready = ready
        self._queue: list[Any] = []
        self._cond = threading.Condition()
        self._pending = 0  # files submitted and not finished
        self._active = 0  # LFS files being sent
        self._inflight = 0  # PUT tasks on the pool, running or waiting
        self._closed = False
        self._error: BaseException | None = None
        self._pool = ThreadPoolExecutor(UPLOAD_WORKERS, thread_name_prefix="hub-upload")
        self._dispatcher: threading.Thread | None = None

    # --- the caller's side ----------------------------------------------------------------------
    def submit(self, ops: list[Any]) -> None:
        if not ops:
            return
        with self._cond:
            self._raise_if_failed()
            self._queue.extend(ops)
            self._pending += len(ops)
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(target=self._dispatch, name="hub-upload-batch", daemon=True)
                self._dispatcher.start()
            self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            while self._pending and self._error is None:
                self._cond.wait(0.2)
                if self.cancel is not None and self.cancel.cancelled:
                    self._fail(CancelledError())
            self._raise_if_failed()

    def close(self) -> None:
        """Stop: queued files are dropped, in-flight bodies stop at their next chunk."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._dispatcher is not None:
            self._dispatcher.join()

    @property
    def stopped(self) -> bool:
        return self._closed or self._error is not None or (self.cancel is not None and self.cancel.cancelled)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = exc
                self.meter.stopped = True
            self._cond.notify_all()

    def _finished(self, n: int = 1) -> None:
        with self._cond:
            self._pending -= n
            self._cond.notify_all()

    # --- the dispatcher ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while True:
            with self._cond:
                # Take the queue once a worker is free: files hashed meanwhile go in one batch call.
                while ((not self._queue or self._inflight >= UPLOAD_WORKERS) and not self._closed
                       and self._error is None):
                    self._cond.wait()
                if self._closed or self._error is not None:
                    return
                batch, self._queue = self._queue, []
            try:
                self._ready()
                self._start(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to wait() in the caller's thread
                self._fail(exc)
                return

    def _start(self, batch: list[Any]) -> None:
        from huggingface_hub._commit_api import _fetch_upload_modes
        from huggingface_hub.lfs import post_lfs_batch_info

        _fetch_upload_modes(additions=batch, repo_type="model", repo_id=self.repo_id, headers=self.headers,
                            revision=self.revision, endpoint=self.endpoint, create_pr=self.create_pr)
        lfs = [op for op in batch if op._upload_mode == "lfs" and not op._should_ignore]
        for op in batch:
            if op not in lfs:  # regular files go inline in the commit
                self.meter.file_done(op.upload_info.size, None)
                self._finished()
        if not lfs:
            return
        actions, errors, _ = post_lfs_batch_info([op.upload_info for op in lfs], token=None, repo_type="model",
                                                 repo_id=self.repo_id, revision=self.revision,
                                                 endpoint=self.endpoint, headers=self.headers,
                                                 transfers=["basic", "multipart"])
        if errors:
            raise ValueError("LFS batch API returned errors: " + "; ".join(
                f"{e.get('oid')}: {e.get('error', {}).get('message')}" for e in errors))
        by_oid: dict[str, list[Any]] = {}
        transfers: list[tuple[_FileUpload, dict]] = []
        for op in lfs:
            by_oid.setdefault(op.upload_info.sha256.hex(), []).append(op)
        for action in actions:
            ops = by_oid.pop(action["oid"], [])
            if not ops:
                continue
            first, same = ops[0], ops[1:]  # identical content is uploaded once
            for op in same:
                op._is_uploaded = True
                self.meter.file_done(op.upload_info.size, None)
            self._finished(len(same))
            if action.get("actions") is None:  # the server has these bytes already
                first._is_uploaded = True
                self.meter.file_done(first.upload_info.size, None)
                self._finished()
            else:
                transfers.append((_FileUpload(first, first.upload_info.size), action["actions"]))
        if by_oid:
            raise ValueError(f"the LFS batch API did not answer for {len(by_oid)} file(s)")
        for n, (up, acts) in enumerate(transfers):
            # A file of more parts than workers while fewer files than workers are in flight (one big
            # file): its parts go in parallel. Otherwise each file's parts go in order, as huggingface_hub
            # sends them (a server can hash parts that arrive in order as they come).
            with self._cond:
                self._active += 1
                spread = self._active + len(transfers) - n - 1 < UPLOAD_WORKERS
            self._transfer(up, acts, spread)

    def _transfer(self, up: _FileUpload, actions: dict, spread: bool) -> None:
        from huggingface_hub.utils import fix_hf_endpoint_in_url

        upload = actions["upload"]
        header = upload.get("header") or {}
        href = fix_hf_endpoint_in_url(upload["href"], endpoint=self.endpoint)
        path = str(up.op.path_or_fileobj)
        chunk = header.get("chunk_size")
        if chunk is None:
            parts = [(href, 0, up.size)]
            complete = None
        else:
            chunk = int(chunk)
            urls = [u for _, u in sorted((int(k), v) for k, v in header.items() if k.isdigit())]
            if chunk <= 0 or len(urls) != -(-up.size // chunk):
                raise ValueError("Invalid server response to upload large LFS file")
            parts = [(fix_hf_endpoint_in_url(u, endpoint=self.endpoint), i * chunk, min(chunk, up.size - i * chunk))
                     for i, u in enumerate(urls)]
            complete = href
        up.urls = [url for url, _, _ in parts]
        up.bodies = [FileRange(path, off, n, self.meter.add, lambda: self.stopped) for _, off, n in parts]
        up.etags = [None] * len(parts)
        up.left = len(parts)
        up.complete, up.verify = complete, actions.get("verify")
        spread = spread and len(parts) > UPLOAD_WORKERS
        tasks = [[i] for i in range(len(parts))] if spread else [list(range(len(parts)))]
        with self._cond:
            self._inflight += len(tasks)
        for numbers in tasks:
            self._pool.submit(self._guarded, self._put_parts, up, numbers)

    def _guarded(self, fn: Callable[..., None], up: _FileUpload, *args: Any) -> None:
        try:
            if not self.stopped:
                fn(up, *args)
        except BaseException as exc:  # noqa: BLE001 - handed to wait() in the caller's thread
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in (400, 422):  # the server hashed what arrived: not the sha256 announced
                exc = VerificationError(
                    f"the Hub refused the bytes of {up.op.path_in_repo}: they do not match the sha256 "
                    f"{up.op.upload_info.sha256.hex()[:12]} the push announced (did the file change meanwhile?)",
                    "push again: a changed file is hashed again")
            self._fail(exc)
        finally:
            with self._cond:
                self._inflight -= 1
                self._cond.notify_all()

    def _put_parts(self, up: _FileUpload, numbers: list[int]) -> None:
        """PUT these parts of ``up``; whoever sends the last one completes and verifies the file."""
        from huggingface_hub.utils import hf_raise_for_status, http_backoff

        for i in numbers:
            if self.stopped:
                return
            body = up.bodies[i]
            resp = http_backoff("PUT", up.urls[i], content=body, headers={"Content-Length": str(body.length)})
            hf_raise_for_status(resp)
            with up.lock:
                up.etags[i] = resp.headers.get("etag")
                up.left -= 1
                last = up.left == 0
            if last:
                self._complete(up)

    def _complete(self, up: _FileUpload) -> None:
        from huggingface_hub.utils import build_hf_headers, fix_hf_endpoint_in_url, hf_raise_for_status, http_backoff

        oid = up.op.upload_info.sha256.hex()
        if up.complete is not None:  # multipart: the server assembles the parts and checks the sha256
            if not all(up.etags):
                raise ValueError(f"the server returned no ETag for a part of {up.op.path_in_repo}")
            payload = {"oid": oid, "parts": [{"partNumber": n + 1, "etag": e} for n, e in enumerate(up.etags)]}
            hf_raise_for_status(http_backoff("POST", up.complete, json=payload, headers=LFS_HEADERS))
        if up.verify is not None:
            verify_url = fix_hf_endpoint_in_url(up.verify["href"], endpoint=self.endpoint)
            hf_raise_for_status(http_backoff("POST", verify_url, headers=build_hf_headers(headers=self.headers),
                                             json={"oid": oid, "size": up.size}))
        up.op._is_uploaded = True
        self.meter.file_done(up.size, up)
        with self._cond:
            self._active -= 1
        self._finished()


def make_addition(rel: str, path: str | Path, sha256: str | None) -> Any:
    """A ``CommitOperationAdd`` for ``path``, with the push's sha256 when it has one (no second read)."""
    from huggingface_hub import CommitOperationAdd

    if not is_safe_relpath(rel):
        raise VerificationError(f"refusing to upload a path outside the folder: {rel!r}")
    op = CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path))
    if sha256:
        op.upload_info.sha256 = bytes.fromhex(sha256)
    return op


def hash_missing(ops: list[Any]) -> None:
    """sha256 of operations the caller did not know (a direct ``HubRemote.push``), on the pool's threads."""
    todo = [op for op in ops if not op.upload_info.is_hashed]
    if len(todo) > 1:
        with ThreadPoolExecutor(min(len(todo), 4)) as pool:
            list(pool.map(lambda op: op.upload_info.sha256, todo))
    elif todo:
        todo[0].upload_info.sha256  # noqa: B018 - computes and stores it


def run_in_thread(fn: Callable[[], Any], name: str) -> Future:
    """``fn()`` in a daemon thread; its result or exception in the returned future."""
    fut: Future = Future()

    def body() -> None:
        try:
            fut.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            fut.set_exception(exc)

    threading.Thread(target=body, name=name, daemon=True).start()
    return fut


class HubPushSession:
    """One push to a Hub branch, begun before its plan is complete (``HubRemote.begin_push``).

    ``start()`` (called once the push's safety checks passed) checks the token, then creates the
    repo and branch and checks the base commit in a thread; ``offer`` hands over a file whose
    sha256 is known, and its upload starts at once; ``finish(request)`` uploads what is left,
    commits exactly ``request`` against the base commit, and tags. Always ``close()`` it.
    """

    def __init__(self, remote: Any, *, revision: str | None, base_commit: str | None, check_base: bool,
                 private: bool = False, create_pr: bool = False, progress: Any = None,
                 cancel: CancelToken | None = None) -> None:
        from huggingface_hub.utils import build_hf_headers

        from .. import __version__
        from ..progress import no_progress

        self.remote, self.branch = remote, revision or "main"
        self.base_commit, self.check_base, self.private, self.create_pr = base_commit, check_base, private, create_pr
        self.cancel = cancel
        self.api = remote._api()
        self.meter = TransferMeter(progress or no_progress, f"push:{remote.repo_id}",
                                   f"uploading to {remote.repo_id}", total_bytes=0, total_files=0, cancel=cancel)
        self._prep: Future | None = None
        self._offered: dict[str, tuple[str, str, Any]] = {}  # rel -> (local path, sha256, operation)
        headers = build_hf_headers(token=remote._token(), library_name="hubmgr", library_version=__version__)
        self.uploader = LfsUploader(repo_id=remote.repo_id, endpoint=remote.endpoint, revision=self.branch,
                                    create_pr=create_pr, headers=headers, meter=self.meter, cancel=cancel,
                                    ready=lambda: self._head())

    def start(self) -> None:
        if self._prep is None:
            self.remote._require_token()
            self._prep = run_in_thread(self._prepare, "hub-push-prepare")

    def _prepare(self) -> str:
        from ..remotes import branch_moved

        if self.base_commit is None:  # a plan made against a commit found the repo there
            self.remote._ensure_repo(self.api, self.private)
        heads = self.remote._ensure_branch(self.api, self.branch,
                                           plan_had_it=self.base_commit is not None or not self.check_base)
        head = heads[self.branch]
        if self.check_base and self.base_commit is not None and head != self.base_commit:
            raise branch_moved(f"{self.remote.endpoint_display}/{self.remote.repo_id}", self.branch,
                               self.base_commit, head)
        return head

    def _head(self) -> str:
        self.start()
        assert self._prep is not None
        return self._prep.result()

    def offer(self, rel: str, path: str | Path, size: int, sha256: str) -> None:
        """``rel`` will be uploaded with these bytes: start now (its sha256 is final)."""
        self.start()
        op = make_addition(rel, path, sha256)
        self._offered[rel] = (str(path), sha256, op)
        self.meter.total_bytes += size
        self.meter.total_files += 1
        with self.remote._hub_errors("upload files", self.branch):
            self.uploader.submit([op])

    def _additions(self, request: Any) -> tuple[list[Any], list[Any]]:
        """(every operation of ``request.upload``, the ones not offered before)."""
        known = dict(request.hashes)
        additions, new = [], []
        for rel in request.upload:
            local = str(request.local_path(rel))
            offered = self._offered.get(rel)
            if offered is not None and offered[:2] == (local, known.get(rel)):
                additions.append(offered[2])
                continue
            op = make_addition(rel, local, known.get(rel))
            additions.append(op)
            new.append(op)
        return additions, new

    def finish(self, request: Any) -> Any:
        from huggingface_hub import CommitOperationDelete

        from ..remotes import PushOutcome

        remote, api, branch = self.remote, self.api, self.branch
        self.start()
        with remote._hub_errors("prepare the push", branch):
            head_before = self._head()
        sizes = {rel: request.local_path(rel).stat().st_size for rel in request.upload}
        additions, new = self._additions(request)
        self.meter.total_bytes, self.meter.total_files = sum(sizes.values()), len(additions)
        deletions = [CommitOperationDelete(path_in_repo=rel) for rel in request.delete]
        commit_sha, commit_url, pr_url, created = head_before, None, None, False
        bytes_sent = 0
        sent: list[str] = []
        if additions or deletions:
            with remote._hub_errors("upload files", branch):
                hash_missing(new)
                self.uploader.submit(new)
                self.uploader.wait()
            for op in additions:
                unchanged = op._remote_oid is not None and op._remote_oid == op._local_oid
                if not unchanged and not op._should_ignore:
                    bytes_sent += sizes[op.path_in_repo]
                    sent.append(op.path_in_repo)
            check_cancel(self.cancel)
            with remote._hub_errors("create the commit", branch), _interrupted_while_committing(remote, branch):
                info = api.create_commit(remote.repo_id, [*additions, *deletions], commit_message=request.message,
                                         commit_description=request.description or None,
                                         revision=branch, create_pr=request.create_pr or None,
                                         parent_commit=head_before)
            commit_sha, pr_url = info.oid, info.pr_url
            created = commit_sha != head_before
            commit_url = info.commit_url if created else None
        try:
            self.meter.finish()
            if request.tag:
                remote._tag(api, request.tag, commit_sha)
        except KeyboardInterrupt:  # the commit exists: say so rather than a bare "interrupted"
            tag = f"; the tag {request.tag} may be missing" if request.tag else ""
            raise CancelledError(f"interrupted after commit {commit_sha} was created on {remote.repo_id}@{branch} "
                                 f"(it is there{tag})", f"push again to finish{' the tag' if tag else ''}; "
                                 "nothing is uploaded twice") from None
        if commit_url is None:
            commit_url = f"{remote._repo_web_url()}/commit/{commit_sha}"
        return PushOutcome(commit_sha=commit_sha, commit_url=commit_url, created_commit=created,
                           bytes_sent=bytes_sent if created else 0, files_uploaded=tuple(sent) if created else (),
                           pr_url=pr_url, extra={"branch": branch, "endpoint": remote.endpoint_display})

    def close(self) -> None:
        self.uploader.close()


@contextlib.contextmanager
def _interrupted_while_committing(remote: Any, branch: str) -> Iterator[None]:
    """Ctrl-C while the Hub creates a commit: it may exist; say how to find out."""
    try:
        yield
    except KeyboardInterrupt:
        raise CancelledError(f"interrupted while {remote.repo_id}@{branch} was taking the commit: it may exist",
                             f"see the branch head: hubmgr remote ls {remote.repo_id}@{branch}") from None
