from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from server.common.schemas import AwareDatetime, CleanText, DbId, IsoDate, allowed_values
from server.common.text import PROBLEM_MAX_LENGTH
from server.workorders.models import Priority, Status
from server.workorders.state_machine import TECHNICIAN_ACTIONS


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
    client_event_id: CleanText = Field(min_length=1, max_length=64)
    work_order_id: DbId
    action: CleanText = Field(max_length=40, json_schema_extra=allowed_values(TECHNICIAN_ACTIONS))
    device_time: AwareDatetime
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    reason: CleanText = Field(
        default="", max_length=40, description="could_not_complete: no_access, needs_parts or customer_refused"
    )
    note: CleanText = Field(default="", max_length=1000)


class DeviceEventOut(Schema):
    duplicate: bool
    job: JobOut


class WorkOrderCreateIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "phone": "139 1234 5678",
                    "customer_name": "钱七",
                    "address": "上海市黄浦区人民大道200号",
                    "latitude": 31.2304,
                    "longitude": 121.4737,
                    "problem": "净水器不出水",
                    "required_skill": "water_purifier",
                    "priority": "high",
                }
            ]
        }
    )

    customer_id: DbId | None = None
    # As typed (spaces, dashes, a country prefix); stored as E.164 (Customer.phone, 20).
    phone: CleanText | None = Field(default=None, max_length=40, description="Find (or create) the customer by phone")
    customer_name: CleanText = Field(default="", max_length=200)
    address: CleanText = Field(default="", max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    site_id: DbId | None = None
    equipment_id: DbId | None = None
    problem: CleanText = Field(min_length=1, max_length=PROBLEM_MAX_LENGTH)
    priority: CleanText = Field(default="normal", max_length=10, json_schema_extra=allowed_values(Priority.values))
    required_skill: CleanText | None = Field(default=None, max_length=50)
    service_minutes: int | None = Field(default=None, ge=5, le=600)
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
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
    to_status: CleanText = Field(max_length=12, json_schema_extra=allowed_values(Status.values))
    note: CleanText = Field(default="", max_length=1000)


class AssignIn(Schema):
    technician_id: DbId
    start: AwareDatetime | None = Field(default=None, description="Optional start; the order is pinned there")


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
    reason: CleanText = Field(min_length=1, max_length=300)


class HoldIn(ReasonIn):
    follow_up_on: IsoDate | None = None


class RescheduleIn(ReasonIn):
    window_start: AwareDatetime
    window_end: AwareDatetime
