"""Test support that users' CI can reuse too: tiny models and (later) the Hub test server.

Nothing here is imported by the core at run time except the demo.
"""
