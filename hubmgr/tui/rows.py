"""Pure view models: core results -> what the table and detail pane show. No I/O, no Textual.

The sync state is the core's (``sync_state.py``): the table shows the same words as `hubmgr ls`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from typing import Any, Callable

from rich.cells import cell_len

from ..models import (SYNC_CONVERTED, SYNC_LOCAL, SYNC_MODIFIED, SYNC_PUSHED, VERDICT_NEEDS_CODE, VERDICT_UNSAFE,
                      CheckpointInfo, SyncState)
from ..units import human_count, human_size, printable  # noqa: F401  (human_* re-exported for widgets)

NAME_WIDTH = 28
# Signature badge of pushed and pulled rows (deploy.signature_badge words), narrow enough for 120 columns.
SIGNATURE_GLYPHS = {"signed": "✓", "unverified": "?", "unsigned": "·", "INVALID": "✗"}
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
    info: CheckpointInfo = field(repr=False, compare=False)  # from checkpoints.list_checkpoints (no tensors)

    def cells(self, marked: bool) -> tuple[str, ...]:
        return (
            "*" if marked else " ", clip(self.name, NAME_WIDTH), KIND_LABELS.get(self.kind, self.kind),
            FORMAT_LABELS.get(self.format, self.format), human_size(self.size_bytes),
            human_count(self.params), "-" if self.step is None else str(self.step), fmt_metric(self.best_metric),
            self.verdict, self.sync_cell,
        )

    @property
    def sync_cell(self) -> str:
        """The sync words plus a one-character signature badge (the words are in the Overview tab)."""
        badge = SIGNATURE_GLYPHS.get(self.sync.signature or "")
        return f"{self.sync.text} {badge}" if badge else self.sync.text

    # Each row computes what the table needs of it once (the cached properties below): the table sizes
    # its columns from every row, and every keystroke of the filter searches every row.
    @cached_property
    def shown_cells(self) -> tuple[str, ...]:
        """The cells after the mark, safe to print (names come from untrusted files)."""
        return tuple(map(printable, self.cells(False)[1:]))

    @cached_property
    def cell_widths(self) -> tuple[int, ...]:
        cells = self.shown_cells  # printable ASCII is one cell per character
        return tuple(map(len if "".join(cells).isascii() else cell_len, cells))

    @cached_property
    def name_key(self) -> str:
        return self.name.lower()

    @cached_property
    def haystack(self) -> str:
        return " ".join((self.name, self.path, self.kind, self.format, self.verdict, self.sync.text)).lower()


# What each column sorts by (None = no value: last in either direction).
_SORT_VALUES: dict[str, Callable[[CheckpointRow], Any]] = {
    "name": attrgetter("name_key"), "kind": attrgetter("kind"), "format": attrgetter("format"),
    "size": attrgetter("size_bytes"), "params": attrgetter("params"), "step": attrgetter("step"),
    "best": attrgetter("best_metric"), "safety": attrgetter("verdict"), "sync": lambda r: r.sync.text,
}


def sort_key_function(column: str) -> Callable[[CheckpointRow], tuple]:
    """One key for ``column``: (no value, value, name, path); ties break by name then path."""
    value_of = _SORT_VALUES.get(column, _SORT_VALUES["name"])

    def key(row: CheckpointRow) -> tuple:
        value = value_of(row)
        return (value is None, value if value is not None else 0, row.name_key, row.path)

    return key


def build_rows(infos: tuple[CheckpointInfo, ...] | list[CheckpointInfo],
               scores: dict[str, float] | None = None) -> list[CheckpointRow]:
    """Table rows. ``scores``: each path's best score of one suite configuration (scores.score_column); when
    given, the Best column shows only those (never mixed with Trainer metrics), else the Trainer's best metric."""
    return [CheckpointRow(
        path=info.path, name=info.name, kind=info.kind, format=info.format, size_bytes=info.size_bytes,
        params=info.params, step=info.step,
        best_metric=scores.get(info.path) if scores is not None else info.best_metric,
        verdict=info.safety.verdict, sync=info.sync_state or SyncState(SYNC_LOCAL), info=info,
    ) for info in infos]


@dataclass(frozen=True)
class CatalogSnapshot:
    rows: list[CheckpointRow]
    score_label: str = ""  # what the Best column shows, when it shows our own evals
    warnings: tuple[str, ...] = ()  # from list_checkpoints, e.g. entries no longer on disk
    column_widths: tuple[int, ...] = ()  # widest cell of each table column after the mark, over all rows

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    @cached_property
    def _counts(self) -> dict[str, int]:  # the top bar asks on every refresh; the rows never change
        out = {"total": len(self.rows), "unsafe": 0, SYNC_CONVERTED: 0, SYNC_PUSHED: 0, SYNC_MODIFIED: 0}
        for r in self.rows:
            if r.verdict in (VERDICT_UNSAFE, VERDICT_NEEDS_CODE):
                out["unsafe"] += 1
            if r.sync.state in out:
                out[r.sync.state] += 1
        return out


@dataclass(frozen=True)
class CheckpointDetails:
    """What the detail pane shows beyond the catalog row (read by a worker)."""

    info: CheckpointInfo | None = None  # the full CheckpointInfo, with tensors (None: not in the catalog)
    evals: list[Any] = field(default_factory=list)  # catalog.EvalRecord
    conversions: list[Any] = field(default_factory=list)  # catalog.ConversionRecord
    pushes: list[Any] = field(default_factory=list)  # catalog.PushRecord
    pulls: list[Any] = field(default_factory=list)  # catalog.PullRecord
    card_markdown: str | None = None
    card_source: str = ""  # "README.md" or "preview of what `card` would write"
    card_error: str | None = None  # why the preview could not be rendered (shown, never hidden)
    lineage: Any = None  # lineage.Lineage: base model, data, code commit, run/parent, conversion
    error: str | None = None  # why the details could not be read


def column_widths(rows: list[CheckpointRow]) -> tuple[int, ...]:
    """The widest cell of each column after the mark (each row measures its cells once)."""
    if not rows:
        return ()
    return tuple(max(column) for column in zip(*(row.cell_widths for row in rows)))


def filter_rows(rows: list[CheckpointRow], text: str) -> list[CheckpointRow]:
    words = text.lower().split()
    if not words:
        return rows
    return [r for r in rows if all(w in r.haystack for w in words)]


def sort_rows(rows: list[CheckpointRow], column: str, reverse: bool) -> list[CheckpointRow]:
    """Rows in ``column`` order, rows without a value last in either direction. One key per row, one sort."""
    ordered = sorted(rows, key=sort_key_function(column))  # keys are unique (path): reversing = sorting reversed
    if not reverse:
        return ordered
    value_of = _SORT_VALUES.get(column, _SORT_VALUES["name"])
    present = [r for r in ordered if value_of(r) is not None]
    return present[::-1] + [r for r in ordered if value_of(r) is None]
