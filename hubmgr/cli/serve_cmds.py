"""CLI: ``serve`` (OpenAI-compatible HTTP over DEST/current with hot swap) and ``pull --follow``."""

from __future__ import annotations

from pathlib import Path

import click

from .root import cli


@cli.command("serve")
@click.option("--dest", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Deploy dir made by hubmgr pull; serves DEST/current and follows it when it switches.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port; the URL is printed).")
@click.option("--max-queue", default=64, show_default=True, type=click.IntRange(min=0),
              help="Requests allowed to wait for the model; more get HTTP 429.")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch CPU threads (default: torch's).")
def serve_cmd(dest: Path, host: str, port: int, max_queue: int, threads: int | None) -> None:
    """Serve the model in DEST/current over an OpenAI-compatible HTTP API.

    POST /v1/completions (prompt, max_tokens, temperature, top_p, stop, n,
    stream), GET /v1/models, GET /health, GET /ready (503 until a release is
    loaded). Every response has the header X-Hubmgr-Release: the release sha
    that produced it. Weights load from safetensors only, never a pickle.

    When DEST/current switches (pull, rollback, pull --follow) the new release
    loads in the background and takes over between requests; in-flight requests
    finish on the old one. A release that fails to load is not switched to: the
    old one keeps serving and `hubmgr status --dest DEST` shows the failure.
    One log line per request on stderr; SIGTERM or Ctrl-C stops cleanly.

    \b
    Examples:
      hubmgr serve --dest /srv/gpt2
      hubmgr serve --dest /srv/gpt2 --host 0.0.0.0 --port 8080 --max-queue 16
      curl -s localhost:8000/v1/completions -H 'content-type: application/json' \\
           -d '{"prompt": "1 + 2 =", "max_tokens": 4, "temperature": 0}'
    """
    from ..serve.server import run

    run(dest, host=host, port=port, max_queue=max_queue, threads=threads,
        announce=lambda line: click.echo(line))


FOLLOW_EXAMPLES = """
\b
Follow a branch or tag (--follow):
  hubmgr pull local:gpt2@prod --dest /srv/gpt2 --follow
  hubmgr pull alice/gpt2-add@prod --dest /srv/gpt2 --follow --interval 300 \\
      --health-url http://127.0.0.1:8000 --smoke-test '1 + 1 ='
  hubmgr pull local:gpt2@prod --dest /srv/gpt2 --follow --once   # one check, for cron"""


def follow_options(fn):  # noqa: ANN001, ANN201 - click decorator stack for `pull`
    options = [
        click.option("--follow", is_flag=True, help="Keep running: whenever SPEC's branch/tag moves, pull that "
                     "commit, smoke-test it, make it live (rolled back if the server does not get ready)."),
        click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
                     help="--follow: seconds between checks (with +-10% jitter; failures back off)."),
        click.option("--smoke-test", "smoke_test", default="1", show_default=True, metavar="PROMPT",
                     help="--follow: prompt a subprocess generates from before the release goes live."),
        click.option("--no-smoke-test", is_flag=True, help="--follow: make releases live without a smoke test."),
        click.option("--health-url", default=None, metavar="URL", help="--follow: hubmgr serve's URL (or its /ready);"
                     " after a switch it must report the new sha within --ready-timeout, else roll back."),
        click.option("--ready-timeout", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
                     help="--follow: seconds to wait for --health-url."),
        click.option("--once", is_flag=True, help="--follow: one check, then exit (1 if it failed); for cron."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def run_follow(ctx, spec: str, dest, *, keep: int, interval: float, smoke_test: str, no_smoke_test: bool,  # noqa: ANN001
               health_url: str | None, ready_timeout: float, once: bool, json_mode: bool, pull_options: dict) -> None:
    """``pull --follow``: one line (or one JSON object) per event until Ctrl-C / SIGTERM."""
    import json

    from ..progress import CancelToken
    from ..serve.follow import FollowOptions, follow

    if dest is None:
        raise click.UsageError("--follow needs --dest DIR")
    opts = FollowOptions(interval=interval, smoke_test=None if no_smoke_test else smoke_test, health_url=health_url,
                         ready_timeout=ready_timeout, keep=keep,
                         pull_options=tuple((k, v) for k, v in pull_options.items() if v))

    def show(event) -> None:  # noqa: ANN001
        click.echo(json.dumps(event.to_dict()) if json_mode else event.line)

    result = follow(spec, dest=dest, options=opts, once=once, on_event=show, catalog=ctx.catalog(),
                    cancel=CancelToken())
    if once and not result.ok:
        raise click.exceptions.Exit(1)
