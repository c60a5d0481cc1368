"""sha256 of files, cached in the catalog by (path, size, last change time, inode).

Uses ``hashlib.file_digest`` (fast, no subprocess). The cache makes a rescan of
unchanged files hash nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Protocol

from ..progress import check_cancel

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..progress import CancelToken


HASH_CHUNK = 8 * 1024 * 1024
BAD_DOWNLOAD_HINT = ("the download or the remote's copy is damaged; run the pull again, "
                     "and if it fails again, re-push the model")


def sha256_file(path: str | os.PathLike[str], cancel: "CancelToken | None" = None) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(_Cancellable(fh, cancel) if cancel else fh, "sha256").hexdigest()


class _Cancellable(io.RawIOBase):
    """A file whose every read first checks ``cancel`` (``file_digest`` reads 256 KiB at a time)."""

    def __init__(self, fh: BinaryIO, cancel: "CancelToken") -> None:
        super().__init__()
        self._fh, self._cancel = fh, cancel

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - any writable buffer
        check_cancel(self._cancel)
        return self._fh.readinto(buffer)


@dataclass(frozen=True)
class FileDigest:
    """What one read of a file's bytes measured: size, sha256, and the git blob sha1 when it was asked for."""

    size: int
    sha256: str
    git_blob_sha1: str | None = None


class StreamHasher:
    """sha256 (and the git blob sha1, whose header needs the size up front) of bytes fed in order."""

    def __init__(self, *, git_blob_size: int | None = None) -> None:
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(b"blob %d\0" % git_blob_size) if git_blob_size is not None else None

    def update(self, data: bytes | memoryview) -> None:
        self._sha256.update(data)  # releases the GIL for chunks over 2 KiB: another thread can receive meanwhile
        if self._sha1 is not None:
            self._sha1.update(data)
        self.size += len(data)

    def digest(self) -> FileDigest:
        return FileDigest(self.size, self._sha256.hexdigest(),
                          self._sha1.hexdigest() if self._sha1 is not None else None)


def hash_file(path: str | os.PathLike[str], *, want_git_blob_sha1: bool = False,
              cancel: "CancelToken | None" = None, on_bytes: Callable[[int], None] | None = None,
              copy_to: BinaryIO | None = None) -> tuple[str, str | None]:
    """(sha256, git blob sha1 or None) of a file in one read, cancellable, reporting bytes as it goes;
    ``copy_to`` also gets every byte (copy and hash in one pass)."""
    hasher = StreamHasher(git_blob_size=os.stat(path).st_size if want_git_blob_sha1 else None)
    with open(path, "rb") as fh:
        feed(hasher, fh, cancel=cancel, on_bytes=on_bytes, copy_to=copy_to)
    digest = hasher.digest()
    return digest.sha256, digest.git_blob_sha1


def feed(hasher: StreamHasher, fh: BinaryIO, *, cancel: "CancelToken | None" = None,
         on_bytes: Callable[[int], None] | None = None, copy_to: BinaryIO | None = None) -> None:
    """Hash the rest of ``fh`` into ``hasher``."""
    while True:
        check_cancel(cancel)
        chunk = fh.read(HASH_CHUNK)
        if not chunk:
            break
        hasher.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        if on_bytes:
            on_bytes(len(chunk))


class ExpectedFile(Protocol):
    """What a remote says about a file (``remotes.RemoteFile`` fits)."""

    path: str
    size: int
    sha256: str | None
    git_oid: str | None


def wants_git_blob_sha1(f: ExpectedFile) -> bool:
    """Content is checked by sha256 when the remote knows it (LFS), else by git blob id."""
    return f.sha256 is None and f.git_oid is not None


def digest_problem(f: ExpectedFile, got: FileDigest) -> str | None:
    """Why ``got`` (measured from the bytes) is not the file the remote described, or None when it is."""
    if got.size != f.size:
        return f"{f.path} has {got.size} bytes, the remote says {f.size}"
    if f.sha256 is not None and got.sha256 != f.sha256:
        return f"{f.path} is corrupt: sha256 {got.sha256[:12]}... but the remote says {f.sha256[:12]}..."
    if wants_git_blob_sha1(f) and got.git_blob_sha1 != f.git_oid:
        return f"{f.path} is corrupt: git blob {(got.git_blob_sha1 or '?')[:12]}... but the remote says {f.git_oid[:12]}..."
    return None


def git_blob_sha1(data: bytes) -> str:
    """The git object id of ``data`` as a blob (what the Hub calls a regular file's oid)."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


class HashStats:
    """Counts what was actually hashed (the scan benchmark checks warm = 0)."""

    def __init__(self) -> None:
        self.files_hashed = 0
        self.bytes_hashed = 0


def change_ns(st: os.stat_result) -> int:
    """The cache's "last changed" time: the later of mtime and ctime.

    ctime moves with every write and cannot be set back (utime() restores only mtime), so a
    file rewritten in place with its mtime put back is still hashed again.
    """
    return max(st.st_mtime_ns, st.st_ctime_ns)


def sha256_cached(path: str | os.PathLike[str], catalog: "Catalog | None", stats: HashStats | None = None,
                  cancel: "CancelToken | None" = None) -> str:
    """sha256 of ``path``, reusing the catalog's cached value while the file is unchanged."""
    p = Path(path).resolve()
    st = p.stat()
    if catalog is not None:
        cached = catalog.cached_sha256(str(p), st.st_size, change_ns(st), st.st_ino)
        if cached is not None:
            return cached
    digest = sha256_file(p, cancel)
    if stats is not None:
        stats.files_hashed += 1
        stats.bytes_hashed += st.st_size
    if catalog is not None:
        catalog.store_sha256(str(p), st.st_size, change_ns(st), st.st_ino, digest)
    return digest


class BufferedHashCache:
    """The catalog's sha256 cache for one scan root: read in one query, new hashes written in one transaction.

    Quacks like the two ``Catalog`` methods ``hashing.sha256_cached`` uses; per-file
    SQLite round trips dominated a scan of many small checkpoints.
    """

    def __init__(self, catalog: "Catalog", root: str) -> None:
        self._catalog = catalog
        self._root = root
        self._known: dict[str, tuple[int, int, int, str]] | None = None  # read at the first lookup
        self._pending: list[tuple[str, int, int, int, str]] = []

    def cached_sha256(self, path: str, size: int, mtime_ns: int, inode: int) -> str | None:
        if self._known is None:  # a warm rescan that inspects nothing never reads the cache
            self._known = self._catalog.cached_sha256_under(self._root)
        row = self._known.get(path)
        if row is None:
            if path.startswith(self._root.rstrip("/") + "/"):
                return None  # under the root the one query saw everything: a new file, not a round trip
            return self._catalog.cached_sha256(path, size, mtime_ns, inode)  # outside the root (rare)
        return row[3] if row[:3] == (size, mtime_ns, inode) else None

    def store_sha256(self, path: str, size: int, mtime_ns: int, inode: int, sha256: str) -> None:
        if self._known is not None:
            self._known[path] = (size, mtime_ns, inode, sha256)
        self._pending.append((path, size, mtime_ns, inode, sha256))

    def flush(self) -> None:
        self._catalog.store_sha256_many(self._pending)
        self._pending = []
