"""Discover and inspect checkpoints: headers and inert pickle reads only, nothing is executed.

Kinds found on disk:
- HF model dirs (``config.json`` + ``model*.safetensors`` / ``pytorch_model*.bin`` / ``*.index.json``);
- Trainer ``checkpoint-N`` dirs (``trainer_state.json``: step, best metric, eval metrics);
- single files ``.pth .pt .bin .ckpt .safetensors`` outside such dirs;
- Git LFS pointer files standing where weights should be (``kind="lfs_pointer"``).

Core actions: ``scan`` (records in the catalog), ``list_checkpoints``, ``inspect_checkpoint``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .catalog import Catalog
from .errors import CorruptFileError, HubmgrError, NotFoundError
from .formats.hashing import BufferedHashCache, HashStats, sha256_cached
from .rescan import fingerprint
from .formats.layout import (CHECKPOINT_SUFFIXES, CONFIG_FACTS, CONFIG_FILE, HF_WEIGHT_RE, NOT_PICKLE_SUFFIXES,
                             TOKENIZER_FILES, architecture_of, holds_pickles, index_shards, read_config,
                             sniff_torch_file)
from .formats.lfs_pointer import LfsPointer, read_lfs_pointer
from .formats.safetensors_header import SafetensorsHeader, read_safetensors_header
from .models import (VERDICT_NOT_PICKLE, VERDICT_UNKNOWN, CheckpointInfo, CheckpointList, DeleteResult,
                     FileInfo, SafetyInfo,
                     ScanResult, TensorInfo)
from .progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress
from .stored import CheckpointSeq, Stored, info_from_dict  # noqa: F401  (info_from_dict: re-exported)
from .sync_state import sync_states

SKIP_DIRS = {".git", ".hubmgr", "__pycache__", ".cache", "node_modules", ".venv", ".ipynb_checkpoints"}
METRIC_WORDS = ("loss", "acc", "metric", "eval", "val", "score", "ppl", "perplexity", "f1", "bleu", "rouge")
NOISE_METRIC_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second", "_samples")



# -- discovery -----------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    path: str  # absolute, inside the scanned root (symlinks inside the root kept as links)
    kind: str  # "dir" | "file"
    fingerprint: str | None = None  # set when discovery already found it unchanged (rescan.fingerprint)


@dataclass
class _Walk:
    root: Path
    candidates: list[Candidate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    known: Mapping[str, str | None] = field(default_factory=dict)  # checkpoint path -> stored fingerprint
    known_not: Mapping[str, str] = field(default_factory=dict)  # sniffed, not a checkpoint: path -> fingerprint
    not_checkpoints: list[tuple[str, str]] = field(default_factory=list)  # this walk's (path, fingerprint)
    hash_files: bool = True

    def sniffed(self, path: str, sniff: Callable[[str], bool]) -> tuple[bool, str | None]:
        """Is this file, told apart by its first bytes, a checkpoint? (and its fingerprint if taken).

        One unchanged since the last scan (its stat fingerprint) is not opened again: the answer of
        the last scan stands, a checkpoint or a file found not to be one.
        """
        fp = None
        if path in self.known or path in self.known_not:
            fp = fingerprint(path, is_dir=False, hash_files=self.hash_files)
            if fp is not None and self.known.get(path) == fp:
                return True, fp
            if fp is not None and self.known_not.get(path) == fp:
                self.not_checkpoints.append((path, fp))
                return False, None
        if sniff(path):
            return True, None
        fp = fp or fingerprint(path, is_dir=False, hash_files=self.hash_files)
        if fp is not None:
            self.not_checkpoints.append((path, fp))
        return False, None


def is_model_dir(path: str | os.PathLike[str], names: Iterable[str] | None = None) -> bool:
    names = set(names if names is not None else _listdir(path))
    has_config = CONFIG_FILE in names
    has_weights = any(HF_WEIGHT_RE.match(n) for n in names)
    from .formats.trainer_state import checkpoint_step

    return has_weights and (has_config or checkpoint_step(path) is not None or "trainer_state.json" in names)


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def discover(root: str | os.PathLike[str], *, known: Mapping[str, str | None] | None = None,
             known_not: Mapping[str, str] | None = None, not_checkpoints: list[tuple[str, str]] | None = None,
             hash_files: bool = True) -> tuple[list[Candidate], list[str]]:
    """Checkpoints under ``root`` (a dir or one file), without following symlinks out of it.

    A file told apart by its first bytes (``.bin``, ``.pkl``, no suffix...) that is unchanged
    since the last scan is not opened again: ``known`` (checkpoint path -> stored fingerprint) and
    ``known_not`` (files found not to be checkpoints) say what it was. ``not_checkpoints`` receives
    this walk's (path, fingerprint) of such files that are not checkpoints, for the next scan.
    """
    root_path = Path(os.path.abspath(root))
    if not root_path.exists() and not root_path.is_symlink():
        raise NotFoundError(f"{root} does not exist")
    real_root = Path(os.path.realpath(root_path))
    walk = _Walk(real_root, known=known or {}, known_not=known_not or {},
                 not_checkpoints=not_checkpoints if not_checkpoints is not None else [], hash_files=hash_files)
    if real_root.is_file():
        walk.candidates.append(Candidate(str(real_root), "file"))
        return walk.candidates, walk.warnings
    _walk_dir(str(real_root), walk)
    return walk.candidates, walk.warnings


def _holds_pickles(path: str) -> bool:
    return holds_pickles(Path(path))


def _inside(path: str, root: Path) -> bool:
    root_s = str(root)
    return path == root_s or path.startswith(root_s.rstrip(os.sep) + os.sep)


def _walk_dir(directory: str, walk: _Walk) -> None:
    # str paths, not Path objects: this runs for every entry of a workspace on every rescan
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        walk.warnings.append(f"{directory}: cannot list ({exc.strerror})")
        return
    names = [e.name for e in entries]
    model_dir = is_model_dir(directory, names)
    if model_dir:
        walk.candidates.append(Candidate(directory, "dir"))
    for entry in entries:
        try:
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not _inside(target, walk.root):
                    if entry.name.endswith(CHECKPOINT_SUFFIXES) or os.path.isdir(entry.path):
                        walk.warnings.append(f"{entry.path}: symlink to {target}, outside the scanned root; "
                                             "not followed")
                    continue
                if os.path.isdir(target):
                    continue  # its real location inside the root is scanned anyway
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    _walk_dir(entry.path, walk)
            elif model_dir:
                continue  # its files belong to the dir's checkpoint
            elif entry.name.endswith(CHECKPOINT_SUFFIXES) and entry.is_file():
                found, fp = walk.sniffed(entry.path, sniff_torch_file) if entry.name.endswith(".bin") else (True, None)
                if found:
                    walk.candidates.append(Candidate(entry.path, "file", fp))
            elif (os.path.splitext(entry.name)[1] not in NOT_PICKLE_SUFFIXES and entry.is_file(follow_symlinks=False)
                  and (sniffed := walk.sniffed(entry.path, _holds_pickles))[0]):
                walk.candidates.append(Candidate(entry.path, "file", sniffed[1]))  # .pkl .pth.tar .joblib .npy ...
        except OSError as exc:
            walk.warnings.append(f"{entry.path}: unreadable ({exc.strerror})")


# -- inspection ----------------------------------------------------------------


@dataclass
class _Ctx:
    catalog: Any  # Catalog, BufferedHashCache or None: where sha256_cached looks
    stats: HashStats
    hash_files: bool = True
    root: Path | None = None  # scan root: files of a model dir that link outside it are left out


def inspect_checkpoint(path: str | os.PathLike[str], *, catalog: Catalog | None = None, hash_files: bool = True,
                       progress: ProgressSink = no_progress, cancel: CancelToken | None = None) -> CheckpointInfo:
    """Everything we can tell about one checkpoint (dir or file) without executing it.

    With a ``catalog``, file hashes come from (and go to) its cache and ``sync_state`` is filled in.
    """
    check_cancel(cancel)
    p = Path(os.path.abspath(path))
    if not p.exists():
        raise NotFoundError(f"{path} does not exist", "give a checkpoint dir or weights file")
    ctx = _Ctx(catalog, HashStats(), hash_files)
    progress(ProgressEvent("inspect", f"inspecting {p.name}", unit="checkpoints"))
    if p.is_dir():
        if not is_model_dir(p):
            raise NotFoundError(f"{p} is not a checkpoint dir (no config.json with model weights)",
                                "run `hubmgr scan` on it to find checkpoints inside")
        info = _inspect_dir(p, ctx)
    else:
        info = _inspect_file(p, ctx)
    progress(ProgressEvent("inspect", f"inspected {p.name}", 1, 1, unit="checkpoints", finished=True))
    if catalog is not None:
        info = replace(info, sync_state=sync_states(catalog)(info))
    from .lineage import lineage_of

    return replace(info, lineage=lineage_of(info.path, catalog=catalog))


def _inspect_candidate(candidate: Candidate, ctx: _Ctx) -> CheckpointInfo:
    if candidate.kind == "dir":
        return _inspect_dir(Path(candidate.path), ctx)
    return _inspect_file(Path(candidate.path), ctx)


def _file_info(path: Path, rel: str, ctx: _Ctx) -> FileInfo:
    size = path.stat().st_size
    digest = sha256_cached(path, ctx.catalog, ctx.stats) if ctx.hash_files else None
    return FileInfo(rel, size, digest)


def _unknown(path: Path, name: str, size: int, message: str, files: tuple[FileInfo, ...] = ()) -> CheckpointInfo:
    return CheckpointInfo(path=str(path), name=name, kind="unknown", format="unknown", size_bytes=size,
                          safety=SafetyInfo(VERDICT_UNKNOWN), files=files, warnings=(message,))


def _inspect_file(path: Path, ctx: _Ctx) -> CheckpointInfo:
    size = path.stat().st_size
    files = (_file_info(path, path.name, ctx),)
    pointer = read_lfs_pointer(path)
    if pointer is not None:
        return _lfs_info(path, path.name, size, files, {path.name: pointer})
    if path.suffix == ".safetensors":
        try:
            header = read_safetensors_header(path)
        except CorruptFileError as exc:
            return _unknown(path, path.name, size, exc.message, files)
        return _safetensors_info(path, path.name, "safetensors", "safetensors", size, files,
                                 {path.name: header})
    return _torch_file_info(path, size, files)


def _lfs_info(path: Path, name: str, size: int, files: tuple[FileInfo, ...],
              pointers: dict[str, LfsPointer], **kw: Any) -> CheckpointInfo:
    names = ", ".join(sorted(pointers))
    return CheckpointInfo(
        path=str(path), name=name, kind="lfs_pointer", format="lfs_pointer", size_bytes=size,
        safety=SafetyInfo(VERDICT_UNKNOWN), files=files,
        warnings=(f"Git LFS pointer file(s) instead of weights: {names} (run `git lfs pull` where this was cloned)",),
        extra={**kw.pop("extra", {}), "lfs_pointers": {n: {"oid": p.oid, "size": p.size} for n, p in pointers.items()}},
        **kw,
    )


def _safetensors_info(path: Path, name: str, kind: str, fmt: str, size: int, files: tuple[FileInfo, ...],
                      headers: dict[str, SafetensorsHeader], **kw: Any) -> CheckpointInfo:
    tensors: list[TensorInfo] = []
    params = 0
    dtypes: set[str] = set()
    metadata: dict[str, str] = {}
    sharded = len(headers) > 1
    for file_name, header in headers.items():
        metadata.update(header.metadata)
        for tname, t in header.tensors.items():
            tensors.append(TensorInfo(tname, t.dtype, t.shape, file_name if sharded else None))
            params += t.numel
            dtypes.add(t.dtype)
    extra = {**kw.pop("extra", {}), "metadata": metadata}
    return CheckpointInfo(path=str(path), name=name, kind=kind, format=fmt, size_bytes=size, params=params,
                          dtypes=tuple(sorted(dtypes)), safety=SafetyInfo(VERDICT_NOT_PICKLE), files=files,
                          tensors=tuple(tensors), extra=extra, **kw)


def _torch_file_info(path: Path, size: int, files: tuple[FileInfo, ...]) -> CheckpointInfo:
    from .formats.pickle_scan import analyze_file
    from .formats.torchfile import find_state_dict, shared_storage_groups, tied_groups

    analysis = analyze_file(path)
    tf = analysis.torchfile
    if tf is None or tf.format == "pickle":
        info = _unknown(path, path.name, size, analysis.error or f"{path.name}: unreadable", files)
        return replace(info, safety=analysis.safety, format="pickle" if tf is not None else "unknown")
    view = find_state_dict(tf.root)
    refs = view.tensors
    tied = tied_groups(refs)
    tensors = tuple(TensorInfo(n, r.dtype, r.shape) for n, r in refs.items())
    params = _unique_params(refs, tied)
    step = _int_or_none(view.metadata.get("global_step") or view.metadata.get("step"))
    metrics = {k: float(v) for k, v in view.metadata.items() if _metric_like(k) and _float_or_none(v) is not None}
    extra: dict[str, Any] = {"source_key": view.source_key, "class_name": view.class_name,
                             "dropped": dict(list(view.dropped.items())[:50]), "metadata": view.metadata,
                             "shared_storage_groups": [list(g) for g in shared_storage_groups(refs) if g not in tied],
                             "pickle_called": list(tf.called), "pickle_constructed": list(tf.constructed)}
    warnings = () if refs or view.kind == "full_model_pickle" else ("no tensors found",)
    return CheckpointInfo(path=str(path), name=path.name, kind=view.kind, format=tf.format, size_bytes=size,
                          params=params, dtypes=tuple(sorted({r.dtype for r in refs.values()})), step=step,
                          metrics=metrics, safety=analysis.safety, files=files, tensors=tensors,
                          tied_groups=tuple(tied), warnings=warnings, extra=extra)


def _unique_params(refs: dict, tied: list[tuple[str, ...]]) -> int:
    skip = {name for group in tied for name in group[1:]}
    return sum(r.numel for n, r in refs.items() if n not in skip)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _metric_like(key: str) -> bool:
    k = key.lower()
    return any(w in k for w in METRIC_WORDS) and not k.endswith(NOISE_METRIC_SUFFIXES)


def _inspect_dir(directory: Path, ctx: _Ctx) -> CheckpointInfo:
    from .formats.trainer_state import checkpoint_step

    names, outside = _dir_files(directory, ctx.root)
    files = tuple(_file_info(directory / n, n, ctx) for n in names)
    size = sum(f.size_bytes for f in files)
    step_from_name = checkpoint_step(directory)
    name = f"{directory.parent.name}/{directory.name}" if step_from_name is not None else directory.name
    warnings: list[str] = [f"{n}: symlink outside the scanned root; not followed" for n in outside]
    config, config_warning = read_config(directory)
    if config_warning:
        warnings.append(config_warning)
    common: dict[str, Any] = {
        "model_type": config.get("model_type") if isinstance(config.get("model_type"), str) else None,
        "architecture": architecture_of(config),
        "has_tokenizer": any(t in names for t in TOKENIZER_FILES),
        "step": step_from_name,
    }
    extra: dict[str, Any] = {}
    if config:
        extra["config"] = {k: config[k] for k in CONFIG_FACTS if k in config}
    is_trainer = _add_training_facts(directory, names, common, extra, warnings)
    kind = "trainer_checkpoint" if step_from_name is not None or is_trainer else "hf_model"

    weight_names = [n for n in names if HF_WEIGHT_RE.match(n) and not n.endswith(".index.json")]
    index_names = [n for n in names if n.endswith(".index.json") and HF_WEIGHT_RE.match(n)]
    pointers = {n: p for n in weight_names + index_names if (p := read_lfs_pointer(directory / n)) is not None}
    if pointers:
        lfs = _lfs_info(directory, name, size, files, pointers, extra=extra, **common)
        return replace(lfs, warnings=tuple(warnings) + lfs.warnings)
    for index in index_names:
        try:
            shards = set(index_shards(directory / index))
        except CorruptFileError as exc:
            warnings.append(f"{index}: unreadable index ({type(exc.__cause__).__name__})")
            shards = set()
        missing = [s for s in shards if s not in names]
        if missing:
            warnings.append(f"{index}: missing shard(s) {', '.join(missing[:3])}")
        extra.setdefault("index", {})[index] = sorted(shards)

    base = {"path": str(directory), "name": name, "kind": kind, "size_bytes": size, "files": files,
            "extra": extra, **common}
    bin_infos = {n: _torch_file_info(directory / n, (directory / n).stat().st_size, ())
                 for n in weight_names if n.endswith(".bin")}
    # Every other pickle in the dir counts too (optimizer.pt, training_args.bin, extra_weights.pth ...):
    # resuming training or a user's script loads them. Found by content, whatever their names.
    base["pickles"] = {**{n: i.safety for n, i in bin_infos.items()}, **_other_pickles(directory, names, bin_infos)}
    for n, i in bin_infos.items():
        warnings.extend(w if w.startswith(str(directory)) else f"{n}: {w}" for w in i.warnings)
    safetensors_files = [n for n in weight_names if n.endswith(".safetensors")]
    if safetensors_files:
        return _dir_from_safetensors(directory, safetensors_files, bin_infos, base, warnings)
    if bin_infos:
        return _dir_from_bins(bin_infos, base, warnings)
    return replace(_unknown(directory, name, size, "no weights found", files), warnings=tuple(warnings) + (
        "no weights found",))


def _other_pickles(directory: Path, names: list[str], done: dict[str, Any]) -> dict[str, SafetyInfo]:
    from .formats.pickle_scan import grade_file
    from .formats.sniff import sniff_pickle

    return {n: grade_file(directory / n).safety for n in names
            if n not in done and not n.endswith((".safetensors", ".json")) and sniff_pickle(directory / n)}


def _dir_safety(pickles: dict[str, SafetyInfo]) -> SafetyInfo:
    """A model dir's verdict: the worst of all its pickles (``per_file`` names each); none: not_pickle."""
    from .formats.pickle_scan import merge

    return merge(list(pickles.values()), list(pickles)) if pickles else SafetyInfo(VERDICT_NOT_PICKLE)


def _add_training_facts(directory: Path, names: list[str], common: dict[str, Any], extra: dict[str, Any],
                        warnings: list[str]) -> bool:
    """Fill step/metrics/best_metric from trainer_state.json and *_results.json; True if a Trainer checkpoint."""
    from .formats.trainer_state import read_training_metrics

    if not any(n in names for n in ("trainer_state.json", "all_results.json", "eval_results.json")):
        return False
    training = read_training_metrics(directory)
    warnings.extend(training.warnings)
    if training.global_step is not None:
        common["step"] = training.global_step
    common["metrics"] = {k: v for k, v in training.eval_metrics.items() if not k.endswith(NOISE_METRIC_SUFFIXES)}
    common["best_metric"] = training.best_metric
    extra["trainer"] = {
        "global_step": training.global_step, "epoch": training.epoch, "best_metric": training.best_metric,
        "best_model_checkpoint": training.best_model_checkpoint, "metric_for_best": training.metric_for_best,
        "greater_is_better": training.greater_is_better, "eval_step": training.eval_step,
        "evals": len(training.eval_history), "train_metrics": training.train_metrics,
        "num_train_samples": training.num_train_samples, "results_from_parent": training.results_from_parent,
        "sources": list(training.sources),
    }
    return "trainer_state.json" in names and "optimizer.pt" in names


def _dir_from_safetensors(directory: Path, safetensors_files: list[str], bin_infos: dict[str, CheckpointInfo],
                          base: dict[str, Any], warnings: list[str]) -> CheckpointInfo:
    headers: dict[str, SafetensorsHeader] = {}
    for n in safetensors_files:
        try:
            headers[n] = read_safetensors_header(directory / n)
        except CorruptFileError as exc:
            warnings.append(exc.message)
    fmt = "sharded_safetensors" if len(safetensors_files) > 1 else "safetensors"
    fields = {k: v for k, v in base.items() if k not in ("path", "name", "kind", "size_bytes", "files", "pickles")}
    info = _safetensors_info(directory, base["name"], base["kind"], fmt, base["size_bytes"], base["files"],
                             headers, **fields)
    # A pytorch_model.bin lying next to the safetensors is still a pickle someone may load.
    safety = _dir_safety(base["pickles"])
    if not headers and safety.verdict in (VERDICT_NOT_PICKLE, "safe"):
        safety = replace(safety, verdict=VERDICT_UNKNOWN)
    return replace(info, safety=safety, warnings=tuple(warnings))


def _dir_from_bins(bin_infos: dict[str, CheckpointInfo], base: dict[str, Any], warnings: list[str]
                   ) -> CheckpointInfo:
    sharded = len(bin_infos) > 1
    infos = list(bin_infos.values())
    tensors = tuple(replace(t, file=n if sharded else None) for n, i in bin_infos.items() for t in i.tensors)
    base["extra"]["weights_kind"] = [i.kind for i in infos]
    pickles = base.pop("pickles")
    return CheckpointInfo(
        format="sharded_bin" if sharded else infos[0].format,
        params=sum(i.params or 0 for i in infos), dtypes=tuple(sorted({d for i in infos for d in i.dtypes})),
        safety=_dir_safety(pickles), tensors=tensors,
        tied_groups=tuple(g for i in infos for g in i.tied_groups), warnings=tuple(warnings), **base)


def _dir_files(directory: Path, root: Path | None) -> tuple[list[str], list[str]]:
    """Regular files of a checkpoint dir, and the names of symlinks pointing outside ``root``."""
    names, outside = [], []
    for n in sorted(_listdir(directory)):
        path = directory / n
        if root is not None and path.is_symlink() and not _inside(os.path.realpath(path), root):
            outside.append(n)
        elif path.is_file():
            names.append(n)
    return names, outside


# -- core actions --------------------------------------------------------------


def scan(paths: Iterable[str | os.PathLike[str]], *, catalog: Catalog, progress: ProgressSink = no_progress,
         cancel: CancelToken | None = None, hash_files: bool = True) -> ScanResult:
    """Find checkpoints under ``paths``, inspect them, record them in ``catalog``.

    A checkpoint whose stat fingerprint (rescan.py) equals the stored one is not read again, and
    its stored inspection is not even parsed: the result holds the catalog's text for it
    (``stored.CheckpointSeq``). Vanished catalog entries under a scanned root are forgotten. A
    file that cannot be read becomes a warning (and an ``unknown`` entry); the scan goes on.
    """
    stats = HashStats()
    warnings: list[str] = []
    found: list[CheckpointInfo | Stored] = []  # inspected now, or (path, stored text) when unchanged
    roots: list[str] = []
    forgotten = 0
    for raw in paths:
        check_cancel(cancel)
        progress(ProgressEvent("scan:discover", f"looking for checkpoints in {raw}", unit="dirs"))
        root = str(Path(os.path.realpath(raw)))
        stored = {row[0]: row for row in catalog.checkpoint_rows_under(root)}  # path, fingerprint, warnings, info
        known_not = catalog.not_checkpoints_under(root)
        not_checkpoints: list[tuple[str, str]] = []
        candidates, walk_warnings = discover(raw, known={p: row[1] for p, row in stored.items()},
                                             known_not=known_not, not_checkpoints=not_checkpoints,
                                             hash_files=hash_files)
        if dict(not_checkpoints) != known_not:
            catalog.replace_not_checkpoints_under(root, not_checkpoints)
        roots.append(root)
        warnings.extend(walk_warnings)
        infos: list[CheckpointInfo] = []  # inspected now
        fingerprints: dict[str, str] = {}
        present: set[str] = set()
        hashes = BufferedHashCache(catalog, root)
        ctx = _Ctx(hashes, stats, hash_files, Path(root))
        try:
            for i, candidate in enumerate(candidates):
                check_cancel(cancel)
                key = candidate.path
                present.add(key)
                fp = candidate.fingerprint or fingerprint(candidate.path, is_dir=candidate.kind == "dir",
                                                          hash_files=hash_files)
                row = stored.get(key)
                if fp is not None and row is not None and row[1] == fp:
                    if row[2] and row[2] != "[]":
                        warnings.extend(_located(key, json.loads(row[2])))
                    found.append((key, row[3]))
                    continue
                progress(ProgressEvent("scan:inspect", f"inspecting {os.path.basename(key)}", i, len(candidates),
                                       unit="checkpoints"))
                info = _safe_inspect(candidate, ctx)
                if fp is not None:
                    fingerprints[info.path] = fp
                warnings.extend(_located(info.path, info.warnings))
                infos.append(info)
                found.append(info)
        finally:
            hashes.flush()  # hashes done before a cancel are kept
        progress(ProgressEvent("scan:inspect", "inspected", len(candidates), len(candidates), unit="checkpoints",
                               finished=True))
        catalog.upsert_checkpoints(infos, fingerprints)
        _record_lineage(infos, catalog, warnings)
        if Path(root).is_dir():
            forgotten += catalog.forget_missing(root, present)
    return ScanResult(CheckpointSeq(found), tuple(dict.fromkeys(warnings)), stats.files_hashed, stats.bytes_hashed,
                      forgotten, tuple(roots))


def _located(path: str, warnings: Iterable[str]) -> list[str]:
    """A checkpoint's warnings as scan lines: each starts with a path."""
    return [w if w.startswith("/") else f"{path}: {w}" for w in warnings]


def _record_lineage(infos: list[CheckpointInfo], catalog: Catalog, warnings: list[str]) -> None:
    """Where each checkpoint came from (base model, data, code commit, parent), recorded once per change."""
    from . import lineage

    mtimes = {}
    for info in infos:
        try:
            mtimes[info.path] = os.stat(info.path).st_mtime
        except OSError:
            continue
    try:
        lineage.record_for_scan(list(mtimes), catalog, mtimes=mtimes)
    except OSError as exc:  # lineage is an extra: it never fails a scan
        warnings.append(f"lineage not recorded: {exc}")


def _safe_inspect(candidate: Candidate, ctx: _Ctx) -> CheckpointInfo:
    name = os.path.basename(candidate.path)
    try:
        return _inspect_candidate(candidate, ctx)
    except HubmgrError as exc:
        message = exc.message
    except OSError as exc:
        message = f"unreadable ({exc.strerror or exc})"
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop a scan of thousands
        message = f"could not inspect ({type(exc).__name__}: {exc})"
    try:
        size = os.stat(candidate.path).st_size if candidate.kind == "file" else 0
    except OSError:
        size = 0
    return _unknown(Path(candidate.path), name, size, message)


def list_checkpoints(*, catalog: Catalog, progress: ProgressSink = no_progress,
                     cancel: CancelToken | None = None) -> CheckpointList:
    """Every catalogued checkpoint with its derived sync state (tensor lists left out).

    The stored inspections are parsed only when the caller looks at them (``stored.CheckpointSeq``):
    ``ls --json`` streams the stored texts as they are.
    """
    check_cancel(cancel)
    rows = catalog.checkpoint_texts()
    warnings = tuple(f"{path}: no longer on disk (rescan to forget it)" for path, _ in rows
                     if not os.path.exists(path))
    from .scores import score_column

    column = score_column(catalog.list_evals())
    return CheckpointList(CheckpointSeq(rows, sync_states(catalog)), warnings,
                          column.label if column.metric else None, dict(column.values or {}))


def delete_checkpoint(path: str | os.PathLike[str], *, catalog: Catalog,
                      cancel: CancelToken | None = None) -> DeleteResult:
    """Remove a checkpoint (file or dir) from disk and from the catalog.

    Renaming it aside first makes the delete all-or-nothing as far as the name is concerned:
    the checkpoint is either still there, or gone from disk and catalog.
    """
    import shutil

    target = Path(path)
    key = str(target)
    if not target.exists() and not target.is_symlink():
        catalog.delete_checkpoint(key)
        raise NotFoundError(f"{key} is already gone", "rescan to refresh the catalog")
    check_cancel(cancel)
    was_pushed = bool(catalog.list_pushes(key))
    size = _tree_size(target)
    trash = target.with_name(f".{target.name}.hubmgr-deleting-{os.getpid()}")
    try:
        target.rename(trash)
    except OSError as exc:
        raise HubmgrError(f"cannot delete {key}: {exc.strerror}", "check permissions") from exc
    catalog.delete_checkpoint(key)
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)
    return DeleteResult(key, size, was_pushed)


def _tree_size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir() or p.is_symlink())
