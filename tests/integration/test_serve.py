"""``hubmgr serve``: the real server (uvicorn on 127.0.0.1) on a tiny GPT-2 release pulled from local:,
spoken to with the official ``openai`` client and plain HTTP."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hubmgr.serve.generation import GenParams, generate
from hubmgr.serve.server import http_stack, start_in_thread
from serve_helpers import http, publish, pull

HUBMGR = str(Path(sys.executable).with_name("hubmgr"))


@pytest.fixture
def release(run_cli, tiny_gpt2_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    sha = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1", tag="v1")
    dest = tmp_path / "srv"
    assert pull(run_cli, "local:demo@v1", dest) == sha
    return dest, sha


@pytest.fixture
def server(release):
    dest, sha = release
    running = start_in_thread(dest)
    yield running, dest, sha
    running.stop()


def test_openai_client_completions_plain_and_streaming(server) -> None:
    from openai import OpenAI

    running, dest, sha = server
    client = OpenAI(base_url=f"{running.url}/v1", api_key="x", max_retries=0)
    models = client.models.list()
    assert [m.id for m in models.data] == [f"local:demo@{sha[:12]}"]

    raw = client.completions.with_raw_response.create(model="local:demo", prompt="1 + 2 =", max_tokens=5,
                                                      temperature=0)
    assert raw.headers["x-hubmgr-release"] == sha
    done = raw.parse()
    assert done.model == f"local:demo@{sha[:12]}" and done.object == "text_completion"
    assert len(done.choices) == 1 and done.choices[0].finish_reason in ("length", "stop")
    assert done.usage.prompt_tokens == 8  # <s> + 7 characters
    assert 0 < done.usage.completion_tokens <= 5

    # greedy is deterministic: the stream must spell the same text, then [DONE] ends it
    stream = client.completions.create(model=models.data[0].id, prompt="1 + 2 =", max_tokens=5, temperature=0,
                                       stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks) == done.choices[0].text
    assert chunks[-1].choices[0].finish_reason == done.choices[0].finish_reason
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])

    # the server encodes the prompt once (context check) and generates from those ids: same text as
    # generating from the prompt text on the same loaded model
    from_text = generate(running.pool.live, ["1 + 2 ="], GenParams(max_tokens=5, temperature=0.0))[0]
    assert (done.choices[0].text, done.usage.completion_tokens) == (from_text.text, from_text.tokens)

    several = client.completions.create(model="local:demo", prompt=["1 + 1 =", "2 + 2 ="], n=2, max_tokens=3,
                                        temperature=1.0, top_p=0.9, seed=7)
    assert sorted(c.index for c in several.choices) == [0, 1, 2, 3]


def test_raw_sse_format_and_stop_strings(server) -> None:
    running, dest, sha = server
    req = urllib.request.Request(f"{running.url}/v1/completions", method="POST",
                                 data=json.dumps({"prompt": "3 + 4 =", "max_tokens": 6, "temperature": 0,
                                                  "stream": True}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["x-hubmgr-release"] == sha
        events = [line for line in resp.read().decode().split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    docs = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all(d["object"] == "text_completion" and d["id"] == docs[0]["id"] for d in docs)
    full = "".join(d["choices"][0]["text"] for d in docs)

    # a stop string taken from the greedy output cuts the text there, in both modes
    if len(full) >= 2:
        stop = full[1]
        status, _, plain = http(f"{running.url}/v1/completions", {"prompt": "3 + 4 =", "max_tokens": 6,
                                                                  "temperature": 0, "stop": [stop]})
        assert status == 200
        assert plain["choices"][0]["text"] == full[:full.index(stop)]
        assert plain["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("body, param", [
    ({"prompt": 5}, "prompt"),
    ({"max_tokens": 3}, "prompt"),
    ({"prompt": "1", "max_tokens": -1}, "max_tokens"),
    ({"prompt": "1", "temperature": 9}, "temperature"),
    ({"prompt": "1", "top_p": 0}, "top_p"),
    ({"prompt": "1", "n": 0}, "n"),
    ({"prompt": "1", "stop": [1, 2]}, "stop"),
    ({"prompt": "1", "logprobs": 3}, "logprobs"),
    ({"prompt": "1" * 60, "max_tokens": 10}, "prompt"),  # 61 + 10 tokens > 64 positions
])
def test_bad_requests_get_openai_style_400(server, body: dict, param: str) -> None:
    running, _, sha = server
    status, headers, doc = http(f"{running.url}/v1/completions", body)
    assert status == 400, doc
    assert doc["error"]["param"] == param and doc["error"]["message"] and "Traceback" not in json.dumps(doc)
    assert headers["x-hubmgr-release"] == sha


def test_prompt_errors_say_missing_or_wrong_type(server) -> None:
    running, _, _ = server
    _, _, missing = http(f"{running.url}/v1/completions", {"max_tokens": 3})
    _, _, wrong = http(f"{running.url}/v1/completions", {"prompt": [1, 2]})
    assert "'prompt' is required" in missing["error"]["message"]
    assert "'prompt' must be a string" in wrong["error"]["message"]


def test_context_error_unknown_model_bad_json_and_404(server) -> None:
    from openai import BadRequestError, NotFoundError, OpenAI

    running, _, _ = server
    client = OpenAI(base_url=f"{running.url}/v1", api_key="x", max_retries=0)
    with pytest.raises(BadRequestError) as err:
        client.completions.create(model="local:demo", prompt="1 + 1 = " * 9, max_tokens=16)
    assert err.value.code == "context_length_exceeded" and "maximum context length is 64" in str(err.value)
    with pytest.raises(NotFoundError) as missing:
        client.completions.create(model="someone/else", prompt="1", max_tokens=1)
    assert missing.value.code == "model_not_found"
    req = urllib.request.Request(f"{running.url}/v1/completions", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(req, timeout=30)
    assert bad.value.code == 400 and "not valid JSON" in json.loads(bad.value.read())["error"]["message"]
    status, _, doc = http(f"{running.url}/v1/nothing")
    assert status == 404 and "error" in doc


def test_c_http_stack_when_installed_and_the_pure_python_fallback(release) -> None:
    """httptools + uvloop (the serve extra) are used when importable; h11 + asyncio answer the same."""
    from openai import OpenAI

    dest, sha = release
    pytest.importorskip("httptools")
    pytest.importorskip("uvloop")
    assert http_stack() == ("httptools", "uvloop")
    fast = start_in_thread(dest)
    pure = start_in_thread(dest, stack=("h11", "asyncio"))
    try:
        assert (fast.server.config.http, fast.server.config.loop) == ("httptools", "uvloop")
        assert (pure.server.config.http, pure.server.config.loop) == ("h11", "asyncio")
        answers = []
        for running in (fast, pure):
            client = OpenAI(base_url=f"{running.url}/v1", api_key="x", max_retries=0)
            raw = client.completions.with_raw_response.create(model="local:demo", prompt="2 + 2 =", max_tokens=4,
                                                              temperature=0)
            assert raw.headers["x-hubmgr-release"] == sha
            streamed = client.completions.create(model="local:demo", prompt="2 + 2 =", max_tokens=4, temperature=0,
                                                 stream=True)
            answers.append((raw.parse().choices[0].text, "".join(c.choices[0].text for c in streamed)))
        assert answers[0] == answers[1] and answers[0][0] == answers[0][1]
    finally:
        fast.stop()
        pure.stop()


def test_health_ready_and_queue_bound(release) -> None:
    import concurrent.futures

    dest, sha = release
    running = start_in_thread(dest, max_queue=0)
    try:
        assert http(f"{running.url}/health")[2]["release"] == sha
        status, headers, ready = http(f"{running.url}/ready")
        assert status == 200 and ready["release"] == sha and headers["x-hubmgr-release"] == sha
        # max_queue 0: one request runs, the rest are refused with 429 rather than piling up
        body = {"prompt": "1 + 1 =", "max_tokens": 40, "temperature": 0}
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            codes = [f.result()[0] for f in [ex.submit(http, f"{running.url}/v1/completions", body)
                                             for _ in range(6)]]
        assert 200 in codes and 429 in codes and set(codes) <= {200, 429}
        status, _, doc = http(f"{running.url}/v1/completions", body)
        assert status == 200 and running.pool.live.refs == 0
    finally:
        running.stop()


def test_ready_is_503_until_a_release_loads(tmp_path: Path, release) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    running = start_in_thread(empty, ready_timeout=None, poll=0.05)
    try:
        status, headers, doc = http(f"{running.url}/ready")
        assert status == 503 and doc["ready"] is False and headers["x-hubmgr-release"] == "none"
        status, _, doc = http(f"{running.url}/v1/completions", {"prompt": "1"})
        assert status == 503 and doc["error"]["message"]
        # a release appears (first pull into this dest): the server picks it up
        dest, sha = release
        shutil.copytree(dest / "releases", empty / "releases", symlinks=True)
        (empty / "current").symlink_to(f"releases/{sha}")
        assert running.pool.wait_ready(60)
        assert http(f"{running.url}/ready")[2]["release"] == sha
    finally:
        running.stop()


def test_cli_serve_prints_url_logs_requests_and_stops_on_sigterm(release) -> None:
    dest, sha = release
    proc = subprocess.Popen([HUBMGR, "serve", "--dest", str(dest), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("hubmgr serve: http://127.0.0.1:"), first
        base = first.split()[2].removesuffix("/v1")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if http(f"{base}/ready")[0] == 200:
                    break
            except urllib.error.URLError:
                pass
            time.sleep(0.2)
        status, headers, doc = http(f"{base}/v1/completions", {"prompt": "1 + 1 =", "max_tokens": 2})
        assert status == 200 and headers["x-hubmgr-release"] == sha
        for _ in range(50):  # written just after the swap
            state = json.loads((dest / ".hubmgr-serve.json").read_text())
            if state["serving"]:
                break
            time.sleep(0.1)
        assert state["running"] is True and state["serving"] == sha and state["url"] == base
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "uvicorn with {} and {}".format(*http_stack()) in err  # httptools and uvloop with the serve extra
    assert "POST /v1/completions 200" in err and f"release={sha[:12]}" in err
    assert json.loads((dest / ".hubmgr-serve.json").read_text())["running"] is False
