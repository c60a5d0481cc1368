"""Builders of hostile and malformed files for parser tests, fuzzing and benchmarks.

Each builder writes what an attacker would: torch checkpoints whose tensor views
reach outside their storage, pickles that make an unpickler allocate gigabytes,
zip bombs, safetensors headers that no library should accept. Real torch is used
only to name its globals; nothing here executes a payload.
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Storage:
    """Pickled as a torch persistent storage id by ``_TorchPickler``."""

    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class _View:
    """Pickles to ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``, any values."""

    def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self) -> Any:
        import torch

        return (torch._utils._rebuild_tensor_v2,
                (self.storage, self.offset, self.size, self.stride, False, OrderedDict()))


class _TorchPickler(pickle.Pickler):
    def __init__(self, file: Any, *, legacy: bool) -> None:
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj: Any) -> Any:
        import torch

        if isinstance(obj, _Storage):
            pid = ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid
        return None


def write_torch_with_views(path: str | Path, views: dict[str, tuple[int, tuple[int, ...], tuple[int, ...]]], *,
                           storage_numel: int = 16, legacy: bool = False, extra: dict[str, Any] | None = None) -> Path:
    """A float32 checkpoint: one storage of ``storage_numel`` elements (0, 1, 2...) and the given
    ``name -> (offset, size, stride)`` views of it, in torch's zip or legacy layout. ``extra``
    entries are pickled as they are (e.g. a ``RunsShell`` payload, never run here)."""
    import io

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = _Storage("0", storage_numel)
    root: dict[str, Any] = {name: _View(storage, *spec) for name, spec in views.items()}
    root.update(extra or {})
    raw = struct.pack(f"<{storage_numel}f", *range(storage_numel))
    buf = io.BytesIO()
    _TorchPickler(buf, legacy=legacy).dump(root)
    if not legacy:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("archive/data.pkl", buf.getvalue())
            zf.writestr("archive/byteorder", "little")
            zf.writestr("archive/data/0", raw)
            zf.writestr("archive/version", "3\n")
        return path
    return write_legacy(path, buf.getvalue(), {"0": (storage_numel, raw)})


def write_legacy(path: str | Path, main_pickle: bytes, storages: dict[str, tuple[int, bytes]]) -> Path:
    """torch's legacy layout around any main pickle: magic, protocol, sys_info, it, keys, storages."""
    path = Path(path)
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    head = b"".join(pickle.dumps(x, protocol=2) for x in (LEGACY_MAGIC, 1001, sys_info))
    tail = b"".join(struct.pack("<q", numel) + raw for numel, raw in storages.values())
    path.write_bytes(head + main_pickle + pickle.dumps(list(storages), protocol=2) + tail)
    return path


class RunsShell:
    """Pickles to ``os.system(command)``: a payload for verdict tests (hubmgr never unpickles it for real)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> Any:
        import os

        return (os.system, (self.command,))


def huge_memo_pickle(index: int = 0xFFFFFFF0) -> bytes:
    """A few bytes that make CPython's C unpickler size its memo array by ``index`` (GBs)."""
    return b"\x80\x02]r" + struct.pack("<I", index) + b"."


def padded_huge_memo_pickle(size: int = 621) -> bytes:
    """The issue's example: a ``size``-byte pickle (a dict of short strings) that ends with a huge memo index."""
    body = b"\x80\x02}"
    i = 0
    while len(body) < size - 9:
        body += b"X\x01\x00\x00\x00" + bytes([97 + i % 26]) + b"K" + bytes([i % 256]) + b"s"
        i += 1
    return body[: size - 9] + b"]r" + struct.pack("<I", 0xFFFFFFF0) + b"0."


def write_zip_bomb(path: str | Path, *, inflated: int = 80 * 1024 * 1024, lie_about_size: bool = False) -> Path:
    """A torch-shaped zip whose deflated ``data.pkl`` inflates to ``inflated`` bytes (~1000:1).

    ``lie_about_size`` makes the central directory claim a small size, as a hand-made bomb would.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = b"\x80\x02(" + b"N" * (inflated - 4) + b"."
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")
    if lie_about_size:
        _patch_zip_sizes(path, "archive/data.pkl", 4096)
    return path


def _patch_zip_sizes(path: Path, member: str, claimed: int) -> None:
    """Rewrite a member's uncompressed size in both its local header and the central directory."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, claimed)
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46:central + 46 + name_len]) == name:
            struct.pack_into("<I", data, central + 24, claimed)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def write_encrypted_flag_zip(path: str | Path) -> Path:
    """A torch-shaped zip whose data.pkl has the 'encrypted' flag bit set (zipfile asks for a password)."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
        zf.writestr("archive/version", "3\n")
    data = bytearray(path.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        struct.pack_into("<H", data, at + flag_at, struct.unpack_from("<H", data, at + flag_at)[0] | 1)
    path.write_bytes(bytes(data))
    return path


def write_safetensors_raw(path: str | Path, header: bytes | str | dict, data: bytes = b"") -> Path:
    """A safetensors file with exactly this header text (not re-serialised) and data section."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(header, dict):
        header = json.dumps(header)
    if isinstance(header, str):
        header = header.encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


def many_tensor_safetensors(path: str | Path, count: int) -> Path:
    """``count`` one-element U8 tensors: a small file with a huge header (parsers must stay linear)."""
    parts = [f'"t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{i + 1}]}}' for i in range(count)]
    return write_safetensors_raw(path, "{" + ",".join(parts) + "}", b"\0" * count)


def nested_json(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth
