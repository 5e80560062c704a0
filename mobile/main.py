"""TechnicianApp: builds the services and screens and wires them together.

Start it with ``python -m mobile [--server URL] [--lang zh-CN]`` (or ``python -m
mobile.main``). The first server address offered on the login screen comes from
``--server``, else ``$FIXROUTE_SERVER``, else ``http://127.0.0.1:8000``; after a login the
address typed there is remembered on the device and wins.

For tests and embedding, everything the app needs from outside is a constructor
argument::

    TechnicianApp(server_url="http://127.0.0.1:8000", data_dir="/tmp/phone",
                  location=FixedLocation(48.85, 2.35), language="zh-CN",
                  actions=PlatformActions("linux", opener=uris.append),
                  retry_base_s=0.2, retry_max_s=2, poll_first_s=30, location_every_s=60)
"""
# The two blocks below must run before the kivy and mobile imports that follow them:
# ruff: noqa: E402

from __future__ import annotations

import os
import sys

# Kivy parses sys.argv on import unless told not to; our own options would make it exit.
os.environ.setdefault("KIVY_NO_ARGS", "1")

if not __package__:
    # buildozer packages the mobile/ folder as the app root and runs this file as a plain
    # script, so there is no "mobile" package on sys.path. Register this folder as it.
    import importlib.util

    _here = os.path.dirname(os.path.abspath(__file__))
    if "mobile" not in sys.modules:
        _spec = importlib.util.spec_from_file_location(
            "mobile", os.path.join(_here, "__init__.py"), submodule_search_locations=[_here]
        )
        assert _spec is not None
        assert _spec.loader is not None
        _package = importlib.util.module_from_spec(_spec)
        sys.modules["mobile"] = _package
        _spec.loader.exec_module(_package)

import argparse
import signal
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.logger import Logger
from kivy.uix.screenmanager import NoTransition, ScreenManager
from kivy.utils import platform

from mobile.fonts import setup_fonts
from mobile.i18n import _, set_language, system_language
from mobile.job_board import JobBoard
from mobile.location_reporter import LocationReporter
from mobile.platform_actions import PlatformActions
from mobile.screens.finish import FinishScreen
from mobile.screens.job_detail import JobDetailScreen
from mobile.screens.job_list import JobListScreen
from mobile.screens.login import LoginScreen
from mobile.services.alerts import Alert, PollSchedule
from mobile.services.api_client import ApiClient
from mobile.services.location import (
    AndroidGpsLocation,
    FixedLocation,
    LocationProvider,
    NoLocation,
    SimulatedLocation,
)
from mobile.services.outbox import Outbox, Owner
from mobile.services.photos import PhotoQueue
from mobile.services.store import DeviceStore
from mobile.session import Session
from mobile.sync import Backoff, SyncEngine

DEFAULT_SERVER = "http://127.0.0.1:8000"
WINDOW_SIZE = (400, 720)  # desktop runs: roughly a phone in portrait


class TechnicianApp(App):
    def __init__(
        self,
        *,
        server_url: str = DEFAULT_SERVER,
        data_dir: str | None = None,
        location: LocationProvider | None = None,
        language: str | None = None,
        actions: PlatformActions | None = None,
        retry_base_s: float = 2.0,
        retry_max_s: float = 60.0,
        timeout_s: float = 10.0,
        poll_first_s: float = 30.0,
        poll_max_s: float = 300.0,
        location_every_s: float = 60.0,
        refresh_every_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # The language is fixed before any screen exists: every label is made in it.
        self.language = set_language(language or system_language(platform))
        self.title = _("Fixroute Technician")
        self.server_url = server_url.rstrip("/")  # the first default; a login remembers its own
        self._data_dir = data_dir
        self.location: LocationProvider = location or default_location()
        self.actions = actions or PlatformActions(platform)
        self._backoff = (retry_base_s, retry_max_s)  # first and longest retry delay
        self._timeout_s = timeout_s
        if refresh_every_s is not None:  # older keyword: a fixed interval (0: only on demand)
            poll_first_s = poll_max_s = refresh_every_s
        self._poll = (poll_first_s, poll_max_s)
        self._location_every_s = location_every_s

    def build(self) -> ScreenManager:
        setup_fonts()
        data_dir = self.data_dir = self._data_dir or self.user_data_dir
        os.makedirs(data_dir, exist_ok=True)
        self.api = ApiClient(self.server_url, timeout=self._timeout_s)
        self.store = DeviceStore(data_dir)
        self.outbox = Outbox(os.path.join(data_dir, "outbox.sqlite3"))
        self.photos = PhotoQueue(os.path.join(data_dir, "outbox.sqlite3"), os.path.join(data_dir, "photos"))
        self.session = Session(api=self.api, store=self.store)
        poll = PollSchedule(first=self._poll[0], maximum=self._poll[1]) if self._poll[0] > 0 else None
        self.board = JobBoard(api=self.api, store=self.store, outbox=self.outbox, poll=poll)
        self.sync = SyncEngine(
            api=self.api,
            outbox=self.outbox,
            location=self.location,
            photos=self.photos,
            backoff=Backoff(first=self._backoff[0], maximum=self._backoff[1]),
        )
        self.reporter = LocationReporter(board=self.board, sync=self.sync, every_s=self._location_every_s)

        self.session.bind(on_login=self._on_login, on_logout=self._on_logout)
        self.board.bind(
            on_auth_required=self._on_auth_required,
            offline=self._on_offline_changed,
            on_alert=self._on_alert,
        )
        self.sync.bind(
            on_auth_required=self._on_auth_required,
            on_job=lambda _sync, job: self.board.apply_server_job(job),
            on_changed=self._on_outbox_changed,
            on_rejected=lambda _sync, _event, _msg: self.board.refresh(),
        )

        manager = ScreenManager(transition=NoTransition())
        manager.add_widget(LoginScreen(name="login", session=self.session, sync=self.sync))
        manager.add_widget(JobListScreen(name="jobs", board=self.board, sync=self.sync, session=self.session))
        manager.add_widget(JobDetailScreen(name="job_detail", board=self.board, sync=self.sync, actions=self.actions))
        manager.add_widget(FinishScreen(name="finish", board=self.board, sync=self.sync, store=self.store))
        return manager

    def on_start(self) -> None:
        self.location.start()
        if platform == "android":
            from kivy.core.window import Window

            Window.softinput_mode = "below_target"  # keep the password field visible
        if self.session.restore():
            self.sync.set_owner(self._owner())
            self.board.load_cache()
            self.root.current = "jobs"
            self.board.refresh()
            self.board.start_polling()
            self.sync.sync_now()
        else:
            self.root.current = "login"
        Logger.info("Fixroute: technician app started (%s)", self.language)

    def on_pause(self) -> bool:
        return True  # Android: keep the app alive in the background

    def on_resume(self) -> None:
        if self.session.logged_in:
            self.board.refresh()
            self.board.poll_soon()
            self.sync.sync_now()

    def on_stop(self) -> None:
        self.reporter.stop()
        for part in (self.sync, self.board, self.session):
            part.close()
        self.location.stop()
        self.photos.close()
        self.outbox.close()

    # -- what screens call ---------------------------------------------------------------

    def dismiss_alert(self) -> None:
        self.board.dismiss_alert()

    def log_out(self, *, discard: bool) -> None:
        """Revoke the token and clear the phone's copy of the day (jobs, drafts, sent
        photos). Unsent events and unsent or failed photos (files too) are kept for this
        technician's next login unless they confirmed ``discard``. Only this technician's:
        what another technician left on the phone waits for them."""
        if discard:  # while the owner is still set: these calls touch the current owner's rows
            self.outbox.discard_pending()
            self.outbox.clear_rejected()
        self.photos.clear(discard=discard)
        self.session.logout()
        self.store.clear_drafts()
        self.board.clear()
        self.sync.recount()

    # -- wiring ----------------------------------------------------------------------

    def _owner(self) -> Owner:
        """The owner of what this session queues: this technician on this server."""
        session = self.session
        return Owner(session.server_url, int(session.technician_id), session.technician_name)

    def _on_login(self, _session: Session) -> None:
        self.sync.set_owner(self._owner())
        self.board.clear()
        self.root.current = "jobs"
        self.board.refresh()
        self.board.start_polling()
        self.sync.resume()

    def _on_logout(self, _session: Session) -> None:
        self.sync.pause()
        self.board.stop_polling()
        self.reporter.stop()
        self.board.clear()
        self.sync.set_owner(None)  # nothing goes out until someone logs in
        self.root.current = "login"

    def _on_outbox_changed(self, _sync: SyncEngine) -> None:
        self.board.rebuild()
        self.board.poll_soon()  # the technician is active: look for changes sooner

    def _on_alert(self, _board: JobBoard, _alerts: list[Alert]) -> None:
        self.actions.alert()

    def _on_offline_changed(self, _board: JobBoard, offline: bool) -> None:
        if not offline:  # the server answers again: send the outbox now, not at next retry
            self.sync.sync_now()

    def _on_auth_required(self, _source: Any, message: str) -> None:
        if self.session.logged_in:
            self.session.expire(message)


def default_location() -> LocationProvider:
    return AndroidGpsLocation() if platform == "android" else NoLocation()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mobile", description="Fixroute technician app")
    parser.add_argument(
        "--server",
        default=os.environ.get("FIXROUTE_SERVER") or DEFAULT_SERVER,
        help="first server address to offer (default: $FIXROUTE_SERVER or %(default)s); "
        "the address of the last successful login is remembered",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="where the token, job cache and outbox live (default: the platform's app data dir)",
    )
    parser.add_argument("--location", default=None, metavar="LAT,LON", help="desktop only: pretend the phone is here")
    parser.add_argument(
        "--drive-to",
        default=None,
        metavar="LAT,LON",
        help="desktop only: with --location, drive from there to here (simulated GPS)",
    )
    parser.add_argument("--lang", default=None, help="en or zh-CN (default: the system language)")
    return parser.parse_args(argv)


def _point(text: str) -> tuple[float, float]:
    lat, lon = (float(part) for part in text.split(","))
    return lat, lon


def install_sigterm(app: App) -> None:
    """SIGTERM stops the app cleanly (on_stop closes the databases) instead of killing it.

    The handler only schedules ``app.stop`` on the Clock: the main loop runs it between
    frames, on the main thread."""

    def handler(_signum: int, _frame: Any) -> None:
        Clock.schedule_once(lambda _dt: app.stop())

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    location: LocationProvider | None = None
    if args.location and args.drive_to:
        location = SimulatedLocation(_point(args.location), _point(args.drive_to))
    elif args.location:
        location = FixedLocation(*_point(args.location))
    if platform not in ("android", "ios"):
        from kivy.config import Config

        Config.set("graphics", "width", str(WINDOW_SIZE[0]))
        Config.set("graphics", "height", str(WINDOW_SIZE[1]))
    app = TechnicianApp(server_url=args.server, data_dir=args.data_dir, location=location, language=args.lang)
    if platform != "android":
        install_sigterm(app)
    app.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
