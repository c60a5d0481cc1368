"""Builders of real checkpoint files for tests and benchmarks (good, odd and malicious ones).

Everything is written by real torch / safetensors code or by the pickle module;
tensor libraries are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path
from typing import Any


def _torch() -> Any:
    import torch

    return torch


USER_MODULE = "my_training_code"


def make_tiny_net() -> Any:
    """A small ``nn.Module`` defined here (a "user class" for full-model pickles)."""
    torch = _torch()

    class TinyNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)
            self.proj = torch.nn.Linear(4, 3)
            self.head = torch.nn.Linear(4, 10, bias=False)
            self.head.weight = self.embed.weight  # tied
            self.register_buffer("scale", torch.tensor(0.5))

    # Pickled as a class of the user's own training code (a module that is not an installed
    # distribution), which is what hubmgr grades ``needs_code``.
    TinyNet.__module__ = USER_MODULE
    TinyNet.__qualname__ = "TinyNet"
    user = sys.modules.setdefault(USER_MODULE, types.ModuleType(USER_MODULE))
    user.TinyNet = TinyNet
    torch.manual_seed(0)
    return TinyNet()


def state_dict_tensors() -> dict[str, Any]:
    """A state dict with awkward members: several dtypes, 0-dim, a transposed view, views of one storage."""
    torch = _torch()
    torch.manual_seed(0)
    base = torch.randn(4, 6)
    shared = torch.arange(12, dtype=torch.float32)
    return {
        "linear.weight": base,
        "linear.weight_t": base.t(),  # non-contiguous view of the same storage
        "half": torch.randn(3, 2).half(),
        "bf16": torch.randn(5).to(torch.bfloat16),
        "int8": torch.arange(-4, 4, dtype=torch.int8),
        "mask": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "count": torch.tensor(7, dtype=torch.int64),
        "first_half": shared[:6],
        "second_half": shared[6:].view(2, 3),
        "tied_a": shared,
        "tied_b": shared,
        "empty": torch.zeros(0, 3),
    }


def save_state_dict(path: str | Path, *, legacy: bool = False, tensors: dict[str, Any] | None = None) -> Path:
    torch = _torch()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tensors if tensors is not None else state_dict_tensors(), path,
               _use_new_zipfile_serialization=not legacy)
    return path


def save_full_model(path: str | Path, *, legacy: bool = False, model: Any = None) -> Path:
    torch = _torch()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model if model is not None else make_tiny_net(), path, _use_new_zipfile_serialization=not legacy)
    return path


def save_training_checkpoint(path: str | Path, *, legacy: bool = False, model_key: str = "model_state_dict") -> Path:
    """A nested dict: weights, optimizer state after one step, epoch, loss (the usual training loop output)."""
    torch = _torch()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    torch.save({"epoch": 3, "global_step": 120, "loss": 0.25, model_key: model.state_dict(),
                "optimizer_state_dict": opt.state_dict(), "note": "run-a"}, path,
               _use_new_zipfile_serialization=not legacy)
    return path


class _RunsShell:
    """Pickles to ``os.system(command)``: what a malicious checkpoint does."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> Any:
        return (os.system, (self.command,))


def save_malicious_checkpoint(path: str | Path, marker: str | Path, *, legacy: bool = False) -> Path:
    """A real torch file whose unpickling would run ``touch <marker>`` (os.system)."""
    torch = _torch()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"weight": torch.ones(2), "evil": _RunsShell(f"touch {marker}")}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path


def malicious_pickle_bytes(marker: str | Path, *, protocol: int = 2) -> bytes:
    """A bare pickle (no torch container) running ``os.system``."""
    return pickle.dumps({"evil": _RunsShell(f"touch {marker}")}, protocol=protocol)


def getattr_chain_pickle(marker: str | Path) -> bytes:
    """builtins.getattr(builtins.__import__('os'), 'system')('touch marker'), hand-assembled, protocol 2."""
    cmd = f"touch {marker}".encode()
    return (
        b"\x80\x02"
        b"cbuiltins\ngetattr\n"
        b"cbuiltins\n__import__\nX\x02\x00\x00\x00os\x85R"
        b"X\x06\x00\x00\x00system\x86R"
        + b"X" + struct.pack("<I", len(cmd)) + cmd + b"\x85R."
    )


def save_pickle_as_torch_zip(path: str | Path, pickle_bytes: bytes) -> Path:
    """Wrap raw pickle bytes as ``archive/data.pkl`` like a torch zip checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle_bytes)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
    return path


def save_safetensors(path: str | Path, tensors: dict[str, Any] | None = None,
                     metadata: dict[str, str] | None = None) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch = _torch()
    if tensors is None:
        torch.manual_seed(0)
        tensors = {"a.weight": torch.randn(4, 3), "a.bias": torch.zeros(4), "b": torch.ones(2, dtype=torch.float16)}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata or {"format": "pt"})
    return path


def write_safetensors_huge_header(path: str | Path, claimed: int = 2**62) -> Path:
    """8 bytes claiming an absurd header length, then a little junk."""
    path = Path(path)
    path.write_bytes(struct.pack("<Q", claimed) + b'{"a":')
    return path


def write_safetensors_bad_offsets(path: str | Path) -> Path:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1000]}}).encode()
    path = Path(path)
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    return path


def write_zip_not_torch(path: str | Path) -> Path:
    path = Path(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "just a zip")
    return path


def write_random_bytes(path: str | Path, size: int = 4096, seed: int = 1) -> Path:
    import random

    path = Path(path)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def truncate_copy(source: str | Path, dest: str | Path, fraction: float = 0.5) -> Path:
    data = Path(source).read_bytes()
    dest = Path(dest)
    dest.write_bytes(data[: max(1, int(len(data) * fraction))])
    return dest


def lfs_pointer_text(data: bytes) -> str:
    oid = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n"


def write_lfs_pointer(path: str | Path, data: bytes = b"pretend weights" * 100) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(lfs_pointer_text(data))
    return path


def run_tiny_trainer(output_dir: str | Path, *, steps: int = 2, save_total_limit: int | None = None) -> Path:
    """A real ``transformers.Trainer`` run on CPU: tiny GPT-2, a few addition lines, eval + save every step.

    Leaves ``checkpoint-1 .. checkpoint-N`` (trainer_state.json with eval_loss in log_history)
    plus ``all_results.json`` / ``eval_results.json`` / ``train_results.json`` and the final model.
    """
    import torch
    from transformers import Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from .tiny_models import addition_examples, make_tiny_gpt2

    hf_logging.disable_progress_bar()
    output_dir = Path(output_dir)
    model, tokenizer = make_tiny_gpt2(seed=0)
    tokenizer.padding_side = "right"
    texts = addition_examples(16, seed=1)

    class _Lines(torch.utils.data.Dataset):
        def __init__(self, lines: list[str]) -> None:
            enc = tokenizer([t + tokenizer.eos_token for t in lines], padding="max_length", max_length=16)
            self.items = [
                {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask),
                 "labels": torch.tensor([i if m else -100 for i, m in zip(ids, mask)])}
                for ids, mask in zip(enc["input_ids"], enc["attention_mask"])
            ]

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, i: int) -> dict:
            return self.items[i]

    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=8, per_device_eval_batch_size=8,
        learning_rate=1e-3, eval_strategy="steps", eval_steps=1, save_strategy="steps", save_steps=1,
        logging_steps=1, save_total_limit=save_total_limit, load_best_model_at_end=True,
        metric_for_best_model="eval_loss", greater_is_better=False, report_to=[], use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True, seed=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=_Lines(texts[:12]), eval_dataset=_Lines(texts[12:]),
                      processing_class=tokenizer)
    train_out = trainer.train()
    trainer.save_model()
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(output_dir)
    metrics = dict(train_out.metrics)
    metrics["train_samples"] = 12
    trainer.save_metrics("train", metrics)
    eval_metrics = trainer.evaluate()
    eval_metrics["eval_samples"] = 4
    trainer.save_metrics("eval", eval_metrics)
    trainer.save_state()
    return output_dir
