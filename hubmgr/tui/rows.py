"""Pure view models: catalog data -> what the table and detail pane show. No I/O, no Textual."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..units import human_count, human_size  # noqa: F401  (re-exported for widgets)

SYNC_LOCAL = "local only"
SYNC_CONVERTED = "converted"
SYNC_PUSHED = "pushed"
SYNC_BEHIND = "behind"
SYNC_PULLED = "pulled"  # a release dir a pull wrote (DEST/releases/<sha>)

NAME_WIDTH = 28
# Short labels so every column fits in 120 columns next to each other.
KIND_LABELS = {"hf_model": "hf model", "trainer_checkpoint": "trainer ckpt", "state_dict": "state_dict",
               "training_checkpoint": "train ckpt", "full_model_pickle": "full pickle", "lfs_pointer": "lfs pointer"}
FORMAT_LABELS = {"sharded_safetensors": "sharded sft", "sharded_bin": "sharded bin", "lfs_pointer": "lfs pointer"}


def clip(text: str, width: int) -> str:
    """Keep both ends of a long name: 'checkpoint-...-final'."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]

# (key, header) in display order; every column is sortable.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("mark", " "),
    ("name", "Name"),
    ("kind", "Kind"),
    ("format", "Format"),
    ("size", "Size"),
    ("params", "Params"),
    ("step", "Step"),
    ("best", "Best"),
    ("safety", "Safety"),
    ("sync", "Sync"),
)
SORTABLE = tuple(key for key, _ in COLUMNS if key != "mark")


def short_sha(sha: str | None) -> str:
    return (sha or "")[:7] or "-"


def fmt_time(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def fmt_metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@dataclass(frozen=True)
class SyncState:
    label: str  # local only | converted | pushed | behind
    remote: str | None = None
    commit_sha: str | None = None

    @property
    def text(self) -> str:
        if self.label in (SYNC_PUSHED, SYNC_BEHIND, SYNC_PULLED) and self.commit_sha:
            return f"{self.label} @{short_sha(self.commit_sha)}"
        return self.label


@dataclass(frozen=True)
class CheckpointRow:
    path: str
    name: str
    kind: str
    format: str
    size_bytes: int
    params: int | None
    step: int | None
    best_metric: float | None
    verdict: str
    sync: SyncState
    info: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def cells(self, marked: bool) -> tuple[str, ...]:
        return (
            "*" if marked else " ", clip(self.name, NAME_WIDTH), KIND_LABELS.get(self.kind, self.kind),
            FORMAT_LABELS.get(self.format, self.format), human_size(self.size_bytes),
            human_count(self.params), "-" if self.step is None else str(self.step), fmt_metric(self.best_metric),
            self.verdict, self.sync.text,
        )

    def sort_key(self, column: str) -> tuple:
        # None sorts last in either direction of the same column; ties break by name then path.
        value = {
            "name": self.name.lower(), "kind": self.kind, "format": self.format, "size": self.size_bytes,
            "params": self.params, "step": self.step, "best": self.best_metric, "safety": self.verdict,
            "sync": self.sync.text,
        }.get(column, self.name.lower())
        return (value is None, value if value is not None else 0, self.name.lower(), self.path)

    def haystack(self) -> str:
        return " ".join((self.name, self.path, self.kind, self.format, self.verdict, self.sync.text)).lower()


def _fingerprint(info: dict[str, Any]) -> tuple | None:
    """sha256 of every file when the scan hashed them all; None if unknown."""
    files = info.get("files") or []
    if not files or any(not f.get("sha256") for f in files):
        return None
    return tuple(sorted((f["path"], f["sha256"]) for f in files))


def _pushed_fingerprint(details: dict[str, Any]) -> tuple | None:
    files = details.get("source_files") or details.get("files")
    if not isinstance(files, list) or not files:
        return None
    try:
        if any(not f.get("sha256") for f in files):
            return None
        return tuple(sorted((f["path"], f["sha256"]) for f in files))
    except (AttributeError, KeyError, TypeError):
        return None


def sync_state(info: dict[str, Any], pushes: list[Any], converted_to: list[str],
               pushes_by_path: dict[str, list[Any]], modified_at: float | None = None) -> SyncState:
    """local only / converted / pushed @sha / behind (changed on disk since the last push).

    ``modified_at``: the newest mtime of the checkpoint's files (None: unknown).
    """
    own = list(pushes)
    for out in converted_to:  # a converted copy that was pushed counts for its source too
        own.extend(pushes_by_path.get(out, []))
    if own:
        last = max(own, key=lambda p: p.created_at)
        now_fp, pushed_fp = _fingerprint(info), _pushed_fingerprint(last.details or {})
        changed = False
        if now_fp and pushed_fp:
            # A file both sides know has other content (files added since, like a README
            # written by `card`, do not count until they are pushed).
            pushed = dict(pushed_fp)
            changed = any(path in pushed and pushed[path] != sha for path, sha in now_fp)
        # The catalog's hashes are as of the last scan: edits since then show in file times.
        changed = changed or (modified_at is not None and modified_at > last.created_at)
        label = SYNC_BEHIND if changed and last in pushes else SYNC_PUSHED
        return SyncState(label, last.remote, last.commit_sha)
    if converted_to:
        return SyncState(SYNC_CONVERTED)
    return SyncState(SYNC_LOCAL)


def build_rows(infos: list[dict[str, Any]], pushes: list[Any], conversions: list[Any], pulls: list[Any] = (),
               scores: dict[str, float] | None = None,
               modified_at: dict[str, float] | None = None) -> list[CheckpointRow]:
    """Table rows. ``scores``: each path's best score of one suite configuration (scores.score_column); when
    given, the Best column shows only those (never mixed with Trainer metrics), else the Trainer's best metric.
    ``modified_at``: newest file mtime of pushed checkpoints (to tell "behind")."""
    modified_at = modified_at or {}
    released = {str(Path(p.dest) / "releases" / p.commit_sha): p for p in pulls}
    pushes_by_path: dict[str, list[Any]] = {}
    for p in pushes:
        pushes_by_path.setdefault(p.checkpoint_path, []).append(p)
    converted: dict[str, list[str]] = {}
    for c in conversions:
        converted.setdefault(c.source_path, []).append(c.output_path)
    rows = []
    for info in infos:
        path = info.get("path", "")
        safety = info.get("safety") or {}
        rows.append(CheckpointRow(
            path=path, name=info.get("name") or Path(path).name, kind=info.get("kind", "unknown"),
            format=info.get("format", "unknown"), size_bytes=int(info.get("size_bytes") or 0),
            params=info.get("params"), step=info.get("step"),
            best_metric=scores.get(path) if scores is not None else info.get("best_metric"),
            verdict=safety.get("verdict", "unknown"),
            sync=(SyncState(SYNC_PULLED, released[path].remote, released[path].commit_sha) if path in released
                  else sync_state(info, pushes_by_path.get(path, []), converted.get(path, []), pushes_by_path,
                                  modified_at.get(path))),
            info=info,
        ))
    return rows


@dataclass(frozen=True)
class CatalogSnapshot:
    rows: list[CheckpointRow]
    pulls: int = 0
    score_label: str = ""  # what the Best column shows, when it shows our own evals

    def counts(self) -> dict[str, int]:
        out = {"total": len(self.rows), "unsafe": 0, "converted": 0, "pushed": 0, "behind": 0}
        for r in self.rows:
            if r.verdict in ("unsafe", "needs_code"):
                out["unsafe"] += 1
            if r.sync.label == SYNC_CONVERTED:
                out["converted"] += 1
            elif r.sync.label == SYNC_PUSHED:
                out["pushed"] += 1
            elif r.sync.label == SYNC_BEHIND:
                out["behind"] += 1
        return out


@dataclass(frozen=True)
class CheckpointDetails:
    """What the detail pane shows beyond the catalog row (read by a worker)."""

    info: dict[str, Any] = field(default_factory=dict)  # the full CheckpointInfo dict, with tensors
    evals: list[Any] = field(default_factory=list)  # catalog.EvalRecord
    conversions: list[Any] = field(default_factory=list)
    pushes: list[Any] = field(default_factory=list)
    pulls: list[Any] = field(default_factory=list)
    card_markdown: str | None = None
    card_source: str = ""  # "README.md" or "preview of what `card` would write"


def filter_rows(rows: list[CheckpointRow], text: str) -> list[CheckpointRow]:
    words = text.lower().split()
    if not words:
        return rows
    return [r for r in rows if all(w in r.haystack() for w in words)]


def sort_rows(rows: list[CheckpointRow], column: str, reverse: bool) -> list[CheckpointRow]:
    present = [r for r in rows if r.sort_key(column)[0] is False]
    missing = [r for r in rows if r.sort_key(column)[0] is True]
    present.sort(key=lambda r: r.sort_key(column), reverse=reverse)
    missing.sort(key=lambda r: r.sort_key(column))
    return present + missing
