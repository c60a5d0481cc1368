"""Eval from the TUI: the real arithmetic suite on a tiny GPT-2, stored in the catalog, shown in Evals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_helpers import TERMINAL, plain, select, settle

pytestmark = pytest.mark.anyio


async def test_eval_selected_checkpoint_stores_and_shows_scores(make_app, catalog, workspace: Path) -> None:
    path = str(workspace / "runs" / "gpt2-add-1k")
    app = make_app(action_options={"eval": {"n": 12}})
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "gpt2-add-1k")
        await pilot.press("e")
        await settle(pilot, app, until=lambda: "eval" in app.results or app.errors, timeout=120)
        assert [e for e in app.errors if e[0] == "eval"] == []
        result = app.results["eval"]
        assert result.n == 12 and "accuracy" in result.metrics
        stored = [r for r in catalog.list_evals(path) if r.source == "hubmgr"]
        assert [r.metric for r in stored] == ["accuracy"]
        assert any(text.startswith("eval: gpt2-add-1k: accuracy") for _, text in app.notices)
        await pilot.press("4")
        await settle(pilot, app, until=lambda: "accuracy" in plain(app.screen.detail.query_one("#evals-body")))
        text = plain(app.screen.detail.query_one("#evals-body"))
        assert "arithmetic" in text and "12" in text
        if result.failures:  # an untrained model gets most wrong: they are listed
            assert result.failures[0].prompt.strip()[:5] in text
