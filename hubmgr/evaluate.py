"""Evaluation suites for causal LMs and the import of metrics a Trainer already wrote.

Suites (``evaluate_checkpoint(path, suite=...)``):
- ``arithmetic``: problems generated deterministically from a seed, prompted as ``"{a} {op} {b} ="``,
  greedy-decoded; the first number of the continuation must equal the answer exactly;
- ``jsonl``: ``{"prompt": ..., "answer": ...}`` lines; the continuation's first line must equal the
  answer after normalisation (case, surrounding space, a trailing full stop);
- ``perplexity``: exp(mean token negative log-likelihood) over a text file, each non-empty line a sequence.

Every score goes into the catalog with what produced it (suite, n, seed, data sha256) and the
sha256 of the weights it was measured on. torch/transformers are imported inside functions.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CorruptFileError, MissingToolError, NotFoundError, UsageError
from .formats.hashing import sha256_cached
from .models import EvalFailure, EvalResult, ImportedMetric, ImportedMetrics
from .progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress

if TYPE_CHECKING:
    from .catalog import Catalog

SUITES = ("arithmetic", "jsonl", "perplexity")
ARITHMETIC_OPS = "+-*"
DEFAULT_PROMPT_FORMAT = "{a} {op} {b} ="
DEFAULT_N = 200
MAX_FAILURES_KEPT = 10
SOURCE_HUBMGR = "hubmgr"
IMPORT_SUITE = "trainer"

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model")

# Numbers a Trainer writes that are bookkeeping, not scores.
_NOT_A_SCORE = re.compile(r"(^epoch$|_runtime$|_per_second$|_samples$|^total_flos$|_steps$|^step$)")


@dataclass(frozen=True)
class Problem:
    prompt: str
    answer: str


# -- the checkpoint --------------------------------------------------------------------------


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
    for name in SHARD_INDEXES:
        index = directory / name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise CorruptFileError(f"{index}: not a weight index ({exc})") from exc
            return tuple(directory / s for s in shards)
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


def _load_model(model_dir: ModelDir) -> tuple[Any, Any]:
    try:
        import torch  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise MissingToolError("evaluation needs torch and transformers", "pip install 'hubmgr[ml]'") from exc
    hf_logging.disable_progress_bar()
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


# -- problems --------------------------------------------------------------------------------


def parse_digits(text: str | int | tuple[int, int]) -> tuple[int, int]:
    """``"1-2"`` -> (1, 2); ``"1"`` or 1 -> (1, 1)."""
    if isinstance(text, tuple):
        lo, hi = text
    elif isinstance(text, int):
        lo = hi = text
    else:
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", str(text))
        if not m:
            raise UsageError(f"--digits {text!r} is not a number or a range", "write it like 1 or 1-2")
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
    if not 1 <= lo <= hi <= 9:
        raise UsageError(f"digits {lo}-{hi} out of range", "operands have 1 to 9 digits, low <= high")
    return lo, hi


def arithmetic_problems(n: int, *, seed: int = 0, digits: tuple[int, int] = (1, 2), ops: str = ARITHMETIC_OPS,
                        prompt_format: str = DEFAULT_PROMPT_FORMAT) -> list[Problem]:
    """``n`` problems drawn from ``seed``: for each, a digit count in ``digits``, an op, two operands."""
    if not ops or any(op not in ARITHMETIC_OPS for op in ops):
        raise UsageError(f"--ops {ops!r}: only + - * are supported", "for example --ops + or --ops +-*")
    lo, hi = digits
    rng = random.Random(seed)
    problems = []
    for _ in range(n):
        d = rng.randint(lo, hi)
        op = rng.choice(ops)
        a, b = rng.randint(0, 10**d - 1), rng.randint(0, 10**d - 1)
        answer = a + b if op == "+" else a - b if op == "-" else a * b
        try:
            prompt = prompt_format.format(a=a, b=b, op=op)
        except (KeyError, IndexError, ValueError) as exc:
            raise UsageError(f"bad prompt format {prompt_format!r}: {exc}",
                             "use the fields {a}, {op} and {b}, e.g. '{a} {op} {b} ='") from exc
        problems.append(Problem(prompt, str(answer)))
    return problems


def jsonl_problems(path: Path) -> list[Problem]:
    problems = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise NotFoundError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt, answer = row["prompt"], row["answer"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptFileError(f"{path}:{number}: expected a JSON object with \"prompt\" and \"answer\"",
                                   'each line like {"prompt": "2 + 2 =", "answer": "4"}') from exc
        if not isinstance(prompt, str) or not isinstance(answer, (str, int, float)) or isinstance(answer, bool):
            raise CorruptFileError(f"{path}:{number}: \"prompt\" must be a string and \"answer\" a string or number")
        problems.append(Problem(prompt, str(answer)))
    if not problems:
        raise UsageError(f"{path} has no problems", 'write one {"prompt", "answer"} object per line')
    return problems


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def extract_number(continuation: str) -> str | None:
    """The first number the model wrote after the prompt (which ends with '=')."""
    m = _NUMBER.search(continuation)
    return m.group(0) if m else None


def normalise_answer(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return re.sub(r"\s+", " ", first).strip().rstrip(".").strip().lower()


# -- the suites ------------------------------------------------------------------------------


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


def _generate(model: Any, tokenizer: Any, prompts: list[str], *, max_new_tokens: int, batch_size: int,
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


def _perplexity(model: Any, tokenizer: Any, text: str, *, batch_size: int, progress: ProgressSink,
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


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def evaluate_checkpoint(
    path: str | Path, *, suite: str = "arithmetic", n: int | None = None, seed: int = 0,
    digits: str | int | tuple[int, int] = (1, 2), ops: str = ARITHMETIC_OPS,
    prompt_format: str = DEFAULT_PROMPT_FORMAT, data_file: str | Path | None = None,
    perplexity_file: str | Path | None = None, batch_size: int = 64, max_new_tokens: int | None = None,
    import_trainer_metrics: bool = True, catalog: "Catalog | None" = None, progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> EvalResult:
    """Score the causal LM in ``path`` with one suite and store the scores in ``catalog``.

    With a catalog, the metrics a Trainer left in ``path`` are imported too (``import_training_metrics``)."""
    if data_file is not None and suite == "arithmetic":
        suite = "jsonl"
    if perplexity_file is not None and suite == "arithmetic":
        suite = "perplexity"
    if suite not in SUITES:
        raise UsageError(f"unknown suite {suite!r}", f"choose one of: {', '.join(SUITES)}")
    if n is not None and n < 1:
        raise UsageError(f"--n must be at least 1 (got {n})")
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1 (got {batch_size})")
    params: dict[str, Any] = {"suite": suite}
    problems: list[Problem] = []
    text = ""
    if suite == "arithmetic":
        lo, hi = parse_digits(digits)
        problems = arithmetic_problems(n or DEFAULT_N, seed=seed, digits=(lo, hi), ops=ops,
                                       prompt_format=prompt_format)
        params.update(n=len(problems), seed=seed, digits=f"{lo}-{hi}" if lo != hi else str(lo), ops=ops,
                      prompt_format=prompt_format)
    elif suite == "jsonl":
        if data_file is None:
            raise UsageError("the jsonl suite needs a data file", "pass --data FILE.jsonl")
        data = Path(data_file).expanduser().resolve()
        problems = jsonl_problems(data)[: n or None]
        params.update(n=len(problems), data_file=str(data), data_sha256=_file_sha256(data))
    else:
        if perplexity_file is None:
            raise UsageError("the perplexity suite needs a text file", "pass --perplexity FILE.txt")
        text_path = Path(perplexity_file).expanduser().resolve()
        try:
            text = text_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise NotFoundError(f"cannot read {text_path}: {exc}") from exc
        params.update(data_file=str(text_path), data_sha256=_file_sha256(text_path))

    model_dir = resolve_model_dir(path)
    weights_name, sha = weights_sha256(model_dir.path, catalog)
    check_cancel(cancel)
    if model_dir.tokenizer_path != model_dir.path:
        params["tokenizer_from"] = str(model_dir.tokenizer_path)
    model, tokenizer = _load_model(model_dir)
    started = time.perf_counter()  # the runtime is the scoring itself, not importing torch and loading
    task = f"eval:{suite}"
    failures: list[EvalFailure] = []
    failed_prompts: set[str] = set()
    correct: int | None = None
    if suite == "perplexity":
        loss, count = _perplexity(model, tokenizer, text, batch_size=batch_size, progress=progress, cancel=cancel,
                                  task=task)
        metrics = {"perplexity": math.exp(min(loss, 700.0)), "loss": loss}
        scored = count
    else:
        if max_new_tokens is None:
            longest = max(len(tokenizer(p.answer, add_special_tokens=False)["input_ids"]) for p in problems)
            max_new_tokens = longest + 3  # room for a leading space and an end token
        params["max_new_tokens"] = max_new_tokens
        outputs = _generate(model, tokenizer, [p.prompt for p in problems], max_new_tokens=max_new_tokens,
                            batch_size=batch_size, progress=progress, cancel=cancel, task=task)
        correct = 0
        for problem, output in zip(problems, outputs):
            if suite == "arithmetic":
                predicted = extract_number(output)
                ok = predicted == problem.answer
            else:
                predicted = normalise_answer(output)
                ok = predicted == normalise_answer(problem.answer)
            if ok:
                correct += 1
            elif len(failures) < MAX_FAILURES_KEPT and problem.prompt not in failed_prompts:
                # Small problem spaces repeat prompts: keep distinct examples in the sample.
                failed_prompts.add(problem.prompt)
                failures.append(EvalFailure(problem.prompt, problem.answer, predicted, output))
        scored = len(problems)
        metrics = {("accuracy" if suite == "arithmetic" else "exact_match"): correct / scored}
    runtime = time.perf_counter() - started

    ids: list[int] = []
    if catalog is not None:
        details = {"n": scored, "correct": correct, "runtime_seconds": round(runtime, 3),
                   "weights_file": weights_name, "failures": [f.to_dict() for f in failures]}
        for metric, value in metrics.items():
            ids.append(catalog.record_eval(checkpoint_path=str(model_dir.path), weights_sha256=sha, suite=suite,
                                           metric=metric, value=value, source=SOURCE_HUBMGR, params=params,
                                           details=details))
    imported = None
    if catalog is not None and import_trainer_metrics and has_training_metrics(model_dir.path):
        imported = import_training_metrics(model_dir.path, catalog=catalog, progress=progress, cancel=cancel)
    return EvalResult(path=str(model_dir.path), suite=suite, metrics=metrics, n=scored, correct=correct,
                      failures=tuple(failures), runtime_seconds=runtime, params=params, weights_sha256=sha,
                      weights_file=weights_name, eval_ids=tuple(ids), imported=imported)


def dataset_label(suite: str, params: dict[str, Any]) -> tuple[str, str]:
    """(dataset type, human name) of what a stored score was measured on."""
    if suite == "arithmetic":
        return "hubmgr/arithmetic", (f"arithmetic ({params.get('digits', '?')}-digit operands, ops "
                                     f"{params.get('ops', '?')}, n={params.get('n', '?')}, "
                                     f"seed={params.get('seed', '?')})")
    if suite in ("jsonl", "perplexity"):
        name = Path(str(params.get("data_file", "data"))).name
        sha = str(params.get("data_sha256", ""))[:12]
        return ("json" if suite == "jsonl" else "text"), f"{name} (sha256 {sha})"
    return "custom", "evaluation set of the training run"


def dataset_config(suite: str, params: dict[str, Any]) -> str | None:
    """A config string telling apart runs on different problem sets. ``huggingface_hub`` groups
    model-index results by task, dataset type, config and split (not by name): without it two
    arithmetic runs would merge into one entry."""
    if suite == "arithmetic":
        return (f"digits={params.get('digits', '?')},ops={params.get('ops', '?')},n={params.get('n', '?')},"
                f"seed={params.get('seed', '?')}")
    if suite in ("jsonl", "perplexity"):
        return f"sha256={str(params.get('data_sha256', ''))[:12]}"
    return None


# Imported copies of one metric: the final eval files beat the log history; our own runs beat both.
_SOURCE_RANK = {"eval_results": 3, "all_results": 2, "trainer_state": 1}


def source_rank(rec: Any) -> tuple[int, int]:
    return (_SOURCE_RANK.get(rec.source, 4), rec.id)


# -- importing what the Trainer wrote --------------------------------------------------------


def _scores(data: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or _NOT_A_SCORE.search(key):
            continue
        if math.isfinite(float(value)):
            out[key] = float(value)
    return out


TRAINER_FILES = ("trainer_state.json", "all_results.json", "eval_results.json")


def has_training_metrics(directory: str | Path) -> bool:
    return any((Path(directory) / name).is_file() for name in TRAINER_FILES)


def import_training_metrics(path: str | Path, *, catalog: "Catalog", progress: ProgressSink = no_progress,
                            cancel: CancelToken | None = None) -> ImportedMetrics:
    """Store the scores in trainer_state.json (log_history eval_*, best_metric), all_results.json and
    eval_results.json of ``path`` in the catalog. Re-importing unchanged files adds nothing."""
    from .formats.trainer_state import read_training_metrics

    p = Path(path).expanduser().resolve()
    if not p.is_dir():
        raise NotFoundError(f"{p} is not a directory", "give the Trainer's output dir or a checkpoint-N dir")
    check_cancel(cancel)
    tm = read_training_metrics(p)
    if not tm.found:
        raise NotFoundError(f"{p} has no trainer_state.json, all_results.json or eval_results.json",
                            "these are written by transformers.Trainer (save_state / save_metrics)")
    found: list[ImportedMetric] = []
    state_scores: dict[str, float] = {}
    for entry in tm.eval_history:  # later evaluations overwrite earlier ones
        state_scores.update(_scores(entry))
    found += [ImportedMetric("trainer_state", k, v) for k, v in state_scores.items()]
    if tm.best_metric is not None:
        name = f"best_{tm.metric_for_best}" if tm.metric_for_best else "best_metric"
        if not name.startswith("best_eval_") and tm.metric_for_best and not tm.metric_for_best.startswith("eval_"):
            name = f"best_eval_{tm.metric_for_best}"
        found.append(ImportedMetric("trainer_state", name, tm.best_metric))
    found += [ImportedMetric("all_results", k, v) for k, v in _scores(tm.all_results).items()]
    found += [ImportedMetric("eval_results", k, v) for k, v in _scores(tm.eval_results).items()]

    _, sha = weights_sha256(p, catalog)
    existing = {(r.weights_sha256, r.source, r.metric, r.value, r.params.get("step"))
                for r in catalog.list_evals(str(p)) if r.suite == IMPORT_SUITE}
    recorded = 0
    for m in found:
        key = (sha, m.source, m.metric, m.value, tm.global_step)
        if key in existing:
            continue
        existing.add(key)
        params = {"suite": IMPORT_SUITE, "source_file": f"{m.source}.json", "step": tm.global_step,
                  "metric_for_best": tm.metric_for_best}
        catalog.record_eval(checkpoint_path=str(p), weights_sha256=sha, suite=IMPORT_SUITE, metric=m.metric,
                            value=m.value, source=m.source, params=params,
                            details={"epoch": tm.epoch, "num_train_samples": tm.num_train_samples})
        recorded += 1
    progress(ProgressEvent("eval:import", "imported metrics", recorded, recorded, unit="metrics", finished=True))
    return ImportedMetrics(path=str(p), metrics=tuple(found), sources=tm.sources, weights_sha256=sha,
                           recorded=recorded, warnings=tm.warnings)
