"""Evaluation of causal LMs and the import of metrics a Trainer already wrote.

Suites are registered in ``suite.py`` (the ``Suite`` protocol and the registry the CLI, cards,
compare and the TUI ask); each lives in its own module: ``arithmetic``, ``jsonl``, ``perplexity``.
``runner.evaluate_checkpoint`` runs one; ``trainer_import`` stores what a Trainer wrote; ``model``
finds, hashes and loads the checkpoint; ``generation`` is the greedy loop generation suites share.
"""

from .arithmetic import ARITHMETIC_OPS, DEFAULT_N, DEFAULT_PROMPT_FORMAT, arithmetic_problems, extract_number, \
    parse_digits
from .external import EVALUATE_SUITE, LM_EVAL_SUITE, import_results
from .generation import MAX_FAILURES_KEPT, GenerationSuite, generated_text
from .jsonl import jsonl_problems, normalise_answer
from .model import ModelDir, find_weights, load_model, resolve_model_dir, weights_sha256
from .runner import DEFAULT_SUITE, SOURCE_HUBMGR, evaluate_checkpoint
from .suite import (EvalOptions, Problem, ScoreContext, Scores, Suite, better_direction, dataset_config,
                    dataset_label, find_suite, get_suite, headline_metrics, register, suite_names, suites,
                    unregister)
from .trainer_import import IMPORT_SUITE, TRAINER_FILES, has_training_metrics, import_training_metrics, source_rank

__all__ = [
    "ARITHMETIC_OPS", "DEFAULT_N", "EVALUATE_SUITE", "LM_EVAL_SUITE", "import_results", "DEFAULT_PROMPT_FORMAT", "DEFAULT_SUITE", "IMPORT_SUITE", "MAX_FAILURES_KEPT",
    "SOURCE_HUBMGR", "TRAINER_FILES", "EvalOptions", "GenerationSuite", "ModelDir", "Problem", "ScoreContext",
    "Scores", "Suite", "arithmetic_problems", "better_direction", "dataset_config", "dataset_label",
    "evaluate_checkpoint", "extract_number", "find_suite", "find_weights", "generated_text", "get_suite",
    "has_training_metrics", "headline_metrics", "import_training_metrics", "jsonl_problems", "load_model",
    "normalise_answer", "parse_digits", "register", "resolve_model_dir", "source_rank", "suite_names", "suites",
    "unregister", "weights_sha256",
]
