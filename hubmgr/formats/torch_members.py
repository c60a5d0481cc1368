"""Which pickles ``torch.load`` would unpickle from a file, found the way torch 2.13 finds them.

torch/serialization.py, in order:
- the file starts with ``PK\\x03\\x04`` (``_is_zipfile``): torch's miniz reader takes the archive
  name from the *first* central-directory entry (up to its first ``/``), requires every entry
  under it, looks names up case-insensitively, takes the first of duplicates, ignores CRCs;
  it unpickles ``<archive>/data.pkl`` (a ``constants.pkl`` makes it a TorchScript archive,
  handed to ``torch.jit.load``);
- otherwise, at offset 0 it first tries ``tarfile.open(mode="r:")`` (the pre-1.0 tar format:
  pickles in the ``storages``, ``tensors`` and ``pickle`` members);
- otherwise five consecutive pickles with the full unpickler: magic number, protocol
  version, sys_info, the object, the storage keys (a bare pickle is the first of them).

A zip that readers could disagree on (duplicate names, overlapping entries, a bad CRC,
an encrypted flag, a local header naming another file) is refused as ambiguous.
"""

from __future__ import annotations

import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from . import limits

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_PICKLE_BYTES = limits.MAX_PICKLE_BYTES  # one pickle member, decompressed
_ZIP_MAGIC = b"PK\x03\x04"
# Element sizes of legacy storage types (the tar format stores a count, then count * size bytes).
_STORAGE_ITEMSIZE = {"Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2,
                     "Char": 1, "Byte": 1, "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16}


@dataclass
class TorchPickles:
    """What torch would unpickle. ``layout``: torch_zip | torch_legacy | torch_tar | pickle | none."""

    layout: str
    pickles: list[tuple[str, bytes, int]] = field(default_factory=list)  # (label, data, start offset)
    ambiguous: list[str] = field(default_factory=list)  # reasons: refuse as unsafe
    refused: str | None = None  # torch itself would refuse the file before unpickling anything
    member: str | None = None  # zip: the data.pkl member torch reads
    truncated: bool = False  # legacy/bare: only the head of the file was read


class AmbiguousZip(Exception):
    """Readers could disagree on this zip's content."""


def zip_entries_problems(zf: zipfile.ZipFile, fh: BinaryIO, file_size: int) -> list[str]:
    """Reasons this zip is ambiguous (duplicates, overlaps, encryption, local/central name mismatch)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    spans: list[tuple[int, int, str]] = []
    for info in zf.infolist():
        low = info.filename.lower()
        if low in seen:
            problems.append(f"duplicate member names {seen[low]!r} and {info.filename!r}")
        seen.setdefault(low, info.filename)
        if info.flag_bits & 0x1:
            problems.append(f"{info.filename!r} has the encrypted flag")
        fh.seek(info.header_offset)
        header = fh.read(30)
        if len(header) != 30 or header[:4] != _ZIP_MAGIC:
            problems.append(f"{info.filename!r}: no local header where the directory points")
            continue
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        local_name = fh.read(name_len)
        if local_name.decode("utf-8", "replace") != info.filename and local_name.decode("cp437") != info.filename:
            problems.append(f"{info.filename!r}: local header names {local_name[:60]!r}")
        start = info.header_offset
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        if end > file_size:
            problems.append(f"{info.filename!r} runs past the end of the file")
        spans.append((start, end, info.filename))
    spans.sort()
    for (_, prev_end, prev), (start, _, name) in zip(spans, spans[1:]):
        if start < prev_end:
            problems.append(f"members {prev!r} and {name!r} overlap")
    return problems[:5]


def zip_archive_prefix(zf: zipfile.ZipFile) -> str:
    """torch's archive name plus slash (from the first entry); raises ValueError where torch refuses."""
    infos = zf.infolist()
    if not infos:
        raise ValueError("the archive contains no files")
    first = infos[0].filename
    if "/" not in first:
        raise ValueError(f"file in archive is not in a subdirectory: {first}")
    prefix = first.split("/", 1)[0] + "/"
    stray = next((i.filename for i in infos if not i.filename.startswith(prefix)), None)
    if stray is not None:
        raise ValueError(f"file in archive is not in a subdirectory {prefix}: {stray}")
    return prefix


def zip_record(zf: zipfile.ZipFile, prefix: str, name: str) -> zipfile.ZipInfo | None:
    """The entry torch's reader returns for ``name`` (case-insensitive; the first of equals)."""
    want = (prefix + name).lower()
    return next((i for i in zf.infolist() if i.filename.lower() == want), None)


def read_member(fh: BinaryIO, info: zipfile.ZipInfo, limit: int = MAX_PICKLE_BYTES) -> bytes:
    """A member's bytes as torch's reader sees them (local header skipped, no CRC check), bounded.

    Raises ValueError when it cannot be read, AmbiguousZip on a CRC mismatch (readers disagree).
    """
    if info.file_size > limit:
        raise ValueError(f"{info.filename} is implausibly large ({info.file_size} bytes)")
    fh.seek(info.header_offset)
    header = fh.read(30)
    if len(header) != 30 or header[:4] != _ZIP_MAGIC:
        raise ValueError(f"bad local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    raw = fh.read(info.compress_size)
    if info.compress_type == zipfile.ZIP_STORED:
        data = raw
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
        data = inflater.decompress(raw, limit + 1)
        if len(data) > limit:
            raise ValueError(f"{info.filename} inflates past {limit} bytes")
    else:
        raise ValueError(f"{info.filename}: unsupported compression {info.compress_type}")
    if len(data) != info.file_size:
        raise ValueError(f"{info.filename} is truncated")
    if zlib.crc32(data) != info.CRC:
        raise AmbiguousZip(f"{info.filename!r} has a bad CRC (torch ignores it, zipfile refuses it)")
    return data


LEGACY_HEAD_BYTES = 4 * 1024 * 1024  # the legacy pickles precede the storages: usually all in here


def find_torch_pickles(path: Path, *, head_bytes: int = LEGACY_HEAD_BYTES) -> TorchPickles:
    """Every pickle torch.load(weights_only=False) would unpickle from ``path``, and whether it is ambiguous.

    Legacy/bare pickles: the first ``head_bytes`` of the file (``truncated`` says there is more).
    """
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(0)
        if fh.read(4) == _ZIP_MAGIC:
            return _zip_pickles(fh, size)
        fh.seek(0)
        tar = _tar_pickles(fh)
        if tar is not None:
            return tar
        fh.seek(0)
        data = fh.read(min(head_bytes, MAX_PICKLE_BYTES))
    return TorchPickles("legacy_or_pickle", [("pickle", data, 0)], truncated=len(data) < size)


def _zip_pickles(fh: BinaryIO, size: int) -> TorchPickles:
    out = TorchPickles("torch_zip")
    try:
        fh.seek(0)
        zf = zipfile.ZipFile(fh)
        out.ambiguous = zip_entries_problems(zf, fh, size)
        prefix = zip_archive_prefix(zf)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, struct.error) as exc:
        out.refused = f"torch cannot open this zip ({exc})"
        return out
    if zip_record(zf, prefix, "constants.pkl") is not None:
        out.layout = "torchscript"
        out.ambiguous.append("a TorchScript archive: torch.load hands it to torch.jit.load, which runs its code")
    info = zip_record(zf, prefix, "data.pkl")
    if info is None:
        out.refused = f"no {prefix}data.pkl member"
        return out
    out.member = info.filename
    try:
        out.pickles.append((info.filename, read_member(fh, info), 0))
    except AmbiguousZip as exc:
        out.ambiguous.append(str(exc))
    except (ValueError, OSError, zlib.error) as exc:
        out.refused = f"cannot read {info.filename} ({exc})"
    return out


def _tar_pickles(fh: BinaryIO) -> TorchPickles | None:
    """The tar format's pickles, or None when ``tarfile`` (as torch calls it) does not open the file."""
    try:
        tar = tarfile.open(fileobj=fh, mode="r:", format=tarfile.PAX_FORMAT)
    except tarfile.TarError:
        return None
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as exc:  # tarfile's own odd failures
        return TorchPickles("torch_tar", refused=f"unreadable tar ({type(exc).__name__})")
    out = TorchPickles("torch_tar")
    with tar:
        for name in ("storages", "tensors", "pickle"):  # the members torch extracts, in its order
            try:
                member = tar.getmember(name)  # the last member of that name, as tar.extract uses
            except KeyError:
                if not out.pickles:
                    out.refused = f"tar without a {name!r} member (torch stops there)"
                    return out
                break
            if not member.isfile():
                out.ambiguous.append(f"tar member {name!r} is not a regular file")
                return out
            if member.size > MAX_PICKLE_BYTES:
                out.refused = f"tar member {name!r} is implausibly large"
                return out
            handle = tar.extractfile(member)
            out.pickles.append((name, handle.read() if handle is not None else b"", 0))
    return out


def legacy_storage_itemsize(qual: str) -> int | None:
    """Bytes per element of a legacy storage class such as ``torch.FloatStorage``."""
    name = qual.rpartition(".")[2]
    return _STORAGE_ITEMSIZE.get(name.removesuffix("Storage")) if name.endswith("Storage") else None

