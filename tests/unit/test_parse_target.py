"""``remotes.parse_target``: every way a user names a remote, including the Hub's own addresses."""

from __future__ import annotations

import pytest

from hubmgr.errors import UsageError
from hubmgr.remotes import KIND_GIT, KIND_HUB, KIND_LOCAL, RemoteTarget, parse_target


@pytest.mark.parametrize("spec,expected", [
    ("alice/m", RemoteTarget(KIND_HUB, "alice/m")),
    ("hub:alice/m@v1", RemoteTarget(KIND_HUB, "alice/m", "v1")),
    ("hf://alice/m", RemoteTarget(KIND_HUB, "alice/m")),
    ("hf://alice/m@dev", RemoteTarget(KIND_HUB, "alice/m", "dev")),
    ("https://huggingface.co/alice/m", RemoteTarget(KIND_HUB, "alice/m")),
    ("https://huggingface.co/alice/m/", RemoteTarget(KIND_HUB, "alice/m")),
    ("https://huggingface.co/alice/m.git", RemoteTarget(KIND_HUB, "alice/m")),
    ("https://hf.co/alice/m", RemoteTarget(KIND_HUB, "alice/m")),
    ("https://huggingface.co/alice/m/tree/dev", RemoteTarget(KIND_HUB, "alice/m", "dev")),
    ("https://huggingface.co/alice/m/tree/feature/x", RemoteTarget(KIND_HUB, "alice/m", "feature/x")),
    ("https://huggingface.co/alice/m/tree/refs%2Fpr%2F1", RemoteTarget(KIND_HUB, "alice/m", "refs/pr/1")),
    ("local:demo@v1", RemoteTarget(KIND_LOCAL, "demo", "v1")),
    ("https://github.com/alice/m.git", RemoteTarget(KIND_GIT, "https://github.com/alice/m.git")),
    ("git@github.com:alice/m.git", RemoteTarget(KIND_GIT, "git@github.com:alice/m.git")),
])
def test_specs(spec: str, expected: RemoteTarget) -> None:
    assert parse_target(spec) == expected


@pytest.mark.parametrize("spec,words", [
    ("hf://datasets/alice/d", "not a model repo"),
    ("https://huggingface.co/spaces/alice/app", "not a model repo"),
    ("https://huggingface.co/alice/m/blob/main/config.json", "cannot use the page"),
    ("https://huggingface.co/alice", "bad Hub repo id"),
    ("hf://", "bad Hub repo id"),
])
def test_hub_addresses_that_are_not_a_model_repo_are_refused(spec: str, words: str) -> None:
    with pytest.raises(UsageError, match=words) as err:
        parse_target(spec)
    assert err.value.hint
