"""The checkpoint an eval runs on: find its weights and tokenizer, hash the weights, load it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CorruptFileError, MissingToolError, NotFoundError
from ..formats.hashing import sha256_cached
from ..formats.layout import TOKENIZER_FILES, WEIGHT_FILES, WEIGHT_INDEXES, index_shards

if TYPE_CHECKING:
    from ..catalog import Catalog



@dataclass(frozen=True)
class ModelDir:
    path: Path
    weights: tuple[Path, ...]  # one file, or every shard
    tokenizer_path: Path  # usually ``path``; the run dir for a Trainer checkpoint-N saved without one


def _has_tokenizer(directory: Path) -> bool:
    return any((directory / name).is_file() for name in TOKENIZER_FILES)


def resolve_model_dir(path: str | Path) -> ModelDir:
    """The HF model dir behind ``path``; a clear error naming whatever is missing for transformers."""
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise NotFoundError(f"{p} does not exist")
    directory = p if p.is_dir() else p.parent
    missing: list[str] = []
    if not (directory / "config.json").is_file():
        missing.append("config.json")
    tokenizer_path = directory
    if not _has_tokenizer(directory):
        # A Trainer given no processing_class saves checkpoint-N dirs without the tokenizer; the run dir has it.
        if directory.name.startswith("checkpoint-") and _has_tokenizer(directory.parent):
            tokenizer_path = directory.parent
        else:
            missing.append("a tokenizer (tokenizer.json or tokenizer_config.json)")
    weights = find_weights(directory)
    if not weights:
        missing.append("weights (model.safetensors or pytorch_model.bin)")
    if missing:
        raise NotFoundError(
            f"{directory} cannot be loaded by transformers: missing {', '.join(missing)}",
            "save them next to the weights: model.config.save_pretrained(DIR) and tokenizer.save_pretrained(DIR)"
            " (hubmgr convert writes safetensors; copy config.json and the tokenizer files from the base model)",
        )
    return ModelDir(directory, weights, tokenizer_path)


def find_weights(directory: Path) -> tuple[Path, ...]:
    for name in WEIGHT_FILES:
        if (directory / name).is_file():
            return (directory / name,)
    for name in WEIGHT_INDEXES:
        index = directory / name
        if index.is_file():
            return tuple(directory / s for s in sorted(index_shards(index)))
    return ()


def weights_sha256(directory: str | Path, catalog: "Catalog | None" = None) -> tuple[str | None, str | None]:
    """(weights file name, sha256). Sharded weights: sha256 of the "name sha256" lines of every shard."""
    directory = Path(directory)
    files = find_weights(directory) if directory.is_dir() else ((directory,) if directory.is_file() else ())
    if not files:
        return None, None
    if len(files) == 1:
        return files[0].name, sha256_cached(files[0], catalog)
    lines = "".join(f"{f.name} {sha256_cached(f, catalog)}\n" for f in files)
    return f"{len(files)} shards", hashlib.sha256(lines.encode()).hexdigest()


def check_pickled_weights(model_dir: ModelDir) -> None:
    """Pickled weights (pytorch_model*.bin) must pass hubmgr's own reader before transformers sees them:
    only allow-listed globals, and every tensor view inside its storage (bounds before numpy/torch)."""
    from ..formats.torchfile import load_torch_file

    for weights in model_dir.weights:
        if weights.suffix != ".safetensors":
            load_torch_file(weights, strict=True)  # UnsafePickleError / CorruptFileError, nothing executed


def load_model(model_dir: ModelDir) -> tuple[Any, Any]:
    try:
        import torch  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise MissingToolError("evaluation needs torch and transformers", "pip install 'hubmgr[ml]'") from exc
    hf_logging.disable_progress_bar()
    check_pickled_weights(model_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir.tokenizer_path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(model_dir.path, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptFileError(f"transformers cannot load {model_dir.path} as a causal LM: {first}",
                               "check config.json (model_type, architectures) and the weights") from exc
    model.eval()
    tokenizer.padding_side = "left"  # generation continues from the right edge
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
