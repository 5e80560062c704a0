"""Fixroute technician app (Kivy). Talks to the server over HTTP only.

Run it with ``python -m mobile --server http://127.0.0.1:8000``.
"""
