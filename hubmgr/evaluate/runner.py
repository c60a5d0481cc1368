"""``evaluate_checkpoint``: run one registered suite on a checkpoint and store its scores.

Every score goes into the catalog with what produced it (suite params: n, seed, data sha256, ...)
and the sha256 of the weights it was measured on. torch/transformers are imported inside functions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..models import EvalResult
from ..progress import CancelToken, ProgressSink, check_cancel, no_progress
from .arithmetic import ARITHMETIC_OPS, DEFAULT_PROMPT_FORMAT
from .model import load_model, resolve_model_dir, weights_sha256
from .suite import EvalOptions, ScoreContext, get_suite, suites
from .trainer_import import has_training_metrics, import_training_metrics

if TYPE_CHECKING:
    from ..catalog import Catalog

DEFAULT_SUITE = "arithmetic"
SOURCE_HUBMGR = "hubmgr"


def _implied_suite(suite: str, options: EvalOptions) -> str:
    """``--data`` implies jsonl and ``--perplexity`` perplexity when no other suite was chosen."""
    if suite != DEFAULT_SUITE:
        return suite
    return next((s.name for s in suites() if s.implied_by and getattr(options, s.implied_by, None) is not None),
                suite)


def evaluate_checkpoint(
    path: str | Path, *, suite: str = DEFAULT_SUITE, n: int | None = None, seed: int = 0,
    digits: str | int | tuple[int, int] = (1, 2), ops: str = ARITHMETIC_OPS,
    prompt_format: str = DEFAULT_PROMPT_FORMAT, data_file: str | Path | None = None,
    perplexity_file: str | Path | None = None, batch_size: int = 64, max_new_tokens: int | None = None,
    import_trainer_metrics: bool = True, catalog: "Catalog | None" = None, progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> EvalResult:
    """Score the causal LM in ``path`` with one suite and store the scores in ``catalog``.

    With a catalog, the metrics a Trainer left in ``path`` are imported too (``import_training_metrics``)."""
    options = EvalOptions(n=n, seed=seed, digits=digits, ops=ops, prompt_format=prompt_format,
                          data_file=Path(data_file) if data_file is not None else None,
                          perplexity_file=Path(perplexity_file) if perplexity_file is not None else None)
    chosen = get_suite(_implied_suite(suite, options))
    if n is not None and n < 1:
        raise UsageError(f"--n must be at least 1 (got {n})")
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1 (got {batch_size})")
    suite_params, data = chosen.load(options)
    params: dict[str, Any] = {"suite": chosen.name, **suite_params}

    model_dir = resolve_model_dir(path)
    weights_name, sha = weights_sha256(model_dir.path, catalog)
    check_cancel(cancel)
    if model_dir.tokenizer_path != model_dir.path:
        params["tokenizer_from"] = str(model_dir.tokenizer_path)
    model, tokenizer = load_model(model_dir)
    started = time.perf_counter()  # the runtime is the scoring itself, not importing torch and loading
    scores = chosen.score(model, tokenizer, data, ScoreContext(batch_size, max_new_tokens, progress, cancel,
                                                               f"eval:{chosen.name}"))
    runtime = time.perf_counter() - started
    params.update(scores.params)

    ids: list[int] = []
    if catalog is not None:
        details = {"n": scores.n, "correct": scores.correct, "runtime_seconds": round(runtime, 3),
                   "weights_file": weights_name, "failures": [f.to_dict() for f in scores.failures]}
        for metric, value in scores.metrics.items():
            ids.append(catalog.record_eval(checkpoint_path=str(model_dir.path), weights_sha256=sha, suite=chosen.name,
                                           metric=metric, value=value, source=SOURCE_HUBMGR, params=params,
                                           details=details))
    imported = None
    if catalog is not None and import_trainer_metrics and has_training_metrics(model_dir.path):
        imported = import_training_metrics(model_dir.path, catalog=catalog, progress=progress, cancel=cancel)
    return EvalResult(path=str(model_dir.path), suite=chosen.name, metrics=scores.metrics, n=scores.n,
                      correct=scores.correct, failures=scores.failures, runtime_seconds=runtime, params=params,
                      weights_sha256=sha, weights_file=weights_name, eval_ids=tuple(ids), imported=imported)
