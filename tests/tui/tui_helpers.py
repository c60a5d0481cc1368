"""Helpers for the TUI tests (imported as ``tui_helpers``; pytest puts this dir on sys.path)."""

from __future__ import annotations

TERMINAL = (120, 36)


async def settle(pilot, app, *, until=None, timeout: float = 30.0) -> None:
    """Wait for workers and messages; with ``until``, poll it (a condition on app state)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause()
        if until is None:
            await app.workers.wait_for_complete()
            await pilot.pause()
            return
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; notices={app.notices} errors={app.errors}")
        await asyncio.sleep(0.05)


def plain(widget) -> str:
    """The text a Static (or any widget with ``content``) shows, rendered without styles."""
    from io import StringIO

    from rich.console import Console

    content = getattr(widget, "content", None)
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    console = Console(file=StringIO(), width=200, color_system=None, legacy_windows=False)
    console.print(content)
    return console.file.getvalue()


def table_names(app) -> list[str]:
    """Names in the checkpoint table, in display order (what the user sees)."""
    main = app._main_screen()
    table = main.table
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def select(pilot, app, name: str) -> None:
    """Move the table cursor to the row named ``name``."""
    main = app._main_screen()
    for index, row in enumerate(main.table.rows_shown):
        if row.name == name:
            main.table.move_cursor(row=index)
            await settle(pilot, app, until=lambda: app._main_screen().detail.row is not None
                         and app._main_screen().detail.row.name == name
                         and app._main_screen().detail.details is not None)
            return
    raise AssertionError(f"{name} not in the table: {table_names(app)}")


async def open_action(pilot, app, name: str, key: str) -> None:
    """Wait for the catalog, select the checkpoint ``name``, press the action ``key`` and let it open."""
    await settle(pilot, app, until=lambda: app.catalog_loaded)
    await select(pilot, app, name)
    await pilot.press(key)
    await settle(pilot, app)


async def fill(pilot, app, widget_id: str, text: str) -> None:
    """Type a short value key by key; set a long one (a temp path) directly to keep the test fast."""
    box = app.screen.query_one(f"#{widget_id}")
    box.focus()
    box.value = ""
    if len(text) <= 24:
        await pilot.press(*text)
    else:
        box.value = text
    await pilot.pause()
