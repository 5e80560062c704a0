# CallbackTask moves from intake to care. The table (intake_callbacktask) and its rows stay as
# they are: this migration only adds the model to care's state; intake 0003 drops it from intake's.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('customers', '0001_initial'),
        ('intake', '0002_callback_task'),
        ('workorders', '0002_promises'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CallbackTask',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('phone', models.CharField(blank=True, max_length=20)),
                        ('caller_raw', models.CharField(blank=True, max_length=100)),
                        ('reason', models.TextField(blank=True)),
                        ('done_at', models.DateTimeField(blank=True, db_index=True, null=True)),
                        ('call', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='callback_tasks', to='intake.callrecord')),
                        ('customer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='callback_tasks', to='customers.customer')),
                        ('done_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('work_order', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='callback_tasks', to='workorders.workorder')),
                    ],
                    options={
                        'db_table': 'intake_callbacktask',
                        'ordering': ['-id'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('done_at__isnull', False), ('done_by__isnull', True), _connector='OR'), name='callbacktask_done_by_only_when_done')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
