"""Production is production: what the image and the compose file run, run here without Docker.

Every process is started the way a deployment starts it: a clean environment (no DEBUG, no
DJANGO_SETTINGS_MODULE), a real SECRET_KEY, the commands read from the Dockerfile and
docker-compose.yml. Only what needs the containers' network is replaced: SQLite in a temporary
folder for PostgreSQL, the local Redis (db 11) for the compose one, 127.0.0.1 and a free port.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml

from tests.integration.services import free_port, http_json, tail, wait_until

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # python, gunicorn and celery, as on the image's PATH
SECRET_KEY = secrets.token_urlsafe(50)  # long and random enough for check --deploy (W009)
SETTINGS_MODULE = "server.config.settings.production"
APP_SERVICES = ("migrate", "web", "worker", "replanworker", "beat")
LOCAL_REDIS = "redis://127.0.0.1:6379/11"
PUBLIC_HOST = "fixroute.example.com"


# --- The files, read as Docker reads them --------------------------------------------------------


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def _interpolate(raw: str, host_env: Mapping[str, str]) -> str:
    """What docker compose makes of a value: ${NAME}, ${NAME:-fallback}, ${NAME:?error}, $$."""

    def resolve(match: re.Match) -> str:
        value = host_env.get(match["name"], "")
        if match["op"] == ":-":
            return value or match["arg"]
        if match["op"] == ":?" and not value:
            raise AssertionError(f"compose refuses to start: {match['arg']}")
        return value

    resolved = _INTERPOLATION.sub(resolve, raw)
    assert "$" not in resolved.replace("$$", ""), f"interpolation this test does not know: {raw}"
    return resolved.replace("$$", "$")


def _service_env(service: str, host_env: Mapping[str, str]) -> dict[str, str]:
    raw = _compose()["services"][service]["environment"]
    return {name: _interpolate(str(value), host_env) for name, value in raw.items()}


def _command(service: str) -> list[str]:
    return shlex.split(_compose()["services"][service]["command"])


def _option(args: list[str], name: str) -> str:
    """The value of ``--name value`` or ``--name=value`` (the last one, as click and argparse take)."""
    values = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == name]
    values += [arg.split("=", 1)[1] for arg in args if arg.startswith(f"{name}=")]
    assert values, f"{name} missing from {args}"
    return values[-1]


def _replace_option(args: list[str], name: str, value: str) -> list[str]:
    assert name in args, f"{name} missing from {args}"
    index = args.index(name)
    return [*args[: index + 1], value, *args[index + 2 :]]


# --- Processes -----------------------------------------------------------------------------------


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A deployment's environment: nothing of the test process (no DEBUG, no settings module)."""
    return {
        "PATH": f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fixroute.sqlite3'}",
        **extra,
    }


def _run(args: list[str], env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


_SHOW = (
    "from django.conf import settings; print('SETTINGS=' + settings.SETTINGS_MODULE, settings.DEBUG, "
    "settings.SESSION_COOKIE_SECURE)"
)
ENTRY_POINTS = {
    # manage.py: migrate, collectstatic and every other command; the wsgi module: gunicorn; the
    # Celery app: worker, replanworker and beat (it sets Django up when its modules are imported).
    "manage.py": ["python", "server/manage.py", "shell", "-c", _SHOW],
    "wsgi": [
        "python",
        "-c",
        "import server.config.wsgi\nfrom notifications.tasks import sms_send\n"
        f"print('TASK_APP=' + sms_send.app.main)\n{_SHOW}",
    ],
    "celery": [
        "python",
        "-c",
        "from server.config.celery_app import app\napp.loader.import_default_modules()\n"
        f"print('QUEUE=' + app.conf.task_default_queue)\n{_SHOW}",
    ],
}


@pytest.fixture(scope="module")
def entry_points(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]]:
    """Each entry point run twice in a clean environment: with SECRET_KEY, and without it."""
    tmp_path = tmp_path_factory.mktemp("entry-points")
    with_key = _clean_env(tmp_path)
    without_key = {name: value for name, value in with_key.items() if name != "SECRET_KEY"}
    return {name: (_run(args, with_key), _run(args, without_key)) for name, args in ENTRY_POINTS.items()}


# --- 1. One settings module, DEBUG off, check --deploy clean --------------------------------------


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_loads_the_production_settings_with_debug_off(entry_points, entry_point):
    result, _ = entry_points[entry_point]
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"SETTINGS={SETTINGS_MODULE} False True" in result.stdout.splitlines()


def test_the_celery_app_reads_its_configuration_from_those_settings(entry_points):
    result, _ = entry_points["celery"]
    assert "QUEUE=fixroute" in result.stdout.splitlines()  # CELERY_TASK_DEFAULT_QUEUE's default


def test_a_web_process_sends_tasks_through_the_projects_celery_app(entry_points):
    """Nothing in a web process imports the Celery app by name: Django's start-up must load it, or
    tasks would go to Celery's default app (an AMQP broker on localhost) instead of ours."""
    result, _ = entry_points["wsgi"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TASK_APP=fixroute" in result.stdout.splitlines()


def test_importing_the_wsgi_module_with_debug_unset_is_not_debug_and_cookies_are_secure(entry_points):
    """The issue's regression: config/__init__ imported the Celery app, which chose the local
    settings (DEBUG on, cookies over plain HTTP) before wsgi.py could choose production."""
    result, _ = entry_points["wsgi"]
    assert result.returncode == 0, result.stderr[-3000:]
    settings_line = next(line for line in result.stdout.splitlines() if line.startswith("SETTINGS="))
    module, debug, session_cookie_secure = settings_line.removeprefix("SETTINGS=").split()
    assert (module, debug, session_cookie_secure) == (SETTINGS_MODULE, "False", "True")


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_refuses_to_start_without_a_secret_key(entry_points, entry_point):
    _, result = entry_points[entry_point]
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
    assert "SETTINGS=" not in result.stdout


@pytest.mark.parametrize(
    ("preload", "expected_warnings"),
    [
        # Asking browsers' preload list to take the domain is the deployer's decision: off by default.
        (None, ["security.W021"]),
        ("1", []),
    ],
)
def test_check_deploy_is_clean_under_the_production_settings(tmp_path, preload, expected_warnings):
    env = _clean_env(tmp_path, **({"SECURE_HSTS_PRELOAD": preload} if preload else {}))
    result = _run(["python", "server/manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert re.findall(r"\(([\w.]+\.[EW]\d+)\)", result.stderr) == expected_warnings, result.stderr[-3000:]
    assert result.returncode == (1 if expected_warnings else 0)


def test_check_deploy_is_clean_under_the_compose_environment(tmp_path):
    env = {**_clean_env(tmp_path), **_service_env("web", {"SECRET_KEY": SECRET_KEY, "SECURE_HSTS_PRELOAD": "1"})}
    result = _run(["python", "server/manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stderr[-3000:]


# --- 2. Static files in the image, served by gunicorn ---------------------------------------------


def _collectstatic_run_line() -> str:
    lines = [args for name, args in _dockerfile_instructions() if name == "RUN" and "collectstatic" in args]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_image_collects_static_files_at_build_time_for_its_non_root_user():
    instructions = _dockerfile_instructions()
    order = [instruction for instruction, _ in instructions]
    envs = " ".join(args for instruction, args in instructions if instruction == "ENV")
    static_root = re.search(r"STATIC_ROOT=(\S+)", envs)
    assert static_root, "the image sets STATIC_ROOT"
    assert re.search(rf"DJANGO_SETTINGS_MODULE={re.escape(SETTINGS_MODULE)}\b", envs)
    collect = next(i for i, (name, args) in enumerate(instructions) if name == "RUN" and "collectstatic" in args)
    user = next(i for i, name in enumerate(order) if name == "USER")
    assert collect < user, "collectstatic runs at build time, before the image drops root"
    assert instructions[user][1] != "root"
    for service in APP_SERVICES:
        assert "collectstatic" not in _compose()["services"][service]["command"]


def test_the_beat_schedule_is_in_a_folder_the_image_user_owns():
    instructions = _dockerfile_instructions()
    user = next(args for name, args in instructions if name == "USER")
    schedule = Path(_option(_command("beat"), "--schedule"))
    chown = [args for name, args in instructions if name == "RUN" and f"{user}:{user} {schedule.parent}" in args]
    assert chown, f"the Dockerfile gives {schedule.parent} to {user}"
    assert "chown" in chown[0]


def test_the_photo_volume_is_a_folder_the_image_user_owns():
    """The web service keeps the job photos on a volume; a new named volume takes the owner of the
    image's folder, so the image must create it and give it to its user."""
    instructions = _dockerfile_instructions()
    user = next(args for name, args in instructions if name == "USER")
    compose = _compose()
    [mount] = [v for v in compose["services"]["web"]["volumes"] if v.startswith("media:")]
    folder = mount.split(":", 1)[1]
    assert folder.startswith("/app/var/")
    run = next(args for name, args in instructions if name == "RUN" and f"mkdir -p {folder}" in args)
    assert f"chown -R {user}:{user} /app/var" in run
    assert "media" in compose["volumes"]


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[dict]:
    """The compose web service's gunicorn command on a free loopback port, after the compose
    migrate command and the Dockerfile's collectstatic line; plain HTTP, DEBUG unset."""
    tmp_path = tmp_path_factory.mktemp("web")
    static_root = tmp_path / "static"
    build_env = _clean_env(tmp_path, STATIC_ROOT=str(static_root))
    del build_env["SECRET_KEY"]  # the build has none: the Dockerfile line brings its own
    collect = _run(["sh", "-c", _collectstatic_run_line()], build_env)
    assert collect.returncode == 0, collect.stderr[-3000:]

    env = {
        **_clean_env(tmp_path),
        **_service_env("web", {"SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": PUBLIC_HOST}),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fixroute.sqlite3'}",
        "STATIC_ROOT": str(static_root),
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
    }
    del env["REDIS_URL"]  # the compose one is a container's; nothing here needs a broker
    migrate = _run(_command("migrate"), env)
    assert migrate.returncode == 0, migrate.stderr[-3000:]

    port = free_port()
    args = _replace_option(_replace_option(_command("web"), "--bind", f"127.0.0.1:{port}"), "--workers", "1")
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited ({process.returncode}):\n{tail(log)}")
        return http_json(url, "GET", "/healthz", headers={"Host": PUBLIC_HOST}, timeout=5).status == 200

    try:
        wait_until(up, timeout=60, what=f"gunicorn to answer /healthz:\n{tail(log)}", interval=0.3)
        yield {"url": url, "port": port, "env": env, "static_root": static_root, "log": log}
    finally:
        _stop(process)


def _get(web: dict, path: str, **headers: str):
    return http_json(web["url"], "GET", path, headers={"Host": PUBLIC_HOST, **headers}, timeout=10)


def test_the_admin_css_is_served_by_gunicorn_compressed_and_with_a_cache_header(web):
    plain = _get(web, "/static/admin/css/base.css")
    assert plain.status == 200, plain
    assert plain.headers["content-type"].startswith("text/css")
    assert "body" in plain.body
    assert "max-age=" in plain.headers["cache-control"]
    compressed = _get(web, "/static/admin/css/base.css", **{"Accept-Encoding": "gzip"})
    assert compressed.headers.get("content-encoding") == "gzip"


def test_the_swagger_ui_files_are_collected_and_served(web):
    collected = {path.name for path in (web["static_root"] / "ninja").iterdir()}
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-init.js"} <= collected
    answer = _get(web, "/static/ninja/swagger-ui.css")
    assert answer.status == 200, answer
    assert answer.headers["content-type"].startswith("text/css")


def test_healthz_answers_and_an_unknown_url_is_a_plain_404(web):
    assert _get(web, "/healthz").body == {"status": "ok"}
    missing = _get(web, "/no-such-page")
    assert missing.status == 404
    assert "Traceback" not in str(missing.body)
    assert "DEBUG = True" not in str(missing.body)


def test_the_web_healthcheck_passes_although_the_probe_is_not_an_allowed_host(web):
    """The container probes 127.0.0.1, which a real ALLOWED_HOSTS does not list (400)."""
    assert http_json(web["url"], "GET", "/healthz", timeout=10).status == 400
    test = _compose()["services"]["web"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    assert "127.0.0.1:8000" in test[-1]
    probe = [*test[1:-1], test[-1].replace("127.0.0.1:8000", f"127.0.0.1:{web['port']}")]
    result = _run(probe, web["env"], timeout=30)
    assert result.returncode == 0, result.stderr[-3000:]


# --- 3. The compose file --------------------------------------------------------------------------


def _settings_under(env: Mapping[str, str], tmp_path: Path) -> dict[str, str]:
    """Every upper-case name of the settings module loaded with ``env``, as repr."""
    show = (
        "import importlib, json\n"
        f"module = importlib.import_module({SETTINGS_MODULE!r})\n"
        "print(json.dumps({k: repr(v) for k, v in vars(module).items() if k.isupper()}))"
    )
    result = _run(["python", "-c", show], {**_clean_env(tmp_path), **env})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_every_app_service_has_the_same_environment_with_the_one_settings_module_and_debug_off():
    services = _compose()["services"]
    environments = [services[name]["environment"] for name in APP_SERVICES]
    assert all(environment == environments[0] for environment in environments)
    assert environments[0]["DJANGO_SETTINGS_MODULE"] == SETTINGS_MODULE
    assert environments[0]["DEBUG"] == "0"


def test_the_compose_fallbacks_change_no_setting_but_the_ones_meant_to(tmp_path):
    """A ``${NAME:-fallback}`` that differs from the settings' own default (an empty string where
    the default is not empty, a boolean read as off) would silently change production."""
    raw = _compose()["services"]["web"]["environment"]
    fallbacks = {name for name, value in raw.items() if re.fullmatch(rf"\$\{{{name}:-[^}}]*\}}", str(value))}
    assert {
        "SECURE_SSL_REDIRECT",
        "SECURE_COOKIES",
        "SECURE_HSTS_PRELOAD",
        "BEHIND_TLS_PROXY",
        "GEOCODER",
        "GEOCODER_URL",
        "API_TOKEN_TTL_HOURS",
        "CSRF_TRUSTED_ORIGINS",
    } <= fallbacks
    env = _service_env("web", {"SECRET_KEY": SECRET_KEY})
    with_fallbacks = _settings_under(env, tmp_path)
    without = _settings_under({name: value for name, value in env.items() if name not in fallbacks}, tmp_path)
    changed = {name for name in with_fallbacks.keys() | without.keys() if with_fallbacks.get(name) != without.get(name)}
    # Behind the TLS proxy: its X-Forwarded-Proto and X-Forwarded-For are trusted; and the one
    # default public name.
    assert changed == {"SECURE_PROXY_SSL_HEADER", "AXES_IPWARE_PROXY_COUNT", "ALLOWED_HOSTS"}
    assert with_fallbacks["SECURE_SSL_REDIRECT"] == with_fallbacks["SESSION_COOKIE_SECURE"] == "True"


def test_web_listens_on_loopback_for_the_tls_proxy_by_default():
    """BEHIND_TLS_PROXY trusts forwarded headers: only the proxy on the host may reach gunicorn."""
    (port,) = _compose()["services"]["web"]["ports"]
    assert _interpolate(port, {}) == "127.0.0.1:8000:8000"
    assert _option(_command("web"), "--bind") == "0.0.0.0:8000"  # inside its container
    assert _command("web")[:2] == ["gunicorn", "server.config.wsgi:application"]


def test_the_workers_consume_every_queue_the_settings_route_to(tmp_path):
    settings = _settings_under(_service_env("worker", {"SECRET_KEY": SECRET_KEY}), tmp_path)
    default_queue = ast.literal_eval(settings["CELERY_TASK_DEFAULT_QUEUE"])
    replan_queue = ast.literal_eval(settings["CELERY_REPLAN_QUEUE"])
    routed = {route["queue"] for route in ast.literal_eval(settings["CELERY_TASK_ROUTES"]).values()}
    consumed = {}
    for service in ("worker", "replanworker"):
        args = _command(service)
        assert args[:4] == ["celery", "-A", "server.config.celery_app", "worker"]
        consumed[service] = set(_option(args, "-Q").split(","))
    assert consumed == {"worker": {default_queue}, "replanworker": {replan_queue}}
    assert routed == {replan_queue}
    # The solver forks a second search: re-plans run in a non-daemonic process, not a prefork child.
    assert _option(_command("replanworker"), "--pool") in ("threads", "solo")


def test_the_healthchecks_use_existing_endpoints_and_worker_names():
    services = _compose()["services"]
    assert "/healthz" in services["web"]["healthcheck"]["test"][-1]
    for service, node in (("worker", "celery"), ("replanworker", "replan")):
        check = services[service]["healthcheck"]["test"][-1]
        assert f"celery -A server.config.celery_app inspect ping -d {node}@$$HOSTNAME" in check
        name = _option(_command(service), "-n") if "-n" in _command(service) else "celery@%h"
        assert name == f"{node}@%h"


@pytest.fixture
def local_redis() -> str:
    import redis

    try:
        redis.Redis.from_url(LOCAL_REDIS, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        message = f"Redis at {LOCAL_REDIS} is not reachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return LOCAL_REDIS


def test_the_compose_worker_commands_start_and_pass_their_healthchecks(tmp_path, local_redis):
    """worker (in one process here), replanworker and beat, as compose starts them, against Redis."""
    env = {
        **_clean_env(tmp_path),
        **_service_env("worker", {"SECRET_KEY": SECRET_KEY}),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fixroute.sqlite3'}",
        "REDIS_URL": local_redis,
        "HOSTNAME": socket.gethostname(),  # as in a container, where celery's %h is $HOSTNAME
    }
    beat_folder = Path(_option(_command("beat"), "--schedule")).parent
    commands = {
        "worker": [*_command("worker"), "--pool", "solo"],
        "replanworker": _command("replanworker"),
        "beat": [arg.replace(str(beat_folder), str(tmp_path)) for arg in _command("beat")],
    }
    logs = {name: tmp_path / f"{name}.log" for name in commands}
    processes = {}
    try:
        for name, args in commands.items():
            with logs[name].open("wb") as out:
                processes[name] = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

        def started(name: str, marker: str) -> bool:
            if processes[name].poll() is not None:
                raise AssertionError(f"{name} exited ({processes[name].returncode}):\n{tail(logs[name])}")
            return marker in logs[name].read_text(errors="replace")

        for name in ("worker", "replanworker"):
            wait_until(lambda name=name: started(name, " ready."), timeout=60, what=f"{name}:\n{tail(logs[name])}")
        wait_until(lambda: started("beat", "beat: Starting"), timeout=60, what=f"beat:\n{tail(logs['beat'])}")

        services = _compose()["services"]
        for name in ("worker", "replanworker", "beat"):
            kind, check = services[name]["healthcheck"]["test"]
            assert kind == "CMD-SHELL"
            check = _interpolate(check, {}).replace(str(beat_folder), str(tmp_path))
            # Retried as compose retries it: beat opens its schedule just after it logs "Starting".
            wait_until(
                lambda check=check: _run(["sh", "-c", check], env, timeout=30).returncode == 0,
                timeout=30,
                what=f"{name}'s healthcheck:\n{tail(logs[name])}",
                interval=1.0,
            )
    finally:
        for process in processes.values():
            _stop(process)
