"""Short signed links to the customer's tracking page: ``/t/<token>/``.

The token is the order id in base62 followed by a 12-character signature
(``django.core.signing.Signer`` over the id and the order's own secret in ``TrackingKey``), so
a link stays short enough for one SMS segment and can be revoked by replacing the secret.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from server.common.exceptions import NotFound
from server.workorders.models import EventKind, Status, TrackingKey, WorkOrder, WorkOrderEvent

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SIGNATURE_LENGTH = 12
SALT = "server.tracking.link"  # kept from where links began: changing it would void every link sent
ENDED_STATUSES = (Status.COMPLETED, Status.CANCELLED)


class LinkExpired(NotFound):
    """The visit ended more than TRACKING_LINK_GRACE_HOURS ago: the page says so (HTTP 410)."""

    status_code = 410
    code = "expired"


def _b62(number: int) -> str:
    if number <= 0:
        raise ValueError("positive ids only")
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits))


def _from_b62(text: str) -> int:
    number = 0
    for char in text:
        index = ALPHABET.find(char)
        if index < 0:
            raise ValueError("not base62")
        number = number * 62 + index
    return number


def _signature(order_id: int, secret: str) -> str:
    # The signature alone (base64url of an HMAC over the id and the per-order secret), truncated:
    # 72 bits are plenty for a link that lives a few days.
    return signing.Signer(salt=SALT).signature(f"{order_id}:{secret}")[:SIGNATURE_LENGTH]


def _key(work_order_id: int) -> TrackingKey:
    key = TrackingKey.objects.filter(work_order_id=work_order_id).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            return TrackingKey.objects.create(work_order_id=work_order_id, secret=secrets.token_urlsafe(16)[:22])
    except IntegrityError:  # created at the same moment by another sender
        return TrackingKey.objects.get(work_order_id=work_order_id)


def tracking_token(*, work_order: WorkOrder) -> str:
    key = _key(work_order.pk)
    return _b62(work_order.pk) + _signature(work_order.pk, key.secret)


def tracking_link(*, work_order: WorkOrder) -> str:
    """The customer's link to the order's tracking page: absolute with PUBLIC_BASE_URL, else relative."""
    path = reverse("tracking:page", kwargs={"token": tracking_token(work_order=work_order)})
    base = (getattr(settings, "PUBLIC_BASE_URL", "") or "").rstrip("/")
    return f"{base}{path}"


def tracking_link_revoke(*, work_order: WorkOrder) -> None:
    """Every link sent so far for the order stops working; new links use a new secret."""
    key = _key(work_order.pk)
    key.secret = secrets.token_urlsafe(16)[:22]
    key.revoked_at = timezone.now()
    key.save(update_fields=["secret", "revoked_at"])


def visit_ended_at(work_order: WorkOrder) -> dt.datetime | None:
    """When a completed or cancelled visit ended: the time of its last status change; else None."""
    if work_order.status not in ENDED_STATUSES:
        return None
    event = (
        WorkOrderEvent.objects.filter(work_order=work_order, kind=EventKind.STATUS, to_status=work_order.status)
        .order_by("-created_at", "-id")
        .first()
    )
    return event.created_at if event is not None else work_order.updated_at


def link_expired(work_order: WorkOrder, *, now: dt.datetime | None = None) -> bool:
    ended = visit_ended_at(work_order)
    if ended is None:
        return False
    grace = dt.timedelta(hours=getattr(settings, "TRACKING_LINK_GRACE_HOURS", 2))
    return (now or timezone.now()) > ended + grace


def tracking_order(token: str, *, now: dt.datetime | None = None) -> WorkOrder:
    """The order a token links to; NotFound for a bad or forged token, LinkExpired once it expired."""
    not_found = NotFound(_("This link is not valid. Please check the text message or call us."))
    if len(token) <= SIGNATURE_LENGTH or len(token) > SIGNATURE_LENGTH + 11:
        raise not_found
    try:
        order_id = _from_b62(token[:-SIGNATURE_LENGTH])
    except ValueError:
        raise not_found from None
    key = TrackingKey.objects.filter(work_order_id=order_id).select_related("work_order").first()
    if key is None or not constant_time_compare(_signature(order_id, key.secret), token[-SIGNATURE_LENGTH:]):
        raise not_found
    work_order: WorkOrder = key.work_order
    if link_expired(work_order, now=now):
        raise LinkExpired(_("This visit has ended and its tracking link has expired."))
    return work_order
