"""The project's shape: layering rules, the compose file and the README's promises."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "dispatch": {"django", "server", "notifications", "kivy"},
    "notifications": {"server"},
    "mobile": {"django", "server", "notifications", "dispatch"},
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_the_layering_allows(package):
    offenders = {
        str(path.relative_to(REPO)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (REPO / package).rglob("*.py")
    }
    assert {path: bad for path, bad in offenders.items() if bad} == {}


def test_only_the_solver_imports_ortools():
    users = [str(p.relative_to(REPO)) for p in (REPO / "dispatch").rglob("*.py") if "ortools" in _imports(p)]
    assert users == ["dispatch/solver.py"]


def test_nothing_outside_settings_reads_the_environment():
    offenders = []
    for package in ("server", "dispatch", "notifications"):
        for path in (REPO / package).rglob("*.py"):
            if path.parent.name in ("settings",) or path.name in ("env.py", "manage.py", "wsgi.py", "celery_app.py"):
                continue
            if "os.environ" in path.read_text(encoding="utf-8") or "getenv(" in path.read_text(encoding="utf-8"):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_compose_describes_the_production_set():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"migrate", "web", "worker", "replanworker", "beat", "postgres", "redis"} <= set(services)
    for name in ("migrate", "web", "worker", "replanworker", "beat"):
        service = services[name]
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    # One migrate run before the long-running services start (not one per web replica).
    assert services["migrate"]["command"] == "python server/manage.py migrate --noinput"
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "replanworker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "migrate" not in services[name]["command"]
        assert "healthcheck" in services[name]
    assert "gunicorn server.config.wsgi:application" in services["web"]["command"]
    assert "celery -A server.config.celery_app worker" in services["worker"]["command"]
    assert "celery -A server.config.celery_app worker" in services["replanworker"]["command"]
    assert "celery -A server.config.celery_app beat" in services["beat"]["command"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    lines = [line.strip() for line in (REPO / "README.md").read_text().splitlines()[:6]]
    assert "make run" in lines
    assert "make test" in lines
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "CI=true" in ci
