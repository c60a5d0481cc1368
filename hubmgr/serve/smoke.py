"""Smoke test of a release, run in a subprocess by ``pull --follow``: load it the way ``serve`` does
(safetensors only) and generate a few tokens from a prompt. Exit 0 and print the text, or exit 1
and print why. A crash, a hang (the caller's timeout) or running out of memory stay in this process.

    python -m hubmgr.serve.smoke RELEASE_DIR PROMPT
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from ..errors import HubmgrError
    from .generation import GenParams, generate, load_release

    release, prompt = argv
    try:
        lm = load_release(release, smoke_prompt=None)
        text = generate(lm, [prompt], GenParams(max_tokens=8, temperature=0.0))[0].text
    except HubmgrError as exc:
        print(exc.message, flush=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - any failure means "do not make it live"; say which
        print(f"generation failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
              flush=True)
        return 1
    print(f"{prompt!r} -> {text!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
