"""Tiny GPT-2 models with a character-level tokenizer, built locally (no downloads).

Used by the tests and by ``hubmgr demo``. Tensor libraries are imported inside
the functions so importing this module is free.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

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
        tokenizer.padding_side = "left"
        model.eval()
    return losses
