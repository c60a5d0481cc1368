"""Mutation fuzzing of hubmgr's file readers (pickle, torch zip, torch legacy, safetensors).

Shared by ``tests/security/test_fuzz_parsers.py`` (hypothesis draws the mutations) and
``bench/fuzz.py`` (a seeded ``random.Random`` draws them, for long runs). A case is a seed file
plus a list of mutations; it passes when every reader either succeeds or raises a
``HubmgrError`` (one line for the user), never anything else.
"""

from __future__ import annotations

import io
import pickle
import struct
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

KINDS = ("pickle", "torch_zip", "torch_legacy", "safetensors")
# (op, position in [0, 1), value): flip a byte, insert/delete bytes, truncate, or overwrite an
# integer field with an extreme value (lengths, counts, offsets, memo indexes).
OPS = ("flip", "insert", "delete", "truncate", "int8", "int16", "int32", "int64")
EXTREMES = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**40, 2**62, 2**63 - 1, 2**64 - 1)
Mutation = tuple[str, float, int]


def seeds(directory: Path) -> dict[str, list[bytes]]:
    """Small valid files of each kind, written by the real libraries (torch, safetensors, pickle)."""
    from . import checkpoint_factory as cf
    from . import hostile_files as hf

    directory.mkdir(parents=True, exist_ok=True)
    views = {"w": (0, (2, 3), (3, 1)), "t": (1, (3, 2), (1, 3)), "b": (6, (4,), (1,))}
    small = {"a": [1, 2.5, "x" * 40, b"\x00\x01", (True, None)], "n": {"k": list(range(30))}}
    tensors = cf.state_dict_tensors()
    return {
        "pickle": [pickle.dumps(small, protocol=p) for p in (0, 2, 4, 5)],
        "torch_zip": [hf.write_torch_with_views(directory / "v.pth", views).read_bytes(),
                      cf.save_state_dict(directory / "s.pth", tensors=tensors).read_bytes()],
        "torch_legacy": [hf.write_torch_with_views(directory / "l.pth", views, legacy=True).read_bytes(),
                         cf.save_state_dict(directory / "sl.pth", legacy=True, tensors=tensors).read_bytes()],
        "safetensors": [cf.save_safetensors(directory / "m.safetensors").read_bytes()],
    }


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    buf = bytearray(data)
    for op, where, value in mutations:
        pos = int(where * len(buf)) if buf else 0
        if op == "flip" and buf:
            buf[pos] = value & 0xFF
        elif op == "insert":
            buf[pos:pos] = bytes([value & 0xFF]) * (1 + value % 7)
        elif op == "delete" and buf:
            del buf[pos:pos + 1 + value % 16]
        elif op == "truncate":
            del buf[pos:]
        elif op.startswith("int"):
            width = int(op[3:]) // 8
            if pos + width <= len(buf):
                buf[pos:pos + width] = (EXTREMES[value % len(EXTREMES)] & ((1 << (8 * width)) - 1)).to_bytes(
                    width, "little")
    return bytes(buf)


def mutate_member(data: bytes, mutations: list[Mutation]) -> bytes:
    """Mutate the data.pkl of a torch zip (re-zipped, stored) to reach past the archive checks."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, content in members:
            zf.writestr(name, mutate(content, mutations) if name.endswith("data.pkl") else content)
    return out.getvalue()


def mutate_header(data: bytes, mutations: list[Mutation]) -> bytes:
    """Mutate a safetensors header (keeping the length prefix right) to reach past the JSON parser."""
    (n,) = struct.unpack_from("<Q", data)
    header = mutate(data[8:8 + n], mutations)
    return struct.pack("<Q", len(header)) + header + data[8 + n:]


def readers(kind: str) -> list[tuple[str, Callable[[Path], Any]]]:
    from hubmgr.checkpoints import inspect_checkpoint
    from hubmgr.formats.pickle_scan import analyze_file
    from hubmgr.formats.safetensors_header import read_safetensors_header
    from hubmgr.formats.torchfile import find_state_dict, load_pickle_file, load_torch_file

    def inspect(path: Path) -> Any:
        return inspect_checkpoint(path, hash_files=False)

    def torch_tree(path: Path) -> Any:
        return find_state_dict(load_torch_file(path, strict=False).root)

    if kind == "safetensors":
        return [("read_safetensors_header", read_safetensors_header), ("inspect", inspect)]
    out = [("load_torch_file", torch_tree), ("analyze_file", analyze_file), ("inspect", inspect)]
    if kind == "pickle":
        out.append(("load_pickle_file", lambda p: load_pickle_file(p, strict=False)))
    return out


@dataclass
class Outcome:
    reader: str
    error: str | None  # exception type name, None when the reader succeeded
    expected: bool  # a HubmgrError (or success); False = a bug
    seconds: float
    detail: str = ""


def run_case(kind: str, data: bytes, directory: Path) -> list[Outcome]:
    """Write ``data`` as a file of ``kind`` and run every reader of that kind on it."""
    from hubmgr.errors import HubmgrError

    path = directory / ("case.safetensors" if kind == "safetensors" else "case.pth")
    path.write_bytes(data)
    outcomes = []
    for name, reader in readers(kind):
        start = time.perf_counter()
        try:
            reader(path)
            outcomes.append(Outcome(name, None, True, time.perf_counter() - start))
        except HubmgrError as exc:
            outcomes.append(Outcome(name, type(exc).__name__, True, time.perf_counter() - start))
        except Exception as exc:  # noqa: BLE001 - exactly what the fuzzer looks for
            outcomes.append(Outcome(name, type(exc).__name__, False, time.perf_counter() - start,
                                    f"{exc!r}"[:300]))
    return outcomes


def build(kind: str, seed: bytes, mutations: list[Mutation], layer: int) -> bytes:
    """layer 0: raw bytes; 1: inside (data.pkl of a zip, the JSON header of safetensors)."""
    if layer and kind == "torch_zip":
        return mutate_member(seed, mutations)
    if layer and kind == "safetensors":
        return mutate_header(seed, mutations)
    return mutate(seed, mutations)
