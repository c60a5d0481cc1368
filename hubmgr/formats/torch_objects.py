"""What reading a torch file yields: storages, tensor views over byte ranges, the file's tree."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import CorruptFileError
from .dtypes import ITEMSIZE



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


@dataclass
class TorchFile:
    path: Path
    format: str  # "torch_zip" | "torch_legacy"
    root: Any
    storages: dict[str, StorageInfo]
    globals: tuple[str, ...]
    called: tuple[str, ...]
    constructed: tuple[str, ...] = ()  # stub classes instantiated without a call (NEWOBJ/_reconstructor)

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
        for index in iter_indices(ref.shape):
            el = ref.offset + sum(i * s for i, s in zip(index, ref.stride))
            out += storage[el * size:(el + 1) * size]
        return bytes(out)


def iter_indices(shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
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
