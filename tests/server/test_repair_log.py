"""Logging a repair by hand with a typed address: geocoded outside the transaction, or flagged."""

from __future__ import annotations

import pytest
from django.db import connection

from server.customers.geocoding import GeocodeResult
from server.customers.models import LocationSource
from server.intake import services
from server.workorders.models import Status
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_typed_address_is_geocoded_before_the_transaction_and_the_order_dispatched(monkeypatch):
    tech = factories.technician(lat=31.23, lon=121.47)
    asked = []
    outside = len(connection.atomic_blocks)  # the test's own transaction

    def geocoder(address):
        asked.append((address, len(connection.atomic_blocks) == outside))
        return GeocodeResult(latitude=31.2291, longitude=121.4561, label="静安区南京西路1266号", source="nominatim")

    monkeypatch.setattr(services, "address_geocode", geocoder)
    order = services.repair_log(
        actor=factories.staff(),
        problem="漏水",
        phone="13912345678",
        customer_name="钱多多",
        address="上海市静安区南京西路1266号",
    )
    assert asked == [("上海市静安区南京西路1266号", True)]
    assert (order.site.latitude, order.site.longitude) == (31.2291, 121.4561)
    assert order.site.location_source == LocationSource.GEOCODED
    assert order.needs_review is False
    assert (order.status, order.technician) == (Status.SCHEDULED, tech)


def test_an_address_nobody_can_locate_is_saved_and_flagged_for_review(settings):
    settings.GEOCODER = "none"
    factories.technician()
    order = services.repair_log(
        actor=factories.staff(), problem="漏水", phone="13912345678", customer_name="钱多多", address="某小区3号楼"
    )
    order.refresh_from_db()
    assert order.site.address == "某小区3号楼"
    assert order.site.latitude is None
    assert order.site.needs_review is True
    assert order.needs_review is True
    assert order.status == Status.NEW
    assert order.technician is None


def test_typed_coordinates_are_not_geocoded(monkeypatch):
    factories.technician()
    monkeypatch.setattr(services, "address_geocode", lambda address: pytest.fail("geocoded typed coordinates"))
    order = services.repair_log(
        actor=factories.staff(),
        problem="漏水",
        phone="13912345678",
        customer_name="钱多多",
        address="南京西路1266号",
        latitude=31.23,
        longitude=121.46,
    )
    assert order.site.location_source == LocationSource.TYPED
    assert order.needs_review is False
