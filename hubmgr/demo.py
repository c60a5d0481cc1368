"""``hubmgr demo``: build a demo workspace and run the lifecycle on it.

The story of our users, in small: a GPT-2 fine-tuned on 1,000 and on 5,000
arithmetic examples, weights saved the ways tutorials teach
(``save_pretrained``, ``torch.save(model.state_dict())``, ``torch.save(model)``,
a training checkpoint with optimizer state), then: scan, convert, evaluate,
compare, write a card, push to the embedded local registry, pull into a deploy
dir. No account, no network. Training is short and bounded (a few seconds).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ConflictError
from .models import JsonMixin
from .progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress

# (name, training examples, optimizer steps): more data, more steps, as with epochs.
DEMO_RUNS = (("gpt2-add-1k", 1_000, 120), ("gpt2-add-5k", 5_000, 500))
MARKER = ".hubmgr-demo"


def _arith_net_class() -> type:
    # A plain user-defined nn.Module, the kind people `torch.save(model)` whole.
    import torch

    class ArithmeticNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(20, 16)
            self.hidden = torch.nn.Linear(32, 32)
            self.out = torch.nn.Linear(32, 19)

        def forward(self, a, b):  # pragma: no cover - never run by the demo
            x = torch.cat([self.embed(a), self.embed(b)], dim=-1)
            return self.out(torch.relu(self.hidden(x)))

    ArithmeticNet.__module__ = "__main__"  # as in a user's train.py
    ArithmeticNet.__qualname__ = "ArithmeticNet"
    return ArithmeticNet


@dataclass(frozen=True)
class DemoWorkspace(JsonMixin):
    root: str
    hf_dirs: tuple[str, ...]  # save_pretrained dirs, one per training run
    state_dict_file: str  # torch.save(model.state_dict())
    full_model_file: str  # torch.save(model) of a user class
    training_checkpoint_file: str  # {"model_state_dict", "optimizer_state_dict", "epoch", ...}
    train_losses: dict[str, float] = field(default_factory=dict)


def build_demo_workspace(root: Path, *, force: bool = False, progress: ProgressSink = no_progress,
                         cancel: CancelToken | None = None) -> DemoWorkspace:
    """Train two tiny GPT-2s and save checkpoints of every common shape under ``root``."""
    import torch
    from transformers.utils import logging as hf_logging

    from .tiny_model import addition_examples, make_tiny_gpt2, save_hf_dir, train_causal_lm

    hf_logging.set_verbosity_error()  # library chatter would drown the demo's own summary
    root = Path(root).resolve()
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise ConflictError(f"{root} exists and is not a hubmgr demo workspace",
                            "choose another --dir, or empty it")
    if root.exists() and (root / MARKER).exists() and not force:
        ws = json.loads((root / MARKER).read_text())
        if all(Path(p).exists() for p in ws["hf_dirs"]):
            return DemoWorkspace(**{**ws, "hf_dirs": tuple(ws["hf_dirs"])})
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    hf_dirs, losses = [], {}
    total_steps = sum(steps for _, _, steps in DEMO_RUNS)
    done_steps = 0
    model = tokenizer = None
    for name, n_examples, steps in DEMO_RUNS:
        check_cancel(cancel)
        progress(ProgressEvent("demo:train", f"training {name} on {n_examples:,} examples", done_steps,
                               total_steps, "steps"))
        model, tokenizer = make_tiny_gpt2(seed=0)
        texts = addition_examples(n_examples, seed=1, digits=1)
        run_losses = train_causal_lm(model, tokenizer, texts, steps=steps, batch_size=32, seed=0)
        losses[name] = round(sum(run_losses[-10:]) / 10, 4)
        out = save_hf_dir(model, tokenizer, runs / name)
        # What Trainer leaves in an output dir, so cards can say how the model was trained.
        (out / "all_results.json").write_text(json.dumps(
            {"train_samples": n_examples, "train_loss": losses[name], "train_steps": steps}, indent=2))
        hf_dirs.append(str(out))
        done_steps += steps
    progress(ProgressEvent("demo:train", "training done", total_steps, total_steps, "steps", finished=True))

    scripts = root / "scripts"
    scripts.mkdir(exist_ok=True)
    state_dict_file = scripts / "model_weights.pth"
    torch.save(model.state_dict(), state_dict_file)
    net_class = _arith_net_class()
    net = net_class()
    full_model_file = scripts / "model.pth"
    # Pickle stores classes by reference: make `__main__.ArithmeticNet` resolvable while saving.
    main_module = sys.modules["__main__"]
    setattr(main_module, "ArithmeticNet", net_class)
    try:
        torch.save(net, full_model_file)
    finally:
        delattr(main_module, "ArithmeticNet")
    ckpt_file = scripts / "last.ckpt"
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.tensor([1]), torch.tensor([2])).sum().backward()
    opt.step()
    torch.save({"epoch": 3, "global_step": 300, "model_state_dict": net.state_dict(),
                "optimizer_state_dict": opt.state_dict(), "loss": 0.42}, ckpt_file)
    ws = DemoWorkspace(str(root), tuple(hf_dirs), str(state_dict_file), str(full_model_file), str(ckpt_file),
                       losses)
    (root / MARKER).write_text(json.dumps(ws.to_dict(), indent=2))
    return ws


# --- the lifecycle run ---------------------------------------------------------


@dataclass(frozen=True)
class DemoStep(JsonMixin):
    name: str
    summary: str
    seconds: float
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoResult(JsonMixin):
    workspace: str
    steps: tuple[DemoStep, ...]
    seconds: float


def _timed(name: str, fn: Callable[[], tuple[str, dict[str, Any]]]) -> DemoStep:
    t0 = time.perf_counter()
    summary, data = fn()
    return DemoStep(name, summary, round(time.perf_counter() - t0, 2), data)


DEMO_REPO = "local:hubmgr-demo"


def run_demo(root: Path, *, remote: str = DEMO_REPO, eval_n: int = 100, rebuild: bool = False,
             progress: ProgressSink = no_progress, cancel: CancelToken | None = None) -> DemoResult:
    """Build (or reuse) the demo workspace, then scan, convert, eval, compare, card, push, pull, status."""
    from . import cards, checkpoints, compare, convert, deploy, evaluate, sync
    from .catalog import Catalog
    from .paths import catalog_path

    t0 = time.perf_counter()
    root = Path(root).resolve()
    steps: list[DemoStep] = []
    holder: dict[str, Any] = {}

    def build() -> tuple[str, dict[str, Any]]:
        ws = holder["ws"] = build_demo_workspace(root, force=rebuild, progress=progress, cancel=cancel)
        return (f"trained {len(ws.hf_dirs)} tiny GPT-2s on 1,000 and 5,000 addition examples; saved a "
                "state_dict .pth, a whole-model .pth and a training .ckpt", ws.to_dict())

    steps.append(_timed("workspace", build))
    ws: DemoWorkspace = holder["ws"]
    catalog = Catalog(catalog_path(root))

    def scan() -> tuple[str, dict[str, Any]]:
        result = checkpoints.scan([root / "runs", root / "scripts"], catalog=catalog, progress=progress,
                                  cancel=cancel)
        kinds: dict[str, int] = {}
        for c in result.checkpoints:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        verdicts = {Path(c.path).name: c.safety.verdict for c in result.checkpoints}
        return (f"found {len(result.checkpoints)} checkpoints ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))})",
                {"kinds": kinds, "verdicts": verdicts, "warnings": list(result.warnings)})

    steps.append(_timed("scan", scan))

    def convert_all() -> tuple[str, dict[str, Any]]:
        outputs = {}
        for src in (ws.state_dict_file, ws.full_model_file, ws.training_checkpoint_file):
            check_cancel(cancel)
            res = convert.convert_checkpoint(src, force=True, catalog=catalog, progress=progress, cancel=cancel)
            outputs[Path(src).name] = {"output": res.output, "tensors": res.tensors, "verified": res.verified,
                                       "kind": res.source_kind, "dropped": sorted(res.dropped)}
        return (f"converted {len(outputs)} pickles to safetensors without running them, each verified bit for bit",
                outputs)

    steps.append(_timed("convert", convert_all))

    def evaluate_all() -> tuple[str, dict[str, Any]]:
        scores = {}
        for d in ws.hf_dirs:
            check_cancel(cancel)
            res = evaluate.evaluate_checkpoint(d, suite="arithmetic", n=eval_n, seed=0, digits=(1, 1), ops="+",
                                               catalog=catalog, progress=progress, cancel=cancel)
            scores[Path(d).name] = {"accuracy": res.metrics.get("accuracy"), "n": res.n,
                                    "failure": (f"{res.failures[0].prompt} {res.failures[0].output}"
                                                if res.failures else None)}
        text = ", ".join(f"{k}: {v['accuracy']:.0%}" for k, v in scores.items())
        return f"arithmetic exact match on {eval_n} problems: {text}", scores

    steps.append(_timed("eval", evaluate_all))

    def compare_runs() -> tuple[str, dict[str, Any]]:
        res = compare.compare_checkpoints(list(ws.hf_dirs), catalog=catalog)
        acc = next((r for r in res.rows if "accuracy" in r.label), None)
        best = ws.hf_dirs[acc.best[0]] if acc is not None and getattr(acc, "best", None) else ws.hf_dirs[-1]
        holder["best"] = best
        return f"best by accuracy: {Path(best).name}", {"best": best, "rows": [r.to_dict() for r in res.rows]}

    steps.append(_timed("compare", compare_runs))
    best = holder["best"]

    def card() -> tuple[str, dict[str, Any]]:
        res = cards.write_card(best, license="apache-2.0", language="en", catalog=catalog)
        return (f"wrote {Path(res.path).relative_to(root)} with {res.eval_results} eval result(s) in model-index",
                {"path": res.path, "created": res.created})

    steps.append(_timed("card", card))

    def push() -> tuple[str, dict[str, Any]]:
        res = sync.push(best, remote, message=f"demo: {Path(best).name}", catalog=catalog,
                        progress=progress, cancel=cancel)
        holder["commit"] = res.commit_sha
        verb = "pushed" if res.created_commit else "unchanged, nothing sent to"
        return (f"{verb} {remote} at {(res.commit_sha or '')[:7]} ({len(res.files_uploaded)} files, "
                f"{res.bytes_sent:,} bytes sent)", res.to_dict())

    steps.append(_timed("push", push))
    deploy_dir = root / "deploy"

    def pull() -> tuple[str, dict[str, Any]]:
        # Deployment hosts pin an exact commit, never a moving branch.
        res = sync.pull(f"{remote}@{holder['commit']}", dest=deploy_dir, catalog=catalog, progress=progress, cancel=cancel)
        return (f"pulled {res.commit_sha[:7]} into {Path(res.current or deploy_dir).relative_to(root)} "
                f"({res.files} files verified by sha256)", res.to_dict())

    steps.append(_timed("pull", pull))

    def status() -> tuple[str, dict[str, Any]]:
        res = deploy.status(deploy_dir, verify=True)
        state = "intact" if res.verified else f"PROBLEMS: {'; '.join(res.problems)}"
        return f"live release {(res.live_sha or '')[:7]}, {state}", res.to_dict()

    steps.append(_timed("status", status))
    return DemoResult(str(root), tuple(steps), round(time.perf_counter() - t0, 2))
