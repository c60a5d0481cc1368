"""Issue 15 in the TUI: signed/unsigned/INVALID badges on pushed and pulled rows, lineage in History."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tui_helpers import TERMINAL, plain, select, settle

pytestmark = pytest.mark.anyio


async def test_badges_on_pushed_and_pulled_rows_and_lineage_in_history(make_app, catalog, workspace: Path,
                                                                       tmp_path: Path) -> None:
    from hubmgr import trust
    from hubmgr.checkpoints import scan
    from hubmgr.sync import pull, push

    keys = trust.keygen(tmp_path / "keys")
    other = trust.keygen(tmp_path / "keys", name="other")
    runs = workspace / "runs"
    subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "code"], cwd=workspace, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace, check=True, capture_output=True,
                            text=True).stdout.strip()

    signed = push(runs / "gpt2-add-5k", "local:adder", sign=keys.private_key, catalog=catalog)
    push(runs / "gpt2-add-1k", "local:plain", sign="", catalog=catalog)
    deploy = workspace / "deploy"
    pull("local:adder", dest=deploy / "trusted", require_signature=[keys.public_key], catalog=catalog)
    pull("local:adder", dest=deploy / "tampered", require_signature=[keys.public_key], catalog=catalog)
    pull("local:plain", dest=deploy / "plain", catalog=catalog)
    # the signature of one deployed copy is swapped for a valid one by a key nobody trusted
    sig = deploy / "tampered" / "current" / "model.sig"
    files = {f["path"]: f["sha256"] for f in json.loads((sig.parent / "hubmgr.lock.json").read_text())["files"]}
    sig.unlink()
    sig.write_bytes(trust.sign_manifest({p: h for p, h in files.items() if p != "model.sig"},
                                        private_key=other.private_key, model_name="adder"))
    scan([deploy], catalog=catalog)

    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app, until=lambda: app.catalog_loaded)
        rows = {r.path: r for r in app.snapshot.rows}
        release = f"releases/{signed.commit_sha}"
        assert rows[str(runs / "gpt2-add-5k")].sync.label == f"pushed @{signed.commit_sha[:7]} signed"
        assert rows[str(runs / "gpt2-add-1k")].sync.label.endswith(" unsigned")
        by_dest = {Path(p).parent.parent.name: r for p, r in rows.items() if "/deploy/" in p}
        assert by_dest["trusted"].sync.signature == "signed" and release in by_dest["trusted"].path
        assert by_dest["tampered"].sync.signature == "INVALID"
        assert by_dest["plain"].sync.signature == "unsigned"
        table = app.screen.table
        cells = {str(c) for i in range(table.row_count) for c in table.get_row_at(i)}
        assert any(c.endswith(" ✓") for c in cells) and any(c.endswith(" ✗") for c in cells)
        assert any(c.endswith(" ·") for c in cells)

        await select(pilot, app, "gpt2-add-5k")
        assert "signature  signed" in " ".join(plain(app.screen.detail.query_one("#overview-body")).split("  ")) \
            or "signed" in plain(app.screen.detail.query_one("#overview-body"))
        await pilot.press("5")
        history = plain(app.screen.detail.query_one("#history-body"))
        assert "Lineage" in history and commit[:12] in history and "push" in history
