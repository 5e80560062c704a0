"""Explanations: for a job, what the technicians near it would have cost.

``solve`` attaches an explanation for every job to the plan it returns (pass
``explain=False`` to skip it); :func:`explain_job` recomputes one on demand,
for example after a dispatcher edited the plan. Both reuse the O(1)-per-position
insertion checks of :mod:`dispatch.insertion`.

With up to ``NEAREST`` technicians every one is compared. A larger fleet is
narrowed to the ``NEAREST`` technicians whose day passes closest to the job
(home, current position or any stop, by travel time to it), plus the chosen
one: a dispatcher asks why a *nearer* technician was not chosen, and comparing
all 200 technicians of a big day for 2,000 jobs would take half a minute.
"""

from __future__ import annotations

import numpy as np

from dispatch.insertion import _Best, _Evaluator, _relative
from dispatch.model import Problem, SparseMatrix
from dispatch.result import Candidate, Explanation, Plan

__all__ = ["NEAREST", "explain_job", "explain_plan"]

NEAREST = 20


def explain_job(problem: Problem, plan: Plan, job_id: str) -> Explanation:
    """Compare the technicians for one job of a plan.

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
        compared technician (see ``NEAREST``), in problem order: for the chosen one, the
        job's actual arrival and the travel cost it adds to its route; for the others, their cheapest feasible
        insertion, or why there is none.
    """
    ev = _Evaluator(problem, plan)
    return _explain(problem, plan, ev, _Nearness(problem, ev), job_id)


def explain_plan(problem: Problem, plan: Plan) -> dict[str, Explanation]:
    """Explanations for every job of the problem, keyed by job id."""
    ev = _Evaluator(problem, plan)
    near = _Nearness(problem, ev)
    return {job.id: _explain(problem, plan, ev, near, job.id) for job in problem.jobs}


class _Nearness:
    """Which technicians an explanation compares (all of a small fleet)."""

    def __init__(self, problem: Problem, ev: _Evaluator) -> None:
        self.all = len(problem.technicians) <= NEAREST
        if self.all:
            return
        self.tech_ids = [st.tech.id for st in ev.states]
        nodes = [st.nodes for st in ev.states]
        self.sparse = problem.durations if isinstance(problem.durations, SparseMatrix) else None
        self.nodes = nodes
        if self.sparse is not None:
            return
        self.flat = np.fromiter((n for ns in nodes for n in ns), dtype=np.int64)
        self.offsets = np.cumsum([0] + [len(ns) for ns in nodes[:-1]])
        used = np.unique(self.flat)
        # Only the rows of nodes on some route: travel from each to every node.
        self.sub = np.asarray([problem.durations[n] for n in used.tolist()], dtype=np.int64)
        self.flat_rows = np.searchsorted(used, self.flat)

    def ids(self, node: int, keep: str | None) -> set[str] | None:
        """Technician ids to compare for a job at ``node`` (``None``: everyone)."""
        if self.all:
            return None
        if self.sparse is not None:  # a placement snapshot: few stored legs, look them up
            d = self.sparse
            closest = np.asarray([min(d[a][node] for a in ns) for ns in self.nodes])
        else:
            closest = np.minimum.reduceat(self.sub[self.flat_rows, node], self.offsets)
        picked = np.argsort(closest, kind="stable")[:NEAREST]
        return {self.tech_ids[v] for v in picked.tolist()} | ({keep} if keep else set())


def _explain(problem: Problem, plan: Plan, ev: _Evaluator, near: _Nearness, job_id: str) -> Explanation:
    job = problem.job(job_id)
    where = plan.assignment_of(job_id)
    among = near.ids(job.node, where[0] if where else None)
    if where is None:
        return Explanation(None, tuple(c for c, _ in ev.candidates(job, among=among)))
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
    chosen = Candidate(tech.id, tech.label, True, True, visit.travel, visit.arrival, lateness, added, reason)
    best = _Best(k, visit.arrival, visit.start, visit.travel, added, lateness, added)
    others = iter(ev.candidates(job, skip=tech_id, among=among))
    out = []
    for t in problem.technicians:
        if among is not None and t.id not in among:
            continue
        if t.id == tech_id:
            out.append(_relative(problem, job, chosen, best, chosen, best, ev))
        else:
            cand, b = next(others)
            out.append(_relative(problem, job, cand, b, chosen, best, ev))
    return Explanation(tech_id, tuple(out))
