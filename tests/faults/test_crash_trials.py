"""Crash trials: real hubmgr processes killed (SIGKILL, SIGINT, SIGTERM) at seeded random points of
convert, push (local:, the Hub test server, a git repo with an HTTP LFS server), pull (the same three)
and rollback; every invariant checked after the kill and after the rerun (see hubmgr.testing.faults).
8 scenarios x 5 = 40 trials."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubmgr.testing.faults import SCENARIOS, make_models, run_trials

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required")]
TRIALS = 5


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_models(tmp_path_factory.mktemp("trial-models"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_crash_trials_keep_every_invariant(scenario: str, models: dict[str, Path], tmp_path: Path) -> None:
    report = run_trials(tmp_path / "t", scenarios=[scenario], trials=TRIALS, seed=SCENARIOS.index(scenario),
                        models=models)
    assert len(report.results) == TRIALS
    assert report.violations == [], report.format_table()
    # the trials must actually interrupt something, or they prove nothing
    assert sum(r.signalled for r in report.results) >= 2, report.results
