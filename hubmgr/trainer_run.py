"""Which files of a ``transformers.Trainer`` output dir are the model, the way ``Trainer.push_to_hub`` sees it.

- ``is_trainer_run(dir)``: a dir holding ``checkpoint-N`` dirs or the Trainer's own files.
- ``run_model_files(dir)``: the final model at the top level; no ``checkpoint-*/`` dirs, no ``_*``
  files, no optimizer/scheduler/scaler/rng state (each left-out file says why).
- ``checkpoint_model_files(run, ckpt)``: one checkpoint's weights + config + tokenizer files
  (tokenizer files from the run's top level when the checkpoint has none).
- ``training_args_json(path)``: ``training_args.bin`` (a pickle of ``TrainingArguments``) read with the
  restricted unpickler, never executed, as the JSON ``TrainingArguments.to_dict()`` would give
  (enums as values, ``*_token`` fields masked).

Which checkpoint ``--checkpoint best|last|N`` means is decided by ``scores.resolve_checkpoint``.
"""

from __future__ import annotations

import fnmatch
import json
import math
from pathlib import Path
from typing import Any

from .formats.layout import TOKENIZER_FILES as LAYOUT_TOKENIZER_FILES
from .formats.trainer_state import CHECKPOINT_DIR_RE
from .models import LeftOut

TRAINING_ARGS_BIN = "training_args.bin"
TRAINING_ARGS_JSON = "training_args.json"
# What a Trainer writes to resume training (transformers.trainer: OPTIMIZER_NAME, SCHEDULER_NAME, ...).
RESUME_STATE = ("optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "rng_state.pth", "rng_state_*.pth")
TRAINER_MARKERS = ("trainer_state.json", TRAINING_ARGS_BIN)
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "model-*-of-*.safetensors",
               "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model-*-of-*.bin",
               "pytorch_model.bin.index.json", "adapter_model.safetensors", "adapter_config.json")
TOKENIZER_FILES = tuple(dict.fromkeys((*LAYOUT_TOKENIZER_FILES, "special_tokens_map.json", "added_tokens.json",
                                        "chat_template.jinja", "chat_template.json")))
# Runtime state TrainingArguments keeps but ``to_dict()`` never shows.
_RUNTIME_ARGS = frozenset({"distributed_state", "deepspeed_plugin"})


def _is(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def is_hf_pickled_weights(rel: str) -> bool:
    """``pytorch_model.bin`` or one of its shards (what converting a model dir reads)."""
    return _is(rel.rsplit("/", 1)[-1], ("pytorch_model.bin", "pytorch_model-*-of-*.bin"))


def checkpoint_dirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and CHECKPOINT_DIR_RE.match(d.name)),
                  key=lambda d: int(CHECKPOINT_DIR_RE.match(d.name).group(1)))  # type: ignore[union-attr]


def is_trainer_run(folder: Path) -> bool:
    """A Trainer output dir (checkpoint-N dirs, or trainer_state.json / training_args.bin at the top)."""
    return bool(checkpoint_dirs(folder)) or any((folder / m).is_file() for m in TRAINER_MARKERS)


def run_model_files(folder: Path, files: dict[str, Path]) -> tuple[dict[str, Path], list[LeftOut]]:
    """``files`` (relpath -> file under the run dir) without what ``Trainer.push_to_hub`` leaves out."""
    kept: dict[str, Path] = {}
    left: list[LeftOut] = []
    skipped_ckpts: set[str] = set()
    for rel, path in files.items():
        top, _, rest = rel.partition("/")
        name = rel.rsplit("/", 1)[-1]
        if rest and CHECKPOINT_DIR_RE.match(top):
            skipped_ckpts.add(top)
        elif top.startswith("_"):
            left.append(LeftOut(rel, "starts with '_' (Trainer.push_to_hub leaves these out)"))
        elif _is(name, RESUME_STATE):
            left.append(LeftOut(rel, "optimizer/scheduler/rng state: only needed to resume training"))
        else:
            kept[rel] = path
    if skipped_ckpts:
        names = sorted(skipped_ckpts, key=lambda n: int(CHECKPOINT_DIR_RE.match(n).group(1)))  # type: ignore
        left.insert(0, LeftOut(f"{', '.join(n + '/' for n in names)}",
                               "Trainer checkpoints are not the model; push one with --checkpoint best|last|N"))
    return kept, left


def checkpoint_model_files(run: Path, ckpt: Path) -> tuple[dict[str, Path], list[LeftOut]]:
    """The model files of ``ckpt`` (relpaths at the repo's top level) and what is left out."""
    kept: dict[str, Path] = {}
    left: list[LeftOut] = []
    for path in sorted(ckpt.iterdir()):
        if not path.is_file():
            continue
        if _is(path.name, MODEL_FILES + TOKENIZER_FILES) or path.name == TRAINING_ARGS_BIN:
            kept[path.name] = path
        elif _is(path.name, RESUME_STATE):
            left.append(LeftOut(f"{ckpt.name}/{path.name}", "optimizer/scheduler/rng state: only needed to resume"))
        else:
            left.append(LeftOut(f"{ckpt.name}/{path.name}", "not part of the model (weights, config, tokenizer)"))
    if not any(_is(n, TOKENIZER_FILES) for n in kept):
        for path in sorted(run.iterdir()):  # run_clm.py saves the tokenizer only at the top level
            if path.is_file() and _is(path.name, TOKENIZER_FILES):
                kept[path.name] = path
    if TRAINING_ARGS_BIN not in kept and (run / TRAINING_ARGS_BIN).is_file():
        kept[TRAINING_ARGS_BIN] = run / TRAINING_ARGS_BIN
    return kept, left


def training_args_json(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(fields, None) of a ``training_args.bin`` read statically, or (None, why it could not be read)."""
    from .errors import HubmgrError
    from .formats.torchfile import Stub, load_torch_file, load_pickle_file

    try:
        try:
            root = load_torch_file(path, strict=False).root
        except HubmgrError:
            root = load_pickle_file(path, strict=False).root  # older transformers: a bare pickle
    except HubmgrError as exc:
        return None, f"unreadable ({exc.message})"
    if not (isinstance(root, Stub) and root.qualname().endswith("TrainingArguments")
            and isinstance(root.state, dict)):
        return None, f"not a TrainingArguments pickle ({getattr(root, 'qualname', lambda: type(root).__name__)()})"
    out: dict[str, Any] = {}
    for key, value in root.state.items():
        if not isinstance(key, str) or key.startswith("_") or key in _RUNTIME_ARGS:
            continue
        if key.endswith("_token"):  # TrainingArguments.to_dict() masks these: never publish a token
            out[key] = f"<{key.upper()}>"
            continue
        plain = _plain(value)
        if plain is not _UNSET:
            out[key] = plain
    return out, None


_UNSET = object()


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON value for what the restricted unpickler gave, or ``_UNSET`` when it has none."""
    from .formats.torchfile import Stub

    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth > 4:
        return _UNSET
    if isinstance(value, Stub):
        if len(value.args) == 1 and isinstance(value.args[0], (str, int)):  # an Enum member: its value
            return value.args[0]
        if isinstance(value.state, dict):  # a small config dataclass (AcceleratorConfig)
            return _plain(value.state, depth + 1)
        return _UNSET
    if isinstance(value, (list, tuple)):
        items = [_plain(v, depth + 1) for v in value]
        return [v for v in items if v is not _UNSET]
    if isinstance(value, dict):
        pairs = {str(k): _plain(v, depth + 1) for k, v in value.items() if isinstance(k, (str, int))}
        return {k: v for k, v in pairs.items() if v is not _UNSET}
    return _UNSET


def write_training_args_json(src: Path, dest: Path) -> str | None:
    """Write ``dest`` from ``src``; None on success, else why nothing was written."""
    fields, why = training_args_json(src)
    if fields is None:
        return why
    dest.write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return None
