"""Issue 11: a Trainer run pushed from the TUI with the same choices as the CLI (checkpoint, include/exclude)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubmgr.tui.screens.dialogs import PushPlanScreen
from hubmgr.tui.screens.forms import PushFormScreen

from tui_helpers import TERMINAL, fill, open_action, plain, settle

pytest.importorskip("accelerate")
pytestmark = [pytest.mark.anyio, pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required")]


@pytest.fixture(scope="module")
def trainer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hubmgr.testing import checkpoint_factory as cf

    return cf.run_tiny_trainer(tmp_path_factory.mktemp("tui-trainer") / "adder-run", steps=2)


async def test_push_a_trainer_run_best_checkpoint_from_the_tui(make_app, catalog, workspace: Path,
                                                               trainer_run: Path) -> None:
    import json

    from hubmgr import checkpoints
    from hubmgr.remotes import open_remote

    run = Path(shutil.copytree(trainer_run, workspace / "runs" / "adder-run"))
    checkpoints.scan([run], catalog=catalog)
    best = Path(json.loads((run / "trainer_state.json").read_text())["best_model_checkpoint"]).name
    before = sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await open_action(pilot, app, "adder-run", "p")
        assert isinstance(app.screen, PushFormScreen) and app.screen.trainer_run
        await fill(pilot, app, "target", "local:adder")
        await fill(pilot, app, "checkpoint", "best")
        await fill(pilot, app, "exclude", "generation_config.json")
        await pilot.press("enter")
        await settle(pilot, app, until=lambda: isinstance(app.screen, PushPlanScreen) or app.errors, timeout=60)
        assert app.errors == []
        plan_text = plain(app.screen.query_one("#confirm-body"))
        assert f"checkpoint  {best}" in plan_text and "lowest eval_loss" in plan_text
        assert "optimizer.pt" in plan_text and "left out" in plan_text  # the plan says what stays home
        assert f"{best}/model.safetensors" in plan_text
        await pilot.click("#confirm")
        await settle(pilot, app, until=lambda: "push" in app.results or app.errors, timeout=60)
        assert [e for e in app.errors if e[0] == "push"] == []
        result = app.results["push"]
        assert Path(result.plan.checkpoint).name == best and result.created_commit
        files = {f.path for f in open_remote("local:adder").list_files(result.commit_sha)}
        assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "training_args.json"} <= files
        assert "generation_config.json" not in files and not any(f.endswith((".pt", ".pth", ".bin")) for f in files)
        [record] = catalog.list_pushes(str(run / best))  # recorded for the checkpoint pushed (gc keeps it)
        assert record.commit_sha == result.commit_sha
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*")) == before
