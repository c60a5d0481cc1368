"""Benchmark ``hubmgr convert`` against ``cp`` and the reference torch.load + save_file (issue 3 point 8, issue 16 point 4).

Run by hand (not part of pytest)::

    .venv/bin/python bench/convert.py            # generates bench/out/gpt2-medium-16l.pth once (~1 GB)
    .venv/bin/python bench/convert.py --layers 24  # full GPT-2-medium depth (~1.4 GB)
    .venv/bin/python bench/convert.py --repeat 5   # more interleaved rounds (default 3, ~2 min)

The checkpoint has GPT-2-medium widths (d=1024, vocab 50257, 1024 positions),
fp32, ``lm_head.weight`` tied to ``transformer.wte.weight``, saved with
``torch.save(state_dict)``. Every command runs as its own process under
``/usr/bin/time -v`` (apt-get install time if it is missing), on a warm page
cache, one after the other, with ``sync`` between them so no command pays for
the previous one's writeback: wall time, CPU time and peak RSS of the whole
process; rounds interleave the commands and the table gives medians.
``hubmgr`` fsyncs its output (atomic temp+rename); ``cp`` and the reference do
not, so a ``cp`` + ``sync`` row shows what a durable copy costs on this disk.
hubmgr also hashes the source and the output (two sha256 streams over 1 GB, one
per core) and reads the output back to compare it with the source: the "python
sha256" row is the cost of one such stream alone.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PY = sys.executable
HUBMGR = str(Path(PY).parent / "hubmgr")

REFERENCE = """
import sys, torch
from safetensors.torch import save_file
sd = torch.load(sys.argv[1], weights_only=True, mmap=sys.argv[3] == "mmap")
# save_file refuses tied tensors: keep the first name of each storage (what save_model's dedup does).
seen, out = set(), {}
for k, v in sd.items():
    if v.data_ptr() in seen:
        continue
    seen.add(v.data_ptr())
    out[k] = v.contiguous()
save_file(out, sys.argv[2], metadata={"format": "pt"})
"""


def make_checkpoint(path: Path, layers: int) -> None:
    import torch

    d, vocab, positions = 1024, 50257, 1024
    gen = torch.Generator().manual_seed(0)
    sd: dict[str, torch.Tensor] = {}
    wte = torch.randn(vocab, d, generator=gen) * 0.02
    sd["transformer.wte.weight"] = wte
    sd["transformer.wpe.weight"] = torch.randn(positions, d, generator=gen) * 0.01
    for i in range(layers):
        p = f"transformer.h.{i}."
        sd[p + "ln_1.weight"], sd[p + "ln_1.bias"] = torch.ones(d), torch.zeros(d)
        sd[p + "attn.c_attn.weight"] = torch.randn(d, 3 * d, generator=gen) * 0.02
        sd[p + "attn.c_attn.bias"] = torch.zeros(3 * d)
        sd[p + "attn.c_proj.weight"] = torch.randn(d, d, generator=gen) * 0.02
        sd[p + "attn.c_proj.bias"] = torch.zeros(d)
        sd[p + "ln_2.weight"], sd[p + "ln_2.bias"] = torch.ones(d), torch.zeros(d)
        sd[p + "mlp.c_fc.weight"] = torch.randn(d, 4 * d, generator=gen) * 0.02
        sd[p + "mlp.c_fc.bias"] = torch.zeros(4 * d)
        sd[p + "mlp.c_proj.weight"] = torch.randn(4 * d, d, generator=gen) * 0.02
        sd[p + "mlp.c_proj.bias"] = torch.zeros(d)
    sd["transformer.ln_f.weight"], sd["transformer.ln_f.bias"] = torch.ones(d), torch.zeros(d)
    sd["lm_head.weight"] = wte  # tied, as in GPT-2
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)


GOAL_VS_CP = 3.0  # issue 16 point 4: hubmgr convert (verified) within 3x cp
HASH_ONE = """
import hashlib, sys
with open(sys.argv[1], "rb") as fh:
    hashlib.file_digest(fh, "sha256")
"""


def timed(cmd: list[str]) -> tuple[float, int, float]:
    """(wall seconds, peak RSS bytes, CPU seconds user+sys) of ``cmd`` measured by /usr/bin/time -v."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", proc.stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", proc.stderr)
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    return seconds, int(rss.group(1)) * 1024, float(user.group(1)) + float(system.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=16, help="transformer blocks (16 -> ~1 GB, 24 -> ~1.4 GB)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds, the commands interleaved in each; the table shows medians (RSS: largest)")
    args = parser.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("/usr/bin/time is missing: apt-get install -y time")
    src = OUT / f"gpt2-medium-{args.layers}l.pth"
    if not src.exists():
        print(f"generating {src} ...", file=sys.stderr)
        make_checkpoint(src, args.layers)
    size = src.stat().st_size
    subprocess.run(["cat", str(src)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    load_before = os.getloadavg()

    work = Path(tempfile.mkdtemp(prefix="convert-bench-", dir=OUT))
    try:
        rows = [
            ("python -c 'import torch' (for scale)", [PY, "-c", "import torch"]),
            ("cp", ["cp", str(src), str(work / "copy.pth")]),
            # cp returns before the data is on disk; hubmgr fsyncs (atomic rename needs it): both views.
            ("cp + sync of the copy (durable, for scale)",
             ["sh", "-c", f"cp '{src}' '{work / 'copy2.pth'}' && sync '{work / 'copy2.pth'}'"]),
            # One sha256 stream over the source: hubmgr runs two (source, output), one per core.
            ("python sha256 of the source (one hash stream, for scale)", [PY, "-c", HASH_ONE, str(src)]),
            ("reference: torch.load(weights_only) + save_file", [PY, "-c", REFERENCE, str(src), str(work / "ref.st"),
                                                                  "plain"]),
            ("same with torch.load(mmap=True)", [PY, "-c", REFERENCE, str(src), str(work / "ref2.st"), "mmap"]),
            ("hubmgr convert (verify)", [HUBMGR, "--catalog", str(work / "c.db"), "convert", str(src), "--out",
                                         str(work / "v.safetensors")]),
            ("hubmgr convert --no-verify", [HUBMGR, "--catalog", str(work / "c2.db"), "convert", str(src), "--out",
                                            str(work / "nv.safetensors"), "--no-verify"]),
            # The catalog of the first hubmgr run already has the source's sha256 (as after `hubmgr scan`).
            ("hubmgr convert (verify), source hash cached", [HUBMGR, "--catalog", str(work / "c.db"), "convert",
                                                              str(src), "--out", str(work / "v2.safetensors")]),
        ]
        samples: dict[str, list[tuple[float, int, float]]] = {label: [] for label, _ in rows}
        for _ in range(args.repeat):
            for f in work.iterdir():  # outputs and catalogs of the previous round: each round starts cold
                f.unlink()
            for label, cmd in rows:
                os.sync()  # the previous command's dirty pages must not be written back during this one
                samples[label].append(timed(cmd))
        load_after = os.getloadavg()
        results = {label: (statistics.median(w for w, _, _ in runs), max(r for _, r, _ in runs),
                           statistics.median(c for _, _, c in runs)) for label, runs in samples.items()}
        ref_wall, ref_rss, _ = results["reference: torch.load(weights_only) + save_file"]
        cp_wall = results["cp"][0]
        sync_wall = results["cp + sync of the copy (durable, for scale)"][0]
        print(f"\nsource: {src.name}, {size / 1e9:.2f} GB fp32, tied lm_head/wte; cores: {os.cpu_count()}; "
              f"rounds: {args.repeat} (medians); load average (1/5/15 min) before: "
              f"{'/'.join(f'{x:.1f}' for x in load_before)}, after: {'/'.join(f'{x:.1f}' for x in load_after)}\n")
        print("| command | wall s | CPU s (user+sys) | peak RSS MB | wall vs reference | RSS vs reference "
              "| wall vs cp | wall vs cp+sync |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, (wall, rss, cpu) in results.items():
            print(f"| {label} | {wall:.2f} | {cpu:.2f} | {rss / 1e6:.0f} | {wall / ref_wall:.2f}x | "
                  f"{rss / ref_rss:.2f}x | {wall / cp_wall:.1f}x | {wall / sync_wall:.2f}x |")
        print()
        for label in ("hubmgr convert (verify)", "hubmgr convert (verify), source hash cached"):
            ratio = results[label][0] / cp_wall
            verdict = "OK" if ratio <= GOAL_VS_CP else "MISSED"
            cpu = results[label][2]
            print(f"{label}: {ratio:.2f}x cp (goal <= {GOAL_VS_CP:.1f}x) {verdict}; "
                  f"{results[label][0] / sync_wall:.2f}x cp+sync; CPU {cpu:.2f} s / {os.cpu_count()} cores = "
                  f"{cpu / (os.cpu_count() or 1):.2f} s = {cpu / (os.cpu_count() or 1) / cp_wall:.2f}x cp "
                  f"(the wall cannot go below this)")
        hash_cpu = results["python sha256 of the source (one hash stream, for scale)"][2]
        print(f"one sha256 stream over the source: {hash_cpu:.2f} s CPU = {hash_cpu / cp_wall:.2f}x cp's wall "
              "(hubmgr runs two: source and output)")
        same = (work / "v.safetensors").stat().st_size, (work / "ref.st").stat().st_size
        print(f"\noutput sizes: hubmgr {same[0]:,} B, reference {same[1]:,} B")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
