"""Cost of ``hubmgr inspect`` on the issue-13 hostile inputs and on large valid ones (bounded, linear).

Run by hand (not part of pytest)::

    .venv/bin/python bench/parsers.py

Each file is built under bench/out/parsers/, then ``hubmgr inspect FILE --json`` runs as its own
process under ``/usr/bin/time -v``: wall time, peak RSS, exit code. Hostile inputs must end in
exit 1 quickly with a small RSS; the valid "many tensors" rows show the cost growing linearly.
The issue's numbers before the fix: 621-byte memo pickle 2.1 GB; deflate bomb 1.94 GB / 14 s;
85 MB safetensors with 1.5 M tensors 2.4 GB / 65 s.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "parsers"
sys.path.insert(0, str(HERE.parent))
HUBMGR = str(HERE.parent / ".venv" / "bin" / "hubmgr")


def timed(cmd: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes, exit code) of ``cmd`` under /usr/bin/time -v."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    status = re.search(r"Exit status: (\d+)", proc.stderr)
    h, m, s = wall.groups()
    return int(h or 0) * 3600 + int(m) * 60 + float(s), int(rss.group(1)) * 1024, int(status.group(1))


def many_globals_pickle(count: int) -> bytes:
    """A bare pickle naming ``count`` distinct globals (never called): the verdict must stay linear."""
    body = b"".join(b"cmod%d\nname%d\n0" % (i, i) for i in range(count))
    return b"\x80\x02" + body + b"N."


def build() -> list[tuple[str, Path]]:
    from hubmgr.testing import hostile_files as hf

    OUT.mkdir(parents=True, exist_ok=True)
    files = []

    def add(label: str, path: Path) -> None:
        files.append((label, path))

    memo = OUT / "memo621.pth"
    memo.write_bytes(hf.padded_huge_memo_pickle(621))
    add("621-byte pickle, memo index 2^32-16", memo)
    add("deflate bomb data.pkl (80 MB inflated)", hf.write_zip_bomb(OUT / "bomb.pth"))
    add("deflate bomb, central dir lies about size", hf.write_zip_bomb(OUT / "bomb_lie.pth", lie_about_size=True))
    add("safetensors, 1.5 M tensors (85 MB header)",
        hf.many_tensor_safetensors(OUT / "many_1500k.safetensors", 1_500_000))
    for count in (50_000, 100_000, 200_000):
        add(f"safetensors, {count // 1000}k tensors (valid)",
            hf.many_tensor_safetensors(OUT / f"many_{count // 1000}k.safetensors", count))
    for count in (25_000, 50_000, 100_000):
        path = OUT / f"globals_{count // 1000}k.pkl"
        path.write_bytes(many_globals_pickle(count))
        add(f"pickle naming {count // 1000}k distinct globals", path)
    deep = OUT / "deep.safetensors"
    hf.write_safetensors_raw(deep, '{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": '
                             + "[" * 100_000 + "]" * 100_000 + "}}", b"\0")
    add("safetensors header nested 100k deep", deep)
    legacy = OUT / "legacy_views.pth"
    hf.write_torch_with_views(legacy, {f"w{i}": (0, (4, 4), (4, 1)) for i in range(20_000)}, legacy=True)
    add("legacy torch file, 20k tensor views (valid)", legacy)
    return files


def main() -> None:
    if not Path("/usr/bin/time").exists():
        raise SystemExit("/usr/bin/time is missing: apt-get install -y time")
    rows = []
    for label, path in build():
        seconds, rss, code = timed([HUBMGR, "inspect", str(path), "--json"])
        rows.append((label, path.stat().st_size, seconds, rss, code))
    print("| input | file size | wall | peak RSS | exit |\n|---|---:|---:|---:|---:|")
    for label, size, seconds, rss, code in rows:
        print(f"| {label} | {size / 1e6:.2f} MB | {seconds:.2f} s | {rss / 2**20:.0f} MB | {code} |")


if __name__ == "__main__":
    main()
