"""Explanations list every technician with a reason."""

from __future__ import annotations

from dispatch import Job, Problem, Technician, explain_job
from dispatch.solver import solve
from tests.dispatch.conftest import make_problem, tech


def scenario() -> Problem:
    return make_problem(
        [
            tech("ann", 0, skills={"hvac"}),
            tech("bob", 1, max_jobs=1),
            tech("cat", 7, skills={"hvac"}),
            Technician("dan", 2, 300, 480, skills={"hvac"}),
        ],
        [
            Job("ac", 2, 30, skills={"hvac"}, windows=[(0, 120)]),
            Job("bob_busy", 1, 30),
        ],
    )


def test_solve_attaches_an_explanation_per_job() -> None:
    p = scenario()
    plan = solve(p, workers=1)
    assert set(plan.explanations) == {"ac", "bob_busy"}
    exp = plan.explanations["ac"]
    assert exp.chosen_technician_id == "ann"
    assert [c.technician_id for c in exp.candidates] == ["ann", "bob", "cat", "dan"]
    assert all(c.reason for c in exp.candidates)


def test_reasons_name_skills_shift_and_choice() -> None:
    p = scenario()
    plan = solve(p, workers=1)
    by_tech = {c.technician_id: c for c in explain_job(p, plan, "ac").candidates}
    assert by_tech["ann"].feasible
    assert by_tech["ann"].reason.startswith("chosen:")
    assert not by_tech["bob"].skill_ok
    assert by_tech["bob"].reason == "no skill 'hvac'"
    assert by_tech["cat"].feasible
    assert "more than ann" in by_tech["cat"].reason
    assert (by_tech["cat"].added_travel or 0) > (by_tech["ann"].added_travel or 0)
    assert by_tech["dan"].reason.startswith("off shift")


def test_late_arrival_reason() -> None:
    """A technician free from 11:20 cannot make a window closing at 11:25."""
    p = make_problem(
        [tech("near", 0), Technician("late", 0, 0, 480, available_from=200)], [Job("j", 1, 10, windows=[(0, 205)])]
    )
    plan = solve(p, workers=1)
    late = next(c for c in plan.explanations["j"].candidates if c.technician_id == "late")
    assert late.reason == "would arrive 11:30, window ends 11:25"
    assert late.arrival == 210
    assert late.lateness == 5


def test_unassigned_job_is_explained_without_choice() -> None:
    p = make_problem([tech("t", 0)], [Job("gas", 1, 10, skills={"gas"})])
    exp = explain_job(p, solve(p, workers=1, explain=False), "gas")
    assert exp.chosen_technician_id is None
    assert exp.candidates[0].reason == "no skill 'gas'"
