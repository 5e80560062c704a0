"""The API's contract: every error in one documented shape, docs served without a CDN, and input
the database cannot store refused with a 422 before it gets there."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from server.config.api import api
from server.customers.models import Customer
from server.intake.services import work_order_create_and_dispatch
from server.workorders.models import WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/ErrorOut"


@pytest.fixture
def staff_client(client):
    factories.technician(name="张伟", username="zhang", lat=31.2300, lon=121.4600)
    client.force_login(factories.staff())
    return client


@pytest.fixture
def order(staff_client):
    customer = factories.customer()
    site = customer.sites.get()
    return work_order_create_and_dispatch(
        customer=customer, site=site, problem="漏水", required_skill=factories.skill("water_purifier")
    )


def technician_token(client, username="zhang"):
    response = client.post(
        "/api/auth/token", {"username": username, "password": "pw-123456"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "code", "extra"}
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["extra"], dict)
    if code is not None:
        assert body["code"] == code
    return body


# -- the OpenAPI document ------------------------------------------------------------------------------


def operations():
    document = api.get_openapi_schema()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def error_codes(operation):
    return {int(code) for code in operation["responses"] if int(code) >= 400}


def test_the_error_shape_is_documented_once():
    schema = api.get_openapi_schema()["components"]["schemas"]["ErrorOut"]
    assert schema["required"] == ["message", "code", "extra"]
    assert schema["properties"]["extra"]["type"] == "object"


@pytest.mark.parametrize(("name", "operation"), list(operations()), ids=[name for name, _ in operations()])
def test_every_operation_documents_its_errors_in_the_one_shape(name, operation):
    codes = error_codes(operation)
    for code in codes:
        content = operation["responses"][code]["content"]["application/json"]
        assert content["schema"] == {"$ref": ERROR_REF}, (name, code)
    assert 503 in codes  # the database restarting
    if operation.get("security"):
        assert 401 in codes
    if "requestBody" in operation:
        assert {400, 413, 422} <= codes
    if any(parameter["in"] == "path" for parameter in operation.get("parameters", ())):
        assert 404 in codes
    if name.startswith("POST") and {"SessionAuth": []} in operation.get("security", ()):
        assert 403 in codes  # CSRF


def test_the_login_documents_its_lockout():
    operation = api.get_openapi_schema()["paths"]["/api/auth/token"]["post"]
    assert {401, 422, 429} <= error_codes(operation)


# -- the error shape, as answered ------------------------------------------------------------------------


def test_an_unreadable_body_is_400_in_the_one_shape(staff_client):
    response = staff_client.post("/api/work-orders", "{not json", content_type="application/json")
    assert_error(response, 400, "bad_request")


def test_a_multipart_body_without_a_boundary_is_400_in_the_one_shape(client):
    """django-axes reads request.POST on a failed login; Django cannot parse such a body."""
    response = client.post("/api/auth/token", b'{"username": "", "password": ""}', content_type="multipart/form-data")
    assert_error(response, 400, "bad_request")


def test_a_body_over_the_upload_limit_is_413_in_the_one_shape(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = staff_client.post(
        "/api/work-orders", {"problem": "x" * 2000, "phone": "13912345678"}, content_type="application/json"
    )
    assert_error(response, 413, "too_large")


def test_missing_credentials_are_401_in_the_one_shape(client):
    assert_error(client.get("/api/work-orders"), 401, "unauthorized")


# -- docs and the front door ---------------------------------------------------------------------------------


def test_the_docs_are_for_staff_and_load_nothing_from_a_cdn(client):
    assert client.get("/api/docs").status_code == 302  # to the admin login
    admin = factories.staff()
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "/static/ninja/swagger-ui.css" in html
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)
    script = client.get("/static/ninja/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert client.get("/api/openapi.json").json()["info"]["title"] == "Fixroute API"


def test_the_root_sends_staff_to_their_entry_point(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"  # the console, after signing in


# -- input the database cannot store -------------------------------------------------------------------------

REPAIR = {"phone": "13912345678", "customer_name": "钱七", "address": "上海市黄浦区人民大道200号", "problem": "p"}


@pytest.mark.parametrize(
    "change",
    [
        {"problem": "leak\u0000"},
        {"customer_name": "\u0000"},
        {"address": "a\u0000b"},
        {"phone": "139\u000012345678"},
        {"priority": "high\u0000"},
        {"required_skill": "water\u0000"},
        {"problem": "leak \ud800"},
        {"customer_name": "\udfff"},
        {"customer_name": "名" * 201},
        {"address": "a" * 301},
        {"phone": "1" * 41},
        {"problem": "p" * 4001},
        {"priority": "x" * 11},
        {"required_skill": "s" * 51},
        {"window_start": "2026-12-01T10:00:00+24:00", "window_end": "2026-12-01T12:00:00+08:00"},
        {"window_start": "2026-12-01T10:00:00+16:00", "window_end": "2026-12-01T12:00:00+08:00"},
        {"window_end": "2026-12-01T12:00:00-16:00", "window_start": "2026-12-01T10:00:00+08:00"},
        {"window_start": 0, "window_end": 3600},
        {"window_start": "1764554400", "window_end": "1764561600"},
        {"window_start": "0001-01-01T00:00:00+01:00", "window_end": "0001-01-01T02:00:00+01:00"},
        {"customer_id": 2**63},
        {"site_id": 2**64},
    ],
)
def test_a_repair_with_unstorable_input_is_refused_before_the_database(staff_client, change):
    response = staff_client.post("/api/work-orders", {**REPAIR, **change}, content_type="application/json")
    body = assert_error(response, 422, "validation")
    assert next(iter(change)) in body["message"]
    assert WorkOrder.objects.count() == 0
    assert Customer.objects.count() == 0


def test_a_window_with_real_offsets_is_accepted(staff_client):
    response = staff_client.post(
        "/api/work-orders",
        {
            **REPAIR,
            "window_start": "2099-12-01T10:00:00+14:00",
            "window_end": "2099-12-01T12:00:00-12:00",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "zhang\u0000"),
        ("password", "pw\u0000"),
        ("username", "\ud83d"),
        ("username", "u" * 151),
        ("password", "p" * 4097),
    ],
)
def test_login_with_unstorable_input_is_422_and_not_counted(client, staff_client, field, value):
    body = {"username": "zhang", "password": "pw-123456", field: value}
    response = client.post("/api/auth/token", body, content_type="application/json")
    assert_error(response, 422, "validation")


@pytest.mark.parametrize(
    "change",
    [
        {"device_time": "2026-11-01T10:00:00+24:00"},
        {"device_time": "2026-11-01T10:00:00+16:00"},
        {"device_time": 0},
        {"device_time": "0"},
        {"note": "\u0000"},
        {"reason": "no_access\u0000"},
        {"client_event_id": "a\u0000"},
        {"action": "on_my_way\u0000"},
        {"action": "x" * 41},
        {"work_order_id": 2**63},
    ],
)
def test_a_tap_with_unstorable_input_is_refused(client, order, change):
    token = technician_token(client)
    before = order.events.count()
    body = {
        "client_event_id": uuid.uuid4().hex,
        "work_order_id": order.pk,
        "action": "on_my_way",
        "device_time": timezone.now().isoformat(),
        **change,
    }
    response = client.post(
        "/api/mobile/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert_error(response, 422, "validation")
    assert order.events.count() == before


@pytest.mark.parametrize("day", ["0", "1700000000", "2026-12-01T00:00:00", "9999-12-31", "2026-13-01"])
def test_a_day_must_be_an_iso_date(client, staff_client, day):
    token = technician_token(client)
    assert_error(client.get("/api/mobile/jobs", {"day": day}, HTTP_AUTHORIZATION=f"Bearer {token}"), 422)
    assert_error(staff_client.get("/api/work-orders", {"day": day}), 422)


def test_an_iso_day_is_accepted(staff_client):
    assert staff_client.get("/api/work-orders", {"day": "2026-12-01"}).status_code == 200


def test_a_status_filter_with_nul_is_refused(staff_client):
    assert_error(staff_client.get("/api/work-orders", {"status": "new\u0000"}), 422)


@pytest.mark.parametrize("work_order_id", [str(2**63), str(10**30)])
def test_an_id_past_64_bits_is_refused_not_a_server_error(staff_client, work_order_id):
    assert_error(staff_client.get(f"/api/work-orders/{work_order_id}"), 422)
    assert_error(staff_client.post(f"/api/work-orders/{work_order_id}/pin"), 422)


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("transition", {"to_status": "cancelled", "note": "\u0000"}),
        ("transition", {"to_status": "cancelled\u0000"}),
        ("cancel", {"reason": "dup\u0000"}),
        ("hold", {"reason": "parts", "follow_up_on": 0}),
        ("hold", {"reason": "parts", "follow_up_on": "2026-12-01T00:00:00"}),
        ("reschedule", {"reason": "asked", "window_start": 0, "window_end": 1}),
        (
            "reschedule",
            {"reason": "asked", "window_start": "2026-12-01T10:00:00+24:00", "window_end": "2026-12-01T12:00:00+08:00"},
        ),
        ("assign", {"technician_id": 1, "start": "2026-12-01T10:00:00+16:00"}),
        ("assign", {"technician_id": 2**63}),
    ],
)
def test_staff_changes_with_unstorable_input_are_refused(staff_client, order, url, body):
    before = order.events.count()
    response = staff_client.post(f"/api/work-orders/{order.pk}/{url}", body, content_type="application/json")
    assert_error(response, 422, "validation")
    assert order.events.count() == before


def test_a_technicians_request_on_a_staff_endpoint_is_one_error_shape(client, order):
    token = technician_token(client)
    response = client.post(f"/api/work-orders/{order.pk}/pin", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(response, 403, "forbidden")
    unknown = Client().get("/api/scheduling/replan/" + uuid.uuid4().hex, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(unknown, 403, "forbidden")
