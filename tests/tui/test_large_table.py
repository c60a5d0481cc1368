"""A workspace of thousands of checkpoints: the table holds every row, draws only the screen, and keys,
mouse, filter, sort and marks work on the data (issue 16: virtualised checkpoint table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.models import CheckpointInfo, FileInfo, SafetyInfo
from hubmgr.tui.app import create_app
from hubmgr.tui.rows import build_rows, sort_rows
from tui_helpers import TERMINAL, settle

N = 3000


def _info(root: Path, i: int) -> CheckpointInfo:
    return CheckpointInfo(
        path=str(root / "runs" / f"run-{i // 100:02d}" / f"ckpt-{i:05d}"), name=f"ckpt-{i:05d}",
        kind="state_dict", format="torch_zip", size_bytes=1_000 + (i * 7919) % 10_007, params=1_000 + i,
        dtypes=("F32",), step=None if i % 3 == 0 else i, safety=SafetyInfo("safe"),
        files=(FileInfo("model.pt", 1_000),))


@pytest.fixture
def big_app(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    catalog = Catalog(ws / ".hubmgr" / "catalog.db")
    catalog.upsert_checkpoints([_info(ws, i) for i in range(N)])
    return create_app(ws, catalog=catalog, rescan_on_start=False, workspace_label="~/big", show_eta=False)


def _screen_text(app) -> str:
    return app.export_screenshot().replace("&#160;", " ")


pytestmark = pytest.mark.anyio


async def test_thousands_of_rows_draw_only_the_screen_and_keys_reach_the_end(big_app) -> None:
    app = big_app
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded and app.screen.table.row_count == N)
        table = app.screen.table
        assert "ckpt-00000" in _screen_text(app) and "3000 checkpoints" in str(app.screen.query_one("#topbar").content)
        # Only the visible window became renderables: at most one line per screen line was built.
        assert 0 < len(table._lines) <= table.size.height
        await pilot.press("ctrl+end")
        await settle(pilot, app)
        assert table.cursor_row == N - 1 and table.selected.name == f"ckpt-{N - 1:05d}"
        assert f"ckpt-{N - 1:05d}" in _screen_text(app)  # scrolled to the cursor
        assert app.screen.detail.row.name == table.selected.name  # the detail pane follows the data index
        page = table.scrollable_content_region.height - 1  # minus the header line
        await pilot.press("pageup")
        await settle(pilot, app)
        assert table.cursor_row == N - 1 - page and table.selected.name in _screen_text(app)
        await pilot.press("ctrl+home", "down", "down")
        await settle(pilot, app)
        assert table.selected.name == "ckpt-00002" and "ckpt-00000" in _screen_text(app)
        assert len(table._lines) <= 4 * table.size.height  # moving re-draws changed lines, never every row


async def test_filter_sort_and_marks_work_on_the_data(big_app) -> None:
    app = big_app
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded and app.screen.table.row_count == N)
        table = app.screen.table
        await pilot.press("ctrl+end", "space")  # mark the last row
        marked = table.selected.path
        assert app.marked == {marked}
        await pilot.press("slash", *"ckpt-029")
        await settle(pilot, app)
        assert table.row_count == 100 and all(r.name.startswith("ckpt-029") for r in table.rows_shown)
        assert table.selected.path == marked  # the cursor stayed on its row through the filter
        assert str(table.get_row(marked)[0]) == "*"
        await pilot.press("escape")
        app.sort_by("step")
        await settle(pilot, app)
        steps = [r.step for r in table.rows_shown]
        present = [s for s in steps if s is not None]
        assert present == sorted(present) and steps[len(present):] == [None] * (N - len(present))
        await pilot.press("S")  # reversed: rows without a step stay last
        await settle(pilot, app)
        steps = [r.step for r in table.rows_shown]
        assert steps[:len(present)] == sorted(present, reverse=True) and steps[-1] is None
        assert table.selected.path == marked and str(table.get_row_at(table.cursor_row)[0]) == "*"
        assert f"{Path(marked).name}" in _screen_text(app)
        await pilot.press("space")
        assert app.marked == set() and str(table.get_row(marked)[0]) == " "


async def test_mouse_click_moves_the_cursor_and_enter_opens_the_details(big_app) -> None:
    app = big_app
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded and app.screen.table.row_count == N)
        table = app.screen.table
        await pilot.click("#checkpoints", offset=(10, 4))  # border, header, then rows 0, 1, 2
        await settle(pilot, app, until=lambda: app.screen.detail.row is not None
                     and app.screen.detail.row.name == "ckpt-00002")
        assert table.cursor_row == 2
        await pilot.press("enter")  # the help screen's promise: enter focuses the detail pane
        assert not table.has_focus and app.screen.detail.has_focus_within


def test_sort_rows_one_key_none_last_both_ways_ties_by_name() -> None:
    infos = [CheckpointInfo(path=f"/w/{name}", name=name, kind="state_dict", format="torch_zip", size_bytes=size,
                            params=None, dtypes=(), step=step, safety=SafetyInfo("safe"))
             for name, size, step in (("b", 5, None), ("A", 5, 2), ("c", 1, None), ("d", 9, 2))]
    rows = build_rows(infos)
    names = lambda rows: [r.name for r in rows]  # noqa: E731
    assert names(sort_rows(rows, "size", False)) == ["c", "A", "b", "d"]
    assert names(sort_rows(rows, "size", True)) == ["d", "b", "A", "c"]
    assert names(sort_rows(rows, "step", False)) == ["A", "d", "b", "c"]
    assert names(sort_rows(rows, "step", True)) == ["d", "A", "b", "c"]  # no step: last, by name
    assert names(sort_rows(rows, "params", True)) == ["A", "b", "c", "d"]


def test_snapshot_read_gives_cycle_collection_back(tmp_path: Path) -> None:
    import gc

    from hubmgr.catalog import CatalogError
    from hubmgr.tui.data import read_snapshot

    catalog = Catalog(tmp_path / "catalog.db")
    catalog.upsert_checkpoints([_info(tmp_path, i) for i in range(50)])
    assert gc.isenabled()
    snapshot = read_snapshot(catalog)
    assert len(snapshot.rows) == 50 and snapshot.column_widths[0] == len("ckpt-00000") and gc.isenabled()
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database " * 20)
    with pytest.raises(CatalogError):
        read_snapshot(Catalog(damaged))
    assert gc.isenabled()  # a failed read does not leave the process without cycle collection
    gc.disable()
    try:
        read_snapshot(catalog)
        assert not gc.isenabled()  # nor turns it on for a caller that had it off
    finally:
        gc.enable()
