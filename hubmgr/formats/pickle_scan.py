"""Safety verdict of a pickle-based checkpoint, without executing it.

Two sources of facts:
- the restricted unpickler of ``torchfile`` (exact: which globals were imported,
  which were *called* via REDUCE, which classes were instantiated via NEWOBJ);
- a static opcode walk with ``pickletools.genops`` (fallback for files the
  unpickler cannot finish, e.g. truncated ones: globals only).

Verdicts (models.VERDICT_*):
- ``safe``: only allow-listed torch/collections/builtin-container globals (``torchfile.ALLOWED_GLOBALS``);
- ``needs_code``: instantiates or references classes outside the allow-list
  (``__main__.Net``, ``transformers.*``, ``torch.nn.*`` modules of a full-model pickle);
- ``unsafe``: anything from os/posix/subprocess/sys/socket/..., builtins like
  eval/exec/getattr/__import__/open, or any non-allow-listed *function* called.
  A called *class* (CamelCase name, e.g. an Enum member rebuilt by value) is ``needs_code``.
"""

from __future__ import annotations

import io
import os
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError, HubmgrError
from ..models import (
    VERDICT_NEEDS_CODE,
    VERDICT_NOT_PICKLE,
    VERDICT_SAFE,
    VERDICT_UNKNOWN,
    VERDICT_UNSAFE,
    SafetyInfo,
)
from .torchfile import (ALLOWED_GLOBALS, LEGACY_MAGIC, MAX_PICKLE_BYTES, ZIP_ERRORS, TorchFile, load_pickle_file,
                        load_torch_file)

DANGEROUS_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "ctypes", "pickle",
    "_pickle", "marshal", "webbrowser", "pty", "signal", "multiprocessing", "code", "codeop", "pdb", "bdb",
    "commands", "popen2", "platform", "asyncio", "threading", "_thread", "http", "urllib", "urllib2",
    "requests", "ftplib", "smtplib", "telnetlib", "tempfile", "pathlib", "io", "_io", "glob", "zipimport",
    "types", "inspect", "operator", "functools", "torch.hub", "torch.jit", "torch.package", "torch.ops",
    "torch._C", "torch.classes", "torch._dynamo", "torch._inductor", "numpy.testing", "numpy.f2py",
    "numpy.distutils", "pip", "setuptools", "distutils", "venv", "ensurepip",
})
DANGEROUS_BUILTINS = frozenset({
    "eval", "exec", "compile", "getattr", "setattr", "delattr", "__import__", "open", "input", "breakpoint",
    "globals", "locals", "vars", "apply", "execfile", "file", "reload", "memoryview", "help", "exit", "quit",
    "super", "type", "object", "classmethod", "staticmethod", "property",
})


def is_dangerous(qualname: str) -> bool:
    module, _, name = qualname.rpartition(".")
    name = name.removesuffix("()")
    if module in ("builtins", "__builtin__"):
        return name in DANGEROUS_BUILTINS or qualname not in ALLOWED_GLOBALS
    parts = module.split(".")
    return any(".".join(parts[:i]) in DANGEROUS_MODULES for i in range(1, len(parts) + 1))


def _looks_like_class(qualname: str) -> bool:
    name = qualname.rpartition(".")[2]
    return name[:1].isupper() and not name.endswith("()")


def verdict_for(globals_: tuple[str, ...] | list[str], called: tuple[str, ...] | list[str] = (),
                constructed: tuple[str, ...] | list[str] = ()) -> SafetyInfo:
    """Classify what a pickle imports and calls (see the module docstring)."""
    globals_ = tuple(dict.fromkeys(globals_))
    unknown = [g for g in globals_ if g not in ALLOWED_GLOBALS]
    dangerous = [g for g in dict.fromkeys((*globals_, *called)) if g not in ALLOWED_GLOBALS and is_dangerous(g)]
    bad_calls = [c for c in called if c not in ALLOWED_GLOBALS and not _looks_like_class(c)]
    classes = tuple(dict.fromkeys([*constructed, *(c for c in called if _looks_like_class(c))]))
    classes = tuple(c for c in classes if c not in ALLOWED_GLOBALS and not is_dangerous(c))
    if dangerous or bad_calls:
        offending = tuple(dict.fromkeys([*dangerous, *bad_calls]))
        return SafetyInfo(VERDICT_UNSAFE, globals_, offending, classes)
    if unknown:
        return SafetyInfo(VERDICT_NEEDS_CODE, globals_, tuple(unknown), classes or tuple(unknown))
    return SafetyInfo(VERDICT_SAFE, globals_)


# -- static opcode walk --------------------------------------------------------

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING",
               "STRING", "SHORT_BINBYTES", "BINBYTES"}


@dataclass(frozen=True)
class StaticScan:
    globals: tuple[str, ...]
    reduces: int  # number of REDUCE/NEWOBJ/INST/OBJ opcodes
    complete: bool  # reached STOP without a parse error
    error: str | None = None


def static_globals(data: bytes, *, max_pickles: int = 6) -> StaticScan:
    """Globals imported by the pickle(s) at the start of ``data``, from opcodes alone.

    Follows consecutive pickles (the legacy torch layout) and works on truncated
    data up to the cut.
    """
    found: list[str] = []
    reduces = 0
    stream = io.BytesIO(data)
    for _ in range(max_pickles):
        start = stream.tell()
        if data[start:start + 1] != b"\x80":
            break
        error, count = _walk_one(stream, found)
        reduces += count
        if error is not None:
            return StaticScan(tuple(dict.fromkeys(found)), reduces, False, error)
    return StaticScan(tuple(dict.fromkeys(found)), reduces, True)


def _walk_one(stream: io.BytesIO, found: list[str]) -> tuple[str | None, int]:
    memo: dict[Any, Any] = {}
    recent: list[Any] = []  # values pushed, enough to resolve STACK_GLOBAL's two strings
    reduces = 0
    try:
        for op, arg, _pos in pickletools.genops(stream):
            name = op.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                found.append(f"{_alias(module)}.{attr}")
                recent.append(None)
            elif name == "STACK_GLOBAL":
                module, attr = recent[-2:] if len(recent) >= 2 else (None, None)
                found.append(f"{_alias(module)}.{attr}" if isinstance(module, str) and isinstance(attr, str)
                             else "<unresolved STACK_GLOBAL>")
                recent.append(None)
            elif name in _STRING_OPS:
                recent.append(arg if isinstance(arg, str) else None)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = recent[-1] if recent else None
            elif name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(arg))
            elif name in ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ"):
                reduces += 1
                recent.append(None)
            else:
                recent.append(None)
            if len(recent) > 64:
                del recent[:32]
    except Exception as exc:  # noqa: BLE001 - genops raises ValueError and friends on junk
        return f"{type(exc).__name__}: {exc}", reduces
    return None, reduces


def _alias(module: Any) -> str:
    return {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, str(module))


def main_pickle_bytes(path: str | os.PathLike[str], limit: int = MAX_PICKLE_BYTES) -> bytes | None:
    """The object pickle of a torch file (zip ``data.pkl``) or the file's head (legacy / bare pickle)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.endswith("data.pkl")]
                if not names:
                    return None
                info = zf.getinfo(names[0])
                if info.file_size > limit:
                    return None
                return zf.read(names[0])
        with open(path, "rb") as fh:
            return fh.read(limit)
    except ZIP_ERRORS:
        try:
            with open(path, "rb") as fh:
                return fh.read(limit)
        except OSError:
            return None


# -- file analysis -------------------------------------------------------------


@dataclass
class PickleAnalysis:
    safety: SafetyInfo
    torchfile: TorchFile | None  # None if the file could not be fully read
    error: str | None = None  # why it could not be read (corrupt, not a torch file...)


def analyze_file(path: str | os.PathLike[str]) -> PickleAnalysis:
    """Read a torch/pickle file with the restricted unpickler (strict=False) and give its verdict."""
    path = Path(path)
    try:
        tf = load_torch_file(path, strict=False)
    except CorruptFileError as exc:
        return _fallback(path, exc)
    except HubmgrError as exc:  # pragma: no cover - strict=False raises nothing else
        return PickleAnalysis(SafetyInfo(VERDICT_UNKNOWN), None, exc.message)
    return PickleAnalysis(verdict_for(tf.globals, tf.called, tf.constructed), tf)


def _fallback(path: Path, exc: CorruptFileError) -> PickleAnalysis:
    # Maybe a bare pickle (pickle.dump named .pth): same restricted unpickler, no storages.
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        head = b""
    if head[:1] == b"\x80" and not zipfile.is_zipfile(path):
        try:
            tf = load_pickle_file(path, strict=False)
            if tf.root == LEGACY_MAGIC:  # a legacy torch file that broke later on
                raise CorruptFileError(exc.message)
            return PickleAnalysis(verdict_for(tf.globals, tf.called, tf.constructed), tf,
                                  f"{path.name}: a bare pickle, not a torch checkpoint")
        except CorruptFileError:
            pass
    data = main_pickle_bytes(path)
    if data and data[:1] == b"\x80":
        scan = static_globals(data)
        if scan.globals:
            info = verdict_for(scan.globals)
            if info.verdict == VERDICT_SAFE:  # incomplete read: we cannot vouch for the rest
                info = SafetyInfo(VERDICT_UNKNOWN, info.globals)
            return PickleAnalysis(info, None, exc.message)
    return PickleAnalysis(SafetyInfo(VERDICT_UNKNOWN), None, exc.message)


def merge(infos: list[SafetyInfo]) -> SafetyInfo:
    """The verdict of several files (a sharded checkpoint): the worst one wins, globals are united."""
    order = {VERDICT_NOT_PICKLE: -1, VERDICT_SAFE: 0, VERDICT_UNKNOWN: 1, VERDICT_NEEDS_CODE: 2, VERDICT_UNSAFE: 3}
    if not infos:
        return SafetyInfo(VERDICT_UNKNOWN)
    worst = max(infos, key=lambda i: order.get(i.verdict, 1))
    unite = lambda attr: tuple(dict.fromkeys(x for i in infos for x in getattr(i, attr)))  # noqa: E731
    return SafetyInfo(worst.verdict, unite("globals"), unite("offending"), unite("classes_needed"))
