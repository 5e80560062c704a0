"""The travel-time provider the server uses, chosen by settings (offline geodesic by default)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from dispatch.model import Location
from dispatch.travel import CachedTravel, GeodesicTravel, OsrmTravel, TravelTimeProvider


@lru_cache(maxsize=1)
def travel_provider() -> TravelTimeProvider:
    if settings.ROUTING_PROVIDER == "osrm":
        return CachedTravel(OsrmTravel(settings.OSRM_URL), max_entries=200_000)
    return GeodesicTravel(circuity=settings.ROUTING_CIRCUITY, speed_kmh=settings.ROUTING_SPEED_KMH)


def minute_of_day(moment: dt.datetime) -> int:
    local = timezone.localtime(moment)
    return local.hour * 60 + local.minute


def travel_minutes(origin: Location, destination: Location, *, at: dt.datetime) -> int:
    """Driving minutes from ``origin`` to ``destination`` leaving at ``at``."""
    matrix = travel_provider().durations([origin, destination], depart_minute=minute_of_day(at))
    return int(matrix[0][1])
