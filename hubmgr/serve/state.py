"""Small JSON state files in a deploy dir, written by ``serve`` and ``pull --follow``, read by ``status``.

Stdlib only, so ``hubmgr status`` stays fast. Writes are atomic (tmp + rename); a state file
that cannot be written (read-only dest) only costs the status line, never the server.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SERVE_STATE = ".hubmgr-serve.json"
FOLLOW_STATE = ".hubmgr-follow.json"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_state(dest: str | os.PathLike[str], name: str, doc: dict[str, Any]) -> bool:
    """Replace ``DEST/name`` with ``doc`` (plus ``updated_at``); False if the dest is not writable."""
    path = Path(dest) / name
    tmp = path.with_name(f".{name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps({**doc, "updated_at": now_iso()}, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return True
    except OSError:
        tmp.unlink(missing_ok=True)
        return False


def read_state(dest: str | os.PathLike[str], name: str) -> dict[str, Any] | None:
    """The state doc, or None when absent or unreadable (a damaged state file is not an error)."""
    try:
        doc = json.loads((Path(dest) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (systemd user)
        return True
    return True


def server_state(dest: str | os.PathLike[str]):
    """``ServerState`` from the state files of ``dest``, or None when neither serve nor follow ran there."""
    from ..deploy_models import ServerState

    serve, follow = read_state(dest, SERVE_STATE), read_state(dest, FOLLOW_STATE)
    if serve is None and follow is None:
        return None
    serve = serve or {}
    failed = serve.get("last_error") or {}
    follow_error = (follow or {}).get("last_error") or {}
    return ServerState(
        running=bool(serve.get("running")) and pid_alive(serve.get("pid")), url=serve.get("url"),
        serving_sha=serve.get("serving"), failed_sha=failed.get("sha"), failed_error=failed.get("error"),
        follow_error=(f"{follow_error.get('sha', '')[:12]}: {follow_error.get('error')}" if follow_error else None))
