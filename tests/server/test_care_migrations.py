"""CallbackTask moved from intake to care: the table and its rows are kept."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from server.customers.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("intake", "0002_callback_task"), ("care", None)]
AFTER = [("intake", "0003_callbacktask_moved_to_care"), ("care", "0002_complaints_notes_ratings_consent")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def test_callback_task_rows_survive_the_move_to_care():
    try:
        old = migrate(BEFORE)
        assert old.get_model("intake", "CallbackTask")._meta.db_table == "intake_callbacktask"
        customer = Customer.objects.create(name="赵敏", phone="+8613800138001")  # customers is fully migrated
        old.get_model("intake", "CallbackTask").objects.create(customer_id=customer.pk, reason="call the caller back")
        new = migrate(AFTER)
        with pytest.raises(LookupError):
            new.get_model("intake", "CallbackTask")
        task = new.get_model("care", "CallbackTask").objects.get()
        assert (task.customer_id, task.reason, task.kind, task.done_at) == (
            customer.pk,
            "call the caller back",
            "unidentified",
            None,
        )
    finally:
        call_command("migrate", verbosity=0)
