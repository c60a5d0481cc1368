"""sha256 of files, cached in the catalog by (path, size, last change time, inode).

Uses ``hashlib.file_digest`` (fast, no subprocess). The cache makes a rescan of
unchanged files hash nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from ..progress import check_cancel

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..progress import CancelToken


HASH_CHUNK = 8 * 1024 * 1024


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


def hash_file(path: str | os.PathLike[str], *, want_git_blob_sha1: bool = False,
              cancel: "CancelToken | None" = None, on_bytes: Callable[[int], None] | None = None,
              copy_to: BinaryIO | None = None) -> tuple[str, str | None]:
    """(sha256, git blob sha1 or None) of a file in one read, cancellable, reporting bytes as it goes;
    ``copy_to`` also gets every byte (copy and hash in one pass)."""
    size = os.stat(path).st_size
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % size) if want_git_blob_sha1 else None
    with open(path, "rb") as fh:
        while True:
            check_cancel(cancel)
            chunk = fh.read(HASH_CHUNK)
            if not chunk:
                break
            sha256.update(chunk)
            if copy_to is not None:
                copy_to.write(chunk)
            if sha1 is not None:
                sha1.update(chunk)
            if on_bytes:
                on_bytes(len(chunk))
    return sha256.hexdigest(), sha1.hexdigest() if sha1 is not None else None


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
            return self._catalog.cached_sha256(path, size, mtime_ns, inode)  # outside the root (rare)
        return row[3] if row[:3] == (size, mtime_ns, inode) else None

    def store_sha256(self, path: str, size: int, mtime_ns: int, inode: int, sha256: str) -> None:
        if self._known is not None:
            self._known[path] = (size, mtime_ns, inode, sha256)
        self._pending.append((path, size, mtime_ns, inode, sha256))

    def flush(self) -> None:
        self._catalog.store_sha256_many(self._pending)
        self._pending = []
