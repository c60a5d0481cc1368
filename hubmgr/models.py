"""Frozen dataclasses shared by every layer.

Naming: ``*Info`` = facts about something, ``*Plan`` = intent, ``*Result`` = outcome.
Every ``*Result`` has ``to_dict()`` giving the stable JSON shape of ``--json``.
Sections below are owned by the feature that introduced them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples, paths -> plain JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return obj


class JsonMixin:
    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


# --- checkpoints: discovery and inspection (issue 2) -------------------------

# Safety verdicts of a pickle (see pickle_safety.py).
VERDICT_SAFE = "safe"  # only allow-listed torch/collections globals
VERDICT_NEEDS_CODE = "needs_code"  # imports user classes such as __main__.Net
VERDICT_UNSAFE = "unsafe"  # os/subprocess/eval/exec or any non-allow-listed callable
VERDICT_NOT_PICKLE = "not_pickle"  # safetensors and other formats that cannot run code
VERDICT_UNKNOWN = "unknown"  # unreadable or corrupt


@dataclass(frozen=True)
class TensorInfo(JsonMixin):
    name: str
    dtype: str  # safetensors spelling: F32, F16, BF16, I64, BOOL, ...
    shape: tuple[int, ...]
    file: str | None = None  # relative file holding it (sharded models)


@dataclass(frozen=True)
class SafetyInfo(JsonMixin):
    verdict: str
    globals: tuple[str, ...] = ()  # every "module.name" the pickle imports
    offending: tuple[str, ...] = ()  # the ones that made the verdict not safe
    classes_needed: tuple[str, ...] = ()  # user classes a full-model pickle needs


@dataclass(frozen=True)
class FileInfo(JsonMixin):
    path: str  # relative to the checkpoint's path (or the file name)
    size_bytes: int
    sha256: str | None = None


@dataclass(frozen=True)
class CheckpointInfo(JsonMixin):
    path: str  # absolute path of the dir or file
    name: str
    kind: str  # hf_model | trainer_checkpoint | state_dict | training_checkpoint | full_model_pickle | safetensors | lfs_pointer | unknown
    format: str  # safetensors | sharded_safetensors | torch_zip | torch_legacy | sharded_bin | lfs_pointer | unknown
    size_bytes: int
    params: int | None = None
    dtypes: tuple[str, ...] = ()
    step: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    best_metric: float | None = None
    model_type: str | None = None
    architecture: str | None = None
    has_tokenizer: bool = False
    safety: SafetyInfo = field(default_factory=lambda: SafetyInfo(VERDICT_UNKNOWN))
    files: tuple[FileInfo, ...] = ()
    tensors: tuple[TensorInfo, ...] = ()
    tied_groups: tuple[tuple[str, ...], ...] = ()  # names sharing one storage
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific facts (trainer state, class names...)


@dataclass(frozen=True)
class ScanResult(JsonMixin):
    checkpoints: tuple[CheckpointInfo, ...]
    warnings: tuple[str, ...] = ()
    files_hashed: int = 0
    bytes_hashed: int = 0


# --- convert (issue 3) -------------------------------------------------------


# --- eval, cards, compare (issue 4) ------------------------------------------


# --- remotes, push, pull, deploy (issues 5 and 6) ----------------------------


# --- guard (issue 6) ---------------------------------------------------------
