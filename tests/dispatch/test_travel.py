"""Travel-time providers: geodesic, OSRM (against a local fake server), cache, fallback, GCJ-02."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from geopy.distance import geodesic

from dispatch import Location
from dispatch.travel import (
    CachedTravel,
    FallbackTravel,
    GeodesicTravel,
    OsrmTravel,
    TravelError,
    TravelMatrix,
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
    assert _FakeOsrm.seen == ["/table/v1/driving/2.352200,48.856600;-0.127800,51.507400?annotations=duration"]


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


# --- Fallback to the offline model while the routing provider fails --------------------------

SHANGHAI = [Location(31.2290, 121.4560), Location(31.2300, 121.4600), Location(31.3000, 121.6000)]


def _closed_port_url() -> str:
    server = HTTPServer(("127.0.0.1", 0), _FakeOsrm)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    return f"http://127.0.0.1:{port}"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_osrm_answer_that_is_not_http_raises_travel_error() -> None:
    """A server that answers garbage instead of HTTP is a TravelError, not an http.client error."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer_garbage() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"garbage\r\n\r\n")

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        with pytest.raises(TravelError, match="broken HTTP answer"):
            OsrmTravel(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=2).durations([PARIS, LONDON])
    finally:
        thread.join(timeout=5)
        listener.close()


@pytest.mark.parametrize("cell", ["12", [1], -5, float("nan"), True])
def test_osrm_non_numeric_duration_raises_travel_error(osrm: str, cell: Any) -> None:
    body = json.dumps({"code": "Ok", "durations": [[0, cell], [60, 0]]}).encode()
    _FakeOsrm.reply = (200, body)
    with pytest.raises(TravelError, match="malformed duration"):
        OsrmTravel(osrm).durations([PARIS, LONDON])


@pytest.mark.parametrize(
    "reply",
    [
        (500, {"message": "boom"}),
        (503, b"<html>Service Unavailable</html>"),
        (200, b"not json"),
        (200, {"code": "NoTable", "message": "no table"}),
        (200, {"code": "Ok", "durations": [[0, None, 1], [1, 0, 1], [1, 1, 0]]}),
    ],
)
def test_fallback_answers_geodesic_minutes_flagged_approximate_when_osrm_errs(
    osrm: str, reply: tuple[int, Any]
) -> None:
    _FakeOsrm.reply = reply
    geodesic_travel = GeodesicTravel(circuity=1.3, speed_kmh=30.0)
    travel = FallbackTravel(OsrmTravel(osrm), geodesic_travel)
    result = travel.estimate(SHANGHAI, depart_minute=9 * 60)
    assert result.minutes == geodesic_travel.durations(SHANGHAI, depart_minute=9 * 60)
    assert result.minutes[0][2] > 0
    assert result.approximate is True
    assert travel.approximate is True
    assert travel.failures == 1
    assert len(_FakeOsrm.seen) == 1


def test_fallback_answers_when_osrm_is_not_listening() -> None:
    geodesic_travel = GeodesicTravel(circuity=1.4, speed_kmh=25.0)
    travel = FallbackTravel(CachedTravel(OsrmTravel(_closed_port_url(), timeout_s=1)), geodesic_travel)
    assert travel.durations(SHANGHAI) == geodesic_travel.durations(SHANGHAI)
    assert travel.approximate is True
    assert isinstance(travel, TravelTimeProvider)


def test_fallback_passes_osrm_answers_through_unflagged(osrm: str) -> None:
    _FakeOsrm.reply = (200, {"code": "Ok", "durations": [[0, 600], [540, 0]]})
    travel = FallbackTravel(OsrmTravel(osrm), GeodesicTravel())
    result = travel.estimate([PARIS, LONDON])
    assert result.minutes == [[0, 10], [9, 0]]
    assert result.approximate is False
    assert travel.approximate is False
    assert travel.failures == 0


def test_breaker_leaves_a_failed_osrm_alone_for_a_while_then_tries_again(osrm: str) -> None:
    clock = _Clock()
    _FakeOsrm.reply = (500, {"message": "down"})
    travel = FallbackTravel(OsrmTravel(osrm), GeodesicTravel(), retry_after_s=30, clock=clock)
    for _ in range(5):
        assert travel.estimate([PARIS, LONDON]).approximate
    assert len(_FakeOsrm.seen) == 1  # asked once, then left alone
    clock.now += 29
    assert travel.estimate([PARIS, LONDON]).approximate
    assert len(_FakeOsrm.seen) == 1
    clock.now += 2  # the pause is over: OSRM is asked again, and is back
    _FakeOsrm.reply = (200, {"code": "Ok", "durations": [[0, 600], [540, 0]]})
    result = travel.estimate([PARIS, LONDON])
    assert result == TravelMatrix([[0, 10], [9, 0]], approximate=False)
    assert travel.approximate is False
    assert len(_FakeOsrm.seen) == 2
    assert travel.estimate([PARIS, LONDON]).approximate is False
    assert len(_FakeOsrm.seen) == 3


def test_breaker_reopens_when_the_retry_fails_too(osrm: str) -> None:
    clock = _Clock()
    _FakeOsrm.reply = (500, {"message": "down"})
    travel = FallbackTravel(OsrmTravel(osrm), GeodesicTravel(), retry_after_s=30, clock=clock)
    travel.durations([PARIS, LONDON])
    clock.now += 31
    travel.durations([PARIS, LONDON])
    travel.durations([PARIS, LONDON])
    assert len(_FakeOsrm.seen) == 2
    assert travel.failures == 2


def test_fallback_logs_one_warning_per_outage_not_per_call_or_cell(osrm: str, caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    _FakeOsrm.reply = (502, {"message": "bad gateway"})
    travel = FallbackTravel(OsrmTravel(osrm), GeodesicTravel(), retry_after_s=30, clock=clock)
    points = [Location(31.2 + k / 100, 121.4 + k / 100) for k in range(20)]  # 380 cells
    with caplog.at_level(logging.WARNING, logger="dispatch.travel"):
        for _ in range(10):
            travel.durations(points)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HTTP 502" in warnings[0].getMessage()
    assert "approximate" in warnings[0].getMessage()
    caplog.clear()
    clock.now += 31
    _FakeOsrm.reply = (200, {"code": "Ok", "durations": [[0, 60], [60, 0]]})
    with caplog.at_level(logging.WARNING, logger="dispatch.travel"):
        travel.durations([PARIS, LONDON])
    assert [r.getMessage() for r in caplog.records] == ["Routing provider answers again, after 10 approximate answers"]


def test_approximate_flag_is_per_thread(osrm: str) -> None:
    """A request thread that got OSRM's answer is not told another thread's answer was approximate."""
    _FakeOsrm.reply = (500, {"message": "down"})
    travel = FallbackTravel(OsrmTravel(osrm), GeodesicTravel(), retry_after_s=0)
    travel.durations([PARIS, LONDON])
    assert travel.approximate is True
    seen_elsewhere: list[bool] = []
    other = threading.Thread(target=lambda: seen_elsewhere.append(travel.approximate))
    other.start()
    other.join()
    assert seen_elsewhere == [False]


def test_fallback_rejects_negative_pause() -> None:
    with pytest.raises(ValueError, match="retry_after_s"):
        FallbackTravel(GeodesicTravel(), GeodesicTravel(), retry_after_s=-1)
