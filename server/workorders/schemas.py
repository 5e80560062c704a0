from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from server.common.schemas import AwareDatetime, CleanText, DbId, IsoDate, allowed_values
from server.common.text import PROBLEM_MAX_LENGTH
from server.workorders.models import Priority, Status
from server.workorders.services import (
    EVENT_BATCH_MAX,
    PART_NAME_MAX_LENGTH,
    PART_QUANTITY_MAX,
    PARTS_MAX,
    PHOTO_CONTENT_TYPES,
    PHOTO_MAX_BYTES,
    RESOLUTION_MAX_LENGTH,
)
from server.workorders.state_machine import TECHNICIAN_ACTIONS


class EquipmentOut(Schema):
    type: str
    model: str
    install_date: dt.date | None


class HistoryOut(Schema):
    at: dt.datetime
    kind: str
    text: str


class PartIn(Schema):
    name: CleanText = Field(min_length=1, max_length=PART_NAME_MAX_LENGTH)
    quantity: int = Field(ge=1, le=PART_QUANTITY_MAX)


class PartOut(Schema):
    name: str
    quantity: int


class PhotoOut(Schema):
    client_photo_id: str
    complete: bool


class SiteVisitOut(Schema):
    """An earlier order at the job's site: what was wrong and what was done."""

    reference: str
    status_label: str
    problem: str
    resolution: str
    finished_at: dt.datetime | None
    technician_name: str


class JobOut(Schema):
    """One job as the technician app shows it. Labels and history are in the request's language
    (``Accept-Language``: zh-CN or en)."""

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
    access_notes: str
    complaint: bool = Field(description="The order or its customer is flagged as a complaint")
    eta_start: dt.datetime | None = Field(description="The live ETA window while on the way (as the customer is told)")
    eta_end: dt.datetime | None
    resolution: str
    parts: list[PartOut]
    photos: list[PhotoOut]
    site_visits: list[SiteVisitOut] = Field(description="Earlier orders at this site, newest first")


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
    resolution: CleanText = Field(default="", max_length=RESOLUTION_MAX_LENGTH, description="Only with 'done'")
    parts: list[PartIn] = Field(default_factory=list, max_length=PARTS_MAX, description="Only with 'done'")


class DeviceEventOut(Schema):
    duplicate: bool
    job: JobOut


class LocationIn(Schema):
    client_event_id: CleanText = Field(min_length=1, max_length=64)
    device_time: AwareDatetime
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=1e6)


class TapInBatch(DeviceEventIn):
    type: Literal["tap"]


class LocationInBatch(LocationIn):
    type: Literal["location"]


class EventBatchIn(Schema):
    """A phone's queued events, oldest first: taps and location reports as the phone made them."""

    events: list[Annotated[TapInBatch | LocationInBatch, Field(discriminator="type")]] = Field(
        min_length=1, max_length=EVENT_BATCH_MAX
    )


class BatchResultOut(Schema):
    client_event_id: str
    status: int = Field(description="200 when applied (or a repeat), else the refusal's HTTP status")
    duplicate: bool
    accepted: bool | None = Field(description="Location reports: it moved the technician's position")
    message: str = Field(description="Why it was refused, for the technician")
    code: str
    extra: dict[str, Any]


class EventBatchOut(Schema):
    results: list[BatchResultOut] = Field(description="One per event, in the order sent")
    jobs: list[JobOut] = Field(description="The jobs the applied taps touched, as they are now")


class LocationOut(Schema):
    duplicate: bool
    accepted: bool = Field(description="It moved the technician's current position (false: kept as history only)")
    reason: str = Field(description="Why not accepted: clock_ahead, old or older; empty otherwise")


class PhotoStartIn(Schema):
    client_photo_id: CleanText = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    work_order_id: DbId
    filename: CleanText = Field(min_length=1, max_length=200)
    content_type: CleanText = Field(max_length=20, json_schema_extra=allowed_values(PHOTO_CONTENT_TYPES))
    size: int = Field(ge=1, le=PHOTO_MAX_BYTES)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


class PhotoStateOut(Schema):
    client_photo_id: str
    received: int
    complete: bool


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
