"""Problem construction and validation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from dispatch import Break, Job, Problem, ProblemError, Technician, TimeWindow, Weights
from tests.dispatch.conftest import line_matrix, make_problem, tech


def test_valid_problem_passes(basic: Problem) -> None:
    basic.validate()


def test_inputs_are_normalised() -> None:
    job = Job("j", 1, 10, windows=[(50, 60), (0, 10)], skills=["a"], promised_window=(0, 5))
    assert job.windows == (TimeWindow(0, 10), TimeWindow(50, 60))
    assert job.skills == frozenset({"a"})
    assert job.promised_window == TimeWindow(0, 5)
    assert tech("t", skills={"x"}).skills == frozenset({"x"})


def test_numpy_matrix_and_pickle_round_trip() -> None:
    p = Problem((tech("t"),), (Job("j", 1),), np.array(line_matrix(3)))
    p.validate()
    assert p.durations[0][2] == 20
    clone = pickle.loads(pickle.dumps(p))
    assert clone == p
    assert clone.job("j").node == 1


def test_merged_start_windows_and_pins() -> None:
    job = Job("j", 1, windows=[(0, 10), (5, 20), (40, 50)])
    assert job.start_windows() == ((0, 20), (40, 50))
    assert Job("j", 1, windows=[(0, 100)], pinned_start=30).start_windows() == ((30, 30),)
    assert Job("j", 1).start_windows() is None
    locked = Job("j", 1, windows=[(0, 1)], locked=True, pinned_technician_id="t")
    assert locked.start_windows() is None


@pytest.mark.parametrize(
    ("techs", "jobs", "matrix", "message"),
    [
        ([tech("t")], [Job("j", 9)], None, "node 9"),
        ([tech("t", 12)], [], None, "start_node 12"),
        ([tech("t")], [Job("j", 1, windows=[(50, 10)])], None, "window end 10 is before"),
        ([tech("t")], [Job("j", 1, pinned_technician_id="ghost")], None, "unknown technician"),
        ([tech("t"), tech("t")], [], None, "duplicate technician id"),
        ([tech("t")], [Job("j", 1), Job("j", 2)], None, "duplicate job id"),
        ([tech("t")], [], [[0, 1], [1, 0, 3]], "not square"),
        ([tech("t")], [], [[0, 1.5], [1, 0]], "not an integer"),
        ([tech("t")], [], [[0, -1], [1, 0]], "negative"),
        ([Technician("t", 0, 100, 50)], [], None, "before it starts"),
        ([tech("t")], [Job("j", 1, locked=True)], None, "locked but has no pinned"),
        ([tech("t")], [Job("j", 1, windows=[(0, 10)], pinned_start=50)], None, "outside its time windows"),
        ([tech("t", lunch=Break(600, 700, 30))], [], None, "lunch break does not fit"),
        ([tech("t", lunch=Break(100, 50, 30))], [], None, "latest_start 50 is before"),
        ([Technician("t", 0, 0, 100, available_from=200)], [], None, "after the shift end"),
        ([tech("t")], [Job("j", 1, service=-5)], None, "service duration"),
        ([], [], None, "no technicians"),
        (
            [tech("t")],
            [Job("a", 1, locked=True, pinned_technician_id="t"), Job("b", 2, locked=True, pinned_technician_id="t")],
            None,
            "both locked",
        ),
    ],
)
def test_validation_errors(
    techs: list[Technician], jobs: list[Job], matrix: list[list[int]] | None, message: str
) -> None:
    p = Problem(tuple(techs), tuple(jobs), matrix if matrix is not None else line_matrix())
    with pytest.raises(ProblemError, match=message):
        p.validate()


def test_problem_error_is_a_value_error() -> None:
    assert issubclass(ProblemError, ValueError)


def test_unreachable_end_node_is_rejected() -> None:
    p = make_problem([Technician("t", 0, 0, 30, end_node=7)], [])
    with pytest.raises(ProblemError, match="cannot even travel"):
        p.validate()


def test_negative_weight_is_rejected() -> None:
    p = make_problem([tech("t")], [], weights=Weights(lateness=-1))
    with pytest.raises(ProblemError, match="lateness"):
        p.validate()


def test_drop_penalty_grows_with_priority_and_complaints() -> None:
    p = make_problem([tech("t")], [])
    low, high, angry = Job("a", 1), Job("b", 1, priority=3), Job("c", 1, complaint=True)
    assert p.drop_penalty(low) < p.drop_penalty(angry) < p.drop_penalty(high)
    assert p.drop_penalty(low) > 10 * p.max_cost()


def test_format_time_uses_minute_zero() -> None:
    p = make_problem([tech("t")], [])
    assert p.format_time(0) == "08:00"
    assert p.format_time(380) == "14:20"


def test_sparse_matrix_reads_stored_legs_and_a_default_elsewhere() -> None:
    from dispatch import SparseMatrix

    m = SparseMatrix(3, default=10**6)
    m.set(0, 2, 7)
    assert m[0][2] == 7
    assert m[2][0] == 10**6
    assert m[1][1] == 0
    assert list(m) == [(0, 10**6, 7), (10**6, 0, 10**6), (10**6, 10**6, 0)]
    problem = Problem((tech("t"),), (Job("j", 2, 10),), m)
    assert problem.durations is m  # not copied into a full matrix
    assert problem.max_cost() == 7  # the stored legs, not the default
