"""Issue 13 point 9 in the TUI: table cells, the overview and the tensor list show crafted names
escaped (no ESC, no markup applied) and the verdict of a payload file stays `unsafe`."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from hubmgr.checkpoints import inspect_checkpoint
from hubmgr.testing import hostile_files as hf
from tui_helpers import TERMINAL, plain, select, settle

pytestmark = pytest.mark.anyio
pytest.importorskip("torch")


async def test_crafted_names_are_inert_in_tui_cells(make_app, catalog, workspace: Path) -> None:
    name = "[green]safe[bold] \x1b[2Kx.pth"  # no "/": it is a file name
    path = hf.write_torch_with_views(workspace / "runs" / name, {"\x1b[1A\x1b[2K  safety  safe": (0, (2,), (1,))},
                                     extra={"payload": hf.RunsShell("true")})
    catalog.upsert_checkpoints([inspect_checkpoint(path, hash_files=False)])
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, name)
        table = app.screen.table
        cells = [c.plain for c in table.get_row(str(path))]
        assert cells[1].startswith("[green]safe[bold]") and "\\x1b" in cells[1] and "\x1b" not in "".join(cells)
        assert cells[8] == "unsafe"
        detail = app._main_screen().detail
        overview = plain(detail.query_one("#overview-body"))
        assert "\x1b" not in overview and "[green]safe[bold]" in overview and "unsafe" in overview
        tensors = detail.query_one("#tensor-table", DataTable)
        shown = [tensors.get_row_at(i)[0].plain for i in range(tensors.row_count)]
        assert shown == ["\\x1b[1A\\x1b[2K  safety  safe"]


async def test_error_dialog_and_notices_show_crafted_names_inert(make_app) -> None:
    from hubmgr.tui.screens.dialogs import ErrorScreen

    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        app.push_screen(ErrorScreen("convert failed", "refusing [bold]x\x1b[2J.pth[/]: bad", "hint [red]y"))
        await settle(pilot, app)
        message = plain(app.screen.query_one("#error-message"))
        assert "[bold]x\\x1b[2J.pth[/]" in message and "\x1b" not in message
        assert "hint [red]y" in plain(app.screen.query_one("#error-hint"))
