"""The Hub test server's public entry: ``from hubmgr.testing.hub_server import ...`` and
``python -m hubmgr.testing.hub_server --root DIR --token TOK:alice:write``.

The code lives in the ``hubmgr.testing.hub`` package (storage, routes, faults, ...).
"""

from hubmgr.testing.hub import *  # noqa: F401,F403  (re-export the public names)
from hubmgr.testing.hub import __all__, main  # noqa: F401

if __name__ == "__main__":
    main()
