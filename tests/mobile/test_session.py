"""The login screen's message for what the server answered."""

from __future__ import annotations

from mobile.services.api_client import ApiClient, TransientError
from mobile.services.store import DeviceStore
from mobile.session import Session


def test_a_lockout_shows_the_servers_message_not_a_network_error(tmp_path):
    session = Session(api=ApiClient("http://127.0.0.1:9"), store=DeviceStore(str(tmp_path)))
    session._on_login_failed(TransientError("Too many failed logins: try again in 15 minutes", status=429))
    assert session.error == "Too many failed logins: try again in 15 minutes"
    session._on_login_failed(TransientError("Server unreachable (connection refused)."))
    assert session.error.startswith("Cannot reach the server at http://127.0.0.1:9.")
