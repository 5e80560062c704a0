"""Whatever a phone system sends, the webhooks answer clearly and store only what the database takes.

Webhooks cannot fix their payload, so text is cleaned (NUL, controls, lone surrogates) and cut
with a visible marker rather than refused; only what cannot be a call event is refused (4xx).
"""

import json
import math

import pytest
from django.db import models
from twilio.request_validator import RequestValidator

from server.care.models import CallbackTask
from server.common.text import (
    PROBLEM_MAX_LENGTH,
    TRUNCATED_MARKER,
    json_clean,
    text_clean,
    text_is_clean,
)
from server.intake import services
from server.intake.models import CallRecord
from server.workorders.models import WorkOrder, WorkOrderEvent
from tests import factories
from tests.server.test_intake import TOKEN, URL, post_cti, twilio_params

pytestmark = pytest.mark.django_db

PADDED_NUMBER = "+86 138 - 0013 - 8001".ljust(150, "-")  # a valid number, spelled out in 150 characters


@pytest.fixture
def cti(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.CTI_WEBHOOK_TOKEN = "cti-secret"
    factories.technician(name="张伟", lat=31.2300, lon=121.4600)
    return factories.customer()  # +8613800138001


def post_twilio(client, params):
    signature = RequestValidator(TOKEN).compute_signature(URL, params)
    return client.post("/webhooks/twilio/voice", params, HTTP_X_TWILIO_SIGNATURE=signature)


def _texts(row: models.Model) -> list[str]:
    out = []
    for field in row._meta.concrete_fields:
        value = getattr(row, field.attname)
        if isinstance(field, models.JSONField):
            out.append(json.dumps(value, ensure_ascii=False))
        elif isinstance(value, str):
            out.append(value)
    return out


def assert_stored_cleanly() -> None:
    """Every row fits its columns, and no text holds what PostgreSQL or UTF-8 refuse."""
    rows = [
        *CallRecord.objects.all(),
        *WorkOrder.objects.all(),
        *WorkOrderEvent.objects.all(),
        *CallbackTask.objects.all(),
    ]
    for row in rows:
        if not isinstance(row, WorkOrderEvent):
            row.full_clean(validate_constraints=False)
        for text in _texts(row):
            assert "\x00" not in text
            assert "\\u0000" not in text
            text.encode("utf-8")  # raises on a lone surrogate
    for order in WorkOrder.objects.all():
        assert len(order.problem) <= PROBLEM_MAX_LENGTH


# --- the cleaning helpers --------------------------------------------------------------------


def test_text_clean_removes_what_databases_and_readers_cannot_take():
    assert text_clean("a\x00b\x07c\x1bd\x7fe\x85f", max_length=None) == "abcdef"
    assert text_clean("line 1\r\nline 2\tend", max_length=None) == "line 1\nline 2\tend"
    assert text_clean("x\ud800y\udfffz", max_length=None) == "xyz"
    assert text_clean("\ud83d\ude00 ok", max_length=None) == "😀 ok"  # a pair spelled as halves
    assert text_clean("漏水", max_length=None) == "漏水"
    assert text_is_clean("漏水\n")
    assert not text_is_clean("a\x00")
    assert not text_is_clean("a\ud800")


def test_text_clean_cuts_with_a_visible_marker():
    long = "水" * 50
    cut = text_clean(long, max_length=20)
    assert len(cut) == 20
    assert cut.endswith(TRUNCATED_MARKER)
    assert cut.startswith("水" * 7)
    assert text_clean("水" * 20, max_length=20) == "水" * 20
    assert text_clean("abcdef", max_length=3) == "abc"  # no room for the marker
    assert text_clean("a\x00" * 30, max_length=None) == "a" * 30  # cleaned before it is measured


def test_json_clean_bounds_and_cleans_every_string():
    deep: dict = {}
    inner = deep
    for _ in range(50):
        inner["k"] = {}
        inner = inner["k"]
    value = {
        "bad\x00key": "v\x00al\ud800ue",
        "long": "x" * 5000,
        "many": list(range(1000)),
        "deep": deep,
        "nan": math.nan,
        "inf": math.inf,
        "ok": [True, None, 1.5, "文字"],
    }
    cleaned = json_clean(value)
    assert cleaned["badkey"] == "value"
    assert len(cleaned["long"]) == 1000
    assert cleaned["long"].endswith(TRUNCATED_MARKER)
    assert len(cleaned["many"]) == 201
    assert cleaned["many"][-1] == TRUNCATED_MARKER
    assert cleaned["nan"] is None
    assert cleaned["inf"] is None
    assert cleaned["ok"] == [True, None, 1.5, "文字"]
    depth, inner = 0, cleaned["deep"]
    while isinstance(inner, dict):
        depth, inner = depth + 1, inner["k"]
    assert depth < 20
    assert inner == TRUNCATED_MARKER
    huge = {f"key{i}": "y" * 900 for i in range(200)}
    assert len(json.dumps(json_clean(huge))) < 70_000


# --- the CTI webhook -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "stored", "limit"),
    [
        ("called", "4008001234" * 6, "called_number", 40),
        ("status", "ringing-" * 7, "call_status", 30),
        ("digits", "1234567890" * 3, "ivr_digits", 20),
        ("caller", PADDED_NUMBER, "caller_raw", 100),
    ],
)
def test_cti_cuts_long_fields_with_a_marker_and_still_creates_the_order(client, cti, field, value, stored, limit):
    response = post_cti(client, {"call_id": "long-1", "caller": "13800138001"} | {field: value})
    assert response.status_code == 201
    assert response.json()["outcome"] == "created"
    call = CallRecord.objects.get()
    assert len(getattr(call, stored)) == limit
    assert getattr(call, stored).endswith(TRUNCATED_MARKER)
    assert call.caller_phone == "+8613800138001"  # the padded number still reads as the customer's
    assert call.work_order.customer == cti
    assert_stored_cleanly()


def test_cti_a_long_call_id_is_stored_as_its_hash_and_stays_idempotent(client, cti):
    call_id = "cti-" + "9" * 150
    first = post_cti(client, {"call_id": call_id, "caller": "13800138001"})
    assert first.status_code == 201
    stored = first.json()["call_id"]
    assert stored.startswith("sha256:")
    again = post_cti(client, {"call_id": call_id, "caller": "13800138001"})
    assert again.status_code == 200
    assert again.json()["repeated_request"] is True
    other = post_cti(client, {"call_id": "cti-" + "9" * 149 + "8", "caller": "13800138001"})
    assert other.json()["call_id"] != stored
    assert CallRecord.objects.count() == 2
    assert_stored_cleanly()


@pytest.mark.parametrize(
    "body",
    [
        {"call_id": "nul-1", "caller": "13800138001", "reason": "漏\x00水"},
        {"call_id": "nul-1", "caller": "13800138001", "reason": "漏\ud800水"},
        {"call_id": "nul-1", "caller": "13800138001", "reason": "漏\udfff水", "extra\x00": ["\x00", {"k": "\ud800"}]},
        {"call_id": "nul-1", "caller": "1380013\x008001", "reason": "漏水", "called": "400\x00800"},
    ],
    ids=["nul", "high-surrogate", "payload", "nul-in-caller"],
)
def test_cti_removes_nul_and_lone_surrogates(client, cti, body):
    response = post_cti(client, body)  # json.dumps writes them as \u0000 and \ud800 escapes
    assert response.status_code == 201
    call = CallRecord.objects.get()
    assert call.work_order.problem.startswith("漏水")
    assert call.caller_phone == "+8613800138001"
    assert_stored_cleanly()


def test_cti_nul_or_surrogate_in_the_call_id_is_hashed_not_merged(client, cti):
    first = post_cti(client, {"call_id": "id\x00x", "caller": "13800138001"})
    second = post_cti(client, {"call_id": "idx", "caller": "13800138001"})
    third = post_cti(client, {"call_id": "id\ud800x", "caller": "13800138001"})
    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    assert len({r.json()["call_id"] for r in (first, second, third)}) == 3
    assert post_cti(client, {"call_id": "id\x00x", "caller": "13800138001"}).status_code == 200
    assert CallRecord.objects.count() == 3
    assert_stored_cleanly()


def test_cti_a_long_reason_is_cut_to_the_staff_apis_limit(client, cti):
    response = post_cti(client, {"call_id": "r1", "caller": "13800138001", "reason": "水" * 30_000, "digits": "2"})
    assert response.status_code == 201
    problem = WorkOrder.objects.get().problem
    assert len(problem) == PROBLEM_MAX_LENGTH
    assert problem.endswith("\nIVR choice: 2")
    assert TRUNCATED_MARKER + "\n" in problem
    call = CallRecord.objects.get()
    assert len(call.reason) == 300
    assert len(call.payload["reason"]) == 1000  # the raw payload keeps a readable start
    assert_stored_cleanly()


def test_a_350000_character_reason_is_cut_whatever_the_request_size_limit(cti):
    result = services.call_receive(provider="cti", call_id="big", caller="13800138001", reason="漏" * 350_000)
    assert len(result.work_order.problem) == PROBLEM_MAX_LENGTH
    assert result.work_order.problem.endswith(TRUNCATED_MARKER)
    assert_stored_cleanly()


def test_a_call_that_joins_an_order_notes_a_cut_reason(cti):
    services.call_receive(provider="cti", call_id="a", caller="13800138001", reason="first")
    result = services.call_receive(provider="cti", call_id="b", caller="13800138001", reason="\x00" + "x" * 9000)
    assert result.call.outcome == "joined"
    note = result.work_order.events.filter(kind="call").get().text
    assert len(note) < PROBLEM_MAX_LENGTH + 100
    assert TRUNCATED_MARKER in note
    assert_stored_cleanly()


def _post_raw(client, raw: bytes):
    return client.post("/webhooks/cti/call", raw, content_type="application/json", HTTP_X_FIXROUTE_TOKEN="cti-secret")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"call_id": "d", "caller": "13800138001", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "deeper than 20"),
        (
            b'{"call_id": "d", "caller": "13800138001", "x": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"}",
            "deeper",
        ),
        (b'{"call_id": "d", "caller": "13800138001", "x": NaN}', "not JSON"),
        (b'{"call_id": "d", "caller": "13800138001", "x": ' + b"9" * 5000 + b"}", "not JSON"),
        (b'{"call_id": "d", "caller": "13800138001"', "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[1, 2]", "JSON object"),
    ],
    ids=["deep-arrays", "deep-objects", "nan", "huge-integer", "truncated", "not-utf8", "array"],
)
def test_cti_body_that_is_not_a_call_event_is_refused_with_400(client, cti, raw, message):
    response = _post_raw(client, raw)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert CallRecord.objects.count() == 0


def test_cti_brackets_inside_strings_are_not_nesting(client, cti):
    reason = '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{{{{{\\"['
    response = post_cti(client, {"call_id": "b1", "caller": "13800138001", "reason": reason, "x": [[["ok"]]]})
    assert response.status_code == 201


def test_cti_body_over_the_upload_limit_answers_413_json(client, cti, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = post_cti(client, {"call_id": "big", "caller": "13800138001", "reason": "x" * 20_000})
    assert response.status_code == 413
    assert response.json()["message"] == "The request body is over 10000 bytes"
    assert response.json()["code"] == "too_large"
    assert CallRecord.objects.count() == 0


# --- Twilio ---------------------------------------------------------------------------------


def test_twilio_cuts_and_cleans_every_field_and_answers_twiml(client, cti):
    params = twilio_params(call_sid="CA" + "7" * 150, caller=PADDED_NUMBER) | {
        "To": "+1415555" * 8,
        "CallStatus": "in-progress" * 5,
        "Digits": "1234567890" * 4,
        "SpeechResult": "净水器\x00漏水" + "很" * 10_000,
    }
    response = post_twilio(client, params)  # signed over the raw form, NUL and all
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    call = CallRecord.objects.get()
    assert call.outcome == "created"
    assert call.call_id.startswith("sha256:")
    assert call.caller_phone == "+8613800138001"
    assert call.called_number.endswith(TRUNCATED_MARKER)
    assert call.work_order.problem.startswith("净水器漏水")
    assert call.work_order.reference.encode() in response.content
    assert post_twilio(client, params).status_code == 200  # the retry is the same call
    assert CallRecord.objects.count() == 1
    assert_stored_cleanly()


def test_twilio_signature_is_checked_on_the_raw_form(client, cti):
    params = twilio_params() | {"SpeechResult": "漏\x00水"}
    cleaned = params | {"SpeechResult": "漏水"}
    signature = RequestValidator(TOKEN).compute_signature(URL, cleaned)
    response = client.post("/webhooks/twilio/voice", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    assert post_twilio(client, params).status_code == 200


def test_twilio_body_over_the_upload_limit_answers_413(client, cti, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = post_twilio(client, twilio_params() | {"SpeechResult": "x" * 20_000})
    assert response.status_code == 413
    assert CallRecord.objects.count() == 0
