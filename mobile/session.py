"""Who is logged in: login (to which server), logout, "session expired", and the token
kept on the device."""

from __future__ import annotations

import urllib.parse
from typing import Any

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from mobile.background import run_in_background
from mobile.i18n import _
from mobile.services.api_client import ApiClient, ApiError, RejectedError, TransientError
from mobile.services.store import DeviceStore


def clean_server_url(text: str) -> str | None:
    """``" fixroute.example.com/ "`` -> ``"https://fixroute.example.com"``; None if unusable."""
    text = text.strip().rstrip("/")
    if not text:
        return None
    if "://" not in text:
        text = "https://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
        return None
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    return text


class Session(EventDispatcher):
    logged_in = BooleanProperty(False)
    technician_id = NumericProperty(0)
    technician_name = StringProperty("")
    username = StringProperty("")  # last one used, to prefill the form
    server_url = StringProperty("")  # the server the app talks to (remembered after a login)
    busy = BooleanProperty(False)  # a login request is in flight
    error = StringProperty("")  # shown on the login screen

    __events__ = ("on_login", "on_logout")

    def __init__(self, *, api: ApiClient, store: DeviceStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._api = api
        self._store = store
        self._closed = False
        self.username = store.last_username()
        # The address of the last successful login wins over the --server default.
        self.server_url = store.last_server() or api.base_url
        self._api.base_url = self.server_url

    def restore(self) -> bool:
        """Pick up the saved token, so a restart skips the login screen."""
        saved = self._store.load_session(self.server_url)
        if saved is None:
            return False
        self._api.token = saved.token
        self.technician_id = saved.technician_id
        self.technician_name = saved.technician_name
        self.logged_in = True
        return True

    def login(self, username: str, password: str, server: str | None = None) -> None:
        username = username.strip()
        if self.busy:
            return
        url = clean_server_url(server) if server is not None else self.server_url
        if not url:
            self.error = _("Enter the server address, for example https://fixroute.example.com")
            return
        if not username or not password:
            self.error = _("Enter your username and password.")
            return
        self.busy = True
        self.error = ""
        self.username = username
        self._api.base_url = url
        self._api.token = None
        run_in_background(
            lambda: self._api.login(username=username, password=password),
            on_done=lambda body: self._on_login_ok(url, body),
            on_error=lambda exc: self._on_login_failed(exc, url),
        )

    def logout(self) -> None:
        """Revoke the token on the server (in the background, best effort) and forget it
        here. What else is cleared is the app's decision (``TechnicianApp.log_out``)."""
        token = self._api.token
        if token:
            client = ApiClient(self._api.base_url, token=token, timeout=self._api.timeout)
            run_in_background(client.logout, on_done=lambda _r: None, on_error=lambda _e: None)
        self._end(error="")

    def expire(self, message: str = "") -> None:
        """The server answered 401: back to the login screen with a reason."""
        self._end(error=message or _("Session expired, please log in again."))

    def close(self) -> None:
        self._closed = True

    def on_login(self) -> None:
        pass

    def on_logout(self) -> None:
        pass

    def _end(self, *, error: str) -> None:
        self._api.token = None
        self._store.clear_session()
        self.logged_in = False
        self.technician_id = 0
        self.technician_name = ""
        self.error = error
        self.dispatch("on_logout")

    def _on_login_ok(self, url: str, body: dict[str, Any]) -> None:
        if self._closed:
            return
        self.busy = False
        technician = body["technician"]
        self._store.save_session(server_url=url, token=body["token"], technician=technician, username=self.username)
        self.server_url = url
        self._api.token = body["token"]
        self.technician_id = int(technician.get("id", 0))
        self.technician_name = str(technician.get("name", ""))
        self.logged_in = True
        self.dispatch("on_login")

    def _on_login_failed(self, exc: BaseException, url: str = "") -> None:
        if self._closed:
            return
        self.busy = False
        self._api.base_url = self.server_url  # keep talking to the server we know
        if isinstance(exc, TransientError) and exc.status == 429:
            self.error = exc.message  # too many wrong passwords: the server says how long to wait
        elif isinstance(exc, TransientError):
            self.error = _("Cannot reach the server at {url}. {reason}").format(
                url=url or self.server_url, reason=exc.message
            )
        elif isinstance(exc, RejectedError) and exc.status in (404, 405):
            self.error = _("{url} does not look like a Fixroute server.").format(url=url)
        elif isinstance(exc, ApiError):
            self.error = exc.message
        else:
            self.error = _("Login failed: {reason}").format(reason=exc)
