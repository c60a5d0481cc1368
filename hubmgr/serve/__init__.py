"""Deploy-host side: ``hubmgr serve`` (OpenAI-compatible HTTP over DEST/current, hot swap)
and ``hubmgr pull --follow`` (watch a ref, smoke-test, switch, health-gate, roll back).

Modules: ``state`` (small JSON state files in DEST that ``hubmgr status`` reads; stdlib only),
``generation`` (load a release from safetensors, generate), ``model_pool`` (watch ``current``,
load in the background, swap between requests), ``app`` (the ASGI app), ``server`` (uvicorn),
``follow`` (the follow loop), ``smoke`` (the smoke test run in a subprocess).
Importing this package is free: torch, transformers and starlette load inside functions.
"""
