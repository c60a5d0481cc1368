"""The catalog is an index: damaged, half-migrated or locked, it costs a warning or one clear line,
never a traceback, and never the result of work that was done."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubmgr import deploy
from hubmgr.catalog import Catalog, CatalogError
from hubmgr.testing.faults import damage_catalog

DAMAGES = ["random", "truncated", "pages", "no-table"]


def _model(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# m\n")
    (folder / "config.json").write_text(json.dumps({"version": version}))
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + version.encode() * 5000)
    return folder


@pytest.fixture
def populated(tmp_path: Path, run_cli) -> Path:
    """A catalog with checkpoints, a push and a pull in it (big enough that page damage hits data)."""
    db = tmp_path / "catalog.db"
    runs = tmp_path / "runs"
    for i in range(12):
        _model(runs / f"m{i}", str(i))
    assert run_cli("--catalog", str(db), "scan", str(runs)).exit_code == 0
    assert run_cli("--catalog", str(db), "push", str(runs / "m0"), "local:cat").exit_code == 0
    assert run_cli("--catalog", str(db), "pull", "local:cat", "--dest", str(tmp_path / "srv")).exit_code == 0
    return db


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_catalog_never_fails_finished_work(populated: Path, tmp_path: Path, run_cli, damage: str) -> None:
    damage_catalog(populated, damage, seed=7)
    db = ["--catalog", str(populated)]
    # pull: the release goes live; the catalog problem is a warning with the way out
    (tmp_path / "runs" / "m0" / "config.json").write_text('{"version": "again"}')
    pushed = run_cli(*db, "push", str(tmp_path / "runs" / "m0"), "local:cat", "--json")
    assert pushed.exit_code == 0, pushed.stderr
    r = run_cli(*db, "pull", "local:cat", "--dest", str(tmp_path / "srv"), "--json")
    assert r.exit_code == 0, r.stderr
    assert deploy.live_sha(tmp_path / "srv") == pushed.json()["commit_sha"] == r.json()["commit_sha"]
    for out in (pushed, r):
        if damage in ("random", "truncated"):  # pages/no-table may spare the tables these two write to
            assert "catalog" in out.stderr and "scan --rebuild" in out.stderr
        assert "Traceback" not in out.stderr
    # ls, whose answer is the catalog: one line, exit 1, and how to rebuild
    ls = run_cli(*db, "ls")
    if damage != "pages" or ls.exit_code != 0:
        assert ls.exit_code == 1 and "Traceback" not in ls.stderr, ls.stderr
        assert ls.stderr.count("\n") <= 3 and "scan --rebuild" in ls.stderr
    # the way out works
    r = run_cli(*db, "scan", "--rebuild", str(tmp_path / "runs"), "--json")
    assert r.exit_code == 0, r.stderr
    assert "moved the old catalog to" in r.stderr
    assert len(r.json()["checkpoints"]) == 12
    assert Catalog(populated).check() == 12
    assert list(tmp_path.glob("catalog.db.aside-*"))


def test_convert_succeeds_with_a_damaged_catalog(tmp_path: Path, run_cli, tiny_gpt2_bin_dir: Path) -> None:
    db = tmp_path / "catalog.db"
    db.write_bytes(os.urandom(8192))
    out = tmp_path / "out"
    r = run_cli("--catalog", str(db), "convert", str(tiny_gpt2_bin_dir), "--out", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    assert (out / "model.safetensors").is_file() and r.json()["verified"]
    assert "not recorded in the catalog" in r.stderr and "Traceback" not in r.stderr


def test_a_catalog_locked_by_another_process_waits_with_a_message_then_fails_cleanly(
        tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "catalog.db"
    Catalog(db).migrate()
    monkeypatch.setenv("HUBMGR_CATALOG_TIMEOUT", "3")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
         "c.execute('PRAGMA locking_mode=EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE')\n"
         "c.execute('INSERT INTO pulls(remote, repo, commit_sha, dest, created_at) VALUES (1,1,1,1,1)')\n"
         "print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        r = run_cli("--catalog", str(db), "ls")
        waited = time.monotonic() - start
        assert r.exit_code == 1 and "Traceback" not in r.stderr
        assert "locked by another process; waiting up to 3 s" in r.stderr
        assert "is locked by another process (waited 3 s)" in r.stderr
        assert 2.5 <= waited < 30
    finally:
        holder.kill()
        holder.wait()
    # once the other process is gone the same command works
    assert run_cli("--catalog", str(db), "ls").exit_code == 0


def test_catalog_errors_are_catalog_errors_for_every_query(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    cat = Catalog(db)
    cat.migrate()
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE pushes")
    with pytest.raises(CatalogError, match="no such table: pushes"):
        cat.list_pushes()
    assert cat.record_push(checkpoint_path="x", remote="r", repo="r", revision=None, tag=None, commit_sha="a",
                           url=None) == 0
    assert len(cat.warnings) == 1 and "scan --rebuild" in cat.warnings[0]


@pytest.mark.parametrize("case", ["file", "missing", "read-only"])
def test_hubmgr_home_that_is_a_file_missing_or_read_only(tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch,
                                                         case: str) -> None:
    from hubmgr.testing.faults import read_only

    home = tmp_path / "home"
    model = _model(tmp_path / "m", "1")
    if case == "file":
        home.write_text("oops")
    elif case == "read-only":
        home.mkdir()
    monkeypatch.setenv("HUBMGR_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    if case == "missing":
        assert run_cli("push", str(model), "local:h").exit_code == 0  # created on first use
        assert (home / "registry" / "h.git").is_dir()
        return
    if case == "file":
        for args in (("ls",), ("push", str(model), "local:h"), ("status", "--dest", str(tmp_path))):
            r = run_cli(*args)
            assert r.exit_code == 2 and "HUBMGR_HOME" in r.stderr and "is a file" in r.stderr, r.stderr
            assert "Traceback" not in r.stderr
        return
    with read_only(home):
        r = run_cli("push", str(model), "local:h")
        assert r.exit_code == 1 and "Traceback" not in r.stderr, r.stderr
        assert "read-only" in r.stderr or "permission denied" in r.stderr
        assert len(r.stderr.strip().splitlines()) <= 4
