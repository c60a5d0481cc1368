"""Fault injection for tests and users' CI: size-limited and read-only directories, and crash trials.

``small_disk`` and ``read_only`` mount a tmpfs when the process may (root or CAP_SYS_ADMIN, as in CI
containers) and otherwise fall back to what an ordinary user can do (``chmod``), or yield ``None`` so
the caller can skip. The crash-trial harness (``run_trials``) lives below.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence


def _mount(args: list[str]) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def small_disk(path: Path, size_bytes: int) -> Iterator[Path | None]:
    """``path`` as a tmpfs of ``size_bytes``: writes beyond it fail with ENOSPC. ``None`` if not possible."""
    path.mkdir(parents=True, exist_ok=True)
    if not _mount(["-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)]):
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """Make the existing directory ``path`` read-only for this process (a read-only tmpfs copy as root)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(mode)
        return
    saved = path.with_name(path.name + ".ro-saved")
    os.rename(path, saved)
    path.mkdir()
    if not _mount(["-t", "tmpfs", "tmpfs", str(path)]):
        path.rmdir()
        os.rename(saved, path)
        raise RuntimeError("cannot mount a tmpfs to make a read-only directory")
    try:
        shutil.copytree(saved, path, symlinks=True, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
        path.rmdir()
        os.rename(saved, path)


# --- catalog damage ----------------------------------------------------------------------------


def damage_catalog(path: Path, how: str, *, seed: int = 0) -> None:
    """Damage a SQLite catalog the ways disks and people do.

    ``random``: random bytes; ``truncated``: cut in the middle; ``pages``: random bytes over a few
    pages past the header; ``no-table``: a table dropped (schema version unchanged).
    """
    import random
    import sqlite3

    rng = random.Random(seed)
    # fold the WAL in first so the damage is not undone by it
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if how == "no-table":
            conn.execute("DROP TABLE checkpoints")
            conn.commit()
            return
    size = path.stat().st_size
    if how == "random":
        path.write_bytes(rng.randbytes(max(size, 4096)))
    elif how == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
    elif how == "pages":
        page = 4096
        with open(path, "r+b") as fh:
            for n in rng.sample(range(1, max(2, size // page)), k=min(3, max(1, size // page - 1))):
                fh.seek(n * page)
                fh.write(rng.randbytes(page))
    else:
        raise ValueError(f"unknown damage {how!r}")


# --- crash trials ------------------------------------------------------------------------------
#
# A trial starts a real ``hubmgr`` process, sends it SIGKILL, SIGINT or SIGTERM after a seeded
# random delay (somewhere in the time an undisturbed run takes), then checks the invariants:
# nothing invalid under a final name, the remote at the old or the new commit (never between),
# DEST/current on a complete verified release, the catalog opens, `git fsck` is clean, a signal
# that Python could handle ends in one line (no traceback), and the same command run again
# succeeds and reaches the new state.

SCENARIOS = ("convert", "push-local", "push-hub", "pull-local", "pull-hub", "rollback", "push-lfs-http", "pull-lfs-http")
SIGNALS = ("KILL", "INT", "TERM")


@dataclass(frozen=True)
class TrialResult:
    scenario: str
    trial: int
    signal: str
    delay: float  # seconds after the start when the signal was sent
    returncode: int
    signalled: bool  # False: the run had already finished
    early: bool  # the signal came outside hubmgr's handlers (interpreter start-up or final teardown)
    violations: tuple[str, ...]
    stderr_tail: str = ""  # the last line hubmgr printed


@dataclass(frozen=True)
class TrialReport:
    results: tuple[TrialResult, ...]

    def table(self) -> list[tuple[str, int, int, int, int]]:
        """(scenario, trials, clean, violations, early) per scenario, in SCENARIOS order."""
        rows = []
        for name in dict.fromkeys(r.scenario for r in self.results):
            rs = [r for r in self.results if r.scenario == name]
            rows.append((name, len(rs), sum(not r.violations for r in rs), sum(bool(r.violations) for r in rs),
                         sum(r.early for r in rs)))
        return rows

    def format_table(self) -> str:
        lines = [f"{'scenario':<12} {'trials':>6} {'clean':>6} {'violations':>10} {'early':>6}"]
        lines += [f"{n:<12} {t:>6} {c:>6} {v:>10} {e:>6}" for n, t, c, v, e in self.table()]
        return "\n".join(lines)

    @property
    def violations(self) -> list[str]:
        return [f"{r.scenario} #{r.trial} SIG{r.signal} at {r.delay:.2f}s: {v}" for r in self.results
                for v in r.violations]


def hubmgr_command() -> list[str]:
    """The installed console script next to this interpreter (else ``python -m hubmgr``)."""
    script = Path(sys.executable).parent / "hubmgr"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hubmgr"]


class _Scenario:
    """One kind of trial: a world (``setup``), the command to kill, its invariants."""

    name = ""

    def __init__(self, root: Path, env: dict[str, str], models: dict[str, Path], hub_url: str | None,
                 lfs_server: tuple[str, Path] | None = None) -> None:
        self.root, self.env, self.models, self.hub_url = root, env, models, hub_url
        self.lfs_url, self.lfs_storage = lfs_server or (None, Path())  # an HTTP LFS server: URL, storage dir
        self.k = 0  # trial number: commands alternate between two targets so every run changes something

    def run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*hubmgr_command(), *args], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=600)
        if check and proc.returncode != 0:
            raise RuntimeError(f"hubmgr {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return proc

    def setup(self) -> None: ...
    def command(self) -> list[str]: raise NotImplementedError
    def check(self, *, finished: bool) -> list[str]: raise NotImplementedError

    def rerun_command(self, args: list[str]) -> list[str]:
        """What a user runs again after the crash (the same command unless that is not idempotent)."""
        return args

    def advance(self) -> None:
        self.k += 1


class _Convert(_Scenario):
    name = "convert"

    def setup(self) -> None:
        self.out = self.root / "out"
        self.run(["convert", str(self.models["bin"]), "--out", str(self.out)])
        self.reference = {p.name: _sha256(p) for p in self.out.iterdir()}

    def command(self) -> list[str]:
        return ["convert", str(self.models["bin"]), "--out", str(self.out), "--force", "--json"]

    def check(self, *, finished: bool) -> list[str]:
        problems = []
        aside = [p for p in self.root.iterdir() if p.name.startswith(".out.hubmgr-old-")]
        if not self.out.exists():
            if finished or not aside:
                problems.append("the output folder is gone" + ("" if aside else " and no old copy is left to restore"))
            return problems
        got = {p.name: _sha256(p) for p in self.out.iterdir()}
        if got != self.reference:
            problems.append(f"out/ differs from a complete conversion: {sorted(set(got) ^ set(self.reference))} "
                            f"or changed content")
        if finished and any(".hubmgr-" in p.name for p in self.root.iterdir()):
            problems.append("temp outputs left after a successful run")
        return problems


class _GitPush(_Scenario):
    name = "push-local"
    spec = "local:trial"

    def setup(self) -> None:
        self.run(["push", str(self.models["a"]), self.spec])
        self.registry = Path(self.env["HUBMGR_HOME"]) / "registry" / "trial.git"

    def folder(self) -> Path:
        return self.models["b" if self.k % 2 == 0 else "a"]

    def command(self) -> list[str]:
        self.before = self.tip()
        return ["push", str(self.folder()), self.spec, "--json"]

    def tip(self) -> dict[str, tuple[int, str]]:
        from hubmgr.git.cmd import git_text

        sha = git_text(["--git-dir", str(self.registry), "rev-parse", "refs/heads/main"], lfs=False)
        tree, self.lfs = _git_tree(self.registry, sha)
        return {"": (0, sha), **tree}

    def _tip_problems(self, finished: bool) -> list[str]:
        now = self.tip()
        same = _same_tree(now, self.folder())
        problems = []
        if now[""] != self.before[""] and not same:
            problems.append(f"the branch moved to {now[''][1][:12]}, which is neither the old commit nor the new model")
        if finished and not same:
            problems.append("after a successful push the branch does not hold the model")
        return problems

    def check(self, *, finished: bool) -> list[str]:
        from hubmgr.git.cmd import run_git
        from hubmgr.git.remote import lfs_object_path

        problems = self._tip_problems(finished)
        for path in self.lfs:
            if not lfs_object_path(self.registry, self.lfs[path]).is_file():
                problems.append(f"{path}: its LFS object is missing on the remote")
        fsck = run_git(["--git-dir", str(self.registry), "fsck", "--no-progress"], lfs=False, check=False)
        if fsck.returncode != 0:
            problems.append(f"git fsck: {fsck.stderr.decode(errors='replace').strip()[-300:]}")
        return problems


class _HubPush(_GitPush):
    name = "push-hub"
    spec = "alice/trial"

    def setup(self) -> None:
        self.run(["push", str(self.models["a"]), self.spec])

    def tip(self) -> dict[str, tuple[int, str]]:
        from hubmgr.remotes import open_remote

        with _environ(self.env):
            remote = open_remote(self.spec)
            sha = remote.resolve_revision("main")
            files = remote.list_files(sha)
        return {"": (0, sha), **{f.path: (f.size, f.sha256 or f"blob:{f.git_oid}") for f in files}}

    def check(self, *, finished: bool) -> list[str]:
        return self._tip_problems(finished)


class _LfsHttpPush(_GitPush):
    """A bare repo on disk whose LFS objects live on an HTTP LFS server (giftless): the git config's
    ``lfs.url``, as a user sets it; hubmgr moves the objects itself, several at a time."""
    name = "push-lfs-http"

    def setup(self) -> None:
        from hubmgr.git.cmd import run_git

        self.registry = self.root / "lfs-trial.git"
        run_git(["init", "-q", "--bare", str(self.registry)], lfs=False)
        self.spec = self.registry.as_uri()
        self.storage = _use_lfs_server(self, "team/lfs-trial")
        self.run(["push", str(self.models["a"]), self.spec])

    def check(self, *, finished: bool) -> list[str]:
        from hubmgr.git.cmd import run_git

        problems = self._tip_problems(finished)
        for path, oid in self.lfs.items():
            stored = self.storage / oid
            size = self.tip().get(path, (0, ""))[0]
            if not stored.is_file() or stored.stat().st_size != size:
                problems.append(f"{path}: its LFS object is missing or partial on the LFS server")
        fsck = run_git(["--git-dir", str(self.registry), "fsck", "--no-progress"], lfs=False, check=False)
        if fsck.returncode != 0:
            problems.append(f"git fsck: {fsck.stderr.decode(errors='replace').strip()[-300:]}")
        return problems


def _use_lfs_server(sc: "_Scenario", repo: str) -> Path:
    """Point the scenario's git config at the run's LFS server; the folder holding ``repo``'s objects."""
    from hubmgr.git.cmd import run_git

    if sc.lfs_url is None:
        raise RuntimeError(f"{sc.name} needs an LFS server (giftless)")
    run_git(["config", "--file", str(Path(sc.env["HOME"]) / ".gitconfig"), "lfs.url",
             f"{sc.lfs_url}/{repo}.git/info/lfs"], lfs=False)
    return sc.lfs_storage / repo


class _Pull(_Scenario):
    name = "pull-local"
    spec = "local:deploy"

    def setup(self) -> None:
        self.shas = []
        for key in ("a", "b"):
            out = self.run(["push", str(self.models[key]), self.spec, "--json"])
            self.shas.append(json.loads(out.stdout)["commit_sha"])
        self.dest = self.root / "srv"
        self.run(["pull", f"{self.spec}@{self.shas[0]}", "--dest", str(self.dest)])

    def target(self) -> str:
        return self.shas[1 - self.k % 2]

    def command(self) -> list[str]:
        self.before = _live(self.dest)
        return ["pull", f"{self.spec}@{self.target()}", "--dest", str(self.dest), "--keep", "2", "--json"]

    def check(self, *, finished: bool) -> list[str]:
        return _deploy_problems(self.dest, {self.before, self.target()}, self.target() if finished else None)


class _HubPull(_Pull):
    name = "pull-hub"
    spec = "alice/deploy"


class _LfsHttpPull(_Pull):
    name = "pull-lfs-http"

    def setup(self) -> None:
        from hubmgr.git.cmd import run_git

        bare = self.root / "lfs-deploy.git"
        run_git(["init", "-q", "--bare", str(bare)], lfs=False)
        self.spec = bare.as_uri()
        _use_lfs_server(self, "team/lfs-deploy")
        super().setup()


class _Rollback(_Pull):
    name = "rollback"
    spec = "local:rollback"

    def setup(self) -> None:
        super().setup()
        self.run(["pull", f"{self.spec}@{self.shas[1]}", "--dest", str(self.dest)])

    def command(self) -> list[str]:
        self.before = _live(self.dest)
        return ["rollback", "--dest", str(self.dest), "--json"]

    def rerun_command(self, args: list[str]) -> list[str]:
        return [*args, "--to", self.target()]  # a second bare rollback would flip back

    def target(self) -> str:
        return self.shas[0] if self.before == self.shas[1] else self.shas[1]

    def check(self, *, finished: bool) -> list[str]:
        return _deploy_problems(self.dest, {self.before, self.target()}, self.target() if finished else None)


_KINDS = {c.name: c for c in (_Convert, _GitPush, _HubPush, _Pull, _HubPull, _Rollback, _LfsHttpPush, _LfsHttpPull)}


def _deploy_problems(dest: Path, allowed: set, must_be: str | None) -> list[str]:
    from hubmgr import deploy

    problems = []
    live = deploy.live_sha(dest)
    if live not in allowed:
        problems.append(f"current -> {live}, expected one of {sorted(str(a)[:12] for a in allowed)}")
    if must_be is not None and live != must_be:
        problems.append(f"after a successful run current -> {str(live)[:12]}, not {must_be[:12]}")
    if live is not None:
        bad = deploy.release_problems(deploy.release_dir(dest, live), verify=True)
        if bad:
            problems.append(f"the live release is not intact: {'; '.join(bad[:3])}")
    for rel in deploy.list_release_dirs(dest):
        bad = deploy.release_problems(rel)
        if bad:
            problems.append(f"release {rel.name[:12]} has a lock file but is incomplete: {bad[0]}")
    return problems


def _live(dest: Path) -> str | None:
    from hubmgr import deploy

    return deploy.live_sha(dest)


def _sha256(path: Path) -> str:
    import hashlib

    if path.is_dir():
        return "dir:" + ",".join(f"{p.name}={_sha256(p)}" for p in sorted(path.iterdir()))
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _folder_tree(folder: Path) -> dict[str, tuple[int, str]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, _sha256(p))
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _same_tree(remote: dict[str, tuple[int, str]], folder: Path) -> bool:
    """The remote's files (without .gitattributes) are exactly the folder's: sha256, or git blob id."""
    from hubmgr.formats.hashing import git_blob_sha1

    files = {k: v for k, v in remote.items() if k and k != ".gitattributes"}
    local = _folder_tree(folder)
    if files.keys() != local.keys():
        return False
    for path, (size, digest) in files.items():
        if size != local[path][0]:
            return False
        if digest != local[path][1] and digest != "blob:" + git_blob_sha1((folder / path).read_bytes()):
            return False
    return True


def _git_tree(git_dir: Path, sha: str) -> tuple[dict[str, tuple[int, str]], dict[str, str]]:
    """(path -> (size, sha256) of a commit's files, LFS pointers resolved; path -> LFS oid)."""
    import hashlib

    from hubmgr.git.cmd import run_git
    from hubmgr.formats.lfs_pointer import parse_lfs_pointer

    out = run_git(["--git-dir", str(git_dir), "ls-tree", "-r", "-z", sha], lfs=False).stdout.decode()
    tree, lfs = {}, {}
    for entry in filter(None, out.split("\0")):
        meta, _, path = entry.partition("\t")
        data = run_git(["--git-dir", str(git_dir), "cat-file", "blob", meta.split()[2]], lfs=False).stdout
        pointer = parse_lfs_pointer(data)
        tree[path] = (pointer[1], pointer[0]) if pointer else (len(data), hashlib.sha256(data).hexdigest())
        if pointer:
            lfs[path] = pointer[0]
    return tree, lfs


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def default_signals() -> None:
    """``preexec_fn`` for a child that must feel Ctrl-C / ``kill`` like a shell's foreground job, even
    when this process runs in the background (where SIGINT is inherited as ignored)."""
    import signal as _signal

    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)


def _is_early(returncode: int, stderr: str, signame: str) -> bool:
    """The signal landed outside hubmgr's handlers: the interpreter was still starting (site, before
    our entry point) or already tearing down (it restores default handlers after the work is done)."""
    if returncode < 0 and signame != "KILL":
        return True
    if "Traceback" not in stderr:
        return False
    frames = re.findall(r'File "([^"]+)"', stderr.split("Traceback", 1)[1])
    return not any(re.search(r"[/\\]hubmgr[/\\]", f) for f in frames)  # no frame of ours: before our code ran


def make_models(root: Path) -> dict[str, Path]:
    """Two tiny GPT-2 folders (a, b: different weights) and a pytorch_model.bin folder to convert."""
    from .tiny_models import make_tiny_gpt2, save_hf_dir

    models = {}
    for key, seed in (("a", 0), ("b", 1)):
        model, tok = make_tiny_gpt2(seed=seed)
        models[key] = save_hf_dir(model, tok, root / f"model-{key}")
        (models[key] / "README.md").write_text(f"---\nlicense: mit\n---\n# trial model {key}\n")
    model, tok = make_tiny_gpt2(seed=2)
    models["bin"] = save_hf_dir(model, tok, root / "model-bin", safe_serialization=False)
    return models


def run_trials(root: Path, *, scenarios: Sequence[str] = SCENARIOS, trials: int = 5, seed: int = 0,
               signals: Sequence[str] = SIGNALS, models: dict[str, Path] | None = None,
               on_result: Callable[[TrialResult], None] | None = None) -> TrialReport:
    """Run ``trials`` crash trials of each scenario under ``root`` (a fresh directory).

    ``models``: what ``make_models`` returns (made under ``root`` if not given). Seeded: the
    same seed sends the same signals after the same fractions of a run.
    """
    import random
    import signal as _signal

    from .hub_server import ALICE_WRITE_TOKEN, TEST_TOKENS, running_hub_server

    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    models = models or make_models(root / "models")
    results: list[TrialResult] = []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(running_hub_server(root / "hub", tokens=TEST_TOKENS))
        lfs_server = None
        if any("lfs-http" in name for name in scenarios):
            from .lfs_server import giftless_server

            lfs_storage = root / "lfs-storage"
            lfs_server = stack.enter_context(giftless_server(lfs_storage)), lfs_storage
        for name in scenarios:
            home = root / name
            home.mkdir()
            env = {**{k: v for k, v in os.environ.items() if not k.startswith(("HUBMGR_", "HF_"))},
                   "HUBMGR_HOME": str(home / "home"), "HUBMGR_CATALOG": str(home / "catalog.db"),
                   "HF_ENDPOINT": server.url, "HF_TOKEN": ALICE_WRITE_TOKEN, "HF_HOME": str(home / "hf"),
                   "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                   "TOKENIZERS_PARALLELISM": "false", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(home),
                   "GIT_AUTHOR_NAME": "trials", "GIT_AUTHOR_EMAIL": "t@hubmgr.invalid",
                   "GIT_COMMITTER_NAME": "trials", "GIT_COMMITTER_EMAIL": "t@hubmgr.invalid"}
            sc = _KINDS[name](home, env, models, server.url, lfs_server)
            sc.setup()
            start = time.monotonic()  # calibrate: how long an undisturbed run takes
            sc.run(sc.command())
            duration = time.monotonic() - start
            sc.advance()
            for trial in range(trials):
                signame = rng.choice(list(signals))
                delay = rng.uniform(0.0, duration * 1.05)
                args = sc.command()
                proc = subprocess.Popen([*hubmgr_command(), *args], cwd=home, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
                time.sleep(delay)
                signalled = proc.poll() is None
                if signalled:
                    proc.send_signal(getattr(_signal, f"SIG{signame}"))
                violations: list[str] = []
                try:
                    _out, err = proc.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    _out, err = proc.communicate()
                    violations.append(f"still running 120 s after SIG{signame}")
                code = proc.returncode
                early = signalled and _is_early(code, err, signame)
                if signalled and signame != "KILL" and not early:
                    if "Traceback" in err:
                        violations.append("traceback after the signal: " + err.strip().splitlines()[-1][:200])
                    elif code not in (0, 128 + _signal.SIGINT, 128 + _signal.SIGTERM):
                        violations.append(f"exit code {code} after SIG{signame}")
                violations += [f"after the kill: {p}" for p in sc.check(finished=code == 0)]
                try:
                    _check_catalog(env["HUBMGR_CATALOG"])
                except Exception as exc:  # noqa: BLE001 - any failure to open is the finding
                    violations.append(f"the catalog does not open: {exc}")
                rerun = sc.run(sc.rerun_command(args), check=False)
                if rerun.returncode != 0:
                    violations.append(f"the rerun failed ({rerun.returncode}): "
                                      f"{(rerun.stderr.strip().splitlines() or [''])[-1][:200]}")
                else:
                    violations += [f"after the rerun: {p}" for p in sc.check(finished=True)]
                result = TrialResult(name, trial, signame, round(delay, 3), code, signalled, early, tuple(violations),
                                     (err.strip().splitlines() or [""])[-1][:200])
                results.append(result)
                if on_result is not None:
                    on_result(result)
                sc.advance()
    return TrialReport(tuple(results))


def _check_catalog(path: str) -> None:
    from hubmgr.catalog import Catalog

    if Path(path).exists():
        Catalog(path).check()
