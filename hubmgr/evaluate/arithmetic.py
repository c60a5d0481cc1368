"""The ``arithmetic`` suite: problems drawn deterministically from a seed, prompted as
``"{a} {op} {b} ="`` and greedy-decoded; the first number of the continuation must equal the
answer exactly. Scoring (reading the number) lives here."""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

from ..errors import UsageError
from .generation import GenerationSuite
from .suite import EvalOptions, Problem

ARITHMETIC_OPS = "+-*"
DEFAULT_PROMPT_FORMAT = "{a} {op} {b} ="
DEFAULT_N = 200


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


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def extract_number(continuation: str) -> str | None:
    """The first number the model wrote after the prompt (which ends with '=')."""
    m = _NUMBER.search(continuation)
    return m.group(0) if m else None


class ArithmeticSuite(GenerationSuite):
    name = "arithmetic"
    help = "a {op} b = problems drawn from --seed (--n, --digits, --ops, --prompt-format); exact number match"
    options = ("n", "seed", "digits", "ops", "prompt_format")
    implied_by = None
    headline_metric = "accuracy"
    metric_names = {"accuracy": "exact-match accuracy"}

    def load(self, options: EvalOptions) -> tuple[dict[str, Any], list[Problem]]:
        lo, hi = parse_digits(options.digits)
        problems = arithmetic_problems(options.n or DEFAULT_N, seed=options.seed, digits=(lo, hi), ops=options.ops,
                                       prompt_format=options.prompt_format)
        params = {"n": len(problems), "seed": options.seed, "digits": f"{lo}-{hi}" if lo != hi else str(lo),
                  "ops": options.ops, "prompt_format": options.prompt_format}
        return params, problems

    def check(self, problem: Problem, output: str) -> tuple[str | None, bool]:
        predicted = extract_number(output)
        return predicted, predicted == problem.answer

    def dataset_label(self, params: Mapping[str, Any]) -> tuple[str, str]:
        return "hubmgr/arithmetic", (f"arithmetic ({params.get('digits', '?')}-digit operands, ops "
                                     f"{params.get('ops', '?')}, n={params.get('n', '?')}, "
                                     f"seed={params.get('seed', '?')})")

    def dataset_config(self, params: Mapping[str, Any]) -> str | None:
        return (f"digits={params.get('digits', '?')},ops={params.get('ops', '?')},n={params.get('n', '?')},"
                f"seed={params.get('seed', '?')}")
