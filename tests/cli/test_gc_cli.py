"""`hubmgr gc` on a real Trainer output dir, through the real CLI (push/pull to local: are real git+LFS)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog

PICKLES = ("--exclude", "*.pt", "--exclude", "*.pth", "--exclude", "*.bin")


@pytest.fixture(scope="module")
def trainer_run_4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """checkpoint-1..4 of a real Trainer run (eval_loss falls every step: checkpoint-4 is the best model)."""
    from hubmgr.testing.checkpoint_factory import run_tiny_trainer

    return run_tiny_trainer(tmp_path_factory.mktemp("gc-run") / "run", steps=4)


@pytest.fixture
def run(trainer_run_4: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trainer_run_4, tmp_path / "run-4"))


def doc_sha(db: str) -> str:
    return Catalog(db).list_pushes()[-1].commit_sha[:7]


def _actions(doc: dict) -> dict[str, str]:
    return {Path(i["path"]).name: i["action"] for i in doc["items"]}


def test_default_deletes_nothing_never_pushed(run_cli, run: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    assert run_cli("--catalog", db, "scan", str(run)).exit_code == 0
    res = run_cli("--catalog", db, "gc", str(run), "--yes", "--json")
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    assert set(_actions(doc).values()) == {"keep"} and doc["bytes_freed"] == 0
    reasons = {Path(i["path"]).name: " ".join(i["reasons"]) for i in doc["items"]}
    assert "never pushed" in reasons["checkpoint-2"] and "--include-unpushed" in reasons["checkpoint-2"]
    assert all((run / f"checkpoint-{n}").is_dir() for n in range(1, 5))
    every = run_cli("--catalog", db, "gc", "--dry-run", "--json").json()  # no RUN_DIR: the catalogued runs
    assert every["runs"] == [str(run)] and every["items"] == doc["items"]


def test_dry_run_is_the_real_run_and_keeps_pushed_deployed_best(run_cli, run: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    assert run_cli("--catalog", db, "scan", str(run)).exit_code == 0
    pushed = run_cli("--catalog", db, "push", str(run / "checkpoint-1"), "local:ck1", *PICKLES)
    assert pushed.exit_code == 0, pushed.stderr
    pulled = run_cli("--catalog", db, "pull", "local:ck1", "--dest", str(tmp_path / "deploy"))
    assert pulled.exit_code == 0, pulled.stderr
    assert run_cli("--catalog", db, "push", str(run / "checkpoint-2"), "local:ck2", *PICKLES).exit_code == 0
    args = ("--catalog", db, "gc", str(run), "--keep-best", "0", "--keep-last", "0", "--include-unpushed")
    plan = run_cli(*args, "--dry-run", "--json")
    assert plan.exit_code == 0, plan.stderr
    assert all((run / f"checkpoint-{n}").is_dir() for n in range(1, 5))  # a dry run changes nothing
    doc = plan.json()
    assert _actions(doc) == {"checkpoint-1": "keep", "checkpoint-2": "keep", "checkpoint-3": "delete",
                             "checkpoint-4": "keep"}
    reasons = {Path(i["path"]).name: " ".join(i["reasons"]) for i in doc["items"]}
    assert reasons["checkpoint-1"].startswith("deployed (local:ck1@")
    assert reasons["checkpoint-2"].startswith("pushed (local:ck2@")
    assert "best_model_checkpoint" in reasons["checkpoint-4"]

    real = run_cli(*args, "--yes", "--json")
    assert real.exit_code == 0, real.stderr
    done = real.json()
    assert done["done"] and done["items"] == doc["items"] and done["bytes_freed"] == doc["bytes_freed"] > 0
    assert not (run / "checkpoint-3").exists()
    assert all((run / f"checkpoint-{n}").is_dir() for n in (1, 2, 4))
    assert Catalog(tmp_path / "c.db").get_checkpoint_dict(str(run / "checkpoint-3")) is None


def test_pushed_by_content_counts(run_cli, run: Path, tmp_path: Path) -> None:
    """The run dir's final model is checkpoint-4's weights (load_best_model_at_end): pushing it protects them."""
    db = str(tmp_path / "c.db")
    # Cut the run's best-model pointer so only the push can protect checkpoint-4.
    for state in (run / "trainer_state.json", run / "checkpoint-4" / "trainer_state.json"):
        doc = json.loads(state.read_text())
        assert doc["best_model_checkpoint"].endswith("checkpoint-4")
        doc["best_model_checkpoint"] = None
        state.write_text(json.dumps(doc))
    assert run_cli("--catalog", db, "push", str(run), "local:final", *PICKLES,
                   "--exclude", "checkpoint-*").exit_code == 0
    doc = run_cli("--catalog", db, "gc", str(run), "--keep-best", "0", "--keep-last", "0", "--include-unpushed",
                  "--dry-run", "--json").json()
    assert _actions(doc)["checkpoint-4"] == "keep", doc
    assert [i["reasons"] for i in doc["items"] if i["path"].endswith("checkpoint-4")] == [["pushed (local:final@"
                                                                                           + doc_sha(db) + ")"]]
    assert _actions(doc)["checkpoint-3"] == "delete"


def test_keep_best_last_and_strip_optimizer(run_cli, run: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    assert run_cli("--catalog", db, "scan", str(run)).exit_code == 0
    human = run_cli("--catalog", db, "gc", str(run), "--keep-best", "2", "--keep-last", "1", "--include-unpushed",
                    "--strip-optimizer", "--dry-run")
    assert human.exit_code == 0, human.stderr
    assert "can no longer resume training" in human.stdout and "removes optimizer.pt" in human.stdout
    assert "nothing was changed" in human.stdout and (run / "checkpoint-1").is_dir()
    res = run_cli("--catalog", db, "gc", str(run), "--keep-best", "2", "--keep-last", "1", "--include-unpushed",
                  "--strip-optimizer", "--yes", "--json")
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    # eval_loss falls every step: the best 2 are checkpoints 3 and 4, the last is 4
    assert _actions(doc) == {"checkpoint-1": "delete", "checkpoint-2": "delete", "checkpoint-3": "strip",
                             "checkpoint-4": "strip"}
    for n in (3, 4):
        left = {p.name for p in (run / f"checkpoint-{n}").iterdir()}
        assert not left & {"optimizer.pt", "scheduler.pt", "rng_state.pth"}
        assert {"model.safetensors", "config.json", "trainer_state.json"} <= left
    info = Catalog(tmp_path / "c.db").get_checkpoint_dict(str(run / "checkpoint-3"))
    assert info is not None and "optimizer.pt" not in {f["path"] for f in info["files"]}


def test_without_yes_off_a_terminal_refuses(run_cli, run: Path, tmp_path: Path) -> None:
    res = run_cli("--catalog", str(tmp_path / "c.db"), "gc", str(run), "--include-unpushed")
    assert res.exit_code == 2 and "without confirmation" in res.stderr and "--yes" in res.stderr
    assert "delete" in res.stdout  # the plan was shown
    assert all((run / f"checkpoint-{n}").is_dir() for n in range(1, 5))
    assert run_cli("gc", str(tmp_path)).exit_code == 0  # no checkpoints: a warning, not a failure


def test_terminal_confirmation(run: Path, tmp_path: Path) -> None:
    """At a terminal gc shows the plan and asks; 'n' changes nothing, 'y' prunes."""
    import os
    import pty
    import subprocess
    import sys
    import time

    hubmgr = Path(sys.executable).with_name("hubmgr")
    args = [str(hubmgr), "--catalog", str(tmp_path / "c.db"), "gc", str(run), "--include-unpushed"]

    def answer(reply: bytes) -> str:
        master, slave = pty.openpty()
        proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 120
        while b"[y/N]" not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        os.write(master, reply)
        try:
            while True:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                seen += chunk
        except OSError:
            pass
        proc.wait(timeout=60)
        os.close(master)
        return seen.decode(errors="replace")

    shown = answer(b"n\n")
    assert "delete" in shown and "Delete 3 and strip 0 checkpoint(s)" in shown  # best = last = 4
    assert all((run / f"checkpoint-{n}").is_dir() for n in range(1, 5))
    done = answer(b"y\n")
    assert "pruned: delete 3" in done
    assert not (run / "checkpoint-1").exists() and (run / "checkpoint-4").is_dir()
