"""The OR-Tools solver: each constraint has a test that fails if it is ignored."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from dispatch import (
    Break,
    Job,
    Plan,
    Problem,
    ProblemError,
    Technician,
    TimeWindow,
    Unassigned,
    Weights,
    check_plan,
    plan_objective,
)
from dispatch.solver import (
    _SLOW_OR_IRRELEVANT_OPERATORS,
    _Config,
    _Model,
    _prefilter,
    solve,
)
from tests.dispatch.conftest import line_matrix, make_problem, random_problem, tech


def planned(problem: Problem, initial: Plan | None = None) -> Plan:
    """Solve in-process and assert the plan is valid."""
    plan = solve(problem, time_limit_s=2.0, workers=1, initial=initial)
    assert check_plan(problem, plan) == []
    return plan


def tech_of(plan: Plan, job_id: str) -> str | None:
    found = plan.assignment_of(job_id)
    return None if found is None else found[0]


def test_basic_plan_serves_everyone_nearest_first(basic: Problem) -> None:
    plan = planned(basic)
    assert plan.unassigned == ()
    assert {tech_of(plan, "j1"), tech_of(plan, "j2")} == {"west"}
    assert {tech_of(plan, "j5"), tech_of(plan, "j6")} == {"east"}
    assert plan.objective == 80  # two out-and-back trips of 40


def test_small_problem_returns_fast(basic: Problem) -> None:
    started = time.monotonic()
    solve(basic, time_limit_s=30.0)
    assert time.monotonic() - started < 1.0


def test_twenty_job_day_stops_early() -> None:
    p = random_problem(20, 3, seed=4)
    started = time.monotonic()
    plan = solve(p, time_limit_s=30.0)
    assert time.monotonic() - started < 2.0
    assert check_plan(p, plan) == []


def test_skills_are_respected() -> None:
    p = make_problem(
        [tech("near", 0), tech("far", 7, skills={"hvac"})],
        [Job("fix", 1, 30, skills={"hvac"})],
    )
    assert tech_of(planned(p), "fix") == "far"


def test_unskilled_job_is_reported_not_dropped() -> None:
    p = make_problem([tech("t", 0)], [Job("ok", 1, 10), Job("gas", 2, 10, skills={"gas"})])
    plan = planned(p)
    entry = plan.unassigned_of("gas")
    assert entry is not None
    assert entry.code == "no_skilled_technician"
    assert "gas" in entry.reason
    assert tech_of(plan, "ok") == "t"


def test_time_window_is_respected() -> None:
    p = make_problem([tech("t", 0)], [Job("late", 1, 10, windows=[(300, 320)])])
    visit = planned(p).assignment_of("late")
    assert visit is not None
    assert 300 <= visit[1].start <= 320


def test_second_window_is_used_when_first_is_unreachable() -> None:
    # Arrival is at 50 at the earliest: the first window [0, 20] is gone.
    p = make_problem([tech("t", 0)], [Job("j", 5, 10, windows=[(0, 20), (200, 220)])])
    visit = planned(p).assignment_of("j")
    assert visit is not None
    assert 200 <= visit[1].start <= 220


def test_windows_drive_the_order() -> None:
    p = make_problem(
        [tech("t", 0)],
        [Job("far_first", 6, 10, windows=[(0, 70)]), Job("near_later", 1, 10, windows=[(200, 300)])],
    )
    route = planned(p).route_of("t")
    assert route is not None
    assert route.job_ids == ("far_first", "near_later")


def test_lunch_break_is_scheduled(lunch_problem: Problem) -> None:
    plan = planned(lunch_problem)
    route = plan.route_of("ann")
    assert route is not None
    assert len(route.visits) == 3
    assert route.break_start is not None
    assert 120 <= route.break_start <= 150
    for v in route.visits:
        assert v.end <= route.break_start or v.start >= route.break_start + 60


def test_lunch_break_can_make_a_job_unplannable() -> None:
    # Without lunch the three 140-minute jobs fit a 480-minute day; with a
    # mandatory one-hour break in the middle only two do.
    jobs = [Job(f"j{i}", i, 140) for i in (1, 2, 3)]
    p_free = make_problem([tech("t")], jobs)
    p_lunch = make_problem([tech("t", lunch=Break(150, 180, 60))], jobs)
    assert planned(p_free).unassigned == ()
    lunch_plan = planned(p_lunch)
    assert len(lunch_plan.unassigned) == 1
    assert lunch_plan.unassigned[0].code == "no_room"


def test_pinned_technician_is_respected() -> None:
    p = make_problem([tech("near", 0), tech("far", 7)], [Job("j", 1, 10, pinned_technician_id="far")])
    assert tech_of(planned(p), "j") == "far"


def test_pinned_start_is_respected() -> None:
    p = make_problem([tech("t", 0)], [Job("j", 1, 10, pinned_start=123)])
    visit = planned(p).assignment_of("j")
    assert visit is not None
    assert visit[1].start == 123


def test_pin_to_unskilled_technician_is_reported() -> None:
    p = make_problem([tech("a"), tech("b", skills={"x"})], [Job("j", 1, 10, skills={"x"}, pinned_technician_id="a")])
    entry = planned(p).unassigned_of("j")
    assert entry is not None
    assert entry.code == "pin_conflict"


def test_locked_job_stays_first_with_its_technician() -> None:
    # Serving node 1 first would be natural, but the technician is already on
    # the way to node 6.
    p = make_problem(
        [tech("a", 0), tech("b", 7)],
        [Job("on_way", 6, 10, locked=True, pinned_technician_id="a"), Job("near", 1, 10)],
    )
    route = planned(p).route_of("a")
    assert route is not None
    assert route.job_ids[0] == "on_way"


def test_max_jobs_is_respected() -> None:
    p = make_problem(
        [tech("a", 0, max_jobs=1), tech("b", 7)],
        [Job("x", 1, 10), Job("y", 1, 10), Job("z", 2, 10)],
    )
    plan = planned(p)
    route = plan.route_of("a")
    # Uncapped, "a" would take all three (40 minutes of driving in total).
    assert route is None or len(route.visits) <= 1
    assert plan.unassigned == ()


def test_capacity_is_respected() -> None:
    p = make_problem(
        [tech("a", 0, capacity=2), tech("b", 7)],
        [Job("x", 1, 10, demand=1), Job("y", 1, 10, demand=1), Job("z", 2, 10, demand=1)],
    )
    plan = planned(p)
    route = plan.route_of("a")
    assert route is None or sum(p.job(i).demand for i in route.job_ids) <= 2
    assert plan.unassigned == ()


def test_shift_end_including_return_is_respected() -> None:
    # "a" could reach node 7 but not get home by 100; "b" can.
    p = make_problem(
        [Technician("a", 0, 0, 100), tech("b", 7)],
        [Job("far", 7, 10)],
    )
    assert tech_of(planned(p), "far") == "b"


def test_job_outside_every_shift_is_reported_infeasible() -> None:
    p = make_problem([Technician("a", 0, 0, 100)], [Job("late", 1, 10, windows=[(300, 400)])])
    entry = planned(p).unassigned_of("late")
    assert entry is not None
    assert entry.code == "infeasible"


def test_available_from_delays_the_start() -> None:
    p = make_problem([Technician("a", 3, 0, 480, end_node=0, available_from=200)], [Job("j", 4, 10)])
    route = planned(p).route_of("a")
    assert route is not None
    assert route.start_time >= 200
    assert route.visits[0].arrival == route.start_time + 10


def test_priority_decides_who_gets_served() -> None:
    p = make_problem(
        [tech("t", 0)],
        [Job("routine", 1, 400), Job("vip", 2, 400, priority=2)],
    )
    plan = planned(p)
    assert tech_of(plan, "vip") == "t"
    assert plan.unassigned_of("routine") is not None


def test_complaint_beats_same_priority() -> None:
    p = make_problem(
        [tech("t", 0)],
        [Job("calm", 1, 400), Job("angry", 2, 400, complaint=True)],
    )
    assert tech_of(planned(p), "angry") == "t"


def test_sla_deadline_reorders_jobs() -> None:
    p = make_problem(
        [tech("t", 0)],
        [Job("near", 1, 60), Job("urgent", 5, 60, sla_deadline=120)],
    )
    route = planned(p).route_of("t")
    assert route is not None
    assert route.job_ids[0] == "urgent"


def test_promised_technician_is_kept_when_cheap_to_keep() -> None:
    p = make_problem([tech("a", 0), tech("b", 3)], [Job("j", 2, 10, promised_technician_id="a")])
    assert tech_of(planned(p), "j") == "a"


def test_promised_window_is_kept() -> None:
    p = make_problem([tech("t", 0)], [Job("j", 1, 10, promised_window=TimeWindow(200, 230))])
    visit = planned(p).assignment_of("j")
    assert visit is not None
    assert 200 <= visit[1].start <= 230


def test_urgent_job_goes_to_the_technician_who_arrives_soonest() -> None:
    # "near" is on site at node 2 until 200, then 10 minutes from the order: 20 more
    # travel, serves at 210. "free" is idle at node 1: 40 more travel, serves at 20.
    # Travel alone picks "near"; at 0.5 per minute of waiting (urgent: 0.1 x 5), 190
    # minutes sooner are worth far more than 20 minutes of driving.
    jobs = [Job("long", 2, 200, pinned_technician_id="near", pinned_start=0), Job("urgent", 3, 30, priority=4, ready=0)]
    techs = [tech("near", 2), tech("free", 1)]
    assert tech_of(planned(make_problem(techs, jobs)), "urgent") == "free"
    driving_only = make_problem(techs, jobs, weights=Weights(waiting=0))
    assert tech_of(planned(driving_only), "urgent") == "near"


def test_waiting_spreads_work_instead_of_one_long_day() -> None:
    # Four 90-minute orders at node 4, waiting since 0, both technicians at node 0: one
    # technician doing all four drives least (80 vs 160) but the last customer waits
    # until 310 and that technician is back at 440 while the other never leaves.
    jobs = [Job(f"o{k}", 4, 90, priority=2, ready=0) for k in range(4)]
    techs = [tech("a", 0), tech("b", 0)]
    driving_only = planned(make_problem(techs, jobs, weights=Weights(waiting=0)))
    assert len([r for r in driving_only.routes if r.visits]) == 1
    plan = planned(make_problem(techs, jobs))
    sizes = sorted(len(r.visits) for r in plan.routes)
    assert sizes == [2, 2]
    assert max(r.end_time for r in plan.routes) == 260
    assert max(v.start for r in plan.routes for v in r.visits) == 130


def test_fitting_promised_window_is_kept_even_when_breaking_it_saves_travel() -> None:
    # Travel is priced (200 per node, 10 minutes per node). "a" was promised 100-130 at
    # node 1; serving it with "b" at 20 and driving on to "c" saves 1,600 of travel
    # (no trip back to node 1) for 80 minutes early: worth it at the old 10 per minute,
    # not at the default (a 60th of the drop penalty per minute).
    jobs = [
        Job("b", 1, 10, windows=[(0, 30)]),
        Job("c", 5, 10, windows=[(60, 70)]),
        Job("a", 1, 10, promised_window=TimeWindow(100, 130)),
    ]
    techs = [Technician("t", 0, 0, 480, end_node=5)]
    costs = [[20 * x for x in row] for row in line_matrix()]
    p = Problem(tuple(techs), tuple(jobs), line_matrix(), costs=costs)
    visit = planned(p).assignment_of("a")
    assert visit is not None
    assert 100 <= visit[1].start <= 130
    weak = Problem(tuple(techs), tuple(jobs), line_matrix(), costs=costs, weights=Weights(promise_window=10))
    found = planned(weak).assignment_of("a")
    assert found is not None
    assert found[1].start < 100


def test_objective_with_waiting_matches_the_plan_objective() -> None:
    p = random_problem(30, 3, seed=11, lunch=True)
    jobs = []
    for k, j in enumerate(p.jobs):
        deadline = 200 + 10 * k if k % 3 == 0 else None
        promised = TimeWindow(j.windows[0].start, j.windows[0].start + 60) if k % 7 == 0 else None
        jobs.append(replace(j, ready=k * 7 - 60, priority=k % 4, sla_deadline=deadline, promised_window=promised))
    p = replace(p, jobs=tuple(jobs))
    plan = solve(p, time_limit_s=3.0, workers=1)
    assert check_plan(p, plan) == []
    assert plan.objective == plan_objective(p, plan)
    no_waiting = replace(p, weights=Weights(waiting=0))
    waited = sum(
        round(p.waiting_weight(p.job(v.job_id)) * max(0, v.start - max(0, p.job(v.job_id).ready)))
        for r in plan.routes
        for v in r.visits
    )
    assert waited > 0
    assert plan.objective == plan_objective(no_waiting, plan) + waited


def test_progress_with_soft_deadlines_does_not_abort() -> None:
    # The iterated local search reports solutions whose start times are not fixed yet;
    # reading their cost with Value() used to abort the whole process (a C++ CHECK).
    p = random_problem(20, 3, seed=4)
    p = replace(p, jobs=tuple(replace(j, sla_deadline=200, ready=0) for j in p.jobs))
    messages: list[str] = []
    plan = solve(p, time_limit_s=2.0, workers=1, progress=messages.append)
    assert check_plan(p, plan) == []
    assert any(": cost " in m for m in messages)


def test_invalid_problem_raises() -> None:
    with pytest.raises(ProblemError):
        solve(make_problem([tech("t")], [Job("j", 99)]))


def test_warm_start_is_at_least_as_good_as_initial() -> None:
    p = random_problem(25, 4, seed=3)
    first = solve(p, time_limit_s=0.5, workers=1, explain=False)
    again = solve(p, time_limit_s=1.0, workers=1, initial=first, explain=False)
    assert check_plan(p, again) == []
    assert again.objective <= first.objective


def test_warm_start_from_a_bad_plan_improves_it() -> None:
    p = make_problem([tech("west", 0), tech("east", 7)], [Job("j1", 1, 10), Job("j6", 6, 10)])
    crossed = planned(
        make_problem(
            [tech("west", 0), tech("east", 7)],
            [Job("j1", 1, 10, pinned_technician_id="east"), Job("j6", 6, 10, pinned_technician_id="west")],
        )
    )
    better = planned(p, initial=crossed)
    assert better.objective < crossed.objective
    assert tech_of(better, "j1") == "west"


def test_two_worker_portfolio_returns_a_valid_plan() -> None:
    p = random_problem(30, 4, seed=7, lunch=True, skills=True)
    messages: list[str] = []
    plan = solve(p, time_limit_s=2.0, workers=2, progress=messages.append)
    assert check_plan(p, plan) == []
    assert any("worker 1" in m for m in messages)
    assert set(plan.explanations) == {j.id for j in p.jobs}


@pytest.mark.slow
def test_medium_day_with_all_features_is_valid() -> None:
    p = random_problem(120, 10, seed=11, lunch=True, skills=True)
    plan = solve(p, time_limit_s=4.0)
    assert check_plan(p, plan) == []
    assert len(plan.unassigned) < 20


def test_search_parameters_switch_operators_off(basic: Problem) -> None:
    """Regression: OptionalBoolean FALSE is 2, not 3 (TRUE)."""
    _, allowed = _prefilter(basic)
    model = _Model(basic, list(basic.jobs), allowed)
    params = model.parameters(_Config("w", 0, "PARALLEL_CHEAPEST_INSERTION", ils=True), 1.0, False)
    ops = params.local_search_operators
    assert all(getattr(ops, name) == 2 for name in _SLOW_OR_IRRELEVANT_OPERATORS)
    assert ops.use_make_inactive == 3
    assert ops.use_relocate == 3
    ruin = params.iterated_local_search_parameters.ruin_recreate_parameters.ruin_strategies
    assert ruin[0].HasField("sisr")


def test_a_big_day_gets_a_first_plan_early_and_never_ends_worse(monkeypatch) -> None:
    import dispatch.solver as solver

    monkeypatch.setattr(solver, "QUICK_PLAN_MIN_JOBS", 20)  # this 30-job day counts as big
    p = random_problem(30, 4, seed=7, lunch=True, skills=True)
    messages: list[str] = []
    plan = solve(p, time_limit_s=1.0, workers=1, progress=messages.append, explain=False)
    assert check_plan(p, plan) == []
    first = [m for m in messages if m.startswith("first plan: cost ")]
    assert len(first) == 1
    assert messages.index(first[0]) < messages.index(next(m for m in messages if m.startswith("worker 0: objective")))
    # A day with nothing planned yet (the server's first re-plan passes its empty plan) too.
    nothing = Plan((), tuple(Unassigned(j.id, "unplanned", "new") for j in p.jobs), 0)
    again: list[str] = []
    solve(p, time_limit_s=1.0, workers=1, initial=nothing, progress=again.append, explain=False)
    assert any(m.startswith("first plan: cost ") for m in again)

    # A search that finds nothing: the first plan is what comes back.
    real = solver._solve_config

    def search_finds_nothing(problem, allowed, config, *args, first_only=False, **kwargs):
        if first_only:
            return real(problem, allowed, config, *args, first_only=True, **kwargs)
        return solver._RawSolution((), tuple(allowed), 0, "NO_SOLUTION")

    monkeypatch.setattr(solver, "_solve_config", search_finds_nothing)
    messages.clear()
    kept = solve(p, time_limit_s=1.0, workers=1, progress=messages.append, explain=False)
    assert check_plan(p, kept) == []
    assert any(m.startswith("the first plan stays the best") for m in messages)
    placed = int(first[0].split(", ")[-1].split(" of ")[0])
    assert sum(len(route.visits) for route in kept.routes) == placed > 20
