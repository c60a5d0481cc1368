"""Lineage: where a checkpoint came from, recorded rather than typed by hand.

For each checkpoint: the base model (``config.json``'s ``_name_or_path`` when it names a Hub
repo), what it was trained on (Trainer's ``trainer_state.json`` / ``all_results.json``, or a
dataset the user named), the git commit and dirty flag of the code repository the run dir sits
in, the parent for ``checkpoint-N`` dirs (the run, and the previous checkpoint of that run), and
the conversion that produced a safetensors file from a pickle (source sha256 -> output sha256,
from the catalog's conversion records).

``scan`` records it once per checkpoint (and again when the checkpoint changes), so the code
commit is the one the run was made with, not whatever the repository holds later.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .models import JsonMixin

if TYPE_CHECKING:
    from .catalog import Catalog

_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
_JSON_MAX = 16 * 2**20


@dataclass(frozen=True)
class CodeState(JsonMixin):
    repo: str  # the working copy's root
    commit: str | None
    dirty: bool


@dataclass(frozen=True)
class Conversion(JsonMixin):
    source: str
    source_sha256: str | None
    outputs: tuple[dict, ...]  # [{"path", "sha256", "size"}]


@dataclass(frozen=True)
class Lineage(JsonMixin):
    path: str
    base_model: str | None = None
    datasets: tuple[str, ...] = ()
    training: str | None = None  # e.g. "5,000 training samples, 3 epochs, 500 steps (Trainer)"
    code: CodeState | None = None
    run: str | None = None  # the Trainer output dir a checkpoint-N belongs to
    parent: str | None = None  # the previous checkpoint-M of the same run
    converted_from: Conversion | None = None
    recorded_at: float | None = None

    @property
    def empty(self) -> bool:
        return not (self.base_model or self.datasets or self.training or self.code or self.run
                    or self.converted_from)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > _JSON_MAX:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _directory(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def base_model_of(directory: Path) -> str | None:
    """``_name_or_path`` from config.json when it names a Hub repo other than the folder itself."""
    name = _read_json(directory / "config.json").get("_name_or_path")
    if isinstance(name, str) and _HUB_ID_RE.match(name) and name != directory.name \
            and not Path(name).expanduser().exists():
        return name
    return None


def training_of(directory: Path) -> str | None:
    """A short description of the training data from Trainer's records, if any."""
    results = _read_json(directory / "all_results.json") or _read_json(directory / "train_results.json")
    state = _read_json(directory / "trainer_state.json")
    if not results and not state and _CHECKPOINT_RE.match(directory.name):
        results = _read_json(directory.parent / "all_results.json")
    parts = []
    samples = results.get("train_samples")
    if isinstance(samples, int) and not isinstance(samples, bool):
        parts.append(f"{samples:,} training samples")
    epoch = state.get("epoch", results.get("epoch"))
    if isinstance(epoch, (int, float)) and not isinstance(epoch, bool):
        parts.append(f"{epoch:g} epochs")
    steps = state.get("global_step", results.get("train_steps"))
    if isinstance(steps, int) and not isinstance(steps, bool):
        parts.append(f"{steps:,} steps")
    if not parts:
        return None
    source = "Trainer" if state else "all_results.json"
    return ", ".join(parts) + f" ({source})"


def run_and_parent(directory: Path) -> tuple[str | None, str | None]:
    """For ``RUN/checkpoint-N``: (RUN, RUN/checkpoint-M with the largest M < N)."""
    m = _CHECKPOINT_RE.match(directory.name)
    if not m:
        return None, None
    step = int(m.group(1))
    earlier = []
    try:
        for sibling in directory.parent.iterdir():
            sm = _CHECKPOINT_RE.match(sibling.name)
            if sm and int(sm.group(1)) < step and sibling.is_dir():
                earlier.append((int(sm.group(1)), sibling))
    except OSError:
        pass  # an unreadable run dir: lineage is best effort, the checkpoint just has no parent
    parent = str(max(earlier)[1]) if earlier else None
    return str(directory.parent), parent


def conversion_of(path: Path, catalog: "Catalog | None", records: list | None = None) -> Conversion | None:
    """The latest conversion whose output is ``path``: from ``records`` (a scan reads them all once)
    or from the catalog."""
    if records is None:
        if catalog is None:
            return None
        records = catalog.list_conversions(str(path))
    target = str(path)
    for rec in reversed(records):
        if rec.output_path == target:
            return Conversion(source=rec.source_path, source_sha256=rec.source_sha256,
                              outputs=tuple({k: o.get(k) for k in ("path", "sha256", "size_bytes")} for o in rec.outputs))
    return None


class CodeStates:
    """Working-copy states, asked of git once per repository per scan."""

    def __init__(self) -> None:
        self._by_root: dict[Path, CodeState | None] = {}
        self._root_of: dict[Path, Path | None] = {}  # dir -> its worktree root: one stat per dir per scan

    def _worktree_root(self, directory: Path) -> Path | None:
        climbed = []
        here: Path | None = directory.resolve()
        root = None
        while here is not None and here not in self._root_of:
            climbed.append(here)
            if (here / ".git").exists():
                root = here
                break
            here = here.parent if here.parent != here else None
        else:
            root = self._root_of.get(here) if here is not None else None
        for d in climbed:
            self._root_of[d] = root
        return root

    def of(self, path: Path) -> CodeState | None:
        from .git.code_repo import worktree_state

        root = self._worktree_root(path)
        if root is None:
            return None
        if root not in self._by_root:
            try:
                state = worktree_state(root)
            except Exception:  # noqa: BLE001 - lineage is best effort: a broken repo must not fail a scan
                state = None
            self._by_root[root] = CodeState(state.toplevel, state.commit, state.dirty) if state else None
        return self._by_root[root]


def collect(path: str | os.PathLike[str], *, catalog: "Catalog | None" = None, code: CodeStates | None = None,
            conversions: list | None = None) -> Lineage:
    """Lineage of one checkpoint (file or directory) from its files, git and the catalog."""
    p = Path(path).resolve()
    directory = _directory(p)
    run, parent = run_and_parent(directory)
    card_meta = _card_datasets(directory)
    return Lineage(
        path=str(p), base_model=base_model_of(directory), datasets=card_meta, training=training_of(directory),
        code=(code or CodeStates()).of(directory), run=run, parent=parent,
        converted_from=conversion_of(p, catalog, conversions),
    )


def _card_datasets(directory: Path) -> tuple[str, ...]:
    """``datasets:`` the user already wrote in the card's metadata (kept, never invented)."""
    readme = directory / "README.md"
    try:
        if not readme.is_file() or readme.stat().st_size > _JSON_MAX:
            return ()
        text = readme.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    if not text.startswith("---"):
        return ()
    end = text.find("\n---", 3)
    if end < 0:
        return ()
    import yaml

    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return ()
    values = meta.get("datasets") if isinstance(meta, dict) else None
    if isinstance(values, str):
        values = [values]
    return tuple(v for v in values or () if isinstance(v, str))


def to_record(lineage: Lineage) -> dict[str, Any]:
    data = lineage.to_dict()
    data.pop("recorded_at", None)
    return data


def from_record(data: dict[str, Any], recorded_at: float | None = None) -> Lineage:
    code = data.get("code")
    conv = data.get("converted_from")
    return Lineage(
        path=data.get("path", ""), base_model=data.get("base_model"), datasets=tuple(data.get("datasets") or ()),
        training=data.get("training"),
        code=CodeState(code["repo"], code.get("commit"), bool(code.get("dirty"))) if isinstance(code, dict) else None,
        run=data.get("run"), parent=data.get("parent"),
        converted_from=Conversion(conv.get("source", ""), conv.get("source_sha256"), tuple(conv.get("outputs") or ()))
        if isinstance(conv, dict) else None,
        recorded_at=recorded_at,
    )


def record_for_scan(paths: list[str], catalog: "Catalog", *, mtimes: dict[str, float]) -> int:
    """Record lineage for scanned checkpoints that have none yet, or changed since it was recorded."""
    if not paths:
        return 0
    common = os.path.commonpath(paths) if len(paths) > 1 else paths[0]
    known = catalog.lineage_times_under(common)
    code = CodeStates()
    conversions = None  # read once, and only if something needs recording
    rows = []
    for path in paths:
        at = known.get(path)
        if at is not None and mtimes.get(path, 0.0) <= at:
            continue  # unchanged since recorded: keep the code commit the run was made with
        if conversions is None:
            conversions = catalog.list_conversions()
        rows.append((path, to_record(collect(path, catalog=catalog, code=code, conversions=conversions))))
    catalog.record_lineage(rows)
    return len(rows)


def lineage_of(path: str | os.PathLike[str], *, catalog: "Catalog | None") -> Lineage:
    """The recorded lineage of ``path`` (refreshing what can change: conversions), else a fresh one."""
    p = str(Path(path).resolve())
    stored = catalog.get_lineage(p) if catalog is not None else None
    if stored is None:
        return collect(p, catalog=catalog)
    data, at = stored
    lineage = from_record(data, at)
    conv = conversion_of(Path(p), catalog)
    return replace(lineage, converted_from=conv or lineage.converted_from)


def with_dataset(lineage: Lineage, dataset: str | None) -> Lineage:
    if not dataset or dataset in lineage.datasets:
        return lineage
    return replace(lineage, datasets=(*lineage.datasets, dataset))


def provenance_rows(lineage: Lineage | None, *, public: bool = False) -> list[tuple[str, str]]:
    """The provenance chain as (label, value) rows: base model, data, code, run, parent, conversion.

    ``public`` (model cards): local paths are shortened to their last component, so a card never
    publishes the layout of the author's disk.
    """
    if lineage is None:
        return []

    def where(path: str) -> str:
        return Path(path).name if public else path

    rows = []
    if lineage.base_model:
        rows.append(("base model", lineage.base_model))
    if lineage.datasets:
        rows.append(("datasets", ", ".join(lineage.datasets)))
    if lineage.training:
        rows.append(("trained on", lineage.training))
    if lineage.code:
        commit = (lineage.code.commit or "no commit")[: 12 if not public else 40]
        dirty = " (with uncommitted changes)" if lineage.code.dirty else ""
        rows.append(("code", f"{where(lineage.code.repo)} @ {commit}{dirty}"))
    if lineage.run:
        rows.append(("run", where(lineage.run)))
    if lineage.parent:
        rows.append(("parent", where(lineage.parent)))
    if lineage.converted_from:
        conv = lineage.converted_from
        src = where(conv.source) + (f" (sha256 {conv.source_sha256})" if conv.source_sha256 else "")
        outs = ", ".join(f"{Path(o.get('path') or '').name} (sha256 {o.get('sha256')})" for o in conv.outputs
                         if o.get("sha256"))
        rows.append(("converted", f"from {src}" + (f" to {outs}" if outs else "")))
    return rows

__all__ = ["Lineage", "CodeState", "Conversion", "collect", "lineage_of", "record_for_scan"]
