"""Delete a checkpoint from disk: one confirmation when a remote holds a copy, two (typed) when not."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubmgr.tui.screens.dialogs import ConfirmScreen, TypedConfirmScreen
from tui_helpers import TERMINAL, open_action, settle, table_names

pytestmark = pytest.mark.anyio


async def test_delete_pushed_checkpoint_needs_one_confirmation(make_app, catalog, workspace: Path) -> None:
    five_k = workspace / "runs" / "gpt2-add-5k"
    catalog.record_push(checkpoint_path=str(five_k), remote="local:adder", repo="adder", revision="main", tag=None,
                        commit_sha="ab" * 20, url=None)
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await open_action(pilot, app, "gpt2-add-5k", "d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#confirm")
        await settle(pilot, app, until=lambda: "gpt2-add-5k" not in table_names(app))
        assert not five_k.exists()
        assert catalog.get_checkpoint_dict(str(five_k)) is None
        assert ("information", "delete: deleted gpt2-add-5k") in app.notices
        assert not list(five_k.parent.glob(".gpt2-add-5k.hubmgr-deleting-*"))


async def test_delete_never_pushed_needs_typed_second_confirmation(make_app, catalog, workspace: Path) -> None:
    model = workspace / "runs" / "model.pt"
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await open_action(pilot, app, "model.pt", "d")
        await pilot.click("#confirm")
        await settle(pilot, app)
        assert isinstance(app.screen, TypedConfirmScreen)
        confirm = app.screen.query_one("#confirm")
        assert confirm.disabled  # nothing typed yet
        await pilot.press(*"model.p", "enter")  # wrong text: nothing happens
        await settle(pilot, app)
        assert isinstance(app.screen, TypedConfirmScreen) and model.exists()
        await pilot.press("t")
        assert not confirm.disabled
        await pilot.press("enter")
        await settle(pilot, app, until=lambda: "model.pt" not in table_names(app))
        assert not model.exists()
        assert catalog.get_checkpoint_dict(str(model)) is None


async def test_cancelled_delete_keeps_files(make_app, catalog, workspace: Path) -> None:
    model = workspace / "runs" / "model.pt"
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await open_action(pilot, app, "model.pt", "d")
        await pilot.click("#confirm")
        await settle(pilot, app)
        await pilot.press("escape")  # the typed confirmation
        await settle(pilot, app)
        await pilot.press("d", "enter")  # Cancel has the focus: Enter alone never deletes
        await settle(pilot, app)
        assert model.exists() and "model.pt" in table_names(app)
        assert catalog.get_checkpoint_dict(str(model)) is not None
