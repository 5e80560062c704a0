"""Urgent insertion into a live plan."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dispatch import (
    Break,
    Job,
    Plan,
    Problem,
    Technician,
    Unassigned,
    Weights,
    apply_insertion,
    check_plan,
    insert_job,
    plan_objective,
)
from dispatch.schedule import build_route
from dispatch.solver import solve
from tests.dispatch.conftest import make_problem, random_problem, tech


def plan_of(problem: Problem, routes: dict[str, list[str]]) -> Plan:
    """A hand-made plan: the given sequences, everything else unassigned."""
    built = []
    for tid, ids in routes.items():
        r = build_route(problem, problem.technician(tid), [problem.job(i) for i in ids])
        assert r is not None
        built.append(r)
    routed = {i for ids in routes.values() for i in ids}
    rest = tuple(Unassigned(j.id, "no_room", "new") for j in problem.jobs if j.id not in routed)
    plan = Plan(tuple(built), rest, 0)
    return replace(plan, objective=plan_objective(problem, plan))


def test_picks_the_nearest_technician() -> None:
    p = make_problem([tech("west", 0), tech("east", 7)], [Job("a", 1, 10), Job("b", 6, 10), Job("new", 5, 10)])
    plan = plan_of(p, {"west": ["a"], "east": ["b"]})
    ins = insert_job(p, plan, "new")
    assert ins.technician_id == "east"
    assert ins.added_travel == 20  # 7 -> 5 -> 6 -> 7 instead of 7 -> 6 -> 7
    new = apply_insertion(p, plan, ins)
    assert check_plan(p, new) == []
    assert new.assignment_of("new") is not None
    assert new.unassigned == ()
    assert new.objective == plan_objective(p, new)


def test_respects_skills_windows_and_max_jobs() -> None:
    p = make_problem(
        [tech("near", 0, max_jobs=1), tech("skilled", 7, skills={"gas"}), tech("idle", 2)],
        [Job("busy", 1, 10), Job("new", 1, 10, skills={"gas"}, windows=[(100, 120)])],
    )
    plan = plan_of(p, {"near": ["busy"]})
    ins = insert_job(p, plan, "new")
    assert ins.technician_id == "skilled"
    assert ins.start is not None
    assert 100 <= ins.start <= 120
    reasons = {c.technician_id: c.reason for c in ins.candidates}
    assert "no skill 'gas'" in reasons["near"]
    assert "no skill 'gas'" in reasons["idle"]
    assert check_plan(p, apply_insertion(p, plan, ins)) == []


def test_reports_full_technician_as_nearer_but_fully_booked() -> None:
    p = make_problem([tech("near", 0, max_jobs=1), tech("far", 7)], [Job("busy", 1, 10), Job("new", 2, 10)])
    plan = plan_of(p, {"near": ["busy"]})
    ins = insert_job(p, plan, "new")
    assert ins.technician_id == "far"
    near = next(c for c in ins.candidates if c.technician_id == "near")
    assert not near.feasible
    assert near.reason.startswith("nearer but fully booked")


def test_window_reason_names_arrival_and_window_end() -> None:
    p = make_problem([tech("t", 0)], [Job("new", 7, 10, windows=[(0, 30)])])
    ins = insert_job(p, plan_of(p, {}), "new")
    assert ins.technician_id is None
    cand = ins.candidates[0]
    assert cand.reason == "would arrive 09:10, window ends 08:30"
    assert cand.lateness == 40
    assert "no technician can take it" in ins.reason


def test_keeps_existing_windows() -> None:
    # Inserting before the tight job would make it late, so the job goes after it.
    p = make_problem([tech("t", 0)], [Job("tight", 4, 10, windows=[(40, 45)]), Job("new", 1, 30)])
    plan = plan_of(p, {"t": ["tight"]})
    ins = insert_job(p, plan, "new")
    assert ins.technician_id == "t"
    assert ins.position == 1
    assert check_plan(p, apply_insertion(p, plan, ins)) == []


def test_respects_locked_first_stop() -> None:
    p = make_problem(
        [tech("t", 0)],
        [Job("lock", 5, 10, locked=True, pinned_technician_id="t"), Job("new", 1, 10)],
    )
    plan = plan_of(p, {"t": ["lock"]})
    ins = insert_job(p, plan, "new")
    assert ins.position == 1
    new = apply_insertion(p, plan, ins)
    route = new.route_of("t")
    assert route is not None
    assert route.job_ids == ("lock", "new")
    assert check_plan(p, new) == []


def test_respects_capacity() -> None:
    p = make_problem(
        [tech("small", 0, capacity=3), tech("big", 7)], [Job("a", 1, 10, demand=2), Job("new", 1, 10, demand=2)]
    )
    plan = plan_of(p, {"small": ["a"]})
    ins = insert_job(p, plan, "new")
    assert ins.technician_id == "big"
    small = next(c for c in ins.candidates if c.technician_id == "small")
    assert "capacity" in small.reason


def test_break_can_move_to_either_side_of_the_new_job() -> None:
    p = make_problem(
        [tech("t", 0, lunch=Break(60, 200, 30))],
        [Job("a", 1, 30), Job("b", 3, 30, windows=[(200, 400)]), Job("new", 2, 30)],
    )
    plan = plan_of(p, {"t": ["a", "b"]})
    ins = insert_job(p, plan, "new")
    assert ins.technician_id == "t"
    new = apply_insertion(p, plan, ins)
    assert check_plan(p, new) == []
    route = new.route_of("t")
    assert route is not None
    assert route.break_start is not None


def test_sla_deadline_prefers_earliest_technician() -> None:
    p = make_problem(
        [tech("cheap", 0), tech("fast", 4)],
        [Job("x", 1, 200, windows=[(10, 15)]), Job("urgent", 2, 10, sla_deadline=40)],
    )
    plan = plan_of(p, {"cheap": ["x"]})
    # "cheap" adds less travel but can only come after x, 190 minutes late.
    ins = insert_job(p, plan, "urgent")
    assert ins.technician_id == "fast"
    cheap = next(c for c in ins.candidates if c.technician_id == "cheap")
    assert cheap.feasible
    assert cheap.lateness == 190
    assert insert_job(p, plan, "urgent", prefer_earliest=True).technician_id == "fast"


def test_rejects_already_routed_job(basic: Problem) -> None:
    plan = solve(basic, workers=1, explain=False)
    with pytest.raises(ValueError, match="already in the plan"):
        insert_job(basic, plan, "j1")


def test_apply_refuses_failed_insertion() -> None:
    p = make_problem([tech("t", 0)], [Job("new", 7, 10, windows=[(0, 30)])])
    plan = plan_of(p, {})
    with pytest.raises(ValueError, match="nothing to apply"):
        apply_insertion(p, plan, insert_job(p, plan, "new"))


def test_reinserting_removed_jobs_keeps_plans_valid() -> None:
    p = random_problem(40, 4, seed=2, lunch=True, skills=True)
    plan = solve(p, time_limit_s=1.0, workers=1, explain=False)
    for route in plan.routes:
        if len(route.visits) < 2:
            continue
        victim = route.visits[len(route.visits) // 2].job_id
        t = p.technician(route.technician_id)
        rest = [p.job(v.job_id) for v in route.visits if v.job_id != victim]
        shorter = build_route(p, t, rest)
        assert shorter is not None
        cut = replace(
            plan,
            routes=tuple(shorter if r is route else r for r in plan.routes),
            unassigned=plan.unassigned + (Unassigned(victim, "no_room", "x"),),
        )
        ins = insert_job(p, cut, victim)
        assert ins.technician_id is not None
        assert check_plan(p, apply_insertion(p, cut, ins)) == []


def test_every_technician_is_a_candidate(basic: Problem) -> None:
    extra = replace(basic, jobs=basic.jobs + (Job("new", 3, 10),))
    plan = solve(basic, workers=1, explain=False)
    plan = replace(plan, unassigned=(Unassigned("new", "no_room", "new"),))
    ins = insert_job(extra, plan, "new")
    assert [c.technician_id for c in ins.candidates] == ["west", "east"]
    assert all(c.reason for c in ins.candidates)


def test_idle_technician_is_used_from_home() -> None:
    p = make_problem([Technician("t", 2, 0, 480, end_node=0)], [Job("new", 3, 10)])
    ins = insert_job(p, plan_of(p, {}), "new")
    assert ins.technician_id == "t"
    assert ins.arrival == 10
    assert ins.added_travel == 10 + 30


def test_a_job_that_fits_nowhere_is_placed_by_moving_another_job() -> None:
    from dispatch.insertion import insert_by_exchange
    from dispatch.result import Plan, Unassigned, check_plan, plan_objective
    from dispatch.schedule import build_route

    west = tech("west", 0, skills=frozenset({"gas"}))
    west = Technician(west.id, 0, 0, 200, skills=frozenset({"gas"}))  # a short day
    east = tech("east", 7)
    gas = Job("gas", 1, 100, windows=[(0, 100)], skills=frozenset({"gas"}))
    movable = Job("movable", 2, 100)
    problem = make_problem([west, east], [gas, movable])
    route = build_route(problem, west, [movable])
    plan = Plan((route,), (Unassigned("gas", "no_room", "full"),), 0)
    plan = Plan(plan.routes, plan.unassigned, plan_objective(problem, plan))
    assert insert_job(problem, plan, "gas").technician_id is None  # plain insertion fails

    for first in (False, True):
        better = insert_by_exchange(problem, plan, "gas", first=first)

        assert better is not None
        assert check_plan(problem, better) == []
        assert better.unassigned == ()
        assert better.assignment_of("gas")[0] == "west"
        assert better.assignment_of("movable")[0] == "east"
        assert better.objective < plan.objective


def test_exchange_never_moves_a_locked_or_pinned_job() -> None:
    from dispatch.insertion import insert_by_exchange
    from dispatch.result import Plan, Unassigned, plan_objective
    from dispatch.schedule import build_route

    west = Technician("west", 0, 0, 200, skills=frozenset({"gas"}))
    gas = Job("gas", 1, 100, windows=[(0, 100)], skills=frozenset({"gas"}))
    pinned = Job("pinned", 2, 100, pinned_technician_id="west")
    problem = make_problem([west, tech("east", 7)], [gas, pinned])
    plan = Plan((build_route(problem, west, [pinned]),), (Unassigned("gas", "no_room", "full"),), 0)
    plan = Plan(plan.routes, plan.unassigned, plan_objective(problem, plan))

    assert insert_by_exchange(problem, plan, "gas") is None


def test_a_closed_technician_gets_no_new_job_and_says_why() -> None:
    p = make_problem([tech("west", 0), tech("east", 7)], [Job("new", 1, 10)])
    open_plan = insert_job(p, plan_of(p, {}), "new")
    assert open_plan.technician_id == "west"

    ins = insert_job(p, plan_of(p, {}), "new", closed={"west": "over-booked"})

    assert ins.technician_id == "east"
    west = next(c for c in ins.candidates if c.technician_id == "west")
    assert not west.feasible
    assert west.reason == "over-booked"


def test_insertion_counts_the_delay_it_causes_to_later_jobs() -> None:
    # The technician goes 0 -> "x" (node 4, urgent, waiting since 0) and ends at node 4.
    # A 2-hour job at node 2 fits before "x" at no extra travel, or after it for 40 more;
    # before, it delays "x" by 120 minutes, at 0.5 per minute (urgent: 0.1 x 5): 60.
    jobs = [Job("x", 4, 10, priority=4, ready=0), Job("new", 2, 120)]
    techs = [Technician("t", 0, 0, 480, end_node=4)]
    p = make_problem(techs, jobs)
    ins = insert_job(p, plan_of(p, {"t": ["x"]}), "new")
    assert ins.position == 1
    assert ins.added_travel == 40
    new = apply_insertion(p, plan_of(p, {"t": ["x"]}), ins)
    assert check_plan(p, new) == []
    # Without waiting costs the free position before "x" wins.
    q = make_problem(techs, jobs, weights=Weights(waiting=0))
    assert insert_job(q, plan_of(q, {"t": ["x"]}), "new").position == 0


def test_insertion_score_is_the_change_of_the_plan_objective() -> None:
    # Without lunch breaks the insertion's score is exact: waiting, lateness and promise
    # costs of the new job and of every later job it pushes.
    from dispatch.insertion import _Evaluator

    p = random_problem(25, 3, seed=3)
    jobs = [
        replace(j, ready=(k * 13) % 300 - 50, priority=k % 3, sla_deadline=250 + k if k % 4 == 0 else None)
        for k, j in enumerate(p.jobs)
    ]
    p = replace(p, jobs=tuple(jobs))
    full = solve(p, time_limit_s=1.0, workers=1, explain=False)
    checked = 0
    for route in full.routes:
        for visit in route.visits[:-1]:  # a job with later jobs behind it
            rest = [p.job(v.job_id) for v in route.visits if v.job_id != visit.job_id]
            shorter = build_route(p, p.technician(route.technician_id), rest)
            if shorter is None:
                continue
            routes = tuple(shorter if r.technician_id == route.technician_id else r for r in full.routes)
            base = Plan(routes, (*full.unassigned, Unassigned(visit.job_id, "no_room", "")), 0)
            base = replace(base, objective=plan_objective(p, base))
            ins = insert_job(p, base, visit.job_id)
            assert ins.technician_id is not None
            _, best = _Evaluator(p, base)._for_state(
                p.job(visit.job_id), _Evaluator(p, base).state_of(ins.technician_id)
            )
            assert best is not None
            after = apply_insertion(p, base, ins)
            job = p.job(visit.job_id)
            assert best.score == after.objective - base.objective + p.drop_penalty(job)
            checked += 1
    assert checked >= 10
