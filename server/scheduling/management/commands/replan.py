from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from server.scheduling import services


class Command(BaseCommand):
    help = "Re-plan the open orders of the next 24 hours now, printing progress as it goes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seconds", type=float, default=10.0, help="solver time limit")
        parser.add_argument("--picture", type=Path, help="write a PNG of the routes and timelines here")
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, seconds: float, picture: Path | None, workers: int, **options: Any) -> None:
        summary = services.day_replan(
            time_limit_s=seconds, workers=workers, progress=lambda line: self.stdout.write(line)
        )
        for job_id, reason in summary.unassigned.items():
            self.stdout.write(f"  unassigned {job_id}: {reason}")
        if summary.violations:
            self.stderr.write(self.style.ERROR(f"Plan rejected: {summary.violations}"))
        if picture is not None and summary.plan is not None and summary.snapshot is not None:
            from server.scheduling.picture import plan_picture

            plan_picture(summary.snapshot, summary.plan, picture)
            self.stdout.write(f"Wrote {picture}")
