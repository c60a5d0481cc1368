"""The restricted unpickler: ``find_class`` never imports.

A short allow-list of torch rebuild functions, dtypes, storages and plain containers is
*emulated* (tensors become ``TensorRef``s pointing at byte ranges of the file); every other global
becomes an inert ``Stub`` class. Calling a stub (pickle REDUCE) is recorded and, with
``strict=True``, raises ``UnsafePickleError`` - but nothing is ever run.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import UnsafePickleError
from .dtypes import STORAGE_DTYPES, TORCH_DTYPES
from .torch_objects import StorageInfo, TensorRef

class Stub:
    """Inert stand-in for an object of a class outside the allow-list. Never calls anything.

    Class attributes ``module``/``name`` say what it stands for; instances record
    constructor ``args``, the ``state`` given by BUILD, and appended/set items.
    """

    module: str = ""
    name: str = ""
    _ctx: "LoadContext | None" = None

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
class LoadContext:
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
class StorageRef:
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
    if not isinstance(storage, StorageRef):
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


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, ctx: LoadContext, persistent: Any) -> None:
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


def _resolve_global(qual: str, module: str, name: str, ctx: LoadContext) -> Any:
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


def _reconstruct(cls: Any, base: Any, state: Any, ctx: LoadContext) -> Any:
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


def _stub_class(qual: str, module: str, name: str, ctx: LoadContext, *, data: bool = False) -> type:
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


def storage_dtype(storage_type: Any) -> str:
    if isinstance(storage_type, _StorageType):
        return storage_type.dtype
    if isinstance(storage_type, _DType):
        return storage_type.dtype
    raise pickle.UnpicklingError(f"unknown storage type {storage_type!r}")
