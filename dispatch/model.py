"""Input model of the dispatch optimizer: technicians, jobs and the travel matrix.

All times are integers in the caller's unit, counted from the start of the plan
(the server uses minutes; the Solomon benchmark uses tenths of a unit). Nodes are
row/column indices into :attr:`Problem.durations`; several jobs may share a node.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

__all__ = [
    "Break",
    "Job",
    "Location",
    "Problem",
    "ProblemError",
    "SparseMatrix",
    "Technician",
    "TimeWindow",
    "Weights",
]


class ProblemError(ValueError):
    """Raised by :meth:`Problem.validate` when the input cannot be planned."""


@dataclass(frozen=True, slots=True)
class Location:
    """A WGS-84 coordinate in decimal degrees."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A closed interval ``[start, end]`` of allowed service start times."""

    start: int
    end: int

    def contains(self, t: int) -> bool:
        """Return whether ``t`` lies inside the window (bounds included)."""
        return self.start <= t <= self.end


@dataclass(frozen=True, slots=True)
class Break:
    """A break (lunch) that must start in ``[earliest_start, latest_start]``."""

    earliest_start: int
    latest_start: int
    duration: int


@dataclass(frozen=True, slots=True)
class Weights:
    """Objective weights; the objective is in units of the cost matrix.

    The objective is dispatch, not only driving: travel, plus jobs left out, plus how
    long customers wait and whether what they were told still holds. Each weight says
    how much travel one unit of the other goal is worth. From cheapest to steepest:

    Attributes
    ----------
    waiting
        Cost per time unit a job waits: service start minus ``Job.ready`` (counted
        from time 0 for jobs ready before the plan starts: the plan cannot change the
        past, and counting it would make leaving a long-waiting job out look cheaper),
        multiplied by the job's priority factor ``1 + effective priority``; jobs
        without ``ready`` cost nothing. May be fractional (the solver scales its
        integer model). The trade-off: at the default 0.1 an hour sooner is worth 6
        minutes of driving at priority 0, 18 for the server's normal orders (rank 2)
        and 30 for urgent ones (rank 4). So an urgent order goes to the technician who
        arrives soonest unless another saves more than half the difference in driving,
        and a technician idle nearby takes work from a colleague booked hours ahead;
        travel still decides between technicians who arrive at about the same time.
        Measured with ``bench/city.py`` (``ortools``, 10 s): on the demo day (3 seeds)
        mean waiting falls from 215 to 157 min for 4.0 -> 5.1 h of travel (0.05:
        160 min, 4.8 h; 0.2: 153 min, 5.8 h; 0.5 or more: 152 min, 6.2 h); on the
        500-order city day, where every order has a 2-4 h appointment, from 521 to
        493 min for 45.7 -> 59.0 h (0.05: 496 min, 55.1 h; 0.2: 492 min, 66.4 h; 1:
        496 min, 83.3 h). 0 plans travel only.
    lateness
        Cost per time unit a job finishes after its ``sla_deadline``, multiplied
        by the job's priority factor. At the default 10 a minute late is worth ten
        minutes of driving and a hundred of waiting: the plan drives far, and lets
        other orders wait, to keep a deadline, but leaves a job out only when it
        would be more than about 16 h late (the drop penalty).
    promise_window
        Cost per time unit a job starts outside its ``promised_window`` (early or
        late). ``None`` (the default) derives it from the drop penalty: a sixtieth
        of it, so an hour outside the promise costs as much as leaving a job out
        (about 166 per minute on a minute matrix). It dominates travel and waiting:
        a re-plan moves a promised arrival only when keeping it is impossible (or
        would leave another job out).
    broken_promise
        Cost of giving a job to another technician than the promised one.
        ``None`` derives it from the cost matrix (twice the longest trip): the
        promised technician keeps the job unless another saves a long trip.
    drop_penalty
        Cost of leaving a priority-0 job unassigned, multiplied by the priority
        factor. ``None`` derives it from the cost matrix (at least 10,000 and 100
        longest trips): serving a job is always preferred to any detour, any
        waiting within a day and any broken promise.
    complaint_priority_bonus
        Priority levels a complaint adds to its job (raises its drop penalty,
        lateness and waiting weights).
    """

    drop_penalty: int | None = None
    complaint_priority_bonus: int = 2
    lateness: int = 10
    broken_promise: int | None = None
    promise_window: int | None = None
    waiting: float = 0.1


def _windows(value: Iterable[Any]) -> tuple[TimeWindow, ...]:
    out = []
    for w in value:
        out.append(w if isinstance(w, TimeWindow) else TimeWindow(int(w[0]), int(w[1])))
    return tuple(sorted(out, key=lambda w: (w.start, w.end)))


@dataclass(frozen=True, slots=True)
class Technician:
    """A technician (vehicle) and their day.

    Attributes
    ----------
    id
        Unique identifier.
    start_node, end_node
        Matrix nodes where the day starts and ends (``end_node`` defaults to
        ``start_node``). For re-planning, ``start_node`` is the current position.
    shift_start, shift_end
        Working hours; the technician is back at ``end_node`` by ``shift_end``.
    available_from
        Re-planning: the technician is at ``start_node`` and free from this time.
    skills
        Skills held; a job needs all of its skills.
    lunch
        Optional break, taken between two stops (never during service).
    max_jobs
        Optional cap on the number of jobs.
    capacity
        Optional cap on the summed ``Job.demand``.
    """

    id: str
    start_node: int
    shift_start: int
    shift_end: int
    end_node: int | None = None
    name: str = ""
    skills: frozenset[str] = frozenset()
    lunch: Break | None = None
    max_jobs: int | None = None
    capacity: int | None = None
    available_from: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.skills, frozenset):
            object.__setattr__(self, "skills", frozenset(self.skills))

    @property
    def home_node(self) -> int:
        """Node where the day ends."""
        return self.start_node if self.end_node is None else self.end_node

    @property
    def ready_time(self) -> int:
        """Earliest departure from ``start_node``."""
        if self.available_from is None:
            return self.shift_start
        return max(self.shift_start, self.available_from)

    @property
    def label(self) -> str:
        """Human-readable name (falls back to the id)."""
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class Job:
    """A job (customer visit).

    Attributes
    ----------
    id
        Unique identifier.
    node
        Matrix node of the site.
    service
        Time spent on site.
    windows
        Allowed service *start* times; empty means any time within the shift.
        Accepts ``TimeWindow`` objects or ``(start, end)`` pairs.
    skills
        Skills the technician must hold.
    priority
        Higher is more important; raises the cost of leaving the job unassigned.
    complaint
        A complaint raises the effective priority (see ``Weights``).
    sla_deadline
        Soft deadline for the *end* of service; lateness is penalised.
    pinned_technician_id, pinned_start
        Hard pins set by a dispatcher.
    locked
        The technician is on the way or on site: the job stays with
        ``pinned_technician_id`` as the first stop of the route. Its windows and
        ``pinned_start`` are no longer enforced (the work has begun); give the
        remaining ``service`` time and start the technician at the current place.
    demand
        Load counted against ``Technician.capacity``.
    promised_technician_id, promised_window
        What the customer was already told; deviating costs a penalty.
    ready
        When the order became ready to be served (plan time; negative when it was
        already waiting before time 0). Waiting from then to the start of service
        costs ``Weights.waiting``; ``None`` means waiting costs nothing. It is not a
        constraint: give ``windows`` to forbid an earlier start.
    """

    id: str
    node: int
    service: int = 0
    windows: tuple[TimeWindow, ...] = ()
    skills: frozenset[str] = frozenset()
    priority: int = 0
    complaint: bool = False
    sla_deadline: int | None = None
    pinned_technician_id: str | None = None
    pinned_start: int | None = None
    locked: bool = False
    demand: int = 0
    promised_technician_id: str | None = None
    promised_window: TimeWindow | None = None
    name: str = ""
    ready: int | None = None
    _start_windows: tuple[tuple[int, int], ...] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.skills, frozenset):
            object.__setattr__(self, "skills", frozenset(self.skills))
        windows = self.windows
        # Jobs are built by the hundred on an urgent order's path: the one-window case is direct.
        if not (
            type(windows) is tuple
            and (
                (len(windows) == 1 and type(windows[0]) is TimeWindow)
                or all(isinstance(w, TimeWindow) for w in windows)
            )
        ):
            object.__setattr__(self, "windows", _windows(windows))
        pw = self.promised_window
        if pw is not None and not isinstance(pw, TimeWindow):
            object.__setattr__(self, "promised_window", TimeWindow(int(pw[0]), int(pw[1])))
        object.__setattr__(self, "_start_windows", self._merged_start_windows())

    @property
    def label(self) -> str:
        """Human-readable name (falls back to the id)."""
        return self.name or self.id

    def start_windows(self) -> tuple[tuple[int, int], ...] | None:
        """Merged, sorted allowed start intervals; ``None`` means unrestricted.

        A pinned start narrows the job to that single instant; a locked job is
        unrestricted.
        """
        return self._start_windows

    def _merged_start_windows(self) -> tuple[tuple[int, int], ...] | None:
        if self.locked:
            return None
        if self.pinned_start is not None:
            return ((self.pinned_start, self.pinned_start),)
        if not self.windows:
            return None
        if len(self.windows) == 1:
            return ((self.windows[0].start, self.windows[0].end),)
        merged: list[list[int]] = []
        for w in sorted(self.windows, key=lambda w: w.start):
            if merged and w.start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], w.end)
            else:
                merged.append([w.start, w.end])
        return tuple((a, b) for a, b in merged)


class _SparseRow(dict):  # type: ignore[type-arg]
    """One row of a :class:`SparseMatrix`: ``row[b]`` is the entry or the default."""

    __slots__ = ("default",)

    def __init__(self, default: int) -> None:
        super().__init__()
        self.default = default

    def __missing__(self, key: int) -> int:
        return self.default


class SparseMatrix:
    """A square matrix that stores only some entries; every other entry reads as ``default``.

    For placing one job into fixed routes, which reads only the legs along the routes and
    the legs to and from the new job: a few thousand entries instead of a full matrix of a
    few hundred thousand. ``m[a][b]`` indexing is as fast as a tuple's. Iterating yields full
    rows (slow; only validation does it). Give ``default`` a value so large that reading a
    missing entry by mistake makes a schedule infeasible rather than optimistic.
    """

    __slots__ = ("_rows", "default")

    def __init__(self, n: int, default: int) -> None:
        self.default = default
        self._rows = tuple(_SparseRow(default) for _ in range(n))
        for a, row in enumerate(self._rows):
            row[a] = 0

    def set(self, a: int, b: int, value: int) -> None:
        """Store entry ``[a][b]``."""
        self._rows[a][b] = value

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, a: int) -> _SparseRow:
        return self._rows[a]

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        n = len(self._rows)
        for row in self._rows:
            yield tuple(row[b] for b in range(n))

    def max_stored(self) -> int:
        """Largest stored entry (0 if none)."""
        return max((max(row.values()) for row in self._rows if row), default=0)


def _matrix(m: Any) -> tuple[tuple[int, ...], ...] | SparseMatrix:
    if isinstance(m, SparseMatrix):
        return m
    if hasattr(m, "tolist"):
        m = m.tolist()
    return tuple(tuple(row) for row in m)


@dataclass(frozen=True, slots=True)
class Problem:
    """A day to plan.

    Parameters
    ----------
    technicians, jobs
        The fleet and the work.
    durations
        Square integer travel-time matrix over nodes (any nested sequence, a
        numpy array, or a :class:`SparseMatrix` when only some legs are needed);
        ``durations[a][b]`` is the time from node ``a`` to ``b``.
    costs
        Optional square matrix of travel costs (defaults to ``durations``).
    weights
        Objective weights.
    minute_zero
        Wall-clock minute (since midnight) of time 0, used only to render
        readable explanations such as "would arrive 14:20".
    """

    technicians: tuple[Technician, ...]
    jobs: tuple[Job, ...]
    durations: tuple[tuple[int, ...], ...]
    costs: tuple[tuple[int, ...], ...] | None = None
    weights: Weights = Weights()
    minute_zero: int = 0
    _job_index: dict[str, int] = field(init=False, repr=False, compare=False)
    _tech_index: dict[str, int] = field(init=False, repr=False, compare=False)
    _max_cost: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "technicians", tuple(self.technicians))
        object.__setattr__(self, "jobs", tuple(self.jobs))
        object.__setattr__(self, "durations", _matrix(self.durations))
        if self.costs is not None:
            object.__setattr__(self, "costs", _matrix(self.costs))
        object.__setattr__(self, "_job_index", {j.id: i for i, j in enumerate(self.jobs)})
        object.__setattr__(self, "_tech_index", {t.id: i for i, t in enumerate(self.technicians)})

    # --- lookups -------------------------------------------------------------

    @property
    def cost_matrix(self) -> tuple[tuple[int, ...], ...]:
        """The cost matrix (``durations`` when no costs were given)."""
        return self.durations if self.costs is None else self.costs

    def job(self, job_id: str) -> Job:
        """Return the job with this id (``KeyError`` if unknown)."""
        return self.jobs[self._job_index[job_id]]

    def has_job(self, job_id: str) -> bool:
        """Return whether a job with this id exists."""
        return job_id in self._job_index

    def technician(self, technician_id: str) -> Technician:
        """Return the technician with this id (``KeyError`` if unknown)."""
        return self.technicians[self._tech_index[technician_id]]

    def has_technician(self, technician_id: str) -> bool:
        """Return whether a technician with this id exists."""
        return technician_id in self._tech_index

    def technician_index(self, technician_id: str) -> int:
        """Position of the technician in :attr:`technicians`."""
        return self._tech_index[technician_id]

    def job_index(self, job_id: str) -> int:
        """Position of the job in :attr:`jobs`."""
        return self._job_index[job_id]

    # --- objective terms (shared by the solver and the plan evaluation) -------

    def max_cost(self) -> int:
        """Largest entry of the cost matrix (at least 1)."""
        if not self._max_cost:
            m = self.cost_matrix
            if isinstance(m, SparseMatrix):
                value = max(1, m.max_stored())
            else:
                value = max(1, max((max(row) for row in m if row), default=1))
            object.__setattr__(self, "_max_cost", value)
        return self._max_cost

    def effective_priority(self, job: Job) -> int:
        """Priority including the complaint bonus, floored at 0."""
        bonus = self.weights.complaint_priority_bonus if job.complaint else 0
        return max(0, job.priority + bonus)

    def base_drop_penalty(self) -> int:
        """Cost of leaving a priority-0 job unassigned."""
        if self.weights.drop_penalty is not None:
            return self.weights.drop_penalty
        # Worth more than any detour a single job can cause, so the solver always
        # prefers serving; finite so infeasible jobs can still be dropped.
        return max(10_000, 100 * self.max_cost())

    def drop_penalty(self, job: Job) -> int:
        """Cost of leaving ``job`` unassigned; grows linearly with priority."""
        return self.base_drop_penalty() * (1 + self.effective_priority(job))

    def lateness_weight(self, job: Job) -> int:
        """Cost per time unit past ``job.sla_deadline``."""
        return self.weights.lateness * (1 + self.effective_priority(job))

    def waiting_weight(self, job: Job) -> float:
        """Cost per time unit ``job`` waits (0 when it has no ``ready`` time)."""
        if job.ready is None:
            return 0
        return self.weights.waiting * (1 + self.effective_priority(job))

    def promise_window_weight(self) -> int:
        """Cost per time unit a job starts outside its promised window."""
        if self.weights.promise_window is not None:
            return self.weights.promise_window
        return max(1, self.base_drop_penalty() // 60)

    def has_time_cost(self, job: Job) -> bool:
        """Whether :meth:`time_cost` can be non-zero for ``job``."""
        return (
            (job.ready is not None and self.weights.waiting > 0)
            or job.sla_deadline is not None
            or job.promised_window is not None
        )

    def time_cost(self, job: Job, start: int) -> int:
        """Waiting, SLA lateness and promised-window costs of serving ``job`` from ``start``.

        Waiting counts from ``max(job.ready, 0)``: before time 0 it is the same for every
        plan (and counting it would make leaving a long-waiting job out look cheaper).
        """
        cost = 0
        if job.ready is not None:
            waited = start - max(job.ready, 0)
            if waited > 0:
                cost += round(self.waiting_weight(job) * waited)
        if job.sla_deadline is not None:
            late = start + job.service - job.sla_deadline
            if late > 0:
                cost += self.lateness_weight(job) * late
        pw = job.promised_window
        if pw is not None:
            if start < pw.start:
                cost += self.promise_window_weight() * (pw.start - start)
            elif start > pw.end:
                cost += self.promise_window_weight() * (start - pw.end)
        return cost

    def broken_promise_penalty(self) -> int:
        """Cost of moving a job away from its promised technician."""
        if self.weights.broken_promise is not None:
            return self.weights.broken_promise
        return 2 * self.max_cost()

    def format_time(self, t: int) -> str:
        """Render a plan time as ``HH:MM`` wall-clock (see ``minute_zero``)."""
        m = self.minute_zero + t
        day, m = divmod(m, 24 * 60)
        text = f"{m // 60:02d}:{m % 60:02d}"
        return text if day == 0 else f"{text} (+{day}d)"

    # --- validation ----------------------------------------------------------

    def validate(self) -> None:
        """Check the input and raise :class:`ProblemError` on the first problem.

        A job that no technician is skilled for is *not* an error: the solver
        reports it in ``Plan.unassigned``.

        Raises
        ------
        ProblemError
            With a message naming the offending technician, job or matrix.
        """
        n = len(self.durations)
        _check_matrix("durations", self.durations, n)
        if self.costs is not None:
            _check_matrix("costs", self.costs, n)
        if not self.technicians:
            raise ProblemError("no technicians")
        seen: set[str] = set()
        for t in self.technicians:
            if not t.id:
                raise ProblemError("technician with an empty id")
            if t.id in seen:
                raise ProblemError(f"duplicate technician id {t.id!r}")
            seen.add(t.id)
            self._validate_technician(t, n)
        seen = set()
        locked_by: dict[str, str] = {}
        for j in self.jobs:
            if not j.id:
                raise ProblemError("job with an empty id")
            if j.id in seen:
                raise ProblemError(f"duplicate job id {j.id!r}")
            seen.add(j.id)
            self._validate_job(j, n)
            if j.locked:
                other = locked_by.get(j.pinned_technician_id or "")
                if other is not None:
                    raise ProblemError(
                        f"jobs {other!r} and {j.id!r} are both locked to technician "
                        f"{j.pinned_technician_id!r}; only one job can be in progress"
                    )
                locked_by[j.pinned_technician_id or ""] = j.id
        w = self.weights
        for name in ("drop_penalty", "lateness", "broken_promise", "promise_window", "waiting"):
            value = getattr(w, name)
            if value is not None and value < 0:
                raise ProblemError(f"weight {name} must be >= 0, got {value}")

    def _validate_technician(self, t: Technician, n: int) -> None:
        for attr in ("start_node", "end_node"):
            node = getattr(t, attr)
            if node is not None and not (isinstance(node, int) and 0 <= node < n):
                raise ProblemError(f"technician {t.id!r}: {attr} {node!r} is not a node of the {n}x{n} matrix")
        if t.shift_end < t.shift_start:
            raise ProblemError(f"technician {t.id!r}: shift ends ({t.shift_end}) before it starts ({t.shift_start})")
        if t.ready_time > t.shift_end:
            raise ProblemError(
                f"technician {t.id!r}: available_from {t.available_from} is after the "
                f"shift end {t.shift_end}; leave the technician out of the problem"
            )
        home = self.durations[t.start_node][t.home_node]
        if t.ready_time + home > t.shift_end:
            raise ProblemError(
                f"technician {t.id!r} cannot even travel from the start node to the end node within the shift"
            )
        if t.max_jobs is not None and t.max_jobs < 0:
            raise ProblemError(f"technician {t.id!r}: max_jobs must be >= 0")
        if t.capacity is not None and t.capacity < 0:
            raise ProblemError(f"technician {t.id!r}: capacity must be >= 0")
        b = t.lunch
        if b is not None:
            if b.latest_start < b.earliest_start:
                raise ProblemError(
                    f"technician {t.id!r}: lunch latest_start {b.latest_start} is before "
                    f"earliest_start {b.earliest_start}"
                )
            if b.duration < 0:
                raise ProblemError(f"technician {t.id!r}: lunch duration must be >= 0")
            # Same rule as the scheduler: the break is taken as early as allowed,
            # en route if it starts before arrival.
            start = max(b.earliest_start, t.ready_time)
            arrive = t.ready_time + home + (b.duration if start < t.ready_time + home else 0)
            if start > b.latest_start or max(arrive, start + b.duration) > t.shift_end:
                raise ProblemError(
                    f"technician {t.id!r}: the lunch break does not fit in the shift (drop it if it was already taken)"
                )

    def _validate_job(self, j: Job, n: int) -> None:
        if not (isinstance(j.node, int) and 0 <= j.node < n):
            raise ProblemError(f"job {j.id!r}: node {j.node!r} is not a node of the {n}x{n} matrix")
        if j.service < 0:
            raise ProblemError(f"job {j.id!r}: service duration must be >= 0")
        if j.demand < 0:
            raise ProblemError(f"job {j.id!r}: demand must be >= 0")
        for w in j.windows:
            if w.end < w.start:
                raise ProblemError(f"job {j.id!r}: time window end {w.end} is before its start {w.start}")
        if j.ready is not None and (isinstance(j.ready, bool) or not isinstance(j.ready, int)):
            raise ProblemError(f"job {j.id!r}: ready {j.ready!r} is not an integer")
        pw = j.promised_window
        if pw is not None and pw.end < pw.start:
            raise ProblemError(f"job {j.id!r}: promised window end {pw.end} is before its start {pw.start}")
        if j.pinned_technician_id is not None and not self.has_technician(j.pinned_technician_id):
            raise ProblemError(f"job {j.id!r} is pinned to unknown technician {j.pinned_technician_id!r}")
        if j.pinned_start is not None and j.windows and not any(w.contains(j.pinned_start) for w in j.windows):
            raise ProblemError(f"job {j.id!r}: pinned start {j.pinned_start} is outside its time windows")
        if j.locked and j.pinned_technician_id is None:
            raise ProblemError(
                f"job {j.id!r} is locked but has no pinned_technician_id; a locked job "
                f"stays with the technician already handling it"
            )


def _check_matrix(name: str, m: Sequence[Sequence[Any]], n: int) -> None:
    if n == 0:
        raise ProblemError(f"{name} matrix is empty")
    # Fast path, loops in C (a 2,200-node matrix in about 0.1 s): square, only
    # plain ints, none negative. Anything else falls through to the loop below,
    # which names the first bad entry.
    if all(len(row) == n for row in m) and set(map(type, chain.from_iterable(m))) == {int} and min(map(min, m)) >= 0:
        return
    for i, row in enumerate(m):
        if len(row) != n:
            raise ProblemError(f"{name} matrix is not square: row {i} has {len(row)} entries, expected {n}")
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ProblemError(f"{name}[{i}][{j}] = {v!r} is not an integer")
            if v < 0:
                raise ProblemError(f"{name}[{i}][{j}] = {v} is negative")
