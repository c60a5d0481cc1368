"""The TUI against the Hub test server (real huggingface_hub client): push, then browse the repo's refs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubmgr.tui.screens.dialogs import PushPlanScreen
from hubmgr.tui.screens.remote_browser import RemoteBrowserScreen
from tui_helpers import TERMINAL, open_action, settle

pytest.importorskip("huggingface_hub")
pytestmark = pytest.mark.anyio


async def test_push_to_hub_then_remote_pane_lists_it(hub_server, make_app, catalog, workspace: Path,
                                                     monkeypatch) -> None:
    from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await open_action(pilot, app, "gpt2-add-5k", "p")
        app.screen.query_one("#target").value = "alice/adder"
        app.screen.query_one("#tag").value = "v1"
        app.screen.query_one("#target").focus()
        await pilot.press("enter")
        await settle(pilot, app, until=lambda: isinstance(app.screen, PushPlanScreen) or bool(app.errors), timeout=60)
        assert app.errors == []
        await pilot.click("#confirm")
        await settle(pilot, app, until=lambda: "push" in app.results or bool(app.errors), timeout=60)
        assert app.errors == []
        pushed = app.results["push"]
        assert pushed.created_commit and pushed.remote == "hub:alice/adder"
        assert hub_server.storage is not None
        await pilot.press("b")
        await settle(pilot, app, until=lambda: isinstance(app.screen, RemoteBrowserScreen))
        app.screen.query_one("#spec").value = "alice/adder"
        app.screen.query_one("#spec").focus()
        await pilot.press("enter")
        await settle(pilot, app, until=lambda: app.last_remote_listing is not None
                     and app.last_remote_listing.spec == "alice/adder", timeout=30)
        listing = app.last_remote_listing
        assert listing.error is None
        assert {(r.name, r.kind) for r in listing.refs} >= {("main", "branch"), ("v1", "tag")}
        assert listing.commits[0].sha == pushed.commit_sha
