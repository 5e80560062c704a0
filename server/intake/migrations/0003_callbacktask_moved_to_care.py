# CallbackTask now belongs to server.care (care 0001 took it into its state). Only intake's state
# forgets the model: the table intake_callbacktask and its rows are kept, now care's.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("care", "0001_initial"),
        ("intake", "0002_callback_task"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="CallbackTask")],
            database_operations=[],
        ),
    ]
