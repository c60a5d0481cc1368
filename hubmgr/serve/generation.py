"""Load a release (safetensors only, never a pickle) and generate completions from it.

Used by the server's model pool and by the follow loop's smoke test (in a subprocess), so
"the smoke test passed" means "the server will load it". torch/transformers load lazily.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import CorruptFileError, HubmgrError

SHORT_SHA = 12


@dataclass
class LoadedModel:
    """One resident release. ``refs`` counts requests using it (guarded by the pool's lock)."""

    sha: str
    source: str  # where it was pulled from, e.g. local:demo or hub:alice/adder
    path: Path
    model: Any
    tokenizer: Any
    context_length: int
    refs: int = 0
    retired: bool = False  # no longer live; freed when refs reaches 0

    @property
    def model_id(self) -> str:
        return f"{self.source}@{self.sha[:SHORT_SHA]}"


@dataclass(frozen=True)
class GenParams:
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Choice:
    index: int
    text: str
    finish_reason: str  # "stop" (eos or a stop string) | "length"
    tokens: int


@dataclass
class _Stream:
    """Per-choice incremental text: what was emitted, and whether it ended."""

    ids: list[int] = field(default_factory=list)
    emitted: str = ""
    done: bool = False


def load_release(path: str | Path, *, smoke_prompt: str | None = "1") -> LoadedModel:
    """Load ``DEST/releases/<sha>`` for generation; ``CorruptFileError`` if it cannot serve.

    Refuses a release without safetensors weights (serve never unpickles), one with missing or
    mismatched weights (transformers would silently random-initialise them), and one that
    cannot generate a token from ``smoke_prompt``.
    """
    from .. import deploy

    path = Path(path)
    lock = deploy.read_lock(path)
    short = lock.commit[:SHORT_SHA]
    if not any(f.path.endswith(".safetensors") for f in lock.files):
        raise CorruptFileError(f"release {short} has no .safetensors weights",
                               "serve never loads pickles: convert them (hubmgr push --convert) and pull again")
    for f in lock.files:
        p = path / f.path
        if not p.is_file() or p.stat().st_size != f.size:
            raise CorruptFileError(f"release {short} is incomplete: {f.path} is missing or has the wrong size",
                                   "pull it again")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model, info = AutoModelForCausalLM.from_pretrained(
            path, use_safetensors=True, local_files_only=True, trust_remote_code=False, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError, ImportError) as exc:
        # transformers reports a bad config, bad weights or a missing file with any of these
        raise CorruptFileError(f"release {short} does not load: {_first_line(exc)}",
                               "roll back or pull a fixed release; `hubmgr status --dest DEST` shows what is live") from exc
    bad = list(info.get("missing_keys") or []) + [str(k) for k in info.get("mismatched_keys") or []]
    if bad:
        raise CorruptFileError(f"release {short} does not load: weights missing or mismatched ({', '.join(bad[:3])})",
                               "the weights do not match config.json; push a consistent model")
    model.eval()
    lm = LoadedModel(sha=lock.commit, source=lock.remote, path=path, model=model, tokenizer=tokenizer,
                     context_length=_context_length(model, tokenizer))
    if smoke_prompt is not None:
        try:
            with torch.inference_mode():
                generate(lm, [smoke_prompt], GenParams(max_tokens=1, temperature=0.0))
        except HubmgrError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to generate means "do not serve this"
            raise CorruptFileError(f"release {short} loads but cannot generate: {_first_line(exc)}",
                                   "roll back or pull a fixed release") from exc
    return lm


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _context_length(model: Any, tokenizer: Any) -> int:
    cfg = model.config
    for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10**7 else 2048


def encode(lm: LoadedModel, prompt: str) -> list[int]:
    """The prompt's token ids; the server encodes once (context check) and generates from these."""
    return list(lm.tokenizer(prompt)["input_ids"])


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    cuts = [text.find(s) for s in stop if s and s in text]
    return (text[:min(cuts)], True) if cuts else (text, False)


def _safe_prefix(text: str, stop: tuple[str, ...]) -> str:
    """The part of ``text`` that can be streamed: hold back a tail that may start a stop string."""
    hold = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                hold = max(hold, k)
                break
    out = text[:len(text) - hold] if hold else text
    return out[:-1] if out.endswith("\ufffd") else out  # half a UTF-8 character: wait for the rest


def generate(lm: LoadedModel, prompts: list[str] | list[list[int]], params: GenParams, *,
             on_delta: Callable[[int, str], None] | None = None,
             cancelled: threading.Event | None = None) -> list[Choice]:
    """``n`` completions of each prompt (choice index = prompt_index * n + k).

    A prompt is text or its token ids (from ``encode``). ``on_delta(index, text)`` receives
    streamed text as tokens arrive (stop strings held back until they cannot match).
    ``cancelled`` stops generation early (client went away).
    """
    choices: list[Choice] = []
    for p_index, prompt in enumerate(prompts):
        ids = encode(lm, prompt) if isinstance(prompt, str) else prompt
        choices.extend(_generate_one(lm, ids, params, p_index * params.n, on_delta, cancelled))
    return choices


def generate_kwargs(lm: LoadedModel, params: GenParams) -> dict[str, Any]:
    """``model.generate`` keyword arguments for ``params`` (bench/serve.py's baseline makes the same call)."""
    tok = lm.tokenizer
    eos = tok.eos_token_id
    sample = params.temperature > 0
    kwargs: dict[str, Any] = {"do_sample": sample, "max_new_tokens": params.max_tokens,
                              "num_return_sequences": params.n,
                              "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else eos,
                              "eos_token_id": eos}
    if sample:
        kwargs.update(temperature=params.temperature, top_p=params.top_p)
    else:  # the model's generation_config may set sampling knobs; greedy ignores them
        kwargs.update(temperature=None, top_p=None, top_k=None)
    return kwargs


def prompt_inputs(ids: list[int]) -> dict[str, Any]:
    """One unpadded prompt as ``generate`` inputs (what ``tokenizer(prompt, return_tensors="pt")`` gives)."""
    import torch

    input_ids = torch.tensor([ids], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


class _Watch:
    """Token-by-token bookkeeping for streaming and stop strings: text per choice, deltas, done flags."""

    def __init__(self, lm: LoadedModel, params: GenParams, base: int,
                 on_delta: Callable[[int, str], None] | None, cancelled: threading.Event | None) -> None:
        self.tok, self.params, self.base, self.on_delta, self.cancelled = lm.tokenizer, params, base, on_delta, cancelled
        self.eos = lm.tokenizer.eos_token_id
        self.streams = [_Stream() for _ in range(params.n)]

    def tokens(self, row: list[int]) -> None:
        """One new token per choice."""
        for k, token in enumerate(row[:self.params.n]):
            s = self.streams[k]
            if s.done:
                continue
            if token == self.eos:
                s.done = True
                continue
            s.ids.append(token)
            if self.params.stop or self.on_delta is not None:
                self.emit(k, final=False)

    def emit(self, k: int, final: bool) -> tuple[str, bool]:
        """Hand ``on_delta`` what can be streamed now; (text so far cut at a stop string, whether one matched)."""
        s = self.streams[k]
        text, stopped = _cut_at_stop(self.tok.decode(s.ids, skip_special_tokens=True), self.params.stop)
        if stopped:
            s.done = True
        ready = text if (final or stopped) else _safe_prefix(text, self.params.stop)
        if self.on_delta is not None and len(ready) > len(s.emitted) and ready.startswith(s.emitted):
            self.on_delta(self.base + k, ready[len(s.emitted):])
            s.emitted = ready
        return text, stopped

    def all_done(self) -> bool:
        return all(s.done for s in self.streams) or (self.cancelled is not None and self.cancelled.is_set())


@functools.cache
def _hooks() -> tuple[type, type]:
    """generate()'s streamer and stopping-criterion classes over a ``_Watch`` (made once: transformers loads lazily)."""
    import torch
    from transformers import StoppingCriteria
    from transformers.generation.streamers import BaseStreamer

    class Streamer(BaseStreamer):
        def __init__(self, watch: _Watch) -> None:
            self.watch, self.first = watch, True

        def put(self, value: Any) -> None:
            if self.first:  # generate() hands the prompt over first
                self.first = False
                return
            self.watch.tokens(value.reshape(-1).tolist())

        def end(self) -> None:
            pass

    class StopWhenDone(StoppingCriteria):
        def __init__(self, watch: _Watch) -> None:
            self.watch = watch

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), self.watch.all_done(), dtype=torch.bool)

    return Streamer, StopWhenDone


def _generate_one(lm: LoadedModel, ids: list[int], params: GenParams, base: int,
                  on_delta: Callable[[int, str], None] | None, cancelled: threading.Event | None) -> list[Choice]:
    import torch
    from transformers import StoppingCriteriaList

    if params.max_tokens == 0:
        return [Choice(base + k, "", "length", 0) for k in range(params.n)]
    enc = prompt_inputs(ids)
    watch = _Watch(lm, params, base, on_delta, cancelled)
    kwargs = generate_kwargs(lm, params)
    if params.seed is not None:
        torch.manual_seed(params.seed)
    if on_delta is None and not params.stop:
        # Nothing to watch token by token: no streamer, the ids come from generate's own output
        # (the per-token Python hooks cost more than the HTTP round trip on a small model).
        if cancelled is not None:  # no streams finish early here: this only watches the client
            kwargs["stopping_criteria"] = StoppingCriteriaList([_hooks()[1](watch)])
        with torch.inference_mode():
            sequences = lm.model.generate(**enc, **kwargs)
        for s, row in zip(watch.streams, sequences[:, len(ids):].tolist()):
            for token in row:
                if token == watch.eos:
                    s.done = True
                    break
                s.ids.append(token)
    else:
        streamer, stop_when_done = _hooks()
        kwargs.update(streamer=streamer(watch), stopping_criteria=StoppingCriteriaList([stop_when_done(watch)]))
        with torch.inference_mode():
            lm.model.generate(**enc, **kwargs)
    out = []
    for k, s in enumerate(watch.streams):
        text, stopped = watch.emit(k, final=True)
        hit_eos = s.done and not stopped
        out.append(Choice(base + k, text, "stop" if (stopped or hit_eos) else "length", len(s.ids)))
    return out
