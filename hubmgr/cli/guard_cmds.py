"""CLI commands: (to be filled by the feature that owns them)."""

from __future__ import annotations

import click  # noqa: F401

from .root import cli  # noqa: F401
