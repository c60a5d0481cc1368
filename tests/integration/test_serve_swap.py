"""Hot swap of ``hubmgr serve``: pulls, rollbacks and a broken release while clients keep asking."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from hubmgr.serve.server import start_in_thread

from serve_helpers import broken_release, http, publish, pull


def wait_serving(url: str, sha: str, timeout: float = 30.0) -> float:
    """Seconds until ``/ready`` reports ``sha``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if http(f"{url}/ready")[2].get("release") == sha:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"server did not switch to {sha[:12]} within {timeout}s")


def test_swap_on_pull_broken_release_is_not_switched_to_and_status_says_why(run_cli, tiny_gpt2_dir: Path,
                                                                             tmp_path: Path) -> None:
    dest = tmp_path / "srv"
    v1 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1", tag="v1")
    pull(run_cli, "local:demo@v1", dest)
    running = start_in_thread(dest, poll=0.1)
    try:
        v2 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v2", tag="v2")
        pull(run_cli, "local:demo@v2", dest)
        wait_serving(running.url, v2)
        status, headers, doc = http(f"{running.url}/v1/completions", {"prompt": "1 +", "max_tokens": 2})
        assert status == 200 and headers["x-hubmgr-release"] == v2 and doc["model"] == f"local:demo@{v2[:12]}"
        assert running.pool.resident == (v2,)  # v1 was freed once idle

        bad = broken_release(run_cli, tiny_gpt2_dir, tmp_path, "bad")
        pull(run_cli, "local:demo@bad", dest)  # files verify fine: only loading can tell
        deadline = time.monotonic() + 30
        while running.pool._last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        status, _, ready = http(f"{running.url}/ready")
        assert status == 200 and ready["release"] == v2  # still serving the good one
        assert http(f"{running.url}/v1/completions", {"prompt": "1"})[1]["x-hubmgr-release"] == v2

        shown = run_cli("status", "--dest", str(dest), "--offline")
        assert shown.exit_code == 0, shown.stderr
        assert f"serving {v2}" in shown.stdout and "(current not loaded yet)" in shown.stdout
        assert f"release {bad[:12]} failed to load" in shown.stdout and "does not load" in shown.stdout
        as_json = run_cli("status", "--dest", str(dest), "--offline", "--json").json()
        assert as_json["server"]["failed_sha"] == bad and as_json["server"]["serving_sha"] == v2

        # rolling back to v1 is a real switch; the broken one was never live in the server
        assert run_cli("rollback", "--dest", str(dest), "--to", v1[:10]).exit_code == 0
        wait_serving(running.url, v1)
        assert run_cli("status", "--dest", str(dest), "--offline", "--json").json()["server"]["serving_sha"] == v1
    finally:
        running.stop()


@pytest.mark.slow
def test_load_while_releases_switch(run_cli, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    """4 clients non-stop while current switches 6 times (tags, rollbacks, a broken release):
    0 failures, every X-Hubmgr-Release was live when it was answered, switches seen within seconds."""
    from openai import OpenAI

    dest = tmp_path / "srv"
    shas = {f"v{i}": publish(run_cli, tiny_gpt2_dir, tmp_path, readme=f"v{i}", tag=f"v{i}") for i in (1, 2, 3, 4)}
    bad = broken_release(run_cli, tiny_gpt2_dir, tmp_path, "bad")
    pull(run_cli, "local:demo@v1", dest)
    running = start_in_thread(dest, poll=0.1)
    url = running.url
    stop = threading.Event()
    results: list[tuple[float, float, str | None, str | None]] = []  # (sent, answered, release, error)
    max_resident = [0]

    def client(k: int) -> None:
        api = OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=60)
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                if k % 2:
                    raw = api.completions.with_raw_response.create(model="local:demo", prompt="1 + 2 =",
                                                                   max_tokens=4, temperature=0)
                    raw.parse()
                else:
                    with api.completions.with_streaming_response.create(model="local:demo", prompt="3 + 1 =",
                                                                        max_tokens=4, stream=True) as raw:
                        assert raw.read().decode().rstrip().endswith("data: [DONE]")
                results.append((t0, time.monotonic(), raw.headers["x-hubmgr-release"], None))
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                results.append((t0, time.monotonic(), None, repr(exc)))

    def watch_resident() -> None:
        while not stop.is_set():
            max_resident[0] = max(max_resident[0], len(running.pool.resident))
            time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)] + [threading.Thread(target=watch_resident)]
    for t in threads:
        t.start()
    # allowed[sha] = [(from, to)]: from when the command making it current started, to when the next
    # release was seen serving (in-flight requests may still end on it until then)
    allowed: dict[str, list[list[float]]] = {shas["v1"]: [[0.0, float("inf")]]}
    serving = shas["v1"]
    switch_seconds = []
    steps = [("pull", "v2", "v2"), ("pull", "v3", "v3"), ("pull", "bad", None), ("rollback", shas["v1"], "v1"),
             ("pull", "v4", "v4"), ("rollback", None, "v1")]
    try:
        time.sleep(1.0)
        for what, arg, expect in steps:
            t_cmd = time.monotonic()
            if expect is not None:
                allowed.setdefault(shas[expect], []).append([t_cmd, float("inf")])
            if what == "pull":
                pull(run_cli, f"local:demo@{arg}", dest, "--keep", "10")
            else:
                assert run_cli("rollback", "--dest", str(dest), *(["--to", arg] if arg else [])).exit_code == 0
            if expect is None:  # the broken release: wait until the server has tried and refused it
                deadline = time.monotonic() + 30
                while running.pool._failed.get(bad) is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert bad in running.pool._failed and running.pool.live.sha == serving
            else:
                switch_seconds.append(wait_serving(url, shas[expect]))
                allowed[serving][-1][1] = time.monotonic()
                serving = shas[expect]
            time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
        running.stop()

    errors = [r for r in results if r[3] is not None]
    assert not errors, errors[:5]
    assert len(results) >= 40, len(results)
    seen = {r[2] for r in results}
    assert bad not in seen and {shas["v2"], shas["v3"], shas["v4"], shas["v1"]} <= seen
    for sent, answered, release, _ in results:
        assert any(lo <= answered and sent <= hi for lo, hi in allowed[release]), (release, sent, answered)
    assert max(switch_seconds) < 15, switch_seconds  # "within a few seconds" on a loaded 2-core box
    assert max_resident[0] <= 2
    print(f"load test: {len(results)} requests, 0 failed, switch seen after {[round(s, 2) for s in switch_seconds]} s")
