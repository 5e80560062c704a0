"""Split a large day into areas that are solved separately.

OR-Tools' insertion heuristics grow roughly quadratically: on a 2,000-order,
200-technician day the first solution alone takes about 25 s on this
project's reference machine, so within a normal time limit the search never
starts. A dispatcher's day decomposes naturally by area, so ``solve`` cuts
such a day into parts of a few hundred orders, each with the technicians who
live or stand in that area, solves the parts (on both cores), and joins them;
orders a part could not take are then offered to every technician by the
final insertion repair.

Only the travel matrix is known here (no coordinates), so areas are formed on
travel times: technicians are grouped around well-spread medoids with equal
group sizes, then each order goes to the group of its nearest technician who
may do it, subject to a fair share of orders per group.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from dispatch.model import Problem

__all__ = ["Part", "partition", "subproblem"]

# A part is balanced to within this factor of its fair share of orders.
SHARE_SLACK = 1.05
MEDOID_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class Part:
    """One area: technician positions in ``problem.technicians`` and job ids."""

    technicians: tuple[int, ...]
    jobs: tuple[str, ...]


def _spread(dist: Callable[[int, int], int], members: list[int], a: int) -> int:
    """How far member ``a`` is from all the others (the medoid has the least)."""
    return sum(dist(a, b) for b in members)


def partition(problem: Problem, allowed: dict[str, list[int]], parts: int) -> list[Part]:
    """Cut the jobs in ``allowed`` and the technicians into ``parts`` areas.

    Parameters
    ----------
    problem
        The whole day.
    allowed
        Job id to the technician positions that may do it (skills, pins and
        locks already applied); jobs not in it are left out.
    parts
        Number of areas wanted; fewer are returned when there are fewer
        technicians. Every technician is in exactly one part and every job of
        ``allowed`` in exactly one part that has an allowed technician.

    Returns
    -------
    list[Part]
        Non-empty parts.
    """
    techs = problem.technicians
    parts = max(1, min(parts, len(techs)))
    if parts == 1:
        return [Part(tuple(range(len(techs))), tuple(allowed))]
    d = problem.durations
    starts = [t.start_node for t in techs]
    groups = _group_technicians(d, starts, parts)
    group_of = [0] * len(techs)
    for g, members in enumerate(groups):
        for v in members:
            group_of[v] = g

    share = [math.ceil(len(allowed) * len(m) / len(techs) * SHARE_SLACK) + 1 for m in groups]
    choices: list[tuple[float, str, list[tuple[int, int]]]] = []
    for job_id, vehicles in allowed.items():
        node = problem.job(job_id).node
        best: dict[int, int] = {}
        for v in vehicles:
            g = group_of[v]
            t = d[starts[v]][node]
            if t < best.get(g, math.inf):
                best[g] = t
        ranked = sorted((t, g) for g, t in best.items())
        if len(vehicles) == 1:
            regret = math.inf  # pinned or locked: there is only one place to go
        elif len(ranked) == 1:
            regret = 1e9
        else:
            regret = ranked[1][0] - ranked[0][0]
        choices.append((regret, job_id, ranked))
    # Orders with one clear area are placed first; contested ones fill the rest.
    choices.sort(key=lambda c: -c[0])
    jobs: list[list[str]] = [[] for _ in groups]
    for regret, job_id, ranked in choices:
        target = ranked[0][1]
        if regret != math.inf:
            for _, g in ranked:
                if len(jobs[g]) < share[g]:
                    target = g
                    break
        jobs[target].append(job_id)
    order = {j.id: k for k, j in enumerate(problem.jobs)}
    return [
        Part(tuple(sorted(members)), tuple(sorted(js, key=order.__getitem__)))
        for members, js in zip(groups, jobs, strict=True)
        if members
    ]


def _group_technicians(d: tuple[tuple[int, ...], ...], starts: list[int], parts: int) -> list[list[int]]:
    """Equal-size groups of technicians around spread-out medoids."""
    m = len(starts)

    def dist(a: int, b: int) -> int:
        return d[starts[a]][starts[b]] + d[starts[b]][starts[a]]

    # Farthest-point seeding from the technician farthest from technician 0.
    medoids = [max(range(m), key=lambda v: dist(0, v))]
    nearest = [dist(medoids[0], v) for v in range(m)]
    while len(medoids) < parts:
        far = max(range(m), key=nearest.__getitem__)
        medoids.append(far)
        nearest = [min(nearest[v], dist(far, v)) for v in range(m)]

    size = math.ceil(m / parts)
    groups: list[list[int]] = []
    for _ in range(MEDOID_ROUNDS):
        pairs = sorted((dist(c, v), g, v) for g, c in enumerate(medoids) for v in range(m))
        groups = [[] for _ in medoids]
        placed = [False] * m
        for _, g, v in pairs:
            if not placed[v] and len(groups[g]) < size:
                groups[g].append(v)
                placed[v] = True
        new = [
            min(members, key=functools.partial(_spread, dist, members)) if members else c
            for members, c in zip(groups, medoids, strict=True)
        ]
        if new == medoids:
            break
        medoids = new
    return groups


def subproblem(problem: Problem, part: Part) -> Problem:
    """The part as a problem of its own, sharing the matrices and the weights.

    Penalties that the whole day derives from its matrix are fixed to the
    whole day's values, so objectives of parts add up to the day's.
    """
    weights = replace(
        problem.weights,
        drop_penalty=problem.base_drop_penalty(),
        broken_promise=problem.broken_promise_penalty(),
        promise_window=problem.promise_window_weight(),
    )
    return Problem(
        technicians=tuple(problem.technicians[v] for v in part.technicians),
        jobs=tuple(problem.job(i) for i in part.jobs),
        durations=problem.durations,
        costs=problem.costs,
        weights=weights,
        minute_zero=problem.minute_zero,
    )
