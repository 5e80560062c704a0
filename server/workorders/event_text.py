"""A work order's events as sentences in the reader's language.

An event's stored ``text`` is the English record, written when it happened; other code and the
exports read it. The console shows :func:`event_sentence` instead: the same sentence built with
gettext from the event's ``kind``, its statuses and its structured ``data``. Free text a person
typed (a staff reason, a note, the caller's words, an SMS body) stays as typed; only the frame
around it is translated. An event this module cannot render (an old row without ``data``, a kind
written by code that records no data) reads as its stored text.

Pure: no queries. Times are the local ``HH:MM`` of the ISO datetimes in ``data``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Protocol

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from server.workorders.models import EventKind, Priority, Source, Status

STATUS_WORDS: dict[str, Any] = {
    Status.NEW: gettext_lazy("New"),
    Status.SCHEDULED: gettext_lazy("Scheduled"),
    Status.EN_ROUTE: gettext_lazy("On the way"),
    Status.ON_SITE: gettext_lazy("On site"),
    Status.ON_HOLD: gettext_lazy("On hold"),
    Status.COMPLETED: gettext_lazy("Completed"),
    Status.CANCELLED: gettext_lazy("Cancelled"),
}
SOURCE_WORDS: dict[str, Any] = {
    Source.PHONE: gettext_lazy("Phone call"),
    Source.MANUAL: gettext_lazy("Entered by staff"),
    Source.API: gettext_lazy("API"),
}
PRIORITY_WORDS: dict[str, Any] = {
    Priority.LOW: gettext_lazy("Low"),
    Priority.NORMAL: gettext_lazy("Normal"),
    Priority.HIGH: gettext_lazy("High"),
    Priority.URGENT: gettext_lazy("Urgent"),
}
# Where a complaint was heard (the codes of ``server.care``'s ComplaintSource, an app above).
COMPLAINT_SOURCE_WORDS: dict[str, Any] = {
    "call": gettext_lazy("Phone call"),
    "note": gettext_lazy("Staff note"),
    "sms": gettext_lazy("SMS reply"),
    "rating": gettext_lazy("Rating"),
    "staff": gettext_lazy("Set by staff"),
}
# Why a technician could not complete a job (the codes of services.COULD_NOT_COMPLETE_REASONS).
COULD_NOT_COMPLETE_WORDS: dict[str, Any] = {
    "no_access": gettext_lazy("no access to the site"),
    "needs_parts": gettext_lazy("needs parts"),
    "customer_refused": gettext_lazy("the customer refused the work"),
}
# Reasons the system itself writes (everything else is a person's words, shown as typed).
SYSTEM_REASONS: dict[str, Any] = {
    "new order placed": gettext_lazy("new order placed"),
    "re-plan": gettext_lazy("re-plan"),
    "dispatch": gettext_lazy("dispatch"),
    "first planned visit": gettext_lazy("first planned visit"),
    "the customer's own window cannot be met": gettext_lazy("the customer's own window cannot be met"),
    "assigned by hand": gettext_lazy("assigned by hand"),
}
_BY_HAND = re.compile(r"^assigned by hand by (?P<who>.+)$")
_NOT_FITTED = re.compile(r"^the re-plan could not fit it: (?P<why>.+)$")


class EventLike(Protocol):
    kind: str
    text: str
    from_status: str
    to_status: str
    actor_label: str
    data: Any


def event_sentence(event: EventLike) -> str:
    """The event as one sentence in the active language; its stored text when it cannot be
    rendered (no data to render it from, or data of an unexpected shape)."""
    render = _RENDERERS.get(event.kind)
    data = event.data if isinstance(event.data, dict) else {}
    if render is None:
        return event.text
    try:
        sentence = render(event, data)
    except (KeyError, TypeError, ValueError, AttributeError):
        sentence = None
    return event.text if sentence is None else sentence


def reason_words(reason: str) -> str:
    """A reason in the reader's language when the system wrote it; as typed when a person did."""
    reason = (reason or "").strip()
    if reason in SYSTEM_REASONS:
        return str(SYSTEM_REASONS[reason])
    if match := _BY_HAND.match(reason):
        return _("assigned by hand by %(who)s") % {"who": match["who"]}
    if match := _NOT_FITTED.match(reason):
        return _("the re-plan could not fit it: %(why)s") % {"why": match["why"]}
    return reason


def hhmm(value: str | dt.datetime | None) -> str:
    """Local ``HH:MM`` of an ISO datetime (``--:--`` when there is none)."""
    if value is None or value == "":
        return "--:--"
    moment = value if isinstance(value, dt.datetime) else parse_datetime(value)
    if moment is None:
        raise ValueError(f"not a datetime: {value!r}")
    return f"{timezone.localtime(moment):%H:%M}"


def window_words(start: str | None, end: str | None) -> str:
    if not start or not end:
        return _("no time")
    return f"{hhmm(start)}–{hhmm(end)}"


def explanation_sentences(explanation: dict[str, Any] | None) -> list[str]:
    """The optimizer's comparison of technicians (``assignment_explanation``) as sentences."""
    if not explanation:
        return []
    sentences: list[str] = []
    for row in (explanation.get("candidates") or [])[:6]:
        name = row.get("technician") or _("a technician")
        if row.get("chosen"):
            details = []
            if row.get("travel_minutes") is not None:
                details.append(_("%(minutes)s min drive") % {"minutes": row["travel_minutes"]})
            if row.get("arrival"):
                details.append(_("arrives at %(time)s") % {"time": row["arrival"]})
            if row.get("lateness_minutes"):
                details.append(_("%(minutes)s min late") % {"minutes": row["lateness_minutes"]})
            if details:
                # Translators: the list separator between the details of the chosen technician.
                joined = _(", ").join(details)
                sentences.append(_("%(name)s was chosen: %(details)s.") % {"name": name, "details": joined})
            else:
                sentences.append(_("%(name)s was chosen.") % {"name": name})
        else:
            sentences.append(_("Not %(name)s: %(reason)s.") % {"name": name, "reason": _candidate_reason(row)})
    manual = explanation.get("manual")
    if isinstance(manual, dict) and manual.get("by"):
        sentences.append(_("Assigned by hand by %(who)s.") % {"who": manual["by"]})
    return sentences


def _candidate_reason(row: dict[str, Any]) -> str:
    """Why a technician was not chosen, from the row's fields where they say it; else the
    optimizer's own words."""
    if row.get("skill_ok") is False:
        return _("lacks the skill this job needs")
    if row.get("feasible") is True and row.get("arrival") and row.get("added_travel_minutes") is not None:
        return _("would arrive at %(time)s and add %(minutes)s min of driving") % {
            "time": row["arrival"],
            "minutes": row["added_travel_minutes"],
        }
    return str(row.get("reason") or _("a longer drive"))


# --- one renderer per kind: (event, data) -> sentence, or None for the stored text ----------


def _created(event: EventLike, data: dict[str, Any]) -> str | None:
    if data.get("unidentified"):
        return _("Call %(call)s from an unidentified caller (caller ID %(shown)s)") % {
            "call": data["call_id"],
            "shown": data["caller_raw"],
        }
    if data.get("call_id") and data.get("caller"):
        sentence = _("Call from %(caller)s (call %(call)s)") % {"caller": data["caller"], "call": data["call_id"]}
        if data.get("unknown_caller"):
            sentence += _(" — unknown caller, staff must complete the customer and address")
        return sentence
    if data.get("reminder_id") and event.text == f"From maintenance reminder {data['reminder_id']}":
        return _("From maintenance reminder %(id)s") % {"id": data["reminder_id"]}
    source = data.get("source")
    if source in SOURCE_WORDS and event.text == f"Work order created ({Source(source).label})":
        return _("Work order created (%(source)s)") % {"source": SOURCE_WORDS[source]}
    return None


def _assigned(event: EventLike, data: dict[str, Any]) -> str | None:
    if not data.get("technician") or data.get("custom_text"):
        return None
    sentence = _("Assigned to %(technician)s, arriving %(time)s") % {
        "technician": data["technician"],
        "time": hhmm(data["planned_arrival"]),
    }
    if data.get("reason"):
        sentence += _(" (%(reason)s)") % {"reason": reason_words(data["reason"])}
    return sentence


def _moved(event: EventLike, data: dict[str, Any]) -> str | None:
    if not data.get("technician") or data.get("custom_text"):
        return None
    return _("%(reason)s: %(before_technician)s %(before)s → %(technician)s %(after)s") % {
        "reason": reason_words(data.get("reason") or event.actor_label),
        "before_technician": data.get("previous_technician") or data["technician"],
        "before": hhmm(data.get("previous_arrival")),
        "technician": data["technician"],
        "after": hhmm(data["planned_arrival"]),
    }


def _promise(event: EventLike, data: dict[str, Any]) -> str | None:
    outcome = data.get("outcome")
    window = window_words(data.get("promised_start"), data.get("promised_end"))
    if outcome in ("promised", "rescheduled"):
        if "technician" not in data or not data.get("promised_start"):
            return None
        if data.get("previous_start"):
            sentence = _("Promise changed %(before)s → %(window)s") % {
                "before": window_words(data["previous_start"], data.get("previous_end")),
                "window": window,
            }
        else:
            sentence = _("Promised %(window)s") % {"window": window}
        if data["technician"]:
            sentence += _(" (%(technician)s)") % {"technician": data["technician"]}
        if data.get("reason"):
            sentence += _(": %(reason)s") % {"reason": reason_words(data["reason"])}
        return sentence
    if outcome == "promise_withdrawn":
        status = data.get("status")
        if status not in STATUS_WORDS:
            return None
        sentence = _("Promise withdrawn (%(window)s): %(status)s") % {
            "window": window,
            "status": str(STATUS_WORDS[status]).lower(),
        }
        detail = _status_words(status, data.get("status_data") or {}, data.get("status_text", ""))
        if detail:
            sentence += f" — {detail}"
        return sentence
    if outcome == "promise_at_risk":
        if "promised_start" not in data:
            return None
        values = {"window": window, "reason": reason_words(data.get("reason", ""))}
        if data.get("planned_arrival"):
            values["time"] = hhmm(data["planned_arrival"])
            return _("Promise at risk — planned %(time)s, promised %(window)s: %(reason)s") % values
        return _("Promise at risk — no planned visit, promised %(window)s: %(reason)s") % values
    if outcome == "promise_kept":
        if "promised_start" not in data:
            return None
        return _("Promise can be kept again: planned %(time)s, promised %(window)s") % {
            "time": hhmm(data["planned_arrival"]),
            "window": window,
        }
    return None


def _status_words(to_status: str, data: dict[str, Any], text: str) -> str | None:
    """A status change's own words: a technician's tap, a staff change with its reason, or the
    plain "before → after" (``None`` when it was written some other way)."""
    action = data.get("action")
    who = data.get("technician") or ""
    if action and to_status == Status.ON_HOLD:
        label = COULD_NOT_COMPLETE_WORDS.get(data.get("reason", ""))
        if label is None:
            return None
        sentence = _("Could not complete: %(reason)s") % {"reason": label}
        note = (data.get("note") or "").strip()
        return f"{sentence} — {note}" if note else sentence
    why = data.get("why")
    reason = data.get("reason", "")
    if why == "cancel" or (to_status == Status.CANCELLED and not action and text == f"Cancelled: {reason}"):
        return _("Cancelled: %(reason)s") % {"reason": reason}
    if why == "hold" or (to_status == Status.ON_HOLD and not action and text == f"On hold: {reason}"):
        return _("On hold: %(reason)s") % {"reason": reason}
    if why == "reschedule":
        return _("Taken off the plan to be rescheduled: %(reason)s") % {"reason": reason}
    if why == "release":
        return _("Released back to planning")
    if why == "assign_by_hand":
        return _("Taken off the plan to be assigned by hand to %(technician)s") % {"technician": data["technician"]}
    if why == "unscheduled":
        return _("Unscheduled by the re-plan: %(reason)s") % {"reason": reason}
    if action and who:
        if to_status == Status.EN_ROUTE:
            return _("%(technician)s is on the way") % {"technician": who}
        if to_status == Status.ON_SITE:
            return _("%(technician)s arrived on site") % {"technician": who}
        if to_status == Status.COMPLETED:
            return _finished_words(who, data)
    return None


def _finished_words(who: str, data: dict[str, Any]) -> str:
    """A "done" tap with what the technician wrote and the parts they used."""
    resolution = (data.get("resolution") or "").strip()
    if resolution:
        sentence = _("%(technician)s finished the job: %(resolution)s") % {"technician": who, "resolution": resolution}
    else:
        sentence = _("%(technician)s finished the job") % {"technician": who}
    parts = [f"{part['name']} × {part['quantity']}" for part in data.get("parts") or []]
    if parts:
        # Translators: the list separator between the parts used.
        sentence += _("; parts: %(parts)s") % {"parts": _(", ").join(parts)}
    return sentence


def _status(event: EventLike, data: dict[str, Any]) -> str | None:
    if event.to_status not in STATUS_WORDS:
        return None
    words = _status_words(event.to_status, data, event.text)
    if words is not None:
        return words
    if event.from_status in STATUS_WORDS and event.text == (
        f"{Status(event.from_status).label} → {Status(event.to_status).label}"
    ):
        return f"{STATUS_WORDS[event.from_status]} → {STATUS_WORDS[event.to_status]}"
    return None


def _call(event: EventLike, data: dict[str, Any]) -> str | None:
    if data.get("callback_task") and data.get("caller_raw"):
        return _(
            "Callback needed: The caller ID was withheld or is not a phone number (%(shown)s): call the "
            "customer back to take their name, number and address"
        ) % {"shown": data["caller_raw"]}
    if data.get("caller"):
        sentence = _("Call from %(caller)s joined this order") % {"caller": data["caller"]}
        problem = data.get("problem") or ""
        return f"{sentence}{_(': %(reason)s') % {'reason': problem}}" if problem else sentence
    return None


def _sms(event: EventLike, data: dict[str, Any]) -> str | None:
    if data.get("outcome") == "no_phone":
        return _("No SMS: the customer has no phone number")
    if data.get("direction") == "in":
        said = _after(event.text.split(" → ")[0], f"SMS reply from {_reply_phone(event.text)}: “", "”")
        if said is None:
            return None
        return _("The customer replied by SMS: “%(body)s”") % {"body": said}
    if data.get("outcome") == "not_built":
        return _("No SMS: the text would not fit one message (%(reason)s)") % {"reason": data.get("reason", "")}
    if data.get("outcome") == "suppressed" and data.get("to"):
        reason = str(data.get("reason", ""))
        body = _after(event.text, f"SMS not sent to {data['to']} ({reason}): ")
        if body is None:
            return None
        why = SUPPRESSED_REASONS.get(reason.split(":")[0].strip())
        return _("SMS not sent (%(why)s): %(body)s") % {"why": why or reason, "body": body}
    if data.get("to") and data.get("not_before"):
        body = _after(event.text, f"SMS queued to {data['to']}: ")
        if body is None:
            return None
        return _("SMS held for the morning (quiet hours), goes at %(time)s: %(body)s") % {
            "time": hhmm(data["not_before"]),
            "body": body,
        }
    if data.get("to"):
        # The body is only in the stored text (not copied into data: retention purges it once).
        body = _after(event.text, f"SMS queued to {data['to']}: ")
        if body is None:
            return None
        return _("SMS queued to %(to)s: %(body)s") % {"to": data["to"], "body": body}
    return None


def _reply_phone(text: str) -> str:
    return text.removeprefix("SMS reply from ").split(":", 1)[0]


# Why a text was not sent (notifications' suppression codes), in the reader's language.
SUPPRESSED_REASONS = {
    "opted_out": gettext_lazy("the number opted out"),
    "no_consent": gettext_lazy("no consent to such texts"),
    "daily_cap": gettext_lazy("too many texts to this number today"),
    "duplicate_on_my_way": gettext_lazy("on my way was already sent for this visit"),
}


def _pinned(event: EventLike, data: dict[str, Any]) -> str | None:
    if "technician" not in data:
        return None
    if data.get("pinned"):
        sentence = _("Pinned to %(technician)s") % {"technician": data["technician"]}
        if data.get("start"):
            sentence += _(" at %(time)s") % {"time": hhmm(data["start"])}
    else:
        sentence = _("Unpinned: the plan may move it")
    if data.get("note"):
        sentence += _(" (%(reason)s)") % {"reason": reason_words(data["note"])}
    return sentence


def _after(text: str, prefix: str, suffix: str = "") -> str | None:
    """What a person or the caller said, cut out of a stored text of a known frame."""
    if not text.startswith(prefix) or not text.endswith(suffix) or len(text) < len(prefix) + len(suffix):
        return None
    return text[len(prefix) : len(text) - len(suffix)]


def _complaint(event: EventLike, data: dict[str, Any]) -> str | None:
    """Complaint notes (written by ``server.care``): the reason is cut out of the stored text,
    whose frame the data describes; the frame is translated."""
    kind, source = data["complaint"], data.get("source", "")
    if kind == "cleared":
        reason = _after(event.text, "Complaint cleared: ")
        return None if reason is None else _("Complaint cleared: %(reason)s") % {"reason": reason}
    if source not in COMPLAINT_SOURCE_WORDS:
        return None
    where = COMPLAINT_SOURCE_WORDS[source]
    if kind == "repeated":
        reason = _after(event.text, f"Complaint repeated ({source}): ")
        if reason is None:
            return None
        return _("Complaint repeated (%(source)s): %(reason)s") % {"source": where, "reason": reason}
    if kind != "raised":
        return None
    before, after = str(data.get("priority_from", "")), str(data.get("priority_to", ""))
    change = ""
    if before != after:
        change = f"; priority {Priority(before).label} → {Priority(after).label}"
    reason = _after(event.text, f"Complaint ({source}): ", change)
    if reason is None:
        return None
    sentence = _("Complaint (%(source)s): %(reason)s") % {"source": where, "reason": reason}
    if change:
        sentence += _("; priority %(before)s → %(after)s") % {
            "before": PRIORITY_WORDS[before],
            "after": PRIORITY_WORDS[after],
        }
    return sentence


def _note(event: EventLike, data: dict[str, Any]) -> str | None:
    if data.get("complaint"):
        return _complaint(event, data)
    outcome = data.get("outcome")
    explanation = data.get("explanation")
    if outcome == "stale_tap" and data.get("sms_kind") == "arrived":
        return _("No arrived SMS: the tap reached the server %(minutes)s minutes late") % {
            "minutes": data["late_minutes"]
        }
    if outcome == "stale_tap":
        return _("No on-my-way SMS: the tap reached the server %(minutes)s minutes late") % {
            "minutes": data["late_minutes"]
        }
    if data.get("photo") and data.get("filename"):
        return _("Photo added: %(filename)s") % {"filename": data["filename"]}
    if outcome == "not_dispatched":
        sentence = _("Not dispatched: %(reason)s") % {"reason": data["reason"]}
        if explanation:
            return f"{sentence}. {' '.join(explanation_sentences(explanation))}"
        return sentence + _("; a dispatcher must place it")
    if outcome == "dispatched" and explanation:
        return _("Why: %(sentences)s") % {"sentences": " ".join(explanation_sentences(explanation))}
    return None


_RENDERERS: dict[str, Callable[[EventLike, dict[str, Any]], str | None]] = {
    EventKind.CREATED: _created,
    EventKind.ASSIGNED: _assigned,
    EventKind.MOVED: _moved,
    EventKind.PROMISE: _promise,
    EventKind.STATUS: _status,
    EventKind.CALL: _call,
    EventKind.SMS: _sms,
    EventKind.PINNED: _pinned,
    EventKind.NOTE: _note,
}
