"""Run blocking work (HTTP) on a worker thread; deliver the outcome on the Kivy main thread.

The worker never touches widgets or Kivy properties: it only calls ``work()``. The
callbacks are queued with ``Clock.schedule_once`` (thread-safe, what ``@mainthread``
does), so they run between frames on the main thread. Tests must keep pumping frames
(``ui.wait_until``) for them to arrive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from kivy.clock import Clock

T = TypeVar("T")


def run_in_background(
    work: Callable[[], T],
    *,
    on_done: Callable[[T], Any],
    on_error: Callable[[BaseException], Any],
    name: str = "fixroute-net",
) -> threading.Thread:
    def runner() -> None:
        try:
            result = work()
        except Exception as exc:  # every failure goes to on_error, none is lost
            Clock.schedule_once(partial(_call, on_error, exc))
        else:
            Clock.schedule_once(partial(_call, on_done, result))

    thread = threading.Thread(target=runner, name=name, daemon=True)
    thread.start()
    return thread


def _call(callback: Callable[[Any], Any], value: Any, _dt: float) -> None:
    callback(value)
