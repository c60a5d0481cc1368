"""What a push sends, staged outside the user's folder; ``--dry-run`` and the real push run this same code.

``stage(...)`` picks the files (a model folder as it is; a Trainer run as ``Trainer.push_to_hub``
would; one ``checkpoint-N`` with ``--checkpoint``), turns ``training_args.bin`` into
``training_args.json`` (read statically), converts pickled weights with ``--convert``, writes a
missing model card for the push target, and hashes every file. When nothing is generated or
moved, the remote reads the user's folder directly; otherwise a staging dir under
``$HUBMGR_HOME/staging`` holds the generated files plus symlinks to the user's files, and the
remote reads those bytes from where they are (``PushRequest.sources``). No hard links: a new link
changes the file's ctime, which would void its cached sha256 and make every push re-hash the
weights. The staging dir is removed afterwards; nothing is ever written into the user's folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import trainer_run as tr
from .errors import UsageError
from .formats.hashing import BufferedHashCache, change_ns, sha256_cached, sha256_file
from .formats.layout import is_pickle_name
from .models import LeftOut
from .progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress

if TYPE_CHECKING:
    from .catalog import Catalog

CARD_FILE = "README.md"
HASH_WORKERS = min(4, os.cpu_count() or 1)  # files read for sha256 at once
OnHashed = Callable[[str, Path, int, str], None]  # (repo path, file, size, sha256)


@dataclass
class Staged:
    """The exact file set of one push. ``folder`` is what the remote reads (relpaths of ``files``)."""

    folder: Path
    source: Path  # the dir the model comes from (the run, the checkpoint, or the folder itself)
    files: dict[str, Path]  # relpath -> file whose bytes are pushed
    hashes: dict[str, tuple[int, str]] = field(default_factory=dict)  # relpath -> (size, sha256)
    origins: dict[str, str] = field(default_factory=dict)  # relpath -> where it comes from, if not the same path
    left_out: list[LeftOut] = field(default_factory=list)
    checkpoint: Path | None = None
    checkpoint_reason: str | None = None
    converted: tuple[str, ...] = ()
    card_written: bool = False
    warnings: list[str] = field(default_factory=list)
    root: Path | None = None  # staging dir to remove
    bytes_hashed: int = 0  # read for sha256 by this push (the rest came from the catalog's cache)

    @property
    def sources(self) -> tuple[tuple[str, str], ...]:
        """(repo path, local file) of every file whose bytes are not at ``folder/path`` (PushRequest.sources)."""
        return tuple((rel, str(p)) for rel, p in sorted(self.files.items()) if p != self.folder / rel)

    def cleanup(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def _in_scope(rel: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    from .remotes import in_scope  # one definition of --include/--exclude matching

    return in_scope(rel, include, exclude)


def _select(folder: Path, *, checkpoint: str | None, best_by: str | None, include: tuple[str, ...],
            exclude: tuple[str, ...], catalog: "Catalog | None", staged_warnings: list[str]
            ) -> tuple[Path, dict[str, Path], list[LeftOut], Path | None, str | None]:
    from .sync import local_files

    if checkpoint is None:
        if best_by is not None:
            raise UsageError("--best-by picks among checkpoints", "use it with --checkpoint best")
        files, warnings = local_files(folder)
        staged_warnings.extend(warnings)
        left: list[LeftOut] = []
        if tr.is_trainer_run(folder):
            files, left = tr.run_model_files(folder, files)
        return folder, files, left, None, None
    if not tr.checkpoint_dirs(folder):
        raise UsageError(f"--checkpoint needs a Trainer output dir; {folder} has no checkpoint-N dirs",
                         "push the folder itself without --checkpoint")
    from .scores import resolve_checkpoint

    ckpt, why = resolve_checkpoint(folder, checkpoint, metric=best_by, catalog=catalog)
    files, left = tr.checkpoint_model_files(folder, ckpt)
    others = [d.name + "/" for d in tr.checkpoint_dirs(folder) if d != ckpt]
    if others:
        left.insert(0, LeftOut(", ".join(others), f"other checkpoints (pushing {ckpt.name})"))
    return ckpt, files, left, ckpt, why


def stage(
    path: str | os.PathLike[str],
    *,
    repo_id: str | None = None,
    checkpoint: str | None = None,
    best_by: str | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    convert: bool = False,
    write_card: bool = True,
    check: Callable[[dict[str, Path]], None] | None = None,
    record_conversion: bool = False,
    catalog: "Catalog | None" = None,
    on_hashed: OnHashed | None = None,
    progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> Staged:
    """Everything one push sends (see the module doc). ``check(files)`` refuses unsafe files
    before anything is generated or hashed; ``on_hashed`` hears of each file as its sha256 is known
    (not of the generated card). The caller removes the staging dir (``Staged.cleanup``)."""
    folder = Path(path).expanduser().resolve()
    warnings: list[str] = []
    source, picked, left, ckpt, why = _select(folder, checkpoint=checkpoint, best_by=best_by, include=include,
                                              exclude=exclude, catalog=catalog, staged_warnings=warnings)
    files = {rel: p for rel, p in picked.items() if _in_scope(rel, include, exclude)}
    if not files:
        raise UsageError(f"nothing to push in {folder}", "check the folder and your --include/--exclude patterns")
    staged = Staged(folder=folder, source=source, files=files, left_out=left, checkpoint=ckpt,
                    checkpoint_reason=why, warnings=warnings)
    moved = any(p != folder / rel for rel, p in files.items())
    args_bin = [rel for rel in files if rel.rsplit("/", 1)[-1] == tr.TRAINING_ARGS_BIN]
    weight_pickles = [rel for rel in files if is_pickle_name(rel) and rel not in args_bin]
    needs_card = write_card and CARD_FILE not in files and _in_scope(CARD_FILE, include, exclude)
    if not (moved or args_bin or (convert and weight_pickles) or needs_card):
        if check is not None:
            check(files)
        _hash(staged, catalog, progress, cancel, on_hashed)
        return staged
    try:
        _fill_staging(staged, args_bin, weight_pickles if convert else [], record_conversion=record_conversion,
                      catalog=catalog, progress=progress, cancel=cancel)
        if check is not None:
            check(staged.files)
        _hash(staged, catalog, progress, cancel, on_hashed)
        if needs_card:
            _write_card(staged, repo_id, catalog=catalog, progress=progress, cancel=cancel)
    except BaseException:
        staged.cleanup()
        raise
    return staged


def _fill_staging(staged: Staged, args_bin: list[str], pickles: list[str], *, record_conversion: bool,
                  catalog: "Catalog | None", progress: ProgressSink, cancel: CancelToken | None) -> None:
    from . import paths

    base = paths.data_dir() / "staging"
    base.mkdir(parents=True, exist_ok=True)
    staged.root = Path(tempfile.mkdtemp(prefix="push-", dir=base))
    model = staged.root / "model"
    model.mkdir()
    for rel, src in sorted(staged.files.items()):
        check_cancel(cancel)
        if rel in args_bin:
            continue
        (model / rel).parent.mkdir(parents=True, exist_ok=True)
        (model / rel).symlink_to(src.resolve())  # for --convert and .gitattributes; bytes are read at src
        if src != staged.folder / rel or staged.checkpoint is not None:  # with --checkpoint: say from where
            staged.origins[rel] = src.relative_to(staged.folder).as_posix()
    for rel in args_bin:
        src = staged.files.pop(rel)
        out_rel = rel[: -len(tr.TRAINING_ARGS_BIN)] + tr.TRAINING_ARGS_JSON
        shown = src.relative_to(staged.folder).as_posix()
        if out_rel in staged.files:
            staged.left_out.append(LeftOut(shown, f"a pickle; {out_rel} is already there"))
            continue
        why = tr.write_training_args_json(src, model / out_rel)
        if why is None:
            staged.files[out_rel] = model / out_rel
            staged.origins[out_rel] = f"{shown}, read statically (never executed)"
            staged.left_out.append(LeftOut(shown, f"a pickle: pushed as {out_rel} instead"))
        else:
            staged.left_out.append(LeftOut(shown, f"a pickle that could not be read statically ({why})"))
    staged.folder = model
    if pickles:
        _convert(staged, pickles, record_conversion=record_conversion, catalog=catalog, progress=progress,
                 cancel=cancel)


def _convert(staged: Staged, pickles: list[str], *, record_conversion: bool, catalog: "Catalog | None",
             progress: ProgressSink, cancel: CancelToken | None) -> None:
    """--convert: the staged model dir's pickled weights -> safetensors (verified), in a sibling dir."""
    from .convert import convert_checkpoint

    assert staged.root is not None
    out = staged.root / "converted"
    result = convert_checkpoint(staged.folder, out=out, catalog=catalog if record_conversion else None,
                                progress=progress, cancel=cancel)
    converted_dir = Path(result.output) if Path(result.output).is_dir() else out
    new_files = {p.relative_to(converted_dir).as_posix(): p for p in sorted(converted_dir.rglob("*")) if p.is_file()}
    gone = sorted(set(staged.files) - set(new_files))
    staged.converted = tuple(rel for rel in gone if tr.is_hf_pickled_weights(rel))  # what a dir convert reads
    for rel in gone:
        if rel not in staged.converted and rel in pickles:
            staged.left_out.append(LeftOut(rel, "a pickle that is not model weights: not converted"))
    for rel in new_files:
        if rel not in staged.files:
            staged.origins[rel] = f"converted from {', '.join(staged.converted)}"
    staged.files = new_files
    staged.folder = converted_dir


def _hash(staged: Staged, catalog: "Catalog | None", progress: ProgressSink, cancel: CancelToken | None,
          on_hashed: OnHashed | None = None) -> None:
    """sha256 of every staged file: the catalog's while a file's fingerprint is unchanged, else read on
    ``HASH_WORKERS`` threads (hashlib releases the GIL). ``on_hashed`` hears of each file as soon as
    its hash is known (the push starts uploading it while later files are still being read)."""
    total = sum(p.stat().st_size for p in staged.files.values())
    done = 0
    # the sha256 cache of the whole folder in one query (a re-push of thousands of small files
    # otherwise spends its time opening the catalog once per file)
    cache = (BufferedHashCache(catalog, os.path.commonpath([str(p.resolve()) for p in staged.files.values()]))
             if catalog is not None and staged.files else None)

    def finished(rel: str, file: Path, size: int, sha: str) -> None:
        nonlocal done
        staged.hashes[rel] = (size, sha)
        done += size
        progress(ProgressEvent("push:hash", f"hashed {rel}", done, total))
        if on_hashed is not None:
            on_hashed(rel, file, size, sha)

    todo: list[tuple[str, Path, os.stat_result]] = []
    try:
        progress(ProgressEvent("push:hash", "hashing", 0, total))
        for rel, file in sorted(staged.files.items()):
            if rel in staged.hashes:
                continue
            check_cancel(cancel)
            real = file.resolve()
            st = real.stat()
            cached = cache.cached_sha256(str(real), st.st_size, change_ns(st), st.st_ino) if cache else None
            if cached is not None:
                finished(rel, file, st.st_size, cached)
            else:
                todo.append((rel, real, st))
        with ThreadPoolExecutor(max(1, min(HASH_WORKERS, len(todo))), thread_name_prefix="push-hash") as pool:
            futures = {pool.submit(sha256_file, real): (rel, real, st) for rel, real, st in todo}
            try:
                for fut in as_completed(futures):
                    rel, real, st = futures[fut]
                    sha = fut.result()
                    staged.bytes_hashed += st.st_size
                    if cache is not None:
                        cache.store_sha256(str(real), st.st_size, change_ns(st), st.st_ino, sha)
                    finished(rel, staged.files[rel], st.st_size, sha)
                    check_cancel(cancel)
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    finally:
        if cache is not None:
            cache.flush()  # hashes done before a cancel are kept
    progress(ProgressEvent("push:hash", "hashed", done, total, finished=True))


def _write_card(staged: Staged, repo_id: str | None, *, catalog: "Catalog | None", progress: ProgressSink,
                cancel: CancelToken | None) -> None:
    """The card of ``staged.source`` for ``repo_id``, listing exactly the staged files, into staging."""
    try:
        from .cards import write_card
    except ImportError:
        staged.warnings.append("README.md is missing and model cards are not available: pushing without a card")
        return
    rows = [{"path": rel, "size": size, "sha256": sha} for rel, (size, sha) in sorted(staged.hashes.items())]
    rows.append({"path": CARD_FILE, "size": None, "sha256": None})
    out = staged.folder / CARD_FILE
    result = write_card(staged.source, out=out, repo_id=repo_id, files=rows, catalog=catalog, progress=progress,
                        cancel=cancel)
    staged.warnings.extend(result.warnings)
    staged.files[CARD_FILE] = out
    staged.origins[CARD_FILE] = "model card, generated for this push"
    staged.card_written = True
    staged.hashes[CARD_FILE] = (out.stat().st_size, sha256_cached(out, None))
