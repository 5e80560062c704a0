"""Small builders for test data (plain functions; the project has no factory library)."""

from __future__ import annotations

import datetime as dt
import itertools

from django.contrib.auth.models import Group, User

from server.accounts.models import Role
from server.customers.models import Customer, Equipment, Site
from server.technicians.models import Skill, Technician

_seq = itertools.count(1)


def skill(code: str = "water_purifier") -> Skill:
    return Skill.objects.get_or_create(code=code, defaults={"name": code})[0]


def user(*, username: str | None = None, password: str = "pw-123456", role: Role | None = None) -> User:
    account = User.objects.create_user(username=username or f"user{next(_seq)}", password=password)
    if role is not None:
        account.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return account


def staff(**kwargs: object) -> User:
    return user(role=Role.AGENT, **kwargs)  # type: ignore[arg-type]


def technician(
    *,
    name: str = "张伟",
    lat: float = 31.23,
    lon: float = 121.47,
    skills: tuple[str, ...] = ("water_purifier",),
    username: str | None = None,
    password: str = "pw-123456",
    shift: tuple[dt.time, dt.time] = (dt.time(0, 0), dt.time(0, 0)),
) -> Technician:
    """A technician on a round-the-clock shift, so tests do not depend on the hour they run at."""
    account = user(username=username, password=password, role=Role.TECHNICIAN)
    tech = Technician.objects.create(
        user=account, name=name, home_latitude=lat, home_longitude=lon, shift_start=shift[0], shift_end=shift[1]
    )
    tech.skills.set([skill(code) for code in skills])
    return tech


def customer(
    *,
    name: str = "赵敏",
    phone: str = "+8613800138001",
    language: str = "zh-CN",
    lat: float | None = 31.2290,
    lon: float | None = 121.4560,
    equipment_skill: str | None = "water_purifier",
    address: str = "上海市静安区南京西路1266号",
) -> Customer:
    client = Customer.objects.create(name=name, phone=phone, language=language)
    site = Site.objects.create(customer=client, address=address, latitude=lat, longitude=lon)
    if equipment_skill:
        Equipment.objects.create(
            site=site,
            equipment_type="water_purifier",
            model="RO-500",
            install_date=dt.date(2024, 1, 1),
            required_skill=skill(equipment_skill),
        )
    return client
