"""Progress of Hub transfers: the meter that turns per-file byte counts (huggingface_hub's tqdm-compatible
bars on downloads, request bodies on uploads) into hubmgr progress events."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from ..errors import CancelledError
from ..progress import CancelToken, ProgressEvent, ProgressSink

PROGRESS_INTERVAL = 0.05  # seconds between byte updates of one transfer


class TransferMeter:
    """Aggregates per-file byte counts from worker threads into two progress tasks (bytes, files).

    ``bar_class(name)`` returns a tqdm-compatible class that ``huggingface_hub`` instantiates
    for one file's download; its ``update(n)`` feeds the byte counter and checks ``cancel``.
    """

    def __init__(self, sink: ProgressSink, task: str, description: str, *, total_bytes: int, total_files: int,
                 cancel: CancelToken | None) -> None:
        self._sink, self._task, self._desc = sink, task, description
        self.total_bytes, self.total_files = total_bytes, total_files
        self._bytes = 0
        self._files = 0
        self._cancel = cancel
        self.stopped = False  # set when another file failed: stop the rest
        self._lock = threading.Lock()
        self._last = 0.0
        self._emit(force=True)

    def _emit(self, force: bool = False, finished: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        self._sink(ProgressEvent(f"{self._task}:bytes", self._desc, self._bytes, self.total_bytes, "B",
                                 finished=finished))
        self._sink(ProgressEvent(f"{self._task}:files", f"{self._desc} (files)", self._files, self.total_files,
                                 "files", finished=finished))

    def add(self, n: int) -> None:
        with self._lock:
            self._bytes = min(self.total_bytes, max(0, self._bytes + n))  # retried reads count twice
            self._emit()

    def bar_class(self, name: str) -> Callable[..., Any]:
        meter = self

        class _Bar:
            """Stands in for tqdm inside huggingface_hub: counts bytes, draws nothing."""

            def __init__(self, *args: Any, initial: int = 0, **kwargs: Any) -> None:
                self.n = 0
                self.total = kwargs.get("total")
                if initial:
                    self.update(initial)

            def update(self, n: int | float = 1) -> None:
                if meter.stopped or (meter._cancel is not None and meter._cancel.cancelled):
                    raise CancelledError()
                n = int(n)
                self.n += n
                _Bar.counted += n
                meter.add(n)

            def __enter__(self) -> "_Bar":
                return self

            def __exit__(self, *exc: Any) -> None:
                return None

            def close(self) -> None:
                pass

            def set_description(self, *args: Any, **kwargs: Any) -> None:
                pass

            refresh = set_postfix = set_description

        _Bar.counted = 0  # type: ignore[attr-defined]
        return _Bar

    def rewind(self, bar: Any) -> None:
        """Forget what a failed attempt of one file counted."""
        counted = getattr(bar, "counted", 0)
        if counted:
            self.add(-counted)
            bar.counted = 0

    def file_done(self, size: int, counter: Any = None) -> None:
        """One file finished; ``counter`` (a bar or an upload op) holds the bytes already reported."""
        with self._lock:
            counted = min(size, getattr(counter, "counted", 0) if counter is not None else 0)
            # Files the library skipped (already complete, unchanged) reported nothing: count them now.
            self._bytes = min(self.total_bytes, self._bytes + size - counted)
            self._files += 1
            self._emit(force=True)

    def abort(self) -> None:
        self.stopped = True
        with self._lock:
            self._emit(force=True, finished=True)

    def finish(self) -> None:
        with self._lock:
            self._emit(force=True, finished=True)
