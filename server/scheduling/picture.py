"""A picture of a plan: routes on a map-like plot and one timeline row per technician."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from django.utils import timezone  # noqa: E402

from dispatch.result import Plan  # noqa: E402
from server.scheduling.snapshot import Snapshot  # noqa: E402


def _label_font_has_cjk() -> bool:
    from matplotlib import font_manager

    names = {font.name for font in font_manager.fontManager.ttflist}
    return any("CJK" in name or "WenQuanYi" in name for name in names)


def plan_picture(snapshot: Snapshot, plan: Plan, path: Path) -> Path:
    """Write the PNG and return its path. Names fall back to logins when no CJK font is installed."""
    cjk = _label_font_has_cjk()

    def label(technician_key: str) -> str:
        technician = snapshot.technicians[technician_key]
        return technician.name if cjk or technician.name.isascii() else technician.user.get_username()

    # Node coordinates are not in the problem (it holds only the matrix); take them from the rows.
    coords: dict[str, tuple[float, float]] = {}
    for key, order in snapshot.orders.items():
        if order.location is not None:
            coords[key] = (order.location.lon, order.location.lat)
    routed = [route for route in plan.routes if route.visits]
    fig, (ax_map, ax_time) = plt.subplots(
        1, 2, figsize=(16, max(6, 0.4 * len(routed) + 2)), gridspec_kw={"width_ratios": [1, 1.4]}
    )
    colours = plt.get_cmap("tab20")
    for index, route in enumerate(routed):
        technician = snapshot.technicians[route.technician_id]
        colour = colours(index % 20)
        xs = [technician.home_longitude] + [coords[v.job_id][0] for v in route.visits] + [technician.home_longitude]
        ys = [technician.home_latitude] + [coords[v.job_id][1] for v in route.visits] + [technician.home_latitude]
        ax_map.plot(xs, ys, "-o", color=colour, markersize=3, linewidth=1, label=label(route.technician_id))
        ax_map.plot(xs[0], ys[0], "s", color=colour, markersize=7)
        for visit in route.visits:
            ax_time.barh(index, visit.end - visit.start, left=visit.start, color=colour)
            ax_time.barh(index, visit.start - visit.arrival, left=visit.arrival, color="lightgrey")
    unassigned = [item.job_id for item in plan.unassigned if item.job_id in coords]
    if unassigned:
        ax_map.plot(
            [coords[j][0] for j in unassigned], [coords[j][1] for j in unassigned], "x", color="red", label="unassigned"
        )
    ax_map.set_title("Routes (squares: technicians' start)")
    ax_map.set_xlabel("longitude")
    ax_map.set_ylabel("latitude")
    ax_map.set_aspect("equal", adjustable="datalim")
    if len(routed) <= 20:
        ax_map.legend(fontsize=7, loc="best")
    ax_time.set_yticks(range(len(routed)), [label(r.technician_id) for r in routed])
    ticks = list(range(0, snapshot.horizon_minutes + 1, 120))
    ax_time.set_xticks(ticks, [timezone.localtime(snapshot.moment(t)).strftime("%H:%M") for t in ticks], rotation=45)
    ax_time.set_title("Timeline (colour: on site, grey: waiting)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
