"""TUI gc: the options form, the same plan `hubmgr gc --dry-run` prints, confirm, that plan carried out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.tui.screens.dialogs import ConfirmScreen
from hubmgr.tui.screens.forms import GcFormScreen
from tui_helpers import TERMINAL, plain, settle

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def trainer_run_3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hubmgr.testing.checkpoint_factory import run_tiny_trainer

    return run_tiny_trainer(tmp_path_factory.mktemp("tui-gc") / "run", steps=3)


async def test_gc_preview_confirm_prune(trainer_run_3: Path, tmp_path: Path, run_cli) -> None:
    import shutil

    from hubmgr.checkpoints import scan
    from hubmgr.tui.app import create_app

    run = Path(shutil.copytree(trainer_run_3, tmp_path / "ws" / "run"))
    catalog = Catalog(tmp_path / "ws" / ".hubmgr" / "catalog.db")
    scan([run], catalog=catalog)
    cli_plan = run_cli("--catalog", str(catalog.path), "gc", str(run), "--include-unpushed", "--dry-run",
                       "--json").json()
    expected = {Path(i["path"]).name: i["action"] for i in cli_plan["items"]}
    assert expected == {"checkpoint-1": "delete", "checkpoint-2": "delete", "checkpoint-3": "keep"}

    app = create_app(tmp_path / "ws", catalog=catalog, rescan_on_start=False, workspace_label="~/ws",
                     show_eta=False)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        main = app._main_screen()
        index = [r.path for r in main.table.rows_shown].index(str(run / "checkpoint-3"))
        main.table.move_cursor(row=index)
        await pilot.pause()
        await pilot.press("g")
        await settle(pilot, app)
        assert isinstance(app.screen, GcFormScreen) and app.screen.run_dir == str(run)
        await pilot.click("#include_unpushed")
        await pilot.click("#plan")
        await settle(pilot, app, until=lambda: isinstance(app.screen, ConfirmScreen))
        text = plain(app.screen.query_one("#confirm-body"))
        shown = {name: action for action, name in re.findall(r"(delete|strip|keep)\W+(checkpoint-\d+)", text)}
        assert shown == expected  # the CLI's plan, row for row
        assert all(p.is_dir() for p in run.glob("checkpoint-*")) and len(list(run.glob("checkpoint-*"))) == 3
        await pilot.click("#confirm")
        await settle(pilot, app, until=lambda: not (run / "checkpoint-1").exists())
        await settle(pilot, app)
        assert not (run / "checkpoint-2").exists() and (run / "checkpoint-3").is_dir()
        assert any(kind == "information" and text.startswith("gc: pruned 2") for kind, text in app.notices)
        assert catalog.get_checkpoint_dict(str(run / "checkpoint-1")) is None
