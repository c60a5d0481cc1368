"""``hubmgr convert`` through the real CLI entry point (in-process)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from hubmgr.errors import EXIT_FAILED, EXIT_USAGE


def test_help_has_examples(run_cli) -> None:
    res = run_cli("convert", "--help")
    assert res.exit_code == 0
    assert "Examples:" in res.stdout and "--max-shard-size 95MB" in res.stdout and "Default output" in res.stdout


def test_convert_json_document_and_catalog(run_cli, tmp_path: Path) -> None:
    w = torch.randn(8, 8)
    torch.save({"w": w, "alias": w, "epoch": 2}, tmp_path / "m.pth")
    catalog = tmp_path / "cat.db"
    res = run_cli("--catalog", str(catalog), "convert", str(tmp_path / "m.pth"), "--json")
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    assert doc["output"] == str(tmp_path / "m.safetensors") and doc["verified"] is True
    assert doc["files"][0]["path"] == "m.safetensors" and len(doc["files"][0]["sha256"]) == 64
    assert doc["tied"] == [{"kept": "w", "dropped": ["alias"]}]
    assert doc["metadata"] == {"format": "pt", "epoch": "2"}
    assert isinstance(doc["conversion_id"], int)
    from hubmgr.catalog import Catalog

    [record] = Catalog(catalog).list_conversions()
    assert record.source_sha256 == doc["source_sha256"]


def test_table_output_and_shard_size_parsing(run_cli, tmp_path: Path) -> None:
    torch.save({f"l{i}": torch.randn(100, 100) for i in range(4)}, tmp_path / "m.pth")
    res = run_cli("--catalog", str(tmp_path / "c.db"), "convert", str(tmp_path / "m.pth"),
                  "--max-shard-size", "0.05MB", "--no-verify")
    assert res.exit_code == 0, res.stderr
    assert "model-00001-of-00004.safetensors" in res.stdout and "not verified" in res.stdout
    assert (tmp_path / "m-safetensors" / "model.safetensors.index.json").exists()
    bad = run_cli("convert", str(tmp_path / "m.pth"), "--max-shard-size", "lots")
    assert bad.exit_code == EXIT_USAGE and "not a size" in bad.stderr


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_input_one_line_nonzero_no_output(run_cli, tmp_path: Path, damage: str) -> None:
    src = tmp_path / "m.pth"
    torch.save({"w": torch.randn(64, 64)}, src)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x80\x04garbage" * 10)
    res = run_cli("--catalog", str(tmp_path / "c.db"), "convert", str(src))
    assert res.exit_code == EXIT_FAILED
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "c.db" and not p.name.startswith("c.db")) \
        == ["m.pth"]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_unsafe_pickle_refused_with_globals(run_cli, tmp_path: Path) -> None:
    torch.save({"w": torch.ones(2), "x": _Evil()}, tmp_path / "evil.pth")
    res = run_cli("convert", str(tmp_path / "evil.pth"), "--json")
    assert res.exit_code == EXIT_FAILED
    assert "system" in res.stderr and "refusing" in res.stderr
    assert res.json()["error"]["type"] == "UnsafePickleError"
    assert not (tmp_path / "evil.safetensors").exists()


def test_existing_output_refused_then_forced(run_cli, tmp_path: Path) -> None:
    torch.save({"w": torch.ones(2)}, tmp_path / "m.pth")
    assert run_cli("convert", str(tmp_path / "m.pth")).exit_code == 0
    again = run_cli("convert", str(tmp_path / "m.pth"))
    assert again.exit_code == EXIT_FAILED and "already exists" in again.stderr and "--force" in again.stderr
    assert run_cli("convert", str(tmp_path / "m.pth"), "--force").exit_code == 0


def test_missing_key(run_cli, tmp_path: Path) -> None:
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 1}, tmp_path / "c.ckpt")
    res = run_cli("convert", str(tmp_path / "c.ckpt"), "--key", "model")
    assert res.exit_code == EXIT_FAILED and "no entry 'model'" in res.stderr and "state_dict" in res.stderr
    ok = run_cli("convert", str(tmp_path / "c.ckpt"), "--key", "state_dict", "--json")
    assert ok.exit_code == 0 and ok.json()["dropped"] == {"epoch": "1"}


def test_digests_are_of_the_files_and_the_output_holds_the_source_tensors(run_cli, tmp_path: Path) -> None:
    # Source and output are each read once for sha256 (the output in the same pass as the
    # verification): the digests must be exactly those of the files on disk.
    import hashlib

    from safetensors.torch import load_file

    sd = {f"h.{i}.w": torch.randn(300, 700) for i in range(3)} | {"b": torch.arange(7, dtype=torch.int64),
                                                                    "h": torch.randn(5, 3).half()}
    torch.save(sd, tmp_path / "m.pth")
    res = run_cli("--catalog", str(tmp_path / "c.db"), "convert", str(tmp_path / "m.pth"), "--json")
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    out = tmp_path / "m.safetensors"
    assert doc["files"][0]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert doc["source_sha256"] == hashlib.sha256((tmp_path / "m.pth").read_bytes()).hexdigest()
    back = load_file(str(out))
    assert set(back) == set(sd) and all(torch.equal(back[k], v) for k, v in sd.items())
