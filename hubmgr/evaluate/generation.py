"""Greedy generation for suites that prompt the model and check its continuation.

``GenerationSuite`` holds the loop every such suite shares (batching, generation length, the
failure sample); a subclass says how to read and check one continuation (``check``).
"""

from __future__ import annotations

from typing import Any

from ..models import EvalFailure
from ..progress import CancelToken, ProgressEvent, ProgressSink, check_cancel
from .suite import Problem, ScoreContext, Scores

MAX_FAILURES_KEPT = 10


def generated_text(tokenizer: Any, ids: list[int]) -> str:
    """The text of generated token ids as the model wrote it.

    ``decode`` of a fast tokenizer without a decoder joins tokens with spaces (a char-level
    WordLevel tokenizer turns ``11`` into ``1 1``, which exact match then scores wrong): then the
    token strings are joined as they are. With a decoder (ByteLevel, Metaspace, WordPiece, Fuse...)
    the decoder knows how its tokens join, so ``decode`` is right."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and backend.decoder is None:
        special = set(tokenizer.all_special_ids)
        tokens = tokenizer.convert_ids_to_tokens([i for i in ids if i not in special])
        return "".join(t for t in tokens if t is not None)
    return tokenizer.decode(ids, skip_special_tokens=True)


def generate(model: Any, tokenizer: Any, prompts: list[str], *, max_new_tokens: int, batch_size: int,
              progress: ProgressSink, cancel: CancelToken | None, task: str) -> list[str]:
    """Greedy continuations of ``prompts``, batched, on CPU."""
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                              bos_token_id=tokenizer.bos_token_id)
    outputs: list[str] = []
    progress(ProgressEvent(task, "generating", 0, len(prompts), unit="problems"))
    for start in range(0, len(prompts), batch_size):
        check_cancel(cancel)
        batch = prompts[start:start + batch_size]
        enc = tokenizer(batch, return_tensors="pt", padding=True)
        enc.pop("token_type_ids", None)
        with torch.inference_mode():
            generated = model.generate(**enc, generation_config=config)
        new_tokens = generated[:, enc["input_ids"].shape[1]:]
        outputs.extend(generated_text(tokenizer, row.tolist()) for row in new_tokens)
        progress(ProgressEvent(task, "generating", len(outputs), len(prompts), unit="problems"))
    progress(ProgressEvent(task, "generating", len(outputs), len(prompts), unit="problems", finished=True))
    return outputs


class GenerationSuite:
    """Base of the suites scored by greedy generation; ``data`` is a list of ``Problem``."""

    headline_metric = "accuracy"
    higher_is_better = True

    def check(self, problem: Problem, output: str) -> tuple[str | None, bool]:
        """(the answer read from ``output``, whether it is right)."""
        raise NotImplementedError

    def score(self, model: Any, tokenizer: Any, data: list[Problem], ctx: ScoreContext) -> Scores:
        max_new_tokens = ctx.max_new_tokens
        if max_new_tokens is None:
            longest = max(len(tokenizer(p.answer, add_special_tokens=False)["input_ids"]) for p in data)
            max_new_tokens = longest + 3  # room for a leading space and an end token
        outputs = generate(model, tokenizer, [p.prompt for p in data], max_new_tokens=max_new_tokens,
                           batch_size=ctx.batch_size, progress=ctx.progress, cancel=ctx.cancel, task=ctx.task)
        correct = 0
        failures: list[EvalFailure] = []
        failed_prompts: set[str] = set()
        for problem, output in zip(data, outputs):
            predicted, ok = self.check(problem, output)
            if ok:
                correct += 1
            elif len(failures) < MAX_FAILURES_KEPT and problem.prompt not in failed_prompts:
                # Small problem spaces repeat prompts: keep distinct examples in the sample.
                failed_prompts.add(problem.prompt)
                failures.append(EvalFailure(problem.prompt, problem.answer, predicted, output))
        return Scores({self.headline_metric: correct / len(data)}, len(data), correct, tuple(failures),
                      {"max_new_tokens": max_new_tokens})
