"""Travel-time providers: geodesic, OSRM (against a local fake server), cache, GCJ-02."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from geopy.distance import geodesic

from dispatch import Location
from dispatch.travel import (
    CachedTravel,
    GeodesicTravel,
    OsrmTravel,
    TravelError,
    TravelTimeProvider,
    gcj02_to_wgs84,
    wgs84_to_gcj02,
)

PARIS = Location(48.8566, 2.3522)
LONDON = Location(51.5074, -0.1278)
BEIJING = Location(39.9087, 116.3975)


def test_geodesic_matches_known_distance() -> None:
    # Paris-London is about 344 km on the ellipsoid: 344 minutes at 60 km/h.
    travel = GeodesicTravel(circuity=1.0, speed_kmh=60.0)
    assert 340 <= travel.minutes(PARIS, LONDON) <= 347


def test_geodesic_matrix_shape_rounding_and_overhead() -> None:
    travel = GeodesicTravel(circuity=1.3, speed_kmh=30.0, overhead_min=2)
    a, b = Location(52.0, 13.0), Location(52.01, 13.0)  # about 1.11 km apart
    m = travel.durations([a, b, a])
    assert m[0][0] == m[0][2] == 0
    assert m[0][1] == m[1][0] == 3 + 2  # 1.11 * 1.3 km at 30 km/h = 2.9 min -> 3
    assert isinstance(travel, TravelTimeProvider)


def test_hourly_speed_changes_travel_time() -> None:
    travel = GeodesicTravel(circuity=1.0, speed_kmh=60.0, hourly_speed={8: 30.0})
    night = travel.minutes(PARIS, LONDON, depart_minute=3 * 60)
    rush = travel.minutes(PARIS, LONDON, depart_minute=8 * 60 + 15)
    assert rush == pytest.approx(2 * night, abs=1)
    assert travel.durations([PARIS, LONDON], depart_minute=8 * 60)[0][1] == rush


def test_geodesic_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="positive"):
        GeodesicTravel(speed_kmh=0)


class _FakeOsrm(BaseHTTPRequestHandler):
    """Answers like OSRM's table service; the reply is chosen by the test."""

    reply: tuple[int, Any] = (200, {})
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        type(self).seen.append(self.path)
        status, body = type(self).reply
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def osrm() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeOsrm)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    _FakeOsrm.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_osrm_table_is_parsed_and_rounded_up(osrm: str) -> None:
    _FakeOsrm.reply = (200, {"code": "Ok", "durations": [[0, 61.0], [119.5, 0]]})
    m = OsrmTravel(osrm).durations([PARIS, LONDON])
    assert m == [[0, 2], [2, 0]]
    assert _FakeOsrm.seen == [
        "/table/v1/driving/2.352200,48.856600;-0.127800,51.507400?annotations=duration"
    ]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ((200, {"code": "InvalidQuery", "message": "bad coords"}), "InvalidQuery: bad coords"),
        ((500, {"message": "boom"}), "HTTP 500"),
        ((200, {"code": "Ok", "durations": [[0, None], [1, 0]]}), "no route"),
        ((200, {"code": "Ok", "durations": [[0]]}), "malformed"),
        ((200, b"not json"), "invalid JSON"),
    ],
)
def test_osrm_failures_raise_travel_error(osrm: str, reply: tuple[int, Any], message: str) -> None:
    _FakeOsrm.reply = reply
    with pytest.raises(TravelError, match=message):
        OsrmTravel(osrm).durations([PARIS, LONDON])


def test_osrm_unreachable_server_raises_travel_error() -> None:
    server = HTTPServer(("127.0.0.1", 0), _FakeOsrm)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    with pytest.raises(TravelError, match="cannot reach OSRM"):
        OsrmTravel(f"http://127.0.0.1:{port}", timeout_s=1).durations([PARIS, LONDON])


def test_osrm_trivial_inputs_need_no_request() -> None:
    travel = OsrmTravel("http://127.0.0.1:9")
    assert travel.durations([]) == []
    assert travel.durations([PARIS]) == [[0]]


class _Counting:
    def __init__(self) -> None:
        self.calls: list[int] = []
        self.inner = GeodesicTravel()

    def durations(self, points: Sequence[Location], *, depart_minute: int = 0) -> list[list[int]]:
        self.calls.append(len(points))
        return self.inner.durations(points, depart_minute=depart_minute)


def test_cache_serves_repeated_pairs() -> None:
    inner = _Counting()
    cache = CachedTravel(inner, max_entries=100)
    pts = [PARIS, LONDON, Location(50.85, 4.35)]
    first = cache.durations(pts)
    assert cache.durations(pts) == first
    assert inner.calls == [3]
    assert first == inner.inner.durations(pts)
    assert cache.durations(pts[:2]) == [row[:2] for row in first[:2]]
    assert inner.calls == [3]
    assert cache.hits > 0


def test_cache_evicts_least_recently_used() -> None:
    inner = _Counting()
    cache = CachedTravel(inner, max_entries=2)
    cache.durations([PARIS, LONDON])
    assert len(cache) == 2
    cache.durations([PARIS, BEIJING])
    assert len(cache) == 2
    cache.durations([PARIS, LONDON])
    assert inner.calls == [2, 2, 2]


def test_gcj02_round_trip_and_offset() -> None:
    glat, glon = wgs84_to_gcj02(BEIJING.lat, BEIJING.lon)
    offset_m = geodesic((BEIJING.lat, BEIJING.lon), (glat, glon)).m
    assert 100 < offset_m < 1000
    lat, lon = gcj02_to_wgs84(glat, glon)
    assert lat == pytest.approx(BEIJING.lat, abs=1e-8)
    assert lon == pytest.approx(BEIJING.lon, abs=1e-8)


def test_gcj02_outside_china_is_unchanged() -> None:
    assert gcj02_to_wgs84(PARIS.lat, PARIS.lon) == (PARIS.lat, PARIS.lon)
    assert wgs84_to_gcj02(LONDON.lat, LONDON.lon) == (LONDON.lat, LONDON.lon)


def test_fast_geodesic_agrees_with_geopy_and_matrix_agrees_with_pairs() -> None:
    """City distances within 0.01% of geopy's geodesic; the matrix equals minutes() pair by pair."""
    import random

    from geopy.distance import geodesic

    from dispatch.travel import geodesic_km

    rng = random.Random(3)
    points = [Location(31.0 + rng.random() * 0.4, 121.2 + rng.random() * 0.5) for _ in range(40)]
    points += [
        Location(39.9, 116.4),
        Location(-33.87, 151.21),
        Location(64.1, -21.9),
        Location(0.0, 179.99),
        Location(0.0, -179.99),
    ]
    for a in points:
        for b in points:
            exact = geodesic((a.lat, a.lon), (b.lat, b.lon)).km
            assert abs(geodesic_km(a, b) - exact) <= max(1e-4 * exact, 1e-3)
    travel = GeodesicTravel(circuity=1.3, speed_kmh=30.0, overhead_min=1)
    matrix = travel.durations(points, depart_minute=8 * 60)
    pairs = [(a, b) for a in points for b in points]
    assert travel.pair_minutes(pairs, depart_minute=8 * 60) == [m for row in matrix for m in row]
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            assert matrix[i][j] == travel.minutes(a, b, depart_minute=8 * 60)
