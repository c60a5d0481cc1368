"""Find the weights in a torch file's tree: a state dict, a training checkpoint's model entry, or a
whole pickled module; plus which tensors share bytes (tied weights)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import CorruptFileError
from . import limits
from .torch_objects import TensorRef
from .torch_unpickler import Stub

WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "weights", "params",
               "model_state", "ema_state_dict", "ema")
TRAINING_KEYS = {"optimizer", "optimizer_state_dict", "optim", "optimizer_state", "epoch", "step",
                 "global_step", "scheduler", "lr_scheduler", "scaler", "iteration", "epochs", "loss",
                 "best_metric", "args", "config", "hyper_parameters", "hparams"}


@dataclass
class StateDictView:
    tensors: dict[str, TensorRef]
    kind: str  # state_dict | training_checkpoint | full_model_pickle | unknown
    source_key: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    class_name: str | None = None  # the root module's class of a full-model pickle


def describe(value: Any) -> str:
    """A short human description of a non-tensor value."""
    if isinstance(value, TensorRef):
        return f"tensor {value.dtype}{list(value.shape)}"
    if isinstance(value, Stub):
        return f"object {type(value).qualname()}"
    if isinstance(value, dict):
        return f"dict with {len(value)} entries"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) and (not isinstance(value, str) or len(value) <= 200)


def _flat_tensors(obj: Any) -> dict[str, TensorRef] | None:
    """``obj`` as a flat name -> tensor dict if it is (mostly) one, else None."""
    if isinstance(obj, Stub) and isinstance(obj.state, dict):
        return None
    if not isinstance(obj, dict) or not obj:
        return None
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, TensorRef)}
    if not tensors:
        return None
    return tensors


def _module_tensors(module: Any, prefix: str, out: dict[str, TensorRef], seen: set[int], depth: int = 0) -> None:
    if not isinstance(module, Stub) or id(module) in seen:
        return
    if depth > limits.MAX_NESTING:
        raise CorruptFileError(f"modules nest more than {limits.MAX_NESTING} deep")
    seen.add(id(module))
    state = module.state if isinstance(module.state, dict) else {}
    if isinstance(module.state, tuple) and module.state and isinstance(module.state[0], dict):
        state = module.state[0]
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for attr in ("_parameters", "_buffers"):
        group = state.get(attr)
        if isinstance(group, dict):
            for name, value in group.items():
                if isinstance(value, TensorRef) and not (attr == "_buffers" and name in non_persistent):
                    out[prefix + str(name)] = value
    children = state.get("_modules")
    if isinstance(children, dict):
        for name, child in children.items():
            _module_tensors(child, f"{prefix}{name}.", out, seen, depth + 1)


def _is_module_stub(obj: Any) -> bool:
    return isinstance(obj, Stub) and isinstance(obj.state, dict) and "_parameters" in obj.state


def find_state_dict(root: Any, *, key: str | None = None) -> StateDictView:
    """Find the model weights inside an unpickled checkpoint tree."""
    if key is not None:
        if not isinstance(root, dict) or key not in root:
            raise CorruptFileError(f"no entry {key!r} in the checkpoint")
        inner = find_state_dict(root[key])
        view = _training_view(root, key, inner)
        return view
    if _is_module_stub(root):
        tensors: dict[str, TensorRef] = {}
        _module_tensors(root, "", tensors, set())
        return StateDictView(tensors, "full_model_pickle", None, {}, {}, type(root).qualname())
    if isinstance(root, dict):
        flat = _flat_tensors(root)
        if flat is not None and len(flat) == len(root):
            return StateDictView(flat, "state_dict")
        for candidate in WEIGHT_KEYS:
            if candidate in root:
                inner_obj = root[candidate]
                if _flat_tensors(inner_obj) is not None or _is_module_stub(inner_obj):
                    return _training_view(root, candidate, find_state_dict(inner_obj))
        nested = [(k, v) for k, v in root.items() if _flat_tensors(v) is not None and k not in
                  ("optimizer", "optimizer_state_dict", "optim", "scheduler", "lr_scheduler", "scaler")]
        if nested and set(map(str, root)) & TRAINING_KEYS:
            k, v = max(nested, key=lambda kv: len(kv[1]))
            return _training_view(root, k, find_state_dict(v))
        if flat is not None:  # a state dict with a few extra non-tensor entries (e.g. _metadata, version)
            view = StateDictView(flat, "state_dict")
            for k, v in root.items():
                if not isinstance(v, TensorRef):
                    view.dropped[str(k)] = describe(v)
                    if _is_scalar(v):
                        view.metadata[str(k)] = str(v)
            return view
    if isinstance(root, dict):
        nested: dict[str, TensorRef] = {}
        if _flatten_nested(root, "", nested, 0) and nested:  # {"encoder": {...}, "decoder": {...}}
            return StateDictView(nested, "state_dict")
    return StateDictView({}, "unknown", dropped={"<root>": describe(root)})


def _flatten_nested(obj: dict, prefix: str, out: dict[str, TensorRef], depth: int) -> bool:
    """Dotted names of a dict-of-dicts whose leaves are all tensors; False if anything else is inside."""
    if depth > 32:
        return False
    for k, v in obj.items():
        if isinstance(v, TensorRef):
            out[f"{prefix}{k}"] = v
        elif isinstance(v, dict) and v:
            if not _flatten_nested(v, f"{prefix}{k}.", out, depth + 1):
                return False
        else:
            return False
    return True


def _training_view(root: dict, source_key: str, inner: StateDictView) -> StateDictView:
    view = StateDictView(inner.tensors, "training_checkpoint", source_key, dict(inner.dropped),
                         dict(inner.metadata), inner.class_name)
    for k, v in root.items():
        if k == source_key:
            continue
        view.dropped[str(k)] = describe(v)
        if _is_scalar(v):
            view.metadata[str(k)] = str(v)
    return view


def tied_groups(tensors: dict[str, TensorRef]) -> list[tuple[str, ...]]:
    """Names that share one storage and the same byte range (tied weights such as GPT-2's lm_head)."""
    groups: dict[tuple, list[str]] = {}
    for name, ref in tensors.items():
        sig = (ref.storage.key, ref.byte_range(), ref.shape, ref.stride, ref.dtype)
        groups.setdefault(sig, []).append(name)
    return sorted(tuple(sorted(names)) for names in groups.values() if len(names) > 1)


def shared_storage_groups(tensors: dict[str, TensorRef]) -> list[tuple[str, ...]]:
    """Names whose tensors live in one storage (views, tied or not)."""
    groups: dict[str, list[str]] = {}
    for name, ref in tensors.items():
        groups.setdefault(ref.storage.key, []).append(name)
    return sorted(tuple(sorted(names)) for names in groups.values() if len(names) > 1)
