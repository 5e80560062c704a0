"""The roles exist in every installation (not only with the demo data): one group per role.

The old "call_center" group becomes "agent", keeping its members.
"""

from django.db import migrations

ROLES = ("agent", "dispatcher", "supervisor", "admin", "technician")


def roles_create(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    old = Group.objects.filter(name="call_center").first()
    if old is not None and not Group.objects.filter(name="agent").exists():
        old.name = "agent"
        old.save(update_fields=["name"])
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def roles_restore(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name="agent").update(name="call_center")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_token_expiry_and_revocation"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(roles_create, roles_restore)]
