"""Model cards: render ``PATH/README.md`` from a Jinja template and merge it with the card already there.

The only importer of ``jinja2``. Templates live in the top-level ``model_cards/`` dir, shipped as the
``hubmgr.model_cards`` package and loaded through ``load_template``.

A card = YAML metadata (Hub spec) + a Markdown body. Our body parts are delimited::

    <!-- hubmgr:begin evaluation sha=1a2b3c4d5e6f -->
    ...
    <!-- hubmgr:end evaluation -->

``sha`` is the hash of what hubmgr wrote. On a re-run a section whose text still has that hash is
refreshed; one the user edited by hand is kept (delete it, markers included, to get it back).
Text outside the markers and metadata keys hubmgr does not own are always kept.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HubmgrError, NotFoundError, UsageError
from .units import human_size
from .formats.hashing import sha256_cached
from .models import CardResult, CardSection
from .progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress
from .evaluate import IMPORT_SUITE, has_training_metrics, import_training_metrics, source_rank
from .hf import card as hub_card
from .hf.card import CardEval
from .card_text import join_card, merge_body, merge_metadata, parse_sections, split_card

if TYPE_CHECKING:
    from .catalog import Catalog, EvalRecord

TEMPLATE_PACKAGE = "hubmgr.model_cards"
DEFAULT_TEMPLATE = "default"
TEMPLATE_SUFFIX = ".md.j2"
CARD_FILE = "README.md"
MAX_FILES_LISTED = 200


# Top-level metadata keys hubmgr fills in; anything else in an existing card is the user's and is kept.
HYPERPARAMETERS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                   "per_device_eval_batch_size", "gradient_accumulation_steps", "warmup_steps", "warmup_ratio",
                   "weight_decay", "lr_scheduler_type", "optim", "seed", "fp16", "bf16", "max_grad_norm",
                   "metric_for_best_model")


class TemplateError(HubmgrError):
    """A card template that does not exist, does not parse or fails to render."""


# -- templates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardTemplate:
    name: str  # what to show in messages: "default.md.j2" or the file path
    source: str


def load_template(name: str | None = None) -> CardTemplate:
    """A shipped template by name (``default``) or a template file by path."""
    from importlib import resources

    name = name or DEFAULT_TEMPLATE
    candidate = Path(name).expanduser()
    if candidate.suffix in (".j2", ".jinja", ".md") or os.sep in name:
        if not candidate.is_file():
            raise TemplateError(f"template file {candidate} does not exist")
        return CardTemplate(str(candidate), candidate.read_text(encoding="utf-8"))
    file_name = name if name.endswith(TEMPLATE_SUFFIX) else name + TEMPLATE_SUFFIX
    package = resources.files(TEMPLATE_PACKAGE)
    resource = package / file_name
    if not resource.is_file():
        shipped = sorted(p.name.removesuffix(TEMPLATE_SUFFIX) for p in package.iterdir()
                         if p.name.endswith(TEMPLATE_SUFFIX))
        raise TemplateError(f"no card template named {name!r}", f"shipped templates: {', '.join(shipped)};"
                            " or pass the path of a .md.j2 file")
    return CardTemplate(file_name, resource.read_text(encoding="utf-8"))


def list_templates() -> list[str]:
    from importlib import resources

    return sorted(p.name.removesuffix(TEMPLATE_SUFFIX) for p in resources.files(TEMPLATE_PACKAGE).iterdir()
                  if p.name.endswith(TEMPLATE_SUFFIX))


def render_template(template: CardTemplate, context: dict[str, Any]) -> str:
    """Render; any template problem becomes a ``TemplateError`` naming the template and the line."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    env.filters["size"] = human_size
    try:
        compiled = env.from_string(template.source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"card template {template.name}, line {exc.lineno}: {exc.message}",
                            "fix the Jinja syntax there") from exc
    try:
        return compiled.render(**context)
    except jinja2.TemplateError as exc:
        line = _template_line(exc)
        where = f", line {line}" if line else ""
        raise TemplateError(f"card template {template.name}{where}: {exc}",
                            f"variables available: {', '.join(sorted(context))}") from exc
    except (TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError) as exc:
        line = _template_line(exc)
        where = f", line {line}" if line else ""
        raise TemplateError(f"card template {template.name}{where}: {type(exc).__name__}: {exc}") from exc


def _template_line(exc: BaseException) -> int | None:
    """The template line jinja2 maps the failing frame to (its rewritten traceback names '<template>')."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# -- facts about the checkpoint --------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _safetensors_params(files: list[Path]) -> int | None:
    """Parameter count from the headers (bounded parse shared with scan); None if any is unreadable."""
    from .formats.safetensors_header import read_safetensors_header

    total = 0
    for f in files:
        try:
            header = read_safetensors_header(f)
        except HubmgrError:
            return None
        total += sum(t.numel for t in header.tensors.values())
    return total


def training_hyperparameters(directory: Path) -> dict[str, Any]:
    """Selected ``TrainingArguments`` fields from ``training_args.bin``, read statically (never unpickled)."""
    from .formats.torchfile import Stub, load_torch_file

    path = directory / "training_args.bin"
    if not path.is_file() and (directory.parent / "training_args.bin").is_file():
        path = directory.parent / "training_args.bin"
    if not path.is_file():
        return {}
    try:
        root = load_torch_file(path, strict=False).root
    except HubmgrError:
        return {}
    state = root.state if isinstance(root, Stub) and isinstance(root.state, dict) else {}
    out = {}
    for key in HYPERPARAMETERS:
        if key in state:
            value = state[key]
            if isinstance(value, Stub):  # enums such as SchedulerType('linear')
                value = value.args[0] if value.args else value.name
            if isinstance(value, (str, int, float, bool)) and value is not None:
                out[key] = value
    if isinstance(out.get("max_steps"), int) and out["max_steps"] > 0:
        out.pop("num_train_epochs", None)  # max_steps overrides it: showing both would mislead
    return out


def _pushed_files(directory: Path, files: Any, catalog: "Catalog | None",
                  cancel: CancelToken | None) -> list[dict[str, Any]]:
    """Rows for exactly ``files``: relative paths under ``directory``, or items with path/size/sha256
    (a push plan's files). README.md is this card: listed, without a hash of itself."""
    rows = []
    for item in files:
        check_cancel(cancel)
        if isinstance(item, (str, os.PathLike)):
            rel = Path(item).relative_to(directory).as_posix() if Path(item).is_absolute() else Path(item).as_posix()
            row: dict[str, Any] = {"path": rel, "size": None, "sha256": None}
            if rel != CARD_FILE and (directory / rel).is_file():
                row.update(size=(directory / rel).stat().st_size, sha256=sha256_cached(directory / rel, catalog))
        else:
            get = item.get if isinstance(item, dict) else lambda k, o=item: getattr(o, k, None)
            row = {"path": str(get("path")), "size": get("size"), "sha256": get("sha256")}
        if row["path"] == CARD_FILE:
            row.update(size=None, sha256=None)
        rows.append(row)
    return sorted(rows, key=lambda r: r["path"])


def _tokenizer_joins_tokens(directory: Path) -> bool:
    """True when tokenizer.json has no decoder: ``decode`` would put spaces between its tokens, so the
    usage snippet joins the token strings as the scorer does (evaluate.generated_text)."""
    for base in (directory, directory.parent):
        spec = _read_json(base / "tokenizer.json")
        if spec:
            return "decoder" in spec and spec["decoder"] is None
    return False


def _list_files(directory: Path, catalog: "Catalog | None", cancel: CancelToken | None) -> list[dict[str, Any]]:
    rows = []
    for f in sorted(directory.rglob("*")):
        rel = f.relative_to(directory)
        if not f.is_file() or rel.parts[0].startswith(".") or rel.parts[0].startswith("checkpoint-"):
            continue
        if rel.as_posix() == CARD_FILE:
            continue
        check_cancel(cancel)
        rows.append({"path": rel.as_posix(), "size": f.stat().st_size, "sha256": sha256_cached(f, catalog)})
        if len(rows) >= MAX_FILES_LISTED:
            break
    return rows


def _dataset_label(rec: "EvalRecord") -> tuple[str, str]:
    from .evaluate import dataset_label

    return dataset_label(rec.suite, rec.params)


def current_evals(records: list["EvalRecord"], sha: str | None) -> list["EvalRecord"]:
    """The latest record per (suite, dataset, metric) measured on weights ``sha``; imports de-duplicated."""
    latest: dict[tuple, "EvalRecord"] = {}
    for rec in records:
        if sha is not None and rec.weights_sha256 not in (sha, None):
            continue
        if rec.suite == IMPORT_SUITE and not rec.metric.startswith("eval_"):
            continue  # train_* and best_* are training facts, not evaluation results
        key = (rec.suite, _dataset_label(rec), rec.metric)
        prev = latest.get(key)
        if prev is None or source_rank(rec) >= source_rank(prev):
            latest[key] = rec
    return sorted(latest.values(), key=lambda r: r.id)


def card_eval(rec: "EvalRecord", dataset_id: str | None) -> CardEval:
    from .evaluate import dataset_config, find_suite

    dataset_type, dataset_name = _dataset_label(rec)
    suite = find_suite(rec.suite)
    metric_type, metric_name = rec.metric, (suite.metric_names.get(rec.metric, rec.metric) if suite else rec.metric)
    if rec.suite == IMPORT_SUITE:  # the Trainer's eval set comes from the training dataset
        metric_type = rec.metric.removeprefix("eval_")
        metric_name = rec.metric
        if dataset_id:
            dataset_type = dataset_id
    split = rec.params.get("split")  # imported results (lm-eval) name the split they scored
    return CardEval(task_type="text-generation", task_name="Text Generation", dataset_type=dataset_type,
                    dataset_name=dataset_name, metric_type=metric_type, metric_value=float(rec.value),
                    metric_name=metric_name, dataset_config=dataset_config(rec.suite, rec.params),
                    dataset_split=split if isinstance(split, str) else None)


def card_context(directory: Path, *, catalog: "Catalog | None", base_model: str | None, dataset: str | None,
                 license_id: str | None, language: str | None, cancel: CancelToken | None = None,
                 repo_id: str | None = None, files: Any = None) -> dict[str, Any]:
    """Everything a template can use (see model_cards/default.md.j2).

    ``repo_id``: the push target (title, model-index name, how-to-use snippet); ``files``: exactly
    the files being pushed (the Files table), else every file of ``directory``."""
    from .evaluate import find_weights, weights_sha256
    from .formats.trainer_state import read_training_metrics

    from .lineage import lineage_of, provenance_rows

    config = _read_json(directory / "config.json")
    lineage = lineage_of(directory, catalog=catalog)
    if base_model is None:
        base_model = lineage.base_model
    datasets = list(dict.fromkeys(([dataset] if dataset else []) + list(lineage.datasets)))
    if dataset is None and datasets:
        dataset = datasets[0]
    weights = list(find_weights(directory))
    weights_name, sha = weights_sha256(directory, catalog)
    params = _safetensors_params(weights) if weights and all(w.suffix == ".safetensors" for w in weights) else None
    tm = read_training_metrics(directory)
    records = catalog.list_evals(str(directory)) if catalog is not None else []
    evals = current_evals(records, sha)
    stale = sum(1 for r in records if sha is not None and r.weights_sha256 not in (sha, None))
    card_evals = [card_eval(r, dataset) for r in evals]
    latest_run = next((r for r in reversed(evals) if r.source == "hubmgr" and r.details.get("failures")), None)
    model_name = repo_id or (directory.name if not directory.name.startswith("checkpoint-") else
                             f"{directory.parent.name}-{directory.name}")
    files = (_pushed_files(directory, files, catalog, cancel) if files is not None
             else _list_files(directory, catalog, cancel))
    training = {
        "global_step": (tm.global_step if tm.global_step is not None
                        else _int_or_none(tm.all_results.get("train_steps"))),  # plain PyTorch loops
        "epoch": tm.epoch, "num_train_samples": tm.num_train_samples,
        "best_metric": tm.best_metric, "metric_for_best": tm.metric_for_best,
        "train_loss": tm.train_metrics.get("train_loss", tm.train_metrics.get("loss")),
        "sources": list(tm.sources),
    }
    return {
        "model_name": model_name,
        "repo_id": repo_id,
        "tokenizer_joins_tokens": _tokenizer_joins_tokens(directory),
        "model_type": config.get("model_type"),
        "architecture": (config.get("architectures") or [None])[0],
        "config": {k: config.get(k) for k in ("n_layer", "n_embd", "n_head", "n_positions", "vocab_size",
                                              "num_hidden_layers", "hidden_size", "max_position_embeddings")
                   if config.get(k) is not None},
        "params": params,
        "base_model": base_model,
        "dataset": dataset,
        "datasets": datasets,
        "provenance": [{"label": k, "value": v} for k, v in provenance_rows(lineage, public=True)],
        "license": license_id,
        "language": language,
        "weights_file": weights_name,
        "weights_sha256": sha,
        "training": training,
        "hyperparameters": training_hyperparameters(directory),
        "evals": [{"suite": r.suite, "dataset": e.dataset_name, "metric": r.metric, "value": r.value,
                   "n": r.params.get("n") or r.details.get("n"), "source": r.source,
                   "date": time.strftime("%Y-%m-%d", time.gmtime(r.created_at))} for r, e in zip(evals, card_evals)],
        "card_evals": card_evals,
        "stale_evals": stale,
        "failures": (latest_run.details.get("failures", [])[:5] if latest_run else []),
        "failures_suite": latest_run.suite if latest_run else None,
        "files": files,
        "total_size": sum(f["size"] or 0 for f in files),
    }


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def card_metadata(ctx: dict[str, Any]) -> dict[str, Any]:
    tags = ["hubmgr", "text-generation"]
    if ctx.get("model_type"):
        tags.insert(0, ctx["model_type"])
    return {
        "license": ctx.get("license"),
        "language": [ctx["language"]] if ctx.get("language") else None,
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": tags,
        "base_model": ctx.get("base_model"),
        "datasets": ctx.get("datasets") or None,
        "model-index": hub_card.model_index(ctx["model_name"], ctx["card_evals"]),
    }


# -- the use case ----------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".README.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class _ComposedCard:
    ctx: dict[str, Any]
    metadata: dict[str, Any]  # merged: ours refreshed, the user's keys kept
    ours: dict[str, Any]
    sections: list[CardSection]
    text: str  # the whole README.md
    old_text: str | None


def _compose_card(directory: Path, tpl: CardTemplate, *, catalog: "Catalog | None", base_model: str | None,
                  dataset: str | None, license: str | None, language: str | None,
                  cancel: CancelToken | None = None, repo_id: str | None = None, files: Any = None,
                  card_file: Path | None = None) -> _ComposedCard:
    """The card text ``write_card`` would write: rendered, then merged into the existing README.md."""
    ctx = card_context(directory, catalog=catalog, base_model=base_model, dataset=dataset, license_id=license,
                       language=language, cancel=cancel, repo_id=repo_id, files=files)
    body = render_template(tpl, ctx)
    card_file = card_file or directory / CARD_FILE
    old_text = card_file.read_text(encoding="utf-8") if card_file.exists() else None
    old_meta, old_body = split_card(old_text) if old_text is not None else ({}, None)
    ours = card_metadata(ctx)
    metadata = merge_metadata(old_meta, ours)
    if old_body is not None and not parse_sections(old_body) and not old_body.strip():
        old_body = None
    new_body, sections = merge_body(old_body, body)
    return _ComposedCard(ctx, metadata, ours, sections, join_card(metadata, new_body), old_text)


def render_card(path: str | Path, *, template: str | None = None, catalog: "Catalog | None" = None,
                repo_id: str | None = None, files: Any = None) -> str:
    """What ``write_card`` would write to ``path/README.md`` now, without writing or validating (previews)."""
    directory = Path(path).expanduser().resolve()
    if not directory.is_dir():
        raise NotFoundError(f"{directory} is not a model directory", "give the dir holding config.json and weights")
    return _compose_card(directory, load_template(template), catalog=catalog, base_model=None, dataset=None,
                         license=None, language=None, repo_id=repo_id, files=files).text


def write_card(path: str | Path, *, template: str | None = None, base_model: str | None = None,
               dataset: str | None = None, license: str | None = None, language: str | None = None,
               catalog: "Catalog | None" = None, progress: ProgressSink = no_progress,
               cancel: CancelToken | None = None, repo_id: str | None = None, files: Any = None,
               out: str | Path | None = None) -> CardResult:
    """Render the card of the model in ``path``, merge it into ``path/README.md``, validate, write atomically.

    ``out``: write the card there instead (a push stages it: the user's folder is never written).

    For a push: ``repo_id`` is the target (card title, model-index name, how-to-use snippet) and
    ``files`` exactly the files pushed (relative paths under ``path`` or a push plan's file items)."""
    directory = Path(path).expanduser().resolve()
    if not directory.is_dir():
        raise NotFoundError(f"{directory} is not a model directory", "give the dir holding config.json and weights")
    hub_card.check_license(license)
    if dataset is not None:
        hub_card.check_datasets([dataset])
    if language is not None:
        hub_card.check_languages([language])
    if base_model is not None and not hub_card.looks_like_hub_id(base_model):
        raise UsageError(f"--base-model {base_model!r} is not a Hub model id", "write it as NAME or OWNER/NAME")
    tpl = load_template(template)  # fail on a missing template before any work

    progress(ProgressEvent("card", "reading checkpoint facts", 0, 3, unit="steps"))
    if catalog is not None and has_training_metrics(directory):
        import_training_metrics(directory, catalog=catalog, cancel=cancel)  # de-duplicated: cheap to repeat
    check_cancel(cancel)
    progress(ProgressEvent("card", "rendering", 1, 3, unit="steps"))
    card_file = Path(out) if out is not None else directory / CARD_FILE
    card = _compose_card(directory, tpl, catalog=catalog, base_model=base_model, dataset=dataset,
                         license=license, language=language, cancel=cancel, repo_id=repo_id, files=files,
                         card_file=card_file)
    ctx, metadata, ours, sections, text, old_text = (card.ctx, card.metadata, card.ours, card.sections, card.text,
                                                      card.old_text)

    progress(ProgressEvent("card", "validating", 2, 3, unit="steps"))
    expected = ctx["card_evals"] if ours["model-index"] else None
    if expected is not None:
        hub_card.validate_card(text, expected_evals=expected)
    else:
        hub_card.parse_card(text)
        hub_card.check_license(metadata.get("license"))
        ds = metadata.get("datasets")
        hub_card.check_datasets([ds] if isinstance(ds, str) else ds)
    check_cancel(cancel)
    _write_atomic(card_file, text)
    progress(ProgressEvent("card", "written", 3, 3, unit="steps", finished=True))
    warnings = []
    if ctx["stale_evals"]:
        warnings.append(f"{ctx['stale_evals']} stored score(s) were measured on other weights and are left out")
    if not ctx["card_evals"]:
        warnings.append("no evaluation results stored for these weights: run `hubmgr eval PATH` first")
    kept = [s.name for s in sections if s.action == "kept_user_edit"]
    if kept:
        warnings.append(f"kept hand-edited section(s) {', '.join(kept)}; delete a section (markers included)"
                        " to let hubmgr regenerate it")
    return CardResult(path=str(card_file), template=tpl.name, metadata=metadata, sections=tuple(sections),
                      eval_results=len(ctx["card_evals"]), created=old_text is None, warnings=tuple(warnings))
