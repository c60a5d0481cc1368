"""Read a safetensors header with strict bounds (the one reader: inspect, cards, the writer's verify).

Only the 8-byte length and the JSON header are read; every tensor's dtype, shape and offsets are
checked against each other and the file size, so a hostile header cannot make a reader allocate
or seek past the file.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError
from .dtypes import ITEMSIZE, SAFETENSORS_READABLE, SUB_BYTE

SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class SafetensorsTensor:
    dtype: str
    shape: tuple[int, ...]
    start: int  # byte offsets relative to the data section
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class SafetensorsHeader:
    tensors: dict[str, SafetensorsTensor]
    metadata: dict[str, str]
    header_size: int
    data_offset: int  # absolute offset of the data section (8 + header_size)


def read_safetensors_header(path: str | os.PathLike[str], *, max_header: int = SAFETENSORS_MAX_HEADER
                            ) -> SafetensorsHeader:
    """Parse only the JSON header, with strict bounds. Raises ``CorruptFileError``."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            file_size = os.fstat(fh.fileno()).st_size
            head = fh.read(8)
            if len(head) != 8:
                raise CorruptFileError(f"{path}: too short for safetensors ({file_size} bytes)")
            (size,) = struct.unpack("<Q", head)
            if size > max_header:
                raise CorruptFileError(f"{path}: safetensors header claims {size} bytes (limit {max_header})",
                                       "the file is corrupt or not safetensors")
            if 8 + size > file_size:
                raise CorruptFileError(f"{path}: safetensors header ({size} bytes) runs past the end of the file",
                                       "the file is truncated")
            raw = fh.read(size)
    except OSError as exc:
        raise CorruptFileError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path}: safetensors header is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise CorruptFileError(f"{path}: safetensors header is not a JSON object")
    data_size = file_size - 8 - size
    metadata_raw = doc.pop("__metadata__", None) or {}
    if not isinstance(metadata_raw, dict):
        raise CorruptFileError(f"{path}: safetensors __metadata__ is not an object")
    metadata = {str(k): str(v) for k, v in metadata_raw.items()}
    tensors: dict[str, SafetensorsTensor] = {}
    for name, spec in doc.items():
        tensors[name] = _tensor_spec(path, name, spec, data_size)
    spans = sorted((t.start, t.end) for t in tensors.values() if t.end > t.start)
    for (_, prev_end), (start, _) in zip(spans, spans[1:]):
        if start < prev_end:
            raise CorruptFileError(f"{path}: safetensors tensors overlap")
    return SafetensorsHeader(tensors, metadata, size, 8 + size)


def _tensor_spec(path: Path, name: str, spec: Any, data_size: int) -> SafetensorsTensor:
    try:
        dtype = spec["dtype"]
        shape = tuple(int(d) for d in spec["shape"])
        start, end = (int(x) for x in spec["data_offsets"])
    except (TypeError, KeyError, ValueError) as exc:
        raise CorruptFileError(f"{path}: bad safetensors entry for {name!r}") from exc
    if dtype not in SAFETENSORS_READABLE or any(d < 0 for d in shape):
        raise CorruptFileError(f"{path}: bad dtype or shape for {name!r}")
    tensor = SafetensorsTensor(dtype, shape, start, end)
    expected = tensor.numel * ITEMSIZE[dtype]
    if dtype in SUB_BYTE:
        expected = end - start  # sub-byte packed types: trust the span
    if not (0 <= start <= end <= data_size) or end - start != expected:
        raise CorruptFileError(f"{path}: offsets of {name!r} are inconsistent with its shape or the file size",
                               "the file is truncated or corrupt")
    return tensor
