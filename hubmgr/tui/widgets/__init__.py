"""Widgets: display only. They get data from the app and never do I/O."""
