"""A flaky Hub (intermittent HTTP 500s and dropped connections): idempotent reads are retried,
bounded and logged; push and pull still finish and deploy exactly what was pushed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hubmgr import deploy
from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

pytest.importorskip("huggingface_hub")

READS = r"(/(revision|tree|refs|resolve)/|^/api/models/[^/]+/[^/]+$)"  # idempotent reads; commits are not retried
INFO = r"^/api/models/alice/flaky(/revision/.*)?$"  # repo_info: what resolve_revision asks


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "gpt2"}')
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# flaky\n")
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"w" * 300_000)
    return folder


@pytest.fixture
def pushed(hub_server, model_dir: Path, monkeypatch: pytest.MonkeyPatch, run_cli) -> str:
    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    r = run_cli("push", str(model_dir), "alice/flaky", "--json")
    assert r.exit_code == 0, r.stderr
    return r.json()["commit_sha"]


@pytest.mark.parametrize("fault", ["status", "reset"])
def test_one_failed_metadata_call_is_retried_and_logged(hub_server, pushed: str, tmp_path: Path, run_cli,
                                                        caplog: pytest.LogCaptureFixture, fault: str) -> None:
    if fault == "status":
        hub_server.faults.fail(INFO, status=503)
    else:
        hub_server.faults.reset(INFO)
    with caplog.at_level(logging.WARNING, logger="hubmgr.hf"):
        r = run_cli("pull", "alice/flaky", "--dest", str(tmp_path / "d"), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["commit_sha"] == pushed
    assert any("resolve the revision" in m and "retrying in" in m for m in caplog.messages)


def test_a_hub_that_keeps_failing_gives_up_after_bounded_attempts(hub_server, pushed: str, tmp_path: Path,
                                                                  run_cli) -> None:
    from hubmgr.hf.remote import METADATA_ATTEMPTS

    hub_server.faults.fail(INFO, status=500, times=None)
    before = hub_server.count("GET", INFO)
    r = run_cli("pull", "alice/flaky", "--dest", str(tmp_path / "d"))
    assert r.exit_code == 3 and "HTTP 500" in r.stderr and "Traceback" not in r.stderr
    assert hub_server.count("GET", INFO) - before == METADATA_ATTEMPTS
    assert not (tmp_path / "d" / "current").exists()


@pytest.mark.parametrize("seed", [1, 2])
def test_push_and_pull_succeed_through_a_flaky_hub(hub_server, model_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path, run_cli, seed: int) -> None:
    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    hub_server.faults.flaky(READS, rate=0.3, seed=seed)
    r = run_cli("push", str(model_dir), f"alice/flaky-{seed}", "--json")
    assert r.exit_code == 0, r.stderr
    sha = r.json()["commit_sha"]
    (model_dir / "config.json").write_text('{"model_type": "gpt2", "v": 2}')
    r = run_cli("push", str(model_dir), f"alice/flaky-{seed}", "--json")
    assert r.exit_code == 0, r.stderr
    sha2 = r.json()["commit_sha"]
    dest = tmp_path / f"d{seed}"
    for rev in (sha, sha2):
        r = run_cli("pull", f"alice/flaky-{seed}@{rev}", "--dest", str(dest), "--json")
        assert r.exit_code == 0, r.stderr
    failures = [rec for rec in hub_server.requests if rec.status in (0, 500)]
    assert failures, "the flaky mode injected nothing: the test proves nothing"
    assert deploy.live_sha(dest) == sha2 and not deploy.release_problems(dest / "releases" / sha2, verify=True)
    assert (dest / "current" / "config.json").read_bytes() == (model_dir / "config.json").read_bytes()
    assert (dest / "releases" / sha / "model.safetensors").read_bytes() == (model_dir / "model.safetensors").read_bytes()
