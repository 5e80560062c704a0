"""Reusable widgets and the app's colours (``theme``); ``common`` loads their kv rules."""
