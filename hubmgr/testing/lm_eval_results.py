"""A real lm-evaluation-harness results file, offline: a tiny inline arithmetic task (local JSONL),
``lm_eval.simple_evaluate`` on a local HF model dir, saved by ``EvaluationTracker`` exactly as
``lm_eval --output_path`` does. For tests of ``hubmgr eval import`` and users' CI.

Run it in a subprocess (``python -m hubmgr.testing.lm_eval_results MODEL_DIR WORK_DIR``): lm_eval
configures logging and datasets globally. Prints the results file path.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

TASK = "tiny_arith"
PROBLEMS = [(1, 2), (3, 4), (5, 3), (2, 2), (7, 1), (6, 3), (4, 4), (8, 1), (0, 5), (9, 9), (5, 5), (6, 7)]


def write_lm_eval_results(model_dir: str | Path, work_dir: str | Path) -> Path:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "tiny_arith.jsonl"
    data.write_text("".join(json.dumps({"question": f"{a} + {b} =", "answer": str(a + b)}) + "\n"
                            for a, b in PROBLEMS))
    task = {
        "task": TASK, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test", "output_type": "generate_until", "doc_to_text": "{{question}}",
        "doc_to_target": "{{answer}}", "generation_kwargs": {"until": ["</s>"], "max_gen_toks": 4, "do_sample": False},
        # the char tokenizer's continuation starts with a space: ignore spaces, like hubmgr's number match
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                         "regexes_to_ignore": [" "]}],
        "num_fewshot": 0, "metadata": {"version": 1.0},
    }
    tracker = EvaluationTracker(output_path=str(work / "out"))
    results = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={Path(model_dir).resolve()},dtype=float32",
                                      tasks=[task], batch_size=4, device="cpu", evaluation_tracker=tracker,
                                      task_manager=TaskManager(include_defaults=False), log_samples=False)
    tracker.save_results_aggregated(results=results, samples=None)
    return max((work / "out").rglob("results_*.json"), key=lambda p: p.stat().st_mtime)


if __name__ == "__main__":
    print(write_lm_eval_results(sys.argv[1], sys.argv[2]))
