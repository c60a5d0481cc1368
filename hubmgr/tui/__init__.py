"""The Textual front end. ``create_app`` (in ``app.py``) builds the App from its services."""
