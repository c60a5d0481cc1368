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
        await app.workers.wait_for_complete()
        await pilot.pause()
        if until is None or until():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; notices={app.notices} errors={app.errors}")
        await asyncio.sleep(0.05)
