import pytest

from notifications.models import SmsMessage
from notifications.selectors import sms_list

pytestmark = pytest.mark.django_db


def make(customer_id: int | None, work_order_id: int | None) -> SmsMessage:
    return SmsMessage.objects.create(
        to="+8613800138000", body="x", kind="other", language="en", provider="memory",
        customer_id=customer_id, work_order_id=work_order_id,
    )  # fmt: skip


def test_sms_list_filters_and_orders_newest_first() -> None:
    a = make(1, 10)
    b = make(1, 11)
    c = make(2, 12)
    assert list(sms_list()) == [c, b, a]
    assert list(sms_list(customer_id=1)) == [b, a]
    assert list(sms_list(work_order_id=12)) == [c]
    assert list(sms_list(customer_id=1, work_order_id=12)) == []
