"""Where the device is: at each tap, and every minute while driving to a job.

``LocationProvider`` is the interface the app uses. Desktop runs and tests use
``FixedLocation``, ``SimulatedLocation`` or ``NoLocation``; on Android ``AndroidGpsLocation`` wraps plyer's GPS.
plyer (and p4a's ``android`` module) are imported inside its methods only, so this
module imports cleanly anywhere; plyer has no Linux GPS backend and raises there.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol


class LocationProvider(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def current(self) -> tuple[float, float] | None:
        """Latest ``(latitude, longitude)``, or None when unknown."""
        ...


class NoLocation:
    """No position at all (desktop default): events go out with null coordinates."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def current(self) -> tuple[float, float] | None:
        return None


class FixedLocation:
    """Always the same position (desktop demos, tests)."""

    def __init__(self, latitude: float, longitude: float) -> None:
        self.latitude = float(latitude)
        self.longitude = float(longitude)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def current(self) -> tuple[float, float] | None:
        return (self.latitude, self.longitude)


class AndroidGpsLocation:
    """plyer GPS on Android. Asks for the location permission at runtime (Android 6+).

    plyer calls ``_on_location`` from a Java thread. It only stores two floats under a
    lock, and ``current()`` reads them, so no hop to the Kivy main thread is needed.
    """

    def __init__(self, *, min_time_ms: int = 10_000, min_distance_m: float = 10.0, max_age_s: float = 15 * 60) -> None:
        self._min_time_ms = min_time_ms
        self._min_distance_m = min_distance_m
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._fix: tuple[float, float, float] | None = None  # lat, lon, monotonic time
        self._running = False

    def start(self) -> None:
        from android.permissions import Permission, request_permissions  # android only

        request_permissions([Permission.ACCESS_FINE_LOCATION, Permission.ACCESS_COARSE_LOCATION], self._on_permissions)

    def stop(self) -> None:
        if self._running:
            from plyer import gps  # android only

            gps.stop()
            self._running = False

    def current(self) -> tuple[float, float] | None:
        with self._lock:
            fix = self._fix
        if fix is None or time.monotonic() - fix[2] > self._max_age_s:
            return None
        return (fix[0], fix[1])

    def _on_permissions(self, permissions: list[str], grants: list[bool]) -> None:
        if not any(grants):
            return  # the technician said no: events carry null coordinates
        from plyer import gps  # android only

        gps.configure(on_location=self._on_location)
        gps.start(minTime=self._min_time_ms, minDistance=self._min_distance_m)
        self._running = True

    def _on_location(self, **kwargs: Any) -> None:
        try:
            fix = (float(kwargs["lat"]), float(kwargs["lon"]), time.monotonic())
        except (KeyError, TypeError, ValueError):
            return
        with self._lock:
            self._fix = fix


class SimulatedLocation:
    """A phone driving in a straight line from ``start`` to ``target`` (desktop, tests).

    Each ``current()`` call moves one step of ``1/steps`` of the way; it stays at the
    target once there. ``--location LAT,LON`` and tests use it to produce the reports a
    real drive would.
    """

    def __init__(self, start: tuple[float, float], target: tuple[float, float], *, steps: int = 20) -> None:
        self.start_at = (float(start[0]), float(start[1]))
        self.target = (float(target[0]), float(target[1]))
        self.steps = max(1, int(steps))
        self._step = 0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def current(self) -> tuple[float, float] | None:
        share = min(self._step, self.steps) / self.steps
        self._step += 1
        return (
            self.start_at[0] + (self.target[0] - self.start_at[0]) * share,
            self.start_at[1] + (self.target[1] - self.start_at[1]) * share,
        )
