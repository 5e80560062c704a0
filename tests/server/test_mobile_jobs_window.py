"""The app's job list on a shift that runs past midnight: jobs after midnight are listed too.

Found by the Redis-down fault test when CI ran at 23:53 Shanghai time: every call was dispatched
to a job after midnight, and the technicians' lists for "today" were empty.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from server.workorders.models import Status, WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db


def _job(technician, customer, *, arrival: dt.datetime) -> WorkOrder:
    return WorkOrder.objects.create(
        customer=customer, site=customer.sites.get(), problem="漏水", status=Status.SCHEDULED,
        technician=technician, planned_arrival=arrival, scheduled_day=timezone.localdate(arrival),
    )  # fmt: skip


def test_todays_list_holds_the_next_hours_jobs_whatever_their_day(client):
    zhang = factories.technician(username="zhang")
    customer = factories.customer()
    now = timezone.now()
    tomorrow_morning = _job(zhang, customer, arrival=now + dt.timedelta(days=1, hours=-23, minutes=-30))
    tomorrow_morning.scheduled_day = timezone.localdate() + dt.timedelta(days=1)  # after midnight
    tomorrow_morning.save(update_fields=["scheduled_day"])
    in_two_days = _job(zhang, customer, arrival=now + dt.timedelta(days=2))
    token = client.post(
        "/api/auth/token", {"username": "zhang", "password": "pw-123456"}, content_type="application/json"
    ).json()["token"]
    listed = client.get("/api/mobile/jobs", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    ids = [job["id"] for job in listed["jobs"]]
    assert tomorrow_morning.pk in ids
    assert in_two_days.pk not in ids
    # A day asked for by name is that day only.
    asked = client.get(
        "/api/mobile/jobs", {"day": timezone.localdate().isoformat()}, HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert tomorrow_morning.pk not in [job["id"] for job in asked["jobs"]]
