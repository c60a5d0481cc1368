"""The table's sync state from real catalog push records (no app needed)."""

from __future__ import annotations

from hubmgr.catalog import Catalog
from hubmgr.tui.rows import SYNC_BEHIND, SYNC_PUSHED, sync_state


def _info(files: dict[str, str]) -> dict:
    return {"path": "/ws/m", "files": [{"path": p, "size_bytes": 1, "sha256": s} for p, s in files.items()]}


def test_behind_is_told_by_content_of_files_the_push_recorded(tmp_path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    catalog.record_push(checkpoint_path="/ws/m", remote="local:m", repo="m", revision=None, tag=None,
                        commit_sha="a" * 40, url=None,
                        details={"files": [{"path": "model.safetensors", "sha256": "1" * 64}]})
    pushes = catalog.list_pushes("/ws/m")

    same = sync_state(_info({"model.safetensors": "1" * 64}), pushes, [], {})
    assert same.label == SYNC_PUSHED
    card_added_since = sync_state(_info({"model.safetensors": "1" * 64, "README.md": "2" * 64}), pushes, [], {})
    assert card_added_since.label == SYNC_PUSHED
    retrained = sync_state(_info({"model.safetensors": "3" * 64}), pushes, [], {})
    assert retrained.label == SYNC_BEHIND
