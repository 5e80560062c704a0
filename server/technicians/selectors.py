from __future__ import annotations

from django.contrib.auth.models import User

from server.common.exceptions import PermissionDenied
from server.technicians.models import Technician


def technician_for_user(*, user: User) -> Technician:
    technician = Technician.objects.filter(user_id=user.pk, active=True).first()
    if technician is None:
        raise PermissionDenied("This login is not an active technician")
    return technician
