"""Import customers, sites and equipment from a .csv or .xlsx file, in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.common.exceptions import ApplicationError
from server.crm.services.imports import import_file


class Command(BaseCommand):
    help = "Import customers, sites and equipment (columns as the 'records' export) and print the per-row report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="a .csv or .xlsx file")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            job = import_file(file_name=path.name, data=path.read_bytes(), user=None)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        if job.message:
            raise CommandError(job.message)
        for problem in job.errors:
            self.stdout.write(f"row {problem['row']}: {problem['field'] or '-'}: {problem['message']}")
        self.stdout.write(self.style.SUCCESS(f"{job.imported} of {job.total} rows imported, {len(job.errors)} not"))
