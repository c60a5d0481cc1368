"""CLI command: ``serve`` (OpenAI-compatible HTTP over DEST/current with hot swap)."""

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
