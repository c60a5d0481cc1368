"""Streaming safetensors writer: header first, then each tensor's bytes in turn.

File layout (https://github.com/huggingface/safetensors#format)::

    u64 little-endian N | N bytes of JSON header, space-padded so N % 8 == 0 | data

The header maps each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}``
(offsets relative to the start of the data) plus ``"__metadata__"`` (str -> str,
always with ``{"format": "pt"}`` so transformers accepts the file).

A tensor's bytes come either from a byte range of a source file (copied with
``os.copy_file_range``: the data never passes through Python) or from a callable
returning a buffer (strided copies, dtype conversions). No step holds more than
one tensor in memory.

``write_file`` is a pipeline: a writer thread copies tensor after tensor and
starts their writeback; the calling thread reads each finished tensor back in
small chunks that stay in the CPU cache, compares every chunk with the source's
bytes and feeds the same chunk to the file's sha256 (the output is read once for
both). Copying, checking, hashing and the disk overlap; the final fsync finds
little left to do.

Atomicity: outputs are written under a temporary name in the destination folder
(``.NAME.hubmgr-tmp-<pid>``), verified, fsynced, then renamed. A killed run leaves
only such a temp entry, removed by the next run once its pid is gone.

Stdlib only; ``safetensors`` (and the ``numpy`` its reader needs) is imported lazily, for verification.
"""

from __future__ import annotations

import errno
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, Union

from ..errors import CorruptFileError, VerificationError
from ..progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress
from .dtypes import ITEMSIZE
from .atomic_files import (TEMP_MARK, check_disk_space, clean_stale_temps, commit, fsync_dir,  # noqa: F401
                           fsync_path, remove_path, temp_path)
from .layout import SAFETENSORS_FILE
from .safetensors_header import SafetensorsHeader, read_safetensors_header

HEADER_ALIGN = 8
# One write()/copy_file_range() moves at most ~2 GiB on Linux: go in chunks well below that.
CHUNK = 256 * 2**20
# Read-back chunk: an output chunk and its source chunk (2x this) stay in a core's L2 cache
# between the compare and the hash, so each byte comes from memory once.
VERIFY_CHUNK = 512 * 2**10


@dataclass(frozen=True)
class FileSpan:
    """``nbytes`` contiguous bytes at absolute ``offset`` of ``path`` (e.g. a zip member's data)."""

    path: str
    offset: int


Buffer = Union[bytes, bytearray, memoryview]
ByteSource = Union[FileSpan, Callable[[], Buffer]]


@dataclass(frozen=True)
class TensorBytes:
    """One tensor to write: what the header says plus where its bytes come from."""

    name: str
    dtype: str  # safetensors code: F32, BF16, I64, BOOL, ...
    shape: tuple[int, ...]
    source: ByteSource

    @property
    def nbytes(self) -> int:
        n = ITEMSIZE[self.dtype]
        for dim in self.shape:
            n *= dim
        return n


# --- header ------------------------------------------------------------------


def build_header(tensors: Sequence[TensorBytes], metadata: dict[str, str] | None = None) -> bytes:
    """The 8-byte size prefix plus the padded JSON header, for ``tensors`` laid out in order."""
    meta = {"format": "pt"}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    meta["format"] = "pt"
    header: dict[str, object] = {"__metadata__": meta}
    offset = 0
    for t in tensors:
        if t.name in header:
            raise ValueError(f"duplicate tensor name {t.name!r}")
        end = offset + t.nbytes
        header[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [offset, end]}
        offset = end
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % HEADER_ALIGN)
    return struct.pack("<Q", len(raw)) + raw


def aligned_order(tensors: Iterable[TensorBytes]) -> list[TensorBytes]:
    """Wider dtypes first (stable): every tensor then starts at a multiple of its itemsize."""
    return sorted(tensors, key=lambda t: -ITEMSIZE[t.dtype])


def file_size(tensors: Sequence[TensorBytes], metadata: dict[str, str] | None = None) -> int:
    return len(build_header(tensors, metadata)) + sum(t.nbytes for t in tensors)


# --- sharding ----------------------------------------------------------------


def plan_shards(tensors: Sequence[TensorBytes], max_shard_size: int | None) -> list[list[TensorBytes]]:
    """Split in order like transformers: a new shard when the next tensor would overflow.

    A tensor bigger than ``max_shard_size`` gets a shard of its own.
    """
    if not max_shard_size:
        return [list(tensors)]
    shards: list[list[TensorBytes]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return shards


def shard_file_names(count: int) -> list[str]:
    if count == 1:
        return [SAFETENSORS_FILE]
    return [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def index_document(shards: Sequence[Sequence[TensorBytes]], names: Sequence[str]) -> dict:
    """``model.safetensors.index.json`` exactly as transformers writes and reads it."""
    weight_map = {t.name: name for shard, name in zip(shards, names) for t in shard}
    total = sum(t.nbytes for shard in shards for t in shard)
    return {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}


# --- low-level byte moving ---------------------------------------------------


def byte_view(data: Buffer) -> memoryview:
    """A flat unsigned-byte view of any C-contiguous buffer (also empty and 0-dim ones)."""
    view = memoryview(data)
    if view.nbytes == 0:
        return memoryview(b"")
    if view.format == "B" and view.ndim == 1:
        return view
    return view.cast("B")


def write_all(fd: int, data: Buffer) -> None:
    """``os.write`` until everything is written, in chunks below the 2 GiB per-call limit."""
    view = byte_view(data)
    pos, end = 0, len(view)
    while pos < end:
        pos += os.write(fd, view[pos:pos + CHUNK])


def copy_range(src_fd: int, dst_fd: int, offset: int, count: int) -> None:
    """Copy ``count`` bytes at ``offset`` of ``src_fd`` to the current position of ``dst_fd``.

    ``os.copy_file_range`` moves the data inside the kernel (reflinks on some
    filesystems); it falls back to pread/write where unsupported.
    """
    done = 0
    use_cfr = hasattr(os, "copy_file_range")
    while done < count:
        step = min(CHUNK, count - done)
        if use_cfr:
            try:
                n = os.copy_file_range(src_fd, dst_fd, step, offset + done)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF):
                    raise
                use_cfr = False
                continue
        else:
            chunk = os.pread(src_fd, step, offset + done)
            n = len(chunk)
            if n:
                write_all(dst_fd, chunk)
        if n == 0:
            raise CorruptFileError(f"source ends early: wanted {count} bytes at offset {offset}, got {done}",
                                   "the file is truncated; re-save or re-download it")
        done += n


class SourceFiles:
    """Read-only file descriptors of the source files, opened once."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def fd(self, path: str) -> int:
        if path not in self._fds:
            self._fds[path] = os.open(path, os.O_RDONLY)
        return self._fds[path]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> "SourceFiles":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def source_bytes(t: TensorBytes, files: SourceFiles) -> Buffer:
    """The tensor's bytes in memory (verification of derived tensors, small reads)."""
    if isinstance(t.source, FileSpan):
        data = os.pread(files.fd(t.source.path), t.nbytes, t.source.offset) if t.nbytes else b""
        if len(data) != t.nbytes:
            raise CorruptFileError(f"source ends early while reading {t.name!r}", "the file is truncated")
        return data
    data = byte_view(t.source())
    if len(data) != t.nbytes:
        raise ValueError(f"tensor {t.name!r}: expected {t.nbytes} bytes, got {len(data)}")
    return data


# --- one file ----------------------------------------------------------------


def write_file(path: Path, tensors: Sequence[TensorBytes], metadata: dict[str, str] | None, *,
               files: SourceFiles, verify: bool = True, progress: ProgressSink = no_progress,
               cancel: CancelToken | None = None, task: str = "convert:write", done_before: int = 0,
               total: int | None = None) -> tuple[int, str]:
    """Write one safetensors file at ``path`` (a temp name: the caller renames). Returns (size, sha256).

    A writer thread copies tensor after tensor and, once all is written, has
    safetensors reopen the file to check the header (``verify``); a flusher thread
    starts each copied tensor's writeback. This thread reads each finished tensor
    back (``_ReadBack``): compared bit for bit with its source and hashed in the
    same pass. The file is then fsynced.
    """
    import queue
    import threading

    header = build_header(tensors, metadata)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    stop = threading.Event()
    written: queue.Queue = queue.Queue()  # tensor indexes the writer finished (None: all done)
    copied: queue.Queue = queue.Queue()  # (offset, length) ranges to start writing back (None: stop)

    def flusher() -> None:
        # sync_file_range waits while the disk's queue is full: here that wait never holds up the
        # copy or the read-back, and the disk still starts on each tensor as soon as it is copied.
        while (item := copied.get()) is not None:
            _kick_writeback(fd, *item)

    def writer() -> None:
        try:
            write_all(fd, header)
            offset = len(header)
            for i, t in enumerate(tensors):
                if stop.is_set():
                    return
                if isinstance(t.source, FileSpan):
                    copy_range(files.fd(t.source.path), fd, t.source.offset, t.nbytes)
                else:
                    data = source_bytes(t, files)
                    write_all(fd, data)
                    del data
                copied.put((offset, t.nbytes))
                offset += t.nbytes
                written.put(i)
            if verify:  # here, not at the end: the read-back lags the copy, this overlaps it
                _check_structure(path, tensors, metadata, data_start=len(header))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            written.put(exc)
        else:
            written.put(None)

    thread = threading.Thread(target=writer, name="hubmgr-safetensors-writer", daemon=True)
    flush_thread = threading.Thread(target=flusher, name="hubmgr-safetensors-flusher", daemon=True)
    reader = _ReadBack(fd, files, header)
    offset, done = len(header), done_before
    label = f"{'writing and verifying' if verify else 'writing'} {path.name.split(TEMP_MARK)[0].lstrip('.')}"
    thread.start()
    flush_thread.start()
    try:
        while (item := written.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            check_cancel(cancel)
            t = tensors[item]
            if not reader.tensor(offset, t, verify=verify):
                raise VerificationError(f"{path.name}: tensor {t.name!r} differs from the source")
            offset += t.nbytes
            done += t.nbytes
            progress(ProgressEvent(task, label, done, total))
        size = os.fstat(fd).st_size
        if size != offset:
            raise VerificationError(f"{path.name}: wrote {size} bytes, expected {offset}")
        digest = reader.hexdigest()
        os.fsync(fd)  # short: the flusher started the writeback tensor by tensor
    finally:
        stop.set()
        thread.join()
        copied.put(None)  # after the writer's last put
        flush_thread.join()
        os.close(fd)
    return size, digest


class _ReadBack:
    """Reads a written file back in ``VERIFY_CHUNK`` pieces, in file order: each piece is compared
    with the source's bytes and fed to the file's sha256 while it is still in the CPU cache.

    The digest is of the bytes read back from the file (header included), so it is the
    file's sha256, and with ``verify`` each of those bytes was checked against the source.
    """

    def __init__(self, fd: int, files: SourceFiles, header: bytes) -> None:
        import hashlib

        self.fd, self.files = fd, files
        self.digest = hashlib.sha256(header)
        self.got, self.want = bytearray(VERIFY_CHUNK), bytearray(VERIFY_CHUNK)
        self.got_view, self.want_view = memoryview(self.got), memoryview(self.want)

    def tensor(self, offset: int, t: TensorBytes, *, verify: bool) -> bool:
        """Hash (and with ``verify`` check) ``t`` written at ``offset``; False if it differs from its source."""
        made = None  # a derived tensor's bytes, made again from its source (strided view, dtype cast)
        if verify and not isinstance(t.source, FileSpan):
            made = byte_view(source_bytes(t, self.files))
        pos = 0
        while pos < t.nbytes:
            n = min(VERIFY_CHUNK, t.nbytes - pos)
            if not _pread_exact(self.fd, self.got_view[:n], offset + pos):
                raise VerificationError("the output ends before the tensors it should hold",
                                        "the file was truncated while it was written")
            if verify:
                if made is not None:
                    self.want_view[:n] = made[pos:pos + n]
                elif not _pread_exact(self.files.fd(t.source.path), self.want_view[:n], t.source.offset + pos):
                    raise CorruptFileError(f"the source ends before tensor {t.name!r}",
                                           "the file was truncated meanwhile")
                # bytearray equality is a memcmp; the slices (copies) are only for a tensor's last piece
                if not (self.got == self.want if n == VERIFY_CHUNK else self.got[:n] == self.want[:n]):
                    return False
            self.digest.update(self.got_view[:n])
            pos += n
        return True

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def _pread_exact(fd: int, view: memoryview, offset: int) -> bool:
    """Fill ``view`` from ``fd`` at ``offset``; False if the file ends first."""
    pos = 0
    while pos < len(view):
        n = os.preadv(fd, [view[pos:]], offset + pos)
        if n <= 0:
            return False
        pos += n
    return True


_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range = None


def _kick_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a just-written range to disk (Linux ``sync_file_range``),
    so the disk works while we verify and the final fsync finds little left to do."""
    global _sync_file_range
    if _sync_file_range is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            func = libc.sync_file_range
            func.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
            _sync_file_range = func
        except (OSError, AttributeError):
            _sync_file_range = False
    if _sync_file_range and length:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # advisory: errors are ignored


def drop_from_cache(fd: int) -> None:
    """A written, fsynced (clean) file leaves the page cache (a multi-GB output must not crowd it),
    then ``fd`` is closed. Freeing 1 GB of pages takes ~0.1 s of CPU: callers run this in the background
    with an fd opened before they rename the file."""
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def write_json(path: Path, document: dict) -> int:
    data = (json.dumps(document, indent=2, sort_keys=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(data)


# --- verification ------------------------------------------------------------


def _read_header(path: Path) -> SafetensorsHeader:
    try:
        return read_safetensors_header(path)
    except CorruptFileError as exc:
        raise VerificationError(f"{path.name}: the written header does not read back ({exc.message})") from exc


def verify_file(path: Path, tensors: Sequence[TensorBytes], metadata: dict[str, str] | None, *,
                files: SourceFiles) -> str:
    """Re-check a finished file: header through ``safetensors.safe_open``, every tensor bit for bit.

    Returns the file's sha256. (``write_file`` does the same while writing.)
    """
    from .hashing import sha256_file

    header = _read_header(path)
    _check_structure(path, tensors, metadata, data_start=header.data_offset)
    with open(path, "rb") as out:
        reader = _ReadBack(out.fileno(), files, b"")
        for t in tensors:
            if not reader.tensor(header.data_offset + header.tensors[t.name].start, t, verify=True):
                raise VerificationError(f"{path.name}: tensor {t.name!r} differs from the source")
    return sha256_file(path)


def _check_structure(path: Path, tensors: Sequence[TensorBytes], metadata: dict[str, str] | None, *,
                     data_start: int) -> None:
    """safetensors itself must read the file back: names, dtypes, shapes, metadata; offsets as laid out."""
    from safetensors import SafetensorError, safe_open

    by_name = {t.name: t for t in tensors}
    expected_meta = {"format": "pt", **{str(k): str(v) for k, v in (metadata or {}).items()}}
    try:
        with safe_open(str(path), framework="numpy") as f:
            names = set(f.keys())
            if names != set(by_name):
                missing, extra = sorted(set(by_name) - names), sorted(names - set(by_name))
                raise VerificationError(f"{path.name}: tensor names differ (missing {missing[:3]}, extra {extra[:3]})")
            if (f.metadata() or {}) != expected_meta:
                raise VerificationError(f"{path.name}: metadata differs from what was written")
            for name in names:
                sl = f.get_slice(name)
                t = by_name[name]
                if sl.get_dtype() != t.dtype or tuple(sl.get_shape()) != tuple(t.shape):
                    raise VerificationError(f"{path.name}: {name} reads back as {sl.get_dtype()} {sl.get_shape()}")
    except SafetensorError as exc:
        raise VerificationError(f"{path.name}: safetensors cannot read the output: {exc}") from exc
    header = _read_header(path)
    offset = 0
    for t in tensors:  # the bytes checked are the bytes safetensors will hand out
        entry = header.tensors[t.name]
        if header.data_offset != data_start or (entry.start, entry.end) != (offset, offset + t.nbytes):
            raise VerificationError(f"{path.name}: {t.name} has unexpected data offsets")
        offset += t.nbytes


class Background:
    """``fn(*args)`` in a thread (hashing, fsync release the GIL); ``join()`` returns or re-raises."""

    def __init__(self, fn: Callable, *args: object) -> None:
        import threading

        self._result: object = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised by join()
                self._error = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def join(self, *, swallow: bool = False):  # noqa: ANN201
        self._thread.join()
        if self._error is not None and not swallow:
            raise self._error
        return self._result
