"""Screens: the main screen and the modal dialogs. They collect input and show results; the app does the work."""
