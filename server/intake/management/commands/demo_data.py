"""Demo data for the embedded default: a city (Shanghai) with technicians, customers, equipment,
one staff login and one technician login. Safe to run again: it creates only what is missing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from server.accounts.models import Role
from server.common.phones import phone_to_e164
from server.customers.models import Customer, Equipment, Site
from server.technicians.models import Skill, Technician

SKILLS = [("water_purifier", "Water purifiers"), ("hvac", "Air conditioning / HVAC"), ("appliance", "Appliances")]

# Each technician: name, username, home as latitude and longitude, skills.
TECHNICIANS = [
    ("张伟", "zhang", (31.2304, 121.4737), ["water_purifier", "appliance"]),
    ("李强", "li", (31.2200, 121.5450), ["hvac", "appliance"]),
    ("王磊", "wang", (31.2800, 121.4500), ["water_purifier", "hvac"]),
    ("刘洋", "liu", (31.1800, 121.4300), ["appliance"]),
    ("陈杰", "chen", (31.2500, 121.3900), ["water_purifier", "hvac", "appliance"]),
]

# name, phone, language, address, (lat, lon), equipment type, model, skill, installed
CUSTOMERS = [
    (
        "赵敏",
        "13800138001",
        "zh-CN",
        "上海市静安区南京西路1266号",
        (31.2290, 121.4560),
        "water_purifier",
        "AquaPure RO-500",
        "water_purifier",
        dt.date(2024, 11, 3),
    ),
    (
        "孙丽",
        "13800138002",
        "zh-CN",
        "上海市浦东新区世纪大道100号",
        (31.2350, 121.5060),
        "air_conditioner",
        "Gree KFR-35",
        "hvac",
        dt.date(2021, 6, 18),
    ),
    (
        "周涛",
        "13800138003",
        "zh-CN",
        "上海市徐汇区漕溪北路88号",
        (31.1950, 121.4370),
        "washing_machine",
        "Haier XQG100",
        "appliance",
        dt.date(2023, 2, 9),
    ),
    (
        "Emma Clarke",
        "+8613800138004",
        "en",
        "Apt 12B, 1500 Huaihai Middle Rd, Xuhui",
        (31.2080, 121.4460),
        "water_purifier",
        "AquaPure UF-200",
        "water_purifier",
        dt.date(2022, 9, 1),
    ),
    (
        "吴刚",
        "13800138005",
        "zh-CN",
        "上海市杨浦区国定路335号",
        (31.2990, 121.5110),
        "air_conditioner",
        "Midea KFR-26",
        "hvac",
        dt.date(2020, 5, 30),
    ),
]

STAFF = ("staff", "staff-demo-1", Role.AGENT)
# A plain call-center agent (no admin, no exports; phone numbers masked in lists).
AGENT = ("agent", "agent-demo-1", Role.AGENT)
DEMO_PASSWORD = "tech-demo-1"


class Command(BaseCommand):
    help = "Create demo technicians, customers and logins (only what is missing) and print the logins."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        groups = {role: Group.objects.get_or_create(name=role.value)[0] for role in Role}
        skills = {code: Skill.objects.get_or_create(code=code, defaults={"name": name})[0] for code, name in SKILLS}
        username, password, role = STAFF
        if not User.objects.filter(username=username).exists():
            staff = User.objects.create_user(username=username, password=password, is_staff=True, is_superuser=True)
            staff.groups.add(groups[role], groups[Role.DISPATCHER])
        agent_name, agent_password, agent_role = AGENT
        if not User.objects.filter(username=agent_name).exists():
            User.objects.create_user(username=agent_name, password=agent_password).groups.add(groups[agent_role])
        for name, login, (lat, lon), skill_codes in TECHNICIANS:
            if Technician.objects.filter(user__username=login).exists():
                continue
            user = User.objects.create_user(username=login, password=DEMO_PASSWORD, first_name=name)
            user.groups.add(groups[Role.TECHNICIAN])
            # Demo crews work round the clock so that a call at any hour gets dispatched.
            technician = Technician.objects.create(
                user=user,
                name=name,
                home_latitude=lat,
                home_longitude=lon,
                shift_start=dt.time(0, 0),
                shift_end=dt.time(0, 0),
            )
            technician.skills.set([skills[code] for code in skill_codes])
        for name, phone, language, address, (lat, lon), kind, model, skill, installed in CUSTOMERS:
            e164 = phone_to_e164(phone)
            if Customer.objects.filter(phone=e164).exists():
                continue
            customer = Customer.objects.create(name=name, phone=e164, language=language)
            site = Site.objects.create(customer=customer, address=address, latitude=lat, longitude=lon)
            Equipment.objects.create(
                site=site, equipment_type=kind, model=model, install_date=installed, required_skill=skills[skill]
            )
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Staff login (console, admin, API): {username} / {password}")
        self.stdout.write(f"  Agent login (console):      {agent_name} / {agent_password}")
        self.stdout.write(f"  Technician login (app):     zhang / {DEMO_PASSWORD}  (also li, wang, liu, chen)")
        self.stdout.write(f"  Known caller to simulate:   {CUSTOMERS[0][1]} ({CUSTOMERS[0][0]})")
