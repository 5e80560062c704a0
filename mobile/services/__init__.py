"""Plain-Python services of the technician app: HTTP client, offline outbox, local store.

Nothing here imports Kivy, so all of it is tested without a window.
"""
