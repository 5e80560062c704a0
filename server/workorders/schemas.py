from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import Field


class EquipmentOut(Schema):
    type: str
    model: str
    install_date: dt.date | None


class HistoryOut(Schema):
    at: dt.datetime
    kind: str
    text: str


class JobOut(Schema):
    """One job as the technician app shows it."""

    id: int
    reference: str
    status: str
    status_label: str
    customer_name: str
    customer_phone: str
    address: str
    latitude: float | None
    longitude: float | None
    problem: str
    priority: str
    equipment: EquipmentOut | None
    planned_arrival: dt.datetime | None
    route_position: int | None
    promised_start: dt.datetime | None
    promised_end: dt.datetime | None
    allowed_actions: list[str]
    history: list[HistoryOut]


class TechnicianOut(Schema):
    id: int
    name: str


class JobListOut(Schema):
    technician: TechnicianOut
    day: dt.date
    jobs: list[JobOut]


class DeviceEventIn(Schema):
    client_event_id: str = Field(min_length=1, max_length=64)
    work_order_id: int
    action: str
    device_time: dt.datetime
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    reason: str = Field(default="", max_length=40, description="could_not_complete: no_access, "
                        "needs_parts or customer_refused")
    note: str = Field(default="", max_length=1000)


class DeviceEventOut(Schema):
    duplicate: bool
    job: JobOut


class WorkOrderCreateIn(Schema):
    customer_id: int | None = None
    phone: str | None = Field(default=None, description="Find (or create) the customer by phone")
    customer_name: str = ""
    address: str = ""
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    site_id: int | None = None
    equipment_id: int | None = None
    problem: str = Field(min_length=1, max_length=4000)
    priority: str = "normal"
    required_skill: str | None = None
    service_minutes: int | None = Field(default=None, ge=5, le=600)
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    complaint: bool = False


class EventOut(Schema):
    at: dt.datetime
    kind: str
    from_status: str
    to_status: str
    actor: str
    text: str
    device_time: dt.datetime | None
    data: dict[str, Any]


class WorkOrderOut(Schema):
    id: int
    reference: str
    status: str
    priority: str
    customer_id: int
    customer_name: str
    customer_phone: str
    site_id: int | None
    address: str
    problem: str
    required_skill: str | None
    needs_review: bool
    technician_id: int | None
    technician_name: str | None
    scheduled_day: dt.date | None
    planned_arrival: dt.datetime | None
    route_position: int | None
    promised_start: dt.datetime | None
    promised_end: dt.datetime | None
    promise_at_risk: bool
    promise_risk_reason: str
    pinned: bool
    pinned_start: dt.datetime | None
    hold_reason: str
    follow_up_on: dt.date | None
    version: int
    explanation: dict[str, Any]
    events: list[EventOut]


class TransitionIn(Schema):
    to_status: str
    note: str = ""


class AssignIn(Schema):
    technician_id: int
    start: dt.datetime | None = Field(default=None, description="Optional start; the order is pinned there")


class ConsequenceOut(Schema):
    work_order_id: int
    reference: str
    planned_arrival: dt.datetime
    previous_arrival: dt.datetime | None
    promised_end: dt.datetime | None
    late_minutes: int


class AssignOut(Schema):
    work_order: WorkOrderOut
    consequences: list[ConsequenceOut]


class ReasonIn(Schema):
    reason: str = Field(min_length=1, max_length=300)


class HoldIn(ReasonIn):
    follow_up_on: dt.date | None = None


class RescheduleIn(ReasonIn):
    window_start: dt.datetime
    window_end: dt.datetime
