"""The help screen: every key, straight from the action table."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..actions import ACTIONS, EXTRA_KEYS


def help_table() -> Table:
    table = Table(title="hubmgr keys", expand=True, show_edge=False)
    table.add_column("key", style="bold cyan", no_wrap=True)
    table.add_column("action")
    table.add_column("what it does")
    for action in ACTIONS:
        table.add_row(action.keys_shown, action.title, action.help)
    for keys, what in EXTRA_KEYS:
        table.add_row(keys, "", what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="dialog wide"):
            yield Static(help_table(), id="help-table")
            yield Static("Esc closes. Every action is also in the command palette (ctrl+p).", classes="dim")

    def action_close(self) -> None:
        self.dismiss(None)
