"""Deploy dir hygiene: releases share unchanged files (hard links), a dest remembers its source."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from hubmgr import deploy
from hubmgr.shared_files import link_or_copy
from serve_helpers import publish


def _pull(run_cli, spec: str, dest: Path, *extra: str) -> dict:
    run = run_cli("pull", spec, "--dest", str(dest), "--json", *extra)
    assert run.exit_code == 0, run.stderr
    return run.json()


def _disk_bytes(root: Path) -> int:
    """Bytes on disk under ``root``, each inode counted once (what `du` says)."""
    seen, total = set(), 0
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def test_readme_only_release_downloads_only_readme_from_the_hub(run_cli, hub_server, tiny_gpt2_dir: Path,
                                                                tmp_path: Path, monkeypatch) -> None:
    from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    dest = tmp_path / "srv"
    shas = [publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1", target="alice/adder")]
    first = _pull(run_cli, f"alice/adder@{shas[0]}", dest)
    model_size = first["bytes_total"]
    for version in ("v2", "v3"):
        shas.append(publish(run_cli, tiny_gpt2_dir, tmp_path, readme=version, target="alice/adder"))
        gets_before = len(hub_server.requests)
        result = _pull(run_cli, f"alice/adder@{shas[-1]}", dest)
        fetched = [r.path.rsplit("/", 1)[-1] for r in hub_server.requests[gets_before:]
                   if r.method == "GET" and "/resolve/" in r.path]
        assert fetched == ["README.md"], fetched  # the server sent only the changed file
        readme = (dest / "releases" / shas[-1] / "README.md").stat().st_size
        assert result["bytes_downloaded"] == readme
        assert result["bytes_shared"] == model_size - readme
    weights = [dest / "releases" / s / "model.safetensors" for s in shas]
    assert {w.stat().st_nlink for w in weights} == {3} and len({w.stat().st_ino for w in weights}) == 1
    assert _disk_bytes(dest / "releases") < 1.1 * model_size  # 3 releases ~ 1x the model
    assert not deploy.verify_release(dest / "releases" / shas[-1])  # intact by its own lock file


def test_local_registry_shares_files_and_a_damaged_kept_copy_is_downloaded_again(run_cli, tiny_gpt2_dir: Path,
                                                                                  tmp_path: Path) -> None:
    dest = tmp_path / "srv"
    a = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1")
    _pull(run_cli, "local:demo", dest)
    b = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v2")
    second = _pull(run_cli, "local:demo", dest)
    assert second["commit_sha"] == b and second["bytes_shared"] > 0.9 * second["bytes_total"]
    assert (dest / "releases" / a / "model.safetensors").stat().st_nlink == 2

    # someone edits a kept release in place (same size): it must not spread to the next release
    victim = dest / "releases" / b / "model.safetensors"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    os.unlink(victim)  # break the link first so only b's copy is damaged (a's stays intact)
    victim.write_bytes(bytes(data))
    c = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v3")
    third = _pull(run_cli, "local:demo", dest, "--keep", "5")
    assert third["commit_sha"] == c
    assert not deploy.verify_release(dest / "releases" / c)
    assert third["bytes_downloaded"] >= victim.stat().st_size  # fetched again, not linked from b's copy
    assert (dest / "releases" / c / "model.safetensors").read_bytes() == \
        (tiny_gpt2_dir / "model.safetensors").read_bytes()


def test_copy_when_hard_links_are_impossible(tmp_path: Path) -> None:
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second filesystem (/dev/shm) to show the copy fallback")
    with tempfile.TemporaryDirectory(dir=other) as d:
        src = Path(d) / "weights.bin"
        src.write_bytes(b"w" * 4096)
        dst = tmp_path / "release" / "weights.bin"
        assert link_or_copy(src, dst) is False  # EXDEV: copied
        assert dst.read_bytes() == src.read_bytes() and dst.stat().st_nlink == 1
    same = tmp_path / "other.bin"
    assert link_or_copy(dst, same) is True and dst.stat().st_nlink == 2


def test_dest_remembers_its_source(run_cli, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "srv"
    publish(run_cli, tiny_gpt2_dir, tmp_path, readme="a")
    other = publish(run_cli, tiny_gpt2_dir, tmp_path / "o", readme="b", target="local:other")
    _pull(run_cli, "local:demo", dest)
    refused = run_cli("pull", "local:other", "--dest", str(dest))
    assert refused.exit_code == 1
    assert "serves local:demo; refusing to pull local:other" in refused.stderr and "--switch-source" in refused.stderr
    assert deploy.read_lock(dest / "current").remote == "local:demo"
    switched = _pull(run_cli, "local:other", dest, "--switch-source")
    assert switched["commit_sha"] == other and deploy.read_lock(dest / "current").remote == "local:other"


def test_a_release_whose_files_a_kept_release_has_moves_no_byte(run_cli, hub_server, tiny_gpt2_dir: Path,
                                                                 tmp_path: Path, monkeypatch) -> None:
    """v3 has exactly v1's files (a reverted README): pulling it while v1 is kept downloads nothing."""
    from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    dest = tmp_path / "srv"
    shas = [publish(run_cli, tiny_gpt2_dir, tmp_path, readme=text, target="alice/revert") for text in ("v1", "v2", "v1")]
    assert len(set(shas)) == 3
    first = _pull(run_cli, f"alice/revert@{shas[0]}", dest)
    assert hub_server.bytes_served() >= first["bytes_total"] > 0  # the first pull did go through the server
    hub_server.clear_requests()
    again = _pull(run_cli, f"alice/revert@{shas[2]}", dest)
    assert hub_server.bytes_served() == 0 and hub_server.count("GET", "/resolve/") == 0
    assert again["bytes_downloaded"] == 0 and again["bytes_shared"] == again["bytes_total"] == first["bytes_total"]
    for f in deploy.read_lock(dest / "releases" / shas[2]).files:
        kept, new = dest / "releases" / shas[0] / f.path, dest / "releases" / shas[2] / f.path
        assert kept.stat().st_ino == new.stat().st_ino  # one copy on disk
    assert deploy.live_sha(dest) == shas[2] and not deploy.verify_release(dest / "releases" / shas[2])
