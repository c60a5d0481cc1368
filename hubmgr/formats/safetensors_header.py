"""Read a safetensors header with strict bounds (the one reader: inspect, cards, the writer's verify).

Only the 8-byte length and the JSON header are read. A header is accepted exactly when the
`safetensors` library (0.8, checked by a differential test) accepts it, except that duplicate keys
are always refused (the library keeps the last one) and a header may hold at most
``limits.MAX_TENSORS`` tensors. Accepted means: strict JSON (no NaN/Infinity, no out-of-range
numbers, nesting at most 127 deep), ``__metadata__`` null or string -> string, every tensor a known
dtype with unsigned integer shape and two unsigned integer offsets, and the tensors tiling the data
section from byte 0 to its end with no hole or overlap. Every failure is a one-line
``CorruptFileError``; memory and time stay linear in the header.
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
from . import limits
from .dtypes import SAFETENSORS_BITS

SAFETENSORS_MAX_HEADER = limits.MAX_SAFETENSORS_HEADER
_U64 = 1 << 64
_MAX_DEPTH = limits.MAX_JSON_DEPTH
_HINT = "the file is truncated, corrupt or not safetensors"


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


class _Reject(Exception):
    """Raised from the JSON hooks: turned into a CorruptFileError naming the file."""


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
    return parse_header(raw, file_size - 8 - size, where=str(path))


def parse_header(raw: bytes, data_size: int, *, where: str = "safetensors file") -> SafetensorsHeader:
    """Parse and validate header bytes for a data section of ``data_size`` bytes."""
    try:
        doc = _load_json(raw)
        metadata = _metadata(doc.pop("__metadata__", None))
        if len(doc) > limits.MAX_TENSORS:
            raise _Reject(f"header has more than {limits.MAX_TENSORS:,} tensors")
        tensors = {name: _tensor(name, spec) for name, spec in doc.items()}
        _check_tiling(tensors, data_size)
    except _Reject as exc:
        raise CorruptFileError(f"{where}: {exc}", _HINT) from None
    return SafetensorsHeader(tensors, metadata, len(raw), 8 + len(raw))


def _load_json(raw: bytes) -> dict:
    # Count before parsing: a small header of "[{},{},...]" would build millions of objects.
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > 3 * limits.MAX_TENSORS + 2 or raw.count(b'"') > 12 * limits.MAX_TENSORS + 1000:
        raise _Reject(f"header has more than {limits.MAX_TENSORS:,} tensors (3 objects or lists per tensor)")
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_unique_keys, parse_int=_parse_int, parse_float=_parse_float,
                         parse_constant=_parse_constant)
    except UnicodeDecodeError:
        raise _Reject("header is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise _Reject(f"header is not valid JSON ({exc.msg} at byte {exc.pos})") from None
    except RecursionError:
        raise _Reject(f"header nests more than {_MAX_DEPTH} deep") from None
    if not isinstance(doc, dict):
        raise _Reject("header is not a JSON object")
    if "\\u" in text:  # only an escape can spell a lone surrogate, which the library refuses
        _check_strings(doc)
    return doc


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Reject(f"duplicate key {key[:80]!r} in the header")
        out[key] = value
    return out


def _parse_int(text: str) -> int | float:
    # Only unsigned 64-bit integers are integers to the library; anything else parses as a float.
    if text[0] == "-" or len(text) > 20 or int(text) >= _U64:
        return _parse_float(text)
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Reject(f"number out of range ({text[:20]}...)")
    return value


def _parse_constant(text: str) -> Any:
    raise _Reject(f"{text} is not JSON")


def _check_strings(doc: Any) -> None:
    stack = [doc]
    while stack:
        value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            for text in (key, item):
                if isinstance(text, str):
                    try:
                        text.encode("utf-8")
                    except UnicodeEncodeError:
                        raise _Reject("header has a lone surrogate escape (\\ud800-\\udfff)") from None
            if isinstance(item, (dict, list)):
                stack.append(item)


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > _MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def _metadata(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise _Reject("__metadata__ must map strings to strings")
    return raw


def _tensor(name: str, spec: Any) -> SafetensorsTensor:
    if isinstance(spec, list) and len(spec) == 3:  # serde also reads a struct from a 3-element array
        dtype, shape, offsets = spec
        extra: list = []
    elif isinstance(spec, dict):
        missing = {"dtype", "shape", "data_offsets"} - set(spec)
        if missing:
            raise _Reject(f"tensor {name[:80]!r} has no {sorted(missing)[0]}")
        dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
        extra = [v for k, v in spec.items() if k not in ("dtype", "shape", "data_offsets")]
    else:
        raise _Reject(f"tensor {name[:80]!r} is not an object")
    if any(2 + _depth(v) > _MAX_DEPTH for v in extra):  # unknown fields are ignored, but parsed
        raise _Reject(f"header nests more than {_MAX_DEPTH} deep")
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_BITS:
        raise _Reject(f"tensor {name[:80]!r} has an unknown dtype {str(dtype)[:20]!r}")
    if not isinstance(shape, list) or not all(_is_u64(d) for d in shape):
        raise _Reject(f"tensor {name[:80]!r}: shape must be a list of unsigned integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_u64(x) for x in offsets):
        raise _Reject(f"tensor {name[:80]!r}: data_offsets must be two unsigned integers")
    return SafetensorsTensor(dtype, tuple(shape), offsets[0], offsets[1])


def _is_u64(value: Any) -> bool:
    return type(value) is int and 0 <= value < _U64


def _check_tiling(tensors: dict[str, SafetensorsTensor], data_size: int) -> None:
    """The library's validate(): sorted by offsets, tensors tile [0, data_size) exactly."""
    position = 0
    for name, t in sorted(tensors.items(), key=lambda kv: (kv[1].start, kv[1].end)):
        if t.start != position or t.end < t.start:
            raise _Reject(f"offsets of {name[:80]!r} leave a hole or overlap (starts at {t.start}, "
                          f"expected {position})")
        numel = 1
        for dim in t.shape:
            numel *= dim
            if numel >= _U64:
                raise _Reject(f"shape of {name[:80]!r} overflows")
        bits = numel * SAFETENSORS_BITS[t.dtype]
        if bits >= _U64:
            raise _Reject(f"shape of {name[:80]!r} overflows")
        if bits % 8 or t.end - t.start != bits // 8:
            raise _Reject(f"offsets of {name[:80]!r} do not match its dtype and shape "
                          f"({t.end - t.start} bytes for {t.dtype}{list(t.shape)})")
        position = t.end
    if position != data_size:
        raise _Reject(f"tensors cover {position:,} of the {data_size:,} data bytes")
