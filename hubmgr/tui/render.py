"""Results as rich renderables for dialogs (compare table, push plan, pull summary). Pure, no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..models import PushResult
from .rows import human_size, short_sha


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compare_table(result: Any) -> Table:
    """CompareResult: one column per checkpoint, one row per metric, the best value in bold green."""
    table = Table(expand=True, show_edge=False)
    table.add_column("metric", style="bold")
    for path in result.paths:
        table.add_column(Path(path).name, justify="right")
    for row in result.rows:
        cells = []
        for index, value in enumerate(row.values):
            best = index in row.best
            cells.append(Text(_fmt(value) + (" *" if best else ""), style="bold green" if best else ""))
        label = row.label + (f" ({row.better} is better)" if row.better else "")
        table.add_row(label, *cells)
    return table


def push_plan(result: PushResult) -> Group:
    """A dry-run PushResult: what would be uploaded, kept and deleted, and how many bytes."""
    plan = result.plan
    head = Text.assemble(
        ("target  ", "bold"), f"{plan.target}\n",
        ("base    ", "bold"), f"{short_sha(plan.base_commit) if plan.base_commit else 'new repo or branch'}\n",
        ("upload  ", "bold"), f"{len(plan.upload)} files, {human_size(plan.bytes_to_upload)}\n",
        ("keep    ", "bold"), f"{len(plan.skip)} unchanged files, {human_size(plan.bytes_skipped)}\n",
        ("delete  ", "bold"), f"{len(plan.delete)} files",
    )
    if plan.checkpoint:
        head.append_text(Text.assemble(("\ncheckpoint  ", "bold"), f"{Path(plan.checkpoint).name} ",
                                       (f"({plan.checkpoint_reason})", "dim")))
    table = Table(show_edge=False, expand=True)
    for col in ("", "file", "size", "from"):
        table.add_column(col)
    styles = {"new": "green", "changed": "yellow", "deleted": "red", "unchanged": "dim"}
    for f in (*plan.upload, *plan.delete, *plan.skip)[:40]:
        table.add_row(Text(f.reason, style=styles.get(f.reason, "")), f.path, human_size(f.size),
                      Text(f.origin or "", style="dim"))
    for item in plan.left_out[:20]:
        table.add_row(Text("left out", style="dim"), item.path, "", Text(item.reason, style="dim"))
    parts: list[Any] = [head, table]
    if not plan.upload and not plan.delete:
        parts.append(Text("Nothing changed: pushing makes no new commit.", style="yellow"))
    for warning in dict.fromkeys((*plan.warnings, *result.warnings)):  # push() repeats the plan's
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


def gc_plan(result: Any) -> Group:
    """A GcResult plan: every checkpoint with delete/strip/keep and why, and the bytes freed."""
    table = Table(show_edge=False, expand=True)
    for col in ("", "checkpoint", "frees", "why"):
        table.add_column(col)
    styles = {"delete": "bold red", "strip": "yellow", "keep": "green"}
    for item in result.items:
        why = "; ".join(item.reasons)
        if item.stripped_files:
            why += f" (removes {', '.join(item.stripped_files)})"
        table.add_row(Text(item.action, style=styles[item.action]), item.path.rsplit("/", 1)[-1],
                      human_size(item.bytes_freed) if item.bytes_freed else "-", why)
    head = Text.assemble(("delete  ", "bold"), f"{len(result.deleted)}   ", ("strip  ", "bold"),
                         f"{len(result.stripped)}   ", ("frees  ", "bold"), human_size(result.bytes_freed))
    parts: list[Any] = [head, table]
    if not result.deleted and not result.stripped:
        parts.append(Text("Nothing to prune with these options.", style="yellow"))
    for warning in result.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)
