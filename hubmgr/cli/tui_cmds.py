"""CLI commands: tui (owned by the TUI feature)."""

from __future__ import annotations

import click  # noqa: F401

from .root import cli  # noqa: F401
