"""Static checks: no window or plyer at import, CLI, buildozer.spec (import boundaries are
import-linter contracts in pyproject.toml; the font is tests/mobile/test_fonts.py's)."""

from __future__ import annotations

import ast
import configparser
import fnmatch
import os
import pathlib
import subprocess
import sys

from mobile import fonts
from mobile.main import DEFAULT_SERVER, parse_args

MOBILE = pathlib.Path(__file__).resolve().parents[2] / "mobile"


def _python(code: str) -> str:
    env = dict(
        os.environ,
        KIVY_NO_ARGS="1",
        KIVY_NO_CONFIG="1",
        KIVY_LOG_MODE="PYTHON",
        KIVY_NO_FILELOG="1",
        SDL_VIDEODRIVER="offscreen",
        KIVY_WINDOW="sdl2",
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=MOBILE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_services_import_without_kivy():
    out = _python(
        "import sys; import mobile.services.api_client, mobile.services.outbox, "
        "mobile.services.store, mobile.services.location, mobile.services.jobview; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kivy'))"
    )
    assert out.strip() == "[]"


def test_importing_the_app_opens_no_window_and_loads_no_plyer():
    out = _python(
        "import sys; import mobile.main; "
        "print('kivy.core.window' in sys.modules, 'plyer' in sys.modules, "
        "'django' in sys.modules)"
    )
    assert out.split() == ["False", "False", "False"]


def test_python_dash_m_mobile_help():
    out = _python(
        "import runpy, sys; sys.argv = ['mobile', '--help']\n"
        "try:\n    runpy.run_module('mobile', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0"
    )
    assert "--server" in out


def test_server_url_from_arg_env_or_default(monkeypatch):
    monkeypatch.delenv("FIXROUTE_SERVER", raising=False)
    assert parse_args([]).server == DEFAULT_SERVER == "http://127.0.0.1:8000"
    monkeypatch.setenv("FIXROUTE_SERVER", "https://fixroute.example")
    assert parse_args([]).server == "https://fixroute.example"
    assert parse_args(["--server", "http://10.0.2.2:8000"]).server == "http://10.0.2.2:8000"


# -- buildozer.spec (the APK is built elsewhere; buildozer needs the network) ------------

SPEC = MOBILE / "buildozer.spec"


def _app() -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    assert parser.read(SPEC) == [str(SPEC)]
    return parser["app"]


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# p4a recipe for each top-level module the app may import on Android
RECIPES = {"plyer": "plyer", "android": "android", "jnius": "pyjnius"}
PERMISSIONS = {
    "INTERNET",
    "ACCESS_NETWORK_STATE",
    "ACCESS_FINE_LOCATION",
    "ACCESS_COARSE_LOCATION",
    "CAMERA",
    "VIBRATE",
    "READ_MEDIA_IMAGES",
}


def _packaged(app: configparser.SectionProxy, path: pathlib.Path) -> bool:
    """Would buildozer copy this file into the APK (include_exts, exclude_dirs/patterns)?"""
    source = (SPEC.parent / app["source.dir"]).resolve()
    relative = path.resolve().relative_to(source)
    if path.suffix.lstrip(".") not in _list(app["source.include_exts"]):
        return False
    excluded_dirs = set(_list(app.get("source.exclude_dirs", "")))
    if any(part in excluded_dirs for part in relative.parts[:-1]):
        return False
    return not any(
        fnmatch.fnmatch(str(relative), pattern) or fnmatch.fnmatch(relative.name, pattern)
        for pattern in _list(app.get("source.exclude_patterns", ""))
    )


def _android_imports() -> dict[str, set[str]]:
    """Top-level modules among RECIPES that the app's code imports, with the files importing them."""
    found: dict[str, set[str]] = {}
    for path in MOBILE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in RECIPES:
                    found.setdefault(top, set()).add(path.name)
    return found


def test_buildozer_spec_has_what_the_app_needs():
    app = _app()
    for key in ("title", "package.name", "package.domain", "source.dir", "version"):
        assert app.get(key), key
    source = (SPEC.parent / app["source.dir"]).resolve()
    assert source == MOBILE
    assert (source / "main.py").is_file()
    assert _packaged(app, source / "main.py")
    kv_files = list(source.rglob("*.kv"))
    assert kv_files, "the app has kv files"
    assert all(_packaged(app, kv) for kv in kv_files), "every kv file is packaged"
    requirements = {r.split("==")[0] for r in _list(app["requirements"])}
    assert {"python3", "kivy", "sqlite3", "certifi", "openssl", "plyer", "android", "pyjnius"} <= requirements
    assert "kivy==2.3.1" in _list(app["requirements"])
    assert not requirements & {"django", "server", "notifications", "dispatch"}, "the APK carries no server code"
    permissions = set(_list(app["android.permissions"]))
    assert not PERMISSIONS - permissions, PERMISSIONS - permissions
    assert app["orientation"] == "portrait"
    assert int(app["android.api"]) >= 34
    assert int(app["android.minapi"]) >= 21


def test_buildozer_spec_packages_the_font_and_its_licence_but_no_tests():
    app = _app()
    for path in (fonts.FONT_PATH, fonts.BOLD_FONT_PATH):
        assert _packaged(app, pathlib.Path(path)), f"{path} is left out of the APK"
    assert _packaged(app, MOBILE / "fonts" / "OFL.txt"), "the OFL must travel with the font"
    assert not _packaged(app, MOBILE / "tests" / "test_app.py")
    assert not _packaged(app, MOBILE / "conftest.py")
    assert not _packaged(app, MOBILE / "services" / "test_outbox.py")


def test_every_android_module_the_app_imports_has_its_recipe():
    requirements = {r.split("==")[0] for r in _list(_app()["requirements"])}
    imported = _android_imports()
    assert "plyer" in imported, "the location service uses plyer (the scan found no import)"
    missing = {
        f"{module} ({', '.join(sorted(files))})"
        for module, files in imported.items()
        if RECIPES[module] not in requirements
    }
    assert not missing, f"imported on Android but not in buildozer requirements: {missing}"
