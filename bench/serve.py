"""Benchmark ``hubmgr serve`` (issue 12): HTTP overhead, throughput, latency during hot swaps.

Run by hand (not part of pytest)::

    .venv/bin/python bench/serve.py                 # ~1-2 minutes
    .venv/bin/python bench/serve.py --requests 400 --seconds 20

A tiny 2-layer GPT-2 (d=64) is pushed to a local: registry in a temp HUBMGR_HOME and pulled
into a deploy dir. Then:

1. in-process baseline: the ``model.generate`` call the server makes (same inputs, same keyword
   arguments from ``generation.generate_kwargs``; greedy, 8 new tokens) on the model the server
   loads, one thread of torch (``--threads``) on both sides, N sequential calls -> p50/p99;
2. the server (``hubmgr serve --threads T`` in its own process) answering POST /v1/completions
   with the same prompt and max_tokens 8 over a keep-alive connection, N sequential -> p50/p99;
3. throughput with 4 concurrent clients for ``--seconds``;
4. 4 clients again while ``current`` switches ``--swaps`` times between releases pulled
   beforehand (so git and the pull process do not compete for the CPU): p99 of requests that
   overlapped a swap (switch -> new sha answered + 0.5 s) vs the steady run and the rest.

Before measuring, one completion is checked to be the baseline's tokens (same work on both sides).
Also printed: CPU per request of the in-process call and of the whole server process (less
sensitive to a loaded machine than latency), and each goal with OK / NOT MET.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PY = sys.executable
HUBMGR = str(Path(PY).parent / "hubmgr")
PROMPT = "1 + 2 ="
BODY = json.dumps({"model": "local:bench", "prompt": PROMPT, "max_tokens": 8, "temperature": 0}).encode()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def cli(*args: str) -> dict:
    out = subprocess.run([HUBMGR, *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def publish(src: Path, version: str) -> str:
    (src / "README.md").write_text(f"---\nlicense: mit\n---\n# bench {version}\n")
    return cli("push", str(src), "local:bench", "--tag", version)["commit_sha"]


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.conn.connect()
        # http.client sends a bytes body with the headers in one write; no Nagle wait on small writes anyway
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def complete(self) -> tuple[float, str, int]:
        t0 = time.perf_counter()
        self.conn.request("POST", "/v1/completions", BODY, {"content-type": "application/json"})
        resp = self.conn.getresponse()
        resp.read()
        return time.perf_counter() - t0, resp.getheader("x-hubmgr-release") or "", resp.status


def load_clients(host: str, port: int, seconds: float, during=None) -> list[tuple[float, float, str, int]]:
    """4 clients for ``seconds`` (or until ``during()`` returns); (start, latency, release, status) per request."""
    stop = threading.Event()
    rows: list[tuple[float, float, str, int]] = []

    def run() -> None:
        c = Client(host, port)
        while not stop.is_set():
            start = time.perf_counter()
            lat, rel, status = c.complete()
            rows.append((start, lat, rel, status))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    if during is not None:
        during()
    else:
        time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--swaps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads, in-process and in the server")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hubmgr-bench-serve-"))
    os.environ["HUBMGR_HOME"] = str(work / "home")
    import torch

    from hubmgr import deploy
    from hubmgr.serve.generation import GenParams, encode, generate_kwargs, load_release, prompt_inputs
    from hubmgr.testing.tiny_models import make_tiny_gpt2, save_hf_dir

    torch.set_num_threads(args.threads)
    src = save_hf_dir(*make_tiny_gpt2(seed=0), work / "model")
    dest = work / "srv"
    v0 = publish(src, "v0")
    cli("pull", "local:bench@v0", "--dest", str(dest), "--keep", "2")

    shas = [publish(src, f"v{i}") for i in range(1, args.swaps + 1)]
    for i in range(1, args.swaps + 1):  # pulled before measuring: the swaps below measure the server, not git
        cli("pull", f"local:bench@v{i}", "--dest", str(dest), "--keep", str(args.swaps + 2))
    deploy.rollback(dest, to=v0)
    lm = load_release(dest / "current")
    enc = prompt_inputs(encode(lm, PROMPT))
    kw = generate_kwargs(lm, GenParams(max_tokens=8, temperature=0.0))  # what the server passes for BODY

    def in_process() -> float:
        t0 = time.perf_counter()
        with torch.inference_mode():
            lm.model.generate(**enc, **kw)
        return time.perf_counter() - t0

    # 2-4. the server in its own process
    proc = subprocess.Popen([HUBMGR, "serve", "--dest", str(dest), "--port", "0", "--threads", str(args.threads)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().split()[2].removesuffix("/v1")
        host, port = url.removeprefix("http://").split(":")
        port = int(port)
        while True:
            try:
                c = Client(host, port)
                if c.complete()[2] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        # same work on both sides: the server's completion is the baseline's, token for token
        c.conn.request("POST", "/v1/completions", BODY, {"content-type": "application/json"})
        doc = json.loads(c.conn.getresponse().read())
        with torch.inference_mode():
            ids = lm.model.generate(**enc, **kw)[0, enc["input_ids"].shape[1]:].tolist()
        eos = lm.tokenizer.eos_token_id
        ids = ids[:ids.index(eos)] if eos in ids else ids  # the server ends a completion at eos
        if (doc["choices"][0]["text"] != lm.tokenizer.decode(ids, skip_special_tokens=True)
                or doc["usage"]["completion_tokens"] != len(ids)):
            sys.exit(f"the server's completion differs from the in-process one: {doc} vs {ids}")
        base, served, health = [], [], []
        for _ in range(10):
            c.complete()
            in_process()
        cpu_base = cpu_served = 0.0
        for _ in range(args.requests):  # interleaved: all three see the same machine load
            t0 = time.process_time()
            base.append(in_process())
            s0 = time.process_time()
            cpu_base += s0 - t0
            s0 = proc_cpu(proc.pid)
            served.append(c.complete()[0])
            cpu_served += proc_cpu(proc.pid) - s0
            t0 = time.perf_counter()
            c.conn.request("GET", "/health")
            c.conn.getresponse().read()
            health.append(time.perf_counter() - t0)
        del lm
        steady = load_clients(host, port, args.seconds)

        windows: list[tuple[float, float]] = []

        def swaps() -> None:
            time.sleep(1.0)
            for sha in shas:
                t0 = time.perf_counter()
                deploy.rollback(dest, to=sha)  # what `hubmgr pull` / `rollback` do last: switch current
                probe = Client(host, port)
                while probe.complete()[1] != sha:
                    time.sleep(0.02)
                windows.append((t0, time.perf_counter() + 0.5))
                time.sleep(1.5)

        swapping = load_clients(host, port, 0, during=swaps)
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    in_swap = [lat for start, lat, _, _ in swapping if any(a <= start + lat and start <= b for a, b in windows)]
    outside = [lat for start, lat, _, _ in swapping if not any(a <= start + lat and start <= b for a, b in windows)]
    failed = sum(1 for *_, status in steady + swapping if status != 200)
    ms = lambda v: f"{v * 1000:7.2f}"  # noqa: E731
    load = os.getloadavg()[0]
    print(f"\nhubmgr serve bench (load average {load:.1f}): tiny GPT-2 (2 layers, d=64), prompt {PROMPT!r}, max_tokens 8, greedy, "
          f"torch threads {args.threads}, {os.cpu_count()} CPUs (shared: numbers are noisy)\n")
    print("| measure                                   |  p50 ms |  p99 ms |      n |")
    print("|-------------------------------------------|---------|---------|--------|")
    print(f"| model.generate in-process                 | {ms(pct(base, 50))} | {ms(pct(base, 99))} | {len(base):6d} |")
    print(f"| POST /v1/completions, 1 client            | {ms(pct(served, 50))} | {ms(pct(served, 99))} | "
          f"{len(served):6d} |")
    print(f"| GET /health (HTTP round trip, no model)   | {ms(pct(health, 50))} | {ms(pct(health, 99))} | "
          f"{len(health):6d} |")
    print(f"| 4 clients, steady                         | {ms(pct([r[1] for r in steady], 50))} | "
          f"{ms(pct([r[1] for r in steady], 99))} | {len(steady):6d} |")
    print(f"| 4 clients, outside swap windows           | {ms(pct(outside, 50))} | {ms(pct(outside, 99))} | "
          f"{len(outside):6d} |")
    print(f"| 4 clients, during {args.swaps} swaps                   | {ms(pct(in_swap, 50))} | "
          f"{ms(pct(in_swap, 99))} | {len(in_swap):6d} |")
    overhead = pct(served, 50) / pct(base, 50) - 1
    steady_p99 = pct([r[1] for r in steady], 99)
    swap_ratio = pct(in_swap, 99) / steady_p99
    ok = lambda good: "OK" if good else "NOT MET"  # noqa: E731
    print(f"\nCPU per request: in-process generate {cpu_base / args.requests * 1000:.2f} ms, whole server process "
          f"{cpu_served / args.requests * 1000:.2f} ms (clock ticks: coarse; less sensitive to load than latency)")
    print(f"throughput, 4 clients: {len(steady) / args.seconds:.1f} req/s")
    print(f"failed requests: {failed}; releases seen during swaps: {len({r[2] for r in swapping})}")
    print(f"p99 during swap / outside swaps in the same run: {pct(in_swap, 99) / pct(outside, 99):.2f}x")
    print(f"\np50 HTTP overhead vs in-process: {overhead * 100:+.1f}% (goal <= +15%) {ok(overhead <= 0.15)}")
    print(f"p99 during swap / steady: {swap_ratio:.2f}x (goal <= 2x) {ok(swap_ratio <= 2)}")


if __name__ == "__main__":
    main()
