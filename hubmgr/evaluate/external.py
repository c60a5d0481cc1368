"""Import scores other tools measured: lm-evaluation-harness ``results_*.json`` and the JSON the
``evaluate`` library's ``evaluate.save`` writes (``hubmgr eval import FILE``).

Each score is stored with the sha256 of the weights it describes (``--model PATH``, else the path the
file names: lm-eval's ``model_args`` ``pretrained=``) and what produced it (task, n-shot, filter,
limit, dataset), so cards put it into ``model-index`` with the right task/dataset/metric names and
"best" compares one configuration. Both formats are registered suites (``lm-eval``, ``evaluate``):
labels, configurations, metric names and directions come from the registry like every other score.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import CorruptFileError, NotFoundError, UsageError
from ..formats.hashing import sha256_file
from ..models import ImportedMetric, ImportedMetrics
from ..progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress
from .model import resolve_model_dir, weights_sha256

if TYPE_CHECKING:
    from ..catalog import Catalog

LM_EVAL_SUITE = "lm-eval"
EVALUATE_SUITE = "evaluate"
MAX_RESULTS_BYTES = 64 * 1024 * 1024
# ``datasets`` builders that load local files: not a Hub dataset id for model-index.
_LOCAL_BUILDERS = {"json", "csv", "text", "parquet", "arrow", "pandas", "imagefolder", "audiofolder"}
# Numbers an ``evaluate.save`` call often carries next to the metrics: settings, not scores.
_NOT_A_METRIC = re.compile(r"(^_|^(seed|epoch|epochs|step|steps|batch_size|learning_rate|lr|n|num_\w+|max_\w+)$"
                           r"|_runtime$|_per_second$|_samples$)")
_MODEL_KEYS = ("model", "model_name_or_path", "pretrained", "checkpoint", "model_path")


class ImportedSuite:
    """A suite whose scores are imported, never run here (registered for labels and directions)."""

    options: tuple[str, ...] = ()
    implied_by = None
    higher_is_better = True  # only for the metrics named below; others go by their name (perplexity: lower)

    def __init__(self, name: str, help: str, headline: str, metric_names: Mapping[str, str]) -> None:
        self.name, self.help, self.headline_metric, self.metric_names = name, help, headline, dict(metric_names)

    def load(self, options: Any) -> tuple[dict[str, Any], Any]:
        raise UsageError(f"{self.name} scores are imported, not run by hubmgr",
                         "run the tool, then: hubmgr eval import RESULTS.json --model PATH")

    def score(self, model: Any, tokenizer: Any, data: Any, ctx: Any) -> Any:  # pragma: no cover - load refuses
        return self.load(None)

    def dataset_label(self, params: Mapping[str, Any]) -> tuple[str, str]:
        task = str(params.get("task") or Path(str(params.get("source_file", "results"))).stem)
        shots = params.get("num_fewshot")
        name = f"{task} ({shots}-shot)" if isinstance(shots, int) else task
        return str(params.get("dataset_type") or task), name

    def dataset_config(self, params: Mapping[str, Any]) -> str | None:
        parts = [str(params.get("dataset_config") or params.get("task") or "default")]
        if params.get("num_fewshot"):
            parts.append(f"{params['num_fewshot']}-shot")
        if params.get("filter") not in (None, "none"):
            parts.append(f"filter={params['filter']}")
        if params.get("limit") is not None:
            parts.append(f"limit={params['limit']}")
        return ",".join(parts)


_HIGHER_NAMES = {"acc": "accuracy", "acc_norm": "normalized accuracy", "exact_match": "exact match",
                 "em": "exact match", "f1": "F1", "bleu": "BLEU", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2",
                 "rougeL": "ROUGE-L", "mcc": "Matthews correlation", "accuracy": "accuracy",
                 "precision": "precision", "recall": "recall", "pass@1": "pass@1"}
LM_EVAL = ImportedSuite(LM_EVAL_SUITE, "scores imported from lm-evaluation-harness results_*.json", "acc",
                        _HIGHER_NAMES)
EVALUATE = ImportedSuite(EVALUATE_SUITE, "scores imported from the evaluate library's evaluate.save JSON",
                         "accuracy", _HIGHER_NAMES)


def _read(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            raise CorruptFileError(f"{path} is too large for a results file ({path.stat().st_size} bytes)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path} is not a JSON results file: {exc}",
                               "give lm-eval's results_*.json or the file evaluate.save wrote") from exc
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path}: expected a JSON object")
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        return None
    return float(value)


def _model_arg(model_args: Any) -> str | None:
    """``pretrained=`` of lm-eval's model_args (a "k=v,k=v" string or a dict)."""
    if isinstance(model_args, dict):
        value = model_args.get("pretrained")
        return str(value) if value else None
    if isinstance(model_args, str):
        for part in model_args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    return None


def _lm_eval_scores(data: dict[str, Any]) -> tuple[list[tuple[str, float, dict[str, Any], dict[str, Any]]], list[str]]:
    """(metric, value, params, details) of every task score; warnings for what was left out."""
    configs = data.get("configs") if isinstance(data.get("configs"), dict) else {}
    n_shot = data.get("n-shot") if isinstance(data.get("n-shot"), dict) else {}
    n_samples = data.get("n-samples") if isinstance(data.get("n-samples"), dict) else {}
    higher = data.get("higher_is_better") if isinstance(data.get("higher_is_better"), dict) else {}
    versions = data.get("versions") if isinstance(data.get("versions"), dict) else {}
    run = data.get("config") if isinstance(data.get("config"), dict) else {}
    out, warnings = [], []
    for task, metrics in sorted(data["results"].items()):
        if not isinstance(metrics, dict):
            continue
        cfg = configs.get(task) if isinstance(configs.get(task), dict) else {}
        dataset_path = cfg.get("dataset_path")
        dataset_type = task if not dataset_path or dataset_path in _LOCAL_BUILDERS else str(dataset_path)
        samples = n_samples.get(task) if isinstance(n_samples.get(task), dict) else {}
        for key, raw in sorted(metrics.items()):
            metric, _, filt = key.partition(",")
            if metric in ("alias", "name", "sample_len", "sample_count") or "_stderr" in metric:
                continue
            value = _number(raw)
            if value is None:
                if raw not in ("N/A", None) and not isinstance(raw, str):
                    warnings.append(f"{task}/{key}: {raw!r} is not a number; left out")
                continue
            stderr = _number(metrics.get(f"{metric}_stderr,{filt}" if filt else f"{metric}_stderr"))
            params = {"suite": LM_EVAL_SUITE, "task": task, "filter": filt or "none",
                      "num_fewshot": n_shot.get(task) if isinstance(n_shot.get(task), int) else None,
                      "n": samples.get("effective"), "limit": run.get("limit"), "dataset_type": dataset_type,
                      "dataset_config": cfg.get("dataset_name"),
                      "split": cfg.get("test_split") or cfg.get("validation_split"),
                      "task_version": versions.get(task),
                      "higher_is_better": (higher.get(task) or {}).get(metric) if isinstance(higher.get(task),
                                                                                          dict) else None}
            details = {"stderr": stderr, "lm_eval_version": data.get("lm_eval_version"),
                       "model_args": run.get("model_args"), "date": data.get("date")}
            out.append((metric, value, params, details))
    return out, warnings


def _evaluate_scores(data: dict[str, Any]) -> list[tuple[str, float, dict[str, Any], dict[str, Any]]]:
    strings = {k: v for k, v in data.items() if isinstance(v, str) and not k.startswith("_")}
    task = strings.get("task") or strings.get("experiment")
    params = {"suite": EVALUATE_SUITE, "task": task, "dataset_type": strings.get("dataset"),
              "dataset_config": strings.get("config"), "split": strings.get("split")}
    details = {"evaluate_version": data.get("_evaluate_version"), "date": data.get("_timestamp")}
    return [(k, v, dict(params), details) for k, v in ((k, _number(v)) for k, v in sorted(data.items()))
            if v is not None and not _NOT_A_METRIC.search(k)]


def import_results(file: str | Path, *, model: str | Path | None = None, catalog: "Catalog",
                   progress: ProgressSink = no_progress, cancel: CancelToken | None = None) -> ImportedMetrics:
    """Store the scores of an lm-eval ``results_*.json`` or an ``evaluate.save`` JSON in the catalog,
    against the weights of ``model`` (default: the model the file names). Re-importing adds nothing."""
    path = Path(file).expanduser().resolve()
    data = _read(path)
    check_cancel(cancel)
    warnings: list[str] = []
    if isinstance(data.get("results"), dict):
        fmt = LM_EVAL_SUITE
        scores, warnings = _lm_eval_scores(data)
        named = _model_arg((data.get("config") or {}).get("model_args")) if isinstance(data.get("config"), dict) \
            else None
    elif "_evaluate_version" in data or "_timestamp" in data:
        fmt = EVALUATE_SUITE
        scores = _evaluate_scores(data)
        named = next((str(data[k]) for k in _MODEL_KEYS if isinstance(data.get(k), str)), None)
    else:
        raise CorruptFileError(f"{path} is neither an lm-eval results file nor evaluate.save output",
                               'lm-eval writes {"results": {...}, "config": {...}}; evaluate.save adds "_timestamp"')
    if not scores:
        raise CorruptFileError(f"{path} holds no numeric scores")
    target = model if model is not None else named
    if target is None:
        raise UsageError(f"{path} does not say which model it measured", "pass --model PATH (the checkpoint dir)")
    if model is None and not Path(str(target)).expanduser().exists():
        raise NotFoundError(f"{path} measured {target!r}, which is not a local checkpoint",
                            "pass --model PATH: the local dir holding those weights")
    model_dir = resolve_model_dir(target).path if Path(str(target)).expanduser().is_dir() else \
        Path(str(target)).expanduser().resolve()
    _, sha = weights_sha256(model_dir, catalog)
    if sha is None:
        raise NotFoundError(f"{model_dir} has no weights to tie the scores to", "pass --model PATH of the model dir")
    file_sha = sha256_file(path)
    existing = {(r.params.get("source_sha256"), r.metric, r.params.get("task"), r.params.get("filter"))
                for r in catalog.list_evals(str(model_dir)) if r.suite == fmt}
    recorded = 0
    found: list[ImportedMetric] = []
    for metric, value, params, details in scores:
        params.update(source_file=path.name, source_sha256=file_sha)
        label = f"{params['task']}/{metric}" if params.get("task") else metric
        found.append(ImportedMetric(fmt, label, value))
        if (file_sha, metric, params.get("task"), params.get("filter")) in existing:
            continue
        catalog.record_eval(checkpoint_path=str(model_dir), weights_sha256=sha, suite=fmt, metric=metric,
                            value=value, source=fmt, params=params, details=details)
        recorded += 1
    progress(ProgressEvent("eval:import", "imported scores", recorded, recorded, unit="metrics", finished=True))
    return ImportedMetrics(path=str(model_dir), metrics=tuple(found), sources=(str(path),), weights_sha256=sha,
                           recorded=recorded, warnings=tuple(warnings))
