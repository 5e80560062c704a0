from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from server.accounts.roles import is_staff_member
from server.common.exceptions import NotFound, PermissionDenied
from server.technicians.models import Technician
from server.workorders.models import Status, WorkOrder, WorkOrderEvent, WorkOrderPhoto

_RELATED = ("customer", "site", "equipment", "technician", "required_skill")

SITE_HISTORY_LIMIT = 5


def work_order_list_for_technician(
    *, technician: Technician, day: dt.date, upcoming_until: dt.datetime | None = None
) -> list[WorkOrder]:
    """The technician's day in route order, with anything still under way from earlier days.

    With ``upcoming_until``, also the scheduled jobs planned before then whatever their day: a
    shift that runs past midnight shows the jobs after midnight too.
    """
    # The site's latest orders for every job in one query (the job's own order is among them).
    recent = Prefetch(
        "site__work_orders",
        queryset=WorkOrder.objects.select_related("technician").order_by("-created_at", "-id")[
            : SITE_HISTORY_LIMIT + 1
        ],
        to_attr="recent_orders",
    )
    return list(
        WorkOrder.objects.select_related(*_RELATED)
        .prefetch_related("events", "photos", recent)
        .filter(technician=technician)
        .filter(
            Q(scheduled_day=day)
            | Q(status__in=[Status.EN_ROUTE, Status.ON_SITE])
            | (
                Q(status=Status.SCHEDULED, planned_arrival__lte=upcoming_until)
                if upcoming_until is not None
                else Q(pk__in=[])
            )
        )
        .exclude(status=Status.CANCELLED)
        .order_by("scheduled_day", "route_position", "planned_arrival", "id")
    )


def work_order_get_for_user(*, user: User, work_order_id: int) -> WorkOrder:
    """Fetch with the permission check: staff see all, an active technician only orders assigned to them.

    An order the user may not see is answered exactly like one that does not exist (404), so a
    technician cannot learn which order ids exist by trying them.
    """
    work_order = WorkOrder.objects.select_related(*_RELATED).filter(pk=work_order_id).first()
    technician = work_order.technician if work_order is not None else None
    # The technician's own order first: it costs no query (staff membership does).
    if work_order is not None and technician is not None and technician.user_id == user.pk and technician.active:
        return work_order
    if work_order is not None and is_staff_member(user):
        return work_order
    raise NotFound(_missing(work_order_id), extra={"work_order_id": work_order_id})


def work_order_get_for_tap(*, user: User, work_order_id: int, client_event_id: str) -> WorkOrder:
    """The order a technician's tap is about: one assigned to them, or the one their earlier tap
    with this event id already changed. A resend must be answered "duplicate" even when that tap
    took the order off their route ("could not complete" puts it on hold, unassigned)."""
    try:
        return work_order_get_for_user(user=user, work_order_id=work_order_id)
    except NotFound:
        if not WorkOrderEvent.objects.filter(
            work_order_id=work_order_id, client_event_id=client_event_id, actor_id=user.pk
        ).exists():
            raise
        return WorkOrder.objects.select_related(*_RELATED).get(pk=work_order_id)


def work_orders_after_taps(*, user: User, taps: list[tuple[int, str]]) -> list[WorkOrder]:
    """The orders a batch of taps ((order id, client event id), in order) touched, once each, as
    they are now; an order that is no longer the technician's is left out (their next job list
    drops it)."""
    last: dict[int, str] = {}
    for work_order_id, client_event_id in taps:
        last[work_order_id] = client_event_id
    out = []
    for work_order_id, client_event_id in last.items():
        try:
            out.append(work_order_get_for_tap(user=user, work_order_id=work_order_id, client_event_id=client_event_id))
        except NotFound:
            continue
    return out


def work_order_list(
    *, user: User, status: str | None = None, day: dt.date | None = None, limit: int = 200
) -> QuerySet[WorkOrder]:
    if not is_staff_member(user):
        raise PermissionDenied("Only call-center staff and dispatchers may list work orders")
    queryset = WorkOrder.objects.select_related(*_RELATED).prefetch_related("events")
    if status:
        queryset = queryset.filter(status=status)
    if day:
        queryset = queryset.filter(scheduled_day=day)
    return queryset.order_by("-id")[:limit]


def work_order_events(*, work_order: WorkOrder) -> list[WorkOrderEvent]:
    return list(work_order.events.all())


def site_history(*, work_order: WorkOrder, limit: int = SITE_HISTORY_LIMIT) -> list[WorkOrder]:
    """Earlier orders at the same site, newest first: what the technician should know."""
    if work_order.site_id is None:
        return []
    prefetched = getattr(work_order.site, "recent_orders", None)
    if prefetched is not None and limit <= SITE_HISTORY_LIMIT:
        return [order for order in prefetched if order.pk != work_order.pk][:limit]
    return list(
        WorkOrder.objects.select_related("technician")
        .filter(site_id=work_order.site_id)
        .exclude(pk=work_order.pk)
        .order_by("-created_at", "-id")[:limit]
    )


def work_order_photos(*, work_order: WorkOrder) -> list[WorkOrderPhoto]:
    """The order's photos from the technician's phone, oldest first (prefetched for a day's list)."""
    return list(work_order.photos.all())


def _missing(work_order_id: int) -> str:
    return _("Work order %(id)s does not exist") % {"id": work_order_id}
