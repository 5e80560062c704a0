"""Coordinates for an address typed without them, from the geocoder settings choose (geopy).

``GEOCODER = "none"`` (the offline default) finds nothing. ``"nominatim"`` asks geopy's Nominatim
client at ``GEOCODER_URL`` (a Nominatim-compatible service, e.g. a self-hosted one on a closed
network). Answers are cached by normalised address. A geocoder that is down, slow, refuses the
query or answers nonsense finds nothing, and so does a cache that is down: the caller saves the
address without coordinates and flags it for review; it never fails because of either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from geopy import exc as geopy_exc
from geopy.adapters import RequestsAdapter
from geopy.geocoders import Nominatim
from geopy.geocoders.base import Geocoder

logger = logging.getLogger(__name__)

# An address found is cached for a month (streets do not move), one the geocoder does not know
# for a day (its data may be updated); a failure is not cached at all.
GEOCODE_FOUND_CACHE_SECONDS = 30 * 24 * 3600
GEOCODE_MISS_CACHE_SECONDS = 24 * 3600
_CACHE_PREFIX = "geocode:v1:"

# How each geopy failure is reported (the first matching class wins). All of them mean "no
# coordinates"; the wording tells an operator whether to look at the service or the settings.
_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (geopy_exc.GeocoderTimedOut, "timed out"),
    (geopy_exc.GeocoderRateLimited, "rate limited"),
    (geopy_exc.GeocoderQuotaExceeded, "quota exceeded"),
    (geopy_exc.GeocoderUnavailable, "unavailable"),
    (geopy_exc.GeocoderAuthenticationFailure, "refused our credentials (check the settings)"),
    (geopy_exc.GeocoderInsufficientPrivileges, "refused access (check the settings)"),
    (geopy_exc.ConfigurationError, "is misconfigured (check GEOCODER_URL and GEOCODER_USER_AGENT)"),
    (geopy_exc.GeocoderQueryError, "rejected the query"),
    (geopy_exc.GeocoderParseError, "answered something unreadable"),
    (geopy_exc.GeopyError, "failed"),
)


@dataclass(frozen=True, slots=True)
class GeocodeResult:
    latitude: float
    longitude: float
    label: str  # the geocoder's name for the place it found
    source: str  # the geocoder setting that found it, e.g. "nominatim"


def address_normalise(address: str) -> str:
    """The cache's form of an address: whitespace collapsed, case folded."""
    return " ".join(address.split()).casefold()


def _nominatim() -> Geocoder:
    return _nominatim_client(
        url=settings.GEOCODER_URL,
        user_agent=settings.GEOCODER_USER_AGENT,
        timeout=float(settings.GEOCODER_TIMEOUT_SECONDS),
    )


@lru_cache(maxsize=4)
def _nominatim_client(*, url: str, user_agent: str, timeout: float) -> Geocoder:
    """geopy's Nominatim at ``url`` (scheme, host, port and any path prefix); geopy's default
    service when ``url`` is empty."""
    options: dict[str, Any] = {}
    if url.strip():
        parts = urlsplit(url.strip() if "://" in url else f"https://{url.strip()}")
        options = {"scheme": parts.scheme, "domain": parts.netloc + parts.path.rstrip("/")}
    # No retries: geopy's default (2) would make a slow service cost three timeouts, and the
    # caller is a person waiting for the order to be saved.
    adapter = partial(RequestsAdapter, max_retries=0)
    return Nominatim(user_agent=user_agent, timeout=timeout, adapter_factory=adapter, **options)


# GEOCODER setting → a function building the geopy geocoder; "none" is absent (no geocoding).
GEOCODERS: dict[str, Callable[[], Geocoder]] = {"nominatim": _nominatim}


def _country_codes() -> list[str] | None:
    codes = [code.strip().lower() for code in str(settings.GEOCODER_COUNTRY_CODES).split(",") if code.strip()]
    return codes or None


def _cache_key(query: str) -> str:
    scope = [settings.GEOCODER, settings.GEOCODER_URL, _country_codes(), address_normalise(query)]
    return _CACHE_PREFIX + hashlib.sha256(json.dumps(scope, ensure_ascii=False).encode()).hexdigest()


def _cache_get(key: str) -> dict[str, Any] | None:
    try:
        value = cache.get(key)
    except Exception as error:  # any cache backend error: the cache only saves a request
        logger.warning("Geocode cache unavailable (%s); asking the geocoder", error)
        return None
    return value if isinstance(value, dict) else None


def _cache_set(key: str, value: dict[str, Any], *, timeout: int) -> None:
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as error:  # any cache backend error: the answer is still good
        logger.warning("Geocode cache unavailable (%s); answer not cached", error)


def _result(value: dict[str, Any]) -> GeocodeResult | None:
    if not value.get("found"):
        return None
    return GeocodeResult(latitude=value["lat"], longitude=value["lon"], label=value["label"], source=value["source"])


def _coordinate(value: Any, limit: float) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and -limit <= number <= limit else None


def address_geocode(address: str) -> GeocodeResult | None:
    """Coordinates for ``address`` from the configured geocoder, or None.

    None when geocoding is off (``GEOCODER = "none"``), when the geocoder does not know the
    address, and when it cannot be asked or answers nonsense (logged as a warning). Never raises
    because of the geocoder or the cache.
    """
    build = GEOCODERS.get(settings.GEOCODER)
    query = " ".join(address.split())
    if build is None or not query:
        return None
    key = _cache_key(query)
    cached = _cache_get(key)
    if cached is not None:
        return _result(cached)
    try:
        location = build().geocode(query, exactly_one=True, country_codes=_country_codes())
        found = None
        if location is not None:  # the raw answer: geopy turns a place without coordinates into (0, 0)
            found = (location.raw.get("lat"), location.raw.get("lon"), location.address)
    except (geopy_exc.GeopyError, ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
        reason = next((text for kind, text in _FAILURES if isinstance(error, kind)), "answered something unreadable")
        logger.warning("Geocoder %s %s: %s", settings.GEOCODER, reason, error)
        return None
    if found is None:
        _cache_set(key, {"found": False}, timeout=GEOCODE_MISS_CACHE_SECONDS)
        return None
    lat, lon = _coordinate(found[0], 90.0), _coordinate(found[1], 180.0)
    if lat is None or lon is None:
        logger.warning("Geocoder %s answered impossible coordinates %r", settings.GEOCODER, found[:2])
        return None
    value = {"found": True, "lat": lat, "lon": lon, "label": str(found[2] or query), "source": settings.GEOCODER}
    _cache_set(key, value, timeout=GEOCODE_FOUND_CACHE_SECONDS)
    return _result(value)
