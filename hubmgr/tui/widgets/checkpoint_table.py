"""The checkpoint table: one row per catalog entry, keyed by path."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ...models import SYNC_CONVERTED, SYNC_LOCAL, SYNC_MODIFIED, SYNC_PULLED, SYNC_PUSHED
from ...units import printable
from ..rows import COLUMNS, CheckpointRow

_VERDICT_STYLE = {"safe": "green", "not_pickle": "green", "needs_code": "yellow", "unsafe": "bold red",
                  "unknown": "dim"}
_SYNC_STYLE = {SYNC_LOCAL: "dim", SYNC_CONVERTED: "cyan", SYNC_PUSHED: "green", SYNC_MODIFIED: "yellow",
               SYNC_PULLED: "blue"}


class CheckpointTable(DataTable):
    """Shows rows; the app decides which rows, in which order."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, cell_padding=1, **kwargs)
        self.rows_shown: list[CheckpointRow] = []
        # One distinct mark cell object per row: lets ``reorder`` map a row's cells back to its path.
        self._mark_cells: dict[int, str] = {}

    def on_mount(self) -> None:
        for key, header in COLUMNS:
            self.add_column(header, key=key)

    def _styled(self, row: CheckpointRow, marked: bool) -> list:
        # Text, not str: a str cell is parsed as rich markup, and names come from untrusted files.
        cells: list = [Text(printable(c)) for c in row.cells(marked)]
        cells[8] = Text(cells[8].plain, style=_VERDICT_STYLE.get(row.verdict, ""))
        cells[9] = Text(cells[9].plain, style=_SYNC_STYLE.get(row.sync.state, ""))
        cells[0] = Text("*", style="bold magenta") if marked else Text(" ")
        self._mark_cells[id(cells[0])] = row.path
        return cells

    def show(self, rows: list[CheckpointRow], marked: set[str], keep_path: str | None = None) -> None:
        """Replace the rows, keeping the cursor on ``keep_path`` when it is still shown."""
        self.clear(columns=False)
        self._mark_cells.clear()
        self.rows_shown = rows
        for row in rows:
            self.add_row(*self._styled(row, row.path in marked), key=row.path)
        if keep_path is not None:
            for index, row in enumerate(rows):
                if row.path == keep_path:
                    self.move_cursor(row=index, animate=False, scroll=True)
                    break

    def reorder(self, rows: list[CheckpointRow]) -> bool:
        """Show the same rows in a new order without rebuilding the table (fast sort). False if not possible."""
        if {r.path for r in rows} != {r.path for r in self.rows_shown} or len(rows) != len(self.rows_shown):
            return False
        current = self.selected.path if self.selected else None
        rank = {row.path: index for index, row in enumerate(rows)}
        cells = self._mark_cells
        self.sort(key=lambda values: rank[cells[id(values[0])]])
        self.rows_shown = rows
        if current is not None:
            self.move_cursor(row=rank[current], animate=False, scroll=True)
        return True

    def set_marked(self, row: CheckpointRow, marked: bool) -> None:
        old = self.get_cell(row.path, "mark")
        self._mark_cells.pop(id(old), None)
        cell = Text("*", style="bold magenta") if marked else Text(" ")
        self._mark_cells[id(cell)] = row.path
        self.update_cell(row.path, "mark", cell)

    @property
    def selected(self) -> CheckpointRow | None:
        if not self.rows_shown or self.cursor_row < 0 or self.cursor_row >= len(self.rows_shown):
            return None
        return self.rows_shown[self.cursor_row]
