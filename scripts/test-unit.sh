#!/usr/bin/env bash
# Everything but tests/integration, in two passes:
#   1. all of it with the database tests on PostgreSQL (what production runs), PG_TEST_URL
#      (default postgres://postgres@127.0.0.1:5432/fixroute_unit; pytest-django creates and drops
#      test_fixroute_unit);
#   2. the database tests (tests/server, tests/notifications) again on SQLite, the embedded default.
# Without PostgreSQL outside CI it is one pass on SQLite, with a note; under CI=true a PostgreSQL
# that does not answer is a failure. Arguments go to pytest in both passes (-x, -k, -m "not slow");
# given test paths, the SQLite pass runs those of them that are database tests.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_TEST_URL="${PG_TEST_URL:-postgres://postgres@127.0.0.1:5432/fixroute_unit}"
SQLITE_TESTS=(tests/server tests/notifications)
paths=()
options=()
for arg in "$@"; do
  if [ -e "${arg%%::*}" ]; then paths+=("$arg"); else options+=("$arg"); fi
done
if [ ${#paths[@]} -gt 0 ]; then
  SQLITE_TESTS=()
  for arg in "${paths[@]}"; do
    case "${arg#./}" in tests/server* | tests/notifications*) SQLITE_TESTS+=("$arg") ;; esac
  done
fi
# Unit tests run Celery tasks in-process (no broker): a REDIS_URL from the shell would queue them.
unset REDIS_URL DATABASE_URL
ci=false
[ "${CI:-}" = true ] && ci=true
create_db=()
# A clean test database every run in CI, even if someone adds --reuse-db to the pytest options.
$ci && create_db=(--create-db)

# Prints why PostgreSQL at PG_TEST_URL cannot be used (nothing when it can) and fails then.
pg_problem() {
  "$PY" - "$PG_TEST_URL" <<'EOF'
import sys

import dj_database_url
import psycopg

db = dj_database_url.parse(sys.argv[1])
if "postgresql" not in db["ENGINE"]:
    sys.exit(f"PG_TEST_URL is not a PostgreSQL URL ({db['ENGINE']})")
try:
    # The server's own database, as Django's test runner uses it to create the test database.
    psycopg.connect(host=db["HOST"] or None, port=db["PORT"] or 5432, user=db["USER"] or None,
                    password=db["PASSWORD"] or None, dbname="postgres", connect_timeout=5).close()
except psycopg.Error as exc:
    sys.exit(f"PostgreSQL at {db['HOST']}:{db['PORT'] or 5432} (user {db['USER']}) is not answering: "
             + (str(exc).strip().splitlines() or [type(exc).__name__])[0])
EOF
}

if problem=$(pg_problem 2>&1); then
  echo "== Unit, UI and server tests, the database on PostgreSQL ($(sed -E 's#(://[^:/@]+:)[^@]*@#\1***@#' <<<"$PG_TEST_URL"))"
  DATABASE_URL="$PG_TEST_URL" "$PY" -m pytest --ignore=tests/integration "${create_db[@]}" "$@"
  postgres=$?
  sqlite=0
  if [ ${#SQLITE_TESTS[@]} -gt 0 ]; then
    echo "== The database tests again on SQLite, the embedded default (${SQLITE_TESTS[*]})"
    "$PY" -m pytest "${SQLITE_TESTS[@]}" "${options[@]}"
    sqlite=$?
    [ $sqlite -eq 5 ] && sqlite=0  # the options selected no database test: nothing to run again
  fi
  if [ $postgres -ne 0 ] || [ $sqlite -ne 0 ]; then
    echo "Failed: PostgreSQL pass exit $postgres, SQLite pass exit $sqlite" >&2
    exit 1
  fi
  exit 0
fi
if $ci; then
  echo "CI=true needs PostgreSQL for the server tests: $problem" >&2
  echo "(start it with scripts/services.sh, or point PG_TEST_URL at one)" >&2
  exit 1
fi
echo "NOTE: $problem"
echo "NOTE: the database tests run on SQLite only; CI runs them on PostgreSQL too."
exec "$PY" -m pytest --ignore=tests/integration "$@"
