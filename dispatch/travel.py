"""Travel-time providers: build the integer minute matrices the optimizer needs.

``GeodesicTravel`` is the embedded default (no network): great-circle distance
on the WGS-84 ellipsoid, stretched by a circuity factor for real roads, at a
speed that may depend on the hour of departure. ``OsrmTravel`` asks an OSRM
server. ``CachedTravel`` memoises pairs of either. ``FallbackTravel`` answers
from an offline provider while the primary one fails, and says so.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from geopy.distance import geodesic

from dispatch.model import Location

__all__ = [
    "CachedTravel",
    "FallbackTravel",
    "GeodesicTravel",
    "geodesic_km",
    "OsrmTravel",
    "TravelError",
    "TravelMatrix",
    "TravelTimeProvider",
    "gcj02_to_wgs84",
    "wgs84_to_gcj02",
]


logger = logging.getLogger(__name__)


class TravelError(RuntimeError):
    """A travel-time source failed (network error, bad answer, ...)."""


@runtime_checkable
class TravelTimeProvider(Protocol):
    """Anything that turns points into a travel-time matrix."""

    def durations(self, points: Sequence[Location], *, depart_minute: int = 0) -> list[list[int]]:
        """Whole minutes (rounded up) between all pairs, 0 on the diagonal."""
        ...


# WGS-84. Within a city the ellipsoid is flat to within a metre over tens of kilometres, so a
# local projection with the ellipsoid's radii of curvature at the mid-latitude gives geopy's
# geodesic to ~1e-5 at a hundredth of the cost (geopy: ~200 us a pair, which made a 600-stop
# matrix take 40 s). Pairs farther apart than _FLAT_LIMIT_KM use geopy's exact geodesic.
_WGS84_A_KM = 6378.137
_WGS84_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)
_FLAT_LIMIT_KM = 50.0


def _flat_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Ellipsoidal distance in km by local projection (scalars or numpy arrays)."""
    phi = np.radians((lat1 + lat2) / 2.0)
    w2 = 1.0 - _WGS84_E2 * np.sin(phi) ** 2
    prime_vertical = _WGS84_A_KM / np.sqrt(w2)
    meridional = _WGS84_A_KM * (1.0 - _WGS84_E2) / w2**1.5
    dlon = (np.asarray(lon2) - lon1 + 180.0) % 360.0 - 180.0
    dx = np.radians(dlon) * prime_vertical * np.cos(phi)
    dy = np.radians(np.asarray(lat2) - lat1) * meridional
    return np.hypot(dx, dy)


def geodesic_km(a: Location, b: Location) -> float:
    """Distance in km on the WGS-84 ellipsoid (geopy's geodesic beyond city scale)."""
    km = float(_flat_km(a.lat, a.lon, b.lat, b.lon))
    if km > _FLAT_LIMIT_KM:
        return geodesic((a.lat, a.lon), (b.lat, b.lon)).km
    return km


def _ceil_minutes(minutes: float) -> int:
    # A tiny tolerance keeps float noise (e.g. 3.0000000001) from adding a minute.
    return max(0, math.ceil(minutes - 1e-9))


class GeodesicTravel:
    """Travel times from geodesic distance, a circuity factor and a speed.

    Parameters
    ----------
    circuity
        Road distance / straight-line distance (1.3 is typical for cities).
    speed_kmh
        Default driving speed.
    hourly_speed
        Optional speed per hour of day (0-23) of departure, e.g. slower at rush
        hour; hours not listed use ``speed_kmh``.
    overhead_min
        Fixed minutes added to every trip between distinct points (parking,
        walking to the door).
    """

    def __init__(
        self,
        circuity: float = 1.3,
        speed_kmh: float = 30.0,
        hourly_speed: Mapping[int, float] | None = None,
        overhead_min: int = 0,
    ) -> None:
        if circuity <= 0 or speed_kmh <= 0:
            raise ValueError("circuity and speed_kmh must be positive")
        if hourly_speed and min(hourly_speed.values()) <= 0:
            raise ValueError("hourly speeds must be positive")
        self.circuity = circuity
        self.speed_kmh = speed_kmh
        self.hourly_speed = dict(hourly_speed or {})
        self.overhead_min = overhead_min

    def speed_at(self, depart_minute: int) -> float:
        """Speed in km/h for a departure at this minute of the day."""
        hour = (depart_minute // 60) % 24
        return self.hourly_speed.get(hour, self.speed_kmh)

    def minutes(self, a: Location, b: Location, *, depart_minute: int = 0) -> int:
        """Travel time in whole minutes (rounded up) from ``a`` to ``b``.

        Parameters
        ----------
        a, b
            WGS-84 points.
        depart_minute
            Minute of the day of departure (selects ``hourly_speed``).

        Returns
        -------
        int
            Minutes; 0 when the points coincide.
        """
        if a == b:
            return 0
        return self._minutes_for_km(geodesic_km(a, b), depart_minute)

    def pair_minutes(self, pairs: Sequence[tuple[Location, Location]], *, depart_minute: int = 0) -> list[int]:
        """:meth:`minutes` for many (from, to) pairs at once (vectorised)."""
        if not pairs:
            return []
        a = np.array([(p.lat, p.lon) for p, _ in pairs], dtype=float)
        b = np.array([(q.lat, q.lon) for _, q in pairs], dtype=float)
        km = _flat_km(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
        for k in np.nonzero(km > _FLAT_LIMIT_KM)[0]:
            km[k] = geodesic_km(*pairs[int(k)])
        raw = 60.0 * km * self.circuity / self.speed_at(depart_minute)
        minutes = np.maximum(0, np.ceil(raw - 1e-9)).astype(np.int64) + self.overhead_min
        minutes[(a[:, 0] == b[:, 0]) & (a[:, 1] == b[:, 1])] = 0
        return minutes.tolist()

    def _minutes_for_km(self, km: float, depart_minute: int) -> int:
        minutes = _ceil_minutes(60.0 * km * self.circuity / self.speed_at(depart_minute))
        return minutes + self.overhead_min

    def durations(self, points: Sequence[Location], *, depart_minute: int = 0) -> list[list[int]]:
        """Symmetric minute matrix between all points.

        Parameters
        ----------
        points
            WGS-84 points; the matrix follows their order.
        depart_minute
            Minute of the day of departure (one speed for the whole matrix).

        Returns
        -------
        list[list[int]]
            ``m[i][j]`` minutes from ``points[i]`` to ``points[j]``.
        """
        n = len(points)
        if n == 0:
            return []
        lat = np.array([p.lat for p in points], dtype=float)
        lon = np.array([p.lon for p in points], dtype=float)
        km = _flat_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
        for i, j in zip(*np.nonzero(np.triu(km > _FLAT_LIMIT_KM)), strict=True):
            km[i, j] = km[j, i] = geodesic_km(points[i], points[j])
        raw = 60.0 * km * self.circuity / self.speed_at(depart_minute)
        minutes = np.maximum(0, np.ceil(raw - 1e-9)).astype(np.int64) + self.overhead_min
        same = (lat[:, None] == lat[None, :]) & (lon[:, None] == lon[None, :])
        minutes[same] = 0
        return minutes.tolist()


class OsrmTravel:
    """Travel times from an OSRM server's ``table`` service.

    Parameters
    ----------
    base_url
        Server root, e.g. ``http://localhost:5000``.
    profile
        OSRM profile (``driving``, ``car``, ...).
    timeout_s
        Socket timeout per request.

    Notes
    -----
    OSRM has no time-of-day model, so ``depart_minute`` is ignored.
    """

    def __init__(self, base_url: str, profile: str = "driving", timeout_s: float = 5) -> None:
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.timeout_s = timeout_s

    def url(self, points: Sequence[Location]) -> str:
        """The table request URL for these points."""
        coords = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in points)
        return f"{self.base_url}/table/v1/{self.profile}/{coords}?annotations=duration"

    def durations(self, points: Sequence[Location], *, depart_minute: int = 0) -> list[list[int]]:
        """Minute matrix from OSRM (seconds rounded up to whole minutes).

        Raises
        ------
        TravelError
            On network errors, HTTP errors, a non-``Ok`` code, unroutable
            pairs or a malformed answer.
        """
        n = len(points)
        if n == 0:
            return []
        if n == 1:
            return [[0]]
        url = self.url(points)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:  # noqa: S310
                payload = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            raise TravelError(f"OSRM returned HTTP {exc.code} for {url}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TravelError(f"cannot reach OSRM at {self.base_url}: {exc}") from exc
        except http.client.HTTPException as exc:
            # Not HTTP at all (BadStatusLine), or a reply cut short (IncompleteRead).
            raise TravelError(f"OSRM at {self.base_url} gave a broken HTTP answer: {exc!r}") from exc
        except ValueError as exc:
            raise TravelError(f"OSRM answered with invalid JSON: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("code") != "Ok":
            code = payload.get("code") if isinstance(payload, dict) else None
            msg = payload.get("message", "") if isinstance(payload, dict) else ""
            raise TravelError(f"OSRM error {code}: {msg}".rstrip(": "))
        table = payload.get("durations")
        if (
            not isinstance(table, list)
            or len(table) != n
            or any(not isinstance(row, list) or len(row) != n for row in table)
        ):
            raise TravelError(f"OSRM returned a malformed {n}x{n} duration table")
        out = [[0] * n for _ in range(n)]
        for i, row in enumerate(table):
            for j, sec in enumerate(row):
                if i == j:
                    continue
                if sec is None:
                    raise TravelError(f"OSRM found no route from point {i} to point {j}")
                if isinstance(sec, bool) or not isinstance(sec, int | float) or not 0 <= sec < math.inf:
                    raise TravelError(f"OSRM returned a malformed duration {sec!r} from point {i} to {j}")
                out[i][j] = _ceil_minutes(float(sec) / 60.0)
        return out


class CachedTravel:
    """Memoise pairwise travel times of another provider (LRU).

    Parameters
    ----------
    inner
        The provider to ask for missing pairs.
    max_entries
        Pairs kept; the least recently used are evicted.

    Notes
    -----
    Missing pairs are fetched in one ``inner.durations`` call over the points
    involved. Entries are keyed by the departure hour as well as the points.
    """

    def __init__(self, inner: TravelTimeProvider, max_entries: int = 100_000) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self.inner = inner
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[Location, Location, int], int] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._cache)

    def durations(self, points: Sequence[Location], *, depart_minute: int = 0) -> list[list[int]]:
        """Minute matrix, served from the cache where possible."""
        n = len(points)
        hour = (depart_minute // 60) % 24
        out = [[0] * n for _ in range(n)]
        missing: set[int] = set()
        for i in range(n):
            for j in range(n):
                if i == j or points[i] == points[j]:
                    continue
                key = (points[i], points[j], hour)
                value = self._cache.get(key)
                if value is None:
                    missing.update((i, j))
                    self.misses += 1
                else:
                    self._cache.move_to_end(key)
                    out[i][j] = value
                    self.hits += 1
        if missing:
            idx = sorted(missing)
            sub = self.inner.durations([points[i] for i in idx], depart_minute=depart_minute)
            for a, i in enumerate(idx):
                for b, j in enumerate(idx):
                    if i == j or points[i] == points[j]:
                        continue
                    out[i][j] = sub[a][b]
                    self._put((points[i], points[j], hour), sub[a][b])
        return out

    def _put(self, key: tuple[Location, Location, int], value: int) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)


@dataclass(frozen=True, slots=True)
class TravelMatrix:
    """A minute matrix and whether it is only the offline estimate.

    ``approximate`` is true when the configured provider could not answer and the
    fallback's straight-line model answered instead.
    """

    minutes: list[list[int]]
    approximate: bool


class FallbackTravel:
    """Ask ``primary``; when it fails, answer from ``fallback`` and flag the answer approximate.

    Parameters
    ----------
    primary
        The provider to use (e.g. OSRM). Its failures must be :class:`TravelError`.
    fallback
        A provider that does not fail (e.g. :class:`GeodesicTravel`).
    retry_after_s
        After a failure the primary is left alone this long (a short circuit breaker), so a
        dead server costs one timeout per period rather than one per request; 0 asks it
        every time.
    clock
        Monotonic seconds (injectable for tests).

    Notes
    -----
    One warning is logged when the primary fails, and none while the breaker is open; the
    answers served meanwhile are counted and reported when the primary answers again.
    :attr:`approximate` tells whether the last answer given *to the calling thread* was the
    fallback's (the provider is shared between request threads).
    """

    def __init__(
        self,
        primary: TravelTimeProvider,
        fallback: TravelTimeProvider,
        *,
        retry_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if retry_after_s < 0:
            raise ValueError("retry_after_s must not be negative")
        self.primary = primary
        self.fallback = fallback
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None  # primary skipped until then
        self._failing = False  # between a failure and the next answer from the primary
        self._fallback_answers = 0  # since the primary last failed
        self._local = threading.local()
        self.failures = 0

    @property
    def approximate(self) -> bool:
        """Whether the last answer given to this thread came from the fallback."""
        return bool(getattr(self._local, "approximate", False))

    def estimate(self, points: Sequence[Location], *, depart_minute: int = 0) -> TravelMatrix:
        """Minute matrix between all points, and whether it is the fallback's estimate.

        Parameters
        ----------
        points
            WGS-84 points; the matrix follows their order.
        depart_minute
            Minute of the day of departure.

        Returns
        -------
        TravelMatrix
            The primary's answer (``approximate=False``) or, when the primary fails or is
            being left alone after a failure, the fallback's (``approximate=True``).
        """
        result = self._estimate(points, depart_minute=depart_minute)
        self._local.approximate = result.approximate
        return result

    def durations(self, points: Sequence[Location], *, depart_minute: int = 0) -> list[list[int]]:
        """:meth:`estimate`'s minutes (see :attr:`approximate`)."""
        return self.estimate(points, depart_minute=depart_minute).minutes

    def _estimate(self, points: Sequence[Location], *, depart_minute: int) -> TravelMatrix:
        if not self._breaker_open():
            try:
                minutes = self.primary.durations(points, depart_minute=depart_minute)
            except TravelError as exc:
                self._failed(exc)
            else:
                self._answered()
                return TravelMatrix(minutes, approximate=False)
        with self._lock:
            self._fallback_answers += 1
        return TravelMatrix(self.fallback.durations(points, depart_minute=depart_minute), approximate=True)

    def _breaker_open(self) -> bool:
        """Whether to skip the primary. Once the pause is over one caller (this one) tries it
        again while the others keep to the fallback until it has answered or failed."""
        with self._lock:
            if self._open_until is None:
                return False
            now = self._clock()
            if now < self._open_until:
                return True
            self._open_until = now + self.retry_after_s
            return False

    def _failed(self, exc: TravelError) -> None:
        with self._lock:
            self.failures += 1
            first = not self._failing
            self._failing = True
            self._open_until = self._clock() + self.retry_after_s
            served = self._fallback_answers
        if first:
            logger.warning(
                "Routing provider failed (%s); answering from the offline model, approximate, "
                "and asking it again in %g s",
                exc,
                self.retry_after_s,
            )
        else:
            logger.warning(
                "Routing provider still failing (%s); %d approximate answers so far, next try in %g s",
                exc,
                served,
                self.retry_after_s,
            )

    def _answered(self) -> None:
        with self._lock:
            if not self._failing:
                return
            served, self._fallback_answers = self._fallback_answers, 0
            self._failing = False
            self._open_until = None
        logger.warning("Routing provider answers again, after %d approximate answers", served)


# --- GCJ-02 ("Mars coordinates") ----------------------------------------------
# Chinese map apps publish GCJ-02 coordinates, offset from WGS-84 by up to a few
# hundred metres. The forward transform is the widely published approximation on
# the Krasovsky 1940 ellipsoid; the inverse is solved by fixed-point iteration.

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m)
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared


def _outside_china(lat: float, lon: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _delta(lat: float, lon: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * math.sqrt(abs(x))
        + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * math.sqrt(abs(x))
        + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Convert a WGS-84 coordinate to GCJ-02 (unchanged outside China).

    Parameters
    ----------
    lat, lon
        WGS-84 decimal degrees.

    Returns
    -------
    tuple[float, float]
        ``(lat, lon)`` in GCJ-02.
    """
    if _outside_china(lat, lon):
        return lat, lon
    dlat, dlon = _delta(lat, lon)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Convert a GCJ-02 coordinate (Chinese map apps) back to WGS-84.

    Parameters
    ----------
    lat, lon
        GCJ-02 decimal degrees.

    Returns
    -------
    tuple[float, float]
        ``(lat, lon)`` in WGS-84, accurate to well under a millimetre; input
        outside China is returned unchanged.
    """
    if _outside_china(lat, lon):
        return lat, lon
    wlat, wlon = lat, lon
    for _ in range(30):
        glat, glon = wgs84_to_gcj02(wlat, wlon)
        elat, elon = glat - lat, glon - lon
        wlat, wlon = wlat - elat, wlon - elon
        if abs(elat) < 1e-12 and abs(elon) < 1e-12:
            break
    return wlat, wlon
