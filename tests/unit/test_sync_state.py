"""The one sync-state decision (``hubmgr.sync_state``) from real catalog records and real files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from hubmgr.catalog import Catalog
from hubmgr.models import (SYNC_CONVERTED, SYNC_LOCAL, SYNC_MODIFIED, SYNC_PULLED, SYNC_PUSHED, CheckpointInfo,
                           FileInfo)
from hubmgr.sync_state import sync_states


def _info(path: Path) -> CheckpointInfo:
    files = tuple(FileInfo(p.name, p.stat().st_size) for p in sorted(path.iterdir())) if path.is_dir() else ()
    return CheckpointInfo(path=str(path), name=path.name, kind="hf_model", format="safetensors", size_bytes=1,
                          files=files)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _push(catalog: Catalog, folder: Path, sha: str = "a" * 40) -> None:
    catalog.record_push(checkpoint_path=str(folder), remote="local:m", repo="m", revision="main", tag=None,
                        commit_sha=sha, url=None,
                        details={"files": [{"path": p.name, "sha256": _sha(p)} for p in sorted(folder.iterdir())]})


def _state(catalog: Catalog, path: Path):
    return sync_states(catalog)(_info(path))


def test_modified_is_told_by_content_not_by_file_times(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    folder = tmp_path / "m"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(b"weights v1")
    assert _state(catalog, folder).state == SYNC_LOCAL
    _push(catalog, folder)
    state = _state(catalog, folder)
    assert (state.state, state.remote, state.text) == (SYNC_PUSHED, "local:m", "pushed @aaaaaaa")

    later = time.time() + 60
    os.utime(weights, (later, later))  # touched (e.g. copied back) but the same bytes: still what the remote holds
    assert _state(catalog, folder).state == SYNC_PUSHED
    (folder / "README.md").write_text("card written after the push\n")  # added since: not a change of the model
    assert _state(catalog, folder).state == SYNC_PUSHED

    weights.write_bytes(b"weights v2")  # retrained
    state = _state(catalog, folder)
    assert (state.state, state.text) == (SYNC_MODIFIED, "modified @aaaaaaa")
    weights.write_bytes(b"weights v1")  # put back: the remote holds exactly this again
    assert _state(catalog, folder).state == SYNC_PUSHED


def test_converted_copies_and_pulled_releases(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    source = tmp_path / "model.pt"
    source.write_bytes(b"pickle")
    out = tmp_path / "model-safetensors"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"converted")
    catalog.record_conversion(source_path=str(source), source_sha256=_sha(source), output_path=str(out),
                              outputs=[{"path": "model.safetensors"}])
    assert _state(catalog, source).state == SYNC_CONVERTED
    _push(catalog, out, "b" * 40)
    state = _state(catalog, source)  # its converted copy was pushed: it counts for the source
    assert (state.state, state.commit_sha) == (SYNC_PUSHED, "b" * 40)
    source.write_bytes(b"another pickle")  # the source has no push of its own to compare with
    assert _state(catalog, source).state == SYNC_PUSHED

    release = tmp_path / "srv" / "releases" / ("c" * 40)
    release.mkdir(parents=True)
    catalog.record_pull(remote="local:m", repo="m", revision="v1", commit_sha="c" * 40, dest=str(tmp_path / "srv"),
                        details={})
    state = _state(catalog, release)
    assert (state.state, state.text) == (SYNC_PULLED, "pulled @ccccccc")
