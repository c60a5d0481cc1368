"""Messages the app's thread workers post back to the UI thread.

Workers never touch widgets: they post these, and handlers in ``app.py`` update state and widgets.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from ..progress import ProgressEvent


class ProgressUpdated(Message):
    """One progress event of a running operation. A newer one with the same task key replaces it."""

    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # Bursts collapse in the queue: only the latest state of a task matters (toolong does the same).
        return isinstance(message, ProgressUpdated) and message.event.task == self.event.task


class OperationFinished(Message):
    """A worker's core function returned ``result``; ``summary`` is one line for a notification."""

    def __init__(self, op_id: int, name: str, result: Any, summary: str, summary_error: str | None = None) -> None:
        super().__init__()
        self.op_id = op_id
        self.name = name
        self.result = result
        self.summary = summary
        self.summary_error = summary_error  # the operation worked but its summary raised (a bug, shown)


class OperationFailed(Message):
    """A worker's core function raised. ``cancelled`` when the user asked it to stop."""

    def __init__(self, op_id: int, name: str, message: str, hint: str | None, *, cancelled: bool = False,
                 bug: bool = False) -> None:
        super().__init__()
        self.op_id = op_id
        self.name = name
        self.message = message
        self.hint = hint
        self.cancelled = cancelled
        self.bug = bug


class CatalogLoaded(Message):
    """The catalog was read (rows for the table, plus history used for sync states)."""

    def __init__(self, snapshot: Any) -> None:
        super().__init__()
        self.snapshot = snapshot


class DetailsLoaded(Message):
    """Evals, history and model card text of one checkpoint, read off the UI thread."""

    def __init__(self, path: str, details: Any) -> None:
        super().__init__()
        self.path = path
        self.details = details


class RemoteListed(Message):
    """What a remote browser asked for: local registry repos, refs and commits of one remote."""

    def __init__(self, listing: Any) -> None:
        super().__init__()
        self.listing = listing
