"""Tiny GPT-2 models for tests and users' CI: the builder lives in ``hubmgr.tiny_model`` (the demo
uses it too, and the product never imports ``hubmgr.testing``)."""

from hubmgr.tiny_model import *  # noqa: F401,F403
from hubmgr.tiny_model import __all__  # noqa: F401
