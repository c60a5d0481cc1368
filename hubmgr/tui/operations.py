"""One user action run by the app's worker (see ``HubmgrApp.run_operation``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..progress import CancelToken


@dataclass
class Operation:
    """One user action run in a thread: ``call(progress=, cancel=)`` invokes a core function."""

    name: str  # "convert", "push", ...
    call: Callable[..., Any]
    summarize: Callable[[Any], str] = lambda result: "done"
    after: Callable[[Any], None] | None = None  # runs on the UI thread with the result
    reload_catalog: bool = True
    modal_errors: bool = True  # False: a notification is enough (background rescan)
    id: int = 0
    cancel: CancelToken = field(default_factory=CancelToken)
    tasks: set[str] = field(default_factory=set)  # progress task keys this operation reported
