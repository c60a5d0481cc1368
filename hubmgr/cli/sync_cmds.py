"""CLI commands: ``push``, ``pull``, ``rollback``, ``status`` and ``remote ls|repos``."""

from __future__ import annotations

import inspect
from pathlib import Path

import click

from ..remotes import targets_help
from . import output
from .root import CliContext, cli, pass_ctx
from .serve_cmds import FOLLOW_EXAMPLES, follow_options, run_follow

_TARGETS_HELP = targets_help()  # every remote backend's spec forms (hubmgr.remotes.BACKENDS)


_token_option = click.option(
    "--token", default=None, metavar="TOKEN",
    help="Hub token (default: HF_TOKEN or the one saved by `hf auth login`). Never printed or stored.")


def _quiet_option(what: str):
    return click.option("--quiet", "-q", is_flag=True, help=f"No progress bars; {what} on stdout.")


@cli.command("push")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("target")
@click.option("--checkpoint", default=None, metavar="best|last|N",
              help="Trainer run: push this checkpoint-N's weights, config and tokenizer as the model.")
@click.option("--best-by", default=None, metavar="METRIC",
              help="Metric for --checkpoint best (default: the run's metric_for_best_model, else the stored "
                   "eval score, else eval_loss).")
@click.option("--revision", default=None, metavar="BRANCH", help="Branch to push to (default: the remote's default).")
@click.option("--tag", default=None, help="Also tag the pushed commit (refused if it exists, unless --force).")
@click.option("--private", is_flag=True, help="Create the repo private (Hub).")
@click.option("--commit-message", "-m", "--message", "message", default=None,
              help="Commit message (default: lists the files).")
@click.option("--commit-description", "description", default=None, help="Commit description (the message body).")
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of committing (Hub).")
@click.option("--include", multiple=True, metavar="GLOB", help="Only push matching files. Repeatable.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Leave matching files out. Repeatable.")
@click.option("--delete", "delete", multiple=True, metavar="PATTERN",
              help="Delete remote files matching PATTERN that the push does not hold. Repeatable.")
@click.option("--mirror", is_flag=True, help="Make the remote equal to what is pushed: delete every other remote "
                                             "file (within --include/--exclude).")
@click.option("--allow-pickle", is_flag=True, help="Push .bin/.pth/.pt/.ckpt pickles (loading them runs code).")
@click.option("--convert", is_flag=True, help="Convert pickled weights to safetensors before pushing.")
@click.option("--dry-run", is_flag=True, help="Print what would be uploaded, skipped and deleted; change nothing.")
@click.option("--force", is_flag=True, help="Allow a non-fast-forward push (git) or moving an existing tag.")
@click.option("--sign", "sign", default=None, metavar="KEY", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign every file of the release with this private key (OpenSSF model-signing format) and push "
                   "model.sig in the same commit. Default: [sign] key in the config.")
@_token_option
@_quiet_option("print only the commit sha")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def push_cmd(ctx: CliContext, path: Path, target: str, checkpoint: str | None, best_by: str | None,
             revision: str | None, tag: str | None, private: bool,
             message: str | None, description: str | None, create_pr: bool, include: tuple[str, ...],
             exclude: tuple[str, ...], delete: tuple[str, ...], mirror: bool, allow_pickle: bool, convert: bool,
             dry_run: bool, force: bool, sign: Path | None, token: str | None, quiet: bool, json_mode: bool) -> None:
    """Push the model folder PATH to TARGET; only files that changed are sent.

    An unchanged model makes no commit. Pickled weights and files that look like
    secrets are refused. A missing README.md model card is generated for the push
    (never written into PATH). Nothing on the remote is deleted unless you ask:
    --delete PATTERN or --mirror. Git remotes store weights with Git LFS.

    A Trainer output dir is pushed like Trainer.push_to_hub: the final model at
    the top level, no checkpoint-*/ dirs, no _* files, no optimizer/scheduler/rng
    state; training_args.bin is read statically into training_args.json.
    --dry-run runs the same staging and prints exactly what the push will do.

    \b
    Examples:
      hubmgr push runs/gpt2-final local:gpt2              # local registry
      hubmgr push runs/gpt2-final local:gpt2 --tag v1 --dry-run
      hubmgr push runs/gpt2-final alice/gpt2-add --private -m "Epoch 3" --commit-description "lr 3e-4"
      hubmgr push runs/gpt2-final hf://alice/gpt2-add --token "$HF_TOKEN" -q
      hubmgr push runs/gpt2-final git@github.com:alice/gpt2.git --revision exp
      hubmgr push runs/old-run local:old --convert        # .bin -> safetensors first
      hubmgr push runs/gpt2-final local:gpt2 --delete '*.bin' --dry-run  # lists deletions
      hubmgr push runs/gpt2-final local:gpt2 --mirror     # remote = folder
      hubmgr push runs/gpt2-final alice/gpt2-add --sign ~/.config/hubmgr/keys/hubmgr.key
      hubmgr push run-5000 alice/adder                    # a Trainer output dir
      hubmgr push run-5000 alice/adder --checkpoint best --dry-run
      hubmgr push run-5000 local:adder --checkpoint 4000
      hubmgr push run-5000 local:adder --checkpoint best --best-by eval_accuracy
    """
    from ..sync import push

    with output.progress_bars(not (json_mode or quiet)) as progress:
        result = push(path, target, checkpoint=checkpoint, best_by=best_by, revision=revision, tag=tag,
                      private=private, message=message,
                      description=description, create_pr=create_pr, include=include, exclude=exclude,
                      delete=delete, mirror=mirror,
                      allow_pickle=allow_pickle, convert=convert, dry_run=dry_run, force=force, token=token,
                      sign=sign, catalog=ctx.catalog(), progress=progress)
    if quiet and not json_mode:
        output.warnings(result.warnings)
        click.echo(result.commit_sha or "")
        return
    output.emit(result, json_mode=json_mode, render=lambda console: _render_push(console, result))


push_cmd.help = inspect.cleandoc(push_cmd.help or "") + "\n\n" + _TARGETS_HELP


def _origin(f) -> str:  # noqa: ANN001 - PlanFile
    return f"  <- {output.safe(f.origin)}" if f.origin else ""


def _render_push(console, result) -> None:  # noqa: ANN001 - rich Console
    plan = result.plan
    if plan.checkpoint:
        console.print(f"checkpoint: [bold]{Path(plan.checkpoint).name}[/] ({plan.checkpoint_reason})")
    if result.dry_run:
        console.print(f"[bold]dry run[/]: {result.path} -> {plan.target}"
                      + (f" (base {plan.base_commit[:12]})" if plan.base_commit else " (new)"))
        for f in plan.upload:
            console.print(f"  [green]upload[/] {output.safe(f.path)}  {output.human_size(f.size)}  ({f.reason})"
                          + _origin(f))
        for f in plan.skip:
            console.print(f"  [dim]skip[/]   {output.safe(f.path)}  {output.human_size(f.size)}  (unchanged)"
                          + _origin(f))
        for f in plan.delete:
            console.print(f"  [red]delete[/] {output.safe(f.path)}")
        for item in plan.left_out:
            console.print(f"  [dim]leave out[/] {output.safe(item.path)}  ({item.reason})")
        console.print(f"would upload {len(plan.upload)} files ({output.human_size(plan.bytes_to_upload)}), "
                      f"skip {len(plan.skip)}, delete {len(plan.delete)}; nothing was changed")
    else:
        if result.created_commit:
            console.print(f"pushed {result.path} -> {plan.target}: commit [bold]{result.commit_sha}[/]")
        else:
            console.print(f"unchanged: {plan.target} already holds {result.path} at [bold]{result.commit_sha}[/]"
                          " (no new commit)")
        console.print(f"  uploaded {len(result.files_uploaded)} files ({output.human_size(result.bytes_sent)}), "
                      f"skipped {len(result.files_skipped)}, deleted {len(result.files_deleted)}")
        for path in result.files_deleted:
            console.print(f"  [red]deleted[/] {path}")
        if result.tag:
            console.print(f"  tag {result.tag}")
        if result.signed_by:
            console.print(f"  signed by key {result.signed_by} (model.sig)")
        if result.card_written:
            console.print("  generated README.md (model card) for the push")
        for item in plan.left_out:
            console.print(f"  [dim]left out[/] {output.safe(item.path)}  ({item.reason})")
        if result.converted:
            console.print(f"  converted to safetensors: {', '.join(result.converted)}")
        if result.commit_url:
            console.print(f"  {result.commit_url}")
        if result.pr_url:
            console.print(f"  pull request: {result.pr_url}")
    output.warnings(result.warnings)


@cli.command("pull")
@click.argument("spec")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Deploy dir: releases go to DIR/releases/<sha>, DIR/current points at the live one.")
@click.option("--keep", default=3, show_default=True, type=click.IntRange(min=1),
              help="Releases to keep (the live one is never deleted).")
@click.option("--revision", default=None, metavar="REV",
              help="Branch, tag or commit to pull (same as SPEC@REV; default: the default branch).")
@click.option("--include", multiple=True, metavar="GLOB", help="Only pull matching files. Repeatable.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Leave matching files out. Repeatable.")
@click.option("--cache", is_flag=True, help="Fill the Hugging Face cache instead (Hub only), for offline "
                                            "from_pretrained(repo_id).")
@click.option("--require-signature", "require_signature", multiple=True, metavar="PUBKEY",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Only make the release live if its model.sig is signed by this public key (PEM) and covers "
                   "exactly its files. Repeatable. Default: [trust] keys in the config.")
@click.option("--allow-incomplete", is_flag=True, help="Make a release live even without weights or config.json.")
@click.option("--switch-source", is_flag=True, help="Allow pulling another repository into a dest that serves a "
                                                    "different one (refused by default).")
@_token_option
@_quiet_option("print only the release path")
@follow_options
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def pull_cmd(ctx: CliContext, spec: str, dest: Path | None, keep: int, revision: str | None,
             include: tuple[str, ...], exclude: tuple[str, ...], cache: bool, require_signature: tuple[Path, ...],
             allow_incomplete: bool, switch_source: bool, token: str | None, quiet: bool, json_mode: bool,
             **follow: object) -> None:
    """Deploy one exact commit of SPEC into --dest, verified, with an atomic switch.

    SPEC is a target (see `hubmgr push --help`) with an optional @REV, or a
    pointer file (model.hubmgr.json written by `hubmgr guard --fix hub`). The
    revision is resolved once to a commit sha; every file is checked (size and
    sha256) before DIR/current moves. A failed pull never changes DIR/current.
    A release without weights or config.json is refused (--allow-incomplete).

    \b
    Examples:
      hubmgr pull local:gpt2 --dest /srv/gpt2
      hubmgr pull local:gpt2@v1 --dest /srv/gpt2 --keep 5
      hubmgr pull local:gpt2 --revision v1 --dest /srv/gpt2 -q
      hubmgr pull alice/gpt2-add@main --dest /srv/gpt2 --include '*.json' --include '*.safetensors'
      hubmgr pull https://huggingface.co/alice/gpt2-add/tree/dev --dest /srv/gpt2 --exclude '*.md'
      hubmgr pull model.hubmgr.json --dest /srv/gpt2
      hubmgr pull alice/gpt2-add --cache
      hubmgr pull alice/gpt2-add@prod --dest /srv/gpt2 --require-signature publisher.pub
    """
    from ..sync import pull

    if follow.pop("follow"):
        if cache:
            raise click.UsageError("--follow deploys into --dest; it cannot fill the cache")
        spec = f"{spec}@{revision}" if revision else spec
        run_follow(ctx, spec, dest, keep=keep, json_mode=json_mode, **follow, pull_options={
            "include": include, "exclude": exclude, "require_signature": require_signature or None,
            "allow_incomplete": allow_incomplete, "switch_source": switch_source, "token": token})
        return
    if dest is None and not cache:
        raise click.UsageError("give --dest DIR (or --cache for a Hub repo)")
    with output.progress_bars(not (json_mode or quiet)) as progress:
        result = pull(spec, dest=dest, keep=keep, revision=revision, include=include, exclude=exclude, cache=cache,
                      require_signature=require_signature or None, allow_incomplete=allow_incomplete,
                      switch_source=switch_source, token=token, catalog=ctx.catalog(),
                      progress=progress)
    if quiet and not json_mode:
        output.warnings(result.warnings)
        click.echo(result.cache_dir or result.release or "")
        return
    output.emit(result, json_mode=json_mode, render=lambda console: _render_pull(console, result))


pull_cmd.help = inspect.cleandoc(pull_cmd.help or "") + "\n" + FOLLOW_EXAMPLES


def _render_pull(console, result) -> None:  # noqa: ANN001
    asked = f"@{result.revision}" if result.revision else ""
    if result.cache_dir is not None or result.dest is None:
        console.print(f"cached {result.remote}{asked} at [bold]{result.commit_sha}[/] in {result.cache_dir}")
        return
    how = "already downloaded" if result.reused else f"{output.human_size(result.bytes_downloaded)} downloaded"
    if result.bytes_shared:
        how += f", {output.human_size(result.bytes_shared)} shared with kept releases"
    console.print(f"[bold green]live[/]: {result.current} -> {result.commit_sha} ({result.remote}{asked})")
    console.print(f"  {result.files} files, {output.human_size(result.bytes_total)}, {how}, verified")
    if result.signer:
        console.print(f"  signature: [green]valid[/], signed by key {result.signer}")
    if result.previous_sha and result.previous_sha != result.commit_sha:
        console.print(f"  previous release {result.previous_sha[:12]} (hubmgr rollback --dest {result.dest})")
    if result.pruned:
        console.print(f"  pruned {', '.join(s[:12] for s in result.pruned)}")
    output.warnings(result.warnings)


@cli.command("rollback")
@click.option("--dest", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Deploy dir made by hubmgr pull.")
@click.option("--to", "to", default=None, metavar="SHA", help="Release to make live (default: the previous one).")
@click.option("--verify", is_flag=True,
              help="Also re-hash the target against its lock file (presence and size are always checked).")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
def rollback_cmd(dest: Path, to: str | None, verify: bool, json_mode: bool) -> None:
    """Make an earlier, complete release live again (atomic switch of DIR/current).

    A release with a missing or truncated file is never made live: by default it is
    skipped (and named), with --to it is refused.

    \b
    Examples:
      hubmgr rollback --dest /srv/gpt2
      hubmgr rollback --dest /srv/gpt2 --to 1b6748ec --verify
    """
    from ..deploy import rollback

    with output.progress_bars(not json_mode) as progress:
        result = rollback(dest, to=to, verify=verify, progress=progress)

    def render(console) -> None:  # noqa: ANN001
        checked = "verified" if result.verified else "complete"
        console.print(f"[bold green]live[/]: {result.to_sha} (was {result.from_sha or 'nothing'}; {checked})")
        output.warnings(tuple(f"skipped incomplete release {s}" for s in result.skipped))

    output.emit(result, json_mode=json_mode, render=render)


@cli.command("status")
@click.option("--dest", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Deploy dir made by hubmgr pull.")
@click.option("--verify", is_flag=True,
              help="Re-hash the live release against its lock file (exit 1 if changed). Presence and size "
                   "of every file are always checked (exit 1 if incomplete).")
@click.option("--offline", is_flag=True, help="Do not ask the remote whether the revision moved.")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
def status_cmd(dest: Path, verify: bool, offline: bool, json_mode: bool) -> None:
    """What is live in a deploy dir, where it came from, and whether the remote moved on.

    \b
    Examples:
      hubmgr status --dest /srv/gpt2
      hubmgr status --dest /srv/gpt2 --verify --json
    """
    from ..deploy import status

    with output.progress_bars(not json_mode) as progress:
        result = status(dest, verify=verify, check_remote=not offline, progress=progress)
    output.emit(result, json_mode=json_mode, render=lambda console: _render_status(console, result))
    if result.verified is False or result.complete is False:
        raise click.exceptions.Exit(1)


def _render_status(console, result) -> None:  # noqa: ANN001
    if result.live_sha is None:
        console.print(f"{result.dest}: nothing live yet")
    else:
        asked = f"@{result.revision}" if result.revision else ""
        console.print(f"[bold]{result.dest}[/]: live {result.live_sha} from {result.remote}{asked}, "
                      f"pulled {result.pulled_at}")
        if result.remote_error:
            console.print(f"  remote: [yellow]not checked[/] ({output.safe(result.remote_error)})")
        elif result.remote_moved:
            console.print(f"  remote: [yellow]moved[/] to {result.remote_sha} (pull again to update)")
        elif result.remote_moved is False:
            console.print("  remote: up to date")
        sig = result.signature or {}
        if sig.get("status") == "valid":
            console.print(f"  signed: [green]yes[/], by key {sig.get('signer')}")
        elif sig.get("status") == "signed":
            console.print(f"  signed: by key {sig.get('signer')} (not checked: pull with --require-signature)")
        elif sig.get("status") == "invalid":
            console.print(f"  signed: [red]INVALID[/] ({sig.get('reason')})")
        elif sig.get("status") == "unsigned":
            console.print("  signed: no")
        if result.verified is True:
            console.print("  verify: [green]intact[/] (every file matches the lock file)")
        elif result.verified is False:
            console.print("  verify: [red]CHANGED[/]")
        elif result.complete is False:
            console.print("  files: [red]INCOMPLETE[/] (pull it again, or hubmgr rollback --dest DIR)")
        for p in result.problems:
            console.print(f"    {output.safe(p)}")
    _render_server(console, result)
    for r in result.releases:
        mark = "*" if r.live else " "
        state = "" if r.complete else "  [red]incomplete[/]"
        console.print(f"  {mark} {r.sha}  {r.revision or '-':<12} {output.human_size(r.size_bytes):>9}  "
                      f"{r.pulled_at}{state}")


def _render_server(console, result) -> None:  # noqa: ANN001
    srv = result.server
    if srv is None:
        return
    if srv.running:
        lag = " [yellow](current not loaded yet)[/]" if srv.serving_sha and srv.serving_sha != result.live_sha else ""
        console.print(f"  serve: running at {srv.url}, serving {srv.serving_sha or 'nothing yet'}{lag}")
    elif srv.url:
        console.print(f"  serve: not running (last at {srv.url})")
    if srv.failed_sha:
        console.print(f"  serve: [red]release {srv.failed_sha[:12]} failed to load[/]: {srv.failed_error}")
    if srv.follow_error:
        console.print(f"  follow: [red]{srv.follow_error}[/]")


@cli.group("remote")
def remote_group() -> None:
    """Browse remotes: branches, tags, commits; the local registry."""


@remote_group.command("ls")
@click.argument("spec")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Commits to list.")
@_token_option
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
def remote_ls_cmd(spec: str, limit: int, token: str | None, json_mode: bool) -> None:
    """Branches, tags and recent commits of SPEC (add @REV for another branch).

    \b
    Examples:
      hubmgr remote ls local:gpt2
      hubmgr remote ls alice/gpt2-add@dev --limit 5 --json
    """
    from ..sync import list_remote

    result = list_remote(spec, limit=limit, token=token)
    output.emit(result, json_mode=json_mode, render=lambda console: _render_listing(console, result))


def _render_listing(console, result) -> None:  # noqa: ANN001
    console.print(f"[bold]{result.remote}[/]")
    for ref in result.refs:
        console.print(f"  {ref.kind:<6} {output.safe(ref.name):<20} {output.safe(ref.commit_sha)}")
    if result.commits:
        console.print("commits:")
    for c in result.commits:
        console.print(f"  {output.safe(c.sha[:12])}  {output.safe(c.date)}  {output.safe(c.title)}")


@remote_group.command("repos")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
def remote_repos_cmd(json_mode: bool) -> None:
    """Repositories of the embedded local registry ($HUBMGR_HOME/registry).

    \b
    Examples:
      hubmgr remote repos
      hubmgr remote repos --json
    """
    from ..sync import list_registry

    result = list_registry()

    def render(console) -> None:  # noqa: ANN001
        console.print(f"registry: {result.registry_dir}")
        if not result.repos:
            console.print("  (empty: hubmgr push PATH local:NAME creates a repository)")
        for r in result.repos:
            console.print(f"  {r.name:<24} branches: {', '.join(r.branches) or '-'}  tags: {', '.join(r.tags) or '-'}")

    output.emit(result, json_mode=json_mode, render=render)
