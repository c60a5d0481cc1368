"""A card written for a push: the target's repo id, exactly the pushed files, a snippet that decodes like the scorer."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from hubmgr.catalog import Catalog
from hubmgr.cards import write_card
from hubmgr.hf.card import parse_card


def _files_table(text: str) -> list[str]:
    section = text.split("## Files", 1)[1].split("<!-- hubmgr:end files -->", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, re.M)


def test_card_for_a_push_target_and_file_list(tiny_gpt2_trained_dir: Path, tmp_path: Path, run_cli) -> None:
    model = Path(shutil.copytree(tiny_gpt2_trained_dir, tmp_path / "run-5000"))
    db = str(tmp_path / "c.db")
    assert run_cli("--catalog", db, "eval", str(model), "--n", "20", "--digits", "1", "--ops", "+").exit_code == 0
    pushed = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"]
    result = write_card(model, catalog=Catalog(db), repo_id="alice/adder", files=pushed, license="mit")
    text = Path(result.path).read_text()
    assert "\n# alice/adder\n" in text and 'repo = "alice/adder"\n' in text
    meta, evals = parse_card(text)
    assert meta["model-index"][0]["name"] == "alice/adder" and evals
    assert _files_table(text) == sorted(pushed)  # not generation_config.json nor all_results.json
    assert "| `README.md` | - | this card |" in text

    # Through the CLI: --repo-id; without files= the table lists the folder.
    run = run_cli("--catalog", db, "card", str(model), "--repo-id", "bob/adder-v2", "--json")
    assert run.exit_code == 0, run.stderr
    text = Path(result.path).read_text()
    assert 'repo = "bob/adder-v2"\n' in text and "generation_config.json" in _files_table(text)


def test_usage_snippet_decodes_like_the_scorer(tiny_gpt2_trained_dir: Path, tmp_path: Path) -> None:
    """Run the card's snippet on a char tokenizer without a decoder: it prints what the scorer read."""
    from hubmgr.evaluate import generated_text, load_model, resolve_model_dir

    model_dir = Path(shutil.copytree(tiny_gpt2_trained_dir, tmp_path / "adder"))
    spec = json.loads((model_dir / "tokenizer.json").read_text())
    spec["decoder"] = None
    (model_dir / "tokenizer.json").write_text(json.dumps(spec))
    text = Path(write_card(model_dir).path).read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert "convert_ids_to_tokens" in snippet
    out = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
                              "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    model, tokenizer = load_model(resolve_model_dir(model_dir))
    enc = tokenizer(["5 + 3 ="], return_tensors="pt")
    ids = model.generate(**enc, max_new_tokens=5, do_sample=False)[0, enc["input_ids"].shape[1]:].tolist()
    expected = generated_text(tokenizer, ids)
    assert out.stdout.rstrip("\n") == expected and "8" in expected and "  " not in expected.strip()
