"""Hugging Face layout names: which files of a model dir are config, weights, indexes, tokenizer,
and which names are pickles. Scan, convert, eval and push all read these (they must agree)."""

from __future__ import annotations

import os
import re

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
