"""What a file *is*, from its bytes: does loading it mean unpickling? (names and suffixes lie).

``sniff_pickle(path)`` returns a kind when the file holds pickled data or a container of
pickles, else None:
- ``torch_zip``: a zip whose members include a pickle (``*/data.pkl``, ``*.pkl``, or a member
  starting with a pickle protocol header) - torch checkpoints, TorchScript, ``.pt2`` with pickles;
- ``torch_tar``: a tar with the old torch ``storages``/``tensors``/``pickle`` members or a pickled member;
- ``pickle``: a pickle stream at offset 0, any protocol (legacy torch files, ``pickle.dump``,
  ``joblib``); protocol 0/1 pickles are recognised by parsing them;
- ``npy_object``: a NumPy ``.npy`` whose dtype holds Python objects (its body is a pickle);
- ``compressed_pickle``: gzip/bz2/xz/zlib data that decompresses to a pickle (joblib ``compress=``).
"""

from __future__ import annotations

import ast
import bz2
import gzip
import io
import lzma
import os
import pickletools
import tarfile
import zipfile
import zlib
from pathlib import Path

from .torchfile import ZIP_ERRORS

HEAD_BYTES = 1024 * 1024  # protocol 0/1 pickles are recognised when they end within this
_MAX_ZIP_MEMBERS = 10_000
_PICKLE_NAMES = (".pkl", ".pickle", "data.pkl")
# Opcodes a protocol 0/1 pickle can start with (a text file starting otherwise is not one).
_P0_FIRST = set(b"(}]lcdNIFLSVUKJMGTXh")


def looks_like_pickle(head: bytes) -> bool:
    """``head`` (the start of a stream) is a pickle: a protocol 2+ header, or opcodes that parse."""
    protocol_header = len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
    if not protocol_header and (not head or head[0] not in _P0_FIRST):
        return False
    # A header plus one valid opcode is a pickle (a safetensors size field 0x0280.. is not: 0x00 follows).
    if protocol_header:
        ops = 0
        try:
            for _op in pickletools.genops(io.BytesIO(head)):
                ops += 1
                if ops >= 2:
                    return True
        except Exception:  # noqa: BLE001 - not a pickle
            return False
        return False
    # Protocol 0/1 opcodes are printable: text can start like one. Require a whole, stack-valid pickle.
    from .pickle_grade import grade_pickle

    grade = grade_pickle(head)
    return grade.error is None and grade.end > 2


def sniff_pickle(path: str | os.PathLike[str], *, head_bytes: int = HEAD_BYTES) -> str | None:
    """The pickle kind of ``path`` (module docstring), or None when loading it unpickles nothing.

    A smaller ``head_bytes`` (scan's walk over data dirs) still finds every kind but protocol 0/1
    pickles longer than it.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(head_bytes)
            if head[:4] == b"PK\x03\x04" or (head[:2] == b"PK" and zipfile.is_zipfile(fh)):
                return "torch_zip" if _zip_has_pickle(fh) else None
            if _is_tar(head):
                fh.seek(0)
                return "torch_tar" if _tar_has_pickle(fh) else None
    except OSError:
        return None
    if looks_like_pickle(head):
        return "pickle"
    if head[:6] == b"\x93NUMPY":
        return "npy_object" if _npy_holds_objects(head) else None
    inner = _decompress_head(head)
    if inner is not None and looks_like_pickle(inner):
        return "compressed_pickle"
    return None


def _zip_has_pickle(fh) -> bool:  # noqa: ANN001 - a binary file object
    try:
        fh.seek(0)
        with zipfile.ZipFile(fh) as zf:
            for info in zf.infolist()[:_MAX_ZIP_MEMBERS]:
                if info.filename.lower().endswith(_PICKLE_NAMES):
                    return True
                if info.file_size >= 2 and not info.is_dir() and not (info.flag_bits & 1):
                    with zf.open(info) as member:
                        if looks_like_pickle(member.read(64)):
                            return True
    except ZIP_ERRORS:  # e.g. an empty member name makes ZipInfo.is_dir() raise IndexError (found by bench/fuzz.py)
        return True  # a broken or odd zip: torch's own reader may still find a pickle in it
    return False


def _is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar" or _tar_checksum_ok(head)


def _tar_checksum_ok(head: bytes) -> bool:
    """Old (v7) tars have no magic: check the header checksum as tarfile does."""
    if len(head) < 512:
        return False
    try:
        stored = int(head[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(head[:148]) + 8 * 32 + sum(head[156:512])
    return stored == computed


def _tar_has_pickle(fh) -> bool:  # noqa: ANN001
    try:
        with tarfile.open(fileobj=fh, mode="r:") as tar:
            for member in tar.getmembers()[:_MAX_ZIP_MEMBERS]:
                if member.name in ("storages", "tensors", "pickle") or member.name.endswith(_PICKLE_NAMES):
                    return True
                if member.isfile():  # a protocol 2+ header is enough: never read big dataset members
                    handle = tar.extractfile(member)
                    if handle is not None and looks_like_pickle(handle.read(64)):
                        return True
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeDecodeError):
        return True  # torch tries tarfile first: an odd tar is not vouched for
    return False


def _npy_holds_objects(head: bytes) -> bool:
    try:
        major = head[6]
        if major == 1:
            length, start = int.from_bytes(head[8:10], "little"), 10
        else:
            length, start = int.from_bytes(head[8:12], "little"), 12
        header = ast.literal_eval(head[start:start + length].decode("latin1"))
        descr = header["descr"]
    except (ValueError, SyntaxError, KeyError, TypeError, IndexError, MemoryError, RecursionError):
        return True  # an unreadable header: numpy.load(allow_pickle=True) might still unpickle
    return "O" in repr(descr)


def _decompress_head(head: bytes) -> bytes | None:
    """The first bytes of gzip/bz2/xz/zlib-compressed data (joblib's compressors), else None."""
    try:
        if head[:2] == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=io.BytesIO(head)).read1(4096)
        if head[:3] == b"BZh":
            return bz2.BZ2Decompressor().decompress(head, 4096)
        if head[:6] == b"\xfd7zXZ\x00":
            return lzma.LZMADecompressor().decompress(head, 4096)
        if head[:1] == b"\x78" and (head[0] * 256 + head[1]) % 31 == 0:
            return zlib.decompressobj().decompress(head, 4096)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):
        return None
    return None


def npy_payload_offset(head: bytes) -> int | None:
    """Where the pickled body of an object ``.npy`` starts (after its header), or None."""
    if head[:6] != b"\x93NUMPY" or len(head) < 10:
        return None
    if head[6] == 1:
        return 10 + int.from_bytes(head[8:10], "little")
    return 12 + int.from_bytes(head[8:12], "little")


def decompressed(path: str | os.PathLike[str], limit: int) -> bytes | None:
    """The whole decompressed content of a gzip/bz2/xz/zlib file, at most ``limit`` bytes; None if not one."""
    with open(path, "rb") as fh:
        head = fh.read(6)
        fh.seek(0)
        try:
            if head[:2] == b"\x1f\x8b":
                return gzip.GzipFile(fileobj=fh).read(limit)
            if head[:3] == b"BZh":
                return bz2.BZ2File(fh).read(limit)
            if head[:6] == b"\xfd7zXZ\x00":
                return lzma.LZMAFile(fh).read(limit)
            if head[:1] == b"\x78":
                return zlib.decompressobj().decompress(fh.read(limit), limit)
        except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):
            return None
    return None
