"""Process start-up for web workers: load everything once, then keep it out of the GC's way."""

from __future__ import annotations

import gc
from importlib import import_module

from django.conf import settings


def warm_up() -> None:
    """Import the URLconf (and with it the API, the optimizer and OR-Tools), then freeze.

    Everything loaded at start-up lives as long as the process. ``gc.freeze()`` moves it to
    a generation the collector never scans, so a full collection walks only what requests
    created: without it, the full collections a busy request triggers took about 100 ms
    each and put one urgent order in twenty over budget (``bench/urgent_api.py``).
    """
    import_module(settings.ROOT_URLCONF)
    gc.collect()
    gc.freeze()
