"""Tiny hand-written dispatch problems, small enough to reason about on paper.

Nodes lie on a line, 10 minutes apart: node ``i`` to node ``j`` takes
``10 * |i - j|``. Time 0 is 08:00 (``minute_zero=480``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from dispatch import Break, Job, Problem, Technician, Weights

N_NODES = 8


DEFAULT_WEIGHTS = Weights()


def line_matrix(n: int = N_NODES, step: int = 10) -> list[list[int]]:
    """Travel times along a line."""
    return [[step * abs(i - j) for j in range(n)] for i in range(n)]


def make_problem(
    techs: Sequence[Technician],
    jobs: Sequence[Job],
    n: int = N_NODES,
    *,
    weights: Weights = DEFAULT_WEIGHTS,
) -> Problem:
    """A problem on the line matrix, 08:00-based."""
    return Problem(tuple(techs), tuple(jobs), line_matrix(n), weights=weights, minute_zero=480)


def tech(tid: str, node: int = 0, **kwargs: Any) -> Technician:
    """An 8-hour technician living at ``node``."""
    return Technician(tid, start_node=node, shift_start=0, shift_end=480, **kwargs)


@pytest.fixture
def basic() -> Problem:
    """Two technicians at opposite ends, four jobs without constraints."""
    return make_problem(
        [tech("west", 0), tech("east", 7)],
        [Job("j1", 1, 30), Job("j2", 2, 30), Job("j5", 5, 30), Job("j6", 6, 30)],
    )


@pytest.fixture
def lunch_problem() -> Problem:
    """One technician with a lunch break that must fall between two jobs."""
    return make_problem(
        [tech("ann", 0, lunch=Break(120, 150, 60))],
        [Job("a", 1, 100), Job("b", 2, 100), Job("c", 3, 100)],
    )


def random_problem(n_jobs: int, n_techs: int, *, seed: int = 1, lunch: bool = False, skills: bool = False) -> Problem:
    """A random day on a grid (minutes), for tests that need volume."""
    rng = random.Random(seed)
    pts = [(rng.uniform(0, 30), rng.uniform(0, 30)) for _ in range(n_jobs + 1)]
    d = [[round(2 * ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5) for bx, by in pts] for ax, ay in pts]
    techs = [
        Technician(
            f"t{k}",
            0,
            0,
            540,
            skills=frozenset({"gas"} if skills and k % 2 else set()),
            lunch=Break(180, 270, 30) if lunch else None,
        )
        for k in range(n_techs)
    ]
    jobs = []
    for i in range(1, n_jobs + 1):
        a = rng.randrange(0, 400)
        jobs.append(
            Job(
                f"j{i}",
                i,
                rng.choice([15, 30, 45]),
                windows=[(a, a + rng.choice([60, 120, 240]))],
                skills=frozenset({"gas"} if skills and i % 5 == 0 else set()),
            )
        )
    return Problem(tuple(techs), tuple(jobs), d)
