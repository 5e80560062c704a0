"""Login: server address, username, password -> token; shows why a login failed."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import Screen

from mobile.screens import load_kv
from mobile.services.jobview import others_waiting_text

load_kv(__file__)


class LoginScreen(Screen):
    session = ObjectProperty(None)  # mobile.session.Session
    sync = ObjectProperty(None)  # mobile.sync.SyncEngine
    server_url = StringProperty("")
    initial_username = StringProperty("")
    busy = BooleanProperty(False)
    error = StringProperty("")
    pending_text = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial_username = self.session.username
        self.server_url = self.session.server_url
        self.session.bind(busy=self.setter("busy"), error=self.setter("error"), server_url=self.setter("server_url"))
        self.error = self.session.error
        self.sync.bind(others_waiting=self._show_pending)
        self._show_pending()

    def submit(self) -> None:
        self.session.login(self.ids.username.text, self.ids.password.text, self.ids.server.text)

    def on_pre_enter(self, *_args: Any) -> None:
        self.ids.password.text = ""
        self.ids.server.text = self.session.server_url
        if self.session.username:
            self.ids.username.text = self.session.username

    def _show_pending(self, *_args: Any) -> None:
        """Changes still on the phone, by whom (nobody is logged in: they are all someone's)."""
        self.pending_text = others_waiting_text(self.sync.others_waiting)
