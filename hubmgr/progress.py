"""Progress events and cancellation, shared by the CLI (rich) and the TUI (Textual).

Core functions take ``progress: ProgressSink = no_progress`` and
``cancel: CancelToken | None = None`` keyword arguments. They report with
``progress(ProgressEvent(...))`` and call ``check_cancel(cancel)`` between units
of work. A sink must be cheap and thread-safe: workers call it from threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from .errors import CancelledError


@dataclass(frozen=True)
class ProgressEvent:
    """One update of one task. Events with the same ``task`` replace each other."""

    task: str  # stable key, e.g. "convert:model.bin" or "push:files"
    description: str  # human text, e.g. "hashing model.safetensors"
    completed: float = 0
    total: float | None = None  # None: indeterminate
    unit: str = "B"  # "B" (bytes), "files", "tensors", "problems", ...
    finished: bool = False


class ProgressSink(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...


def no_progress(event: ProgressEvent) -> None:
    """The default sink: ignores everything."""


class CancelToken:
    """Set from another thread (a TUI key, a signal handler) to stop work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


def check_cancel(cancel: CancelToken | None) -> None:
    """Raise ``CancelledError`` if the user asked to stop."""
    if cancel is not None and cancel.cancelled:
        raise CancelledError()


class Throttled:
    """Wraps a sink so bursts of updates for the same task are thinned out.

    Always passes the first and the finished event of each task.
    """

    def __init__(self, sink: ProgressSink, min_interval: float = 0.05) -> None:
        import time

        self._sink = sink
        self._interval = min_interval
        self._last: dict[str, float] = {}
        self._clock = time.monotonic
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        now = self._clock()
        with self._lock:
            last = self._last.get(event.task)
            if not event.finished and last is not None and now - last < self._interval:
                return
            self._last[event.task] = now
        self._sink(event)
