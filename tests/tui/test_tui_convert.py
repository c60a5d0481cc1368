"""Convert from the TUI: the real converter in a worker, live progress, Esc cancels cleanly."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from safetensors import safe_open

from tui_helpers import TERMINAL, select, settle

pytestmark = pytest.mark.anyio


async def test_convert_selected_checkpoint(make_app, catalog, workspace: Path) -> None:
    source = workspace / "runs" / "model.pt"
    out = workspace / "runs" / "model.safetensors"
    seen: list[str] = []
    app = make_app(progress_tap=lambda event: seen.append(event.task))
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "model.pt")
        await pilot.press("c")
        await settle(pilot, app, until=lambda: "convert" in app.results or app.errors, timeout=60)
        assert [e for e in app.errors if e[0] == "convert"] == []
        result = app.results["convert"]
        assert Path(result.output) == out and result.verified
        with safe_open(str(out), "pt") as fh:
            assert len(list(fh.keys())) == result.tensors > 10
        assert any(t.startswith("convert:") for t in seen)
        assert any(text.startswith("convert: model.pt -> ") for _, text in app.notices)
        # the catalog records it, and the row's sync state says so after the reload
        assert [c.output_path for c in catalog.list_conversions(str(source))] == [str(out)]
        await settle(pilot, app, until=lambda: {r.name: r for r in app.snapshot.rows}["model.pt"].sync.text
                     == "converted")
        assert app.screen.progress.active_tasks == []


async def test_esc_cancels_convert_and_leaves_nothing_half_written(make_app, workspace: Path) -> None:
    runs = workspace / "runs"
    before = sorted(p.name for p in runs.iterdir())
    cancelled = threading.Event()
    first_write = threading.Event()

    def tap(event) -> None:
        # Hold the worker at its first write until the user has pressed Esc: deterministic cancel.
        if event.task.startswith("convert:write") and not first_write.is_set():
            first_write.set()
            cancelled.wait(timeout=20)

    app = make_app(progress_tap=tap)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "model.pt")
        await pilot.press("c")
        await settle(pilot, app, until=first_write.is_set, timeout=30)
        assert "running: convert" in str(app.screen.query_one("#topbar").content)
        await pilot.press("escape")
        cancelled.set()
        await settle(pilot, app, until=lambda: not app.operations, timeout=30)
        assert ("warning", "convert: cancelled") in app.notices
        assert app.errors == [] and "convert" not in app.results
    assert sorted(p.name for p in runs.iterdir()) == before  # no output, no temp file
