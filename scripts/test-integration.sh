#!/usr/bin/env bash
# Run the integration tests against the local PostgreSQL and Redis (a worker is started by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${INTEGRATION_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/fixroute_it}"
export REDIS_URL="${INTEGRATION_REDIS_URL:-redis://127.0.0.1:6379/15}"
exec .venv/bin/python -m pytest tests/integration "$@"
