"""The main screen: header, filter box, checkpoint table, detail pane, progress, footer."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent

from ..widgets.checkpoint_table import CheckpointTable
from ..widgets.detail_pane import TABS, DetailPane
from ..widgets.progress_panel import ProgressPanel


WIDE_LAYOUT_MIN = 170


class MainScreen(Screen):
    BINDINGS = [
        Binding("enter", "focus_detail", "Details", show=False),
        *[Binding(str(i + 1), f"show_tab('{tab}')", tab, show=False) for i, tab in enumerate(TABS)],
    ]

    def __init__(self, *, workspace: Path, show_eta: bool = True) -> None:
        super().__init__(id="main")
        self.workspace = workspace
        self._show_eta = show_eta
        self.ready = False  # children composed and mounted

    def compose(self) -> ComposeResult:
        yield Static("", id="topbar")
        yield Input(placeholder="filter: type words (name, kind, format, safety, sync); Esc clears", id="filter")
        with Horizontal(id="body"):
            yield CheckpointTable(id="checkpoints")
            yield DetailPane(workspace=self.workspace, id="detail")
        yield ProgressPanel(show_eta=self._show_eta, id="progress")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one(CheckpointTable).focus()
        self.ready = True
        self.app.refresh_table()

    def on_resize(self, event) -> None:
        # Side by side needs room for every column; below that the detail pane goes under the table.
        self.query_one("#body").set_class(event.size.width < WIDE_LAYOUT_MIN, "stacked")

    # -- user input routed to the app, which owns the state ----------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.app.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one(CheckpointTable).focus()

    def on_checkpoint_table_row_highlighted(self, event: CheckpointTable.RowHighlighted) -> None:
        self.app.selection_changed()

    def on_checkpoint_table_header_selected(self, event: CheckpointTable.HeaderSelected) -> None:
        self.app.sort_by(event.column_key)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "card":
            self.app.card_tab_opened()

    def action_focus_detail(self) -> None:
        self.query_one(DetailPane).query_one("Tabs").focus()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(DetailPane).active = tab

    def key_escape(self) -> bool | None:
        # Esc in the filter box clears and hides it; elsewhere it cancels (the app binding).
        box = self.query_one("#filter", Input)
        if box.has_focus:
            box.value = ""
            box.display = False
            self.query_one(CheckpointTable).focus()
            return True
        return None

    # -- called by the app --------------------------------------------------------
    def open_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @property
    def has_table(self) -> bool:
        return bool(self.query(CheckpointTable))

    @property
    def table(self) -> CheckpointTable:
        return self.query_one(CheckpointTable)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def progress(self) -> ProgressPanel:
        return self.query_one(ProgressPanel)

    def set_topbar(self, text) -> None:
        self.query_one("#topbar", Static).update(text)
