"""Rescan: the first paint comes from the catalog alone; the scan runs in the background."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.tui.app import create_app
from hubmgr.tui.messages import CatalogLoaded
from tui_helpers import TERMINAL, settle, table_names

pytestmark = pytest.mark.anyio


async def test_first_paint_from_catalog_then_background_rescan_fills_it(workspace: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "fresh.db")  # empty: nothing scanned yet
    loads: list[int] = []

    def hook(message) -> None:
        if isinstance(message, CatalogLoaded):
            loads.append(len(message.snapshot.rows))

    app = create_app(workspace, catalog=catalog, workspace_label="~/ws")
    async with app.run_test(size=TERMINAL, message_hook=hook) as pilot:
        await settle(pilot, app, until=lambda: "rescan" in app.results or bool(app.errors), timeout=60)
        assert app.errors == []
        await settle(pilot, app, until=lambda: len(loads) >= 2)
        assert loads[0] == 0  # painted before the scan finished
        names = set(table_names(app))
        assert {"gpt2-add-1k", "gpt2-add-5k", "model.pt"} <= names
        assert any(text.startswith("rescan: ") and "checkpoints found" in text for _, text in app.notices)


async def test_rescan_key_finds_new_and_forgets_removed_checkpoints(make_app, catalog, workspace: Path) -> None:
    runs = workspace / "runs"
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        shutil.copy(runs / "model.pt", runs / "extra.pt")
        shutil.rmtree(runs / "gpt2-add-1k")
        await pilot.press("r")
        await settle(pilot, app, until=lambda: "rescan" in app.results or bool(app.errors), timeout=60)
        assert app.errors == []
        await settle(pilot, app, until=lambda: "extra.pt" in table_names(app))
        assert "gpt2-add-1k" not in table_names(app)
        assert catalog.get_checkpoint_dict(str(runs / "extra.pt"))["kind"] == "state_dict"
