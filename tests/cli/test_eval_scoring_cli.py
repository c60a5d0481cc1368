"""`hubmgr eval` scores a char-level tokenizer without a decoder right (through the real CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def test_char_tokenizer_without_decoder_scores_like_with_one(run_cli, tiny_gpt2_trained_dir: Path,
                                                             tmp_path: Path) -> None:
    fused = Path(shutil.copytree(tiny_gpt2_trained_dir, tmp_path / "fused"))
    bare = Path(shutil.copytree(tiny_gpt2_trained_dir, tmp_path / "no-decoder"))
    spec = json.loads((bare / "tokenizer.json").read_text())
    assert spec["decoder"] is not None
    spec["decoder"] = None  # same vocab and weights: decode now inserts spaces between tokens
    (bare / "tokenizer.json").write_text(json.dumps(spec))
    db = str(tmp_path / "cat.db")
    args = ("--n", "60", "--digits", "1", "--ops", "+", "--json")
    with_decoder = run_cli("--catalog", db, "eval", str(fused), *args)
    without = run_cli("--catalog", db, "eval", str(bare), *args)
    assert with_decoder.exit_code == 0 and without.exit_code == 0, without.stderr
    a, b = with_decoder.json(), without.json()
    # Two-digit sums are most of 1-digit addition: decoded as "1 1" they would all fail.
    assert b["metrics"]["accuracy"] == a["metrics"]["accuracy"] >= 0.4
    assert all(" " not in (f["predicted"] or "") for f in b["failures"])
