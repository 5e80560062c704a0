"""Explanations: for a job, what every technician would have cost.

``solve`` attaches an explanation for every job to the plan it returns (pass
``explain=False`` to skip it); :func:`explain_job` recomputes one on demand,
for example after a dispatcher edited the plan. Both reuse the O(1)-per-position
insertion checks of :mod:`dispatch.insertion`.
"""

from __future__ import annotations

from dispatch.insertion import _Best, _Evaluator, _relative
from dispatch.model import Problem
from dispatch.result import Candidate, Explanation, Plan

__all__ = ["explain_job", "explain_plan"]


def explain_job(problem: Problem, plan: Plan, job_id: str) -> Explanation:
    """Compare all technicians for one job of a plan.

    Parameters
    ----------
    problem
        The problem.
    plan
        The plan (the job may be routed or unassigned).
    job_id
        The job to explain.

    Returns
    -------
    Explanation
        ``chosen_technician_id`` (``None`` if unassigned) and one candidate per
        technician: for the chosen one, the job's actual arrival and the travel
        cost it adds to its route; for the others, their cheapest feasible
        insertion, or why there is none.
    """
    return _explain(problem, plan, _Evaluator(problem, plan), job_id)


def explain_plan(problem: Problem, plan: Plan) -> dict[str, Explanation]:
    """Explanations for every job of the problem, keyed by job id."""
    ev = _Evaluator(problem, plan)
    return {job.id: _explain(problem, plan, ev, job.id) for job in problem.jobs}


def _explain(problem: Problem, plan: Plan, ev: _Evaluator, job_id: str) -> Explanation:
    job = problem.job(job_id)
    where = plan.assignment_of(job_id)
    if where is None:
        return Explanation(None, tuple(c for c, _ in ev.candidates(job)))
    tech_id, visit = where
    tech = problem.technician(tech_id)
    route = plan.route_of(tech_id)
    assert route is not None
    c = problem.cost_matrix
    ids = route.job_ids
    k = ids.index(job_id)
    prev = tech.start_node if k == 0 else problem.job(ids[k - 1]).node
    nxt = tech.home_node if k == len(ids) - 1 else problem.job(ids[k + 1]).node
    added = c[prev][job.node] + c[job.node][nxt] - (c[prev][nxt] if len(ids) > 1 else 0)
    lateness = 0 if job.sla_deadline is None else max(0, visit.end - job.sla_deadline)
    reason = f"arrives {problem.format_time(visit.arrival)}, adds {added} travel"
    if lateness:
        reason += f", {lateness} past the SLA deadline"
    chosen = Candidate(tech.id, tech.label, True, True, visit.travel, visit.arrival, lateness,
                       added, reason)
    best = _Best(k, visit.arrival, visit.start, visit.travel, added, lateness, added)
    others = iter(ev.candidates(job, skip=tech_id))
    out = []
    for t in problem.technicians:
        if t.id == tech_id:
            out.append(_relative(problem, job, chosen, best, chosen, best, ev))
        else:
            cand, b = next(others)
            out.append(_relative(problem, job, cand, b, chosen, best, ev))
    return Explanation(tech_id, tuple(out))
