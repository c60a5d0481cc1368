"""The ``Suite`` protocol and the registry every front end asks (CLI ``--suite``, cards, compare, TUI).

Adding a suite: write one module with a class following ``Suite`` and add one ``register(...)``
line to ``_builtins`` below (a test or a plugin calls ``register`` itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

from ..errors import UsageError
from ..models import EvalFailure
from ..progress import CancelToken, ProgressSink


@dataclass(frozen=True)
class Problem:
    prompt: str
    answer: str


@dataclass(frozen=True)
class EvalOptions:
    """What the user asked for; each suite reads the fields it uses (``Suite.options`` names them)."""

    n: int | None = None
    seed: int = 0
    digits: str | int | tuple[int, int] = (1, 2)
    ops: str = "+-*"
    prompt_format: str = "{a} {op} {b} ="
    data_file: Path | None = None
    perplexity_file: Path | None = None


@dataclass(frozen=True)
class ScoreContext:
    """How to run a suite's model calls: batching, generation length, progress and cancel."""

    batch_size: int
    max_new_tokens: int | None
    progress: ProgressSink
    cancel: CancelToken | None
    task: str


@dataclass(frozen=True)
class Scores:
    metrics: dict[str, float]
    n: int  # problems, or tokens scored
    correct: int | None = None
    failures: tuple[EvalFailure, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)  # what scoring decided (max_new_tokens, ...)


@runtime_checkable
class Suite(Protocol):
    name: str
    help: str  # one line for ``--help``
    options: tuple[str, ...]  # the ``EvalOptions`` fields it reads
    implied_by: str | None  # an ``EvalOptions`` field that selects this suite when given (data_file: jsonl)
    headline_metric: str  # the score a list shows for a run of this suite
    higher_is_better: bool  # for every metric the suite reports
    metric_names: Mapping[str, str]  # metric -> human name (model card ``metrics.name``)

    def load(self, options: EvalOptions) -> tuple[dict[str, Any], Any]:
        """(params stored with every score, the data ``score`` needs). Fails before the model loads."""

    def score(self, model: Any, tokenizer: Any, data: Any, ctx: ScoreContext) -> Scores: ...

    def dataset_label(self, params: Mapping[str, Any]) -> tuple[str, str]:
        """(model-index dataset type, human name) of what a stored score was measured on."""

    def dataset_config(self, params: Mapping[str, Any]) -> str | None:
        """A model-index config telling apart runs on different problem sets (the Hub groups by it)."""


_REGISTRY: dict[str, Suite] = {}


def register(suite: Suite, *, replace: bool = False) -> Suite:
    _builtins()
    if suite.name in _REGISTRY and not replace and _REGISTRY[suite.name] is not suite:
        raise ValueError(f"an eval suite named {suite.name!r} is already registered")
    _REGISTRY[suite.name] = suite
    return suite


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def suites() -> tuple[Suite, ...]:
    _builtins()
    return tuple(_REGISTRY.values())


def suite_names() -> tuple[str, ...]:
    return tuple(s.name for s in suites())


def find_suite(name: str) -> Suite | None:
    _builtins()
    return _REGISTRY.get(name)


def get_suite(name: str) -> Suite:
    suite = find_suite(name)
    if suite is None:
        raise UsageError(f"unknown suite {name!r}", f"choose one of: {', '.join(suite_names())}")
    return suite


def headline_metrics() -> frozenset[str]:
    """The metric names lists show as "the score" of a checkpoint."""
    return frozenset(s.headline_metric for s in suites())


_loaded = False


def _builtins() -> None:
    # Imported on first use so a suite module may import this one.
    global _loaded
    if _loaded:
        return
    _loaded = True
    from .arithmetic import ArithmeticSuite
    from .external import EVALUATE, LM_EVAL
    from .jsonl import JsonlSuite
    from .perplexity import PerplexitySuite

    register(ArithmeticSuite())
    register(JsonlSuite())
    register(PerplexitySuite())
    register(LM_EVAL)  # imported only: hubmgr eval import FILE
    register(EVALUATE)


def dataset_label(suite: str, params: Mapping[str, Any]) -> tuple[str, str]:
    """(dataset type, human name) of what a stored score was measured on."""
    found = find_suite(suite)
    return found.dataset_label(params) if found else ("custom", "evaluation set of the training run")


def dataset_config(suite: str, params: Mapping[str, Any]) -> str | None:
    """A config string telling apart runs on different problem sets. ``huggingface_hub`` groups
    model-index results by task, dataset type, config and split (not by name): without it two
    arithmetic runs would merge into one entry."""
    found = find_suite(suite)
    return found.dataset_config(params) if found else None


def better_direction(suite: str, metric: str) -> str | None:
    """"higher"/"lower" for a metric a registered suite reports; None when no suite owns it."""
    found = find_suite(suite)
    if found is None or (metric not in found.metric_names and metric != found.headline_metric):
        return None
    return "higher" if found.higher_is_better else "lower"
