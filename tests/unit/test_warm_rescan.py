"""A warm rescan opens no checkpoint file and parses no stored inspection; `ls --json` streams (issue 16)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from hubmgr import checkpoints as ck
from hubmgr.catalog import MIGRATIONS, Catalog
from hubmgr.stored import CheckpointSeq
from hubmgr.testing import checkpoint_factory as cf
from hubmgr.testing.cli_runner import run_cli

pytest.importorskip("torch")

_OPENED: list[str] | None = None  # files opened while a test records (CPython's audit "open" event)


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, Path)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_audit)  # a real interpreter hook on every open(), not a stand-in for our code


def _opened_under(root: Path, fn):
    global _OPENED
    _OPENED = []
    try:
        result = fn()
        return result, sorted({p for p in _OPENED if p.startswith(str(root) + "/")})
    finally:
        _OPENED = None


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Every kind discovery and inspection know, including files told apart only by their first bytes."""
    root = tmp_path / "ws"
    cf.save_state_dict(root / "sd.pt")
    cf.save_state_dict(root / "weights.bin")  # .bin: discovery sniffs it (could be a token memmap)
    (root / "tokens.bin").write_bytes(b"\x00\x01" * 64)  # raw data: not a checkpoint
    (root / "notes.log").write_text("step 1 loss 2.0\n")  # sniffed for pickle bytes: not one
    cf.save_state_dict(root / "state.pkl")  # no weight suffix: found by its pickle bytes
    cf.save_training_checkpoint(root / "train.ckpt")
    cf.save_safetensors(root / "w.safetensors")
    cf.write_lfs_pointer(root / "lfs" / "model.safetensors")
    model = root / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "gpt2"}')
    cf.save_state_dict(model / "pytorch_model.bin")
    cf.save_state_dict(model / "optimizer.pt")
    run = root / "run" / "checkpoint-2"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"model_type": "gpt2"}')
    cf.save_safetensors(run / "model.safetensors")
    (run / "trainer_state.json").write_text('{"global_step": 2, "log_history": [{"eval_loss": 1.5, "step": 2}]}')
    (run / "config.json.bak").write_bytes(b"\x80\x04K\x01.")  # a pickle of the dir, found by its bytes
    return root


def test_a_warm_rescan_opens_no_checkpoint_file(workspace: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    cold, cold_opened = _opened_under(workspace, lambda: ck.scan([workspace], catalog=catalog))
    assert str(workspace / "weights.bin") in cold_opened  # the hook sees what a scan opens
    assert str(workspace / "state.pkl") in cold_opened
    assert str(workspace / "tokens.bin") in cold_opened and str(workspace / "notes.log") in cold_opened
    warm, warm_opened = _opened_under(workspace, lambda: ck.scan([workspace], catalog=catalog))
    assert warm_opened == []  # neither the checkpoints nor the files found not to be ones
    assert warm.files_hashed == 0
    assert len(warm.checkpoints) == len(cold.checkpoints) == 8
    assert warm.to_dict()["checkpoints"] == cold.to_dict()["checkpoints"]  # the same, from the stored texts
    assert warm.warnings == cold.warnings
    assert any("LFS pointer" in w for w in warm.warnings)  # stored warnings come back unparsed
    assert str(workspace / "tokens.bin") not in {c.path for c in warm.checkpoints}


def test_a_warm_rescan_parses_nothing_until_looked_at(workspace: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    ck.scan([workspace], catalog=catalog)
    warm = ck.scan([workspace], catalog=catalog)
    assert isinstance(warm.checkpoints, CheckpointSeq) and warm.checkpoints._infos is None
    assert len(warm.checkpoints) == 8 and warm.checkpoints._infos is None  # counting parses nothing
    streamed = json.loads("".join(warm.json_chunks()))
    assert warm.checkpoints._infos is None  # nor does streaming the JSON
    assert streamed == warm.to_dict()
    by_path = {c.path: c for c in warm.checkpoints}
    assert by_path[str(workspace / "model")].safety.per_file  # parsed on access, whole
    assert by_path[str(workspace / "run" / "checkpoint-2")].step == 2


def test_a_bin_rewritten_as_raw_data_is_sniffed_again_and_forgotten(workspace: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    ck.scan([workspace], catalog=catalog)
    (workspace / "weights.bin").write_bytes(b"\x00" * 300)
    again = ck.scan([workspace], catalog=catalog)
    assert str(workspace / "weights.bin") not in {c.path for c in again.checkpoints}
    assert again.forgotten == 1
    assert catalog.get_checkpoint_dict(str(workspace / "weights.bin")) is None


def test_a_file_found_not_to_be_a_checkpoint_is_sniffed_again_once_changed(workspace: Path,
                                                                            tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    ck.scan([workspace], catalog=catalog)
    cf.save_state_dict(workspace / "tokens.bin")  # now a torch save
    again, opened = _opened_under(workspace, lambda: ck.scan([workspace], catalog=catalog))
    assert str(workspace / "tokens.bin") in opened
    assert catalog.get_checkpoint_dict(str(workspace / "tokens.bin"))["kind"] == "state_dict"
    (workspace / "notes.log").unlink()
    ck.scan([workspace], catalog=catalog)
    assert catalog.not_checkpoints_under(str(workspace)) == {}  # both left the list


def test_a_rescan_forgets_nothing_of_a_sibling_differing_in_case(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    cf.save_state_dict(tmp_path / "runs" / "a.pt")
    cf.save_state_dict(tmp_path / "Runs" / "b.pt")
    ck.scan([tmp_path / "runs"], catalog=catalog)
    assert ck.scan([tmp_path / "Runs"], catalog=catalog).forgotten == 0
    assert catalog.get_checkpoint_dict(str(tmp_path / "runs" / "a.pt")) is not None


def test_ls_json_streams_the_stored_rows_with_their_sync_state(workspace: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "catalog.db"
    catalog = Catalog(db)
    ck.scan([workspace], catalog=catalog)
    sd = workspace / "sd.pt"
    sha = ck.inspect_checkpoint(sd, catalog=catalog).files[0].sha256
    catalog.record_push(checkpoint_path=str(sd), remote="hf", repo="alice/sd", revision="main", tag=None,
                        commit_sha="c0ffee" * 6 + "abcd", url=None, details={"files": [{"path": "sd.pt", "sha256": sha}]})
    (workspace / "w.safetensors").unlink()
    monkeypatch.setenv("HUBMGR_CATALOG", str(db))
    monkeypatch.setenv("HUBMGR_HOME", str(tmp_path / "home"))
    run = run_cli("ls", "--json")
    assert run.exit_code == 0, run.stderr
    listed = json.loads(run.stdout)
    assert listed == ck.list_checkpoints(catalog=catalog).to_dict()  # the parsed path gives the same document
    by_path = {c["path"]: c for c in listed["checkpoints"]}
    assert by_path[str(sd)]["sync_state"]["state"] == "pushed"
    assert by_path[str(workspace / "train.ckpt")]["sync_state"]["state"] == "local only"
    assert "tensors" not in by_path[str(sd)] and by_path[str(sd)]["lineage"] is None
    assert any("w.safetensors: no longer on disk" in w for w in listed["warnings"])
    assert [c["path"] for c in listed["checkpoints"]] == sorted(by_path)


def test_a_v3_catalog_moves_tensor_lists_out_of_the_stored_info(tmp_path: Path) -> None:
    db = tmp_path / "v3.db"
    conn = sqlite3.connect(db)
    for number, migration in enumerate(MIGRATIONS[:3], 1):
        conn.executescript(migration + f"\nPRAGMA user_version = {number};")
    info = ck.inspect_checkpoint(cf.save_state_dict(tmp_path / "w" / "a.pt"))
    conn.execute("INSERT INTO checkpoints(path, name, kind, format, size_bytes, verdict, info_json, scanned_at)"
                 " VALUES (?,?,?,?,?,?,?,0)", (info.path, info.name, info.kind, info.format, info.size_bytes,
                                               info.safety.verdict, json.dumps(info.to_dict())))
    conn.commit()
    conn.close()
    catalog = Catalog(db)
    stored = catalog.get_checkpoint_dict(info.path)
    assert catalog.schema_version == len(MIGRATIONS) >= 4
    expected = {**json.loads(json.dumps(info.to_dict())), "lineage": None}  # lineage: its own table
    assert stored == expected  # the same dict, tensors included
    assert stored["tensors"]
    assert "tensors" not in catalog.list_checkpoint_dicts(tensors=False)[0]
    assert ck.list_checkpoints(catalog=catalog).checkpoints[0].kind == info.kind


def test_a_changed_dir_rehashes_only_its_new_file(workspace: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    ck.scan([workspace], catalog=catalog)
    (workspace / "model" / "generation_config.json").write_text('{"max_length": 20}')
    again = ck.scan([workspace], catalog=catalog)
    assert (again.files_hashed, again.bytes_hashed) == (1, len('{"max_length": 20}'))
    model = next(c for c in again.checkpoints if c.path == str(workspace / "model"))
    assert {f.path for f in model.files} >= {"generation_config.json", "pytorch_model.bin", "optimizer.pt"}


def test_two_processes_upgrading_one_catalog_at_once_both_succeed(tmp_path: Path) -> None:
    import threading
    import time

    db = tmp_path / "new.db"
    other = sqlite3.connect(db, isolation_level=None)  # the other hubmgr: holds the write lock, then migrates
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN IMMEDIATE")
    outcome: list[object] = []
    mine = threading.Thread(target=lambda: outcome.append(_try(Catalog(db).migrate)))
    mine.start()
    time.sleep(0.5)  # ours has read version 0 and waits for the lock
    for number, migration in enumerate(MIGRATIONS, 1):
        for statement in filter(str.strip, migration.split(";")):
            other.execute(statement)
        other.execute(f"PRAGMA user_version = {number}")
    other.execute("COMMIT")
    other.close()
    mine.join(10)
    assert outcome == [len(MIGRATIONS)]


def _try(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the test reports what went wrong
        return exc
