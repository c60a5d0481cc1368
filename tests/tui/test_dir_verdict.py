"""Issue 13 point 4 in the TUI: a dir's Safety cell is the worst of its pickles; the overview names them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubmgr.checkpoints import inspect_checkpoint
from hubmgr.testing import checkpoint_factory as cf
from tui_helpers import TERMINAL, plain, select, settle

pytestmark = pytest.mark.anyio
torch = pytest.importorskip("torch")


async def test_dir_with_a_hostile_extra_pickle_shows_unsafe(make_app, catalog, workspace: Path, tmp_path) -> None:
    folder = workspace / "runs" / "gpt2-add-1k"
    net = torch.nn.Linear(2, 2)
    torch.save(torch.optim.SGD(net.parameters(), lr=0.1).state_dict(), folder / "optimizer.pt")
    cf.save_malicious_checkpoint(folder / "rng_state.pth", tmp_path / "MARKER")
    catalog.upsert_checkpoints([inspect_checkpoint(folder, hash_files=False)])
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await select(pilot, app, "gpt2-add-1k")
        cells = [c.plain for c in app.screen.table.get_row(str(folder))]
        assert cells[8] == "unsafe"
        overview = plain(app._main_screen().detail.query_one("#overview-body"))
        assert "rng_state.pth: unsafe" in overview and "optimizer.pt: safe" in overview
        assert "REDUCE calls posix.system" in overview
    assert not (tmp_path / "MARKER").exists()
