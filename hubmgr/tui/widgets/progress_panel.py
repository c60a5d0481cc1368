"""Live progress of running operations: one bar per task key (bytes, files, tensors...)."""

from __future__ import annotations

from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from ...progress import ProgressEvent
from ..rows import human_size


def progress_text(event: ProgressEvent) -> str:
    if event.unit == "B":
        done = human_size(event.completed)
        return f"{done} / {human_size(event.total)}" if event.total else done
    done = f"{event.completed:g}"
    return f"{done}/{event.total:g} {event.unit}" if event.total else f"{done} {event.unit}"


class ProgressRow(Horizontal):
    def __init__(self, event: ProgressEvent, *, show_eta: bool) -> None:
        super().__init__(classes="progress-row")
        self.task_key = event.task
        # Children are built here so ``apply`` works before they are mounted.
        self._desc = Label(event.description, classes="progress-desc")
        self._bar = ProgressBar(total=event.total, show_eta=show_eta, show_percentage=True)
        self._count = Label(progress_text(event), classes="progress-count")
        self.apply(event)

    def compose(self):
        yield self._desc
        yield self._bar
        yield self._count

    def apply(self, event: ProgressEvent) -> None:
        self._desc.update(event.description)
        self._bar.update(total=event.total, progress=event.completed)
        self._count.update(progress_text(event))


class ProgressPanel(Vertical):
    """Hidden when idle. ``apply(event)`` adds, updates or (when finished) removes the task's row."""

    def __init__(self, *, show_eta: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self._show_eta = show_eta
        self._rows: dict[str, ProgressRow] = {}
        self.last_events: dict[str, ProgressEvent] = {}  # latest event per task (tests read it)

    def on_mount(self) -> None:
        self.display = False

    def apply(self, event: ProgressEvent) -> None:
        self.last_events[event.task] = event
        row = self._rows.get(event.task)
        if event.finished:
            if row is not None:
                del self._rows[event.task]
                row.remove()
        elif row is None:
            row = self._rows[event.task] = ProgressRow(event, show_eta=self._show_eta)
            self.mount(row)
        else:
            row.apply(event)
        self.display = bool(self._rows)

    def clear_tasks(self, prefix: str = "") -> None:
        """Drop the bars of tasks starting with ``prefix`` (an operation ended without finishing them)."""
        for task in [t for t in self._rows if t.startswith(prefix)]:
            self._rows.pop(task).remove()
        self.display = bool(self._rows)

    @property
    def active_tasks(self) -> list[str]:
        return list(self._rows)
