"""Hub downloads that hash while the bytes arrive: pull's transport for one pinned commit.

One GET per file on the commit's resolve URL, through huggingface_hub's own client (``get_session``:
proxies, offline mode, the LFS redirect to a CDN, where httpx2 drops the token) and headers
(``build_hf_headers``: token, user agent). There is no metadata HEAD per file: the tree listing
already gave each file's size and sha256. The body goes to a partial file under the staging dir's
``.cache``, hashed batch by batch as it is written, so the digest is ready when the last byte lands,
and the file takes its final name only once its size and hash match the listing. While fewer large
files than cores download, each has a writer thread (hashing and writing overlap the next socket
reads); with more, the receiving thread hashes and writes itself (the cores are busy anyway and a
thread would only add GIL handoffs). A dropped body resumes with ``Range`` from the bytes already written and
hashed (within one call and across calls: a partial file left by a killed pull is hashed once, then
continued). The same things ``hf download`` does, minus its second copy of every chunk
(``iter_bytes(chunk_size=10 MiB)`` joins 64 KiB reads into a BytesIO).
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CancelledError, RemoteError, VerificationError
from ..formats.hashing import BAD_DOWNLOAD_HINT, FileDigest, StreamHasher, digest_problem, feed, wants_git_blob_sha1
from ..progress import CancelToken

if TYPE_CHECKING:
    from ..remotes import RemoteFile
    from .transfer import TransferMeter

PARTIAL_DIR = Path(".cache") / "hubmgr-partial"  # under the staging dir; pull drops .cache once it is done
BATCH_BYTES = 4 * 1024 * 1024  # handed to the writer at once: few queue handoffs, bounded memory
QUEUE_BATCHES = 4  # per file: at most ~16 MiB received ahead of the disk
IOV_MAX = 1024


class _Sink:
    """Hashes and writes batches of chunks to the partial file, in the receiving thread.

    Used when other downloads keep the cores busy: a thread per file would only add GIL
    handoffs (one per chunk hashed), i.e. CPU, without adding parallelism.
    """

    def __init__(self, fd: int, hasher: StreamHasher) -> None:
        self._fd, self.hasher = fd, hasher

    def put(self, batch: list[bytes]) -> None:
        for chunk in batch:
            self.hasher.update(chunk)
        _write_all(self._fd, batch)

    def close(self) -> None:
        pass


class _Writer(_Sink, threading.Thread):
    """A ``_Sink`` on its own thread: hashing and writing overlap the next batch's socket reads and
    HTTP parsing (``hashlib`` and ``os.writev`` release the GIL), for a download that has a core to
    itself (one large file)."""

    def __init__(self, fd: int, hasher: StreamHasher) -> None:
        _Sink.__init__(self, fd, hasher)
        threading.Thread.__init__(self, name="hub-write", daemon=True)
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self.error is not None:
                continue  # keep draining so the receiver never blocks on a dead writer
            try:
                _Sink.put(self, batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread, raised there
                self.error = exc

    def put(self, batch: list[bytes]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(batch)

    def close(self) -> None:
        """Wait until every batch is on disk and hashed; raise what the writer hit."""
        self._queue.put(None)
        self.join()
        if self.error is not None:
            raise self.error


def writer_thread_pays(files: list["RemoteFile"]) -> bool:
    """A writer thread per file when fewer large files than cores download at once (else inline)."""
    return sum(1 for f in files if f.size >= BATCH_BYTES) < (os.cpu_count() or 1)


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """One ``writev`` per batch (no join copy); a short write, rare on files, continues where it stopped."""
    pending: list[bytes | memoryview] = list(chunks)
    while pending:
        written = os.writev(fd, pending[:IOV_MAX])
        while written and pending:
            if written >= len(pending[0]):
                written -= len(pending.pop(0))
            else:
                pending[0] = memoryview(pending[0])[written:]
                written = 0


class FileTransfer:
    """One file's download into ``staging``: the partial file, its running hash, where to resume.

    ``attempt()`` makes one GET from the current offset; call it again after a failure to resume.
    ``close()`` always (it stops the writer thread and closes the file).
    """

    def __init__(self, f: "RemoteFile", staging: Path, *, meter: "TransferMeter",
                 cancel: CancelToken | None, writer_thread: bool = True) -> None:
        self.f, self.meter, self.cancel, self._threaded = f, meter, cancel, writer_thread
        self.final = staging / f.path
        self.partial = staging / PARTIAL_DIR / f"{f.path}.part"
        self.counted = 0  # bytes reported to the meter (TransferMeter.file_done reads it)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.partial, os.O_RDWR | os.O_CREAT, 0o644)
        self._writer: _Sink | None = None
        try:
            self.offset = self._resume_point()
        except BaseException:
            os.close(self._fd)
            raise

    def _new_hasher(self) -> StreamHasher:
        return StreamHasher(git_blob_size=self.f.size if wants_git_blob_sha1(self.f) else None)

    def _resume_point(self) -> int:
        """Bytes of the partial file (left by an earlier attempt) to keep, hashed once into the writer's hasher."""
        hasher = self._new_hasher()
        have = os.fstat(self._fd).st_size
        if have > self.f.size:  # not this file's prefix: start over
            os.ftruncate(self._fd, 0)
            have = 0
        if have:
            with open(self._fd, "rb", closefd=False) as fh:
                feed(hasher, fh, cancel=self.cancel)
            self._report(have)
        self.kept_from_disk = have
        os.lseek(self._fd, have, os.SEEK_SET)
        self._writer = self._sink(hasher)
        return have

    def _sink(self, hasher: StreamHasher) -> _Sink:
        return _Writer(self._fd, hasher) if self._threaded else _Sink(self._fd, hasher)

    def _restart(self) -> None:
        """The server ignored ``Range``: drop what we have and take the whole body."""
        assert self._writer is not None
        self._writer.close()
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._report(-self.offset)
        self.offset = 0
        self._writer = self._sink(self._new_hasher())

    def _report(self, n: int) -> None:
        self.counted += n
        self.meter.add(n)

    def _check_cancel(self) -> None:
        if self.meter.stopped or (self.cancel is not None and self.cancel.cancelled):
            raise CancelledError()

    def attempt(self, url: str, headers: dict[str, str], timeout: float | None) -> None:
        """GET the rest of the body into the partial file (raises on any failure; the offset stays valid)."""
        from huggingface_hub.utils import get_session, hf_raise_for_status

        self._check_cancel()
        if self.offset == self.f.size:
            return
        headers = dict(headers)
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        with get_session().stream("GET", url, headers=headers, timeout=timeout) as response:
            hf_raise_for_status(response)
            if self.offset and response.status_code != 206:
                self._restart()
            self._receive(response)

    def _receive(self, response: Any) -> None:
        batch: list[bytes] = []
        pending = 0
        try:
            # no chunk_size: the 64 KiB socket reads as they come, uncopied; raw unless the server encoded it
            encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
            for chunk in response.iter_bytes() if encoded else response.iter_raw():
                if self.offset + pending + len(chunk) > self.f.size:
                    raise VerificationError(f"{self.f.path}: the server sent more than its listed size "
                                            f"({self.f.size} bytes)", BAD_DOWNLOAD_HINT)
                batch.append(chunk)
                pending += len(chunk)
                if pending >= BATCH_BYTES:
                    full, n, batch, pending = batch, pending, [], 0
                    self._hand_over(full, n)
                    self._check_cancel()
        finally:
            if batch:  # what arrived before a dropped connection is a valid prefix: keep it for the resume
                self._hand_over(batch, pending)
        if self.offset < self.f.size:  # the body ended early without a transport error
            exc = RemoteError(f"cannot download {self.f.path}: got {self.offset} of {self.f.size} bytes", "retry")
            exc.transient = True  # type: ignore[attr-defined]
            raise exc

    def _hand_over(self, batch: list[bytes], n: int) -> None:
        assert self._writer is not None
        self._writer.put(batch)
        self.offset += n
        self._report(n)

    def finish(self) -> FileDigest:
        """Check size and hash against the listing, then give the file its final name."""
        assert self._writer is not None
        self._writer.close()
        digest = self._writer.hasher.digest()
        self._writer = None
        problem = digest_problem(self.f, digest)
        if problem:
            self.discard()
            raise VerificationError(problem, BAD_DOWNLOAD_HINT)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.partial, self.final)
        return digest

    def discard(self) -> None:
        self.close()
        self.partial.unlink(missing_ok=True)

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except BaseException:  # noqa: BLE001 - already failing; the caller's error is the one to tell
                pass
            self._writer = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def resolve_url(endpoint: str | None, repo_id: str, commit_sha: str, path: str) -> str:
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo_id, path, revision=commit_sha, endpoint=endpoint)


def request_headers(token: str | None, library_version: str) -> dict[str, str]:
    """What ``hf_hub_download`` sends: auth and user agent, flagged as a download (Hub counters)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(token=token, library_name="hubmgr", library_version=library_version)
    headers[constants.X_HF_DOWNLOAD_COUNTER] = "1"
    headers["Accept-Encoding"] = "identity"  # sizes and Range offsets count the stored bytes
    return headers


def download_timeout() -> float:
    from huggingface_hub import constants

    return float(constants.HF_HUB_DOWNLOAD_TIMEOUT)
