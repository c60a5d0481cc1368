"""Benchmark: pickle verdicts of hubmgr vs picklescan vs fickling on the hostile corpus.

Run by hand: ``.venv/bin/python bench/verdicts.py [--keep DIR]``.
The corpus is ``hubmgr.testing.pickle_corpus`` (the one tests/security uses). Ground truth: each
file loaded with its real loaders in a throwaway subprocess (``really_runs_code``).

Per tool and attack family: caught / files (a file is *caught* when the tool flags it as
dangerous: hubmgr ``unsafe``; picklescan ``infected`` (dangerous globals); fickling severity
``LIKELY_UNSAFE`` or worse). ``missed-exec`` counts files that really ran code and were not caught;
``FP`` counts benign controls flagged; ``err`` counts files the tool could not scan.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def hubmgr_tool(path: Path) -> str:
    from hubmgr.formats.pickle_scan import grade_file

    verdict = grade_file(path).safety.verdict
    return {"unsafe": "caught", "unknown": "err"}.get(verdict, "passed")


def picklescan_tool(path: Path) -> str:
    from picklescan.scanner import scan_file_path

    result = scan_file_path(str(path))
    if result.infected_files or result.issues_count:
        return "caught"
    return "err" if result.scan_err else "passed"


def fickling_tool(path: Path) -> str:
    import fickling
    from fickling.analysis import Severity

    import zipfile

    try:  # torch zips: fickling's archive scan (its file scan finds no pickle in them); worst member wins
        results = (list(fickling.scan_zip_archive(str(path), graceful=True).values()) if zipfile.is_zipfile(path)
                   else [fickling.scan_file(str(path), graceful=True)])
    except Exception:  # noqa: BLE001 - a scanner crash is an error outcome, not a bench failure
        return "err"
    if any(r.severity.value[0] >= Severity.LIKELY_UNSAFE.value[0] for r in results):
        return "caught"
    return "err" if not results or any(r.errors for r in results) else "passed"


TOOLS = {"hubmgr": hubmgr_tool, "picklescan": picklescan_tool, "fickling": fickling_tool}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the corpus here and keep it")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="hubmgr-bench-verdicts-"))
    try:
        from hubmgr.testing.pickle_corpus import build_corpus, really_runs_code

        samples = build_corpus(root / "files")
        truth = really_runs_code(samples, root / "truth")
        families = sorted({s.family for s in samples if s.malicious})
        print(f"corpus: {len(samples)} files, {sum(s.malicious for s in samples)} hostile in {len(families)} "
              f"families, {sum(truth.values())} really run code; {sum(not s.malicious for s in samples)} benign")
        rows = {}
        for name, tool in TOOLS.items():
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                outcome = {s.path: tool(s.path) for s in samples}
            seconds = time.perf_counter() - start
            per_family: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for s in samples:
                if s.malicious:
                    per_family[s.family][0] += outcome[s.path] == "caught"
                    per_family[s.family][1] += 1
            rows[name] = {
                "families": per_family,
                "caught": sum(outcome[s.path] == "caught" for s in samples if s.malicious),
                "missed_exec": sum(truth[s.path] and outcome[s.path] != "caught" for s in samples),
                "fp": sum(outcome[s.path] == "caught" for s in samples if not s.malicious),
                "err": sum(outcome[s.path] == "err" for s in samples),
                "seconds": seconds,
            }
        total = sum(s.malicious for s in samples)
        width = max(len(f) for f in families) + 2
        print(f"\n{'family':<{width}}" + "".join(f"{t:>12}" for t in TOOLS))
        for family in families:
            cells = "".join(f"{'%d/%d' % tuple(rows[t]['families'][family]):>12}" for t in TOOLS)
            print(f"{family:<{width}}{cells}")
        for label, key in (("caught", "caught"), ("missed-exec", "missed_exec"), ("FP (benign)", "fp"),
                           ("err", "err")):
            cells = "".join(f"{rows[t][key]:>12}" for t in TOOLS)
            print(f"{label:<{width}}{cells}" + (f"   (of {total} hostile)" if key == "caught" else ""))
        print(f"{'seconds':<{width}}" + "".join(f"{rows[t]['seconds']:>12.2f}" for t in TOOLS))
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
