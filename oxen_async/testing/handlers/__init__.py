"""Endpoint handlers, one module per group of routes; ``app.py`` wires them to paths."""
