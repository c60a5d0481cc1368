"""``hubmgr pull --follow``: a moved tag is picked up (local: and the Hub test server), a release failing
the smoke test never goes live, a server that never reports ready triggers an automatic rollback."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from hubmgr import deploy
from hubmgr.progress import CancelToken
from hubmgr.serve.follow import MAX_BACKOFF, FollowOptions, follow, next_wait
from hubmgr.serve.server import start_in_thread
from serve_helpers import broken_release, publish


def follow_once(run_cli, spec: str, dest: Path, *extra: str):
    return run_cli("pull", spec, "--dest", str(dest), "--follow", "--once", *extra)


def kinds(run) -> list[str]:
    return [line.split()[1] for line in run.stdout.splitlines() if line.strip()]


def test_follow_local_tag_smoke_tests_then_switches(run_cli, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "srv"
    v1 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1", tag="prod")
    first = follow_once(run_cli, "local:demo@prod", dest, "--smoke-test", "1 + 1 =")
    assert first.exit_code == 0, first.stdout + first.stderr
    assert kinds(first) == ["pulled", "smoke-passed", "live"] and "'1 + 1 =' ->" in first.stdout
    assert deploy.live_sha(dest) == v1

    v2 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v2", tag="prod")  # the tag moves
    second = follow_once(run_cli, "local:demo@prod", dest, "--no-smoke-test", "--json")
    assert second.exit_code == 0, second.stderr
    events = [json.loads(line) for line in second.stdout.splitlines()]
    assert [e["kind"] for e in events] == ["pulled", "live"] and events[-1]["sha"] == v2
    assert deploy.live_sha(dest) == v2
    assert deploy.read_lock(deploy.release_dir(dest, v2)).revision == "prod"  # the lock names the ref followed

    again = follow_once(run_cli, "local:demo@prod", dest)
    assert again.exit_code == 0 and kinds(again) == ["up-to-date"]


def test_follow_hub_tag(run_cli, hub_server, tiny_gpt2_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import HfApi

    from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    dest = tmp_path / "srv"
    v1 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1", tag="prod", target="alice/adder")
    assert follow_once(run_cli, "alice/adder@prod", dest, "--no-smoke-test").exit_code == 0
    assert deploy.live_sha(dest) == v1
    v2 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v2", target="alice/adder")
    # hubmgr never moves a Hub tag; a publisher does it with the hf client
    api = HfApi(endpoint=hub_server.url, token=ALICE_WRITE_TOKEN)
    api.delete_tag("alice/adder", tag="prod")
    api.create_tag("alice/adder", tag="prod", revision=v2)
    run = follow_once(run_cli, "alice/adder@prod", dest, "--no-smoke-test")
    assert run.exit_code == 0 and kinds(run) == ["pulled", "live"], run.stdout + run.stderr
    assert deploy.live_sha(dest) == v2 != v1


def test_release_failing_the_smoke_test_is_never_live(run_cli, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "srv"
    v1 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1", tag="prod")
    assert follow_once(run_cli, "local:demo@prod", dest, "--no-smoke-test").exit_code == 0
    bad = broken_release(run_cli, tiny_gpt2_dir, tmp_path, "prod")
    run = follow_once(run_cli, "local:demo@prod", dest)
    assert run.exit_code == 1 and kinds(run) == ["pulled", "smoke-failed"], run.stdout
    assert "does not load" in run.stdout and "not made live" in run.stdout
    assert deploy.live_sha(dest) == v1
    assert not deploy.release_dir(dest, bad).exists()  # so `hubmgr rollback` can never pick it
    shown = run_cli("status", "--dest", str(dest), "--offline", "--json").json()
    assert shown["server"]["follow_error"].startswith(bad[:12]) and "smoke test failed" in shown["server"]["follow_error"]
    # the next check remembers it: no download, no smoke test, still not live
    skip = follow_once(run_cli, "local:demo@prod", dest)
    assert skip.exit_code == 1 and kinds(skip) == ["skipped"] and deploy.live_sha(dest) == v1


def test_health_url_ready_and_rollback_when_never_ready(run_cli, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    dest, elsewhere = tmp_path / "srv", tmp_path / "other"
    v1 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1", tag="prod")
    assert follow_once(run_cli, "local:demo@prod", dest, "--no-smoke-test").exit_code == 0
    assert follow_once(run_cli, "local:demo@prod", elsewhere, "--no-smoke-test").exit_code == 0
    serving = start_in_thread(dest, poll=0.1)
    stuck = start_in_thread(elsewhere, poll=0.1)  # a real server that will never load what dest gets
    try:
        v2 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v2", tag="prod")
        ok = follow_once(run_cli, "local:demo@prod", dest, "--no-smoke-test", "--health-url", serving.url)
        assert ok.exit_code == 0 and kinds(ok) == ["pulled", "live", "ready"], ok.stdout + ok.stderr
        assert serving.pool.live.sha == v2

        v3 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v3", tag="prod")
        # --keep 1: the rollback target must still be there when the health check fails
        run = follow_once(run_cli, "local:demo@prod", dest, "--no-smoke-test", "--health-url",
                          f"{stuck.url}/ready", "--ready-timeout", "2", "--keep", "1")
        assert run.exit_code == 1 and kinds(run) == ["pulled", "live", "rolled-back"], run.stdout
        assert f"did not report {v3[:12]}" in run.stdout and f"last: {v1}" in run.stdout
        assert deploy.live_sha(dest) == v2 and not deploy.release_dir(dest, v3).exists()
        status = run_cli("status", "--dest", str(dest), "--offline")
        assert f"follow: {v3[:12]}" in status.stdout and "rolled back to" in status.stdout
    finally:
        serving.stop()
        stuck.stop()


def test_follow_loop_picks_up_a_move_until_cancelled(run_cli, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "srv"
    publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1", tag="prod")
    events = []
    cancel = CancelToken()
    opts = FollowOptions(interval=0.2, smoke_test=None)
    worker = threading.Thread(target=lambda: pytest.raises(Exception, follow, "local:demo@prod", dest=dest,
                                                           options=opts, on_event=events.append, cancel=cancel))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while deploy.live_sha(dest) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        v2 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v2", tag="prod")
        while deploy.live_sha(dest) != v2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert deploy.live_sha(dest) == v2
    finally:
        cancel.cancel()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert [e.kind for e in events].count("live") == 2
    assert [e.kind for e in events].count("up-to-date") <= 2  # said once per sha, not every 0.2 s


def test_failures_back_off_with_jitter_and_are_one_line_each(tmp_path: Path) -> None:
    rng = random.Random(1)
    waits = [next_wait(60, k, 0.1, rng) for k in range(20)]
    assert 54 <= waits[0] <= 66 and 108 <= waits[1] <= 132 and 216 <= waits[2] <= 264  # doubles per failure
    assert max(waits) <= MAX_BACKOFF * 1.1 and waits[-1] >= MAX_BACKOFF * 0.9  # capped
    assert len({round(w, 6) for w in (next_wait(60, 0, 0.1, rng) for _ in range(20))}) == 20  # hosts spread out

    # a remote that does not exist: each round is one "error" event, and the loop keeps going with backoff
    events, slept = [], []
    cancel = CancelToken()

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    def on_event(event) -> None:  # noqa: ANN001
        events.append(event)
        if len(events) == 3:
            cancel.cancel()

    with pytest.raises(Exception) as stopped:
        follow("local:missing@prod", dest=tmp_path / "srv", options=FollowOptions(interval=0.05, smoke_test=None),
               on_event=on_event, cancel=cancel, sleep=fake_sleep)
    assert type(stopped.value).__name__ == "CancelledError"
    assert [e.kind for e in events] == ["error"] * 3 and all("missing" in e.message for e in events)
    assert deploy.live_sha(tmp_path / "srv") is None
    assert 0.25 < sum(slept) < 2  # 0.1 + 0.2 (+-10%): the second wait doubled
