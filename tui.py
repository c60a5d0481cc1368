"""Start the hubmgr TUI: ``python tui.py [DIR]`` (same as ``hubmgr tui [DIR]``)."""

from hubmgr.tui.app import main

if __name__ == "__main__":
    main()
