"""Seed the service intervals of the common equipment types (staff edit them in the admin)."""

from django.db import migrations

INTERVALS = [
    # (equipment_type, months, label)
    ("water_purifier", 24, "Water-purifier filter"),
    ("washing_machine", 24, "Washing-machine service"),
    ("air_conditioner", 12, "Air-conditioner service"),
    ("hvac", 12, "HVAC service"),
    ("water_heater", 12, "Water-heater service"),
]


def seed(apps, schema_editor):
    ServiceInterval = apps.get_model("crm", "ServiceInterval")
    for equipment_type, months, label in INTERVALS:
        ServiceInterval.objects.get_or_create(equipment_type=equipment_type, defaults={"months": months, "label": label})


def unseed(apps, schema_editor):
    ServiceInterval = apps.get_model("crm", "ServiceInterval")
    ServiceInterval.objects.filter(equipment_type__in=[row[0] for row in INTERVALS]).delete()


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
