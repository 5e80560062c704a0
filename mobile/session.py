"""Who is logged in: login, logout, "session expired", and the token kept on the device."""

from __future__ import annotations

from typing import Any

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from mobile.background import run_in_background
from mobile.services.api_client import ApiClient, ApiError, TransientError
from mobile.services.store import DeviceStore


class Session(EventDispatcher):
    logged_in = BooleanProperty(False)
    technician_id = NumericProperty(0)
    technician_name = StringProperty("")
    username = StringProperty("")  # last one used, to prefill the form
    busy = BooleanProperty(False)  # a login request is in flight
    error = StringProperty("")  # shown on the login screen

    __events__ = ("on_login", "on_logout")

    def __init__(self, *, api: ApiClient, store: DeviceStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._api = api
        self._store = store
        self._closed = False
        self.username = store.last_username()

    def restore(self) -> bool:
        """Pick up the saved token, so a restart skips the login screen."""
        saved = self._store.load_session(self._api.base_url)
        if saved is None:
            return False
        self._api.token = saved.token
        self.technician_id = saved.technician_id
        self.technician_name = saved.technician_name
        self.logged_in = True
        return True

    def login(self, username: str, password: str) -> None:
        username = username.strip()
        if self.busy:
            return
        if not username or not password:
            self.error = "Enter your username and password."
            return
        self.busy = True
        self.error = ""
        self.username = username
        run_in_background(
            lambda: self._api.login(username=username, password=password),
            on_done=self._on_login_ok,
            on_error=self._on_login_failed,
        )

    def logout(self) -> None:
        """Forget the token. Unsent taps stay in the outbox for the next login."""
        self._end(error="")

    def expire(self, message: str = "") -> None:
        """The server answered 401: back to the login screen with a reason."""
        self._end(error=message or "Session expired, please log in again.")

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

    def _on_login_ok(self, body: dict[str, Any]) -> None:
        if self._closed:
            return
        self.busy = False
        technician = body["technician"]
        self._store.save_session(
            server_url=self._api.base_url, token=body["token"], technician=technician, username=self.username
        )
        self._api.token = body["token"]
        self.technician_id = int(technician.get("id", 0))
        self.technician_name = str(technician.get("name", ""))
        self.logged_in = True
        self.dispatch("on_login")

    def _on_login_failed(self, exc: BaseException) -> None:
        if self._closed:
            return
        self.busy = False
        if isinstance(exc, TransientError) and exc.status == 429:
            self.error = exc.message  # too many wrong passwords: the server says how long to wait
        elif isinstance(exc, TransientError):
            self.error = f"Cannot reach the server. {exc.message}"
        elif isinstance(exc, ApiError):
            self.error = exc.message
        else:
            self.error = f"Login failed: {exc}"
