import datetime

from django.conf import settings
from django.db import migrations, models


def tokens_expire_from_issue(apps, schema_editor):
    """Existing tokens expire API_TOKEN_TTL_HOURS after they were issued, as new ones do."""
    ApiToken = apps.get_model("accounts", "ApiToken")
    ttl = datetime.timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    for token in ApiToken.objects.filter(expires_at__isnull=True).only("pk", "created_at"):
        ApiToken.objects.filter(pk=token.pk).update(expires_at=token.created_at + ttl)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_reason",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.RunPython(tokens_expire_from_issue, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(),
        ),
        migrations.AddIndex(
            model_name="apitoken",
            index=models.Index(fields=["user", "revoked_at"], name="apitoken_user_live"),
        ),
    ]
