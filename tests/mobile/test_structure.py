"""Static checks: no window or plyer at import, CLI, fonts, buildozer.spec (import boundaries are
import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import configparser
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


def test_cjk_font_is_optional(tmp_path, monkeypatch):
    monkeypatch.delenv("FIXROUTE_CJK_FONT", raising=False)
    assert fonts.find_cjk_font((str(tmp_path / "missing.ttc"),), ()) is None
    font = tmp_path / "fake-cjk.ttc"
    font.write_bytes(b"")
    assert fonts.find_cjk_font((str(tmp_path / "missing.ttc"), str(font)), ()) == str(font)
    monkeypatch.setenv("FIXROUTE_CJK_FONT", str(font))
    assert fonts.find_cjk_font((), ()) == str(font)


def test_labels_are_english_without_a_cjk_font():
    if fonts.has_cjk():
        assert fonts.tr("Today", "今天") == "Today 今天"
    else:
        assert fonts.tr("Today", "今天") == "Today"


# -- buildozer.spec (the APK is built elsewhere; buildozer needs the network) ------------

SPEC = MOBILE / "buildozer.spec"


def _app() -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    assert parser.read(SPEC) == [str(SPEC)]
    return parser["app"]


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def test_buildozer_spec_has_what_the_app_needs():
    app = _app()
    for key in ("title", "package.name", "package.domain", "source.dir", "version"):
        assert app.get(key), key
    source = (SPEC.parent / app["source.dir"]).resolve()
    assert (source / "main.py").is_file()
    assert {"py", "kv"} <= set(_list(app["source.include_exts"]))
    assert list(source.rglob("*.kv")), "kv files are packaged"
    requirements = {r.split("==")[0] for r in _list(app["requirements"])}
    assert {"python3", "kivy", "sqlite3", "certifi", "plyer", "android"} <= requirements
    assert "kivy==2.3.1" in _list(app["requirements"])
    assert not requirements & {"django", "server", "notifications", "dispatch"}, "the APK carries no server code"
    permissions = set(_list(app["android.permissions"]))
    assert {"INTERNET", "ACCESS_FINE_LOCATION", "ACCESS_COARSE_LOCATION"} <= permissions
    assert app["orientation"] == "portrait"
    assert int(app["android.api"]) >= 34
    assert int(app["android.minapi"]) >= 21
