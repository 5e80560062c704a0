"""What the technician sees: the server's jobs plus taps not yet confirmed.

The server owns the state machine and says which actions are allowed. Until it has
answered a tap, the app shows the obvious next state so the technician isn't left
waiting (the table below). When the server's answer arrives it replaces the job; if the
server refuses, the event drops out of the overlay and the server's state shows again.

Also small, pure formatting helpers for the screens (in the app's language).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from mobile.i18n import _, format_date, format_short_datetime
from mobile.services.outbox import TAP, OutboxEvent


def _optimistic(action: str) -> tuple[str, str, list[str]] | None:
    """action -> (status, status_label, allowed_actions) shown until the server answers."""
    table = {
        "on_my_way": ("en_route", _("En route"), ["arrived", "could_not_complete"]),
        "arrived": ("on_site", _("On site"), ["done", "could_not_complete"]),
        "done": ("completed", _("Completed"), []),
        "could_not_complete": ("on_hold", _("On hold"), []),
    }
    return table.get(action)


OPTIMISTIC_ACTIONS = ("on_my_way", "arrived", "done", "could_not_complete")
REASONS = ("no_access", "needs_parts", "customer_refused")  # why a job could not be completed


def reason_label(reason: str) -> str:
    return {
        "no_access": _("No access"),
        "needs_parts": _("Needs parts"),
        "customer_refused": _("Customer refused"),
    }.get(reason, reason)


def action_label(action: str) -> str:
    labels = {
        "on_my_way": _("On my way"),
        "arrived": _("Arrived"),
        "done": _("Done"),
        "could_not_complete": _("Could not complete"),
    }
    return labels.get(action, action)


def apply_optimistic(job: dict[str, Any], event: OutboxEvent) -> dict[str, Any]:
    """The job as it will look once the server accepts ``event``."""
    shown = _optimistic(event.action) if event.kind == TAP else None
    if shown is None:
        return job
    status, label, allowed = shown
    history = [
        *job.get("history", []),
        {
            "at": event.device_time,
            "kind": "pending",
            "text": _("{action} (waiting to sync)").format(action=action_label(event.action)),
        },
    ]
    return dict(
        job,
        status=status,
        status_label=label,
        allowed_actions=list(allowed),
        history=history,
        eta_start=None,
        eta_end=None,
        _unsynced=True,
    )


def overlay(
    jobs: Iterable[dict[str, Any]], pending: Iterable[OutboxEvent], rejected: Iterable[OutboxEvent] = ()
) -> list[dict[str, Any]]:
    """Server jobs with pending taps applied in FIFO order and rejections flagged."""
    by_job: dict[int, list[OutboxEvent]] = {}
    for event in pending:
        if event.kind == TAP:
            by_job.setdefault(event.work_order_id, []).append(event)
    refused: dict[int, str] = {e.work_order_id: e.last_error for e in rejected if e.kind == TAP}
    result = []
    for job in jobs:
        shown = dict(job)
        for event in by_job.get(int(job.get("id") or 0), ()):
            shown = apply_optimistic(shown, event)
        if job.get("id") in refused:
            shown["_rejected"] = refused[job["id"]]
        result.append(shown)
    return result


def local_time(value: str | None, fmt: str = "%H:%M") -> str:
    """``"2026-11-22T08:30:00Z"`` -> ``"08:30"`` in the device's timezone; '' if unknown."""
    moment = _parse(value)
    return moment.strftime(fmt) if moment else ""


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone() if moment.tzinfo is not None else moment


def local_datetime(value: str | None) -> str:
    """A moment as "23 Nov 08:30" / "11月23日 08:30" in the device's timezone."""
    moment = _parse(value)
    return format_short_datetime(moment) if moment else ""


def window_text(start: str | None, end: str | None) -> str:
    """ "08:00–10:00" (local) or '' when either end is unknown."""
    first, last = local_time(start), local_time(end)
    return f"{first}–{last}" if first and last else ""


def arrival_text(job: dict[str, Any]) -> str:
    """The server's live ETA window while en route, else the planned arrival."""
    eta = window_text(job.get("eta_start"), job.get("eta_end"))
    if eta:
        return _("ETA {window}").format(window=eta)
    planned = local_time(job.get("planned_arrival"))
    return _("Planned {time}").format(time=planned) if planned else ""


def priority_badge(priority: str | None) -> str:
    """Only what stands out: high and urgent (low/normal get no badge)."""
    return {"high": _("High priority"), "urgent": _("Urgent")}.get(priority or "", "")


def equipment_text(equipment: dict[str, Any] | None) -> str:
    if not equipment:
        return "-"
    text = " ".join(p for p in (equipment.get("type"), equipment.get("model")) if p) or "-"
    if equipment.get("install_date"):
        try:
            installed = format_date(date.fromisoformat(str(equipment["install_date"])))
        except ValueError:
            installed = str(equipment["install_date"])
        text += " " + _("(installed {date})").format(date=installed)
    return text


def sync_status_text(
    pending: int,
    last_error: str = "",
    *,
    photos: int = 0,
    failed_photos: int = 0,
    rejected: int = 0,
    offline: bool = False,
) -> str:
    """The sync state line at the bottom of the screens."""
    parts = [_("Offline") if offline or (pending and last_error) else _("Online")]
    if pending:
        parts.append(_("{n} event(s) waiting").format(n=pending))
    if photos:
        parts.append(_("{n} photo(s) uploading").format(n=photos))
    if failed_photos:
        parts.append(_("{n} photo(s) failed").format(n=failed_photos))
    if rejected:
        parts.append(_("{n} rejected, needs attention").format(n=rejected))
    if not pending and not photos and not failed_photos and not rejected:
        parts.append(_("all changes sent"))
    return " · ".join(parts)


def history_text(history: Iterable[dict[str, Any]]) -> str:
    lines = [f"{local_datetime(item.get('at'))}  {item.get('text', '')}".strip() for item in history]
    return "\n".join(lines) if lines else _("No history yet.")


def site_visits_text(visits: Iterable[dict[str, Any]]) -> str:
    """Earlier visits at this site and how they ended, newest first as the server sends."""
    blocks = []
    for visit in visits:
        head = " · ".join(
            p
            for p in (
                local_datetime(visit.get("finished_at")),
                str(visit.get("reference") or ""),
                str(visit.get("status_label") or ""),
                str(visit.get("technician_name") or ""),
            )
            if p
        )
        lines = [head]
        if visit.get("problem"):
            lines.append(_("Problem: {text}").format(text=visit["problem"]))
        if visit.get("resolution"):
            lines.append(_("Resolution: {text}").format(text=visit["resolution"]))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else _("No earlier visits.")


def sync_line(board: Any, sync: Any) -> str:
    """``sync_status_text`` from the app's JobBoard and SyncEngine (read-only)."""
    return sync_status_text(
        sync.pending_count,
        sync.last_error,
        photos=sync.photo_count,
        failed_photos=sync.failed_photo_count,
        rejected=sync.rejected_count,
        offline=board.offline,
    )


def others_waiting_text(waiting: Iterable[tuple[str, int]]) -> str:
    """Unsent changes on this phone that are not the logged-in technician's, one line per
    owner (``SyncEngine.others_waiting``): they wait for that technician's next login here.
    A nameless entry is from before owners were recorded: sent by whoever logs in next."""
    lines = []
    for name, count in waiting:
        if name:
            lines.append(
                _("{n} change(s) not synced yet, made by {name}: they wait for {name} to log in on this phone.").format(
                    n=count, name=name
                )
            )
        else:
            lines.append(_("{n} change(s) not synced yet; they are sent after you log in.").format(n=count))
    return "\n".join(lines)
