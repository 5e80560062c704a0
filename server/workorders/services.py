"""Work-order writes. ``_set_status`` is the one place a work order's status is assigned."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from dispatch.model import Location
from notifications import messages as sms_messages
from notifications import services as sms_services
from server.common.exceptions import ApplicationError, Conflict, NotFound, Unauthorized, ValidationFailed
from server.common.travel import travel_approximate, travel_minutes
from server.customers.models import Customer, Equipment, Site
from server.technicians.models import Skill, Technician, TechnicianLocation
from server.workorders import state_machine
from server.workorders.event_text import STATUS_WORDS
from server.workorders.links import tracking_link
from server.workorders.models import (
    EventKind,
    Priority,
    Source,
    Status,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderPhoto,
    WorkOrderPhotoChunk,
)

# A last known position older than this no longer tells where the technician is.
LOCATION_FRESH_FOR = dt.timedelta(hours=2)
# A job finished (or a stop planned) within this long still tells where the technician is.
JOB_POSITION_FOR = dt.timedelta(hours=12)

# What a status change's data holds that renders it in words (``event_text``); a withdrawn
# promise keeps these to say why.
_STATUS_WORDS_DATA = ("action", "reason", "note", "why", "technician")


def _event(
    work_order: WorkOrder,
    *,
    kind: str,
    text: str,
    actor: User | None = None,
    actor_label: str = "",
    from_status: str = "",
    to_status: str = "",
    data: dict[str, Any] | None = None,
    client_event_id: str | None = None,
    device_time: dt.datetime | None = None,
) -> WorkOrderEvent:
    return WorkOrderEvent.objects.create(
        work_order=work_order,
        kind=kind,
        text=text,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor_label or (str(actor) if actor is not None else "system"),
        from_status=from_status,
        to_status=to_status,
        data=data or {},
        client_event_id=client_event_id,
        device_time=device_time,
    )


def work_order_events_bulk(
    *,
    kind: str,
    actor_label: str,
    items: list[tuple[int, str, dict[str, Any]]],
) -> None:
    """One event per (work order id, text, data), in one statement (a re-plan moves many)."""
    WorkOrderEvent.objects.bulk_create(
        [
            WorkOrderEvent(work_order_id=pk, kind=kind, text=text, actor_label=actor_label, data=data)
            for pk, text, data in items
        ]
    )


def work_order_note(
    *,
    work_order: WorkOrder,
    text: str,
    actor: User | None = None,
    actor_label: str = "",
    kind: str = EventKind.NOTE,
    data: dict[str, Any] | None = None,
) -> WorkOrderEvent:
    return _event(work_order, kind=kind, text=text, actor=actor, actor_label=actor_label, data=data)


@transaction.atomic
def work_order_create(
    *,
    customer: Customer,
    site: Site | None = None,
    equipment: Equipment | None = None,
    problem: str = "",
    priority: str = Priority.NORMAL,
    required_skill: Skill | None = None,
    service_minutes: int | None = None,
    source: str = Source.MANUAL,
    window_start: dt.datetime | None = None,
    window_end: dt.datetime | None = None,
    needs_review: bool = False,
    complaint: bool = False,
    actor: User | None = None,
    actor_label: str = "",
    note: str = "",
    note_data: dict[str, Any] | None = None,
) -> WorkOrder:
    """Create a NEW work order and log it. Dispatch is the caller's next step (scheduling).

    ``note_data``: what ``note`` says, as data the console renders in the reader's language
    (``server.workorders.event_text``)."""
    if site is not None and site.customer_id != customer.pk:
        raise ValidationFailed("The site belongs to another customer", extra={"site": site.pk})
    if equipment is not None and site is not None and equipment.site_id != site.pk:
        raise ValidationFailed("The equipment is not at this site", extra={"equipment": equipment.pk})
    if window_start is not None and window_end is not None and window_end <= window_start:
        raise ValidationFailed(
            "The appointment window must end after it starts",
            extra={"window_start": window_start.isoformat(), "window_end": window_end.isoformat()},
        )
    work_order = WorkOrder(
        customer=customer,
        site=site,
        equipment=equipment,
        problem=problem.strip(),
        priority=priority,
        required_skill=required_skill,
        service_minutes=service_minutes or settings.DEFAULT_SERVICE_MINUTES,
        source=source,
        window_start=window_start,
        window_end=window_end,
        needs_review=needs_review,
        complaint=complaint,
    )
    # Field checks only: the related rows were just read, and the table's check constraints
    # (status, priority, window order) are checked above and by the database; validating them
    # here would cost a query each on a call that must answer fast.
    work_order.full_clean(exclude=["customer", "site", "equipment", "required_skill"], validate_constraints=False)
    work_order.save()
    _event(
        work_order,
        kind=EventKind.CREATED,
        text=note or f"Work order created ({Source(source).label})",
        actor=actor,
        actor_label=actor_label,
        to_status=Status.NEW,
        data={"priority": priority, "needs_review": needs_review, "source": source, **(note_data or {})},
    )
    return work_order


def _set_status(work_order: WorkOrder, to_status: Status) -> Status:
    """Check ``to_status`` against the state machine and assign it. Caller holds the row lock."""
    state_machine.check_transition(work_order.status, to_status)
    from_status = Status(work_order.status)
    work_order.status = to_status
    return from_status


def _not_found(work_order_id: int) -> NotFound:
    """A missing order, or one that is not the technician's: both answer alike (ids stay secret)."""
    return NotFound(
        gettext("Work order %(id)s does not exist") % {"id": work_order_id}, extra={"work_order_id": work_order_id}
    )


def _lock(work_order_id: int) -> WorkOrder:
    try:
        return (
            WorkOrder.objects.select_for_update(of=("self",), no_key=True)
            .select_related("customer", "site", "technician")
            .get(pk=work_order_id)
        )
    except WorkOrder.DoesNotExist as exc:
        raise NotFound(gettext("Work order %(id)s does not exist") % {"id": work_order_id}) from exc


# Lock order, everywhere: technician rows first (ascending id), then work-order rows. Placing an
# order, a re-plan, a tap and a staff change all follow it, so none of them can deadlock another.
def technicians_lock(technician_ids: Any) -> dict[int, Technician]:
    """Lock these technicians' rows (their routes) in id order; returns them by id."""
    ids = sorted({pk for pk in technician_ids if pk is not None})
    if not ids:
        return {}
    # FOR NO KEY UPDATE: the key never changes, and rows that only reference a technician (their
    # foreign-key checks take KEY SHARE at commit) must not wait for a route lock.
    return {t.pk: t for t in Technician.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")}


class _ChangedHands(Exception):
    pass


def _lock_with_technician(work_order_id: int, *, also: int | None = None) -> WorkOrder:
    """Lock the order's technician (its route), and ``also`` another one (where it is going),
    and then the order, in the global lock order.

    The technician is read first without a lock; if the order changed hands before its row was
    locked, the try is rolled back (releasing the locks it took) and made again.
    """
    for _ in range(5):
        technician_id = WorkOrder.objects.filter(pk=work_order_id).values_list("technician_id", flat=True).first()
        try:
            with transaction.atomic():
                technicians_lock([technician_id, also])
                work_order = _lock(work_order_id)
                if work_order.technician_id != technician_id:
                    raise _ChangedHands
                return work_order
        except _ChangedHands:
            continue
    raise Conflict(f"Work order {work_order_id} kept changing hands; try again")


def routes_touch(technician_ids: Any) -> None:
    """Record that these technicians' routes changed (callers hold their row locks)."""
    ids = {pk for pk in technician_ids if pk is not None}
    if ids:
        Technician.objects.filter(pk__in=ids).update(route_version=F("route_version") + 1)


class JobInProgress(Conflict):
    code = "job_in_progress"


@transaction.atomic
def work_order_transition(
    *,
    work_order_id: int,
    to_status: Status | str,
    actor: User | None = None,
    actor_label: str = "",
    text: str = "",
    client_event_id: str | None = None,
    device_time: dt.datetime | None = None,
    data: dict[str, Any] | None = None,
    hold_reason: str = "",
    follow_up_on: dt.date | None = None,
    live_texts: bool = True,
    locked: WorkOrder | None = None,
) -> WorkOrder:
    """Move a work order to ``to_status``, log it, and queue the customer's SMS for it.

    ``live_texts=False``: no "on my way" or "arrived" text (a tap that reached the server too
    late: an ETA would be false and "arrived" old news; the caller records why). The completed
    text (with its rating request) still goes. ``locked``: the order, as the caller
    already locked it after its technician (``_lock``), so it is not locked again.

    Locks the order's technician (its route) and then the order. A technician has at most one
    order on the way or on site: a second one is refused (409). Leaving the route (back to new,
    on hold, cancelled) clears the technician, the plan and the pin; on hold or cancelled also
    withdraws the promise, with an event. The SMS row is written in this transaction and sent
    only after it commits.
    """
    if to_status not in Status.values:
        raise ValidationFailed(f"Unknown status '{to_status}'", extra={"allowed": Status.values})
    to_status = Status(to_status)
    work_order = locked if locked is not None and locked.pk == work_order_id else _lock_with_technician(work_order_id)
    if to_status in state_machine.NEEDS_TECHNICIAN and work_order.technician_id is None:
        raise ValidationFailed(f"{work_order.reference} has no technician; assign one before '{to_status.label}'")
    if to_status in state_machine.LOCKED_STATUSES and work_order.technician_id is not None:
        busy = (
            WorkOrder.objects.filter(technician_id=work_order.technician_id, status__in=state_machine.LOCKED_STATUSES)
            .exclude(pk=work_order.pk)
            .order_by("id")
            .first()
        )
        if busy is not None:
            raise JobInProgress(
                gettext(
                    "%(technician)s is already '%(status)s' for %(reference)s; finish it or report it "
                    "could not be completed first"
                )
                % {
                    "technician": work_order.technician,
                    "status": STATUS_WORDS[busy.status],
                    "reference": busy.reference,
                },
                extra={"work_order_id": work_order.pk, "in_progress": busy.pk},
            )
    from_status = _set_status(work_order, to_status)
    route_of = work_order.technician_id
    work_order.version += 1
    fields = ["status", "version", "updated_at"]
    if to_status in (Status.NEW, Status.ON_HOLD, Status.CANCELLED):
        work_order.technician = None
        work_order.planned_arrival = None
        work_order.route_position = None
        work_order.pinned = False
        work_order.pinned_start = None
        fields += ["technician", "planned_arrival", "route_position", "pinned", "pinned_start"]
    if to_status == Status.COMPLETED:
        work_order.completed_at = device_time or timezone.now()
        fields.append("completed_at")
    if to_status == Status.ON_HOLD:
        work_order.hold_reason = hold_reason[:300]
        work_order.follow_up_on = follow_up_on
        fields += ["hold_reason", "follow_up_on"]
    elif from_status == Status.ON_HOLD:
        work_order.hold_reason = ""
        work_order.follow_up_on = None
        fields += ["hold_reason", "follow_up_on"]
    withdrawn = None
    if to_status in (Status.ON_HOLD, Status.CANCELLED) and work_order.promised_start and work_order.promised_end:
        withdrawn = (work_order.promised_start, work_order.promised_end)
        work_order.promised_start = work_order.promised_end = None
        work_order.promise_at_risk = False
        work_order.promise_risk_reason = ""
        fields += ["promised_start", "promised_end", "promise_at_risk", "promise_risk_reason"]
    work_order.save(update_fields=fields)
    routes_touch([route_of])
    if to_status == Status.ON_SITE:
        data = {**(data or {}), "arrival": _arrival_record(work_order, at=device_time or timezone.now())}
    event = _event(
        work_order,
        kind=EventKind.STATUS,
        text=text or f"{from_status.label} → {to_status.label}",
        actor=actor,
        actor_label=actor_label,
        from_status=from_status,
        to_status=to_status,
        data=data,
        client_event_id=client_event_id,
        device_time=device_time,
    )
    if withdrawn is not None:
        _event(
            work_order,
            kind=EventKind.PROMISE,
            actor=actor,
            actor_label=actor_label,
            text=f"Promise withdrawn ({window_text(*withdrawn)}): {to_status.label.lower()}"
            + (f" — {text}" if text else ""),
            data={
                "outcome": "promise_withdrawn",
                "promised_start": withdrawn[0].isoformat(),
                "promised_end": withdrawn[1].isoformat(),
                "reason": text or to_status.value,
                "status": to_status.value,
                "status_text": text,
                "status_data": {k: v for k, v in (data or {}).items() if k in _STATUS_WORDS_DATA},
            },
        )
    if to_status in _SMS_KIND and (live_texts or to_status == Status.COMPLETED):
        _queue_status_sms(work_order, event=event, kind=_SMS_KIND[to_status])
    elif to_status == Status.CANCELLED and withdrawn is not None:
        work_order_sms_send(
            work_order=work_order, kind="cancelled", key=f"wo:{work_order.pk}:event:{event.pk}", window=withdrawn
        )
    return work_order


def _arrival_record(work_order: WorkOrder, *, at: dt.datetime) -> dict[str, Any]:
    """What the ETA-error report needs at arrival: when, what was promised, the last window told."""
    _, told = _last_told(work_order, visit=_visit_number(work_order))
    return {
        "arrived_at": at.isoformat(),
        "promised_start": _iso(work_order.promised_start),
        "promised_end": _iso(work_order.promised_end),
        "eta_start": _iso(told[0]) if told else None,
        "eta_end": _iso(told[1]) if told else None,
        "planned_arrival": _iso(work_order.planned_arrival),
    }


def window_text(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """A window as the customer reads it: local ``HH:MM–HH:MM``."""
    if start is None or end is None:
        return "no time"
    return f"{timezone.localtime(start):%H:%M}–{timezone.localtime(end):%H:%M}"


def promise_window_for(arrival: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The window a customer is told for a planned arrival: ``PROMISE_WINDOW_MINUTES`` wide,
    starting on a quarter hour, with the arrival inside it."""
    width = dt.timedelta(minutes=settings.PROMISE_WINDOW_MINUTES)
    local = timezone.localtime(arrival - width / 2)
    start = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    end = start + width
    if end <= arrival:  # a window narrower than 30 minutes: keep the arrival inside
        start, end = start + dt.timedelta(minutes=15), end + dt.timedelta(minutes=15)
    return start, end


def work_order_promise(
    *,
    work_order: WorkOrder,
    start: dt.datetime,
    end: dt.datetime,
    reason: str,
    actor: User | None = None,
    actor_label: str = "dispatch",
    outcome: str = "promised",
) -> WorkOrder:
    """Record the window the customer is told (caller holds the order's row lock).

    ``outcome`` says what kind of change this is ("promised" the first time, "rescheduled" when
    staff or the customer move it), so messages can tell the customer.
    """
    before = (work_order.promised_start, work_order.promised_end)
    work_order.promised_start, work_order.promised_end = start, end
    work_order.promised_technician = work_order.technician
    work_order.promise_at_risk = False
    work_order.promise_risk_reason = ""
    work_order.version += 1
    work_order.save(
        update_fields=[
            "promised_start",
            "promised_end",
            "promised_technician",
            "promise_at_risk",
            "promise_risk_reason",
            "version",
            "updated_at",
        ]
    )
    who = f" ({work_order.technician})" if work_order.technician_id else ""
    text = f"Promised {window_text(start, end)}{who}"
    if before[0] is not None:
        text = f"Promise changed {window_text(*before)} → {window_text(start, end)}{who}"
    _event(
        work_order,
        kind=EventKind.PROMISE,
        actor=actor,
        actor_label=actor_label,
        text=f"{text}: {reason}" if reason else text,
        data={
            "outcome": outcome,
            "promised_start": start.isoformat(),
            "promised_end": end.isoformat(),
            "previous_start": before[0].isoformat() if before[0] else None,
            "previous_end": before[1].isoformat() if before[1] else None,
            "reason": reason,
            "technician": work_order.technician.name if work_order.technician else "",
        },
    )
    told = "booked" if before[0] is None and outcome == "promised" else "rescheduled"
    work_order_sms_send(
        work_order=work_order,
        kind=told,
        key=f"wo:{work_order.pk}:{told}:{work_order.version}",
        window=(start, end),
        link=True,
        data={"planned_arrival": _iso(work_order.planned_arrival), "reason": reason},
    )
    return work_order


def work_order_promise_check(
    *,
    work_order: WorkOrder,
    arrival: dt.datetime | None,
    reason: str,
    actor_label: str = "dispatch",
) -> str | None:
    """Compare a (new) planned arrival with the promise; flag or clear "promise at risk".

    Caller holds the order's row lock. Returns the outcome written ("promise_at_risk",
    "promise_kept") or ``None`` when nothing changed. Breaking the promise is its own event, so
    the customer can be told.
    """
    if work_order.promised_start is None or work_order.promised_end is None:
        return None
    outside = arrival is None or not (work_order.promised_start <= arrival <= work_order.promised_end)
    if outside == work_order.promise_at_risk:
        return None
    window = window_text(work_order.promised_start, work_order.promised_end)
    if outside:
        when = "no planned visit" if arrival is None else f"planned {timezone.localtime(arrival):%H:%M}"
        risk = f"{when}, promised {window}: {reason}"[:300]
        work_order.promise_at_risk, work_order.promise_risk_reason = True, risk
        outcome, text = "promise_at_risk", f"Promise at risk — {risk}"
    else:
        work_order.promise_at_risk, work_order.promise_risk_reason = False, ""
        outcome = "promise_kept"
        text = f"Promise can be kept again: planned {timezone.localtime(arrival):%H:%M}, promised {window}"
    WorkOrder.objects.filter(pk=work_order.pk).update(
        promise_at_risk=work_order.promise_at_risk,
        promise_risk_reason=work_order.promise_risk_reason,
        version=F("version") + 1,
        updated_at=timezone.now(),
    )
    work_order.version += 1
    _event(
        work_order,
        kind=EventKind.PROMISE,
        actor_label=actor_label,
        text=text,
        data={
            "outcome": outcome,
            "planned_arrival": arrival.isoformat() if arrival else None,
            "reason": reason,
            "promised_start": work_order.promised_start.isoformat(),
            "promised_end": work_order.promised_end.isoformat(),
        },
    )
    return outcome


def _fresh_position(technician: Technician, *, now: dt.datetime) -> tuple[Location, dt.datetime] | None:
    """The phone's last reported position and when, if recent enough to tell where they are."""
    lat, lon, at = technician.last_latitude, technician.last_longitude, technician.last_located_at
    if lat is None or lon is None or at is None or now - at > LOCATION_FRESH_FOR:
        return None
    return Location(lat, lon), at


def technician_positions(
    technicians: list[Technician],
    *,
    now: dt.datetime,
    heading_to: int | None = None,
) -> dict[int, tuple[Location, str]]:
    """Where each technician is now, and how we know: ``position`` (a fresh report from the
    phone), ``on_site`` (the job they are at), ``last_job`` (the job they finished last today),
    ``plan`` (the stop the plan has them at by now) or ``home`` (the day has not started).

    Never home while they are working: a stale phone position falls back to the jobs, and a job
    finished after the last report wins over it. Two queries for any number of technicians.
    ``heading_to`` (an order id) is left out: the technician is not there yet.
    """
    since = now - JOB_POSITION_FOR
    located = WorkOrder.objects.filter(
        site__latitude__isnull=False,
        site__longitude__isnull=False,
    ).exclude(pk=heading_to or 0)
    # Per technician: (at that job now, when it last changed, where), a job in progress first.
    at_job: dict[int, tuple[bool, dt.datetime, Location]] = {}
    for technician_id, status, changed_at, lat, lon in located.filter(
        technician_id__in=[t.pk for t in technicians],
        status__in=(Status.ON_SITE, Status.COMPLETED),
        updated_at__gte=since,
    ).values_list("technician_id", "status", "updated_at", "site__latitude", "site__longitude"):
        rank = (status == Status.ON_SITE, changed_at)
        if technician_id is None or lat is None or lon is None:
            continue
        if technician_id not in at_job or rank > at_job[technician_id][:2]:
            at_job[technician_id] = (*rank, Location(lat, lon))
    out: dict[int, tuple[Location, str]] = {}
    for technician in technicians:
        fresh = _fresh_position(technician, now=now)
        job = at_job.get(technician.pk)
        if job is not None and (fresh is None or job[0] or job[1] > fresh[1]):
            out[technician.pk] = (job[2], "on_site" if job[0] else "last_job")
        elif fresh is not None:
            out[technician.pk] = (fresh[0], "position")
    need = [t.pk for t in technicians if t.pk not in out]
    if need:
        planned: dict[int, tuple[dt.datetime, Location]] = {}
        for technician_id, arrival, lat, lon in located.filter(
            technician_id__in=need,
            status__in=(Status.SCHEDULED, Status.EN_ROUTE),
            planned_arrival__range=(since, now),
        ).values_list("technician_id", "planned_arrival", "site__latitude", "site__longitude"):
            if technician_id is None or arrival is None or lat is None or lon is None:
                continue
            if technician_id not in planned or arrival > planned[technician_id][0]:
                planned[technician_id] = (arrival, Location(lat, lon))
        out.update({pk: (where, "plan") for pk, (_, where) in planned.items()})
    for technician in technicians:
        out.setdefault(technician.pk, (Location(technician.home_latitude, technician.home_longitude), "home"))
    return out


def technician_origin(technician: Technician, *, now: dt.datetime, heading_to: int | None = None) -> Location:
    """Where the technician is now (see :func:`technician_positions`)."""
    return technician_positions([technician], now=now, heading_to=heading_to)[technician.pk][0]


def work_order_eta_minutes(work_order: WorkOrder, *, now: dt.datetime) -> int | None:
    """Driving minutes from where the technician is to the site, or None when unknowable."""
    site, technician = work_order.site, work_order.technician
    if technician is None or site is None or site.latitude is None or site.longitude is None:
        return None
    return travel_minutes(
        technician_origin(technician, now=now, heading_to=work_order.pk),
        Location(site.latitude, site.longitude),
        at=now,
    )


def _queue_status_sms(work_order: WorkOrder, *, event: WorkOrderEvent, kind: str) -> None:
    """The customer's text for a status change: on my way (an ETA window from where the
    technician is, and the tracking link), arrived, completed (asks for a 1–5 rating)."""
    key = f"wo:{work_order.pk}:event:{event.pk}"
    if kind != "on_my_way":
        work_order_sms_send(work_order=work_order, kind=kind, key=key)
        return
    now = timezone.now()
    eta = work_order_eta(work_order, now=now)
    window = eta_window(eta[0], travel=eta[1]) if eta is not None else None
    work_order_sms_send(
        work_order=work_order,
        kind=kind,
        key=key,
        window=window,
        link=True,
        data={
            "eta": _iso(eta[0]) if eta else None,
            "eta_minutes": eta[1] if eta else None,
            # The routing provider failed and the offline model answered: the event says so.
            "eta_approximate": eta is not None and travel_approximate(),
        },
    )


# --- Customer texts ------------------------------------------------------------------------------

# Apps above workorders provide these; they are looked up by name when a text is built (an import
# here would run the layers backwards).
# The callback kind for a visit that keeps running late (falls back while care has no such kind).
# Running-late texts per visit; the next change opens a staff callback task instead.
RUNNING_LATE_MAX = 2
# A window told to the customer that moved this far is told again.
RUNNING_LATE_SHIFT = dt.timedelta(minutes=15)
# Texts that tell the customer a window, and which window their data holds.
_ETA_KINDS = ("on_my_way", "running_late")
# Texts about a visit under way: they go out at once, night or day (the technician is coming).
URGENT_KINDS = frozenset({"on_my_way", "running_late", "arrived", "eta_answer"})
_SMS_KIND = {Status.EN_ROUTE: "on_my_way", Status.ON_SITE: "arrived", Status.COMPLETED: "completed"}


def _local_hhmm(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%H:%M}"


def eta_window(arrival: dt.datetime, *, travel: int = 0) -> tuple[dt.datetime, dt.datetime]:
    """The window told for an expected ``arrival`` after ``travel`` minutes of driving: from
    ``max(5, 15 %)`` minutes before to ``max(10, 25 %)`` after, widened to whole 5 minutes
    (the reference's rule: a window, never a single minute that is sure to be wrong)."""
    before = dt.timedelta(minutes=max(5.0, 0.15 * travel))
    after = dt.timedelta(minutes=max(10.0, 0.25 * travel))
    start = timezone.localtime(arrival - before).replace(second=0, microsecond=0)
    start -= dt.timedelta(minutes=start.minute % 5)
    end = timezone.localtime(arrival + after)
    end_floor = end.replace(second=0, microsecond=0) - dt.timedelta(minutes=end.minute % 5)
    end = end_floor if end_floor == end else end_floor + dt.timedelta(minutes=5)
    return start, end


def _overlap(a: tuple[dt.datetime, dt.datetime], b: tuple[dt.datetime, dt.datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _tracking_link(work_order: WorkOrder) -> str:
    return tracking_link(work_order=work_order)


def _visit_number(work_order: WorkOrder) -> int:
    """Which visit this is: 1 until the technician first arrives, 2 after, and so on."""
    return (
        WorkOrderEvent.objects.filter(work_order=work_order, kind=EventKind.STATUS, to_status=Status.ON_SITE).count()
        + 1
    )


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def work_order_sms_send(
    *,
    work_order: WorkOrder,
    kind: str,
    key: str,
    window: tuple[dt.datetime, dt.datetime] | None = None,
    link: bool = False,
    urgent: bool = False,
    data: dict[str, Any] | None = None,
) -> WorkOrderEvent:
    """Text the order's customer (``notifications.messages.visit_text`` ``kind``) and log it.

    The one way a work-order text is sent: it passes the customer's consent to service texts and
    the visit (``wo:<id>:visit:<n>``, so one on-my-way per visit), and the timeline's SMS event
    says what became of it: ``queued``/``sent``, or ``suppressed`` with the reason (opted out, no
    consent, the daily cap, quiet hours move it to the morning), or ``no_phone``. ``key`` makes a
    repeat of the same text one message. The event's data keeps the window told and the promise,
    so a report can compare them with the actual arrival.
    """
    customer = work_order.customer
    visit = _visit_number(work_order)
    record: dict[str, Any] = {
        "sms_kind": kind,
        "visit": visit,
        "window_start": _iso(window[0]) if window else None,
        "window_end": _iso(window[1]) if window else None,
        "promised_start": _iso(work_order.promised_start),
        "promised_end": _iso(work_order.promised_end),
        **(data or {}),
    }
    if not customer.phone:
        return _event(
            work_order,
            kind=EventKind.SMS,
            text=f"No SMS ({kind}): the customer has no phone number",
            data={**record, "outcome": "no_phone"},
        )
    technician = work_order.technician.name if work_order.technician else ""
    url = _tracking_link(work_order) if link else ""
    shown = (_local_hhmm(window[0]), _local_hhmm(window[1])) if window else None
    try:
        body = sms_messages.visit_text(
            kind,
            language=customer.language,
            signature=sms_services.sms_signature(customer.language),
            technician_name=technician,
            window=shown,
            reference=work_order.reference,
            link=url,
        )
    except ValueError as exc:
        # A text that cannot be one segment (a signature or link too long for it) is not sent;
        # the change it reports still goes through, and the timeline says why.
        return _event(
            work_order,
            kind=EventKind.SMS,
            text=f"No SMS ({kind}): the text could not be built ({exc})",
            data={**record, "outcome": "not_built", "reason": str(exc)},
        )
    message = sms_services.sms_queue(
        to=customer.phone,
        body=body,
        kind=kind,
        language=customer.language,
        idempotency_key=key,
        customer_id=customer.pk,
        work_order_id=work_order.pk,
        urgent=urgent or kind in URGENT_KINDS,
        consent=customer.consent_service_sms,
        visit_key=f"wo:{work_order.pk}:visit:{visit}",
        params={
            "name": technician,
            "start": shown[0] if shown else "",
            "end": shown[1] if shown else "",
            "reference": work_order.reference,
            "link": url,
        },
    )
    outcome = str(message.status)
    reason = message.error if outcome == "suppressed" else ""
    if reason:
        text = f"SMS not sent to {customer.phone} ({reason}): {body}"
    else:
        # One held for quiet hours is queued too: data["not_before"] says until when.
        text = f"SMS queued to {customer.phone}: {body}"
    return _event(
        work_order,
        kind=EventKind.SMS,
        text=text,
        data={
            **record,
            "sms_id": message.pk,
            "outcome": outcome,
            "reason": reason,
            "not_before": _iso(message.not_before),
            "to": customer.phone,
            "link": url,
        },
    )


def _last_told(
    work_order: WorkOrder, *, visit: int
) -> tuple[list[dict[str, Any]], tuple[dt.datetime, dt.datetime] | None]:
    """This visit's ETA texts (oldest first) and the last window one of them told."""
    told = [
        data
        for data in WorkOrderEvent.objects.filter(work_order=work_order, kind=EventKind.SMS)
        .order_by("id")
        .values_list("data", flat=True)
        if data.get("visit") == visit and data.get("sms_kind") in _ETA_KINDS
    ]
    for data in reversed(told):
        if data.get("window_start") and data.get("window_end") and data.get("outcome") != "no_phone":
            return told, (
                dt.datetime.fromisoformat(data["window_start"]),
                dt.datetime.fromisoformat(data["window_end"]),
            )
    return told, None


def _on_site_since(work_order: WorkOrder) -> dt.datetime:
    at = (
        WorkOrderEvent.objects.filter(work_order=work_order, kind=EventKind.STATUS, to_status=Status.ON_SITE)
        .order_by("-id")
        .values_list("device_time", "created_at")
        .first()
    )
    return (at[0] or at[1]) if at is not None else work_order.updated_at


def work_order_eta(work_order: WorkOrder, *, now: dt.datetime) -> tuple[dt.datetime, int] | None:
    """When the technician can be at this order's site, and the driving minutes in it.

    On the way: now plus the drive from where they are. Next on their route while they are at
    another job: when that job's time is up (or now, if it ran over) plus the drive from there.
    Otherwise the planned arrival, or later if they cannot make it from where they are now.
    ``None`` when the order has no technician or no located site.
    """
    site, technician = work_order.site, work_order.technician
    if technician is None or site is None or site.latitude is None or site.longitude is None:
        return None
    here = Location(site.latitude, site.longitude)
    if work_order.status == Status.EN_ROUTE:
        minutes = travel_minutes(technician_origin(technician, now=now, heading_to=work_order.pk), here, at=now)
        return now + dt.timedelta(minutes=minutes), minutes
    current = (
        WorkOrder.objects.filter(technician=technician, status=Status.ON_SITE)
        .exclude(pk=work_order.pk)
        .select_related("site")
        .first()
    )
    if current is not None and current.site is not None and current.site.latitude is not None:
        free = max(now, _on_site_since(current) + dt.timedelta(minutes=current.service_minutes))
        origin = Location(current.site.latitude, current.site.longitude or 0.0)
        minutes = travel_minutes(origin, here, at=free)
        start = free + dt.timedelta(minutes=minutes)
    else:
        minutes = travel_minutes(technician_origin(technician, now=now, heading_to=work_order.pk), here, at=now)
        start = now + dt.timedelta(minutes=minutes)
    if work_order.planned_arrival is not None:
        start = max(start, work_order.planned_arrival)
    return start, minutes


def _current_visit(technician_id: int, *, now: dt.datetime) -> WorkOrder | None:
    """The order the technician is on the way to, else their next scheduled one today."""
    orders = WorkOrder.objects.select_related("customer", "site", "technician").filter(technician_id=technician_id)
    on_the_way = orders.filter(status=Status.EN_ROUTE).first()
    if on_the_way is not None:
        return on_the_way
    # "Today" as a span around now, not a calendar date: a late job runs past midnight.
    return (
        orders.filter(
            status=Status.SCHEDULED,
            planned_arrival__gte=now - JOB_POSITION_FOR,
            planned_arrival__lt=now + JOB_POSITION_FOR,
        )
        .order_by("planned_arrival", "route_position", "pk")
        .first()
    )


def work_order_eta_check(*, technician_id: int, reason: str, now: dt.datetime | None = None) -> str | None:
    """Recompute the ETA of the technician's current visit and tell the customer when it slips.

    Called on each location report, after a re-plan, and on a tap. The customer of a promised
    visit gets "running late" with the new window when it no longer overlaps the promise (or
    the last window told did and this one does not), or starts ``RUNNING_LATE_SHIFT`` or more
    later than the last window told. At most ``RUNNING_LATE_MAX`` per visit: the next slip
    opens a staff callback task (once). Returns what happened: "running_late", "callback", or
    ``None``.
    """
    now = now or timezone.now()
    work_order = _current_visit(technician_id, now=now)
    if work_order is None or work_order.promised_start is None or work_order.promised_end is None:
        return None
    eta = work_order_eta(work_order, now=now)
    if eta is None:
        return None
    window = eta_window(eta[0], travel=eta[1])
    promised = (work_order.promised_start, work_order.promised_end)
    visit = _visit_number(work_order)
    told, last = _last_told(work_order, visit=visit)
    if last is None:
        slipped = not _overlap(window, promised)
    else:
        slipped = window[0] - last[0] >= RUNNING_LATE_SHIFT or (
            _overlap(last, promised) and not _overlap(window, promised) and window[0] > last[0]
        )
    if not slipped:
        return None
    late = [data for data in told if data.get("sms_kind") == "running_late"]
    if len(late) >= RUNNING_LATE_MAX:
        return _late_callback(work_order, window=window, visit=visit, reason=reason)
    work_order_sms_send(
        work_order=work_order,
        kind="running_late",
        key=f"wo:{work_order.pk}:visit:{visit}:late:{len(late) + 1}",
        window=window,
        link=True,
        data={"eta": eta[0].isoformat(), "travel_minutes": eta[1], "trigger": reason, "checked_at": now.isoformat()},
    )
    return "running_late"


def _late_callback(
    work_order: WorkOrder, *, window: tuple[dt.datetime, dt.datetime], visit: int, reason: str
) -> str | None:
    """A visit that slipped again after two texts: no more texts, a person calls the customer.

    The order is flagged at risk at once (the console's filter); the care app's sweep turns the
    event into one callback task for staff (care sits above this app, so it does that part).
    """
    if WorkOrderEvent.objects.filter(work_order=work_order, kind=EventKind.NOTE, data__late_callback=visit).exists():
        return None
    why = (
        f"running late again: now expected {window_text(*window)}, promised "
        f"{window_text(work_order.promised_start, work_order.promised_end)}; call the customer"
    )
    WorkOrder.objects.filter(pk=work_order.pk).update(promise_at_risk=True, promise_risk_reason=why[:300])
    _event(
        work_order,
        kind=EventKind.NOTE,
        text=f"Running late a third time ({reason}): a callback for staff, no more texts",
        data={
            "late_callback": visit,
            "reason": why,
            "window_start": window[0].isoformat(),
            "window_end": window[1].isoformat(),
        },
    )
    return "callback"


def work_orders_eta_sweep(*, now: dt.datetime | None = None) -> int:
    """Recheck the current visit of every technician on the way or at a job (beat, every few
    minutes): a job that runs over is noticed even when the phone sends no position. Each
    technician's route is locked while checked. Returns how many customers were told or
    handed to staff."""
    now = now or timezone.now()
    busy = sorted(
        set(
            WorkOrder.objects.filter(
                status__in=(Status.EN_ROUTE, Status.ON_SITE), technician_id__isnull=False
            ).values_list("technician_id", flat=True)
        )
    )
    acted = 0
    for technician_id in busy:
        with transaction.atomic():
            technicians_lock([technician_id])
            if work_order_eta_check(technician_id=technician_id, reason="running over", now=now):
                acted += 1
    return acted


def work_orders_remind_day_before(*, today: dt.date) -> int:
    """Text "day before" to every customer promised a visit tomorrow, once per order and day."""
    tomorrow = today + dt.timedelta(days=1)
    start = timezone.make_aware(dt.datetime.combine(tomorrow, dt.time.min))
    orders = WorkOrder.objects.select_related("customer", "technician").filter(
        status__in=(Status.NEW, Status.SCHEDULED),
        promised_start__gte=start,
        promised_start__lt=start + dt.timedelta(days=1),
    )
    sent = 0
    for work_order in orders.order_by("promised_start", "pk"):
        key = f"wo:{work_order.pk}:day_before:{tomorrow.isoformat()}"
        if WorkOrderEvent.objects.filter(work_order=work_order, kind=EventKind.SMS, data__key=key).exists():
            continue
        if work_order.promised_start is None or work_order.promised_end is None:
            continue
        with transaction.atomic():
            work_order_sms_send(
                work_order=work_order,
                kind="day_before",
                key=key,
                window=(work_order.promised_start, work_order.promised_end),
                link=True,
                data={"key": key},
            )
        sent += 1
    return sent


@transaction.atomic
def work_order_assign(
    *,
    work_order_id: int,
    technician: Technician,
    day: dt.date,
    planned_arrival: dt.datetime,
    route_position: int,
    explanation: dict[str, Any] | None = None,
    actor: User | None = None,
    actor_label: str = "dispatch",
    text: str = "",
    reason: str = "",
    pin: bool | None = None,
    pinned_start: dt.datetime | None = None,
) -> WorkOrder:
    """Give the order to ``technician`` at ``planned_arrival`` (NEW → SCHEDULED, or a re-plan).

    Callers placing several orders lock every technician involved first (``technicians_lock``,
    in id order); this locks the new technician and the order's current one in that order anyway.
    The first time an order is scheduled the customer is promised a window (their own requested
    window, or the arrival rounded to ``PROMISE_WINDOW_MINUTES``). Later a change of technician,
    or of the arrival by ``PLAN_CHANGE_EVENT_MINUTES`` or more, writes a "moved" event with
    ``reason``; an arrival outside the promise flags it at risk, with its own event.
    """
    work_order = _lock_with_technician(work_order_id, also=technician.pk)
    if work_order.status in state_machine.LOCKED_STATUSES and work_order.technician_id != technician.pk:
        raise ValidationFailed(
            f"{work_order.reference} is already '{Status(work_order.status).label}' with "
            f"{work_order.technician}; it cannot be moved"
        )
    previous, previous_arrival = work_order.technician, work_order.planned_arrival
    from_status = Status(work_order.status)
    if from_status != Status.SCHEDULED and from_status not in state_machine.LOCKED_STATUSES:
        _set_status(work_order, Status.SCHEDULED)
    logged = work_order.logged_arrival or previous_arrival
    moved = previous is not None and previous.pk != technician.pk
    first = previous is None or from_status != Status.SCHEDULED and from_status not in state_machine.LOCKED_STATUSES
    told = first or moved or _moved_enough(logged, planned_arrival)
    work_order.technician = technician
    work_order.scheduled_day = day
    work_order.planned_arrival = planned_arrival
    work_order.route_position = route_position
    work_order.version += 1
    fields = ["status", "technician", "scheduled_day", "planned_arrival", "route_position", "version", "updated_at"]
    if told:
        work_order.logged_arrival = planned_arrival
        fields.append("logged_arrival")
    if explanation is not None:
        work_order.assignment_explanation = explanation
        fields.append("assignment_explanation")
    if pin is not None:
        work_order.pinned, work_order.pinned_start = pin, pinned_start if pin else None
        fields += ["pinned", "pinned_start"]
    work_order.save(update_fields=fields)
    routes_touch([technician.pk, previous.pk if previous else None])
    arrival = timezone.localtime(planned_arrival).strftime("%H:%M")
    data = {
        "technician_id": technician.pk,
        "planned_arrival": planned_arrival.isoformat(),
        "explanation": explanation or {},
        "reason": reason,
        "technician": technician.name,
        "custom_text": bool(text),
    }
    if first:
        _event(
            work_order,
            kind=EventKind.ASSIGNED,
            actor=actor,
            actor_label=actor_label,
            text=text or f"Assigned to {technician}, arriving {arrival}" + (f" ({reason})" if reason else ""),
            from_status=from_status,
            to_status=work_order.status,
            data=data,
        )
    elif told and previous is not None:
        _event(
            work_order,
            kind=EventKind.MOVED,
            actor=actor,
            actor_label=actor_label,
            text=text or _moved_text(reason or actor_label, (previous, logged), (technician, planned_arrival)),
            data={
                **data,
                "previous_technician_id": previous.pk,
                "previous_technician": previous.name,
                "previous_arrival": logged.isoformat() if logged else None,
            },
        )
    if work_order.promised_start is None:
        if work_order.window_start is not None and work_order.window_end is not None:
            window = (work_order.window_start, work_order.window_end)
        else:
            window = promise_window_for(planned_arrival)
        work_order_promise(
            work_order=work_order,
            start=window[0],
            end=window[1],
            actor=actor,
            actor_label=actor_label,
            reason=reason or "first planned visit",
        )
        work_order_promise_check(
            work_order=work_order,
            arrival=planned_arrival,
            reason=reason or "the customer's own window cannot be met",
            actor_label=actor_label,
        )
    else:
        work_order_promise_check(
            work_order=work_order, arrival=planned_arrival, reason=reason or actor_label, actor_label=actor_label
        )
    return work_order


# A device time further ahead of the server than this is a wrong phone clock.
DEVICE_TIME_AHEAD = dt.timedelta(minutes=5)
# A tap or position that reaches the server this long after the phone made it no longer tells
# the customer anything true about the arrival: it sends no ETA (no "on my way" window, no
# "running late"), and the order's timeline says why. Arrived and completed texts still go:
# they state what happened, not a time to come.
STALE_TAP_MINUTES = 10
# What a technician may note when finishing a job: a resolution and up to this many parts.
RESOLUTION_MAX_LENGTH = 4000
PARTS_MAX = 50
PART_NAME_MAX_LENGTH = 120
PART_QUANTITY_MAX = 999


def _stale_by(device_time: dt.datetime, *, now: dt.datetime) -> dt.timedelta | None:
    """How late a phone's tap or report reached us, when too late for an ETA (else None)."""
    late = now - device_time
    return late if late > dt.timedelta(minutes=STALE_TAP_MINUTES) else None


def _check_finish(action: str, resolution: str, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The resolution and parts of a "done" tap, checked; refused on any other action."""
    if (resolution or parts) and action != "done":
        raise ValidationFailed(
            gettext("A resolution and parts go with 'done', not with '%(action)s'") % {"action": action},
            extra={"action": action},
        )
    if len(resolution) > RESOLUTION_MAX_LENGTH:
        raise ValidationFailed(
            gettext("The resolution is longer than %(max)s characters") % {"max": RESOLUTION_MAX_LENGTH}
        )
    if len(parts) > PARTS_MAX:
        raise ValidationFailed(
            gettext("At most %(max)s parts per job") % {"max": PARTS_MAX}, extra={"parts": len(parts)}
        )
    checked = []
    for part in parts:
        name, quantity = str(part.get("name", "")).strip(), part.get("quantity")
        if not name or len(name) > PART_NAME_MAX_LENGTH:
            raise ValidationFailed(
                gettext("A part needs a name of 1 to %(max)s characters") % {"max": PART_NAME_MAX_LENGTH}
            )
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= PART_QUANTITY_MAX:
            raise ValidationFailed(
                gettext("A part's quantity must be 1 to %(max)s") % {"max": PART_QUANTITY_MAX}, extra={"part": name}
            )
        checked.append({"name": name, "quantity": quantity})
    return checked


@transaction.atomic
def work_order_technician_event(
    *,
    technician: Technician,
    client_event_id: str,
    work_order_id: int,
    action: str,
    device_time: dt.datetime,
    latitude: float | None = None,
    longitude: float | None = None,
    reason: str = "",
    note: str = "",
    resolution: str = "",
    parts: list[dict[str, Any]] | None = None,
    check_eta: bool = True,
) -> tuple[WorkOrder, bool]:
    """Apply a tap from the technician's phone. Returns (work order, was it a repeat).

    The technician's row is locked first, so taps from one phone apply one at a time and a
    repeat sent while the first is still being applied is answered "duplicate", never 409. Only
    the technician's own earlier tap is a repeat; an order that is not theirs, or an event id
    another technician used, answers like a missing order (404) before anything else about it.
    A device time more than ``DEVICE_TIME_AHEAD`` in the future, or older than this order's
    previous tap, is refused with a message (the phone keeps the tap and shows it).

    The tap happened at ``device_time``: the event and its effects carry it (the arrival, the
    finish, the position if newer than the last one known). A tap that reached the server more
    than ``STALE_TAP_MINUTES`` late tells the customer nothing that is no longer true: "on my way"
    and "arrived" send no text (a note says why) and no "running late" check runs; the completed
    text still goes.
    "done" carries the ``resolution`` and ``parts`` used (stored on the order and the event).
    """
    if action not in state_machine.TECHNICIAN_ACTIONS:
        raise ValidationFailed(
            gettext("Unknown action '%(action)s'") % {"action": action},
            extra={"allowed": sorted(state_machine.TECHNICIAN_ACTIONS)},
        )
    resolution = resolution.strip()
    checked_parts = _check_finish(action, resolution, parts or [])
    if not client_event_id or len(client_event_id) > 64:
        raise ValidationFailed(gettext("client_event_id must be 1 to 64 characters"))
    if timezone.is_naive(device_time):
        raise ValidationFailed(gettext("device_time must include a UTC offset"))
    # As locked: its last known position is the one to compare a tap's with.
    technician = technicians_lock([technician.pk])[technician.pk]
    previous = WorkOrderEvent.objects.filter(client_event_id=client_event_id).select_related("work_order").first()
    if previous is not None:
        if previous.actor_id != technician.user_id:
            # Another technician's tap: answered like their order (404), never as this one's repeat.
            raise _not_found(work_order_id)
        if previous.work_order_id != work_order_id or previous.data.get("action") != action:
            raise ValidationFailed(
                gettext("Event id %(id)s was already used for another tap") % {"id": client_event_id},
                extra={"work_order_id": previous.work_order_id, "action": previous.data.get("action")},
            )
        return previous.work_order, True
    # Before anything about the order is said (its taps' times): not theirs answers like missing.
    try:
        work_order = _lock(work_order_id)
    except NotFound:
        work_order = None
    if work_order is None or work_order.technician_id != technician.pk:
        raise _not_found(work_order_id)
    now = timezone.now()
    if device_time > now + DEVICE_TIME_AHEAD:
        raise ValidationFailed(
            gettext(
                "The phone's clock is %(minutes)s minutes ahead of the server; set the phone to the "
                "network time and tap again"
            )
            % {"minutes": int((device_time - now).total_seconds() // 60)},
            extra={"device_time": device_time.isoformat(), "server_time": now.isoformat()},
        )
    last_tap = (
        WorkOrderEvent.objects.filter(work_order_id=work_order_id, device_time__isnull=False)
        .order_by("-device_time")
        .values_list("device_time", flat=True)
        .first()
    )
    if last_tap is not None and device_time < last_tap:
        raise ValidationFailed(
            gettext(
                "This tap (%(tap)s) is older than the order's previous tap (%(previous)s); the phone's "
                "clock went backwards"
            )
            % {
                "tap": f"{timezone.localtime(device_time):%H:%M:%S}",
                "previous": f"{timezone.localtime(last_tap):%H:%M:%S}",
            },
            extra={"device_time": device_time.isoformat(), "previous": last_tap.isoformat()},
        )
    target = state_machine.TECHNICIAN_ACTIONS[action]
    if target == Status.ON_HOLD and reason not in COULD_NOT_COMPLETE_REASONS:
        raise ValidationFailed(
            gettext("Say why the job could not be completed"),
            extra={"allowed": sorted(COULD_NOT_COMPLETE_REASONS)},
        )
    if latitude is not None and longitude is not None:
        _position_update(technician, latitude=latitude, longitude=longitude, at=device_time, now=now)
        work_order.technician = technician  # the same row, with the position just written
    text = ""
    follow_up = None
    if target == Status.ON_HOLD:
        label = COULD_NOT_COMPLETE_REASONS[reason]
        text = f"Could not complete: {label}" + (f" — {note.strip()}" if note.strip() else "")
        follow_up = timezone.localdate(now) + dt.timedelta(days=1)
    stale = _stale_by(device_time, now=now)
    data: dict[str, Any] = {
        "action": action,
        "latitude": latitude,
        "longitude": longitude,
        "device_time": device_time.isoformat(),
        "reason": reason,
        "technician": technician.name,
        "note": note.strip(),
    }
    if action == "done":
        data.update(resolution=resolution, parts=checked_parts)
    if stale is not None:
        data["late_minutes"] = int(stale.total_seconds() // 60)
    work_order = work_order_transition(
        work_order_id=work_order.pk,
        to_status=target,
        actor=technician.user,
        actor_label=technician.name,
        client_event_id=client_event_id,
        device_time=device_time,
        text=text,
        hold_reason=text,
        follow_up_on=follow_up,
        data=data,
        live_texts=stale is None,
        locked=work_order,  # with its technician's row, locked above
    )
    if action == "done":
        work_order.resolution, work_order.parts_used = resolution, checked_parts
        work_order.save(update_fields=["resolution", "parts_used", "updated_at"])
    if stale is None:
        if check_eta:
            work_order_eta_check(technician_id=technician.pk, reason=f"tap: {action}", now=now)
    elif target in (Status.EN_ROUTE, Status.ON_SITE):
        minutes = int(stale.total_seconds() // 60)
        sms_kind = _SMS_KIND[target]
        _event(
            work_order,
            kind=EventKind.NOTE,
            actor_label=technician.name,
            text=f"No {sms_kind.replace('_', '-')} SMS: the tap reached the server {minutes} minutes late",
            data={"outcome": "stale_tap", "sms_kind": sms_kind, "late_minutes": minutes, "action": action},
        )
    return work_order, False


# Why a technician could not complete a job; the order goes on hold with a follow-up next day.
COULD_NOT_COMPLETE_REASONS = {
    "no_access": "no access to the site",
    "needs_parts": "needs parts",
    "customer_refused": "the customer refused the work",
}


def technician_report_location(
    *, technician: Technician, latitude: float, longitude: float, at: dt.datetime, check_eta: bool = True
) -> None:
    """Record where the phone is and, with ``check_eta``, recheck the current visit's ETA
    (a tap checks it after its own change instead)."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValidationFailed(gettext("Location out of range"), extra={"latitude": latitude, "longitude": longitude})
    technician.last_latitude = latitude
    technician.last_longitude = longitude
    technician.last_located_at = at
    technician.save(update_fields=["last_latitude", "last_longitude", "last_located_at", "updated_at"])
    if check_eta:
        work_order_eta_check(technician_id=technician.pk, reason="location report", now=at)


def _position_update(
    technician: Technician, *, latitude: float, longitude: float, at: dt.datetime, now: dt.datetime
) -> str:
    """Move the technician's current position to this report, if it is the newest one known.

    Returns "" when it moved, else why not: "clock_ahead" (more than ``DEVICE_TIME_AHEAD`` in
    the future), "old" (made more than ``LOCATION_FRESH_FOR`` ago), "older" (not newer than the
    position already known). Caller holds the technician's row lock.
    """
    if at > now + DEVICE_TIME_AHEAD:
        return "clock_ahead"
    if now - at > LOCATION_FRESH_FOR:
        return "old"
    if technician.last_located_at is not None and at <= technician.last_located_at:
        return "older"
    technician_report_location(technician=technician, latitude=latitude, longitude=longitude, at=at, check_eta=False)
    return ""


class LocationReport(NamedTuple):
    duplicate: bool
    accepted: bool
    reason: str  # why not accepted: "clock_ahead", "old", "older"; "" when accepted


@transaction.atomic
def technician_location_report(
    *,
    technician: Technician,
    client_event_id: str,
    device_time: dt.datetime,
    latitude: float,
    longitude: float,
    accuracy_m: float | None = None,
    check_eta: bool = True,
) -> LocationReport:
    """A position the phone queued while on the way: applied once per ``client_event_id``.

    Every report is kept. It moves the technician's current position only when it is newer
    than the last one known, not ahead of the server's clock by more than ``DEVICE_TIME_AHEAD``
    and not older than ``LOCATION_FRESH_FOR``; and the ETA of the current visit is rechecked
    (a "running late" text may go) only when it reached us within ``STALE_TAP_MINUTES``. A report
    synced late is history: it changes nothing and sends nothing (``accepted`` false).
    Locks the technician's row: one phone's reports apply one at a time.
    """
    if not client_event_id or len(client_event_id) > 64:
        raise ValidationFailed(gettext("client_event_id must be 1 to 64 characters"))
    if timezone.is_naive(device_time):
        raise ValidationFailed(gettext("device_time must include a UTC offset"))
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValidationFailed(gettext("Location out of range"), extra={"latitude": latitude, "longitude": longitude})
    if accuracy_m is not None and accuracy_m < 0:
        raise ValidationFailed(gettext("accuracy_m must not be negative"))
    technician = technicians_lock([technician.pk])[technician.pk]
    previous = TechnicianLocation.objects.filter(client_event_id=client_event_id).first()
    if previous is not None:
        if previous.technician_id != technician.pk:  # never another technician's "duplicate"
            raise ValidationFailed(
                gettext("Event id %(id)s was already used for another report") % {"id": client_event_id}
            )
        return LocationReport(duplicate=True, accepted=previous.accepted, reason="")
    now = timezone.now()
    why_not = _position_update(technician, latitude=latitude, longitude=longitude, at=device_time, now=now)
    TechnicianLocation.objects.create(
        technician=technician,
        client_event_id=client_event_id,
        device_time=device_time,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy_m,
        accepted=not why_not,
    )
    if not why_not and _stale_by(device_time, now=now) is None and check_eta:
        work_order_eta_check(technician_id=technician.pk, reason="location report", now=now)
    return LocationReport(duplicate=False, accepted=not why_not, reason=why_not)


# How many queued events a phone may send in one request.
EVENT_BATCH_MAX = 50


class BatchOutcome(NamedTuple):
    """What became of one event of a batch: ``status`` 200, or the refusal's HTTP status."""

    client_event_id: str
    status: int
    duplicate: bool = False
    accepted: bool | None = None  # a location report: it moved the technician's position
    work_order_id: int | None = None  # a tap that was applied (or was a repeat)
    message: str = ""
    code: str = ""
    extra: dict[str, Any] = {}


def technician_events_apply(*, technician: Technician, events: list[dict[str, Any]]) -> list[BatchOutcome]:
    """Apply a phone's queued events (``type`` "tap" or "location", then the fields of
    :func:`work_order_technician_event` or :func:`technician_location_report`) in their order,
    each in its own transaction and once per ``client_event_id``, as if sent one by one.

    A refused event is answered with its status and message and the next one is applied (the
    phone shows the refusal; later events do not depend on it). An unexpected error stops the
    batch: what was applied before it stays, and the phone's resend is answered "duplicate" for
    those. The current visit's ETA is checked once, after the batch, if any event in it was fresh
    (a running-late text is judged from where the technician is now, not from each step).
    """
    if len(events) > EVENT_BATCH_MAX:
        raise ValidationFailed(
            gettext("At most %(max)s events in one request") % {"max": EVENT_BATCH_MAX}, extra={"max": EVENT_BATCH_MAX}
        )
    outcomes: list[BatchOutcome] = []
    fresh = False
    now = timezone.now()
    for event in events:
        fields = {key: value for key, value in event.items() if key != "type"}
        client_event_id = str(fields.get("client_event_id", ""))
        try:
            if event["type"] == "location":
                report = technician_location_report(technician=technician, check_eta=False, **fields)
                outcomes.append(
                    BatchOutcome(client_event_id, 200, duplicate=report.duplicate, accepted=report.accepted)
                )
                applied = report.accepted and not report.duplicate
            else:
                work_order, duplicate = work_order_technician_event(technician=technician, check_eta=False, **fields)
                outcomes.append(BatchOutcome(client_event_id, 200, duplicate=duplicate, work_order_id=work_order.pk))
                applied = not duplicate
        except Unauthorized:
            raise
        except ApplicationError as exc:
            outcomes.append(
                BatchOutcome(client_event_id, exc.status_code, message=exc.message, code=exc.code, extra=exc.extra)
            )
            continue
        fresh = fresh or (applied and _stale_by(fields["device_time"], now=now) is None)
    if fresh:
        work_order_eta_check(technician_id=technician.pk, reason=f"sync of {len(events)} events")
    return outcomes


def _moved_text(reason: str, before: tuple[object, dt.datetime | None], after: tuple[object, dt.datetime]) -> str:
    """ "re-plan: 张伟 20:27 → 王磊 20:31": who and when, before and after."""
    when = timezone.localtime(before[1]).strftime("%H:%M") if before[1] else "--:--"
    return f"{reason}: {before[0]} {when} → {after[0]} {timezone.localtime(after[1]):%H:%M}"


def _moved_enough(before: dt.datetime | None, after: dt.datetime) -> bool:
    """A planned arrival that moved this far from what was last recorded is worth an event."""
    return before is not None and abs(after - before) >= dt.timedelta(minutes=settings.PLAN_CHANGE_EVENT_MINUTES)


class Retiming(NamedTuple):
    """A new position and arrival for an order that stays on its technician's route."""

    work_order_id: int
    route_position: int
    planned_arrival: dt.datetime
    version: int  # the version the plan was made from


@transaction.atomic(savepoint=False)  # only ever part of a plan being applied
def work_orders_retime(*, changes: list[Retiming]) -> list[int]:
    """New route positions and planned arrivals for orders that stay with their technician.

    The caller holds the technicians' locks, and then calls :func:`work_orders_retime_record`
    with the ids this returns. Only orders still on a route and still at the version planned
    from change (their version is bumped). One ``UPDATE ... FROM (VALUES ...)`` statement
    writes them all (Django's ``bulk_update`` took about 19 ms for a 12-stop route, this about
    2 ms, on every urgent order). It keeps the arrival last recorded (or else the one being
    replaced) in ``logged_arrival``.
    """
    if not changes:
        return []
    ops = connection.ops
    table = ops.quote_name(WorkOrder._meta.db_table)
    column = {
        name: ops.quote_name(WorkOrder._meta.get_field(name).column)  # type: ignore[union-attr, arg-type]
        for name in (
            "id",
            "route_position",
            "planned_arrival",
            "scheduled_day",
            "updated_at",
            "status",
            "version",
            "logged_arrival",
        )
    }
    params: list[Any] = [ops.adapt_datetimefield_value(timezone.now())]
    for work_order_id, position, arrival, version in changes:
        params += [
            work_order_id,
            position,
            ops.adapt_datetimefield_value(arrival),
            ops.adapt_datefield_value(timezone.localtime(arrival).date()),
            version,
        ]
    params += [Status.SCHEDULED.value, Status.EN_ROUTE.value]
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(changes))
    sql = (
        f"UPDATE {table} SET {column['route_position']} = v.column2, "
        f"{column['logged_arrival']} = COALESCE({table}.{column['logged_arrival']}, "
        f"{table}.{column['planned_arrival']}), "
        f"{column['planned_arrival']} = v.column3, {column['scheduled_day']} = v.column4, "
        f"{column['version']} = {table}.{column['version']} + 1, "
        f"{column['updated_at']} = %s FROM (VALUES {rows}) AS v WHERE {table}.{column['id']} = v.column1 "
        f"AND {table}.{column['version']} = v.column5 AND {table}.{column['status']} IN (%s, %s) "
        f"RETURNING {table}.{column['id']}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def work_orders_retime_record(*, work_order_ids: list[int], reason: str, actor_label: str) -> list[str]:
    """After :func:`work_orders_retime`, the same rules as :func:`work_order_assign`: an arrival
    that moved ``PLAN_CHANGE_EVENT_MINUTES`` or more from what was last recorded is a "moved"
    event, and one that left or re-entered the promised window flags or clears "promise at
    risk". Returns the orders now at risk, as lines for a report.
    """
    if not work_order_ids:
        return []
    moved: list[tuple[int, str, dict[str, Any]]] = []
    flips: list[int] = []
    for pk, name, logged, arrival, promised_start, promised_end, at_risk in WorkOrder.objects.filter(
        pk__in=work_order_ids,
    ).values_list(
        "pk",
        "technician__name",
        "logged_arrival",
        "planned_arrival",
        "promised_start",
        "promised_end",
        "promise_at_risk",
    ):
        if arrival is None:
            continue
        if _moved_enough(logged, arrival):
            moved.append(
                (
                    pk,
                    _moved_text(reason, (name, logged), (name, arrival)),
                    {
                        "planned_arrival": arrival.isoformat(),
                        "reason": reason,
                        "previous_arrival": logged.isoformat() if logged else None,
                        "technician": name,
                    },
                )
            )
        if (
            promised_start is not None
            and promised_end is not None
            and at_risk == (promised_start <= arrival <= promised_end)
        ):
            flips.append(pk)
    if moved:
        technician_of = dict(
            WorkOrder.objects.filter(pk__in=[pk for pk, *_ in moved]).values_list("pk", "technician_id")
        )
        work_order_events_bulk(
            kind=EventKind.MOVED,
            actor_label=actor_label,
            items=[(pk, text, {**data, "technician_id": technician_of[pk]}) for pk, text, data in moved],
        )
        WorkOrder.objects.filter(pk__in=[pk for pk, *_ in moved]).update(logged_arrival=F("planned_arrival"))
    at_risk_now = []
    for work_order in WorkOrder.objects.filter(pk__in=flips).order_by("pk"):
        if (
            work_order_promise_check(
                work_order=work_order, arrival=work_order.planned_arrival, reason=reason, actor_label=actor_label
            )
            == "promise_at_risk"
        ):
            at_risk_now.append(f"{work_order.reference}: {work_order.promise_risk_reason}")
    now = timezone.now()
    for technician_id in sorted(
        set(
            WorkOrder.objects.filter(
                pk__in=work_order_ids, technician_id__isnull=False, planned_arrival__lt=now + JOB_POSITION_FOR
            ).values_list("technician_id", flat=True)
        )
    ):
        work_order_eta_check(technician_id=technician_id, reason=f"re-plan: {reason}")
    return at_risk_now


# --- Photos from the technician's phone ------------------------------------------------------

PHOTO_CONTENT_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/heic": ".heic"}
PHOTO_MAX_BYTES = 15 * 1024 * 1024
# Read back this many chunks at a time to check and store a finished photo (memory stays small).
_PHOTO_READ_CHUNKS = 4


class PhotoConflict(Conflict):
    code = "photo_conflict"


@transaction.atomic
def work_order_photo_start(
    *,
    technician: Technician,
    client_photo_id: str,
    work_order_id: int,
    filename: str,
    content_type: str,
    size: int,
    sha256: str,
) -> WorkOrderPhoto:
    """Begin (or resume) the upload of a photo of one of the technician's orders.

    The same ``client_photo_id`` with the same details answers the upload as it stands (the
    phone resumes from ``received``); with other details it is refused (409). The order must be
    the technician's (404 otherwise, as for a missing one).
    """
    if content_type not in PHOTO_CONTENT_TYPES:
        raise ValidationFailed(
            gettext("Photos must be one of %(types)s") % {"types": ", ".join(sorted(PHOTO_CONTENT_TYPES))},
            extra={"content_type": content_type},
        )
    if not 1 <= size <= PHOTO_MAX_BYTES:
        raise ValidationFailed(
            gettext("A photo must be 1 byte to %(max)s MB") % {"max": PHOTO_MAX_BYTES // (1024 * 1024)},
            extra={"size": size},
        )
    sha256 = sha256.lower()
    details = {
        "work_order_id": work_order_id,
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "sha256": sha256,
    }
    technicians_lock([technician.pk])
    existing = WorkOrderPhoto.objects.filter(client_photo_id=client_photo_id).first()
    if existing is not None:
        same = existing.technician_id == technician.pk and all(
            getattr(existing, name) == value for name, value in details.items()
        )
        if not same:
            raise PhotoConflict(
                gettext("Photo id %(id)s was already used for another photo") % {"id": client_photo_id},
                extra={"client_photo_id": client_photo_id},
            )
        return existing
    if not WorkOrder.objects.filter(pk=work_order_id, technician_id=technician.pk).exists():
        raise _not_found(work_order_id)
    return WorkOrderPhoto.objects.create(technician=technician, client_photo_id=client_photo_id, **details)


class PhotoChecksumMismatch(ValidationFailed):
    code = "photo_checksum"


def work_order_photo_chunk(*, technician: Technician, client_photo_id: str, offset: int, data: bytes) -> WorkOrderPhoto:
    """Add ``data`` at ``offset`` to the technician's upload; at its full size, check and store it.

    ``offset`` must be what was received so far (409 with ``received`` otherwise: the phone
    resends from there); a chunk past the announced size is refused (422). When the last byte
    arrives the SHA-256 is checked: on a mismatch the bytes are discarded (the phone starts again
    from 0) and 422 answered; on a match the photo is saved to the default storage and the order
    gets a "photo added" note. A chunk for a finished photo at its size answers its state.
    """
    with transaction.atomic():
        photo = _photo_chunk_add(technician=technician, client_photo_id=client_photo_id, offset=offset, data=data)
        if photo.received < photo.size or photo.complete:
            return photo
        stored = _photo_store(photo)
        if stored:
            return photo
    # Refused after the transaction: the discarded bytes stay discarded.
    raise PhotoChecksumMismatch(
        gettext("The photo's checksum does not match its bytes; send it again from the start"),
        extra={"client_photo_id": client_photo_id, "received": 0},
    )


def _photo_chunk_add(*, technician: Technician, client_photo_id: str, offset: int, data: bytes) -> WorkOrderPhoto:
    photo = (
        WorkOrderPhoto.objects.select_for_update()
        .filter(client_photo_id=client_photo_id, technician_id=technician.pk)
        .first()
    )
    if photo is None:
        raise NotFound(
            gettext("Photo %(id)s does not exist") % {"id": client_photo_id}, extra={"client_photo_id": client_photo_id}
        )
    if photo.complete and offset == photo.size and not data:
        return photo
    if offset != photo.received:
        raise PhotoConflict(
            gettext("Expected the bytes from %(received)s, got them from %(offset)s")
            % {"received": photo.received, "offset": offset},
            extra={"client_photo_id": client_photo_id, "received": photo.received},
        )
    if photo.received + len(data) > photo.size:
        raise ValidationFailed(
            gettext("The chunk goes past the photo's size (%(size)s bytes)") % {"size": photo.size},
            extra={"client_photo_id": client_photo_id, "received": photo.received, "size": photo.size},
        )
    if data:
        WorkOrderPhotoChunk.objects.create(photo=photo, offset=offset, data=data)
        photo.received += len(data)
        photo.save(update_fields=["received"])
    return photo


def _photo_store(photo: WorkOrderPhoto) -> bool:
    """Check the finished photo's checksum; store it and log it (True), or discard its bytes
    and start it over (False). Reads the chunks a few at a time through a temporary file."""
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as spool:
        ids = list(photo.chunks.order_by("offset").values_list("id", flat=True))
        for i in range(0, len(ids), _PHOTO_READ_CHUNKS):
            batch = ids[i : i + _PHOTO_READ_CHUNKS]
            for piece in (
                WorkOrderPhotoChunk.objects.filter(id__in=batch).order_by("offset").values_list("data", flat=True)
            ):
                digest.update(piece)
                spool.write(piece)
        if digest.hexdigest() != photo.sha256:
            photo.chunks.all().delete()
            photo.received = 0
            photo.save(update_fields=["received"])
            return False
        spool.seek(0)
        extension = PHOTO_CONTENT_TYPES.get(photo.content_type, "")
        photo.file.save(f"{photo.work_order_id}/{photo.client_photo_id}{extension}", File(spool), save=False)
    photo.completed_at = timezone.now()
    photo.save(update_fields=["file", "completed_at"])
    photo.chunks.all().delete()
    work_order = WorkOrder.objects.select_related("technician").get(pk=photo.work_order_id)
    name = work_order.technician.name if work_order.technician else ""
    _event(
        work_order,
        kind=EventKind.NOTE,
        actor_label=name or "technician",
        text=f"Photo added: {photo.filename}",
        data={"photo": photo.client_photo_id, "filename": photo.filename, "technician": name},
    )
    return True
