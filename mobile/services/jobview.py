"""What the technician sees: the server's jobs plus taps not yet confirmed.

The server owns the state machine and says which actions are allowed. Until it has
answered a tap, the app shows the obvious next state so the technician isn't left
waiting (the table below). When the server's answer arrives it replaces the job; if the
server refuses, the event drops out of the overlay and the server's state shows again.

Also small, pure formatting helpers for the screens.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from mobile.services.outbox import OutboxEvent

# action -> (status, status_label, allowed_actions) shown until the server answers
OPTIMISTIC: dict[str, tuple[str, str, list[str]]] = {
    "on_my_way": ("en_route", "En route", ["arrived"]),
    "arrived": ("on_site", "On site", ["done"]),
    "done": ("completed", "Completed", []),
}

ACTION_LABELS = {"on_my_way": "On my way", "arrived": "Arrived", "done": "Done"}


def apply_optimistic(job: dict[str, Any], event: OutboxEvent) -> dict[str, Any]:
    """The job as it will look once the server accepts ``event``."""
    if event.action not in OPTIMISTIC:
        return job
    status, label, allowed = OPTIMISTIC[event.action]
    history = [
        *job.get("history", []),
        {"at": event.device_time, "kind": "pending", "text": f"{ACTION_LABELS[event.action]} (waiting to sync)"},
    ]
    return dict(job, status=status, status_label=label, allowed_actions=list(allowed), history=history, _unsynced=True)


def overlay(
    jobs: Iterable[dict[str, Any]], pending: Iterable[OutboxEvent], rejected: Iterable[OutboxEvent] = ()
) -> list[dict[str, Any]]:
    """Server jobs with pending taps applied in FIFO order and rejections flagged."""
    by_job: dict[int, list[OutboxEvent]] = {}
    for event in pending:
        by_job.setdefault(event.work_order_id, []).append(event)
    refused: dict[int, str] = {e.work_order_id: e.last_error for e in rejected}
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
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime(fmt)


def equipment_text(equipment: dict[str, Any] | None) -> str:
    if not equipment:
        return "-"
    text = " ".join(p for p in (equipment.get("type"), equipment.get("model")) if p) or "-"
    if equipment.get("install_date"):
        text += f" (installed {equipment['install_date']})"
    return text


def sync_status_text(pending: int, last_error: str = "") -> str:
    """The "Pending sync: N" line at the bottom of the screens."""
    if not pending:
        return "Pending sync: 0 · all changes sent"
    return f"Pending sync: {pending}" + (" · offline, will retry" if last_error else "")


def history_text(history: Iterable[dict[str, Any]]) -> str:
    lines = [f"{local_time(item.get('at'), '%d/%m %H:%M')}  {item.get('text', '')}".strip() for item in history]
    return "\n".join(lines) if lines else "No history yet."
