"""Read torch checkpoint files without importing torch and without executing anything.

``load_torch_file`` reads the file's pickle(s) with the restricted unpickler
(``torch_unpickler``: nothing is imported or run; calls are recorded in
``TorchFile.called``) and locates every storage's bytes. ``state_dict`` finds the
weights in the resulting tree. This module is the public face of all three.

Both on-disk formats are understood:
- zip (torch >= 1.6): ``<name>/data.pkl`` + ``<name>/data/<key>`` members, stored uncompressed;
- legacy: five consecutive pickles (magic number, protocol, sys_info, the object,
  the storage keys) followed by each storage as an 8-byte element count + raw bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import CorruptFileError, UnsafePickleError
from . import limits
from .dtypes import ITEMSIZE
from .state_dict import (StateDictView, describe, find_state_dict, shared_storage_groups,  # noqa: F401 - public API
                         tied_groups)
from .torch_objects import StorageInfo, TensorRef, TorchFile  # noqa: F401 - public API
from .torch_unpickler import (ALLOWED_GLOBALS, LoadContext, RestrictedUnpickler, StorageRef,  # noqa: F401
                              Stub, storage_dtype)
from .pickle_bounds import NeedMoreData, scan_pickle
from .torch_members import zip_archive_prefix, zip_record


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_PICKLE_BYTES = limits.MAX_PICKLE_BYTES  # data.pkl of real checkpoints is KB to a few MB; refuse zip bombs
LEGACY_PROTOCOL = 1001


# -- file formats --------------------------------------------------------------


# Everything zipfile raises on a damaged or hostile archive (unknown compression, bad deflate stream,
# encrypted member, short struct reads, bogus sizes). None of it may escape the reader.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError,
              RuntimeError, zlib.error, struct.error, OverflowError, KeyError, IndexError, LookupError)


@contextlib.contextmanager
def zip_errors(path: Path, what: str = "broken zip archive") -> Iterator[None]:
    try:
        yield
    except (CorruptFileError, UnsafePickleError):
        raise
    except ZIP_ERRORS as exc:
        raise CorruptFileError(f"{path}: {what} ({type(exc).__name__}: {exc})"[:300],
                               "the file is truncated, damaged or not a torch checkpoint") from exc


def read_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, refusing encrypted members and anything that inflates past ``limit``."""
    if info.flag_bits & 0x1:
        raise CorruptFileError(f"{path}: {info.filename} is encrypted", "torch never writes encrypted archives")
    if info.file_size > limit:
        raise CorruptFileError(f"{path}: {info.filename} is implausibly large ({info.file_size:,} bytes)",
                               "this is not a checkpoint hubmgr can read safely")
    with zip_errors(path, f"cannot read {info.filename}"), zf.open(info) as member:
        data = member.read(limit + 1)  # never trust the declared size alone (zip bombs)
    if len(data) > limit:
        raise CorruptFileError(f"{path}: {info.filename} inflates past {limit:,} bytes",
                               "this is not a checkpoint hubmgr can read safely")
    return data


def _load_zip(path: Path, fh: BinaryIO, file_size: int, ctx: LoadContext) -> TorchFile:
    with zip_errors(path):
        zf = zipfile.ZipFile(fh)
    # The member torch reads (torch_members: archive dir of the first entry, case-insensitive, first wins).
    try:
        pkl_info = zip_record(zf, zip_archive_prefix(zf), "data.pkl")
    except ValueError as exc:
        raise CorruptFileError(f"{path}: not a torch checkpoint ({exc})") from exc
    if pkl_info is None:
        raise CorruptFileError(f"{path}: a zip file, but not a torch checkpoint (no data.pkl)")
    pkl_name = pkl_info.filename
    prefix = pkl_name[: -len("data.pkl")]
    infos = {i.filename: i for i in zf.infolist()}
    byteorder_name = prefix + "byteorder"
    if byteorder_name in infos and read_member(path, zf, infos[byteorder_name], 64).strip() not in (b"little", b""):
        raise CorruptFileError(f"{path}: big-endian checkpoints are not supported")

    storages: dict[str, StorageInfo] = {}

    def persistent(pid: Any) -> StorageRef:
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        key = str(key)
        if key not in storages:
            dtype = storage_dtype(storage_type)
            member = infos.get(f"{prefix}data/{key}")
            if member is None:
                raise CorruptFileError(f"{path}: storage {key} is missing from the archive")
            storages[key] = StorageInfo(key, dtype, ITEMSIZE.get(dtype, 1), member.file_size,
                                        _member_data_offset(path, fh, member, file_size))
        return StorageRef(storages[key])

    data = read_member(path, zf, pkl_info, MAX_PICKLE_BYTES)
    root = _unpickle(path, io.BytesIO(data), ctx, persistent)
    return TorchFile(path, "torch_zip", root, storages, tuple(ctx.globals), tuple(ctx.called),
                     tuple(ctx.constructed))


def _member_data_offset(path: Path, fh: BinaryIO, member: zipfile.ZipInfo, file_size: int) -> int | None:
    if member.compress_type != zipfile.ZIP_STORED:
        return None
    fh.seek(member.header_offset)
    header = fh.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise CorruptFileError(f"{path}: bad local header for {member.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = member.header_offset + 30 + name_len + extra_len
    if start + member.file_size > file_size:
        raise CorruptFileError(f"{path}: {member.filename} runs past the end of the file", "the file is truncated")
    return start


def _load_legacy(path: Path, fh: BinaryIO, file_size: int, ctx: LoadContext) -> TorchFile:
    fh.seek(0)
    header_ctx = LoadContext(strict=False)  # a bare pickle lands here: read it inertly, then reject it
    magic = _unpickle(path, fh, header_ctx, None)
    if magic != LEGACY_MAGIC:
        raise CorruptFileError(f"{path}: not a torch checkpoint (no zip archive, no legacy magic number)")
    protocol = _unpickle(path, fh, header_ctx, None)
    if protocol != LEGACY_PROTOCOL:
        raise CorruptFileError(f"{path}: unsupported legacy torch protocol {protocol!r}")
    _unpickle(path, fh, header_ctx, None)  # sys_info: endianness and type sizes

    pending: dict[str, tuple[str, int]] = {}  # key -> (dtype, numel)
    views: dict[str, tuple[str, int]] = {}

    def persistent(pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 2 and pid[0] == "module":
            return pid[1]  # legacy files store a module class plus its source code; keep the (stub) class
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage" or len(pid) < 5:
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        view_metadata = pid[5] if len(pid) > 5 else None
        key = str(key)
        dtype = storage_dtype(storage_type)
        pending.setdefault(key, (dtype, int(numel)))
        ref = _LegacyRef(key, dtype, 0)
        if view_metadata is not None:
            view_key, view_offset, _view_size = view_metadata
            views[str(view_key)] = (key, int(view_offset))
            ref = _LegacyRef(key, dtype, int(view_offset))
        return ref

    raw_root = _unpickle(path, fh, ctx, persistent)
    keys = _unpickle(path, fh, LoadContext(strict=False), None)
    if not isinstance(keys, list):
        raise CorruptFileError(f"{path}: legacy storage key list is missing")
    storages: dict[str, StorageInfo] = {}
    for key in keys:
        key = str(key)
        head = fh.read(8)
        if len(head) != 8:
            raise CorruptFileError(f"{path}: storage {key} is truncated", "the file is truncated")
        (count,) = struct.unpack("<q", head)
        dtype = pending.get(key, ("U8", count))[0]
        itemsize = ITEMSIZE.get(dtype, 1)
        start = fh.tell()
        nbytes = count * itemsize
        if count < 0 or start + nbytes > file_size:
            raise CorruptFileError(f"{path}: storage {key} runs past the end of the file", "the file is truncated")
        storages[key] = StorageInfo(key, dtype, itemsize, nbytes, start)
        fh.seek(start + nbytes)
    missing = set(pending) - set(storages)
    if missing:
        raise CorruptFileError(f"{path}: storages {sorted(missing)[:3]} are missing")
    root = _resolve_legacy_refs(raw_root, storages, {})
    return TorchFile(path, "torch_legacy", root, storages, tuple(ctx.globals), tuple(ctx.called),
                     tuple(ctx.constructed))


@dataclass(frozen=True)
class _LegacyRef:
    key: str
    dtype: str
    element_offset: int


def _resolve_legacy_refs(obj: Any, storages: dict[str, StorageInfo], seen: dict[int, Any], depth: int = 0) -> Any:
    """Replace the placeholders built while unpickling a legacy file by real TensorRefs."""
    if depth > limits.MAX_NESTING:
        raise CorruptFileError(f"pickle nests containers more than {limits.MAX_NESTING} deep")
    depth += 1
    if id(obj) in seen:
        return seen[id(obj)]
    if isinstance(obj, TensorRef) and obj.storage.file_offset == -1:
        info = storages[obj.storage.key]
        out: Any = TensorRef(info, obj.dtype, obj.offset, obj.shape, obj.stride, obj.requires_grad)
        seen[id(obj)] = out
        return out
    if isinstance(obj, dict):
        seen[id(obj)] = obj
        for k in list(obj):
            obj[k] = _resolve_legacy_refs(obj[k], storages, seen, depth)
        return obj
    if isinstance(obj, list):
        seen[id(obj)] = obj
        for i, v in enumerate(obj):
            obj[i] = _resolve_legacy_refs(v, storages, seen, depth)
        return obj
    if isinstance(obj, tuple):
        out = tuple(_resolve_legacy_refs(v, storages, seen, depth) for v in obj)
        seen[id(obj)] = out
        return out
    if isinstance(obj, Stub):
        seen[id(obj)] = obj
        obj.args = _resolve_legacy_refs(obj.args, storages, seen, depth)
        obj.state = _resolve_legacy_refs(obj.state, storages, seen, depth)
        obj.items = _resolve_legacy_refs(obj.items, storages, seen, depth)
        obj.dict_items = _resolve_legacy_refs(obj.dict_items, storages, seen, depth)
        return obj
    return obj


def _read_pickle(path: Path, fh: BinaryIO) -> bytes:
    """The bytes of the pickle at ``fh``'s position, checked by ``scan_pickle``; ``fh`` ends just past it."""
    start = fh.tell()
    buf, want = b"", 1 << 16
    while True:
        more = fh.read(want - len(buf))
        buf += more
        try:
            extent = scan_pickle(buf, what=f"{path}: pickle at byte {start}")
            break
        except NeedMoreData:
            if not more:
                raise CorruptFileError(f"{path}: pickle at byte {start} is truncated",
                                       "the file is truncated or not a torch checkpoint") from None
            if len(buf) > MAX_PICKLE_BYTES:
                raise CorruptFileError(f"{path}: pickle at byte {start} is over {MAX_PICKLE_BYTES:,} bytes",
                                       "this is not a checkpoint hubmgr can read safely") from None
            want = min(want * 4, MAX_PICKLE_BYTES + 1)  # re-scanning on growth keeps the total cost linear
    fh.seek(start + extent.end)
    return buf[:extent.end]


def _unpickle(path: Path, fh: BinaryIO, ctx: LoadContext, persistent: Any) -> Any:
    # The C unpickler only ever sees bytes that passed the opcode scan (memo, lengths, op count).
    unpickler = RestrictedUnpickler(io.BytesIO(_read_pickle(path, fh)), ctx, _legacy_adapter(persistent))
    try:
        return unpickler.load()
    except (UnsafePickleError, CorruptFileError):
        raise
    except RecursionError as exc:
        raise CorruptFileError(f"{path}: pickle nests too deeply") from exc
    except MemoryError as exc:
        raise CorruptFileError(f"{path}: pickle asks for too much memory") from exc
    except Exception as exc:  # noqa: BLE001 - any failure inside the pickle means a corrupt file
        raise CorruptFileError(f"{path}: unreadable pickle ({type(exc).__name__}: {exc})"[:300],
                               "the file is truncated or not a torch checkpoint") from exc


def _legacy_adapter(persistent: Any) -> Any:
    """Legacy persistent ids give _LegacyRef placeholders: turn them into provisional storages."""
    if persistent is None:
        return None

    def load(pid: Any) -> Any:
        ref = persistent(pid)
        if isinstance(ref, _LegacyRef):
            # file_offset=-1 marks "fill in after the storages are located".
            info = StorageInfo(ref.key, ref.dtype, ITEMSIZE.get(ref.dtype, 1), 0, -1)
            return StorageRef(info, ref.element_offset)
        return ref

    return load


def _open_binary(path: Path):  # noqa: ANN202 - a binary file object
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CorruptFileError(f"{path}: cannot open ({exc.strerror})") from exc


def load_torch_file(path: str | os.PathLike[str], *, strict: bool = True) -> TorchFile:
    """Read a torch checkpoint's pickle and storage layout. Never imports torch, never executes code."""
    path = Path(path)
    ctx = LoadContext(strict=strict)
    fh = _open_binary(path)
    with fh:
        file_size = os.fstat(fh.fileno()).st_size
        head = fh.read(4)
        fh.seek(0)
        with zip_errors(path):
            is_zip = head[:4] == b"PK\x03\x04" or (head[:2] == b"PK" and zipfile.is_zipfile(fh))
        if not is_zip and (not head or head[0] != 0x80):
            raise CorruptFileError(f"{path}: not a torch checkpoint (neither a zip archive nor a pickle)")
        try:
            return (_load_zip if is_zip else _load_legacy)(path, fh, file_size, ctx)
        except CorruptFileError as exc:
            if exc.message.startswith(str(path)):
                raise
            raise CorruptFileError(f"{path}: {exc.message}", exc.hint) from exc  # say which file


def load_pickle_file(path: str | os.PathLike[str], *, strict: bool = True) -> TorchFile:
    """A bare pickle (``pickle.dump`` output named .pth/.pkl), read with the same restricted unpickler."""
    path = Path(path)
    ctx = LoadContext(strict=strict)
    fh = _open_binary(path)
    with fh:
        root = _unpickle(path, fh, ctx, None)  # no persistent ids: storages cannot appear
    return TorchFile(path, "pickle", root, {}, tuple(ctx.globals), tuple(ctx.called), tuple(ctx.constructed))
