"""Read torch checkpoint files without importing torch and without executing anything.

``load_torch_file`` runs a restricted ``pickle.Unpickler`` whose ``find_class``
never imports: a short allow-list of torch rebuild functions, dtypes, storages
and plain containers is *emulated* (tensors become ``TensorRef``s pointing at
byte ranges of the file); every other global becomes an inert ``Stub`` class.
Calling a stub (pickle REDUCE) is recorded in ``TorchFile.called`` and, with
``strict=True``, raises ``UnsafePickleError`` - but nothing is ever run.

Both on-disk formats are understood:
- zip (torch >= 1.6): ``<name>/data.pkl`` + ``<name>/data/<key>`` members, stored uncompressed;
- legacy: five consecutive pickles (magic number, protocol, sys_info, the object,
  the storage keys) followed by each storage as an 8-byte element count + raw bytes.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import CorruptFileError, UnsafePickleError
from . import limits
from .dtypes import ITEMSIZE, STORAGE_DTYPES, TORCH_DTYPES
from .pickle_bounds import NeedMoreData, scan_pickle

# -- dtypes --------------------------------------------------------------------

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_PICKLE_BYTES = limits.MAX_PICKLE_BYTES  # data.pkl of real checkpoints is KB to a few MB; refuse zip bombs
LEGACY_PROTOCOL = 1001


# -- results -------------------------------------------------------------------


@dataclass(frozen=True)
class StorageInfo:
    key: str
    dtype: str
    itemsize: int
    nbytes: int
    file_offset: int | None  # absolute offset of the raw bytes in the file, None if not addressable


@dataclass(frozen=True)
class TensorRef:
    storage: StorageInfo
    dtype: str
    offset: int  # in elements of ``dtype``
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    requires_grad: bool = False

    def __post_init__(self) -> None:
        # Bounds before numpy: every byte this view can touch must lie inside its storage, or a later
        # as_strided/copy would read process memory (or crash). Checked once here, for every code path.
        if len(self.shape) != len(self.stride):
            raise CorruptFileError(f"tensor view has {len(self.shape)} sizes but {len(self.stride)} strides")
        if self.offset < 0 or any(d < 0 for d in self.shape) or any(s < 0 for s in self.stride):
            raise CorruptFileError(f"tensor view with a negative size, stride or offset "
                                   f"(offset {self.offset}, size {list(self.shape)}, stride {list(self.stride)})",
                                   "the file is corrupt or crafted")
        if self.storage.file_offset == -1:  # legacy placeholder: checked again once the storage is located
            return
        start, end = self.byte_range()
        if end > self.storage.nbytes or start > self.storage.nbytes:
            raise CorruptFileError(f"tensor view reaches byte {end:,} of a {self.storage.nbytes:,}-byte storage "
                                   f"(size {list(self.shape)}, stride {list(self.stride)}, offset {self.offset})",
                                   "the file is corrupt or crafted")

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return ITEMSIZE.get(self.dtype, self.storage.itemsize)

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    def is_contiguous(self) -> bool:
        expected = 1
        for size, stride in zip(reversed(self.shape), reversed(self.stride)):
            if size != 1 and stride != expected:
                return False
            expected *= size
        return True

    def byte_range(self) -> tuple[int, int]:
        """(start, end) in bytes within the storage of every element this view touches."""
        start = self.offset * self.itemsize
        if self.numel == 0:
            return (start, start)
        last = self.offset + sum((s - 1) * st for s, st in zip(self.shape, self.stride))
        return (start, (last + 1) * self.itemsize)


class Stub:
    """Inert stand-in for an object of a class outside the allow-list. Never calls anything.

    Class attributes ``module``/``name`` say what it stands for; instances record
    constructor ``args``, the ``state`` given by BUILD, and appended/set items.
    """

    module: str = ""
    name: str = ""
    _ctx: "_LoadContext | None" = None

    def __new__(cls, *args: Any, **kwargs: Any) -> "Stub":
        obj = object.__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.items = []
        obj.dict_items = {}
        return obj

    @classmethod
    def qualname(cls) -> str:
        return f"{cls.module}.{cls.name}"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.dict_items[key] = value

    def __call__(self, *args: Any, **kwargs: Any) -> "Stub":
        # Calling what a stub call returned (getattr chains): record as "<qualname>()", never run.
        qual = f"{self.qualname()}()"
        return _stub_class(qual, self.module, self.name + "()", self._ctx)(*args, **kwargs) if self._ctx else self

    def __repr__(self) -> str:
        return f"<Stub {self.qualname()}>"


class _StubMeta(type):
    """Calling a stub class is what a pickle REDUCE of an unknown callable does: record it, never run it."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        ctx = cls._ctx
        qual = f"{cls.module}.{cls.name}"
        if ctx is not None:
            if qual not in ctx.called:
                ctx.called.append(qual)
            if ctx.strict:
                raise UnsafePickleError(
                    f"pickle calls {qual}, which is not on the allow-list",
                    "do not load this file with pickle/torch.load(weights_only=False)",
                    globals_=(qual,),
                )
        return cls.__new__(cls, *args, **kwargs)

    def __repr__(cls) -> str:
        return f"<StubClass {cls.module}.{cls.name}>"


@dataclass
class TorchFile:
    path: Path
    format: str  # "torch_zip" | "torch_legacy"
    root: Any
    storages: dict[str, StorageInfo]
    globals: tuple[str, ...]
    called: tuple[str, ...]
    constructed: tuple[str, ...] = ()  # stub classes instantiated without a call (NEWOBJ/_reconstructor)
    pickle_offset: int | None = None  # where the main pickle starts (legacy) / member name (zip)
    pickle_member: str | None = None

    def open_raw(self) -> BinaryIO:
        return open(self.path, "rb")

    def read_storage(self, key: str) -> bytes:
        info = self.storages[key]
        if info.file_offset is None:
            raise CorruptFileError(f"{self.path}: storage {key} is not directly addressable")
        with self.open_raw() as fh:
            fh.seek(info.file_offset)
            data = fh.read(info.nbytes)
        if len(data) != info.nbytes:
            raise CorruptFileError(f"{self.path}: storage {key} is truncated")
        return data

    def read_tensor_bytes(self, ref: TensorRef) -> bytes:
        """The tensor's elements in row-major order (a contiguous copy for strided views)."""
        storage = self.read_storage(ref.storage.key)
        size = ref.itemsize
        if ref.is_contiguous():
            start = ref.offset * size
            return storage[start:start + ref.nbytes]
        out = bytearray()
        for index in _iter_indices(ref.shape):
            el = ref.offset + sum(i * s for i, s in zip(index, ref.stride))
            out += storage[el * size:(el + 1) * size]
        return bytes(out)


def _iter_indices(shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    if not shape:
        yield ()
        return
    if any(d == 0 for d in shape):
        return
    idx = [0] * len(shape)
    while True:
        yield tuple(idx)
        for axis in range(len(shape) - 1, -1, -1):
            idx[axis] += 1
            if idx[axis] < shape[axis]:
                break
            idx[axis] = 0
        else:
            return


# -- restricted unpickler ------------------------------------------------------


class _OrderedSet(list):
    """A list whose ``in`` is O(1): a pickle naming 100k globals must not cost 100k x 100k compares."""

    def __init__(self) -> None:
        super().__init__()
        self._members: set[str] = set()

    def __contains__(self, item: object) -> bool:
        return item in self._members

    def append(self, item: str) -> None:
        if item not in self._members:
            self._members.add(item)
            super().append(item)


@dataclass
class _LoadContext:
    strict: bool
    globals: list[str] = field(default_factory=_OrderedSet)
    called: list[str] = field(default_factory=_OrderedSet)
    constructed: list[str] = field(default_factory=_OrderedSet)
    stub_classes: dict[str, type] = field(default_factory=dict)


@dataclass(frozen=True)
class _StorageType:
    """What ``torch.FloatStorage`` / ``torch.storage.UntypedStorage`` stand for."""

    qualname: str
    dtype: str


@dataclass(frozen=True)
class _DType:
    qualname: str
    dtype: str


@dataclass(frozen=True)
class _StorageRef:
    """Result of persistent_load: a storage plus an element offset (legacy views)."""

    info: StorageInfo
    element_offset: int = 0


class _Emulated:
    """An allow-listed global: a plain function we control that builds inert values."""

    def __init__(self, qualname: str, fn: Any) -> None:
        self.qualname = qualname
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<emulated {self.qualname}>"


def _as_tuple(value: Any) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    raise TypeError(f"expected a shape tuple, got {type(value).__name__}")


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                    dtype: str | None = None) -> TensorRef:
    if not isinstance(storage, _StorageRef):
        raise TypeError("tensor rebuilt without a storage")
    return TensorRef(
        storage=storage.info,
        dtype=dtype or storage.info.dtype,
        offset=int(storage_offset) + storage.element_offset,
        shape=_as_tuple(size),
        stride=_as_tuple(stride),
        requires_grad=bool(requires_grad),
    )


def _rebuild_tensor_v1(storage, storage_offset, size, stride):  # noqa: ANN001
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):  # noqa: ANN001
    return _rebuild_tensor(storage, storage_offset, size, stride, requires_grad)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                       metadata=None):  # noqa: ANN001
    if not isinstance(dtype, _DType):
        raise TypeError("tensor rebuilt with an unknown dtype")
    return _rebuild_tensor(storage, storage_offset, size, stride, requires_grad, dtype.dtype)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):  # noqa: ANN001
    if not isinstance(data, TensorRef):
        raise TypeError("parameter rebuilt from something that is not a tensor")
    return TensorRef(data.storage, data.dtype, data.offset, data.shape, data.stride, bool(requires_grad))


def _rebuild_from_type_v2(func, new_type, args, state):  # noqa: ANN001
    if not isinstance(func, _Emulated):
        raise UnsafePickleError("tensor subclass rebuilt by a function outside the allow-list",
                                globals_=(repr(func),))
    return func(*args)


def _size(dims=()):  # noqa: ANN001
    return tuple(int(d) for d in dims)


def _device(*args):  # noqa: ANN001
    return ":".join(str(a) for a in args)


def _codecs_encode(text, encoding="utf-8"):  # noqa: ANN001
    # Protocol-2 pickles store bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise TypeError("unsupported _codecs.encode call")
    return text.encode(encoding)


def _bytearray(data=b""):  # noqa: ANN001
    if not isinstance(data, (bytes, bytearray, str, list)):
        raise TypeError("bytearray from a size is refused (memory bomb)")
    return bytearray(data, "latin1") if isinstance(data, str) else bytearray(data)


def _bytes(data=b"", encoding="latin1"):  # noqa: ANN001
    if isinstance(data, str):
        return data.encode(encoding if encoding in ("latin1", "latin-1", "utf-8", "utf8", "ascii") else "latin1")
    if not isinstance(data, (bytes, bytearray, list)):
        raise TypeError("bytes from a size is refused (memory bomb)")
    return bytes(data)


def _ordered_dict(*args):  # noqa: ANN001
    return OrderedDict(*args)


_SAFE_BUILTINS: dict[str, Any] = {
    "set": set, "frozenset": frozenset, "slice": slice, "complex": complex, "list": list, "dict": dict,
    "tuple": tuple, "int": int, "float": float, "bool": bool, "str": str,
}  # not bytes/bytearray: bytes(10**12) (REDUCE or NEWOBJ) would be a memory bomb; see _bytes

# Functions that rebuild data without running user code (includes numpy arrays in RNG states).
_DATA_RECONSTRUCTORS = {
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray",
    "numpy.dtype", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
}

_EMULATED: dict[str, Any] = {
    "torch._utils._rebuild_tensor": _rebuild_tensor_v1,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch.Size": _size,
    "torch.device": _device,
    "collections.OrderedDict": _ordered_dict,
    "_codecs.encode": _codecs_encode,
    "builtins.bytearray": _bytearray,
    "builtins.bytes": _bytes,
}

# Every global the loader treats as known-safe (emulated or plain data). pickle_safety uses it.
ALLOWED_GLOBALS: frozenset[str] = frozenset(
    set(_EMULATED)
    | {f"builtins.{n}" for n in _SAFE_BUILTINS}
    | {f"torch.{n}" for n in STORAGE_DTYPES}
    | {"torch.storage.UntypedStorage", "torch.storage.TypedStorage", "torch.storage._LegacyStorage"}
    | {f"torch.{n}" for n in TORCH_DTYPES}
    | {"copyreg._reconstructor", "torch.Tensor", "torch.nn.parameter.Parameter", "torch.strided"}
    | _DATA_RECONSTRUCTORS
)

_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, ctx: _LoadContext, persistent: Any) -> None:
        super().__init__(file, encoding="utf-8")
        self._ctx = ctx
        self._persistent = persistent

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise pickle.UnpicklingError("unexpected persistent id")
        return self._persistent(pid)

    def find_class(self, module: str, name: str) -> Any:
        module = _MODULE_ALIASES.get(module, module)
        qual = f"{module}.{name}"
        if qual not in self._ctx.globals:
            self._ctx.globals.append(qual)
        return _resolve_global(qual, module, name, self._ctx)


def _resolve_global(qual: str, module: str, name: str, ctx: _LoadContext) -> Any:
    if qual in _EMULATED:
        return _Emulated(qual, _EMULATED[qual])
    if module == "builtins" and name in _SAFE_BUILTINS:
        return _SAFE_BUILTINS[name]
    if module in ("torch", "torch.storage") and name in STORAGE_DTYPES or qual == "torch.storage.TypedStorage":
        return _StorageType(qual, STORAGE_DTYPES.get(name, "U8"))
    if module == "torch" and name in TORCH_DTYPES:
        return _DType(qual, TORCH_DTYPES[name])
    if qual == "copyreg._reconstructor":
        return _Emulated(qual, lambda cls, base, state=None: _reconstruct(cls, base, state, ctx))
    if qual in _DATA_RECONSTRUCTORS:
        return _stub_class(qual, module, name, ctx, data=True)
    return _stub_class(qual, module, name, ctx)


def _reconstruct(cls: Any, base: Any, state: Any, ctx: _LoadContext) -> Any:
    if isinstance(cls, type) and issubclass(cls, Stub):
        obj = cls.__new__(cls)
        if cls.qualname() not in ctx.constructed:
            ctx.constructed.append(cls.qualname())
        return obj
    if cls in (dict, OrderedDict, list, set):
        return cls()
    if isinstance(cls, _Emulated) and cls.qualname == "collections.OrderedDict":
        return OrderedDict()
    raise pickle.UnpicklingError(f"copyreg._reconstructor of unsupported {cls!r}")


class _DataStub(Stub):
    """Stand-in for numpy data reconstructors: calling them is harmless, so not recorded."""


class _DataStubMeta(type):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.__new__(cls, *args, **kwargs)


def _stub_class(qual: str, module: str, name: str, ctx: _LoadContext, *, data: bool = False) -> type:
    qual = f"{module}.{name}"
    existing = ctx.stub_classes.get(qual)
    if existing is not None:
        return existing
    meta = _DataStubMeta if data else _StubMeta
    base = _DataStub if data else Stub

    def _new(cls: type, *args: Any, **kwargs: Any) -> Any:
        obj = base.__new__(cls, *args, **kwargs)
        if not data and cls.qualname() not in ctx.constructed:
            ctx.constructed.append(cls.qualname())
        return obj

    cls = meta(f"Stub[{qual}]", (base,), {"module": module, "name": name, "_ctx": ctx, "__new__": _new})
    ctx.stub_classes[qual] = cls
    return cls


# -- file formats --------------------------------------------------------------


def _storage_dtype(storage_type: Any) -> str:
    if isinstance(storage_type, _StorageType):
        return storage_type.dtype
    if isinstance(storage_type, _DType):
        return storage_type.dtype
    raise pickle.UnpicklingError(f"unknown storage type {storage_type!r}")


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


def _load_zip(path: Path, fh: BinaryIO, file_size: int, ctx: _LoadContext) -> TorchFile:
    with zip_errors(path):
        zf = zipfile.ZipFile(fh)
        names = zf.namelist()
    pkl_names = [n for n in names if n.endswith("data.pkl") and n.count("/") <= 1]
    if not pkl_names:
        raise CorruptFileError(f"{path}: a zip file, but not a torch checkpoint (no data.pkl)")
    pkl_name = pkl_names[0]
    prefix = pkl_name[: -len("data.pkl")]
    infos = {i.filename: i for i in zf.infolist()}
    byteorder_name = prefix + "byteorder"
    if byteorder_name in infos and read_member(path, zf, infos[byteorder_name], 64).strip() not in (b"little", b""):
        raise CorruptFileError(f"{path}: big-endian checkpoints are not supported")

    storages: dict[str, StorageInfo] = {}

    def persistent(pid: Any) -> _StorageRef:
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        key = str(key)
        if key not in storages:
            dtype = _storage_dtype(storage_type)
            member = infos.get(f"{prefix}data/{key}")
            if member is None:
                raise CorruptFileError(f"{path}: storage {key} is missing from the archive")
            storages[key] = StorageInfo(key, dtype, ITEMSIZE.get(dtype, 1), member.file_size,
                                        _member_data_offset(path, fh, member, file_size))
        return _StorageRef(storages[key])

    data = read_member(path, zf, zf.getinfo(pkl_name), MAX_PICKLE_BYTES)
    root = _unpickle(path, io.BytesIO(data), ctx, persistent)
    return TorchFile(path, "torch_zip", root, storages, tuple(ctx.globals), tuple(ctx.called),
                     tuple(ctx.constructed), pickle_member=pkl_name)


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


def _load_legacy(path: Path, fh: BinaryIO, file_size: int, ctx: _LoadContext) -> TorchFile:
    fh.seek(0)
    header_ctx = _LoadContext(strict=False)  # a bare pickle lands here: read it inertly, then reject it
    magic = _unpickle(path, fh, header_ctx, None)
    if magic != LEGACY_MAGIC:
        raise CorruptFileError(f"{path}: not a torch checkpoint (no zip archive, no legacy magic number)")
    protocol = _unpickle(path, fh, header_ctx, None)
    if protocol != LEGACY_PROTOCOL:
        raise CorruptFileError(f"{path}: unsupported legacy torch protocol {protocol!r}")
    _unpickle(path, fh, header_ctx, None)  # sys_info: endianness and type sizes
    pickle_offset = fh.tell()

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
        dtype = _storage_dtype(storage_type)
        pending.setdefault(key, (dtype, int(numel)))
        ref = _LegacyRef(key, dtype, 0)
        if view_metadata is not None:
            view_key, view_offset, _view_size = view_metadata
            views[str(view_key)] = (key, int(view_offset))
            ref = _LegacyRef(key, dtype, int(view_offset))
        return ref

    raw_root = _unpickle(path, fh, ctx, persistent)
    keys = _unpickle(path, fh, _LoadContext(strict=False), None)
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
                     tuple(ctx.constructed), pickle_offset=pickle_offset)


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


def _unpickle(path: Path, fh: BinaryIO, ctx: _LoadContext, persistent: Any) -> Any:
    # The C unpickler only ever sees bytes that passed the opcode scan (memo, lengths, op count).
    unpickler = _RestrictedUnpickler(io.BytesIO(_read_pickle(path, fh)), ctx, _legacy_adapter(persistent))
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
            return _StorageRef(info, ref.element_offset)
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
    ctx = _LoadContext(strict=strict)
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
    ctx = _LoadContext(strict=strict)
    fh = _open_binary(path)
    with fh:
        root = _unpickle(path, fh, ctx, None)  # no persistent ids: storages cannot appear
    return TorchFile(path, "pickle", root, {}, tuple(ctx.globals), tuple(ctx.called), tuple(ctx.constructed),
                     pickle_offset=0)


# -- interpreting the tree -----------------------------------------------------

WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "weights", "params",
               "model_state", "ema_state_dict", "ema")
TRAINING_KEYS = {"optimizer", "optimizer_state_dict", "optim", "optimizer_state", "epoch", "step",
                 "global_step", "scheduler", "lr_scheduler", "scaler", "iteration", "epochs", "loss",
                 "best_metric", "args", "config", "hyper_parameters", "hparams"}


@dataclass
class StateDictView:
    tensors: dict[str, TensorRef]
    kind: str  # state_dict | training_checkpoint | full_model_pickle | unknown
    source_key: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    class_name: str | None = None  # the root module's class of a full-model pickle


def describe(value: Any) -> str:
    """A short human description of a non-tensor value."""
    if isinstance(value, TensorRef):
        return f"tensor {value.dtype}{list(value.shape)}"
    if isinstance(value, Stub):
        return f"object {type(value).qualname()}"
    if isinstance(value, dict):
        return f"dict with {len(value)} entries"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) and (not isinstance(value, str) or len(value) <= 200)


def _flat_tensors(obj: Any) -> dict[str, TensorRef] | None:
    """``obj`` as a flat name -> tensor dict if it is (mostly) one, else None."""
    if isinstance(obj, Stub) and isinstance(obj.state, dict):
        return None
    if not isinstance(obj, dict) or not obj:
        return None
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, TensorRef)}
    if not tensors:
        return None
    return tensors


def _module_tensors(module: Any, prefix: str, out: dict[str, TensorRef], seen: set[int], depth: int = 0) -> None:
    if not isinstance(module, Stub) or id(module) in seen:
        return
    if depth > limits.MAX_NESTING:
        raise CorruptFileError(f"modules nest more than {limits.MAX_NESTING} deep")
    seen.add(id(module))
    state = module.state if isinstance(module.state, dict) else {}
    if isinstance(module.state, tuple) and module.state and isinstance(module.state[0], dict):
        state = module.state[0]
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for attr in ("_parameters", "_buffers"):
        group = state.get(attr)
        if isinstance(group, dict):
            for name, value in group.items():
                if isinstance(value, TensorRef) and not (attr == "_buffers" and name in non_persistent):
                    out[prefix + str(name)] = value
    children = state.get("_modules")
    if isinstance(children, dict):
        for name, child in children.items():
            _module_tensors(child, f"{prefix}{name}.", out, seen, depth + 1)


def _is_module_stub(obj: Any) -> bool:
    return isinstance(obj, Stub) and isinstance(obj.state, dict) and "_parameters" in obj.state


def find_state_dict(root: Any, *, key: str | None = None) -> StateDictView:
    """Find the model weights inside an unpickled checkpoint tree."""
    if key is not None:
        if not isinstance(root, dict) or key not in root:
            raise CorruptFileError(f"no entry {key!r} in the checkpoint")
        inner = find_state_dict(root[key])
        view = _training_view(root, key, inner)
        return view
    if _is_module_stub(root):
        tensors: dict[str, TensorRef] = {}
        _module_tensors(root, "", tensors, set())
        return StateDictView(tensors, "full_model_pickle", None, {}, {}, type(root).qualname())
    if isinstance(root, dict):
        flat = _flat_tensors(root)
        if flat is not None and len(flat) == len(root):
            return StateDictView(flat, "state_dict")
        for candidate in WEIGHT_KEYS:
            if candidate in root:
                inner_obj = root[candidate]
                if _flat_tensors(inner_obj) is not None or _is_module_stub(inner_obj):
                    return _training_view(root, candidate, find_state_dict(inner_obj))
        nested = [(k, v) for k, v in root.items() if _flat_tensors(v) is not None and k not in
                  ("optimizer", "optimizer_state_dict", "optim", "scheduler", "lr_scheduler", "scaler")]
        if nested and set(map(str, root)) & TRAINING_KEYS:
            k, v = max(nested, key=lambda kv: len(kv[1]))
            return _training_view(root, k, find_state_dict(v))
        if flat is not None:  # a state dict with a few extra non-tensor entries (e.g. _metadata, version)
            view = StateDictView(flat, "state_dict")
            for k, v in root.items():
                if not isinstance(v, TensorRef):
                    view.dropped[str(k)] = describe(v)
                    if _is_scalar(v):
                        view.metadata[str(k)] = str(v)
            return view
    if isinstance(root, dict):
        nested: dict[str, TensorRef] = {}
        if _flatten_nested(root, "", nested, 0) and nested:  # {"encoder": {...}, "decoder": {...}}
            return StateDictView(nested, "state_dict")
    return StateDictView({}, "unknown", dropped={"<root>": describe(root)})


def _flatten_nested(obj: dict, prefix: str, out: dict[str, TensorRef], depth: int) -> bool:
    """Dotted names of a dict-of-dicts whose leaves are all tensors; False if anything else is inside."""
    if depth > 32:
        return False
    for k, v in obj.items():
        if isinstance(v, TensorRef):
            out[f"{prefix}{k}"] = v
        elif isinstance(v, dict) and v:
            if not _flatten_nested(v, f"{prefix}{k}.", out, depth + 1):
                return False
        else:
            return False
    return True


def _training_view(root: dict, source_key: str, inner: StateDictView) -> StateDictView:
    view = StateDictView(inner.tensors, "training_checkpoint", source_key, dict(inner.dropped),
                         dict(inner.metadata), inner.class_name)
    for k, v in root.items():
        if k == source_key:
            continue
        view.dropped[str(k)] = describe(v)
        if _is_scalar(v):
            view.metadata[str(k)] = str(v)
    return view


def tied_groups(tensors: dict[str, TensorRef]) -> list[tuple[str, ...]]:
    """Names that share one storage and the same byte range (tied weights such as GPT-2's lm_head)."""
    groups: dict[tuple, list[str]] = {}
    for name, ref in tensors.items():
        sig = (ref.storage.key, ref.byte_range(), ref.shape, ref.stride, ref.dtype)
        groups.setdefault(sig, []).append(name)
    return sorted(tuple(sorted(names)) for names in groups.values() if len(names) > 1)


def shared_storage_groups(tensors: dict[str, TensorRef]) -> list[tuple[str, ...]]:
    """Names whose tensors live in one storage (views, tied or not)."""
    groups: dict[str, list[str]] = {}
    for name, ref in tensors.items():
        groups.setdefault(ref.storage.key, []).append(name)
    return sorted(tuple(sorted(names)) for names in groups.values() if len(names) > 1)
