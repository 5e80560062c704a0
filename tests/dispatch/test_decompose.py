"""Large days are cut into areas, solved apart and joined (dispatch.decompose)."""

from __future__ import annotations

import random
import time

import pytest

from dispatch import Job, Problem, Technician, check_plan, solve
from dispatch import solver as solver_module
from dispatch.decompose import partition, subproblem
from dispatch.explain import NEAREST, explain_plan


def two_towns(jobs_per_town: int = 30, techs_per_town: int = 4, *, seed: int = 3, skills: bool = False) -> Problem:
    """Two towns 200 minutes apart; homes and jobs scattered inside each."""
    rng = random.Random(seed)
    points: list[tuple[float, float]] = []
    techs: list[Technician] = []
    jobs: list[Job] = []
    for town, cx in (("w", 0.0), ("e", 200.0)):
        for k in range(techs_per_town):
            points.append((cx + rng.uniform(-10, 10), rng.uniform(-10, 10)))
            gas = skills and k == 0
            techs.append(Technician(f"{town}{k}", len(points) - 1, 0, 600, skills=frozenset({"gas"} if gas else set())))
        for i in range(jobs_per_town):
            points.append((cx + rng.uniform(-15, 15), rng.uniform(-15, 15)))
            a = rng.randrange(0, 360)
            jobs.append(
                Job(
                    f"{town}-job{i}",
                    len(points) - 1,
                    20,
                    windows=[(a, a + 180)],
                    skills=frozenset({"gas"} if skills and i % 6 == 0 else set()),
                )
            )
    d = [[round(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5) for bx, by in points] for ax, ay in points]
    return Problem(tuple(techs), tuple(jobs), d)


def allowed_of(problem: Problem) -> dict[str, list[int]]:
    excluded, allowed = solver_module._prefilter(problem)
    assert not excluded
    return allowed


def test_partition_follows_geography_and_covers_everything_once() -> None:
    problem = two_towns()
    parts = partition(problem, allowed_of(problem), 2)

    assert len(parts) == 2
    assert sorted(v for p in parts for v in p.technicians) == list(range(8))
    assert sorted(j for p in parts for j in p.jobs) == sorted(j.id for j in problem.jobs)
    for part in parts:
        towns = {problem.technicians[v].id[0] for v in part.technicians}
        assert len(towns) == 1, "a part mixes the two towns"
        town = towns.pop()
        assert all(j.startswith(town) for j in part.jobs)


def test_partition_sends_a_job_only_where_someone_may_do_it() -> None:
    problem = two_towns(skills=True)
    allowed = allowed_of(problem)
    for part in partition(problem, allowed, 4):
        for job_id in part.jobs:
            assert set(allowed[job_id]) & set(part.technicians), job_id


def test_pinned_job_goes_to_its_technicians_area_even_when_far() -> None:
    base = two_towns()
    jobs = list(base.jobs)
    jobs[0] = Job(jobs[0].id, jobs[0].node, 20, pinned_technician_id="e1")  # a west job
    problem = Problem(base.technicians, tuple(jobs), base.durations)
    parts = partition(problem, allowed_of(problem), 2)
    east = next(p for p in parts if problem.technician_index("e1") in p.technicians)
    assert jobs[0].id in east.jobs


def test_subproblem_keeps_the_whole_days_penalties() -> None:
    problem = two_towns()
    part = partition(problem, allowed_of(problem), 2)[0]
    sub = subproblem(problem, part)
    job = sub.jobs[0]
    assert sub.drop_penalty(job) == problem.drop_penalty(job)
    assert sub.broken_promise_penalty() == problem.broken_promise_penalty()
    assert [t.id for t in sub.technicians] == [problem.technicians[v].id for v in part.technicians]


def test_large_day_is_solved_by_area_and_passes_the_checker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The threshold is lowered so a small day takes the large-day path.
    monkeypatch.setattr(solver_module, "DECOMPOSE_ABOVE_JOBS", 20)
    monkeypatch.setattr(solver_module, "PART_JOBS", 15)
    problem = two_towns()
    messages: list[str] = []

    started = time.monotonic()
    plan = solve(problem, time_limit_s=4, progress=messages.append)
    took = time.monotonic() - started

    assert any("areas" in m for m in messages), messages
    assert check_plan(problem, plan) == []
    assert sum(len(r.visits) for r in plan.routes) == len(problem.jobs)
    for route in plan.routes:  # nobody drives to the other town
        town = route.technician_id[0]
        assert all(v.job_id.startswith(town) for v in route.visits)
    assert took < 4 + 1.0


def test_an_overloaded_area_hands_its_surplus_to_the_next_area(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(solver_module, "DECOMPOSE_ABOVE_JOBS", 5)
    monkeypatch.setattr(solver_module, "PART_JOBS", 6)
    # West: one technician and eight 100-minute jobs (at most five fit his day).
    # East, 200 minutes away: four technicians with one short job each.
    points = [(0.0, 0.0)] + [(float(i), 1.0) for i in range(8)]
    points += [(200.0 + k, 0.0) for k in range(4)] + [(200.0 + k, 2.0) for k in range(4)]
    d = [[round(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5) for bx, by in points] for ax, ay in points]
    techs = [Technician("w0", 0, 0, 600)] + [Technician(f"e{k}", 9 + k, 0, 600) for k in range(4)]
    jobs = [Job(f"w-job{i}", 1 + i, 100) for i in range(8)]
    jobs += [Job(f"e-job{k}", 13 + k, 20) for k in range(4)]
    problem = Problem(tuple(techs), tuple(jobs), d)

    plan = solve(problem, time_limit_s=3)

    assert check_plan(problem, plan) == []
    assert plan.unassigned == ()
    by_east = [v.job_id for r in plan.routes if r.technician_id != "w0" for v in r.visits if v.job_id.startswith("w")]
    assert len(by_east) >= 3


def test_big_fleet_explanations_compare_the_nearest_technicians() -> None:
    problem = two_towns(jobs_per_town=12, techs_per_town=NEAREST)  # 2 x NEAREST technicians
    plan = solve(problem, time_limit_s=2, explain=False)
    explanations = explain_plan(problem, plan)

    for job in problem.jobs:
        exp = explanations[job.id]
        ids = [c.technician_id for c in exp.candidates]
        assert len(ids) == len(set(ids)) <= NEAREST + 1
        if exp.chosen_technician_id is not None:
            assert exp.chosen_technician_id in ids
        # The compared technicians are the job's own town: the nearest ones.
        assert {i[0] for i in ids} == {job.id[0]}


def test_explanations_work_on_a_sparse_placement_matrix() -> None:
    from dispatch import SparseMatrix

    full = two_towns(jobs_per_town=6, techs_per_town=NEAREST)
    plan = solve(full, time_limit_s=1, explain=False)
    n = len(full.durations)
    sparse = SparseMatrix(n, default=10**6)
    for a in range(n):
        for b in range(n):
            sparse.set(a, b, full.durations[a][b])
    problem = Problem(full.technicians, full.jobs, sparse)
    dense = explain_plan(full, plan)
    light = explain_plan(problem, plan)
    assert {j: [c.technician_id for c in e.candidates] for j, e in light.items()} == {
        j: [c.technician_id for c in e.candidates] for j, e in dense.items()
    }
