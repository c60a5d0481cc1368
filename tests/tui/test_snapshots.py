"""Snapshot tests (pytest-textual-snapshot): main screen, detail tabs, push form, error dialog, help.

Fixed data (synthetic catalog entries, fixed workspace label), fixed terminal size, progress bars
frozen (fixed values, no ETA). Update with ``pytest tests/tui/test_snapshots.py --snapshot-update``
after checking the new pictures by eye.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.models import CheckpointInfo, FileInfo, SafetyInfo, TensorInfo
from hubmgr.progress import ProgressEvent
from hubmgr.tui.app import create_app
from hubmgr.tui.messages import ProgressUpdated
from hubmgr.tui.screens.dialogs import ErrorScreen
from tui_helpers import TERMINAL, settle

CARD = """---
license: mit
tags: [gpt2, arithmetic]
---
# adder-5k

A 2-layer GPT-2 fine-tuned to add one-digit numbers.

| metric | value |
|---|---|
| accuracy | 0.75 |
"""


def _tensors(n_layer: int) -> tuple[TensorInfo, ...]:
    out = [TensorInfo("transformer.wte.weight", "F32", (20, 64), "model.safetensors"),
           TensorInfo("transformer.wpe.weight", "F32", (64, 64), "model.safetensors")]
    for i in range(n_layer):
        out += [TensorInfo(f"transformer.h.{i}.attn.c_attn.weight", "F32", (64, 192), "model.safetensors"),
                TensorInfo(f"transformer.h.{i}.mlp.c_fc.weight", "F32", (64, 256), "model.safetensors")]
    return tuple(out)


@pytest.fixture
def snap_app(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / "runs" / "adder-5k").mkdir(parents=True)
    (ws / "runs" / "adder-5k" / "README.md").write_text(CARD)
    catalog = Catalog(ws / ".hubmgr" / "catalog.db")
    runs = ws / "runs"
    specs = [
        ("adder-1k", "hf_model", "safetensors", 427_812, 105_536, 120, 0.31, "not_pickle"),
        ("adder-5k", "hf_model", "safetensors", 427_903, 105_536, 500, 0.12, "not_pickle"),
        ("model_weights.pth", "state_dict", "torch_zip", 430_611, 106_816, None, None, "safe"),
        ("model.pth", "full_model_pickle", "torch_legacy", 9_411, 2_323, None, None, "needs_code"),
        ("last.ckpt", "training_checkpoint", "torch_zip", 28_190, 2_323, 300, 0.42, "unsafe"),
        ("adder-5k-safetensors", "hf_model", "safetensors", 427_903, 105_536, 500, None, "not_pickle"),
    ]
    infos = []
    for name, kind, fmt, size, params, step, best, verdict in specs:
        safety = SafetyInfo(verdict, offending=("posix.system",) if verdict == "unsafe" else (),
                            classes_needed=("__main__.ArithmeticNet",) if verdict == "needs_code" else ())
        infos.append(CheckpointInfo(
            path=str(runs / name), name=name, kind=kind, format=fmt, size_bytes=size, params=params, dtypes=("F32",),
            step=step, best_metric=best, metrics={"eval_loss": best} if best is not None else {},
            model_type="gpt2" if kind == "hf_model" else None, has_tokenizer=kind == "hf_model", safety=safety,
            files=(FileInfo("model.safetensors", size),), tensors=_tensors(2),
            tied_groups=(("lm_head.weight", "transformer.wte.weight"),)))
    catalog.upsert_checkpoints(infos)
    catalog.record_conversion(source_path=str(runs / "model_weights.pth"), source_sha256=None,
                              output_path=str(runs / "model_weights.safetensors"), outputs=[])
    catalog.record_push(checkpoint_path=str(runs / "adder-5k"), remote="local:adder", repo="adder",
                        revision="main", tag="v1", commit_sha="4f1c2d9e" + "0" * 32, url=None)
    catalog.record_eval(checkpoint_path=str(runs / "adder-5k"), weights_sha256=None, suite="arithmetic",
                        metric="accuracy", value=0.75, source="hubmgr", params={"n": 200},
                        details={"failures": [{"prompt": "7 + 8 =", "expected": "15", "predicted": "14",
                                               "output": " 14"}]})
    return create_app(ws, catalog=catalog, rescan_on_start=False, workspace_label="~/demo", show_eta=False)


async def _loaded(pilot, name: str | None = None) -> None:
    app = pilot.app
    await settle(pilot, app, until=lambda: app.catalog_loaded and app._main_screen() is not None)
    if name is not None:
        main = app._main_screen()
        index = [r.name for r in main.table.rows_shown].index(name)
        main.table.move_cursor(row=index)
        await settle(pilot, app, until=lambda: main.detail.details is not None and main.detail.row.name == name)
    await pilot.pause()


def test_main_screen(snap_compare, snap_app) -> None:
    async def run_before(pilot) -> None:
        await _loaded(pilot, "adder-5k")
        for event in (ProgressEvent("push:bytes", "uploading model.safetensors", 250_000, 427_903),
                      ProgressEvent("push:files", "files", 2, 5, "files")):
            pilot.app.post_message(ProgressUpdated(event))
        await pilot.pause()

    assert snap_compare(snap_app, terminal_size=TERMINAL, run_before=run_before)


@pytest.mark.parametrize("tab", ["2", "3", "4"])
def test_detail_tabs(snap_compare, snap_app, tab: str) -> None:
    async def run_before(pilot) -> None:
        await _loaded(pilot, "adder-5k")
        await pilot.press(tab)
        await pilot.pause()

    assert snap_compare(snap_app, terminal_size=TERMINAL, run_before=run_before)


def test_push_form(snap_compare, snap_app) -> None:
    async def run_before(pilot) -> None:
        await _loaded(pilot, "adder-5k")
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("ctrl+a", "ctrl+k", *"local:adder")  # replace the suggested target
        pilot.app.screen.query_one("#tag").focus()
        await pilot.press(*"v2")
        await pilot.pause()

    assert snap_compare(snap_app, terminal_size=TERMINAL, run_before=run_before)


def test_error_dialog(snap_compare, snap_app) -> None:
    async def run_before(pilot) -> None:
        await _loaded(pilot, "adder-5k")
        pilot.app.push_screen(ErrorScreen("push failed", "git push to file:///nonexistent/x.git failed: "
                                          "repository not found", "check the URL, or create the repo first"))
        await pilot.pause()

    assert snap_compare(snap_app, terminal_size=TERMINAL, run_before=run_before)


def test_help_screen(snap_compare, snap_app) -> None:
    async def run_before(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(snap_app, terminal_size=TERMINAL, run_before=run_before)
