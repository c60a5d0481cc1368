"""The SQLite catalog: checkpoints, file hashes, evals, conversions, pushes, pulls.

The only module that imports ``sqlite3``. A connection never crosses threads:
each public method opens its own (cheap for SQLite) and closes it.
The schema is versioned by ``PRAGMA user_version`` and an append-only list of
migrations; an older catalog upgrades in place when opened.

The catalog is an index, never the source of truth. Every sqlite error becomes one
``CatalogError`` line (damaged, locked, unwritable). Bookkeeping done after or beside the
real work (records, hash caches) is best effort: a failure becomes a warning (``warnings``,
and ``on_notice`` as it happens) and the command's work stands. Reads whose answer *is* the
command (``ls``, gc's "was it pushed?") raise.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import HubmgrError
from .models import CheckpointInfo

# Append only. Never edit a migration that has shipped: add a new one.
MIGRATIONS: list[str] = [
    # 1: foundation (issue 2), with room for the later lifecycle steps.
    """
    CREATE TABLE checkpoints (
        path TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        format TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        params INTEGER,
        step INTEGER,
        best_metric REAL,
        verdict TEXT NOT NULL,
        info_json TEXT NOT NULL,
        scanned_at REAL NOT NULL
    );
    CREATE TABLE file_hashes (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        hashed_at REAL NOT NULL
    );
    CREATE TABLE evals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        checkpoint_path TEXT NOT NULL,
        weights_sha256 TEXT,
        suite TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        source TEXT NOT NULL,
        params_json TEXT NOT NULL DEFAULT '{}',
        details_json TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE INDEX evals_by_checkpoint ON evals(checkpoint_path);
    CREATE TABLE conversions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source_path TEXT NOT NULL,
        source_sha256 TEXT,
        output_path TEXT NOT NULL,
        outputs_json TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE pushes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        checkpoint_path TEXT NOT NULL,
        remote TEXT NOT NULL,
        repo TEXT NOT NULL,
        revision TEXT,
        tag TEXT,
        commit_sha TEXT NOT NULL,
        url TEXT,
        details_json TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE INDEX pushes_by_checkpoint ON pushes(checkpoint_path);
    CREATE TABLE pulls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        remote TEXT NOT NULL,
        repo TEXT NOT NULL,
        revision TEXT,
        commit_sha TEXT NOT NULL,
        dest TEXT NOT NULL,
        details_json TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    """,
    # 2: lineage (issue 15): where a checkpoint came from, captured when it is first scanned.
    """
    CREATE TABLE lineage (
        path TEXT PRIMARY KEY,
        lineage_json TEXT NOT NULL,
        recorded_at REAL NOT NULL
    );
    """,
    # 3: what a checkpoint's files looked like when inspected (names, sizes, mtimes, inodes), so a
    # rescan of an unchanged checkpoint reads no file contents (issue 16).
    """
    ALTER TABLE checkpoints ADD COLUMN fingerprint TEXT;
    """,
    # 4: info_json keeps only what is not stored elsewhere or derived (issue 16): the path is the
    # key, sync_state and lineage are derived (lineage has its own table), and the tensor lists,
    # which only `inspect` shows, get their own column. A rescan or `ls` of thousands of
    # checkpoints then reads small summaries and never parses a tensor list.
    """
    ALTER TABLE checkpoints ADD COLUMN tensors_json TEXT;
    UPDATE checkpoints SET tensors_json = json_extract(info_json, '$.tensors'),
        info_json = json_remove(info_json, '$.path', '$.tensors', '$.sync_state', '$.lineage');
    """,
    # 5: files a scan looked into (first bytes) and found not to be checkpoints (.bin token data,
    # logs...), with their stat fingerprint: a rescan does not open them again while unchanged.
    """
    CREATE TABLE not_checkpoints (
        path TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
]

_NOT_IN_INFO_JSON = ("path", "tensors", "sync_state", "lineage")


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def stored_info_dict(path: str, info_text: str, tensors_text: str | None = None, *,
                     tensors: bool = False) -> dict[str, Any]:
    """A stored checkpoint in the shape of ``CheckpointInfo.to_dict()`` (``tensors``: with its tensor list)."""
    data = {"path": path, **json.loads(info_text), "sync_state": None, "lineage": None}
    if tensors:
        data["tensors"] = json.loads(tensors_text) if tensors_text else []
    return data


def stored_info_json(path: str, info_text: str, sync_state_json: str = "null") -> str:
    """The JSON text of ``stored_info_dict(path, info_text)`` with a sync state, spliced without parsing
    (``info_text`` is a JSON object this module wrote): what ``ls --json`` streams per row."""
    body = info_text.strip()[1:-1].strip()
    return (f'{{"path":{json.dumps(path)},' + (body + "," if body else "")
            + f'"sync_state":{sync_state_json},"lineage":null}}')


def _under(prefix: str) -> tuple[str, tuple[str, str, str]]:
    """A WHERE clause (and its arguments) for ``prefix`` itself and every path below it.

    A range on the key rather than LIKE: it uses the index, and LIKE ignores ASCII case, so a
    rescan of /data/Runs would have touched the entries of /data/runs. "0" sorts right after "/".
    """
    base = prefix.rstrip("/")
    return "(path = ? OR (path >= ? AND path < ?))", (prefix, base + "/", base + "0")


@dataclass(frozen=True)
class EvalRecord:
    id: int
    checkpoint_path: str
    weights_sha256: str | None
    suite: str
    metric: str
    value: float
    source: str  # "hubmgr" for our own runs, "trainer_state" / "all_results" / ... for imported ones
    params: dict[str, Any]
    details: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class PushRecord:
    id: int
    checkpoint_path: str
    remote: str
    repo: str
    revision: str | None
    tag: str | None
    commit_sha: str
    url: str | None
    details: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class PullRecord:
    id: int
    remote: str
    repo: str
    revision: str | None
    commit_sha: str
    dest: str
    details: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class ConversionRecord:
    id: int
    source_path: str
    source_sha256: str | None
    output_path: str
    outputs: list[dict[str, Any]]
    created_at: float


class CatalogError(HubmgrError):
    pass


LOCK_NOTICE_AFTER = 2.0  # seconds of waiting on another process's lock before saying so


def _lock_wait() -> float:
    """How long to wait for another process's lock in all (env HUBMGR_CATALOG_TIMEOUT, default 30 s)."""
    try:
        return max(0.0, float(os.environ.get("HUBMGR_CATALOG_TIMEOUT", "30")))
    except ValueError:
        return 30.0


def _is_locked(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _best_effort(default: Any) -> Callable:
    """Bookkeeping: a ``CatalogError`` becomes a warning and ``default`` is returned."""
    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def run(self: "Catalog", *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except CatalogError as exc:
                self._warn(f"{exc.message}; not recorded in the catalog (the work itself is done). "
                           f"{exc.hint or ''}".strip())
                return default() if callable(default) else default
        return run
    return wrap


class Catalog:
    """Handle on one catalog file. Safe to share between threads (no shared connection)."""

    def __init__(self, path: str | Path, *, on_notice: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self._migrated = False
        self.on_notice = on_notice  # called with each warning as it happens (the CLI prints it)
        self.warnings: list[str] = []  # best-effort failures, once each

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            if self.on_notice is not None:
                self.on_notice(message)

    def _error(self, exc: BaseException) -> CatalogError:
        """One line for any sqlite or file-system error on the catalog."""
        if isinstance(exc, CatalogError):
            return exc
        if isinstance(exc, sqlite3.Error) and _is_locked(exc):
            return CatalogError(f"catalog {self.path} is locked by another process (waited {_lock_wait():.0f} s)",
                                "let the other hubmgr (scan, TUI) finish, then try again")
        if isinstance(exc, OSError):
            return CatalogError(f"cannot open catalog {self.path}: {exc.strerror or exc}",
                                "check HUBMGR_HOME / --catalog point at a writable directory")
        return CatalogError(f"catalog {self.path} is damaged ({exc})",
                            f"rebuild it: hubmgr scan --rebuild DIR (or move {self.path.name} aside)")

    # -- plumbing --------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._migrated:
            self.migrate()
        conn = self._open(begin=True)
        try:
            with conn:  # commit on success, roll back on error
                yield conn
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            conn.close()

    def _open(self, *, begin: bool = False) -> sqlite3.Connection:
        """A connection; with ``begin`` inside a write transaction (``BEGIN IMMEDIATE``).

        Waits for another process's lock: quietly for ``LOCK_NOTICE_AFTER`` s, then with a
        notice up to ``HUBMGR_CATALOG_TIMEOUT``, then a clean ``CatalogError``.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=min(LOCK_NOTICE_AFTER, _lock_wait()))
        except (sqlite3.Error, OSError) as exc:
            raise self._error(exc) from exc
        conn.row_factory = sqlite3.Row

        def setup() -> None:
            conn.execute("PRAGMA journal_mode=WAL")
            # a commit does not wait for an fsync (SQLite's advice for WAL): the catalog is an index, a
            # power cut may lose its last records but never corrupts it; every command saves the wait
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            if begin:
                conn.execute("BEGIN IMMEDIATE")

        try:
            try:
                setup()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or _lock_wait() <= LOCK_NOTICE_AFTER:
                    raise
                self._warn(f"the catalog {self.path} is locked by another process; waiting up to "
                           f"{_lock_wait():.0f} s")
                conn.execute(f"PRAGMA busy_timeout = {int((_lock_wait() - LOCK_NOTICE_AFTER) * 1000)}")
                setup()
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        return conn

    @property
    def schema_version(self) -> int:
        conn = self._open()
        try:
            return conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            conn.close()

    def check(self) -> int:
        """Open, migrate and read every table once; ``CatalogError`` if unusable. Returns the checkpoint count."""
        with self._connect() as conn:
            for table in ("file_hashes", "evals", "conversions", "pushes", "pulls", "lineage", "not_checkpoints"):
                conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            return conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0]

    def move_aside(self) -> Path | None:
        """Rename the catalog file (and its -wal/-shm) to ``NAME.aside-TIMESTAMP``; returns the new path."""
        if not self.path.exists():
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.aside-{stamp}")
        try:
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    os.replace(src, f"{aside}{suffix}")
        except OSError as exc:
            raise self._error(exc) from exc
        self._migrated = False
        return aside

    def migrate(self) -> int:
        """Apply pending migrations in order; returns the resulting version."""
        conn = self._open()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise CatalogError(
                    f"catalog {self.path} has schema v{version}, newer than this hubmgr (v{len(MIGRATIONS)})",
                    "upgrade hubmgr",
                )
            for number in range(version + 1, len(MIGRATIONS) + 1):
                # executescript commits first; run each migration plus its version bump atomically.
                try:
                    conn.executescript("BEGIN IMMEDIATE;\n" + MIGRATIONS[number - 1]
                                       + f"\nPRAGMA user_version = {number};\nCOMMIT;")
                except sqlite3.OperationalError:
                    if conn.in_transaction:
                        conn.rollback()
                    if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                        continue  # another hubmgr opening the same new catalog applied it first
                    raise
            self._migrated = True
            return len(MIGRATIONS)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            conn.close()

    # -- file hash cache -------------------------------------------------------
    @_best_effort(None)
    def cached_sha256(self, path: str, size: int, mtime_ns: int, inode: int) -> str | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT sha256 FROM file_hashes WHERE path=? AND size=? AND mtime_ns=? AND inode=?",
                (path, size, mtime_ns, inode),
            ).fetchone()
        return row[0] if row else None

    @_best_effort(None)
    def store_sha256(self, path: str, size: int, mtime_ns: int, inode: int, sha256: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO file_hashes(path, size, mtime_ns, inode, sha256, hashed_at) VALUES (?,?,?,?,?,?)",
                (path, size, mtime_ns, inode, sha256, time.time()),
            )

    @_best_effort(dict)
    def cached_sha256_under(self, prefix: str) -> dict[str, tuple[int, int, int, str]]:
        """path -> (size, mtime_ns, inode, sha256) of cached hashes under ``prefix`` (one query for a scan)."""
        where, args = _under(prefix)
        with self._connect() as conn:
            rows = conn.execute(f"SELECT path, size, mtime_ns, inode, sha256 FROM file_hashes WHERE {where}",
                                args).fetchall()
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    @_best_effort(None)
    def store_sha256_many(self, rows: list[tuple[str, int, int, int, str]]) -> None:
        """Store (path, size, mtime_ns, inode, sha256) rows in one transaction."""
        if not rows:
            return
        now = time.time()
        with self._connect() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO file_hashes(path, size, mtime_ns, inode, sha256, hashed_at) VALUES (?,?,?,?,?,?)",
                [(*row, now) for row in rows],
            )

    # -- checkpoints -----------------------------------------------------------
    @_best_effort(None)
    def upsert_checkpoints(self, infos: list[CheckpointInfo] | tuple[CheckpointInfo, ...],
                           fingerprints: dict[str, str] | None = None) -> None:
        """Store inspections (one transaction); ``fingerprints``: path -> ``rescan.fingerprint``."""
        now = time.time()
        fingerprints = fingerprints or {}
        rows = []
        for i in infos:
            data = i.to_dict()
            tensors = data.get("tensors") or []
            for key in _NOT_IN_INFO_JSON:
                data.pop(key, None)
            rows.append((i.path, i.name, i.kind, i.format, i.size_bytes, i.params, i.step, i.best_metric,
                         i.safety.verdict, _compact(data), _compact(tensors), now, fingerprints.get(i.path)))
        with self._connect() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO checkpoints(path, name, kind, format, size_bytes, params, step, best_metric,"
                " verdict, info_json, tensors_json, scanned_at, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )

    def checkpoint_rows_under(self, prefix: str) -> list[tuple[str, str | None, str, str]]:
        """(path, fingerprint, warnings JSON, info JSON) of every checkpoint stored under ``prefix``: what a
        rescan compares, in one query; the texts are parsed only if someone looks (``stored_info_dict``)."""
        where, args = _under(prefix)
        with self._connect() as conn:
            cursor = conn.cursor()
            cursor.row_factory = None  # plain tuples: no Row object per checkpoint
            return cursor.execute(f"SELECT path, fingerprint, json_extract(info_json, '$.warnings'), info_json"
                                  f" FROM checkpoints WHERE {where}", args).fetchall()

    def checkpoint_texts(self) -> list[tuple[str, str]]:
        """(path, info JSON) of every stored checkpoint, by path: ``ls`` without parsing."""
        with self._connect() as conn:
            cursor = conn.cursor()
            cursor.row_factory = None
            return cursor.execute("SELECT path, info_json FROM checkpoints ORDER BY path").fetchall()

    def list_checkpoint_dicts(self, *, tensors: bool = True) -> list[dict[str, Any]]:
        """Every stored checkpoint as its JSON dict (the shape of ``CheckpointInfo.to_dict()``).

        ``tensors=False`` leaves the tensor lists out (not even read): what a table of thousands
        of checkpoints needs (the TUI's first paint).
        """
        column = "tensors_json" if tensors else "NULL"
        with self._connect() as conn:
            rows = conn.execute(f"SELECT path, info_json, {column} FROM checkpoints ORDER BY path").fetchall()
        return [stored_info_dict(r[0], r[1], r[2], tensors=tensors) for r in rows]

    def get_checkpoint_dict(self, path: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute("SELECT info_json, tensors_json FROM checkpoints WHERE path=?", (path,)).fetchone()
        return stored_info_dict(path, row[0], row[1], tensors=True) if row else None

    @_best_effort(None)
    def delete_checkpoint(self, path: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM checkpoints WHERE path=?", (path,))

    @_best_effort(0)
    def forget_missing(self, under: str, present: set[str]) -> int:
        """Drop checkpoints under ``under`` that a rescan no longer found."""
        where, args = _under(under)
        with self._connect() as conn:
            gone = [(r[0],) for r in conn.execute(f"SELECT path FROM checkpoints WHERE {where}", args)
                    if r[0] not in present]
            conn.executemany("DELETE FROM checkpoints WHERE path=?", gone)
        return len(gone)

    @_best_effort(dict)
    def not_checkpoints_under(self, prefix: str) -> dict[str, str]:
        """path -> fingerprint of files under ``prefix`` the last scan found not to be checkpoints."""
        where, args = _under(prefix)
        with self._connect() as conn:
            return dict(conn.execute(f"SELECT path, fingerprint FROM not_checkpoints WHERE {where}", args).fetchall())

    @_best_effort(None)
    def replace_not_checkpoints_under(self, prefix: str, rows: list[tuple[str, str]]) -> None:
        """What a scan of ``prefix`` found not to be checkpoints replaces what was recorded there."""
        where, args = _under(prefix)
        with self._connect() as conn:
            conn.execute(f"DELETE FROM not_checkpoints WHERE {where}", args)
            conn.executemany("INSERT OR REPLACE INTO not_checkpoints(path, fingerprint) VALUES (?,?)", rows)

    # -- evals -----------------------------------------------------------------
    @_best_effort(0)
    def record_eval(
        self, *, checkpoint_path: str, weights_sha256: str | None, suite: str, metric: str, value: float,
        source: str, params: dict[str, Any] | None = None, details: dict[str, Any] | None = None,
    ) -> int:
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO evals(checkpoint_path, weights_sha256, suite, metric, value, source, params_json,"
                " details_json, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (checkpoint_path, weights_sha256, suite, metric, float(value), source,
                 json.dumps(params or {}), json.dumps(details or {}), time.time()),
            )
            return int(cur.lastrowid)

    def list_evals(self, checkpoint_path: str | None = None) -> list[EvalRecord]:
        sql = "SELECT * FROM evals"
        args: tuple = ()
        if checkpoint_path is not None:
            sql += " WHERE checkpoint_path=?"
            args = (checkpoint_path,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [
            EvalRecord(r["id"], r["checkpoint_path"], r["weights_sha256"], r["suite"], r["metric"], r["value"],
                       r["source"], json.loads(r["params_json"]), json.loads(r["details_json"]), r["created_at"])
            for r in rows
        ]

    # -- conversions -----------------------------------------------------------
    @_best_effort(0)
    def record_conversion(self, *, source_path: str, source_sha256: str | None, output_path: str,
                          outputs: list[dict[str, Any]]) -> int:
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO conversions(source_path, source_sha256, output_path, outputs_json, created_at)"
                " VALUES (?,?,?,?,?)",
                (source_path, source_sha256, output_path, json.dumps(outputs), time.time()),
            )
            return int(cur.lastrowid)

    def list_conversions(self, source_path: str | None = None) -> list[ConversionRecord]:
        sql = "SELECT * FROM conversions"
        args: tuple = ()
        if source_path is not None:
            sql += " WHERE source_path=? OR output_path=?"
            args = (source_path, source_path)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [ConversionRecord(r["id"], r["source_path"], r["source_sha256"], r["output_path"],
                                 json.loads(r["outputs_json"]), r["created_at"]) for r in rows]

    # -- lineage ---------------------------------------------------------------
    @_best_effort(None)
    def record_lineage(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """Store (checkpoint path, lineage dict) rows in one transaction."""
        if not rows:
            return
        now = time.time()
        with self._connect() as conn:
            conn.executemany("INSERT OR REPLACE INTO lineage(path, lineage_json, recorded_at) VALUES (?,?,?)",
                             [(path, json.dumps(data), now) for path, data in rows])

    def get_lineage(self, path: str) -> tuple[dict[str, Any], float] | None:
        """The lineage recorded for ``path`` and when, or None."""
        with self._connect() as conn:
            row = conn.execute("SELECT lineage_json, recorded_at FROM lineage WHERE path=?", (path,)).fetchone()
        return (json.loads(row[0]), float(row[1])) if row else None

    @_best_effort(dict)
    def lineage_times_under(self, prefix: str) -> dict[str, float]:
        """path -> recorded_at for every lineage under ``prefix`` (one query for a scan)."""
        where, args = _under(prefix)
        with self._connect() as conn:
            rows = conn.execute(f"SELECT path, recorded_at FROM lineage WHERE {where}", args).fetchall()
        return {r[0]: float(r[1]) for r in rows}

    # -- pushes and pulls ------------------------------------------------------
    @_best_effort(0)
    def record_push(self, *, checkpoint_path: str, remote: str, repo: str, revision: str | None, tag: str | None,
                    commit_sha: str, url: str | None, details: dict[str, Any] | None = None) -> int:
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO pushes(checkpoint_path, remote, repo, revision, tag, commit_sha, url, details_json,"
                " created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (checkpoint_path, remote, repo, revision, tag, commit_sha, url, json.dumps(details or {}),
                 time.time()),
            )
            return int(cur.lastrowid)

    def list_pushes(self, checkpoint_path: str | None = None) -> list[PushRecord]:
        sql = "SELECT * FROM pushes"
        args: tuple = ()
        if checkpoint_path is not None:
            sql += " WHERE checkpoint_path=?"
            args = (checkpoint_path,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [PushRecord(r["id"], r["checkpoint_path"], r["remote"], r["repo"], r["revision"], r["tag"],
                           r["commit_sha"], r["url"], json.loads(r["details_json"]), r["created_at"]) for r in rows]

    @_best_effort(0)
    def record_pull(self, *, remote: str, repo: str, revision: str | None, commit_sha: str, dest: str,
                    details: dict[str, Any] | None = None) -> int:
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO pulls(remote, repo, revision, commit_sha, dest, details_json, created_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (remote, repo, revision, commit_sha, dest, json.dumps(details or {}), time.time()),
            )
            return int(cur.lastrowid)

    def list_pulls(self, dest: str | None = None) -> list[PullRecord]:
        sql = "SELECT * FROM pulls"
        args: tuple = ()
        if dest is not None:
            sql += " WHERE dest=?"
            args = (dest,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [PullRecord(r["id"], r["remote"], r["repo"], r["revision"], r["commit_sha"], r["dest"],
                           json.loads(r["details_json"]), r["created_at"]) for r in rows]
