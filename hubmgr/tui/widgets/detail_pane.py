"""The detail pane of the selected checkpoint: Overview, Tensors, Model card, Evals, History."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Markdown, Static, TabbedContent, TabPane

from ...models import CheckpointInfo
from ...units import printable
from ..rows import CheckpointDetails, CheckpointRow, fmt_metric, fmt_time, human_count, human_size, short_sha

TABS = ("overview", "tensors", "card", "evals", "history")
MAX_TENSOR_ROWS = 2000


def _display_path(path: str, workspace: Path | None) -> str:
    if workspace is not None:
        try:
            return str(Path(path).relative_to(workspace)) or "."
        except ValueError:
            pass  # outside the workspace: show the absolute path
    return path


def _t(text: Any, style: str = "") -> Text:
    """Untrusted text (names, globals, config values) as a Text: no markup parsing, control chars escaped."""
    return Text(printable(text), style=style)


def overview_table(row: CheckpointRow, workspace: Path | None, info: CheckpointInfo | None = None) -> Table:
    info = info or row.info
    safety = info.safety
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("name", _t(row.name))
    grid.add_row("path", _t(_display_path(row.path, workspace)))
    grid.add_row("kind", _t(f"{row.kind} ({row.format})"))
    grid.add_row("size", f"{human_size(row.size_bytes)} in {len(info.files)} file(s)")
    grid.add_row("params", human_count(row.params))
    grid.add_row("dtypes", _t(", ".join(info.dtypes) or "-"))
    if info.model_type or info.architecture:
        grid.add_row("model", _t(" / ".join(str(x) for x in (info.model_type, info.architecture) if x)))
    grid.add_row("step", "-" if row.step is None else str(row.step))
    grid.add_row("metrics", _t(", ".join(f"{k}={fmt_metric(v)}" for k, v in sorted(info.metrics.items())) or "-"))
    grid.add_row("best", fmt_metric(row.best_metric))
    grid.add_row("tokenizer", "yes" if info.has_tokenizer else "no")
    verdict_style = {"safe": "green", "not_pickle": "green", "unsafe": "bold red", "needs_code": "yellow"}
    grid.add_row("safety", Text(row.verdict, style=verdict_style.get(row.verdict, "")))
    if safety.offending:
        grid.add_row("offending", _t(", ".join(safety.offending), style="red"))
    if safety.classes_needed:
        grid.add_row("needs classes", _t(", ".join(safety.classes_needed)))
    if safety.per_file:  # a dir's verdict is the worst of these
        grid.add_row("pickles", _t(", ".join(f"{n}: {v}" for n, v in safety.per_file.items())))
    for reason in safety.reasons[:6]:
        grid.add_row(Text("why", style="red"), _t(reason))
    grid.add_row("sync", row.sync.text + (f" on {row.sync.remote}" if row.sync.remote else ""))
    if row.sync.signature:
        grid.add_row("signature", row.sync.signature)
    for warning in info.warnings:
        grid.add_row(Text("warning", style="yellow"), _t(warning))
    return grid


def _failure_text(failure: Any) -> str:
    if isinstance(failure, dict) and "prompt" in failure:
        got = failure.get("predicted")
        return f"{failure['prompt']} -> {got if got is not None else '(no answer)'} (expected {failure.get('expected')})"
    return str(failure)


def evals_table(row: CheckpointRow, details: CheckpointDetails | None) -> Table | Text:
    evals = list(details.evals) if details else []
    if not evals and not row.info.metrics:
        return Text("No evals yet. Press e to run the arithmetic suite.", style="dim")
    from ...scores import suite_config

    table = Table(expand=True, show_edge=False)
    for col in ("suite", "configuration", "metric", "value", "source", "n"):
        table.add_column(col)
    for record in evals:  # scores of different configurations are different numbers: say which is which
        n = record.params.get("n") if isinstance(record.params, dict) else None
        table.add_row(record.suite, suite_config(record), record.metric, fmt_metric(record.value), record.source,
                      str(n or "-"))
    for name, value in sorted(row.info.metrics.items()):
        table.add_row("trainer", "trainer eval set", name, fmt_metric(value), "checkpoint", "-")
    from ...evaluate import headline_metrics

    headline = headline_metrics() | {"exact_match"}  # exact_match: the name catalogs of the first release used
    failures: list[str] = []
    for record in evals:
        if record.metric not in headline:
            continue  # one run stores several metrics with the same failures
        for failure in (record.details or {}).get("failures", [])[:5]:
            failures.append(_failure_text(failure))
    if failures:
        grid = Table.grid()
        grid.add_row(table)
        grid.add_row(Text("failures (first 5 per run):", style="bold"))
        for f in failures:
            grid.add_row(Text(f, style="red"))
        return grid
    return table


def history_table(details: CheckpointDetails | None) -> Table | Text | Group:
    from ...lineage import provenance_rows

    chain = provenance_rows(details.lineage) if details is not None else []
    lineage = None
    if chain:
        lineage = Table(expand=True, show_edge=False, show_header=False, title="Lineage", title_justify="left")
        lineage.add_column("what", style="bold")
        lineage.add_column("value")
        for label, value in chain:
            lineage.add_row(Text(label), Text(value))  # Text: paths are shown as written, never as markup
    if details is None or not (details.conversions or details.pushes or details.pulls):
        none = Text("No conversions, pushes or pulls recorded.", style="dim")
        return Group(lineage, none) if lineage is not None else none
    table = Table(expand=True, show_edge=False)
    for col in ("when", "what", "where", "sha"):
        table.add_column(col)
    events: list[tuple[float, str, str, str]] = []
    for c in details.conversions:
        events.append((c.created_at, "convert", c.output_path, short_sha(c.source_sha256)))
    for p in details.pushes:
        ref = p.tag or p.revision or ""
        events.append((p.created_at, "push", f"{p.remote}" + (f"@{ref}" if ref else ""), short_sha(p.commit_sha)))
    for p in details.pulls:
        events.append((p.created_at, "pull", f"{p.remote} -> {p.dest}", short_sha(p.commit_sha)))
    for when, what, where, sha in sorted(events, reverse=True):
        table.add_row(fmt_time(when), what, where, sha)
    return Group(lineage, table) if lineage is not None else table


class DetailPane(Vertical):
    """Rendered from (row, details) given by the app."""

    def __init__(self, *, workspace: Path | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.row: CheckpointRow | None = None
        self.details: CheckpointDetails | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="overview", id="detail-tabs"):
            with TabPane("Overview", id="overview"):
                with VerticalScroll():
                    yield Static("No checkpoint selected.", id="overview-body")
            with TabPane("Tensors", id="tensors"):
                yield Static("", id="tied-groups")
                yield DataTable(id="tensor-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Model card", id="card"):
                with VerticalScroll():
                    yield Static("", id="card-source")
                    yield Markdown("", id="card-body")
            with TabPane("Evals", id="evals"):
                with VerticalScroll():
                    yield Static("", id="evals-body")
            with TabPane("History", id="history"):
                with VerticalScroll():
                    yield Static("", id="history-body")

    @property
    def active(self) -> str:
        return self.query_one(TabbedContent).active

    @active.setter
    def active(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def on_mount(self) -> None:
        table = self.query_one("#tensor-table", DataTable)
        for key in ("name", "dtype", "shape", "file"):
            table.add_column(key, key=key)

    def _contents_ready(self) -> bool:
        """True when the tab bodies exist. TabbedContent composes its panes after this pane mounts, and
        on exit the app removes them before its timers stop: a cursor move in either window used to hit
        NoMatches('#overview-body'). Not ready yet: render again after the next refresh; detached: never."""
        if not self.is_attached:
            return False
        if self.query("#overview-body"):
            return True
        self.call_after_refresh(self._render_again)
        return False

    def _render_again(self) -> None:
        row, details = self.row, self.details
        if self._contents_ready():
            self.show_row(row)
            if row is not None and details is not None:
                self.show_details(row.path, details)

    def show_row(self, row: CheckpointRow | None) -> None:
        """What the table row alone tells (no I/O); tensors and the rest follow in ``show_details``."""
        self.row = row
        self.details = None
        if not self._contents_ready():
            return
        overview = self.query_one("#overview-body", Static)
        self.query_one("#tensor-table", DataTable).clear()
        self.query_one("#tied-groups", Static).update(Text("loading..." if row else "", style="dim"))
        overview.update(overview_table(row, self.workspace) if row is not None else "No checkpoint selected.")
        self._show_details_text(None)

    def show_details(self, path: str, details: CheckpointDetails) -> None:
        if self.row is None or self.row.path != path:
            return  # the selection moved on while the worker read it
        self.details = details
        if not self._contents_ready():
            return
        info = details.info or self.row.info
        self.query_one("#overview-body", Static).update(overview_table(self.row, self.workspace, info))
        self._show_tensors(info)
        self._show_details_text(details)
        if details.error:  # the worker could not read the catalog: say so where the data would be
            problem = Text(f"cannot read details: {details.error}", style="red")
            self.query_one("#tied-groups", Static).update(problem)
            self.query_one("#history-body", Static).update(problem)

    def _show_tensors(self, info: CheckpointInfo) -> None:
        table = self.query_one("#tensor-table", DataTable)
        table.clear()
        tensors = info.tensors
        for t in tensors[:MAX_TENSOR_ROWS]:
            shape = "x".join(str(d) for d in t.shape) or "scalar"
            table.add_row(_t(t.name), _t(t.dtype), shape, _t(t.file or ""))
        tied = info.tied_groups
        summary = f"{len(tensors)} tensors" + (f" (first {MAX_TENSOR_ROWS} shown)" if len(tensors) > MAX_TENSOR_ROWS
                                               else "")
        if tied:
            summary += "; tied: " + "; ".join(" = ".join(group) for group in tied)
        if not tensors:
            summary = "No tensor list in the catalog (rescan or inspect it)."
        self.query_one("#tied-groups", Static).update(_t(summary))

    def _show_details_text(self, details: CheckpointDetails | None) -> None:
        row = self.row
        card = self.query_one("#card-body", Markdown)
        source = self.query_one("#card-source", Static)
        if row is None or details is None:
            source.update(Text("loading..." if row is not None else "", style="dim"))
            card.update("")
            self.query_one("#evals-body", Static).update(evals_table(row, None) if row else "")
            self.query_one("#history-body", Static).update("")
            return
        if details.card_markdown:
            source.update(Text(details.card_source, style="dim"))
            card.update(details.card_markdown)
        elif details.card_error:  # a template or metadata error: say it, do not pretend there is no card
            source.update(Text(f"cannot preview the model card: {details.card_error}", style="red"))
            card.update("")
        else:
            source.update(Text("No model card yet. Press w to write one.", style="dim"))
            card.update("")
        self.query_one("#evals-body", Static).update(evals_table(row, details))
        self.query_one("#history-body", Static).update(history_table(details))
