"""The ``jsonl`` suite: ``{"prompt": ..., "answer": ...}`` lines; the continuation's first line must
equal the answer after normalisation (case, surrounding space, a trailing full stop)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from ..errors import CorruptFileError, UsageError
from .data import data_file_label, read_data_file, read_text
from .generation import GenerationSuite
from .suite import EvalOptions, Problem


def jsonl_problems(path: Path) -> list[Problem]:
    problems = []
    lines = read_text(path).splitlines()
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


def normalise_answer(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return re.sub(r"\s+", " ", first).strip().rstrip(".").strip().lower()


class JsonlSuite(GenerationSuite):
    name = "jsonl"
    help = 'a JSONL file of {"prompt", "answer"} lines (--data); exact match after normalisation'
    options = ("n", "data_file")
    implied_by = "data_file"
    headline_metric = "exact_match"
    metric_names = {"exact_match": "exact match"}

    def load(self, options: EvalOptions) -> tuple[dict[str, Any], list[Problem]]:
        if options.data_file is None:
            raise UsageError("the jsonl suite needs a data file", "pass --data FILE.jsonl")
        data, sha = read_data_file(options.data_file)
        problems = jsonl_problems(data)[: options.n or None]
        return {"n": len(problems), "data_file": str(data), "data_sha256": sha}, problems

    def check(self, problem: Problem, output: str) -> tuple[str | None, bool]:
        predicted = normalise_answer(output)
        return predicted, predicted == normalise_answer(problem.answer)

    def dataset_label(self, params: Mapping[str, Any]) -> tuple[str, str]:
        return "json", data_file_label(params)

    def dataset_config(self, params: Mapping[str, Any]) -> str | None:
        return f"sha256={str(params.get('data_sha256', ''))[:12]}"
