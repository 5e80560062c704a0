"""``python -m mobile`` stops cleanly on SIGTERM (exit code 0, within seconds)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ui

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_sigterm_stops_the_app_with_exit_code_0(tmp_path):
    env = dict(
        os.environ,
        KIVY_NO_ARGS="1",
        KIVY_NO_CONFIG="1",
        KIVY_NO_FILELOG="1",
        KIVY_LOG_MODE="MIXED",  # Kivy's console handler prints the "started" line; stderr stays
        KIVY_HOME=str(tmp_path / "kivy"),
        SDL_VIDEODRIVER="offscreen",
        KIVY_WINDOW="sdl2",
        KIVY_CLIPBOARD="sdl2",
        FIXROUTE_LANG="en",
    )
    log = tmp_path / "app.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mobile", "--server", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "phone")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while "technician app started" not in log.read_text() and time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()[-3000:]
                time.sleep(0.1)
            assert "technician app started" in log.read_text(), log.read_text()[-3000:]
            time.sleep(0.5)
            sent = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=10)
            took = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code == 0, log.read_text()[-3000:]
    assert took < 5
