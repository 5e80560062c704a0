"""Import 10,000 customer/site/equipment rows with 50 bad ones into a fresh database.

Measures ``server.crm.services.imports.import_file`` (read, check every row, write the good
ones in savepoints, 250 rows per transaction, progress saved per batch): rows per second,
the time, the good rows imported and every bad row reported.

    python bench/import_rows.py                       # SQLite in a temporary folder
    python bench/import_rows.py --format xlsx
    python bench/import_rows.py --database-url postgres://postgres@127.0.0.1:5432/fixroute_crm
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import default_out, emit, environment, table, write_json  # noqa: E402

COLUMNS = [
    "name", "phone", "language", "address", "latitude", "longitude",
    "equipment_type", "model", "install_date", "consent_reminders",
]  # fmt: skip
TYPES = ["water_purifier", "washing_machine", "air_conditioner", "water_heater"]
# The kinds of bad row, in turn: what an import from an old spreadsheet really holds.
BAD_KINDS = ["phone", "address", "latitude", "install_date", "duplicate"]


def _prepare_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def make_rows(*, count: int, bad: int, seed: int) -> tuple[list[list[object]], dict[int, str]]:
    """``count`` data rows, ``bad`` of them bad (spread evenly); returns the rows and
    {file row number: kind of error} for the bad ones (the header is row 1)."""
    rng = random.Random(seed)
    rows: list[list[object]] = []
    bad_at = {round((i + 0.5) * count / bad) for i in range(bad)} if bad else set()
    expected: dict[int, str] = {}
    for i in range(count):
        phone = f"139{10_000_000 + i:08d}"
        row: list[object] = [
            f"客户{i}",
            phone,
            "en" if i % 7 == 0 else "zh-CN",
            f"上海市某区某路{i}号",
            round(31.0 + rng.random() * 0.5, 6),
            round(121.2 + rng.random() * 0.5, 6),
            TYPES[i % len(TYPES)],
            f"M-{i % 50}",
            f"20{20 + i % 5}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "1" if i % 3 else "0",
        ]
        if i in bad_at:
            kind = BAD_KINDS[len(expected) % len(BAD_KINDS)]
            if kind == "phone":
                row[1] = "12345"
            elif kind == "address":
                row[3] = ""
            elif kind == "latitude":
                row[4] = "north"
            elif kind == "install_date":
                row[8] = "someday"
            else:  # the previous row's phone for another name
                row[1] = rows[-1][1]
            expected[i + 2] = kind
        rows.append(row)
    return rows, expected


def to_csv(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("customers")
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bad", type=int, default=50)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'import.sqlite3'}"
    if url.startswith("postgres"):
        _prepare_database(url)
    os.environ.update({"DJANGO_SETTINGS_MODULE": "server.config.settings.test", "DATABASE_URL": url})
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from server.crm.services.imports import import_file
    from server.customers.models import Customer, Equipment, Site

    call_command("migrate", verbosity=0)
    rows, expected = make_rows(count=args.rows, bad=args.bad, seed=args.seed)
    data = to_csv(rows) if args.format == "csv" else to_xlsx(rows)
    emit(f"importing {len(rows)} rows ({len(expected)} bad) from {args.format}, {len(data) / 1e6:.1f} MB, {url}")

    started = time.perf_counter()
    job = import_file(file_name=f"bench.{args.format}", data=data, user=None)
    seconds = time.perf_counter() - started

    reported = {error["row"] for error in job.errors}
    result = {
        "rows": len(rows),
        "bad_planted": len(expected),
        "seconds": round(seconds, 3),
        "rows_per_s": round(len(rows) / seconds, 1),
        "imported": job.imported,
        "bad_reported": len(reported),
        "every_bad_row_reported": reported == set(expected),
        "customers": Customer.objects.count(),
        "sites": Site.objects.count(),
        "equipment": Equipment.objects.count(),
    }
    ok = (
        result["every_bad_row_reported"]
        and job.imported == len(rows) - len(expected)
        and result["customers"] == result["sites"] == result["equipment"] == job.imported
    )
    result["ok"] = ok
    columns = ["rows", "bad_planted", "seconds", "rows_per_s", "imported", "bad_reported", "every_bad_row_reported"]
    columns.append("ok")
    emit(table([result], columns))
    engine = "postgresql" if url.startswith("postgres") else "sqlite"
    payload = {
        "benchmark": "import_rows",
        "settings": {**vars(args), "out": None, "database": engine},
        "environment": environment(),
        "result": result,
        "errors_sample": job.errors[:10],
    }
    out = args.out or default_out(f"import_rows_{engine}_{args.format}")
    write_json(out, payload)
    emit(f"JSON: {out}")
    tmp.cleanup()
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
