"""Hugging Face layout names: which files of a model dir are config, weights, indexes, tokenizer,
and which names are pickles. Scan, convert, eval and push all read these (they must agree)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError

from .lfs_pointer import LFS_POINTER_PREFIX, looks_like_lfs_pointer

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN_FILE = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFETENSORS_FILE, BIN_FILE)  # preferred first
WEIGHT_INDEXES = (SAFETENSORS_INDEX, BIN_INDEX)
# Weights and indexes as transformers names them, sharded or not.
HF_WEIGHT_RE = re.compile(r"^(model(-\d+-of-\d+)?\.safetensors|pytorch_model(-\d+-of-\d+)?\.bin"
                          r"|(model\.safetensors|pytorch_model\.bin)\.index\.json)$")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt",
                   "merges.txt", "spiece.model", "sentencepiece.bpe.model")
# What a Trainer saves next to the model for resuming: pickles from_pretrained never loads.
TRAINER_AUX_PICKLES = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt")
# Single files a scan looks at outside model dirs.
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
# Names that hold pickles (loading them runs code): push refuses them, convert never copies them.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def is_pickle_name(name: str) -> bool:
    return name.lower().endswith(PICKLE_SUFFIXES)


def sniff_torch_file(path: str | os.PathLike[str]) -> bool:
    """True when the file starts like a torch save (zip or pickle) or an LFS pointer to one.

    ``.bin`` is also raw data (token memmaps, ...); only these count as checkpoints. An unreadable
    file counts, so that inspection reports why."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(LFS_POINTER_PREFIX))
    except OSError:
        return True
    return head[:4] == b"PK\x03\x04" or head[:1] == b"\x80" or looks_like_lfs_pointer(head)


# Text and safetensors: never pickles, not worth opening during a scan.
NOT_PICKLE_SUFFIXES = (".json", ".txt", ".md", ".py", ".yaml", ".yml", ".csv", ".jsonl", ".safetensors")


def holds_pickles(path: Path) -> bool:
    """Any other file holding pickles (.pkl .pth.tar .joblib .npy ...): a look at its first bytes."""
    from .sniff import sniff_pickle

    return path.suffix not in NOT_PICKLE_SUFFIXES and sniff_pickle(path, head_bytes=4096) is not None


# -- the two JSON files of a model dir ---------------------------------------------------------

# config.json keys worth showing (size of the model, dtype, tying).
CONFIG_FACTS = ("vocab_size", "n_layer", "num_hidden_layers", "hidden_size", "n_embd", "torch_dtype", "dtype",
                "tie_word_embeddings")


def read_config(directory: Path) -> tuple[dict[str, Any], str | None]:
    """(config.json as a dict, a warning); ({}, None) when there is none."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{CONFIG_FILE}: unreadable ({exc})"
    return (data, None) if isinstance(data, dict) else ({}, f"{CONFIG_FILE}: not a JSON object")


def architecture_of(config: dict[str, Any]) -> str | None:
    archs = config.get("architectures")
    if isinstance(archs, list) and archs and isinstance(archs[0], str):
        return archs[0]
    return None


def index_shards(path: Path) -> list[str]:
    """The shard file names a ``*.index.json`` maps weights to, each once, in first-seen order."""
    try:
        weight_map = json.loads(path.read_text(encoding="utf-8"))["weight_map"]
        return list(dict.fromkeys(str(v) for v in weight_map.values()))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptFileError(f"{path}: not a valid shard index ({type(exc).__name__}: {exc})",
                               "re-save the model (save_pretrained writes a fresh index)") from exc
