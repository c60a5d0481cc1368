"""``python -m hubmgr``: the same as the ``hubmgr`` command (used by the guard's pre-push hook)."""

from hubmgr._entry import main

if __name__ == "__main__":
    main()
