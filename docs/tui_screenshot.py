"""Write docs/tui.svg: the TUI's main screen on a workspace (run `hubmgr demo` first).

    .venv/bin/python docs/tui_screenshot.py demo-workspace
"""

import asyncio
import sys
from pathlib import Path

from hubmgr.tui.app import create_app


async def shoot(workspace: Path, out: Path) -> None:
    app = create_app(workspace, rescan_on_start=False, workspace_label=workspace.name, show_eta=False)
    async with app.run_test(size=(120, 34)) as pilot:
        while not (app.catalog_loaded and app._main_screen() and app._main_screen().detail.details):
            await asyncio.sleep(0.05)
        main = app._main_screen()
        best = max(main.table.rows_shown, key=lambda r: r.best_metric if r.best_metric is not None else -1)
        main.table.move_cursor(row=main.table.rows_shown.index(best))
        await asyncio.sleep(0.3)
        await pilot.pause()
        app.save_screenshot(filename=out.name, path=str(out.parent))


if __name__ == "__main__":
    ws = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-workspace").resolve()
    target = Path(__file__).with_name("tui.svg")
    asyncio.run(shoot(ws, target))
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")
