"""Write a model card and compare marked checkpoints from the TUI (real cards.py and compare.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Markdown

from hubmgr.tui.screens.dialogs import ErrorScreen, ResultScreen
from tui_helpers import TERMINAL, plain, select, settle

pytestmark = pytest.mark.anyio


async def test_write_card_then_model_card_tab_renders_it(make_app, catalog, workspace: Path) -> None:
    model_dir = workspace / "runs" / "gpt2-add-5k"
    catalog.record_eval(checkpoint_path=str(model_dir), weights_sha256=None, suite="arithmetic",
                        metric="accuracy", value=0.5, source="hubmgr", params={"n": 10})
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "gpt2-add-5k")
        assert "README.md" not in plain(app.screen.detail.query_one("#card-source"))
        await pilot.press("w")
        await settle(pilot, app, until=lambda: "card" in app.results or bool(app.errors), timeout=60)
        assert [e for e in app.errors if e[0] == "card"] == []
        readme = model_dir / "README.md"
        assert readme.is_file() and Path(app.results["card"].path) == readme
        await pilot.press("3")
        await settle(pilot, app, until=lambda: "README.md" in plain(app.screen.detail.query_one("#card-source")))
        source = app.screen.detail.query_one("#card-body", Markdown).source
        assert source.startswith("```yaml\n")  # the Hub metadata block, shown as YAML
        body = readme.read_text().split("\n---", 1)[1]
        assert body.strip()[:40] in source


async def test_card_on_a_single_file_checkpoint_is_an_error_not_a_crash(make_app) -> None:
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "model.pt")
        await pilot.press("w")
        await settle(pilot, app, until=lambda: isinstance(app.screen, ErrorScreen), timeout=30)
        assert app.screen.hint  # says what to do instead
        assert app.is_running


async def test_compare_marked_checkpoints_shows_side_by_side_table(make_app, catalog, workspace: Path) -> None:
    runs = workspace / "runs"
    for name, value in (("gpt2-add-1k", 0.25), ("gpt2-add-5k", 0.75)):
        catalog.record_eval(checkpoint_path=str(runs / name), weights_sha256=None, suite="arithmetic",
                            metric="accuracy", value=value, source="hubmgr", params={"n": 20})
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "gpt2-add-1k")
        await pilot.press("space")
        await select(pilot, app, "gpt2-add-5k")
        await pilot.press("space", "m")
        await settle(pilot, app, until=lambda: isinstance(app.screen, ResultScreen) or bool(app.errors), timeout=30)
        assert app.errors == []
        result = app.results["compare"]
        assert [Path(p).name for p in result.paths] == ["gpt2-add-1k", "gpt2-add-5k"]
        text = plain(app.screen.query_one("#result-body"))
        assert "gpt2-add-1k" in text and "gpt2-add-5k" in text
        assert "0.75 *" in text  # the best value is marked


async def test_a_card_preview_that_fails_says_why(make_app, catalog, workspace: Path) -> None:
    """The preview used to hide any error and show 'No model card yet'."""
    import json

    model_dir = workspace / "runs" / "gpt2-add-1k"
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "architectures": 7}))  # odd, but on disk
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "gpt2-add-1k")
        await pilot.press("3")  # the Model card tab renders a preview when there is no README.md
        source = app.screen.detail.query_one("#card-source")
        await settle(pilot, app, until=lambda: "cannot preview the model card" in plain(source))
        assert "No model card yet" not in plain(source)
        assert app.screen.detail.details.card_error in plain(source).replace("\n", "")
