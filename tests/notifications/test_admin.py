from typing import Any

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.utils import timezone

from notifications.admin import STATE_FIELDS
from notifications.models import SmsMessage

pytestmark = pytest.mark.django_db


def test_admin_lists_searches_and_freezes_sent_rows() -> None:
    model_admin = admin.site._registry[SmsMessage]
    request = RequestFactory().get("/")
    queued = SmsMessage.objects.create(to="+8613800138000", body="x", kind="other", language="zh-CN", provider="memory")
    sent = SmsMessage.objects.create(
        to="+14155552671", body="y", kind="done", language="en", provider="memory",
        status=SmsMessage.Status.SENT, sent_at=timezone.now(),
    )  # fmt: skip

    assert not model_admin.has_add_permission(request)
    assert {"status", "kind"} <= set(model_admin.list_filter)
    found, _ = model_admin.get_search_results(request, SmsMessage.objects.all(), "+86138")
    assert list(found) == [queued]
    assert model_admin.get_readonly_fields(request, queued) == STATE_FIELDS
    assert {"to", "body", "status"} <= set(model_admin.get_readonly_fields(request, sent))


def test_admin_lists_unknown_messages_opt_outs_and_unhandled_replies(admin_client: Any) -> None:
    from notifications.models import InboundSms, OptOut

    SmsMessage.objects.create(
        to="+14155552671", body="lost", kind="arrived", language="en", provider="memory",
        status=SmsMessage.Status.UNKNOWN, error="unknown: the provider cannot tell",
    )  # fmt: skip
    SmsMessage.objects.create(to="+14155552671", body="fine", kind="arrived", language="en", provider="memory")
    OptOut.objects.create(phone="+14155552671", source="twilio", keyword="STOP")
    InboundSms.objects.create(
        provider="twilio", provider_message_id="SM1", from_phone="+14155552671", body="where are you?",
        received_at=timezone.now(),
    )  # fmt: skip
    unknown = admin_client.get("/admin/notifications/smsmessage/", {"status__exact": "unknown"})
    assert unknown.status_code == 200
    assert unknown.context["cl"].result_count == 1
    assert admin_client.get("/admin/notifications/optout/").status_code == 200
    replies = admin_client.get("/admin/notifications/inboundsms/", {"handled_at__isempty": "1"})
    assert replies.status_code == 200
    assert replies.context["cl"].result_count == 1
