"""The console's one composite write: a repair logged at the desk with new equipment.

Everything else the console changes goes straight to the services of the apps below (intake's
``repair_log``, ``server.scheduling.changes``, ``server.care``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from server.common.exceptions import ValidationFailed
from server.common.phones import phone_to_e164
from server.customers import services as customer_services
from server.customers.geocoding import address_geocode
from server.customers.models import Customer, Equipment, Site
from server.intake import services as intake_services
from server.technicians.models import Skill
from server.workorders.models import WorkOrder


def repair_log_at_desk(
    *,
    actor: User,
    problem: str,
    customer_id: int | None = None,
    phone: str = "",
    customer_name: str = "",
    site_id: int | None = None,
    address: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    equipment_id: int | None = None,
    equipment_type: str = "",
    equipment_model: str = "",
    equipment_install_date: dt.date | None = None,
    equipment_skill: str = "",
    priority: str = "normal",
    required_skill: str | None = None,
    window_start: dt.datetime | None = None,
    window_end: dt.datetime | None = None,
) -> WorkOrder:
    """Log a repair for the caller on the line: ``intake.services.repair_log`` does the work.

    With ``equipment_type`` the equipment is new: the customer (by id, or by phone, created with
    ``customer_name`` when unknown) and the site (chosen, or created from the typed address,
    geocoded first outside the transaction) are found or created here, the equipment is added to
    the site, and the order asks for its skill unless another was chosen.
    """
    common: dict[str, Any] = {
        "actor": actor,
        "problem": problem,
        "priority": priority,
        "required_skill": required_skill or None,
        "window_start": window_start,
        "window_end": window_end,
    }
    if not equipment_type.strip():
        return intake_services.repair_log(
            customer_id=customer_id,
            phone=phone or None,
            customer_name=customer_name,
            site_id=site_id,
            address=address,
            latitude=latitude,
            longitude=longitude,
            equipment_id=equipment_id,
            **common,
        )
    geocoded = None
    if site_id is None and address.strip() and latitude is None and longitude is None:
        geocoded = address_geocode(address)
    with transaction.atomic():
        customer = _customer(customer_id=customer_id, phone=phone, name=customer_name)
        site = _site(customer=customer, site_id=site_id, address=address, latitude=latitude, longitude=longitude)
        if site is None:
            raise ValidationFailed("New equipment needs a site: choose one or type the address")
        if site_id is None and address.strip():
            site = customer_services.site_create(
                customer=customer,
                address=address,
                latitude=latitude,
                longitude=longitude,
                geocode=False,
                geocoded=geocoded,
            )
        skill = None
        if equipment_skill:
            skill = Skill.objects.filter(code=equipment_skill).first()
            if skill is None:
                raise ValidationFailed(f"Unknown skill '{equipment_skill}'")
        equipment = Equipment(
            site=site,
            equipment_type=equipment_type.strip(),
            model=equipment_model.strip(),
            install_date=equipment_install_date,
            required_skill=skill,
        )
        equipment.full_clean(exclude=["site", "required_skill"])
        equipment.save()
        return intake_services.repair_log(customer_id=customer.pk, site_id=site.pk, equipment_id=equipment.pk, **common)


def _customer(*, customer_id: int | None, phone: str, name: str) -> Customer:
    if customer_id is not None:
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            raise ValidationFailed(f"Customer {customer_id} does not exist")
        return customer
    if not phone.strip():
        raise ValidationFailed("Choose a customer or give the caller's phone number")
    e164 = phone_to_e164(phone)
    customer = Customer.objects.filter(phone=e164).first()
    if customer is not None:
        return customer
    if not name.strip():
        raise ValidationFailed("A new customer needs a name", extra={"phone": e164})
    return Customer.objects.create(phone=e164, name=name.strip())


def _site(
    *, customer: Customer, site_id: int | None, address: str, latitude: float | None, longitude: float | None
) -> Site | None:
    """The chosen site; a placeholder (not saved) when a new one will be created from
    ``address``; else the customer's first site."""
    if site_id is not None:
        site = Site.objects.filter(pk=site_id, customer=customer).first()
        if site is None:
            raise ValidationFailed(f"Site {site_id} is not a site of this customer")
        return site
    if address.strip():
        return Site(customer=customer, address=address)
    return customer.sites.first()
