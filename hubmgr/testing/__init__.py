"""Test support that users' CI can reuse too: the Hub test server (``hub/``), tiny models, checkpoint
and pickle factories, a CLI runner.

The product never imports this package (tests/unit/test_core_imports.py checks it).
"""
