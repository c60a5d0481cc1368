"""Issue 13 fuzz: mutated pickle, torch zip, torch legacy and safetensors files never make a reader
raise anything but a HubmgrError (one line + exit 1 in the CLI), never take 10 s, and never grow
the process by hundreds of MB. Seeded and derandomized; bench/fuzz.py runs the long version."""

from __future__ import annotations

import resource

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubmgr.testing import fuzz

pytest.importorskip("torch")

MAX_CASE_SECONDS = 10.0  # the bound for one input (a hang guard, not a speed goal)
MAX_RSS_GROWTH_KB = 300_000


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[bytes]]:
    return fuzz.seeds(tmp_path_factory.mktemp("fuzz-seeds"))


MUTATIONS = st.lists(st.tuples(st.sampled_from(fuzz.OPS), st.floats(0, 1, exclude_max=True),
                               st.integers(0, 2**16)), min_size=1, max_size=4)


@pytest.mark.parametrize("kind", fuzz.KINDS)
def test_mutated_files_only_raise_hubmgr_errors(kind: str, seed_files, tmp_path_factory) -> None:
    work = tmp_path_factory.mktemp(f"fuzz-{kind}")
    seen: list = []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(max_examples=250, derandomize=True, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(index=st.integers(0, len(seed_files[kind]) - 1), layer=st.integers(0, 1), mutations=MUTATIONS)
    def case(index: int, layer: int, mutations: list) -> None:
        data = fuzz.build(kind, seed_files[kind][index], mutations, layer)
        for outcome in fuzz.run_case(kind, data, work):
            seen.append(outcome)
            assert outcome.expected, f"{outcome.reader} raised {outcome.error}: {outcome.detail}"
            assert outcome.seconds < MAX_CASE_SECONDS, f"{outcome.reader} took {outcome.seconds:.1f}s"

    case()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < MAX_RSS_GROWTH_KB
    # The run reached both sides: inputs that still parse and inputs refused with a one-line error.
    assert any(o.error is None for o in seen) and any(o.error for o in seen)
