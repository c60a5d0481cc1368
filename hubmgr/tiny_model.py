"""Tiny GPT-2 models with a character-level tokenizer, built locally (no downloads).

Used by ``hubmgr demo`` and (through ``hubmgr.testing.tiny_models``) by the tests. Tensor
libraries are imported inside the functions so importing this module is free.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

__all__ = ["ALPHABET", "SPECIAL_TOKENS", "build_char_tokenizer", "tiny_gpt2_config", "make_tiny_gpt2", "save_hf_dir",
           "addition_examples", "train_causal_lm", "train_with_trainer", "train_addition_dir"]

# Every character an arithmetic prompt or answer can contain.
ALPHABET = list("0123456789+-*=. ")
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]


def build_char_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast`` mapping each character to one token."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + ALPHABET)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        padding_side="left", model_max_length=64,
    )


def tiny_gpt2_config(vocab_size: int, *, n_layer: int = 2, n_embd: int = 64, n_head: int = 4) -> Any:
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size, n_positions=64, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True,
    )


def make_tiny_gpt2(seed: int = 0, **config_kwargs: Any) -> tuple[Any, Any]:
    """(model, tokenizer): an untrained 2-layer GPT-2 and its char tokenizer."""
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    tokenizer = build_char_tokenizer()
    model = GPT2LMHeadModel(tiny_gpt2_config(len(tokenizer), **config_kwargs))
    model.eval()
    return model, tokenizer


def save_hf_dir(model: Any, tokenizer: Any, path: str | Path, *, safe_serialization: bool = True) -> Path:
    """``save_pretrained`` both into ``path`` (safetensors by default, ``pytorch_model.bin`` if not)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its tqdm bars would garble our own output
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if safe_serialization:
        model.save_pretrained(path)
    else:
        # transformers 5 always writes safetensors; write the classic Trainer-era file by hand.
        import torch

        model.config.save_pretrained(path)
        model.generation_config.save_pretrained(path)
        torch.save(model.state_dict(), path / "pytorch_model.bin")
    tokenizer.save_pretrained(path)
    return path


def addition_examples(n: int, *, seed: int = 0, digits: int = 1) -> list[str]:
    """``n`` lines like ``'3 + 5 = 8'`` drawn deterministically from ``seed``."""
    rng = random.Random(seed)
    hi = 10**digits - 1
    out = []
    for _ in range(n):
        a, b = rng.randint(0, hi), rng.randint(0, hi)
        out.append(f"{a} + {b} = {a + b}")
    return out


def train_causal_lm(model: Any, tokenizer: Any, texts: list[str], *, steps: int = 200, batch_size: int = 32,
                    lr: float = 3e-3, seed: int = 0) -> list[float]:
    """A plain PyTorch loop (what our users write). Returns the loss per step."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    eos = tokenizer.eos_token
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    tokenizer.padding_side = "right"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is as fast, and 10x faster when CPUs are shared
    try:
        for _ in range(steps):
            batch = [rng.choice(texts) + eos for _ in range(batch_size)]
            enc = tokenizer(batch, return_tensors="pt", padding=True)
            labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
            out = model(**enc, labels=labels)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            losses.append(out.loss.item())
    finally:
        torch.set_num_threads(threads)
        tokenizer.padding_side = "left"
        model.eval()
    return losses


def train_with_trainer(path: str | Path, *, n_examples: int = 256, eval_examples: int = 64, steps: int = 40,
                       batch_size: int = 32, lr: float = 3e-3, seed: int = 0, eval_steps: int = 20) -> Path:
    """A real ``transformers.Trainer`` run on 1-digit addition, saved the way ``run_clm.py`` does.

    ``path`` gets the final model + tokenizer, ``trainer_state.json``, ``training_args.bin``,
    ``all_results.json`` / ``train_results.json`` / ``eval_results.json`` (with ``train_samples``)
    and ``checkpoint-N`` dirs every ``eval_steps`` steps. A few seconds on CPU.
    """
    import torch
    from transformers import Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = Path(path)
    model, tokenizer = make_tiny_gpt2(seed=seed)

    def encode(texts: list[str]) -> list[dict[str, list[int]]]:
        rows = []
        for text in texts:
            ids = tokenizer(text + tokenizer.eos_token)["input_ids"]
            rows.append({"input_ids": ids, "labels": ids})
        return rows

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        width = max(len(row["input_ids"]) for row in batch)
        ids = torch.tensor([row["input_ids"] + [tokenizer.pad_token_id] * (width - len(row["input_ids"]))
                            for row in batch])
        labels = torch.tensor([row["labels"] + [-100] * (width - len(row["labels"])) for row in batch])
        return {"input_ids": ids, "labels": labels, "attention_mask": (labels != -100).long()}

    train_set = encode(addition_examples(n_examples, seed=seed + 1, digits=1))
    eval_set = encode(addition_examples(eval_examples, seed=seed + 2, digits=1))
    args = TrainingArguments(
        output_dir=str(path), max_steps=steps, per_device_train_batch_size=batch_size, learning_rate=lr,
        eval_strategy="steps", eval_steps=eval_steps, save_steps=eval_steps, logging_steps=max(1, eval_steps // 2),
        report_to=[], use_cpu=True, seed=seed, save_total_limit=2, load_best_model_at_end=True,
        metric_for_best_model="eval_loss", greater_is_better=False, disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set, data_collator=collate)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is as fast, and far faster when CPUs are shared
    try:
        result = trainer.train()
        trainer.save_model()
        tokenizer.save_pretrained(path)
        train_metrics = dict(result.metrics, train_samples=len(train_set))
        trainer.save_metrics("train", train_metrics)
        eval_metrics = dict(trainer.evaluate(), eval_samples=len(eval_set))
        trainer.save_metrics("eval", eval_metrics)
        trainer.save_state()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return path


def train_addition_dir(path: str | Path, *, n_examples: int = 1000, steps: int = 300, seed: int = 0) -> Path:
    """A tiny GPT-2 trained with ``train_causal_lm`` on 1-digit addition, saved with ``all_results.json``.

    300 steps: about 60-75% exact match on "a + b =" (the untrained model: ~0%). A few seconds on CPU.
    """
    import json

    model, tokenizer = make_tiny_gpt2(seed=seed)
    losses = train_causal_lm(model, tokenizer, addition_examples(n_examples, seed=seed + 1, digits=1), steps=steps,
                             seed=seed)
    path = save_hf_dir(model, tokenizer, path)
    (path / "all_results.json").write_text(json.dumps(
        {"train_samples": n_examples, "train_loss": sum(losses[-20:]) / len(losses[-20:]), "train_steps": steps},
        indent=2))
    return path
