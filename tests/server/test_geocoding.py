"""A typed address without coordinates is geocoded (geopy's Nominatim client against a local fake
service); when it cannot be, the site is saved without coordinates and flagged for review."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.test import override_settings

from server.common.exceptions import ValidationFailed
from server.customers import geocoding, services
from server.customers.geocoding import GeocodeResult, address_geocode
from server.customers.models import Customer, LocationSource, Site

pytestmark = pytest.mark.django_db

ADDRESS = "上海市静安区南京西路1266号"
PLACE = {"place_id": 1, "lat": "31.2290", "lon": "121.4560", "display_name": "恒隆广场, 南京西路, 静安区, 上海市"}


class _FakeNominatim(BaseHTTPRequestHandler):
    """Answers like Nominatim's /search (format=json); the reply is chosen by the test."""

    reply: ClassVar[tuple[int, Any]] = (200, [PLACE])
    seen: ClassVar[list[tuple[str, dict[str, list[str]], str]]] = []
    release: ClassVar[threading.Event] = threading.Event()
    hold = False

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        parts = urlsplit(self.path)
        type(self).seen.append((parts.path, parse_qs(parts.query), self.headers.get("User-Agent", "")))
        if type(self).hold:
            type(self).release.wait(timeout=10)
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
def nominatim(settings) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeNominatim)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    _FakeNominatim.reply, _FakeNominatim.seen, _FakeNominatim.hold = (200, [PLACE]), [], False
    _FakeNominatim.release = threading.Event()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.GEOCODER = "nominatim"
    settings.GEOCODER_URL = url
    settings.GEOCODER_USER_AGENT = "fixroute-tests"
    settings.GEOCODER_TIMEOUT_SECONDS = 5.0
    settings.GEOCODER_COUNTRY_CODES = "cn"
    cache.clear()
    try:
        yield url
    finally:
        _FakeNominatim.release.set()
        server.shutdown()
        server.server_close()
        cache.clear()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def customer() -> Customer:
    return Customer.objects.create(name="赵敏", phone="+8613800138001")


def test_nominatim_answer_is_used_and_the_request_carries_the_settings(nominatim):
    result = address_geocode(f"  {ADDRESS} ")
    assert result == GeocodeResult(
        latitude=31.2290, longitude=121.4560, label=PLACE["display_name"], source="nominatim"
    )
    [(path, query, user_agent)] = _FakeNominatim.seen
    assert path == "/search"
    assert query["q"] == [ADDRESS]
    assert query["format"] == ["json"]
    assert query["countrycodes"] == ["cn"]
    assert user_agent == "fixroute-tests"


def test_answers_are_cached_by_normalised_address(nominatim):
    first = address_geocode("No. 1 Main  Street")
    again = address_geocode("  no. 1 main street ")
    assert first is not None
    assert again == first
    assert len(_FakeNominatim.seen) == 1


def test_an_unknown_address_is_none_and_cached_as_unknown(nominatim):
    _FakeNominatim.reply = (200, [])
    assert address_geocode("nowhere at all") is None
    assert address_geocode("Nowhere at all") is None
    assert len(_FakeNominatim.seen) == 1


def test_a_url_with_a_path_prefix_and_several_country_codes(nominatim, settings):
    settings.GEOCODER_URL = nominatim + "/nominatim/"
    settings.GEOCODER_COUNTRY_CODES = "CN, hk"
    assert address_geocode(ADDRESS) is not None
    [(path, query, _)] = _FakeNominatim.seen
    assert path == "/nominatim/search"
    assert query["countrycodes"] == ["cn,hk"]


@pytest.mark.parametrize(
    "reply",
    [
        (500, {"error": "internal"}),
        (503, b"<html>busy</html>"),
        (429, b"slow down"),
        (403, b"forbidden"),
        (200, b"not json"),
        (200, {"error": "Something went wrong"}),
        (200, [{"place_id": 2, "display_name": "no coordinates here"}]),
        (200, [{"lat": "95.0", "lon": "121.0", "display_name": "off the globe"}]),
        (200, [{"lat": "north", "lon": "121.0", "display_name": "unreadable"}]),
        (200, ["not a place"]),
    ],
)
@pytest.mark.filterwarnings("ignore:Latitude normalization")
def test_a_failing_or_nonsensical_geocoder_gives_no_coordinates(nominatim, reply, caplog):
    _FakeNominatim.reply = reply
    assert address_geocode(ADDRESS) is None
    assert any(record.levelname == "WARNING" for record in caplog.records)
    # A failure is not remembered: the next call asks again.
    _FakeNominatim.reply = (200, [PLACE])
    assert address_geocode(ADDRESS) is not None


def test_an_unreachable_geocoder_gives_no_coordinates(nominatim, settings):
    settings.GEOCODER_URL = f"http://127.0.0.1:{_closed_port()}"
    assert address_geocode(ADDRESS) is None


def test_a_geocoder_slower_than_the_timeout_gives_no_coordinates(nominatim, settings):
    settings.GEOCODER_TIMEOUT_SECONDS = 0.2
    _FakeNominatim.hold = True
    try:
        assert address_geocode(ADDRESS) is None
    finally:
        _FakeNominatim.release.set()
    assert len(_FakeNominatim.seen) == 1


def test_geocoder_none_asks_nobody(nominatim, settings):
    settings.GEOCODER = "none"
    assert address_geocode(ADDRESS) is None
    assert _FakeNominatim.seen == []


def test_a_cache_that_is_down_does_not_stop_geocoding(nominatim, caplog):
    redis_down = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }
    with override_settings(CACHES=redis_down):
        assert address_geocode(ADDRESS) is not None
        assert address_geocode(ADDRESS) is not None
    assert len(_FakeNominatim.seen) == 2
    assert "Geocode cache unavailable" in caplog.text


# --- site_create -------------------------------------------------------------------------------


def test_site_without_coordinates_is_geocoded(nominatim, customer):
    site = services.site_create(customer=customer, address=f" {ADDRESS}  ")
    site.refresh_from_db()
    assert site.address == ADDRESS
    assert (site.latitude, site.longitude) == (31.2290, 121.4560)
    assert site.location_source == LocationSource.GEOCODED
    assert site.needs_review is False
    assert site.is_primary is True


def test_typed_coordinates_are_kept_and_nobody_is_asked(nominatim, customer):
    site = services.site_create(customer=customer, address=ADDRESS, latitude=31.5, longitude=121.5)
    assert (site.latitude, site.longitude) == (31.5, 121.5)
    assert site.location_source == LocationSource.TYPED
    assert site.needs_review is False
    assert _FakeNominatim.seen == []


@pytest.mark.parametrize("geocoder", ["none", "unreachable", "unknown address"])
def test_site_that_stays_without_coordinates_is_flagged_for_review(nominatim, settings, customer, geocoder):
    if geocoder == "none":
        settings.GEOCODER = "none"
    elif geocoder == "unreachable":
        settings.GEOCODER_URL = f"http://127.0.0.1:{_closed_port()}"
    else:
        _FakeNominatim.reply = (200, [])
    first = services.site_create(customer=customer, address="somewhere")
    second = services.site_create(customer=customer, address="somewhere else")
    for site in (first, second):
        site.refresh_from_db()
        assert site.latitude is None
        assert site.longitude is None
        assert site.location_source == LocationSource.NONE
        assert site.needs_review is True
        assert site.has_location is False
    assert (first.is_primary, second.is_primary) == (True, False)


@pytest.mark.parametrize(
    ("latitude", "longitude", "message"),
    [
        (91.0, 121.0, "Latitude 91.0 is out of range"),
        (-90.5, 121.0, "between -90 and 90"),
        (31.0, 180.5, "Longitude 180.5 is out of range"),
        (31.0, -181.0, "between -180 and 180"),
        (float("nan"), 121.0, "Latitude nan is out of range"),
        (31.0, None, "both latitude and longitude"),
        (None, 121.0, "both latitude and longitude"),
    ],
)
def test_impossible_coordinates_are_refused_and_nothing_is_saved(nominatim, customer, latitude, longitude, message):
    with pytest.raises(ValidationFailed, match=message) as refused:
        services.site_create(customer=customer, address=ADDRESS, latitude=latitude, longitude=longitude)
    assert refused.value.status_code == 422
    assert Site.objects.count() == 0
    assert _FakeNominatim.seen == []


def test_an_address_is_required(customer):
    with pytest.raises(ValidationFailed, match="needs an address"):
        services.site_create(customer=customer, address="   ")


def test_coordinates_on_the_edge_of_the_range_are_accepted(customer):
    site = services.site_create(customer=customer, address="pole", latitude=-90, longitude=180)
    assert (site.latitude, site.longitude, site.location_source) == (-90.0, 180.0, LocationSource.TYPED)


def test_site_location_set_clears_and_sets_the_review_flag(customer):
    site = services.site_create(customer=customer, address="x", latitude=31.0, longitude=121.0)
    services.site_location_set(site=site, latitude=None, longitude=None)
    site.refresh_from_db()
    assert (site.latitude, site.location_source, site.needs_review) == (None, LocationSource.NONE, True)
    services.site_location_set(site=site, latitude=31.1, longitude=121.1)
    site.refresh_from_db()
    assert (site.latitude, site.location_source, site.needs_review) == (31.1, LocationSource.TYPED, False)


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="boss", password="pw-123456")
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


def _site_form(customer: Customer, **fields: Any) -> dict[str, Any]:
    return {
        "customer": customer.pk,
        "address": ADDRESS,
        "latitude": "",
        "longitude": "",
        "access_notes": "",
        "is_primary": "on",
        "needs_review": "",
        **fields,
    }


def test_a_site_added_in_the_admin_without_coordinates_is_geocoded(nominatim, admin_client, customer):
    response = admin_client.post("/admin/customers/site/add/", _site_form(customer))
    assert response.status_code == 302, response.content
    site = Site.objects.get()
    assert (site.latitude, site.longitude, site.location_source) == (31.2290, 121.4560, LocationSource.GEOCODED)


def test_coordinates_removed_in_the_admin_flag_the_site(admin_client, customer):
    site = services.site_create(customer=customer, address=ADDRESS, latitude=31.0, longitude=121.0)
    response = admin_client.post(f"/admin/customers/site/{site.pk}/change/", _site_form(customer))
    assert response.status_code == 302, response.content
    site.refresh_from_db()
    assert (site.latitude, site.location_source, site.needs_review) == (None, LocationSource.NONE, True)


def test_the_admin_refuses_half_a_location(admin_client, customer):
    response = admin_client.post("/admin/customers/site/add/", _site_form(customer, latitude="31.0"))
    assert response.status_code == 200
    assert "Give both latitude and longitude" in response.content.decode()
    assert Site.objects.count() == 0


def test_geocoder_exceptions_are_all_mapped():
    """Every geopy failure class has a reason, so none is reported as an unknown crash."""
    from geopy import exc

    failures = {kind for kind, _ in geocoding._FAILURES}
    for name in dir(exc):
        kind = getattr(exc, name)
        if isinstance(kind, type) and issubclass(kind, exc.GeopyError) and kind is not exc.GeocoderNotFound:
            assert any(issubclass(kind, known) for known in failures), name
