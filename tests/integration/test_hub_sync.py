"""Issue 5 end to end: hubmgr push / pull / rollback / status against the Hub test server.

Real parts only: the real ``huggingface_hub`` client over HTTP (no Xet), a real tiny GPT-2
saved by transformers, real SQLite catalog, the CLI run in-process.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from hubmgr.testing.hub_server import ALICE_READ_TOKEN, ALICE_WRITE_TOKEN, BOB_WRITE_TOKEN

pytest.importorskip("huggingface_hub")

WEIGHTS = r"/resolve/.*model\.safetensors"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _ok(run):
    assert run.exit_code == 0, f"exit {run.exit_code}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    return run.json()


def _bump(model_dir: Path, text: str) -> None:
    """Change a small file so the next push makes a commit."""
    (model_dir / "notes.txt").write_text(text)


def test_push_pull_round_trip_loads_and_generates_and_repush_is_noop(
        hub_server, logged_in, model_dir: Path, tmp_path: Path, run_cli) -> None:
    pushed = _ok(run_cli("push", str(model_dir), "alice/tiny-gpt2", "--private", "--json"))
    assert pushed["created_commit"] and len(pushed["commit_sha"]) == 40
    assert pushed["commit_url"] == f"{hub_server.url}/alice/tiny-gpt2/commit/{pushed['commit_sha']}"
    assert "model.safetensors" in pushed["files_uploaded"] and pushed["card_written"]
    assert hub_server.storage.repos["model/alice/tiny-gpt2"].private
    assert hub_server.count("PUT", "^/lfs-") >= 1

    dest = tmp_path / "deploy"
    pulled = _ok(run_cli("pull", "alice/tiny-gpt2", "--dest", str(dest), "--json"))
    assert pulled["commit_sha"] == pushed["commit_sha"]
    current = dest / "current"
    assert current.is_symlink() and current.resolve() == dest / "releases" / pushed["commit_sha"]
    deployed = _files(current)
    lock = deployed.pop("hubmgr.lock.json")
    deployed.pop(".gitattributes")  # the Hub's own initial file
    card = deployed.pop("README.md")  # generated for the push, never written into the user's folder
    assert b"# alice/tiny-gpt2" in card and not (model_dir / "README.md").exists()
    assert deployed == _files(model_dir)  # byte-identical
    assert pushed["commit_sha"].encode() in lock

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(current)
    tokenizer = AutoTokenizer.from_pretrained(current)
    ids = tokenizer("1+2=", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id or 0)
    assert out.shape[1] == ids.shape[1] + 4

    hub_server.clear_requests()
    again = _ok(run_cli("push", str(model_dir), "alice/tiny-gpt2", "--json"))
    assert not again["created_commit"] and again["bytes_sent"] == 0 and again["files_uploaded"] == []
    assert again["commit_sha"] == pushed["commit_sha"]
    assert hub_server.count("PUT", "^/lfs-") == 0  # no weight bytes
    assert hub_server.count("POST", "/commit/") == 0  # no empty commit
    assert hub_server.lfs_bytes_received() == 0


def test_tag_pins_sha_after_branch_moves_then_status_and_rollback(
        hub_server, logged_in, model_dir: Path, tmp_path: Path, run_cli) -> None:
    v1 = _ok(run_cli("push", str(model_dir), "alice/pinned", "--tag", "v1", "--json"))
    _bump(model_dir, "second\n")
    v2 = _ok(run_cli("push", str(model_dir), "alice/pinned", "--message", "second", "--json"))
    assert v2["created_commit"] and v2["commit_sha"] != v1["commit_sha"]
    # weights skipped (same sha256 as the LFS oid); the generated card's Files table now lists notes.txt
    assert v2["files_uploaded"] == ["README.md", "notes.txt"]
    assert "model.safetensors" in v2["files_skipped"]

    dest = tmp_path / "deploy"
    first = _ok(run_cli("pull", "alice/pinned@v1", "--dest", str(dest), "--json"))
    assert first["commit_sha"] == v1["commit_sha"] and first["revision"] == "v1"
    assert not (dest / "current" / "notes.txt").exists()
    status = _ok(run_cli("status", "--dest", str(dest), "--json"))
    assert status["live_sha"] == v1["commit_sha"] and status["revision"] == "v1"
    assert status["remote_moved"] is False  # the tag did not move, although main did

    second = _ok(run_cli("pull", "alice/pinned", "--dest", str(dest), "--json"))
    assert second["commit_sha"] == v2["commit_sha"] and second["previous_sha"] == v1["commit_sha"]
    assert (dest / "current" / "notes.txt").read_text() == "second\n"
    _bump(model_dir, "third\n")
    _ok(run_cli("push", str(model_dir), "alice/pinned", "--json"))
    moved = _ok(run_cli("status", "--dest", str(dest), "--verify", "--json"))
    assert moved["remote_moved"] is True and moved["verified"] is True

    back = _ok(run_cli("rollback", "--dest", str(dest), "--json"))
    assert back["to_sha"] == v1["commit_sha"] and back["from_sha"] == v2["commit_sha"]
    assert (dest / "current").resolve().name == v1["commit_sha"]
    forward = _ok(run_cli("rollback", "--dest", str(dest), "--to", v2["commit_sha"][:10], "--json"))
    assert forward["to_sha"] == v2["commit_sha"]


def test_auth_errors_give_hints_and_exit_code_3(hub_server, model_dir: Path, tmp_path: Path, run_cli,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    anonymous = run_cli("push", str(model_dir), "alice/auth")
    assert anonymous.exit_code == 3
    assert "not logged in" in anonymous.stderr and "hf auth login" in anonymous.stderr

    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    _ok(run_cli("push", str(model_dir), "alice/auth", "--private", "--json"))
    monkeypatch.setenv("HF_TOKEN", ALICE_READ_TOKEN)
    _bump(model_dir, "read-only\n")
    read_only = run_cli("push", str(model_dir), "alice/auth", "--json")
    assert read_only.exit_code == 3 and "no write access" in read_only.stderr
    assert read_only.json()["error"]["type"] == "AuthError"

    monkeypatch.setenv("HF_TOKEN", BOB_WRITE_TOKEN)
    other = run_cli("pull", "alice/auth", "--dest", str(tmp_path / "d"))
    assert other.exit_code == 3 and "not found" in other.stderr  # private: invisible to bob

    monkeypatch.delenv("HF_TOKEN")
    anon_pull = run_cli("pull", "alice/auth", "--dest", str(tmp_path / "d"))
    assert anon_pull.exit_code == 3 and "HF_TOKEN" in anon_pull.stderr

    monkeypatch.setenv("HF_TOKEN", "hf_hubmgrTEST_revokedTOKEN_33aa")
    bad = run_cli("pull", "alice/auth", "--dest", str(tmp_path / "d"))
    assert bad.exit_code == 3 and "hf auth login" in bad.stderr
    assert "hf_hubmgrTEST_revokedTOKEN_33aa" not in bad.stderr + bad.stdout

    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    hub_server.set_repo_flags("alice/auth", private=False, gated=True)
    monkeypatch.setenv("HF_TOKEN", BOB_WRITE_TOKEN)
    gated = run_cli("pull", "alice/auth", "--dest", str(tmp_path / "d"))
    assert gated.exit_code == 3 and "gated" in gated.stderr
    assert not (tmp_path / "d" / "current").exists()


def test_dropped_connection_resumes_and_current_never_points_to_a_partial_release(
        hub_server, logged_in, model_dir: Path, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from hubmgr.hf import remote as hub_remote

    monkeypatch.setattr(hub_remote, "DOWNLOAD_ATTEMPTS", 2)
    dest = tmp_path / "deploy"
    v1 = _ok(run_cli("push", str(model_dir), "alice/flaky", "--json"))
    _ok(run_cli("pull", "alice/flaky", "--dest", str(dest), "--json"))

    # A connection dropped mid-body once: the pull resumes and succeeds.
    (model_dir / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes()[:-8] + b"\1" * 8)
    v2 = _ok(run_cli("push", str(model_dir), "alice/flaky", "--json"))
    drop = hub_server.faults.drop(WEIGHTS, after_bytes=20_000)
    pulled = _ok(run_cli("pull", "alice/flaky", "--dest", str(dest), "--json"))
    assert drop.hits == 1 and pulled["commit_sha"] == v2["commit_sha"]
    assert (dest / "current" / "model.safetensors").read_bytes() == (model_dir / "model.safetensors").read_bytes()

    # The weights keep failing: the pull gives up, `current` stays on the last good release.
    _bump(model_dir, "v3\n")
    (model_dir / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes()[:-8] + b"\2" * 8)
    v3 = _ok(run_cli("push", str(model_dir), "alice/flaky", "--json"))
    hub_server.faults.fail(WEIGHTS, status=500, method="GET", times=None)
    failed = run_cli("pull", "alice/flaky", "--dest", str(dest), "--json")
    assert failed.exit_code == 3 and "HTTP 500" in failed.stderr
    assert (dest / "current").resolve().name == v2["commit_sha"]
    assert not (dest / "releases" / v3["commit_sha"]).exists()
    assert v1["commit_sha"] != v3["commit_sha"]

    # Fixed server: the next pull completes from the kept staging dir (small files are not fetched again).
    hub_server.faults.clear()
    hub_server.clear_requests()
    done = _ok(run_cli("pull", "alice/flaky", "--dest", str(dest), "--json"))
    assert done["commit_sha"] == v3["commit_sha"]
    assert (dest / "current" / "notes.txt").read_text() == "v3\n"
    assert hub_server.count("GET", r"/resolve/.*notes\.txt") == 0
    assert hub_server.count("GET", WEIGHTS) == 1


def test_corrupted_body_of_the_right_size_is_caught_by_sha256(
        hub_server, logged_in, model_dir: Path, tmp_path: Path, run_cli) -> None:
    dest = tmp_path / "deploy"
    v1 = _ok(run_cli("push", str(model_dir), "alice/corrupt", "--json"))
    _ok(run_cli("pull", "alice/corrupt", "--dest", str(dest), "--json"))
    _bump(model_dir, "v2\n")
    (model_dir / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes()[:-8] + b"\3" * 8)
    v2 = _ok(run_cli("push", str(model_dir), "alice/corrupt", "--json"))

    corrupt = hub_server.faults.corrupt(WEIGHTS)
    bad = run_cli("pull", "alice/corrupt", "--dest", str(dest), "--json")
    assert corrupt.hits == 1
    assert bad.exit_code != 0 and "sha256" in bad.stderr and "model.safetensors" in bad.stderr
    assert (dest / "current").resolve().name == v1["commit_sha"]
    assert not (dest / "releases" / v2["commit_sha"]).exists()

    good = _ok(run_cli("pull", "alice/corrupt", "--dest", str(dest), "--json"))
    assert good["commit_sha"] == v2["commit_sha"]
    assert (dest / "current" / "model.safetensors").read_bytes() == (model_dir / "model.safetensors").read_bytes()


def test_escaping_path_from_the_server_is_refused(hub_server, logged_in, model_dir: Path, tmp_path: Path,
                                                  run_cli) -> None:
    _ok(run_cli("push", str(model_dir), "alice/evil", "--json"))
    hub_server.faults.add_tree_entry("alice/evil", "../evil")
    dest = tmp_path / "deploy" / "inner"
    refused = run_cli("pull", "alice/evil", "--dest", str(dest), "--json")
    assert refused.exit_code != 0 and "escapes" in refused.stderr
    assert not (tmp_path / "deploy" / "evil").exists() and not (dest / "evil").exists()
    assert not (dest / "current").exists()
    assert hub_server.count("GET", "/resolve/") == 0  # refused before anything was downloaded


def test_pull_cache_makes_from_pretrained_work_offline(hub_server, logged_in, model_dir: Path, tmp_path: Path,
                                                       run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    v1 = _ok(run_cli("push", str(model_dir), "alice/cached", "--tag", "v1", "--json"))
    _bump(model_dir, "later\n")
    _ok(run_cli("push", str(model_dir), "alice/cached", "--json"))
    cached = _ok(run_cli("pull", "alice/cached@v1", "--cache", "--json"))
    assert cached["commit_sha"] == v1["commit_sha"] and cached["cache_dir"].endswith(v1["commit_sha"])

    from transformers import AutoModelForCausalLM

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub_server.clear_requests()
    model = AutoModelForCausalLM.from_pretrained("alice/cached", revision="v1")
    assert model.config.n_layer == 2
    assert hub_server.requests == []  # nothing reached the server


def test_tokens_never_appear_in_output_logs_or_catalog(hub_server, model_dir: Path, tmp_path: Path, run_cli,
                                                       monkeypatch: pytest.MonkeyPatch, caplog,
                                                       isolated_home: Path) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HUBMGR_DEBUG", "0")
    runs = []
    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    runs.append(run_cli("push", str(model_dir), "alice/secret-free", "--private", "--tag", "v1", "--json"))
    runs.append(run_cli("push", str(model_dir), "alice/secret-free"))
    runs.append(run_cli("pull", "alice/secret-free@v1", "--dest", str(tmp_path / "d")))
    runs.append(run_cli("status", "--dest", str(tmp_path / "d"), "--json"))
    runs.append(run_cli("remote", "ls", "alice/secret-free", "--json"))
    monkeypatch.setenv("HF_TOKEN", ALICE_READ_TOKEN)
    _bump(model_dir, "x\n")
    runs.append(run_cli("push", str(model_dir), "alice/secret-free", "--json"))
    monkeypatch.setenv("HF_TOKEN", BOB_WRITE_TOKEN)
    runs.append(run_cli("pull", "alice/secret-free", "--dest", str(tmp_path / "e")))
    assert [r.exit_code for r in runs] == [0, 0, 0, 0, 0, 3, 3]

    captured = "".join(r.stdout + r.stderr for r in runs) + caplog.text
    stored = b"".join(p.read_bytes() for base in (isolated_home, tmp_path, model_dir)
                      for p in base.rglob("*") if p.is_file() and not p.is_symlink())
    for token in (ALICE_WRITE_TOKEN, ALICE_READ_TOKEN, BOB_WRITE_TOKEN):
        assert token not in captured
        assert token.encode() not in stored
    assert any(p.name == "catalog.db" for p in isolated_home.rglob("*"))


def test_dry_run_changes_nothing_and_create_pr_leaves_main(hub_server, logged_in, model_dir: Path,
                                                           run_cli) -> None:
    (model_dir / "README.md").write_text("---\nlicense: mit\n---\n# tiny\n")
    dry = _ok(run_cli("push", str(model_dir), "alice/pr", "--dry-run", "--json"))
    assert dry["dry_run"] and "model.safetensors" in dry["files_uploaded"]
    assert "model/alice/pr" not in hub_server.storage.repos
    assert hub_server.count("POST") == hub_server.count("PUT") == 0

    main = _ok(run_cli("push", str(model_dir), "alice/pr", "--json"))
    _bump(model_dir, "proposal\n")
    dry = _ok(run_cli("push", str(model_dir), "alice/pr", "--dry-run", "--json"))
    assert dry["files_uploaded"] == ["notes.txt"] and dry["commit_sha"] == main["commit_sha"]
    pr = _ok(run_cli("push", str(model_dir), "alice/pr", "--create-pr", "--json"))
    assert pr["pr_url"].endswith("/alice/pr/discussions/1")
    repo = hub_server.storage.repos["model/alice/pr"]
    assert repo.branches["main"] == main["commit_sha"] and repo.prs[1] == pr["commit_sha"]


def test_pull_verifies_each_file_while_the_weights_still_download(
        hub_server, logged_in, model_dir: Path, tmp_path: Path, run_cli) -> None:
    """Issue 16: sha256 checks overlap the transfer; every check still holds (corrupt test above)."""
    from hubmgr.pull import pull

    _ok(run_cli("push", str(model_dir), "alice/overlap", "--json"))
    hub_server.faults.slow(WEIGHTS, delay=1.5, method="GET")  # the weights arrive last
    events = []
    result = pull("alice/overlap", dest=tmp_path / "deploy", progress=events.append)
    verified = [i for i, e in enumerate(events) if e.task == "pull:verify"]
    download_done = next(i for i, e in enumerate(events) if e.task.startswith("pull:alice") and e.finished)
    assert verified and verified[0] < download_done, [(e.task, e.description) for e in events]
    assert events[verified[-1]].finished and events[verified[-1]].completed == result.bytes_total
    lock = json.loads((tmp_path / "deploy" / "current" / "hubmgr.lock.json").read_text())
    assert {f["path"]: f["sha256"] for f in lock["files"]}["model.safetensors"] == hashlib.sha256(
        (model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert _files(tmp_path / "deploy" / "current")["model.safetensors"] == (model_dir / "model.safetensors").read_bytes()
