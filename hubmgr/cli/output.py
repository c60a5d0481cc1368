"""Output for the CLI: data on stdout (tables or ``--json``), messages and progress on stderr.

The one place that imports ``rich`` for the CLI. ``--json`` prints exactly one
JSON document on stdout: the command's ``*Result.to_dict()`` (or ``{"error": ...}``).
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from rich.console import Console

from ..errors import HubmgrError
from ..progress import ProgressEvent, ProgressSink
from ..units import human_count, human_size, printable  # noqa: F401  (re-exported for the commands)


def make_console(**options: Any) -> Console:
    # emoji=False: a remote named local:hand must not print as "local✋" (rich reads :name: as an emoji code)
    return Console(soft_wrap=True, emoji=False, **options)


stdout = make_console()
stderr = make_console(stderr=True)


def safe(text: object) -> str:
    """Untrusted ``text`` for a markup-enabled console: control characters escaped, rich markup escaped."""
    from rich.markup import escape

    return escape(printable(text))


def emit(result: Any, *, json_mode: bool, render: Callable[[Console], None]) -> None:
    """Print a result: its JSON document with ``--json``, else ``render(stdout_console)``."""
    if json_mode:
        if hasattr(result, "json_chunks"):  # long lists (ls, scan): streamed, one entry a line
            sys.stdout.writelines(result.json_chunks())
        else:
            data = result.to_dict() if hasattr(result, "to_dict") else result
            sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()
    else:
        render(stdout)


def print_table(console: Console, table: Any) -> None:
    """A rich ``Table`` at a terminal; piped, the same cells complete as tab-separated lines under a
    header line (a titled table gets its title on a line before it). A width-80 rich table in a pipe
    would drop columns and cut values without an ellipsis."""
    if console.is_terminal:
        console.print(table)
        return
    lines = [_plain(table.title)] if table.title else []
    columns = table.columns
    lines.append("\t".join(_plain(c.header) for c in columns))
    for i in range(table.row_count):
        lines.append("\t".join(_plain(c._cells[i]) for c in columns))  # rich keeps cells per column
    console.file.write("\n".join(lines) + "\n")
    console.file.flush()


def _plain(cell: Any) -> str:
    from rich.errors import MarkupError
    from rich.text import Text

    try:
        text = cell.plain if isinstance(cell, Text) else Text.from_markup(cell).plain if isinstance(cell, str) \
            else str(cell)
    except MarkupError:  # a name like "run[1" that is not markup
        text = str(cell)
    return " ".join(text.split("\n")).replace("\t", " ")  # one record per line, one field per tab


def print_error(exc: HubmgrError, *, json_mode: bool = False) -> None:
    stderr.print(f"[bold red]error:[/] {safe(exc.message)}", highlight=False, markup=True)
    if exc.hint:
        stderr.print(f"[dim]hint:[/] {safe(exc.hint)}", highlight=False)
    if json_mode:
        doc = {"error": {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint,
                         "exit_code": exc.exit_code}}
        sys.stdout.write(json.dumps(doc) + "\n")


def note(message: str) -> None:
    """A human message on stderr (never mixed with the data on stdout)."""
    stderr.print(safe(message), highlight=False)


def warnings(messages) -> None:  # noqa: ANN001 - any iterable of str
    """Each of a result's warnings as one yellow line on stderr."""
    for message in messages:
        stderr.print(f"[yellow]warning:[/] {safe(message)}", highlight=False)


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[ProgressSink]:
    """A ``ProgressSink`` drawing rich bars on stderr (only on a terminal).

    The amount column follows each event's unit: bytes show sizes and speed,
    anything else ("files", "tensors", "problems") shows ``done/total unit``.
    """
    if not enabled or not stderr.is_terminal:
        yield lambda event: None
        return
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class AmountColumn(ProgressColumn):
        def render(self, task) -> Text:
            unit = task.fields.get("unit", "B")
            if unit == "B":
                speed = f" {human_size(task.speed)}/s" if task.speed else ""
                total = human_size(task.total) if task.total is not None else "?"
                return Text(f"{human_size(task.completed)}/{total}{speed}", style="progress.download")
            total = f"{task.total:,.0f}" if task.total is not None else "?"
            return Text(f"{task.completed:,.0f}/{total} {unit}", style="progress.download")

    bars = Progress(TextColumn("{task.description}"), BarColumn(), AmountColumn(), TimeRemainingColumn(),
                    console=stderr, transient=True)
    tasks: dict[str, Any] = {}

    def sink(event: ProgressEvent) -> None:
        task_id = tasks.get(event.task)
        if task_id is None:
            task_id = tasks[event.task] = bars.add_task(event.description, total=event.total, unit=event.unit)
        bars.update(task_id, description=event.description, completed=event.completed, total=event.total,
                    unit=event.unit)
        if event.finished:
            bars.update(task_id, visible=False)

    with bars:
        yield sink


json_option_help = "Print one JSON document on stdout instead of a table."
