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
