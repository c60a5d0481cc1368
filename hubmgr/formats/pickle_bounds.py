"""Check a pickle's opcodes against resource limits before any unpickler sees it.

CPython's C unpickler trusts the stream: ``LONG_BINPUT 0x0FFFFFFF`` makes it
allocate (and zero) a memo array of 2 GB from a 10-byte pickle; length prefixes
(``BINBYTES8``, ``FRAME``) make it allocate what they claim. ``scan_pickle``
walks the opcodes once (linear, no objects built) and refuses such input with a
``CorruptFileError``; it also finds where the pickle ends, so callers can hand the
unpickler exactly those bytes from memory. Stdlib only.
"""

from __future__ import annotations

import pickletools
import struct
from dataclasses import dataclass

from ..errors import CorruptFileError
from . import limits

# opcode byte -> how its argument is encoded: ("fixed", n) | ("line", lines) | ("counted", prefix bytes, signed)
_ARGS: dict[int, tuple] = {}
for _op in pickletools.opcodes:
    _code = ord(_op.code)
    if _op.arg is None:
        _ARGS[_code] = ("fixed", 0)
    elif _op.arg.n >= 0:
        _ARGS[_code] = ("fixed", _op.arg.n)
    elif _op.arg.n == pickletools.UP_TO_NEWLINE:
        _ARGS[_code] = ("line", 2 if _op.name in ("GLOBAL", "INST") else 1)
    else:
        _ARGS[_code] = ("counted", {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT4: 4,
                                    pickletools.TAKEN_FROM_ARGUMENT4U: 4,
                                    pickletools.TAKEN_FROM_ARGUMENT8U: 8}[_op.arg.n],
                        _op.arg.n == pickletools.TAKEN_FROM_ARGUMENT4)

_STOP, _FRAME, _MEMOIZE = ord("."), 0x95, 0x94
_PUT, _BINPUT, _LONG_BINPUT = ord("p"), ord("q"), ord("r")
_PERSIDS = (ord("P"), ord("Q"))
_PREFIX = {1: struct.Struct("<B"), 4: struct.Struct("<I"), 8: struct.Struct("<Q")}


@dataclass(frozen=True)
class PickleExtent:
    end: int  # offset just past the STOP opcode
    ops: int
    persistent_ids: int  # PERSID/BINPERSID opcodes: one per tensor in a torch pickle


class NeedMoreData(Exception):
    """The pickle continues past the bytes given (the caller may read more and retry)."""


def scan_pickle(data: bytes, start: int = 0, *, what: str = "pickle") -> PickleExtent:
    """Walk the pickle at ``data[start:]``; raise ``CorruptFileError`` if it breaks a limit.

    Raises ``NeedMoreData`` if ``data`` ends before the STOP opcode.
    """
    pos, ops, persids, memo_puts, size = start, 0, 0, 0, len(data)
    fixed_int = {1: _PREFIX[1], 4: _PREFIX[4], 8: _PREFIX[8]}
    while True:
        if pos >= size:
            raise NeedMoreData
        code = data[pos]
        pos += 1
        ops += 1
        if ops > limits.MAX_PICKLE_OPS:
            raise CorruptFileError(f"{what} has more than {limits.MAX_PICKLE_OPS:,} opcodes",
                                   "this is not a checkpoint hubmgr can read safely")
        arg = _ARGS.get(code)
        if arg is None:
            raise CorruptFileError(f"{what}: invalid pickle opcode 0x{code:02x} at byte {pos - 1}",
                                   "the file is corrupt or not a pickle")
        kind = arg[0]
        if kind == "fixed":
            n = arg[1]
            if pos + n > size:
                raise NeedMoreData
            if code == _STOP:
                return PickleExtent(pos, ops, persids)
            if code in (_BINPUT, _LONG_BINPUT):
                _check_memo(fixed_int[n].unpack_from(data, pos)[0], memo_puts, what)
                memo_puts += 1
            elif code == _MEMOIZE:
                memo_puts += 1
            elif code == _FRAME:
                if _PREFIX[8].unpack_from(data, pos)[0] > limits.MAX_PICKLE_BYTES:
                    raise CorruptFileError(f"{what}: a pickle frame claims more than "
                                           f"{limits.MAX_PICKLE_BYTES:,} bytes", "the file is corrupt")
            elif code in _PERSIDS:
                persids += 1
            pos += n
        elif kind == "line":
            for _ in range(arg[1]):
                nl = data.find(b"\n", pos)
                if nl < 0:
                    raise NeedMoreData
                if code == _PUT:
                    try:
                        index = int(data[pos:nl][:limits.MAX_INT_DIGITS + 1])
                    except ValueError:
                        raise CorruptFileError(f"{what}: bad memo index", "the file is corrupt") from None
                    _check_memo(index, memo_puts, what)
                    memo_puts += 1
                pos = nl + 1
            if code in _PERSIDS:
                persids += 1
        else:
            width, signed = arg[1], arg[2]
            if pos + width > size:
                raise NeedMoreData
            length = _PREFIX[width].unpack_from(data, pos)[0]
            if signed and length >= 1 << 31:
                raise CorruptFileError(f"{what}: negative length at byte {pos}", "the file is corrupt")
            if length > limits.MAX_PICKLE_BYTES:
                raise CorruptFileError(f"{what}: a value claims {length:,} bytes", "the file is corrupt")
            pos += width + length
            if pos > size:
                raise NeedMoreData
        if persids > limits.MAX_TENSORS:
            raise CorruptFileError(f"{what} references more than {limits.MAX_TENSORS:,} tensors",
                                   "split the checkpoint into shards")


def _check_memo(index: int, puts: int, what: str) -> None:
    # A pickler numbers memo entries 0, 1, 2...; the C unpickler allocates an array as long as the index.
    if index < 0 or index > puts:
        raise CorruptFileError(f"{what}: memo index {index} out of range (only {puts} entries so far)",
                               "the file is corrupt or crafted to exhaust memory")


def pickle_extent(data: bytes, start: int = 0, *, what: str = "pickle") -> PickleExtent:
    """``scan_pickle`` for data that must hold the whole pickle."""
    try:
        return scan_pickle(data, start, what=what)
    except NeedMoreData:
        raise CorruptFileError(f"{what} is truncated (no STOP opcode)", "the file is truncated") from None
