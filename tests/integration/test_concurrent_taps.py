"""The same tap sent twice at once on PostgreSQL: one applies, the other is a duplicate, never 409."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.utils import timezone

from server.intake import services as intake_services
from server.workorders import services as wo_services
from server.workorders.models import Status, WorkOrderEvent
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_repeat_sent_while_the_first_tap_is_applied_is_a_duplicate(real_services):
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    customer = factories.customer()
    order = intake_services.work_order_create_and_dispatch(customer=customer, site=customer.sites.get(), problem="leak")
    now = timezone.now()
    start = threading.Barrier(8)
    answers: list[object] = []

    def tap() -> None:
        try:
            start.wait()
            answers.append(
                wo_services.work_order_technician_event(
                    technician=zhang,
                    client_event_id="same-tap",
                    work_order_id=order.pk,
                    action="on_my_way",
                    device_time=now,
                )[1]
            )
        except Exception as error:  # noqa: BLE001 - the test reports every refusal
            answers.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tap) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers, key=str) == [False] + [True] * 7, answers
    assert WorkOrderEvent.objects.filter(client_event_id="same-tap").count() == 1
    order.refresh_from_db()
    assert order.status == Status.EN_ROUTE
