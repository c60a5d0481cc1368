"""CLI: ``hubmgr guard`` (GitHub 100 MB guard) and ``hubmgr guard install`` (pre-push hook)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .. import guard
from ..config import parse_size
from ..errors import UsageError
from ..models import GuardBlob, GuardFixResult, GuardHookResult, GuardReport
from . import output
from .root import cli


def _size_option(value: str | None) -> int | None:
    return None if value is None else parse_size(value)


@cli.command("guard")
@click.argument("words", nargs=-1, metavar="[install] [REPO_DIR]")
@click.option("--limit", help="Reject files over this size (default 100MiB, GitHub's limit; config [guard] limit).")
@click.option("--warn", help="Warn about files over this size (default 50MiB, config [guard] warn).")
@click.option("--lfs-limit", default="2GiB", show_default=True, help="Largest Git LFS file the host accepts.")
@click.option("--upstream", help="Treat this ref as already pushed (default: the branch's @{upstream}, "
                                  "else every remote-tracking ref).")
@click.option("--fix", type=click.Choice(["lfs", "hub"]), help="Rewrite the unpushed commits to fix it.")
@click.option("--to", "target", metavar="TARGET", help="--fix hub: model repo to move the weights to "
                                                         "(alice/model, local:NAME, a git URL).")
@click.option("--path", "paths", multiple=True, metavar="PATH",
              help="Fix only these files (repeatable; default: every file over the limit).")
@click.option("--allow-pickle", is_flag=True, help="--fix hub: allow pushing pickle weights (.bin/.pt).")
@click.option("--pre-push", "pre_push", is_flag=True, hidden=True, help="Run as a pre-push hook (refs on stdin).")
@click.option("--remote", hidden=True, help="Pre-push: the remote git pushes to.")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
def guard_cmd(words: tuple[str, ...], limit: str | None, warn: str | None, lfs_limit: str, upstream: str | None,
              fix: str | None, target: str | None, paths: tuple[str, ...], allow_pickle: bool, pre_push: bool,
              remote: str | None,
              json_mode: bool) -> None:
    """Find files GitHub would reject (over 100 MB) in commits not pushed yet, and fix them.

    GitHub refuses a push when any commit in it holds a file over 100 MB, even if a
    later commit deleted the file. The guard checks every commit not yet on the
    upstream, lists each oversized file with the commits and paths that hold it,
    and exits 1 if the push would be rejected (0 when clean). Fixes rewrite only
    the unpushed commits; already-pushed history is never rewritten.

    \b
    Examples:
      hubmgr guard                          # check the repo in the current directory
      hubmgr guard ../my-project --limit 95MiB
      hubmgr guard --fix lfs                # store the big files with Git LFS (unpushed commits only)
      hubmgr guard --fix hub --to local:my-model   # move weights to a model repo, leave model.hubmgr.json
      hubmgr guard --fix hub --to alice/my-model
      hubmgr guard install                  # pre-push hook: block such pushes before any upload
      hubmgr pull model.hubmgr.json --dest /srv/model   # later: get the weights back
    """
    words_list = list(words)
    if fix == "hub" and target is None and words_list and not Path(words_list[-1]).is_dir() \
            and words_list[-1] != "install":
        target = words_list.pop()  # the spelling: --fix hub REPO_ID
    install = bool(words_list) and words_list[0] == "install"  # a dir named install: ./install
    if install:
        words_list.pop(0)
    if len(words_list) > 1:
        raise UsageError(f"too many arguments: {' '.join(words_list)}", "hubmgr guard [install] [REPO_DIR]")
    repo_dir = words_list[0] if words_list else "."
    limit_bytes, warn_bytes = _size_option(limit), _size_option(warn)

    if install:
        if fix or pre_push:
            raise UsageError("`hubmgr guard install` takes no --fix/--pre-push", "run the fix separately")
        result = guard.install_hook(repo_dir, limit_bytes=limit_bytes, warn_bytes=warn_bytes)
        output.emit(result, json_mode=json_mode, render=lambda con: _render_hook(con, result))
        return
    lfs_limit_bytes = parse_size(lfs_limit)
    if pre_push:
        report = guard.check_pre_push(repo_dir, remote=remote, ref_lines=sys.stdin.read(), limit_bytes=limit_bytes,
                                      warn_bytes=warn_bytes, lfs_limit_bytes=lfs_limit_bytes)
        _render_pre_push(report)
        if not report.ok:
            raise click.exceptions.Exit(1)
        return
    if fix is None:
        if target or paths:
            raise UsageError("--to and --path go with --fix", "e.g. hubmgr guard --fix hub --to local:my-model")
        with output.progress_bars(not json_mode) as progress:
            report = guard.check_repo(repo_dir, limit_bytes=limit_bytes, warn_bytes=warn_bytes,
                                      lfs_limit_bytes=lfs_limit_bytes, upstream=upstream, progress=progress)
        output.emit(report, json_mode=json_mode, render=lambda con: _render_report(con, report))
        if not report.ok:
            raise click.exceptions.Exit(1)
        return
    with output.progress_bars(not json_mode) as progress:
        if fix == "lfs":
            if target:
                raise UsageError("--to goes with --fix hub", "--fix lfs keeps the files in this repo via Git LFS")
            fixed = guard.fix_lfs(repo_dir, paths=paths, limit_bytes=limit_bytes, warn_bytes=warn_bytes,
                                  lfs_limit_bytes=lfs_limit_bytes, upstream=upstream, progress=progress)
        else:
            if not target:
                raise UsageError("--fix hub needs a target", "e.g. --to local:my-model or --to alice/my-model")
            fixed = guard.fix_hub(repo_dir, target=target, paths=paths, limit_bytes=limit_bytes,
                                  warn_bytes=warn_bytes, lfs_limit_bytes=lfs_limit_bytes, upstream=upstream,
                                  allow_pickle=allow_pickle, progress=progress)
    output.emit(fixed, json_mode=json_mode, render=lambda con: _render_fix(con, fixed))
    if not fixed.after.ok:
        raise click.exceptions.Exit(1)


# --- rendering ----------------------------------------------------------------


def _blob_table(title: str, blobs: tuple[GuardBlob, ...]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("size", justify="right")
    table.add_column("path")
    table.add_column("added in")
    table.add_column("still in HEAD")
    table.add_column("deleted in")
    for blob in blobs:
        table.add_row(guard.mb(blob.size_bytes), "\n".join(blob.paths) or blob.oid[:12],
                      " ".join(c[:10] for c in blob.added_in) or "-", "yes" if blob.in_head else "no (history)",
                      " ".join(c[:10] for c in blob.deleted_in) or "-")
    return table


def _render_report(con: Console, report: GuardReport) -> None:
    where = report.upstream.removeprefix("refs/remotes/") if report.upstream else "remote-tracking refs"
    con.print(f"{report.repo}: {report.commits_checked} unpushed commit(s) checked against {where}", highlight=False)
    if report.blocking:
        output.print_table(con, _blob_table(f"over {guard.mb(report.limit_bytes)} (the push will be rejected)", report.blocking))
    if report.lfs_blocking:
        output.print_table(con, _blob_table(f"Git LFS files over {guard.mb(report.lfs_limit_bytes)}", report.lfs_blocking))
    if report.warnings:
        output.print_table(con, _blob_table(f"over {guard.mb(report.warn_bytes)} (warning)", report.warnings))
    if report.explanation:
        con.print()
        con.print(report.explanation, highlight=False, markup=False)
    if report.fixes:
        con.print("\nfixes:", highlight=False)
        for cmd in report.fixes:
            con.print(f"  {cmd}", highlight=False, markup=False)
    if report.ok and not report.warnings:
        con.print(f"ok: no file over {guard.mb(report.warn_bytes)} in unpushed commits", highlight=False)


def _render_pre_push(report: GuardReport) -> None:
    if report.ok and not report.warnings:
        return
    _render_report(output.stderr, report)
    if not report.ok:
        output.note("push blocked by the hubmgr guard pre-push hook (nothing was uploaded); "
                    "to push anyway: git push --no-verify")


def _render_fix(con: Console, fixed: GuardFixResult) -> None:
    if not fixed.paths:
        con.print("nothing to fix: no file over the limit in unpushed commits", highlight=False)
        return
    con.print(f"fixed with {'Git LFS' if fixed.method == 'lfs' else 'a model repo'}: "
              f"{', '.join(fixed.paths)}", highlight=False, markup=False)
    con.print(f"  branch {fixed.branch.removeprefix('refs/heads/')}: {fixed.old_head[:10]} -> "
              f"{fixed.new_head[:10]} ({fixed.commits_rewritten} unpushed commit(s) rewritten)", highlight=False)
    if fixed.protected_refs:
        con.print(f"  untouched (already pushed): "
                  f"{', '.join(r.removeprefix('refs/remotes/') for r in fixed.protected_refs)}", highlight=False)
    if fixed.target:
        con.print(f"  weights pushed to {fixed.target} at {fixed.remote_commit}", highlight=False, markup=False)
        con.print(f"  pointer: {fixed.pointer_file} (get the weights: hubmgr pull {fixed.pointer_file} --dest DIR)",
                  highlight=False, markup=False)
    con.print(f"  undo: {fixed.undo}", highlight=False, markup=False)
    if fixed.after.ok:
        con.print("ok: the push will pass now", highlight=False)
    else:
        _render_report(con, fixed.after)


def _render_hook(con: Console, result: GuardHookResult) -> None:
    con.print(f"installed pre-push hook: {result.hook}", highlight=False, markup=False)
    if result.chained:
        con.print(f"  the previous hook runs after it: {result.chained}", highlight=False, markup=False)
    con.print(f"  runs: {result.command}", highlight=False, markup=False)
