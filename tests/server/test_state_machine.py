import ast
from pathlib import Path

import pytest

from server.workorders import state_machine
from server.workorders.models import Status
from server.workorders.state_machine import TRANSITIONS, InvalidTransition, allowed_actions, check_transition

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_every_pair_is_allowed_exactly_when_listed(current, target):
    if target in TRANSITIONS[current]:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition) as info:
            check_transition(current, target)
        assert info.value.status_code == 409
        assert info.value.extra["from"] == current.value


def test_every_status_has_a_row_and_terminal_states_are_final():
    assert set(TRANSITIONS) == set(Status)
    assert TRANSITIONS[Status.COMPLETED] == frozenset()
    assert TRANSITIONS[Status.CANCELLED] == frozenset()


def test_technician_buttons_follow_the_table():
    assert allowed_actions(Status.SCHEDULED) == ["on_my_way", "arrived"]
    assert allowed_actions(Status.EN_ROUTE) == ["arrived", "could_not_complete"]
    assert allowed_actions(Status.ON_SITE) == ["done", "could_not_complete"]
    assert allowed_actions(Status.COMPLETED) == []
    assert allowed_actions(Status.NEW) == []


def test_status_is_assigned_only_in_the_work_order_services():
    """Nothing outside server/workorders/services.py writes ``.status =`` on a work order."""
    offenders = []
    for path in (REPO / "server").rglob("*.py"):
        if path.name == "services.py" and path.parent.name == "workorders" or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status":
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
    assert {Status.EN_ROUTE, Status.ON_SITE} == state_machine.LOCKED_STATUSES
