"""The checkpoint table, virtualised: only the rows on screen are ever turned into renderables.

The rows are plain data (``rows_shown``, in display order); the cursor is an index into it. A line is
rendered when Textual asks for it (``render_line``), so showing, filtering or sorting 50,000 rows
costs one pass over the data, not one widget row per checkpoint (Textual's DataTable measures and
stores every cell of every row it is given). Looks and keys follow DataTable with a row cursor.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.renderables.styled import Styled
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...models import SYNC_CONVERTED, SYNC_LOCAL, SYNC_MODIFIED, SYNC_PULLED, SYNC_PUSHED
from ..rows import COLUMNS, CheckpointRow, column_widths

_VERDICT_STYLE = {"safe": "green", "not_pickle": "green", "needs_code": "yellow", "unsafe": "bold red",
                  "unknown": "dim"}
_SYNC_STYLE = {SYNC_LOCAL: "dim", SYNC_CONVERTED: "cyan", SYNC_PUSHED: "green", SYNC_MODIFIED: "yellow",
               SYNC_PULLED: "blue"}
_PADDING = 1  # cells of space on each side of a cell, as DataTable's cell_padding
_HEADER = -1  # row index of the header line
_NO_ROW = -2


class CheckpointTable(ScrollView, can_focus=True):
    """Shows rows; the app decides which rows, in which order."""

    ALLOW_SELECT = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "cursor_top", "Top", show=False),
        Binding("ctrl+end", "cursor_bottom", "Bottom", show=False),
        Binding("home", "scroll_home", "Home", show=False),
        Binding("end", "scroll_end", "End", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
    ]
    # DataTable's names, so the table looks like every other table of the app (styles in app.tcss).
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "datatable--header", "datatable--cursor", "datatable--hover", "datatable--header-hover",
        "datatable--odd-row", "datatable--even-row",
    }

    class RowHighlighted(Message):
        """The cursor moved to another row (``row`` is None when the table is empty)."""

        def __init__(self, table: "CheckpointTable", cursor_row: int, row: CheckpointRow | None) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row
            self.row = row

        @property
        def control(self) -> "CheckpointTable":
            return self.table

    class HeaderSelected(Message):
        """A column header was clicked."""

        def __init__(self, table: "CheckpointTable", column_key: str) -> None:
            super().__init__()
            self.table = table
            self.column_key = column_key

        @property
        def control(self) -> "CheckpointTable":
            return self.table

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows_shown: list[CheckpointRow] = []
        self.cursor_row = 0
        self._marked: set[str] = set()
        self._labels = [Text.from_markup(header) for _, header in COLUMNS]
        # Content width of each column: the widest cell ever shown, like DataTable (columns never
        # shrink, so typing a filter does not make them jump).
        self._widths = [label.cell_len for label in self._labels]
        self._index: dict[str, int] | None = None  # path -> position in rows_shown, built when asked
        self._hover_row = _NO_ROW
        self._show_hover = False
        self._lines: LRUCache[tuple, Strip] = LRUCache(1024)

    # -- the data --------------------------------------------------------------------
    def show(self, rows: list[CheckpointRow], marked: set[str], keep_path: str | None = None,
             widths: tuple[int, ...] | None = None) -> None:
        """Replace the rows, keeping the cursor on ``keep_path`` when it is still shown.

        ``widths``: the content width of each column after the mark, measured over every row the
        rows are taken from (the catalog snapshot's), so filtering or sorting measures nothing.
        """
        self.rows_shown = rows
        self._marked = set(marked)
        self._index = None
        for column, width in enumerate(column_widths(rows) if widths is None else widths, start=1):
            self._widths[column] = max(self._widths[column], width)
        self.virtual_size = Size(self.table_width, len(rows) + 1)  # + the header line
        self._lines.clear()
        cursor = self.index_of(keep_path) if keep_path is not None else None
        self.cursor_row = self._clamp(cursor if cursor is not None else 0)
        if cursor is None:
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.call_after_refresh(self._scroll_cursor_into_view)
        self.refresh()

    @property
    def table_width(self) -> int:
        return sum(self._widths) + 2 * _PADDING * len(self._widths)

    @property
    def row_count(self) -> int:
        return len(self.rows_shown)

    def index_of(self, path: str) -> int | None:
        if self._index is None:
            self._index = {row.path: index for index, row in enumerate(self.rows_shown)}
        return self._index.get(path)

    def cells(self, row: CheckpointRow) -> list[Text]:
        # Text, not str: a str would be parsed as rich markup, and names come from untrusted files.
        marked = row.path in self._marked
        cells = [Text("*", style="bold magenta") if marked else Text(" ")]
        cells += [Text(text) for text in row.shown_cells]
        cells[8].stylize(_VERDICT_STYLE.get(row.verdict, ""))
        cells[9].stylize(_SYNC_STYLE.get(row.sync.state, ""))
        return cells

    def get_row_at(self, index: int) -> list[Text]:
        return self.cells(self.rows_shown[index])

    def get_row(self, path: str) -> list[Text]:
        index = self.index_of(path)
        if index is None:
            raise KeyError(path)
        return self.get_row_at(index)

    def set_marked(self, row: CheckpointRow, marked: bool) -> None:
        if marked:
            self._marked.add(row.path)
        else:
            self._marked.discard(row.path)
        index = self.index_of(row.path)
        if index is not None:
            self._refresh_row(index)

    @property
    def selected(self) -> CheckpointRow | None:
        if not self.rows_shown or self.cursor_row < 0 or self.cursor_row >= len(self.rows_shown):
            return None
        return self.rows_shown[self.cursor_row]

    # -- the cursor ------------------------------------------------------------------
    def _clamp(self, index: int) -> int:
        return max(0, min(index, len(self.rows_shown) - 1))

    def move_cursor(self, *, row: int | None = None, animate: bool = False, scroll: bool = True) -> None:
        if row is None:
            return
        old, new = self.cursor_row, self._clamp(row)
        self.cursor_row = new
        if old != new:
            self._refresh_row(old)
            self._refresh_row(new)
            self.post_message(self.RowHighlighted(self, new, self.selected))
        if scroll:
            self._scroll_cursor_into_view(animate=animate)

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)  # - the header line

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        top, page = round(self.scroll_y), self._page_height()
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=animate, force=True)
        elif self.cursor_row >= top + page:
            self.scroll_to(y=self.cursor_row - page + 1, animate=animate, force=True)

    def action_cursor_up(self) -> None:
        self._keyboard()
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._keyboard()
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self._keyboard()
        page = self._page_height()
        self.scroll_relative(y=-page, animate=False, force=True)
        self.move_cursor(row=self.cursor_row - page, scroll=False)
        self._scroll_cursor_into_view()

    def action_page_down(self) -> None:
        self._keyboard()
        page = self._page_height()
        self.scroll_relative(y=page, animate=False, force=True)
        self.move_cursor(row=self.cursor_row + page, scroll=False)
        self._scroll_cursor_into_view()

    def action_cursor_top(self) -> None:
        self._keyboard()
        self.move_cursor(row=0)

    def action_cursor_bottom(self) -> None:
        self._keyboard()
        self.move_cursor(row=len(self.rows_shown) - 1)

    def action_scroll_home(self) -> None:
        self._keyboard()
        self.scroll_x = 0

    def action_scroll_end(self) -> None:
        self._keyboard()
        self.scroll_x = self.max_scroll_x

    # -- the mouse -------------------------------------------------------------------
    def _row_at(self, event: events.MouseEvent) -> tuple[int, int] | None:
        """(row index or _HEADER, x in the table) under the mouse; None outside the rows."""
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        row = _HEADER if offset.y == 0 else round(self.scroll_y) + offset.y - 1
        return (row, offset.x + round(self.scroll_x)) if row < len(self.rows_shown) else None

    def _column_at(self, x: int) -> str | None:
        right = 0
        for (key, _), width in zip(COLUMNS, self._widths):
            right += width + 2 * _PADDING
            if x < right:
                return key
        return None

    def _keyboard(self) -> None:
        self._set_hover(self._hover_row, False)

    def _set_hover(self, row: int, show: bool) -> None:
        if (row, show) != (self._hover_row, self._show_hover):
            self._refresh_row(self._hover_row)
            self._hover_row, self._show_hover = row, show
            self._refresh_row(row)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        under = self._row_at(event)
        self._set_hover(under[0] if under else _NO_ROW, under is not None)

    def on_leave(self, _: events.Leave) -> None:
        self._set_hover(self._hover_row, False)

    def on_click(self, event: events.Click) -> None:
        under = self._row_at(event)
        if under is None:
            return
        row, x = under
        if row == _HEADER:
            column = self._column_at(x)
            if column is not None:
                self.post_message(self.HeaderSelected(self, column))
        else:
            self.move_cursor(row=row, animate=True)
            event.stop()

    # -- rendering: one line at a time, only the lines on screen -------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()

    def on_resize(self, _: events.Resize) -> None:
        self._lines.clear()

    def on_focus(self, _: events.Focus) -> None:
        self._lines.clear()  # the cursor style depends on focus

    def on_blur(self, _: events.Blur) -> None:
        self._lines.clear()

    def _refresh_row(self, index: int) -> None:
        if index == _NO_ROW:
            return
        y = 0 if index == _HEADER else index + 1 - round(self.scroll_y)
        if 0 <= y < self.size.height:
            self.refresh_line(y)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        index = _HEADER if y == 0 else scroll_y + y - 1
        if index >= len(self.rows_shown):
            return Strip.blank(width, self.rich_style)
        line = self._line(index, width)
        return line.crop(scroll_x, scroll_x + width).adjust_cell_length(width, self.rich_style).simplify()

    def _line(self, index: int, width: int) -> Strip:
        """The whole (uncropped) line of row ``index``, as DataTable draws it with a row cursor."""
        row = None if index == _HEADER else self.rows_shown[index]
        cursor = index == self.cursor_row and row is not None
        hover = self._show_hover and index == self._hover_row
        key = (index, row.path if row else None, row is not None and row.path in self._marked, cursor, hover,
               width, tuple(self._widths))
        cached = self._lines.get(key)
        if cached is not None:
            return cached
        component = self._component_style(index == _HEADER, cursor, hover)
        row_style = self._row_style(index)
        pre = row_style + component
        post = Style.from_color(color=component.color)  # the cursor's colour wins over a cell's own
        cells = self._labels if row is None else self.cells(row)
        console = self.app.console
        segments: list[Segment] = []
        for column, (cell, content_width) in enumerate(zip(cells, self._widths)):
            cell_width = content_width + 2 * _PADDING
            options = self.app.console_options.update_dimensions(cell_width, 1).update(no_wrap=True)
            # The meta is DataTable's: the same segments, so the table looks exactly as before.
            style = pre + Style.from_meta({"row": index, "column": column})
            segments += _first_line(console, Styled(Padding(cell, (0, _PADDING)), pre_style=style, post_style=post),
                                    options)
        segments.append(Segment(" " * max(0, width - self.table_width),
                                pre + Style.from_meta({"row": index, "column": 0, "out_of_bounds": True})))
        line = Strip(segments)
        self._lines[key] = line
        return line

    def _row_style(self, index: int) -> Style:
        if index == _HEADER:
            return self.get_component_rich_style("datatable--header")
        return self.get_component_rich_style("datatable--odd-row" if index % 2 else "datatable--even-row")

    def _component_style(self, header: bool, cursor: bool, hover: bool) -> Style:
        style = Style()
        if hover:
            style += self.get_component_rich_style("datatable--hover")
            if header:
                style += self.get_component_rich_style("datatable--header-hover")
        if cursor:
            style += self.get_component_rich_style("datatable--cursor")
        return style


def _first_line(console: Console, renderable: Styled, options) -> list[Segment]:
    return console.render_lines(renderable, options)[0]
