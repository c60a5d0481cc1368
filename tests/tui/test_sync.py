"""Push, pull, rollback and the remote pane against the embedded local git registry (real git + LFS)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from hubmgr.tui.screens.dialogs import ErrorScreen, PushPlanScreen
from hubmgr.tui.screens.forms import PullFormScreen, PushFormScreen
from hubmgr.tui.screens.remote_browser import RemoteBrowserScreen
from tui_helpers import TERMINAL, fill, open_action, plain, settle

pytestmark = pytest.mark.anyio


async def test_push_form_shows_dry_run_plan_then_pushes(make_app, catalog, workspace: Path) -> None:
    from hubmgr import deploy  # noqa: F401  (the pull side must exist too)
    from hubmgr.remotes import open_remote

    path = str(workspace / "runs" / "gpt2-add-5k")
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await open_action(pilot, app, "gpt2-add-5k", "p")
        assert isinstance(app.screen, PushFormScreen)
        assert app.screen.query_one("#target").value == "local:gpt2-add-5k"  # the suggested default
        await fill(pilot, app, "target", "local:adder")
        await fill(pilot, app, "tag", "v1")
        await pilot.press("enter")
        await settle(pilot, app, until=lambda: isinstance(app.screen, PushPlanScreen) or app.errors, timeout=60)
        assert app.errors == []
        plan_text = plain(app.screen.query_one("#confirm-body"))
        assert "model.safetensors" in plan_text and "new" in plan_text and "new repo or branch" in plan_text
        assert catalog.list_pushes(path) == []  # the plan sent nothing
        await pilot.click("#confirm")
        await settle(pilot, app, until=lambda: "push" in app.results or app.errors, timeout=60)
        assert [e for e in app.errors if e[0] == "push"] == []
        result = app.results["push"]
        assert result.created_commit and result.tag == "v1"
        remote = open_remote("local:adder")
        assert remote.resolve_revision("v1") == result.commit_sha
        assert "model.safetensors" in {f.path for f in remote.list_files(result.commit_sha)}
        [record] = catalog.list_pushes(path)
        assert record.commit_sha == result.commit_sha
        await settle(pilot, app, until=lambda: {r.name: r for r in app.snapshot.rows}["gpt2-add-5k"].sync.text
                     == f"pushed @{result.commit_sha[:7]}")


async def test_pull_to_deploy_dir_then_rollback(make_app, catalog, workspace: Path, tmp_path: Path) -> None:
    from hubmgr import deploy
    from hubmgr.sync import push

    runs = workspace / "runs"
    first = push(runs / "gpt2-add-1k", "local:adder", message="1k", catalog=catalog)
    (runs / "gpt2-add-5k" / "NOTES.md").write_text("trained on 5k examples\n")
    second = push(runs / "gpt2-add-5k", "local:adder", message="5k", catalog=catalog)
    assert first.commit_sha != second.commit_sha
    dest = tmp_path / "srv" / "adder"
    events = []
    app = make_app(progress_tap=events.append)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        for sha in (first.commit_sha, second.commit_sha):
            await pilot.press("l")
            await settle(pilot, app)
            assert isinstance(app.screen, PullFormScreen)
            await fill(pilot, app, "spec", f"local:adder@{sha}")
            await fill(pilot, app, "dest", str(dest))
            await pilot.press("enter")
            await settle(pilot, app, until=lambda s=sha: getattr(app.results.get("pull"), "commit_sha", "") == s
                         or bool(app.errors), timeout=60)
            assert app.errors == []
        assert deploy.live_sha(dest) == second.commit_sha
        assert (dest / "current" / "NOTES.md").exists()
        assert any(p.commit_sha == second.commit_sha and p.dest == str(dest) for p in catalog.list_pulls())
        await pilot.press("u")
        await settle(pilot, app)
        assert app.screen.query_one("#value").value == str(dest)  # suggested from this session's pulls
        del events[:]
        await pilot.press("enter")
        await settle(pilot, app, until=lambda: "rollback" in app.results or bool(app.errors), timeout=30)
        assert app.errors == []
        assert app.results["rollback"].verified  # re-hashed before going live, with progress like any long op
        assert any(e.task == "status:verify" for e in events)
        assert deploy.live_sha(dest) == first.commit_sha
        assert not (dest / "current" / "NOTES.md").exists()
        assert app.notices[-1][1].startswith(f"rollback: {dest}: {second.commit_sha[:7]} -> {first.commit_sha[:7]}")


async def test_remote_pane_lists_registry_refs_commits_and_pulls_a_tag(make_app, catalog, workspace: Path,
                                                                        tmp_path: Path) -> None:
    from hubmgr import deploy
    from hubmgr.sync import push

    pushed = push(workspace / "runs" / "gpt2-add-1k", "local:adder", tag="v1", message="first", catalog=catalog)
    dest = tmp_path / "deploy"
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        await pilot.press("b")
        await settle(pilot, app, until=lambda: app.last_remote_listing is not None, timeout=30)
        assert isinstance(app.screen, RemoteBrowserScreen)
        assert app.last_remote_listing.registry_names == ["adder"]
        registry = app.screen.query_one("#registry", DataTable)
        registry.focus()
        await pilot.press("enter")  # list local:adder
        await settle(pilot, app, until=lambda: app.last_remote_listing.spec == "local:adder", timeout=30)
        listing = app.last_remote_listing
        assert listing.error is None
        assert {(r.name, r.kind) for r in listing.refs} >= {("main", "branch"), ("v1", "tag")}
        assert [c.sha for c in listing.commits] == [pushed.commit_sha]
        assert "first" in [str(c) for c in app.screen.query_one("#commits", DataTable).get_row_at(0)]
        refs = app.screen.query_one("#refs", DataTable)
        refs.focus()
        v1 = [r.name for r in listing.refs].index("v1")
        refs.move_cursor(row=v1)
        # focus moves on the next refresh: press Enter once the user would see the cursor on v1 in that table
        await settle(pilot, app, until=lambda: app.screen.focused is refs and refs.cursor_row == v1)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, PullFormScreen)
        assert app.screen.query_one("#spec").value == "local:adder@v1"
        await fill(pilot, app, "dest", str(dest))
        await pilot.press("enter")
        await settle(pilot, app, until=lambda: "pull" in app.results or bool(app.errors), timeout=60)
        assert app.errors == []
        assert deploy.live_sha(dest) == pushed.commit_sha


async def test_failing_remote_shows_an_error_and_the_app_keeps_running(make_app, workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await open_action(pilot, app, "gpt2-add-5k", "p")
        await fill(pilot, app, "target", "file:///nonexistent/x.git")
        await pilot.press("enter")
        # the plan may already fail (unreachable remote) or only the push itself
        await settle(pilot, app, until=lambda: isinstance(app.screen, (ErrorScreen, PushPlanScreen)), timeout=60)
        if isinstance(app.screen, PushPlanScreen):
            await pilot.click("#confirm")
        await settle(pilot, app, until=lambda: isinstance(app.screen, ErrorScreen), timeout=60)
        assert app.errors and app.errors[0][0] in ("push plan", "push")
        assert app.screen.message and "\n" not in app.screen.message  # one line saying what went wrong
        assert [e for e in app.errors if "Traceback" in e[1]] == []
        await pilot.press("escape")
        await settle(pilot, app)
        # the remote pane reports the same remote's failure inline
        await pilot.press("b")
        await settle(pilot, app)
        app.screen.query_one("#spec").value = "file:///nonexistent/x.git"
        app.screen.query_one("#spec").focus()
        await pilot.press("enter")
        await settle(pilot, app, until=lambda: app.last_remote_listing is not None
                     and app.last_remote_listing.spec == "file:///nonexistent/x.git", timeout=30)
        assert app.last_remote_listing.error
        assert "nonexistent" in plain(app.screen.query_one("#browser-status")) or app.last_remote_listing.error
        await pilot.press("escape")
        await settle(pilot, app)
        # still alive and usable
        await pilot.press("slash", "5", "k")
        await settle(pilot, app)
        assert app.is_running and [r.name for r in app.screen.table.rows_shown] == ["gpt2-add-5k"]


async def test_ui_stays_responsive_while_a_push_runs(make_app, catalog, workspace: Path) -> None:
    """The push is held inside its worker thread; meanwhile keys still filter the table."""
    import threading

    holding, release = threading.Event(), threading.Event()

    def tap(event) -> None:
        if not holding.is_set():
            holding.set()
            release.wait(timeout=30)

    app = make_app(progress_tap=tap)
    async with app.run_test(size=TERMINAL) as pilot:
        await open_action(pilot, app, "gpt2-add-5k", "p")
        await fill(pilot, app, "target", "local:busy")
        await pilot.press("enter")
        await settle(pilot, app, until=holding.is_set, timeout=30)  # the dry-run plan is running, held
        assert [op.name for op in app.operations.values()] == ["push plan"]
        await pilot.press("slash", *"state")
        await settle(pilot, app, until=lambda: [r.name for r in app.screen.table.rows_shown] == ["model.pt"])
        assert "running: push plan" in plain(app.screen.query_one("#topbar"))
        release.set()
        await settle(pilot, app, until=lambda: isinstance(app.screen, PushPlanScreen), timeout=30)


async def test_checkpoint_changed_after_its_push_shows_modified_like_hubmgr_ls(make_app, catalog, workspace: Path,
                                                                              run_cli) -> None:
    import os
    import time

    from hubmgr.sync import push

    model_dir = workspace / "runs" / "gpt2-add-5k"
    result = push(model_dir, "local:adder", catalog=catalog)
    pushed_text = f"pushed @{result.commit_sha[:7]}"
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        row = {r.name: r for r in app.snapshot.rows}["gpt2-add-5k"]
        assert row.sync.text == pushed_text
        config = model_dir / "config.json"
        later = time.time() + 5
        os.utime(config, (later, later))  # touched, same content: the remote still holds exactly this
        app.load_catalog()
        await settle(pilot, app)
        assert {r.name: r for r in app.snapshot.rows}["gpt2-add-5k"].sync.text == pushed_text
        config.write_text(config.read_text().replace("}", ', "edited": true}', 1))  # changed after the push
        app.load_catalog()
        await settle(pilot, app, until=lambda: {r.name: r for r in app.snapshot.rows}["gpt2-add-5k"].sync.state
                     == "modified")
        assert "1 modified" in plain(app.screen.query_one("#topbar"))
    # the CLI says the same words for the same checkpoint (one core decision)
    listing = run_cli("--catalog", str(catalog.path), "ls", "--json").json()
    state = {Path(c["path"]).name: c["sync_state"] for c in listing["checkpoints"]}["gpt2-add-5k"]
    assert state == {"state": "modified", "remote": "local:adder", "commit_sha": result.commit_sha,
                     "signature": "unsigned"}
