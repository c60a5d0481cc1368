"""``hubmgr convert``: PyTorch pickles -> safetensors, safely, streaming, verified.

Reading never runs the pickle: ``torchfile`` unpickles with an allow-list and
turns user classes into inert stubs, so full-model pickles convert without the
user's class and dangerous pickles are refused (``pickle_safety`` verdict).
Every tensor is a byte range of the source file; contiguous ones are copied
straight into the output with ``os.copy_file_range`` (no torch, no copy in
memory), strided views get a contiguous copy of that one tensor, and only
``--dtype`` imports torch (to round floats). See ``safetensors_writer`` for the
on-disk layout, sharding and atomic temp+rename.

Inputs: a torch file (zip or legacy; state_dict, training checkpoint, full
model) or a model dir with ``pytorch_model.bin`` or sharded
``pytorch_model-0000i-of-0000n.bin`` + ``pytorch_model.bin.index.json``.
Outputs (defaults): ``<stem>.safetensors`` beside a file (``<stem>-safetensors/``
when sharding is asked for); ``<dir>-safetensors/`` for a model dir.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .formats import safetensors_writer as stw
from .formats.layout import BIN_FILE, BIN_INDEX, SAFETENSORS_FILE, SAFETENSORS_INDEX, index_shards, is_pickle_name
from .formats.dtypes import FLOAT_DTYPES, ITEMSIZE, SAFETENSORS_WRITABLE, torch_dtype
from .errors import (ConflictError, CorruptFileError, MissingToolError, NotFoundError, local_os_error,
                     UnsafePickleError, UsageError)
from .models import ConvertResult, OutputFile, TiedGroup, VERDICT_UNSAFE
from .progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress

# Model dirs get sharded like transformers v4 did by default; single files are not sharded unless asked.
DEFAULT_DIR_SHARD_SIZE = 5 * 10**9
TARGET_DTYPES = {"fp16": "F16", "float16": "F16", "f16": "F16", "half": "F16",
                 "bf16": "BF16", "bfloat16": "BF16"}
# Output-side aliases of a tied weight that transformers re-ties from the input embedding
# (its ``_tied_weights_keys``): when such a name shares bytes with another, it is the one left out.
TIED_OUTPUT_NAMES = ("lm_head.weight", "embed_out.weight", "output.weight", "decoder.weight",
                     "cls.predictions.decoder.weight", "lm_head.decoder.weight", "generator_lm_head.weight")
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")


# --- reading the source -------------------------------------------------------


@dataclass
class SourceTensor:
    name: str
    dtype: str  # safetensors code
    shape: tuple[int, ...]
    identity: tuple  # equal for names viewing exactly the same bytes (tied weights)
    source: stw.ByteSource  # FileSpan for contiguous bytes, else a callable making them


@dataclass
class LoadedWeights:
    format: str  # torch_zip | torch_legacy | sharded_bin
    kind: str  # state_dict | training_checkpoint | full_model_pickle | hf_model
    tensors: list[SourceTensor]
    source_key: str | None = None
    class_name: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


def read_weights(path: Path, *, key: str | None = None) -> LoadedWeights:
    """The model weights of one torch file, as byte ranges of it. Refuses unsafe pickles."""
    from .formats import pickle_scan as pickle_safety, torchfile

    analysis = pickle_safety.analyze_file(path)
    if analysis.safety.verdict == VERDICT_UNSAFE:
        offending = analysis.safety.offending or analysis.safety.globals
        why = (f"its pickle imports or calls {', '.join(offending)}" if offending
               else (analysis.safety.reasons or ("it is not safe to read",))[0])
        raise UnsafePickleError(
            f"refusing {path.name}: {why}",
            "nothing was executed; only convert files from sources you trust, or re-save the weights "
            "with torch.save(model.state_dict())",
            globals_=tuple(offending),
        )
    tf = analysis.torchfile
    if tf is None:
        raise CorruptFileError(analysis.error or f"{path}: unreadable torch file",
                               "the file is truncated or not a torch checkpoint; re-save or re-download it")
    if tf.format not in ("torch_zip", "torch_legacy"):
        raise CorruptFileError(f"{path.name}: a bare pickle, not a torch checkpoint (no tensor storages)",
                               "save the weights with torch.save")
    if key is not None and not (isinstance(tf.root, dict) and key in tf.root):
        keys = sorted(map(str, tf.root)) if isinstance(tf.root, dict) else []
        raise NotFoundError(f"no entry {key!r} in {path.name}" + (f" (it has: {', '.join(keys[:12])})" if keys else ""),
                            "pick one of the listed keys with --key")
    view = torchfile.find_state_dict(tf.root, key=key)
    if not view.tensors:
        keys = sorted(map(str, tf.root))[:12] if isinstance(tf.root, dict) else []
        raise NotFoundError(f"no model weights found in {path.name}" + (f" (top-level keys: {', '.join(keys)})"
                                                                       if keys else ""),
                            "name the entry holding the weights with --key")
    tensors = [_source_tensor(path, name, ref) for name, ref in view.tensors.items()]
    return LoadedWeights(tf.format, view.kind, tensors, view.source_key, view.class_name,
                         dict(view.dropped), dict(view.metadata))


def _source_tensor(path: Path, name: str, ref: Any) -> SourceTensor:
    info = ref.storage
    if ref.dtype not in SAFETENSORS_WRITABLE:
        raise UsageError(f"tensor {name!r} has dtype {ref.dtype}, which safetensors cannot store")
    if info.file_offset is None or info.file_offset < 0:
        raise CorruptFileError(f"{path.name}: storage of {name!r} is compressed or not addressable",
                               "re-save the file with torch.save")
    start, end = ref.byte_range()
    if start < 0 or end > info.nbytes:
        raise CorruptFileError(f"{path.name}: tensor {name!r} reaches past its storage", "the file is corrupt")
    identity = (str(path), info.key, ref.dtype, start, ref.shape, ref.stride)
    if ref.is_contiguous():
        source: stw.ByteSource = stw.FileSpan(str(path), info.file_offset + start)
    else:
        source = _strided_copy(str(path), info.file_offset, ref)
    return SourceTensor(name, ref.dtype, tuple(ref.shape), identity, source)


def _strided_copy(path: str, storage_offset: int, ref: Any) -> Callable[[], memoryview]:
    """Bytes of a non-contiguous view (transposes, expands), made contiguous with numpy."""

    def make() -> memoryview:
        import numpy as np

        start, end = ref.byte_range()
        with open(path, "rb") as fh:
            fh.seek(storage_offset + start)
            raw = fh.read(end - start)
        if len(raw) != end - start:
            raise CorruptFileError(f"{path}: storage ends early", "the file is truncated")
        item = np.dtype((np.void, ref.itemsize))
        base = np.frombuffer(raw, dtype=item)
        view = np.lib.stride_tricks.as_strided(base, shape=ref.shape,
                                               strides=tuple(s * ref.itemsize for s in ref.stride))
        return stw.byte_view(np.ascontiguousarray(view).reshape(-1).view(np.uint8))

    return make


# --- shaping the output -------------------------------------------------------


def _strip_prefixes(tensors: list[SourceTensor], prefixes: tuple[str, ...]) -> list[SourceTensor]:
    if not prefixes:
        return tensors
    out, seen = [], {}
    for t in tensors:
        name = t.name
        for p in prefixes:
            if p and name.startswith(p):
                name = name[len(p):]
                break
        if name in seen:
            raise UsageError(f"stripping the prefix makes {seen[name]!r} and {t.name!r} both {name!r}",
                             "strip a shorter prefix")
        seen[name] = t.name
        out.append(SourceTensor(name, t.dtype, t.shape, t.identity, t.source))
    return out


def _prefix_warning(tensors: list[SourceTensor]) -> str | None:
    for p in WRAPPER_PREFIXES:
        if tensors and all(t.name.startswith(p) for t in tensors):
            return f"every tensor name starts with {p!r}; pass --strip-prefix {p} if that is a training wrapper"
    return None


def _tie_rank(name: str) -> int:
    """0: an input embedding (the tie's source), 2: an output head (re-tied on load), 1: other."""
    if any(name == n or name.endswith("." + n) for n in TIED_OUTPUT_NAMES):
        return 2
    parts = name.lower().split(".")
    if any(w in p for p in parts for w in ("embed", "wte", "shared", "tok_emb")):
        return 0
    if any(w in p for p in parts for w in ("head", "output", "decoder", "classifier")):
        return 2
    return 1


def dedupe_tied(tensors: list[SourceTensor], *, keep_output_heads: bool = False
                ) -> tuple[list[SourceTensor], list[TiedGroup]]:
    """Write one name per group of identical views; the others are tied aliases.

    The kept name follows transformers: the input embedding rather than an output
    head (``lm_head.weight`` is re-tied from ``transformer.wte.weight`` on load),
    then the shortest, then the first in order. Slices of one storage (fused q/k/v, a tensor plus a slice of
    it) are different views: each keeps its own bytes. With ``keep_output_heads``
    (config ``tie_word_embeddings: false``) nothing is dropped.
    """
    groups: dict[tuple, list[SourceTensor]] = {}
    for t in tensors:
        groups.setdefault(t.identity, []).append(t)
    if keep_output_heads:
        return tensors, []
    drop: set[str] = set()
    tied: list[TiedGroup] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        order = {t.name: i for i, t in enumerate(members)}
        kept = min(members, key=lambda t: (_tie_rank(t.name), t.name.count("."), len(t.name), order[t.name]))
        others = tuple(t.name for t in members if t is not kept)
        drop.update(others)
        tied.append(TiedGroup(kept.name, others))
    return [t for t in tensors if t.name not in drop], tied


def _read_source(t: SourceTensor, files: stw.SourceFiles) -> bytes | memoryview:
    if isinstance(t.source, stw.FileSpan):
        data = os.pread(files.fd(t.source.path), _nbytes(t), t.source.offset)
        if len(data) != _nbytes(t):
            raise CorruptFileError(f"source ends early while reading {t.name!r}", "the file is truncated")
        return data
    return t.source()


def _nbytes(t: SourceTensor) -> int:
    n = ITEMSIZE[t.dtype]
    for d in t.shape:
        n *= d
    return n


def _cast(t: SourceTensor, target: str, files: stw.SourceFiles) -> SourceTensor:
    """``--dtype``: round a float tensor to F16/BF16 (torch, imported only on this path)."""
    if t.dtype not in FLOAT_DTYPES or t.dtype == target:
        return t

    def make() -> memoryview:
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - torch is in the ml extra
            raise MissingToolError("--dtype needs torch", "pip install 'hubmgr[ml]'") from exc
        raw = bytearray(_read_source(t, files))
        if not raw:
            return memoryview(b"")
        converted = torch.frombuffer(raw, dtype=torch_dtype(t.dtype)).to(torch_dtype(target))
        return stw.byte_view(converted.view(torch.uint8).numpy())

    return SourceTensor(t.name, target, t.shape, t.identity, make)


def _to_write(tensors: list[SourceTensor]) -> list[stw.TensorBytes]:
    return [stw.TensorBytes(t.name, t.dtype, t.shape, t.source) for t in tensors]


# --- model dirs -------------------------------------------------------------------


def _dir_weight_files(src: Path) -> list[Path]:
    if (src / SAFETENSORS_FILE).exists() or (src / SAFETENSORS_INDEX).exists():
        raise UsageError(f"{src} already holds safetensors weights", "nothing to convert")
    index = src / BIN_INDEX
    if index.exists():
        names = index_shards(index)
        missing = [n for n in names if not (src / n).is_file()]
        if missing:
            raise NotFoundError(f"{src}: shard {missing[0]} listed in {BIN_INDEX} is missing",
                                "download or copy the missing shards")
        return [src / n for n in names]
    if (src / BIN_FILE).is_file():
        return [src / BIN_FILE]
    if any(src.glob("*.safetensors")):  # shards without an index, or other names: still nothing to convert
        raise UsageError(f"{src} already holds safetensors weights", "nothing to convert")
    raise NotFoundError(f"{src}: no {BIN_FILE} or {BIN_INDEX} in this folder",
                        "pass the weights file itself (e.g. model.pth) or a transformers model dir")


def _read_model_dir(src: Path, files: list[Path]) -> LoadedWeights:
    tensors: list[SourceTensor] = []
    seen: set[str] = set()
    dropped: dict[str, str] = {}
    fmt = None
    for f in files:
        part = read_weights(f)
        fmt = part.format
        for t in part.tensors:
            if t.name in seen:
                raise CorruptFileError(f"{src}: tensor {t.name!r} appears in two shards")
            seen.add(t.name)
            tensors.append(t)
        dropped.update({f"{f.name}:{k}": v for k, v in part.dropped.items()})
    fmt = "sharded_bin" if len(files) > 1 else fmt or "torch_zip"
    return LoadedWeights(fmt, "hf_model", tensors, dropped=dropped)


def _config(src: Path) -> dict:
    try:
        return json.loads((src / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _files_to_copy(src: Path, weight_files: list[Path]) -> tuple[list[Path], list[str]]:
    skip = {f.resolve() for f in weight_files} | {(src / BIN_INDEX).resolve()}
    copy, skipped = [], []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file() or path.resolve() in skip:
            continue
        if is_pickle_name(path.name):  # never copied into the (safe) output dir
            skipped.append(str(rel))  # pickles (training_args.bin, optimizer.pt) stay out of a safe dir
        else:
            copy.append(path)
    return copy, skipped


# --- the use case ---------------------------------------------------------------


@dataclass
class _Plan:
    out: Path
    as_dir: bool
    shards: list[list[stw.TensorBytes]]
    names: list[str]
    metadata: dict[str, str]
    copies: list[Path]


def default_output(src: Path, *, sharded: bool) -> Path:
    """Where the output goes without ``--out`` (see the module docstring)."""
    if src.is_dir():
        return src.parent / f"{src.name}-safetensors"
    return src.parent / (f"{src.stem}-safetensors" if sharded else f"{src.stem}.safetensors")


def convert_checkpoint(
    src: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    max_shard_size: int | None = None,
    strip_prefix: str | tuple[str, ...] | None = None,
    key: str | None = None,
    dtype: str | None = None,
    force: bool = False,
    verify: bool = True,
    catalog: Any = None,
    progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> ConvertResult:
    """Convert a torch checkpoint file or model dir to safetensors (see the module docstring)."""
    source = Path(src).expanduser().absolute()
    target = _check_options(source, dtype=dtype, max_shard_size=max_shard_size, key=key)
    prefixes = (strip_prefix,) if isinstance(strip_prefix, str) else tuple(strip_prefix or ())
    is_dir = source.is_dir()
    # The output location first: refuse early, before reading gigabytes.
    out_path, as_dir = _output_location(source, out, sharded=max_shard_size is not None)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise local_os_error(exc, f"cannot create {out_path.parent}") from exc
    removed, restored = stw.clean_stale_temps(out_path.parent)  # first: a restored output counts below
    _check_replaceable(out_path, as_dir=as_dir, force=force)
    weight_files = _dir_weight_files(source) if is_dir else [source]
    # The sources' sha256 (the catalog's lineage) is a read of its own: it starts now, on the other
    # core, beside the pickle parsing and the write (hashlib releases the GIL); stopped on failure.
    stop_hashing = CancelToken()
    hasher = stw.Background(_hash_sources, weight_files, catalog, stop_hashing)
    droppers: list[stw.Background] = []
    try:
        warnings = [f"restored {p}: a convert --force was killed between moving it aside and putting the new "
                    "output in place" for p in restored]
        result = _convert(source, weight_files, out_path, as_dir, hasher, droppers, warnings, target=target,
                          prefixes=prefixes, max_shard_size=max_shard_size, key=key, force=force, verify=verify,
                          progress=progress, cancel=cancel)
        result = _with(result, removed_temps=tuple(removed))
        if catalog is not None:
            result = _with(result, conversion_id=_record(catalog, result, as_dir))
    except BaseException:
        stop_hashing.cancel()
        raise
    finally:
        for dropper in droppers:
            dropper.join(swallow=True)
    return result


def _convert(source: Path, weight_files: list[Path], out_path: Path, as_dir: bool, hasher: stw.Background,
             droppers: list[stw.Background], warnings: list[str], *, target: str | None, prefixes: tuple[str, ...],
             max_shard_size: int | None, key: str | None, force: bool, verify: bool, progress: ProgressSink,
             cancel: CancelToken | None) -> ConvertResult:
    """Read, plan, write, verify and commit; the result without the catalog's record."""
    is_dir = source.is_dir()
    progress(ProgressEvent("convert:read", f"reading {source.name}", 0, None, "files"))
    copies: list[Path] = []
    skipped: list[str] = []
    config: dict = {}
    if is_dir:
        weights = _read_model_dir(source, weight_files)
        copies, skipped = _files_to_copy(source, weight_files)
        config = _config(source)
    else:
        weights = read_weights(source, key=key)
    progress(ProgressEvent("convert:read", f"read {source.name}", 1, 1, "files", finished=True))

    tensors = _strip_prefixes(weights.tensors, prefixes)
    if not prefixes and not is_dir and (w := _prefix_warning(tensors)):
        warnings.append(w)
    tensors, tied = dedupe_tied(tensors, keep_output_heads=config.get("tie_word_embeddings") is False)
    metadata = {k: v for k, v in weights.metadata.items() if k != "format"}  # "format" must stay "pt"
    shard_size = max_shard_size or (DEFAULT_DIR_SHARD_SIZE if is_dir else None)
    with stw.SourceFiles() as files:
        if target:
            tensors = [_cast(t, target, files) for t in tensors]
        to_write = _to_write(tensors)
        shards = [stw.aligned_order(s) for s in stw.plan_shards(to_write, shard_size)]
        if not as_dir and len(shards) > 1:  # an explicit NAME.safetensors cannot hold several shards
            raise UsageError(f"{len(shards)} shards do not fit in one file {out_path.name}",
                             "give --out a folder name (without .safetensors)")
        names = stw.shard_file_names(len(shards)) if as_dir else [out_path.name]
        plan = _Plan(out_path, as_dir, shards, names, metadata, copies)
        needed = sum(stw.file_size(s, metadata) for s in shards) + sum(p.stat().st_size for p in copies) + 2**20
        stw.check_disk_space(out_path.parent, needed)
        written = _write_and_commit(plan, files, droppers, force=force, verify=verify, config_dtype=target,
                                    source_dir=source if is_dir else None, progress=progress, cancel=cancel)

    source_files = hasher.join()
    source_sha = source_files[0].sha256 if len(source_files) == 1 else None
    return ConvertResult(
        source=str(source), source_format=weights.format, source_kind=weights.kind, output=str(out_path),
        files=tuple(written), tensors=len(to_write), tensor_bytes=sum(t.nbytes for t in to_write), verified=verify,
        source_sha256=source_sha, source_files=tuple(source_files), source_key=weights.source_key,
        class_name=weights.class_name, dtype=target, tied=tuple(tied), dropped=weights.dropped,
        metadata={"format": "pt", **metadata}, skipped_files=tuple(skipped), warnings=tuple(warnings),
    )


def _check_options(source: Path, *, dtype: str | None, max_shard_size: int | None, key: str | None) -> str | None:
    """Validate the arguments; returns the --dtype target code (F16/BF16) or None."""
    if not source.exists():
        raise NotFoundError(f"{source} does not exist")
    if max_shard_size is not None and max_shard_size <= 0:
        raise UsageError("--max-shard-size must be positive")
    if not source.is_dir() and source.suffix == ".safetensors":
        raise UsageError(f"{source.name} is already a safetensors file", "nothing to convert")
    if source.is_dir() and key is not None:
        raise UsageError("--key applies to a single checkpoint file, not a model dir")
    if dtype is None:
        return None
    target = TARGET_DTYPES.get(dtype.lower())
    if target is None:
        raise UsageError(f"unknown --dtype {dtype!r}", "use fp16 or bf16")
    return target


def _output_location(source: Path, out: str | os.PathLike[str] | None, *, sharded: bool) -> tuple[Path, bool]:
    """(output path, whether it is a folder): ``--out`` NAME.safetensors is a file, anything else a folder."""
    if out is not None:
        out_path = Path(out).expanduser().absolute()
        as_dir = source.is_dir() or out_path.suffix != ".safetensors"
    else:
        as_dir = source.is_dir() or sharded
        out_path = default_output(source, sharded=as_dir)
    if out_path == source or source in out_path.parents:
        raise UsageError(f"the output {out_path} would be inside the source", "choose another --out")
    return out_path, as_dir


def _check_replaceable(out_path: Path, *, as_dir: bool, force: bool) -> None:
    """Never overwrite without --force, and even with it only replace a previous output of the same kind."""
    if not (out_path.exists() or out_path.is_symlink()):
        return
    if not force:
        raise ConflictError(f"{out_path} already exists", "pass --force to overwrite it")
    if as_dir != out_path.is_dir():
        raise ConflictError(f"{out_path} exists and is a {'folder' if out_path.is_dir() else 'file'}",
                            "choose another --out")
    if as_dir and any(out_path.iterdir()) and not ((out_path / SAFETENSORS_FILE).exists()
                                                   or (out_path / SAFETENSORS_INDEX).exists()):
        # --force replaces the whole folder: refuse when it is not a converted model (e.g. --out ~/models).
        raise ConflictError(f"{out_path} is a folder without model.safetensors; refusing to replace it",
                            "give --out a new folder name")


def _record(catalog: Any, result: ConvertResult, as_dir: bool) -> int:
    """The conversion row, plus the outputs' hashes in the hash cache (a rescan then hashes nothing)."""
    from .formats.hashing import change_ns

    out = Path(result.output)
    for f in result.files:
        path = out / f.path if as_dir else out
        st = path.stat()
        catalog.store_sha256(str(path.resolve()), st.st_size, change_ns(st), st.st_ino, f.sha256)
    return catalog.record_conversion(source_path=result.source, source_sha256=result.source_sha256,
                                     output_path=result.output, outputs=[f.to_dict() for f in result.files])


def _with(result: ConvertResult, **changes: Any) -> ConvertResult:
    import dataclasses

    return dataclasses.replace(result, **changes)


def _write_and_commit(plan: _Plan, files: stw.SourceFiles, droppers: list[stw.Background], *, force: bool,
                      verify: bool, config_dtype: str | None, source_dir: Path | None, progress: ProgressSink,
                      cancel: CancelToken | None) -> list[OutputFile]:
    """Write (and verify) everything under a temp name, then rename into place. Nothing final on failure.

    Each written file leaves the page cache in the background (``droppers``, joined by the caller)."""
    temp = stw.temp_path(plan.out)
    total = sum(t.nbytes for s in plan.shards for t in s)
    written: list[OutputFile] = []
    try:
        if plan.as_dir:
            temp.mkdir()
        done = 0
        for shard, name in zip(plan.shards, plan.names):
            path = temp / name if plan.as_dir else temp
            size, digest = stw.write_file(path, shard, plan.metadata, files=files, verify=verify, progress=progress,
                                          cancel=cancel, done_before=done, total=total)
            droppers.append(stw.Background(stw.drop_from_cache, os.open(path, os.O_RDONLY)))
            done += sum(t.nbytes for t in shard)
            written.append(OutputFile(name, size, digest, len(shard)))
        progress(ProgressEvent("convert:write", "verified" if verify else "written", total, total, finished=True))
        if plan.as_dir:
            written += _write_extras(plan, temp, config_dtype, source_dir)
            stw.fsync_dir(temp)
        check_cancel(cancel)
        stw.commit(temp, plan.out, replace=force)
    except OSError as exc:  # disk full, read-only, no permission: one line, nothing left behind
        stw.remove_path(temp)
        raise local_os_error(exc, f"cannot write {plan.out}") from exc
    except BaseException:
        stw.remove_path(temp)
        raise
    return written


def _write_extras(plan: _Plan, temp: Path, config_dtype: str | None, source_dir: Path | None) -> list[OutputFile]:
    from .formats.hashing import sha256_file

    extras: list[OutputFile] = []
    if len(plan.shards) > 1:
        size = stw.write_json(temp / SAFETENSORS_INDEX, stw.index_document(plan.shards, plan.names))
        extras.append(OutputFile(SAFETENSORS_INDEX, size, sha256_file(temp / SAFETENSORS_INDEX)))
    for path in plan.copies:
        rel = path.relative_to(source_dir) if source_dir else Path(path.name)
        dest = temp / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel.as_posix() == "config.json" and config_dtype:
            _write_config_with_dtype(path, dest, config_dtype)
        else:
            shutil.copyfile(path, dest)
        stw.fsync_path(dest)
        extras.append(OutputFile(rel.as_posix(), dest.stat().st_size, sha256_file(dest)))
    return extras


def _write_config_with_dtype(src: Path, dest: Path, target: str) -> None:
    """The model was cast: say so in config.json as ``save_pretrained`` would."""
    try:
        config = json.loads(src.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        shutil.copyfile(src, dest)
        return
    name = {"F16": "float16", "BF16": "bfloat16"}[target]
    present = [k for k in ("torch_dtype", "dtype") if k in config] or ["dtype"]
    for k in present:
        config[k] = name
    stw.write_json(dest, config)


def _hash_sources(paths: list[Path], catalog: Any, cancel: CancelToken) -> list[OutputFile]:
    """sha256 of the source files (reusing the catalog's cache); runs in a thread beside the write."""
    from .formats.hashing import sha256_cached

    return [OutputFile(p.name, p.stat().st_size, sha256_cached(p, catalog, cancel=cancel)) for p in paths]
