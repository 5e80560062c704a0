"""check_plan catches every kind of violation; plan_objective adds up."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dispatch import (
    Break,
    Job,
    Plan,
    Problem,
    Route,
    Technician,
    TimeWindow,
    Unassigned,
    Visit,
    check_plan,
    plan_objective,
)
from dispatch.schedule import build_route
from tests.dispatch.conftest import make_problem, tech


def one_route_plan(problem: Problem, tech_id: str, job_ids: list[str], **kw: int) -> Plan:
    t = problem.technician(tech_id)
    route = build_route(problem, t, [problem.job(i) for i in job_ids], **kw)
    assert route is not None
    routed = set(job_ids)
    missing = tuple(Unassigned(j.id, "no_room", "test") for j in problem.jobs if j.id not in routed)
    plan = Plan((route,), missing, 0)
    return replace(plan, objective=plan_objective(problem, plan))


@pytest.fixture
def simple() -> Problem:
    return make_problem(
        [tech("t", 0, skills={"a"}, lunch=Break(100, 130, 30), max_jobs=3, capacity=5), tech("u", 7)],
        [Job("x", 1, 20, windows=[(0, 60)], demand=2), Job("y", 3, 20, skills={"a"}, demand=2), Job("z", 5, 20)],
    )


def with_route(plan: Plan, route: Route) -> Plan:
    return replace(plan, routes=(route,) + plan.routes[1:])


def with_visit(plan: Plan, k: int, **changes: int) -> Plan:
    route = plan.routes[0]
    visits = list(route.visits)
    visits[k] = replace(visits[k], **changes)
    return with_route(plan, replace(route, visits=tuple(visits)))


def test_valid_plan_has_no_violations(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    assert check_plan(simple, plan) == []


def assert_caught(problem: Problem, plan: Plan, fragment: str) -> None:
    errors = check_plan(problem, plan)
    assert any(fragment in e for e in errors), errors


def test_catches_missing_job(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y"])
    assert_caught(simple, replace(plan, unassigned=()), "neither routed nor reported")


def test_catches_duplicate_job(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    route = plan.routes[0]
    dup = replace(route, visits=route.visits + (route.visits[-1],))
    assert_caught(simple, with_route(plan, dup), "more than once")


def test_catches_routed_and_unassigned(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    assert_caught(simple, replace(plan, unassigned=(Unassigned("x", "no_room", "r"),)), "both routed and unassigned")


def test_catches_unknown_ids(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    ghost = Route("ghost", (), None, 0, 0, 0)
    assert_caught(simple, replace(plan, routes=plan.routes + (ghost,)), "unknown technician")


def test_catches_missing_skill(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    moved = replace(plan.routes[0], technician_id="u")
    assert_caught(simple, with_route(plan, moved), "lacks skill")


def test_catches_window_violation(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    assert_caught(simple, with_visit(plan, 0, start=70, end=90), "outside its windows")


def test_catches_wrong_travel_and_arrival(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    assert_caught(simple, with_visit(plan, 1, travel=5), "matrix says")
    assert_caught(simple, with_visit(plan, 1, arrival=plan.routes[0].visits[1].arrival - 1), "arrival")


def test_catches_service_too_short(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    v = plan.routes[0].visits[2]
    assert_caught(simple, with_visit(plan, 2, end=v.end - 5), "expected start + service")


def test_catches_shift_overrun(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    assert_caught(simple, with_route(plan, replace(plan.routes[0], end_time=999)), "after the shift end")
    early = replace(plan.routes[0], end_time=plan.routes[0].visits[-1].end)
    assert_caught(simple, with_route(plan, early), "cannot be before")
    assert_caught(
        simple, with_route(plan, replace(plan.routes[0], start_time=-5)), "before the technician is available"
    )


def test_catches_break_problems(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    route = plan.routes[0]
    assert_caught(simple, with_route(plan, replace(route, break_start=None)), "lunch break missing")
    assert_caught(simple, with_route(plan, replace(route, break_start=200)), "outside [100, 130]")
    # A break squeezed into a gap too short for travel + break.
    overlap = route.visits[1].start + 1
    assert_caught(simple, with_route(plan, replace(route, break_start=overlap)), "overlaps")


def test_catches_pins(simple: Problem) -> None:
    pinned = replace(simple, jobs=(replace(simple.jobs[0], pinned_technician_id="u"),) + simple.jobs[1:])
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    assert_caught(pinned, plan, "pinned to 'u'")
    timed = replace(simple, jobs=(replace(simple.jobs[0], pinned_start=55),) + simple.jobs[1:])
    assert_caught(timed, plan, "pinned to 55")


def test_catches_lock_not_first(simple: Problem) -> None:
    locked = replace(simple, jobs=simple.jobs[:2] + (replace(simple.jobs[2], locked=True, pinned_technician_id="t"),))
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    assert_caught(locked, plan, "not the first stop")


def test_catches_max_jobs_and_capacity(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    tight = replace(simple, technicians=(replace(simple.technicians[0], max_jobs=2, capacity=3), simple.technicians[1]))
    assert_caught(tight, plan, "exceed max_jobs")
    assert_caught(tight, plan, "exceeds capacity")


def test_catches_travel_total_mismatch(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y", "z"])
    assert_caught(simple, with_route(plan, replace(plan.routes[0], travel_total=1)), "travel_total")


def test_catches_unassigned_without_reason(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y"])
    assert_caught(simple, replace(plan, unassigned=(Unassigned("z", "", ""),)), "no code or reason")


def test_objective_counts_travel_penalties_and_lateness() -> None:
    p = make_problem([tech("t", 0)], [Job("a", 2, 10, sla_deadline=15), Job("b", 3, 10)])
    plan = one_route_plan(p, "t", ["a"])
    # travel 0->2->0 = 40; a ends at 30, 15 late at weight 10; b dropped.
    assert plan.objective == 40 + 15 * 10 + p.drop_penalty(p.job("b"))


def test_objective_counts_waiting_from_ready_or_time_zero() -> None:
    p = make_problem([tech("t", 0)], [Job("a", 2, 10, priority=1, ready=-30), Job("b", 3, 10, ready=50)])
    plan = one_route_plan(p, "t", ["a", "b"])
    # travel 0->2->3->0 = 60; "a" starts at 20, waiting counted from 0 (not -30) at
    # 0.1 x 2 per minute: 4; "b" starts at 40, before it was ready: nothing.
    assert plan.objective == 60 + 4
    assert p.time_cost(p.job("b"), 90) == 4  # 40 minutes at 0.1, rounded


def test_objective_counts_promised_window_steeply() -> None:
    p = make_problem([tech("t", 0)], [Job("a", 1, 10, promised_window=TimeWindow(0, 5))])
    plan = one_route_plan(p, "t", ["a"])  # starts at 10: 5 minutes late
    assert p.promise_window_weight() == p.base_drop_penalty() // 60
    assert plan.objective == 20 + 5 * p.promise_window_weight()


def test_objective_counts_broken_promises() -> None:
    p = make_problem([tech("t", 0), tech("u", 7)], [Job("a", 1, 10, promised_technician_id="u")])
    plan = one_route_plan(p, "t", ["a"])
    assert plan.objective == 20 + p.broken_promise_penalty()


def test_idle_technician_route_is_valid_and_free() -> None:
    p = make_problem([Technician("t", 0, 0, 480)], [])
    idle = build_route(p, p.technicians[0], [])
    assert idle is not None
    plan = Plan((idle,), (), 0)
    assert check_plan(p, plan) == []
    assert plan_objective(p, plan) == 0


def test_assignment_lookup(simple: Problem) -> None:
    plan = one_route_plan(simple, "t", ["x", "y"])
    found = plan.assignment_of("y")
    assert found is not None
    assert found[0] == "t"
    assert isinstance(found[1], Visit)
    assert plan.assignment_of("z") is None
    assert plan.routed_job_ids == {"x", "y"}
