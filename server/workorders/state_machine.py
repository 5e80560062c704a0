"""The work-order state machine: the only table of allowed status changes. Pure, no queries."""

from __future__ import annotations

from django.utils.translation import gettext

from server.common.exceptions import Conflict
from server.workorders.event_text import STATUS_WORDS
from server.workorders.models import Status

S = Status

TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.NEW: frozenset({S.SCHEDULED, S.ON_HOLD, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.EN_ROUTE, S.ON_SITE, S.NEW, S.ON_HOLD, S.CANCELLED}),
    S.EN_ROUTE: frozenset({S.ON_SITE, S.SCHEDULED, S.ON_HOLD}),
    S.ON_SITE: frozenset({S.COMPLETED, S.ON_HOLD}),
    S.ON_HOLD: frozenset({S.NEW, S.SCHEDULED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}

# What the technician's buttons mean. The app shows the actions the server lists as allowed.
TECHNICIAN_ACTIONS: dict[str, Status] = {
    "on_my_way": S.EN_ROUTE,
    "arrived": S.ON_SITE,
    "done": S.COMPLETED,
    "could_not_complete": S.ON_HOLD,
}

# Statuses in which the technician is committed to the visit: the optimizer must not move it.
LOCKED_STATUSES = frozenset({S.EN_ROUTE, S.ON_SITE})

# A technician (not staff) cannot move an order into these from the phone.
NEEDS_TECHNICIAN = frozenset({S.SCHEDULED, S.EN_ROUTE, S.ON_SITE, S.COMPLETED})


class InvalidTransition(Conflict):
    """Refused by the table; the message is in the active language (the phone shows it as is)."""

    code = "invalid_transition"

    def __init__(self, current: Status | str, target: Status | str) -> None:
        current, target = Status(current), Status(target)
        super().__init__(
            gettext("A work order that is '%(current)s' cannot become '%(target)s'")
            % {"current": STATUS_WORDS[current], "target": STATUS_WORDS[target]},
            extra={"from": current.value, "to": target.value, "allowed": sorted(TRANSITIONS[current])},
        )


def can_transition(current: Status | str, target: Status | str) -> bool:
    return Status(target) in TRANSITIONS[Status(current)]


def check_transition(current: Status | str, target: Status | str) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(current, target)


def allowed_actions(current: Status | str) -> list[str]:
    """The technician actions possible from ``current``, in the order the buttons appear.

    "Could not complete" is offered only once the technician is on the way or on site.
    """
    return [
        name
        for name, target in TECHNICIAN_ACTIONS.items()
        if can_transition(current, target) and (name != "could_not_complete" or Status(current) in LOCKED_STATUSES)
    ]
