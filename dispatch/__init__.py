"""Fixroute dispatch optimizer (pure Python; OR-Tools only in ``dispatch.solver``).

The public API is re-exported here; ``solve`` is imported lazily so that
importing the package does not load OR-Tools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatch.explain import explain_job, explain_plan
from dispatch.insertion import Insertion, apply_insertion, insert_job
from dispatch.model import (
    Break,
    Job,
    Location,
    Problem,
    ProblemError,
    SparseMatrix,
    Technician,
    TimeWindow,
    Weights,
)
from dispatch.result import (
    Candidate,
    Explanation,
    Plan,
    Route,
    Unassigned,
    Visit,
    check_plan,
    plan_objective,
)

if TYPE_CHECKING:
    from dispatch.solver import solve

__all__ = [
    "Break",
    "Candidate",
    "Explanation",
    "Insertion",
    "Job",
    "Location",
    "Plan",
    "Problem",
    "ProblemError",
    "SparseMatrix",
    "Route",
    "Technician",
    "TimeWindow",
    "Unassigned",
    "Visit",
    "Weights",
    "apply_insertion",
    "check_plan",
    "explain_job",
    "explain_plan",
    "insert_job",
    "plan_objective",
    "solve",
]


def __getattr__(name: str) -> Any:
    if name == "solve":
        from dispatch.solver import solve

        return solve
    raise AttributeError(f"module 'dispatch' has no attribute {name!r}")
