"""Main screen: the table from the catalog, header counts, filter, sort, detail tabs, help, palette."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Markdown

from hubmgr.tui.actions import ACTIONS
from hubmgr.tui.screens.help import HelpScreen, help_table
from tui_helpers import TERMINAL, plain, select, settle, table_names

pytestmark = pytest.mark.anyio


async def test_main_screen_paints_catalog_rows_with_header_counts(make_app, catalog, workspace: Path) -> None:
    five_k = str(workspace / "runs" / "gpt2-add-5k")
    catalog.record_push(checkpoint_path=five_k, remote="local:adder", repo="adder", revision="main", tag="v1",
                        commit_sha="ab" * 20, url=None)
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        assert table_names(app) == ["gpt2-add-1k", "gpt2-add-5k", "model.pt"]
        top = plain(app.screen.query_one("#topbar"))
        assert "~/ws" in top and "3 checkpoints" in top and "1 pushed" in top
        table = app.screen.table
        row = {r.name: r for r in table.rows_shown}
        assert row["gpt2-add-5k"].sync.text == "pushed @abababa"
        assert row["gpt2-add-1k"].sync.text == "local only"
        cells = [str(c) for c in table.get_row(five_k)]
        assert cells[1:5] == ["gpt2-add-5k", "hf model", "safetensors", row["gpt2-add-5k"].cells(False)[4]]
        assert "pushed @abababa ·" in cells  # the signature badge: that push did not sign


async def test_filter_by_typing_and_escape_clears(make_app) -> None:
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await pilot.press("slash", "5", "k")
        await settle(pilot, app)
        assert table_names(app) == ["gpt2-add-5k"]
        assert "(1 shown)" in plain(app.screen.query_one("#topbar"))
        await pilot.press("backspace", "backspace", *"state")
        await settle(pilot, app)
        assert table_names(app) == ["model.pt"]
        await pilot.press("escape")
        await settle(pilot, app)
        assert app.filter_text == "" and len(table_names(app)) == 3
        assert app.screen.table.has_focus


async def test_sort_by_any_column_and_reverse(make_app) -> None:
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        app.sort_by("step")  # what clicking the Step header does
        await settle(pilot, app)
        assert table_names(app) == ["gpt2-add-1k", "gpt2-add-5k", "model.pt"]  # None last
        await pilot.press("S")
        await settle(pilot, app)
        assert table_names(app) == ["gpt2-add-5k", "gpt2-add-1k", "model.pt"]
        app.sort_by("size")
        await settle(pilot, app)
        sizes = [r.size_bytes for r in app.screen.table.rows_shown]
        assert sizes == sorted(sizes)
        await pilot.press("s")  # next column after size: params
        await settle(pilot, app)
        assert app.sort_column == "params"
        await pilot.click("#checkpoints", offset=(6, 1))  # the Name header (inside the border)
        await settle(pilot, app)
        assert app.sort_column == "name"
        # sorting reorders in place: marks and the cursor's row survive it
        await select(pilot, app, "gpt2-add-1k")
        await pilot.press("space", "S")
        await settle(pilot, app)
        table = app.screen.table
        assert table_names(app) == ["model.pt", "gpt2-add-5k", "gpt2-add-1k"]
        assert str(table.get_row_at(2)[0]) == "*" and table.selected.name == "gpt2-add-1k"
        await pilot.press("space")
        assert str(table.get_row_at(2)[0]) == " " and app.marked == set()


async def test_detail_tabs_show_overview_tensors_card_evals_history(make_app, catalog, workspace: Path) -> None:
    five_k = workspace / "runs" / "gpt2-add-5k"
    (five_k / "README.md").write_text("---\nlicense: mit\n---\n# Adder 5k\n\nAdds digits.\n")
    catalog.record_eval(checkpoint_path=str(five_k), weights_sha256=None, suite="arithmetic", metric="exact_match",
                        value=0.375, source="hubmgr", params={"n": 200}, details={"failures": ["7 + 8 = 14"]})
    catalog.record_conversion(source_path=str(workspace / "runs" / "model.pt"), source_sha256="cd" * 32,
                              output_path=str(five_k), outputs=[])
    catalog.record_push(checkpoint_path=str(five_k), remote="local:adder", repo="adder", revision="main",
                        tag=None, commit_sha="ef" * 20, url=None)
    catalog.record_pull(remote="local:adder", repo="adder", revision="main", commit_sha="ef" * 20,
                        dest="/srv/adder")
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "gpt2-add-5k")
        detail = app.screen.detail
        overview = plain(detail.query_one("#overview-body"))
        assert "runs/gpt2-add-5k" in overview and "not_pickle" in overview and "500" in overview
        await pilot.press("2")
        assert detail.active == "tensors"
        tensors = detail.query_one("#tensor-table", DataTable)
        assert tensors.row_count == len(detail.details.info.tensors) > 10
        assert "transformer.wte.weight" in [str(tensors.get_row_at(i)[0]) for i in range(tensors.row_count)]
        await pilot.press("3")
        assert detail.active == "card"
        assert "# Adder 5k" in detail.query_one("#card-body", Markdown).source
        assert "license: mit" in detail.query_one("#card-body", Markdown).source
        await pilot.press("4")
        evals = plain(detail.query_one("#evals-body"))
        assert "exact_match" in evals and "0.375" in evals and "7 + 8 = 14" in evals and "eval_loss" in evals
        await pilot.press("5")
        history = plain(detail.query_one("#history-body"))
        assert "push" in history and "local:adder@main" in history and "efefefe" in history
        assert "convert" in history and "pull" in history and "/srv/adder" in history
        # a checkpoint with nothing recorded says so
        await select(pilot, app, "gpt2-add-1k")
        assert "No conversions, pushes or pulls" in plain(detail.query_one("#history-body"))
        await pilot.press("3")  # no README.md: the tab previews what `card` would write
        await settle(pilot, app, until=lambda: "preview" in plain(detail.query_one("#card-source")), timeout=30)
        assert "gpt2-add-1k" in detail.query_one("#card-body", Markdown).source
        assert not (workspace / "runs" / "gpt2-add-1k" / "README.md").exists()  # nothing written


async def test_tied_groups_listed_in_tensors_tab(make_app) -> None:
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "model.pt")
        tied = app.screen.detail.details.info.tied_groups
        text = plain(app.screen.detail.query_one("#tied-groups"))
        if tied:
            assert "tied:" in text and tied[0][0] in text
        assert f"{len(app.screen.detail.details.info.tensors)} tensors" in text


async def test_help_screen_lists_every_key(make_app) -> None:
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await pilot.press("question_mark")
        await settle(pilot, app)
        assert isinstance(app.screen, HelpScreen)
        text = plain(app.screen.query_one("#help-table"))
        for action in ACTIONS:
            assert action.title in text and action.keys_shown in text
        await pilot.press("escape")
        await settle(pilot, app)
        assert not isinstance(app.screen, HelpScreen)
    assert help_table().row_count >= len(ACTIONS)


async def test_one_action_table_feeds_bindings_footer_and_palette(make_app) -> None:
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        bound = {b.action: b.key for b in app.BINDINGS}
        assert all(bound[a.id] == a.key for a in ACTIONS)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"push: selected checkpoint", "convert: selected checkpoint", "rescan: workspace",
                "compare: marked checkpoints"} <= titles
        # the palette runs an action by its title
        await select(pilot, app, "gpt2-add-1k")
        await pilot.press("ctrl+p")
        await settle(pilot, app)
        await pilot.press(*"push: selected")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot, app)
        from hubmgr.tui.screens.forms import PushFormScreen

        assert isinstance(app.screen, PushFormScreen)
        assert app.screen.checkpoint_name == "gpt2-add-1k"


async def test_mark_toggles_and_compare_needs_two(make_app) -> None:
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "gpt2-add-1k")
        await pilot.press("space")
        assert app.marked == {app.screen.table.selected.path}
        assert str(app.screen.table.get_row_at(0)[0]) == "*"
        await pilot.press("m")
        await settle(pilot, app)
        assert app.notices[-1] == ("warning", "mark two or more checkpoints with space, then compare")
        await pilot.press("space")
        assert app.marked == set()
