"""Progress plumbing (bars per task key, bursts collapse), cancel with Esc, errors never crash the app."""

from __future__ import annotations

import pytest

from hubmgr.progress import ProgressEvent
from hubmgr.tui.app import Operation
from hubmgr.tui.messages import ProgressUpdated
from hubmgr.tui.screens.dialogs import ErrorScreen
from tui_helpers import TERMINAL, settle

pytestmark = pytest.mark.anyio


def test_progress_messages_with_the_same_task_key_replace_each_other() -> None:
    a1 = ProgressUpdated(ProgressEvent("push:files", "uploading", 1, 10, "files"))
    a2 = ProgressUpdated(ProgressEvent("push:files", "uploading", 2, 10, "files"))
    b = ProgressUpdated(ProgressEvent("push:bytes", "uploading", 5, 100))
    assert a2.can_replace(a1) and not b.can_replace(a1) and not a1.can_replace(b)


async def test_progress_panel_shows_one_bar_per_task_and_hides_when_done(make_app) -> None:
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        panel = app.screen.progress
        assert not panel.display
        for i in range(200):  # a burst: the queue collapses it, the panel keeps one row per task
            app.post_message(ProgressUpdated(ProgressEvent("convert:bytes", "writing", i * 1000, 200_000)))
        app.post_message(ProgressUpdated(ProgressEvent("convert:tensors", "tensors", 3, 28, "tensors")))
        await settle(pilot, app)
        assert panel.display and sorted(panel.active_tasks) == ["convert:bytes", "convert:tensors"]
        assert panel.last_events["convert:bytes"].completed == 199_000
        app.post_message(ProgressUpdated(ProgressEvent("convert:bytes", "writing", 200_000, 200_000,
                                                       finished=True)))
        app.post_message(ProgressUpdated(ProgressEvent("convert:tensors", "tensors", 28, 28, "tensors",
                                                       finished=True)))
        await settle(pilot, app)
        assert panel.active_tasks == [] and not panel.display


async def test_a_failing_core_function_shows_an_error_dialog_and_the_app_keeps_running(make_app) -> None:
    from hubmgr.errors import RemoteError

    def call(progress, cancel):
        raise RemoteError("remote hung up", "try again later")

    def buggy(progress, cancel):
        raise ZeroDivisionError("division by zero")

    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        app.start(Operation("push", call))
        await settle(pilot, app, until=lambda: isinstance(app.screen, ErrorScreen))
        assert app.screen.message == "remote hung up" and app.screen.hint == "try again later"
        await pilot.press("escape")
        app.start(Operation("eval", buggy))
        await settle(pilot, app, until=lambda: isinstance(app.screen, ErrorScreen))
        assert "ZeroDivisionError" in app.screen.message and "bug" in app.screen.hint
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.is_running and not isinstance(app.screen, ErrorScreen)
        assert [e[0] for e in app.errors] == ["push", "eval"]


async def test_a_broken_result_view_or_catalog_is_an_error_not_a_crash(make_app, workspace) -> None:
    def ok(progress, cancel):
        return "a result the view does not understand"

    def broken_view(result):
        raise KeyError("plan")

    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        app.start(Operation("compare", ok, after=broken_view, reload_catalog=False))
        await settle(pilot, app, until=lambda: isinstance(app.screen, ErrorScreen))
        assert "KeyError" in app.screen.message
        await pilot.press("escape")
        # a catalog file that is not SQLite: the app says so and keeps running
        (workspace / ".hubmgr" / "catalog.db").write_bytes(b"not a database" * 100)
        for suffix in ("-wal", "-shm"):
            (workspace / ".hubmgr" / f"catalog.db{suffix}").unlink(missing_ok=True)
        from hubmgr.catalog import Catalog

        app.catalog = Catalog(workspace / ".hubmgr" / "catalog.db")
        app.load_catalog()
        await settle(pilot, app, until=lambda: any(e[0] == "catalog" for e in app.errors))
        assert app.is_running


async def test_a_summary_that_fails_is_said_never_shown_as_done(make_app) -> None:
    def call(progress, cancel):
        return {"written": 3}

    def summarize(result):
        return f"{result['missing']} files"  # a bug in the summary, after the work succeeded

    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        app.start(Operation("convert", call, summarize, reload_catalog=False))
        await settle(pilot, app, until=lambda: "convert" in app.results)
        assert app.results["convert"] == {"written": 3}  # the result is kept
        said = [text for severity, text in app.notices if text.startswith("convert")]
        assert said == ["convert finished, but its summary failed: KeyError: 'missing'"]
        assert ("warning", said[0]) in app.notices and ("information", "convert: done") not in app.notices
        assert app.errors[-1][0] == "convert" and "KeyError" in app.errors[-1][1]
