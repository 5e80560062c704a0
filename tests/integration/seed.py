"""A city to dispatch in, written straight to the database: technicians who can log in to the
phone app and customers with a site and one appliance each, so that every call from them becomes
a dispatched order.

Used in-process by fault tests and ``bench/load.py``, and as a command for a database that the
test process's Django does not use (``python -m tests.integration.seed --technicians 6 ...``
with DATABASE_URL and DJANGO_SETTINGS_MODULE set: migrates, then seeds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from dataclasses import asdict, dataclass

CENTRE = (31.23, 121.47)  # Shanghai
SKILLS = ("water_purifier", "hvac")


@dataclass(frozen=True)
class City:
    usernames: list[str]  # technicians', all with the same password
    phones: list[str]  # customers', E.164, each with one site


def password_hash(password: str) -> str:
    """A PBKDF2 hash, which a production server accepts whatever hashers the seeding process uses."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    return hasher.encode(password, hasher.salt())


def seed_city(
    *,
    technicians: int,
    customers: int,
    password: str,
    seed: int = 7,
    half_km: float = 15.0,
    phone_prefix: str = "+86139",
) -> City:
    """Technicians ``tech0``… on a shift from an hour ago to nine hours ahead (whatever the clock
    says), homes in a square of ``half_km`` around the centre, all with the water-purifier skill and
    half with HVAC; customers with a site in the same square and one appliance needing one of the
    two skills (HVAC for one in four)."""
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.utils import timezone

    from server.accounts.models import Role
    from server.customers.models import Customer, Equipment, Site
    from server.technicians.models import Skill, Technician

    rng = random.Random(seed)

    def point() -> tuple[float, float]:
        return (CENTRE[0] + rng.uniform(-half_km, half_km) / 111.0, CENTRE[1] + rng.uniform(-half_km, half_km) / 95.0)

    local_now = timezone.localtime()
    shift_start = (local_now - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    shift_end = (local_now + dt.timedelta(hours=9)).time().replace(second=0, microsecond=0)
    hashed = password_hash(password)
    with transaction.atomic():
        skills = {code: Skill.objects.get_or_create(code=code, defaults={"name": code})[0] for code in SKILLS}
        group = Group.objects.get_or_create(name=Role.TECHNICIAN.value)[0]
        usernames = [f"tech{i}" for i in range(technicians)]
        users = User.objects.bulk_create([User(username=name, password=hashed) for name in usernames])
        group.user_set.add(*users)
        for i, user in enumerate(users):
            lat, lon = point()
            technician = Technician.objects.create(
                user=user,
                name=f"技师{i}",
                home_latitude=lat,
                home_longitude=lon,
                shift_start=shift_start,
                shift_end=shift_end,
            )
            technician.skills.set([skills["water_purifier"]] + ([skills["hvac"]] if i % 2 == 0 else []))
        phones = [f"{phone_prefix}{i:08d}" for i in range(customers)]
        clients = Customer.objects.bulk_create(
            [Customer(name=f"客户{i}", phone=phone) for i, phone in enumerate(phones)]
        )
        sites = Site.objects.bulk_create(
            [
                Site(customer=client, address=f"上海市测试路{i}号", latitude=lat, longitude=lon)
                for i, client in enumerate(clients)
                for lat, lon in [point()]
            ]
        )
        Equipment.objects.bulk_create(
            [
                Equipment(
                    site=site,
                    equipment_type="hvac" if i % 4 == 0 else "water_purifier",
                    model="M-1",
                    install_date=dt.date(2024, 1, 1),
                    required_skill=skills["hvac" if i % 4 == 0 else "water_purifier"],
                )
                for i, site in enumerate(sites)
            ]
        )
    return City(usernames=usernames, phones=phones)


def main() -> None:
    parser = argparse.ArgumentParser(description="Migrate the database and seed a city")
    parser.add_argument("--technicians", type=int, required=True)
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    city = seed_city(technicians=args.technicians, customers=args.customers, password=args.password, seed=args.seed)
    sys.stdout.write(json.dumps(asdict(city)) + "\n")


if __name__ == "__main__":
    main()
