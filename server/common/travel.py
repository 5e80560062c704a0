"""The travel-time provider the server uses, chosen by settings (offline geodesic by default).

With ``ROUTING_PROVIDER = "osrm"`` the OSRM answers are cached and, while OSRM fails (down,
slow, HTTP errors, a broken answer), the geodesic model answers instead: a call is still
dispatched and a technician's tap still answers, with the estimate marked approximate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from dispatch.model import Location
from dispatch.travel import CachedTravel, FallbackTravel, GeodesicTravel, OsrmTravel, TravelTimeProvider

# A call or a tap waits at most this long for OSRM before the geodesic model answers.
OSRM_TIMEOUT_SECONDS = 3.0
# After OSRM failed it is left alone this long: the geodesic model answers meanwhile.
OSRM_RETRY_AFTER_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class TravelEstimate:
    """Driving minutes, and whether they are the offline estimate because the routing provider
    could not answer."""

    minutes: int
    approximate: bool


@lru_cache(maxsize=1)
def travel_provider() -> TravelTimeProvider:
    geodesic = GeodesicTravel(circuity=settings.ROUTING_CIRCUITY, speed_kmh=settings.ROUTING_SPEED_KMH)
    if settings.ROUTING_PROVIDER == "osrm":
        # The cache sits inside the fallback, so approximate answers are never cached as OSRM's.
        osrm = CachedTravel(OsrmTravel(settings.OSRM_URL, timeout_s=OSRM_TIMEOUT_SECONDS), max_entries=200_000)
        return FallbackTravel(osrm, geodesic, retry_after_s=OSRM_RETRY_AFTER_SECONDS)
    return geodesic


def minute_of_day(moment: dt.datetime) -> int:
    local = timezone.localtime(moment)
    return local.hour * 60 + local.minute


def travel_estimate(origin: Location, destination: Location, *, at: dt.datetime) -> TravelEstimate:
    """Driving minutes from ``origin`` to ``destination`` leaving at ``at``, flagged approximate
    when the routing provider failed and the offline model answered."""
    provider = travel_provider()
    points, depart_minute = [origin, destination], minute_of_day(at)
    if isinstance(provider, FallbackTravel):
        matrix = provider.estimate(points, depart_minute=depart_minute)
        return TravelEstimate(minutes=int(matrix.minutes[0][1]), approximate=matrix.approximate)
    return TravelEstimate(minutes=int(provider.durations(points, depart_minute=depart_minute)[0][1]), approximate=False)


def travel_minutes(origin: Location, destination: Location, *, at: dt.datetime) -> int:
    """Driving minutes from ``origin`` to ``destination`` leaving at ``at``
    (:func:`travel_approximate` tells whether they are the offline estimate)."""
    return travel_estimate(origin, destination, at=at).minutes


def travel_approximate() -> bool:
    """Whether the last travel answer given to this thread (:func:`travel_minutes`, or a matrix
    from :func:`travel_provider`) was the offline estimate because the routing provider failed."""
    provider = travel_provider()
    return isinstance(provider, FallbackTravel) and provider.approximate
