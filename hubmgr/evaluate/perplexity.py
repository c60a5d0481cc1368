"""The ``perplexity`` suite: exp(mean token negative log-likelihood) over a text file, each
non-empty line a sequence."""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..errors import UsageError
from ..progress import CancelToken, ProgressEvent, ProgressSink, check_cancel
from .data import data_file_label, read_data_file, read_text
from .suite import EvalOptions, ScoreContext, Scores


def mean_nll(model: Any, tokenizer: Any, text: str, *, batch_size: int, progress: ProgressSink,
                cancel: CancelToken | None, task: str) -> tuple[float, int]:
    """(mean negative log-likelihood per predicted token, tokens predicted).

    Each non-empty line is one sequence (so a tokenizer without a newline token is not charged for
    unknown line breaks); lines longer than the model's context are cut into windows.
    """
    import torch

    window = int(getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", 0)
                 or 1024)
    window = min(window, 1024)
    chunks: list[list[int]] = []
    for line in text.splitlines():
        if line.strip():
            ids = tokenizer(line)["input_ids"]
            chunks.extend(ids[i:i + window] for i in range(0, len(ids), window))
    chunks = [c for c in chunks if len(c) >= 2]
    if not chunks:
        raise UsageError("the perplexity text is too short", "give at least a line of a few words")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    total_nll, total_tokens = 0.0, 0
    progress(ProgressEvent(task, "scoring", 0, len(chunks), unit="lines"))
    for start in range(0, len(chunks), batch_size):
        check_cancel(cancel)
        batch = chunks[start:start + batch_size]
        width = max(len(c) for c in batch)
        ids = torch.tensor([c + [pad] * (width - len(c)) for c in batch])
        mask = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in batch])
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                ignore_index=-100, reduction="sum")
        total_nll += float(nll)
        total_tokens += int((targets != -100).sum())
        progress(ProgressEvent(task, "scoring", start + len(batch), len(chunks), unit="lines"))
    progress(ProgressEvent(task, "scoring", len(chunks), len(chunks), unit="lines", finished=True))
    return total_nll / total_tokens, total_tokens


class PerplexitySuite:
    name = "perplexity"
    help = "perplexity over a text file, one sequence per non-empty line (--perplexity)"
    options = ("perplexity_file",)
    implied_by = "perplexity_file"
    headline_metric = "perplexity"
    higher_is_better = False
    metric_names = {"perplexity": "perplexity", "loss": "mean token loss (nats)"}

    def load(self, options: EvalOptions) -> tuple[dict[str, Any], str]:
        if options.perplexity_file is None:
            raise UsageError("the perplexity suite needs a text file", "pass --perplexity FILE.txt")
        path, sha = read_data_file(options.perplexity_file)
        return {"data_file": str(path), "data_sha256": sha}, read_text(path)

    def score(self, model: Any, tokenizer: Any, data: str, ctx: ScoreContext) -> Scores:
        loss, count = mean_nll(model, tokenizer, data, batch_size=ctx.batch_size, progress=ctx.progress,
                               cancel=ctx.cancel, task=ctx.task)
        return Scores({"perplexity": math.exp(min(loss, 700.0)), "loss": loss}, count)

    def dataset_label(self, params: Mapping[str, Any]) -> tuple[str, str]:
        return "text", data_file_label(params)

    def dataset_config(self, params: Mapping[str, Any]) -> str | None:
        return f"sha256={str(params.get('data_sha256', ''))[:12]}"
