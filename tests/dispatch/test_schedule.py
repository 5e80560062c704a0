"""Timing of a fixed sequence (the scheduler behind plans and insertions)."""

from __future__ import annotations

from dispatch import Break, Job, Plan, Problem, TimeWindow, check_plan
from dispatch.schedule import break_gap_of, build_route, earliest_in, latest_in
from tests.dispatch.conftest import make_problem, tech


def test_window_helpers() -> None:
    w = ((10, 20), (50, 60))
    assert earliest_in(w, 0) == 10
    assert earliest_in(w, 30) == 50
    assert earliest_in(w, 61) is None
    assert latest_in(w, 40) == 20
    assert latest_in(w, 5) is None
    assert earliest_in(None, 7) == latest_in(None, 7) == 7


def test_leaves_just_in_time_and_waits_for_windows() -> None:
    p = make_problem([tech("t", 0)], [Job("a", 2, 10, windows=[(100, 200)]), Job("b", 3, 10)])
    route = build_route(p, p.technicians[0], [p.job("a"), p.job("b")])
    assert route is not None
    assert route.start_time == 80  # 20 minutes before the window opens
    assert [(v.arrival, v.start, v.end) for v in route.visits] == [(100, 100, 110), (120, 120, 130)]
    assert route.end_time == 160
    assert route.travel_total == 60


def test_infeasible_sequence_returns_none() -> None:
    p = make_problem([tech("t", 0)], [Job("a", 2, 10, windows=[(0, 5)])])
    assert build_route(p, p.technicians[0], [p.job("a")]) is None


def test_break_taken_en_route_delays_arrival() -> None:
    p = make_problem([tech("t", 0, lunch=Break(0, 10, 30))], [Job("a", 3, 10)])
    route = build_route(p, p.technicians[0], [p.job("a")], break_gap=0)
    assert route is not None
    assert route.break_start == 0
    assert route.visits[0].arrival == 60
    assert break_gap_of(route) == 0
    assert check_plan(p, Plan((route,), (), 0)) == []


def test_break_gap_search_finds_a_feasible_gap(lunch_problem: Problem) -> None:
    t = lunch_problem.technicians[0]
    jobs = list(lunch_problem.jobs)
    assert build_route(lunch_problem, t, jobs, break_gap=0) is None  # lunch opens at 120
    route = build_route(lunch_problem, t, jobs)
    assert route is not None
    assert break_gap_of(route) == 1
    assert check_plan(lunch_problem, Plan((route,), (), 0)) == []


def test_waits_for_the_promised_window_when_possible() -> None:
    p = make_problem([tech("t", 0)], [Job("a", 1, 10, promised_window=TimeWindow(60, 90))])
    route = build_route(p, p.technicians[0], [p.job("a")])
    assert route is not None
    assert route.visits[0].start == 60
