"""Checkpoints as the catalog stores them, parsed only when someone looks (issue 16).

A warm rescan of 50,000 unchanged checkpoints must not parse 50,000 stored JSON documents and
build 50,000 dataclasses just to count them; ``ls --json`` must not parse them only to print them
again. ``CheckpointSeq`` holds what a scan inspected now as ``CheckpointInfo`` and the rest as the
catalog's texts: ``len()`` and ``json_texts()`` cost no parsing, indexing or iterating parses once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Callable, Iterable, Iterator

from .catalog import stored_info_dict, stored_info_json
from .models import (VERDICT_UNKNOWN, CheckpointInfo, FileInfo, SafetyInfo, SyncState, TensorInfo, summary_dict,
                     to_jsonable)

Stored = tuple[str, str]  # (path, info JSON text as the catalog keeps it)


class CheckpointSeq(Sequence):
    """An immutable sequence of checkpoint summaries (no tensor lists), each with ``sync_state(path)``
    when a state function is given. Compares equal to a tuple of the same ``CheckpointInfo``s."""

    __slots__ = ("_items", "_state", "_infos")

    def __init__(self, items: Iterable[CheckpointInfo | Stored],
                 sync_state: Callable[[str], SyncState] | None = None) -> None:
        self._items: tuple[CheckpointInfo | Stored, ...] = tuple(items)
        self._state = sync_state
        self._infos: tuple[CheckpointInfo, ...] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def _all(self) -> tuple[CheckpointInfo, ...]:
        if self._infos is None:
            from dataclasses import replace

            state = self._state or (lambda path: None)
            infos = []
            for item in self._items:
                if isinstance(item, CheckpointInfo):
                    info = replace(item, tensors=(), sync_state=state(item.path))
                else:
                    info = info_from_dict(stored_info_dict(*item), sync_state=state(item[0]))
                infos.append(info)
            self._infos = tuple(infos)
        return self._infos

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[CheckpointInfo]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (CheckpointSeq, tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  (compares like a tuple, but holds a cache)

    def __repr__(self) -> str:
        return f"CheckpointSeq({len(self)} checkpoints)"

    def json_texts(self) -> Iterator[str]:
        """Each entry as compact JSON, the shape of ``to_dict()`` without tensors; stored ones spliced
        from the catalog's text (no parsing), with their sync state."""
        states: dict[SyncState, str] = {}
        for item in self._items:
            if isinstance(item, CheckpointInfo):
                data = summary_dict(item)
                if self._state is not None:
                    data["sync_state"] = to_jsonable(self._state(item.path))
                yield json.dumps(data, separators=(",", ":"))
                continue
            state = "null"
            if self._state is not None:
                sync = self._state(item[0])
                state = states.get(sync) or states.setdefault(sync, json.dumps(to_jsonable(sync),
                                                                               separators=(",", ":")))
            yield stored_info_json(item[0], item[1], state)


def info_from_dict(data: dict[str, Any], *, sync_state: SyncState | None = None) -> CheckpointInfo:
    """Rebuild a ``CheckpointInfo`` from its ``to_dict()`` (as stored in the catalog).

    The stored sync state is never read back: it is derived (sync_state.py); pass it in."""
    safety = data.get("safety") or {}
    return CheckpointInfo(
        path=data["path"], name=data.get("name", ""), kind=data.get("kind", "unknown"),
        format=data.get("format", "unknown"), size_bytes=int(data.get("size_bytes") or 0),
        params=data.get("params"), dtypes=tuple(data.get("dtypes") or ()), step=data.get("step"),
        metrics=dict(data.get("metrics") or {}), best_metric=data.get("best_metric"),
        model_type=data.get("model_type"), architecture=data.get("architecture"),
        has_tokenizer=bool(data.get("has_tokenizer")),
        safety=SafetyInfo(safety.get("verdict", VERDICT_UNKNOWN), tuple(safety.get("globals") or ()),
                          tuple(safety.get("offending") or ()), tuple(safety.get("classes_needed") or ()),
                          tuple(safety.get("reasons") or ()), dict(safety.get("per_file") or {})),
        files=tuple(FileInfo(f["path"], int(f["size_bytes"]), f.get("sha256")) for f in data.get("files") or ()),
        tensors=tuple(TensorInfo(t["name"], t["dtype"], tuple(t["shape"]), t.get("file"))
                      for t in data.get("tensors") or ()),
        tied_groups=tuple(tuple(g) for g in data.get("tied_groups") or ()),
        warnings=tuple(data.get("warnings") or ()), extra=dict(data.get("extra") or {}),
        sync_state=sync_state,
    )
