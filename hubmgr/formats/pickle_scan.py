"""Safety verdict of a pickle-based file, without executing it.

Every pickle ``torch.load(weights_only=False)`` would unpickle is graded (``torch_members``
finds them as torch does: the zip's real ``data.pkl``, the tar format's members, all five
pickles of the legacy format, a bare pickle), each by ``pickle_grade``'s allowlist. The
file's verdict is the worst of them; an ambiguous container is ``unsafe``.

Verdicts (models.VERDICT_*): ``safe`` < ``unknown`` < ``needs_code`` < ``unsafe``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorruptFileError, HubmgrError
from ..models import (
    VERDICT_NEEDS_CODE,
    VERDICT_NOT_PICKLE,
    VERDICT_SAFE,
    VERDICT_UNKNOWN,
    VERDICT_UNSAFE,
    SafetyInfo,
)
from .pickle_grade import PickleGrade, grade_pickle
from .sniff import decompressed, npy_payload_offset, sniff_pickle
from .torch_members import (LEGACY_MAGIC, LEGACY_PROTOCOL, MAX_PICKLE_BYTES, TorchPickles, find_torch_pickles,
                            legacy_storage_itemsize)
from .torchfile import TorchFile, load_pickle_file, load_torch_file

ORDER = {VERDICT_NOT_PICKLE: -1, VERDICT_SAFE: 0, VERDICT_UNKNOWN: 1, VERDICT_NEEDS_CODE: 2, VERDICT_UNSAFE: 3}
_LEGACY_LABELS = ("magic number", "protocol version", "sys_info", "object", "storage keys")


@dataclass
class FileGrade:
    safety: SafetyInfo
    layout: str  # torch_zip | torch_legacy | torch_tar | torchscript | pickle | unknown
    error: str | None = None  # why torch would not (fully) read it, or why we could not


def grade_file(path: str | os.PathLike[str]) -> FileGrade:
    """The verdict of every pickle torch would unpickle from ``path`` (never raises on bad content).

    Pickles torch does not read but other loaders do are graded too: the body of an object
    ``.npy`` (``numpy.load(allow_pickle=True)``), a compressed pickle (``joblib.load``).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        head = b""
    if not head.startswith((b"PK", b"\x80")):  # not torch's own layouts: maybe a pickle inside a wrapper
        kind = sniff_pickle(path)
        if kind in ("npy_object", "compressed_pickle"):
            return _grade_embedded(path, kind)
    try:
        found = find_torch_pickles(path)
    except OSError as exc:
        return FileGrade(SafetyInfo(VERDICT_UNKNOWN, reasons=(f"cannot read ({exc.strerror})",)), "unknown",
                         f"{path}: cannot read ({exc.strerror})")
    grades: list[tuple[str, PickleGrade]] = []
    layout = found.layout
    error = found.refused
    if found.layout == "legacy_or_pickle":
        layout, error = _legacy_sequence(found, grades)
        if error and found.truncated:  # a pickle runs past the head read: read up to the limit and redo
            found, grades = find_torch_pickles(path, head_bytes=MAX_PICKLE_BYTES), []
            layout, error = _legacy_sequence(found, grades)
    elif found.layout == "torch_tar":
        error = error or _tar_sequence(found, grades)
    else:
        grades = [(label, grade_pickle(data, start)) for label, data, start in found.pickles]
        error = error or next((f"{label}: {g.error}" for label, g in grades if g.error), None)
    info = _combine(grades, found)
    return FileGrade(info, layout, error)


def _grade_embedded(path: Path, kind: str) -> FileGrade:
    try:
        if kind == "npy_object":
            with open(path, "rb") as fh:
                data = fh.read(MAX_PICKLE_BYTES)
            start = npy_payload_offset(data[:16]) or 0
        else:
            data, start = decompressed(path, MAX_PICKLE_BYTES) or b"", 0
    except OSError as exc:
        return FileGrade(SafetyInfo(VERDICT_UNKNOWN, reasons=(f"cannot read ({exc.strerror})",)), kind, str(exc))
    label = "object array" if kind == "npy_object" else "decompressed pickle"
    grade = grade_pickle(data, start)
    info = _combine([(label, grade)], TorchPickles(kind))
    return FileGrade(info, kind, f"{label}: {grade.error}" if grade.error else None)


def _legacy_sequence(found: TorchPickles, grades: list[tuple[str, PickleGrade]]) -> tuple[str, str | None]:
    """Magic, protocol, sys_info, object, keys: each unpickled in full (the magic one even in a bare pickle)."""
    _, data, _ = found.pickles[0]
    if not data:
        return "unknown", "empty file"
    offset = 0
    speculative = False  # set by each pickle for the next one
    for i, label in enumerate(_LEGACY_LABELS):
        grade = grade_pickle(data, offset)
        if i > 0 and grade.error and speculative:
            # the previous value was computed, and nothing pickled follows: torch stopped there
            return ("pickle" if i == 1 else "torch_legacy"), None
        grades.append((label, grade))
        if grade.error:
            if i == 0:
                return "unknown", f"not a torch checkpoint (neither a zip, a tar nor a pickle: {grade.error})"
            return "torch_legacy", f"{label} pickle: {grade.error}"
        expected = {0: LEGACY_MAGIC, 1: LEGACY_PROTOCOL}.get(i)
        speculative = grade.computed and expected is not None  # a call could have returned the constant
        if expected is not None and grade.value != expected and not speculative:
            return ("pickle" if i == 0 else "torch_legacy"), None  # torch raises here, after unpickling it
        offset = grade.end
    return "torch_legacy", None


def _tar_sequence(found: TorchPickles, grades: list[tuple[str, PickleGrade]]) -> str | None:
    """storages: count, then (args pickle, int64 count, raw bytes)*, views; tensors: count, (args, dims)*; pickle."""
    for label, data, _ in found.pickles:
        offset = 0

        def take(what: str) -> PickleGrade:
            nonlocal offset
            grade = grade_pickle(data, offset)
            grades.append((f"{label} {what}", grade))
            offset = grade.end
            return grade

        if label == "pickle":
            g = take("object")
            if g.error:
                return f"pickle member: {g.error}"
            continue
        count = take("count")
        if count.error or not isinstance(count.value, int):
            return f"{label} member: no readable count"
        for _ in range(min(count.value, len(data))):
            args = take("entry")
            if args.error:
                return f"{label} member: {args.error}"
            if label == "storages":
                itemsize = next((s for q in args.globals if (s := legacy_storage_itemsize(q))), None)
                if itemsize is None or offset + 8 > len(data):
                    return "storages member: unknown storage type"
                (numel,) = struct.unpack_from("<q", data, offset)
                offset += 8 + max(numel, 0) * itemsize
            else:
                if offset + 8 > len(data):
                    return "tensors member: truncated"
                (ndim,) = struct.unpack_from("<i", data, offset)
                offset += 8 + 16 * max(ndim, 0) + 8
            if offset > len(data):
                return f"{label} member: truncated"
        if label == "storages" and take("views").error:
            return "storages member: unreadable views"
    return None


def _combine(grades: list[tuple[str, PickleGrade]], found: TorchPickles) -> SafetyInfo:
    reasons = [f"ambiguous file: {r}" for r in found.ambiguous]
    verdict = VERDICT_UNSAFE if found.ambiguous else VERDICT_SAFE
    globals_: dict[str, None] = {}
    offending: dict[str, None] = {}
    classes: dict[str, None] = {}
    for label, grade in grades:
        globals_.update(dict.fromkeys(grade.globals))
        offending.update(dict.fromkeys(grade.offending))
        classes.update(dict.fromkeys(grade.classes))
        reasons.extend(f"{label}: {r}" for r in grade.reasons)
        if ORDER[grade.verdict] > ORDER[verdict]:
            verdict = grade.verdict
    if not grades and verdict == VERDICT_SAFE:
        verdict = VERDICT_UNKNOWN  # nothing torch would read: not a checkpoint we can vouch for
        if found.refused:
            reasons.append(found.refused)
    if verdict == VERDICT_NEEDS_CODE:
        offending.update(dict.fromkeys(classes))
    return SafetyInfo(verdict, tuple(globals_), tuple(offending), tuple(classes), tuple(dict.fromkeys(reasons)))


# -- file analysis -------------------------------------------------------------


@dataclass
class PickleAnalysis:
    safety: SafetyInfo
    torchfile: TorchFile | None  # None if the file could not be fully read
    error: str | None = None  # why it could not be read (corrupt, not a torch file...)


def analyze_file(path: str | os.PathLike[str]) -> PickleAnalysis:
    """The verdict (``grade_file``) plus the inert read of the tensors (``torchfile``) when there is one."""
    path = Path(path)
    graded = grade_file(path)
    safety = graded.safety
    ambiguous = [r for r in safety.reasons if r.startswith("ambiguous")]
    if ambiguous:  # readers disagree on its content: never read it
        return PickleAnalysis(safety, None, f"{path}: refusing an {ambiguous[0]}")
    if graded.layout not in ("torch_zip", "torch_legacy", "pickle"):
        return PickleAnalysis(safety, None, graded.error or f"{path}: a {graded.layout} file, not a checkpoint "
                                                           "hubmgr reads")
    try:
        if graded.layout == "pickle":
            tf = load_pickle_file(path, strict=False)
            return PickleAnalysis(safety, tf, f"{path.name}: a bare pickle, not a torch checkpoint")
        return PickleAnalysis(safety, load_torch_file(path, strict=False))
    except CorruptFileError as exc:
        return PickleAnalysis(safety, None, exc.message)
    except HubmgrError as exc:  # pragma: no cover - strict=False raises nothing else
        return PickleAnalysis(safety, None, exc.message)


def merge(infos: list[SafetyInfo], names: list[str] | None = None) -> SafetyInfo:
    """The verdict of several files (a model dir): the worst one wins, globals and reasons are united.

    With ``names`` (one per info), ``per_file`` records each file's verdict and reasons say which file.
    """
    if not infos:
        return SafetyInfo(VERDICT_UNKNOWN)
    worst = max(infos, key=lambda i: ORDER.get(i.verdict, 1))
    unite = lambda attr: tuple(dict.fromkeys(x for i in infos for x in getattr(i, attr)))  # noqa: E731
    if names is None:
        return SafetyInfo(worst.verdict, unite("globals"), unite("offending"), unite("classes_needed"),
                          unite("reasons"))
    reasons = tuple(dict.fromkeys(f"{n}: {r}" for n, i in zip(names, infos) for r in i.reasons))
    per_file = {n: i.verdict for n, i in zip(names, infos)}
    return SafetyInfo(worst.verdict, unite("globals"), unite("offending"), unite("classes_needed"), reasons,
                      per_file)
