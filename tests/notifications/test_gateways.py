import logging
from typing import Any, cast

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioRestException
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from notifications.gateways import (
    GATEWAYS,
    PermanentSmsError,
    SmsError,
    SmsGateway,
    TransientSmsError,
    UnknownSmsOutcomeError,
    get_gateway,
    memory,
)
from notifications.gateways import twilio as twilio_gateway
from notifications.gateways.console import ConsoleGateway
from notifications.gateways.memory import MemoryGateway
from notifications.gateways.twilio import TwilioGateway


def test_console_prints_and_logs(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="notifications.gateways.console"):
        result = ConsoleGateway().send(to="+8613800138000", body="【品牌】张师傅已到达，请开门。")
    assert capsys.readouterr().out == "SMS to +8613800138000: 【品牌】张师傅已到达，请开门。\n"
    assert result.provider_message_id.startswith("console-")
    assert result.provider_message_id in caplog.text


def test_memory_records_and_fails_on_request() -> None:
    memory.reset()
    gateway = MemoryGateway()
    memory.fail_next(TransientSmsError("busy"))
    with pytest.raises(TransientSmsError):
        gateway.send(to="+14155552671", body="one")
    result = gateway.send(to="+14155552671", body="two")
    assert memory.sent == [memory.SentSms("+14155552671", "two", result.provider_message_id)]
    memory.reset()
    assert memory.sent == []


def test_get_gateway_by_name_and_by_setting(settings: Any) -> None:
    settings.SMS_PROVIDER = "memory"
    assert isinstance(get_gateway(), MemoryGateway)
    assert isinstance(get_gateway("console"), ConsoleGateway)
    assert isinstance(get_gateway("twilio"), TwilioGateway)
    for name in GATEWAYS:
        gateway = get_gateway(name)
        assert isinstance(gateway, SmsGateway)
        assert gateway.name == name


def test_get_gateway_unknown_name_is_a_clear_error(settings: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"Unknown SMS provider 'carrier-pigeon'.*twilio"):
        get_gateway("carrier-pigeon")
    settings.SMS_PROVIDER = "smpp"
    with pytest.raises(ImproperlyConfigured, match="'smpp'"):
        get_gateway()


class FakeMessages:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.calls: list[dict[str, Any]] = []

    def create(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeMessage:
    sid = "SM0123456789abcdef0123456789abcdef"


@pytest.fixture
def fake_twilio(settings: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Twilio credentials set and ``twilio.rest.Client`` replaced: no network."""
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "secret"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    state: dict[str, Any] = {"messages": FakeMessages(FakeMessage())}

    class FakeClient:
        def __init__(self, username: str, password: str, **kwargs: Any) -> None:
            state["credentials"] = (username, password)
            state["http_client"] = kwargs.get("http_client")
            self.messages = state["messages"]

    monkeypatch.setattr(twilio_gateway, "Client", FakeClient)
    return state


def test_twilio_sends_through_the_client(fake_twilio: dict[str, Any]) -> None:
    result = TwilioGateway().send(to="+14155552671", body="[Fixroute] On the way.")
    assert result.provider_message_id == FakeMessage.sid
    assert fake_twilio["credentials"] == ("AC123", "secret")
    assert fake_twilio["messages"].calls == [
        {"to": "+14155552671", "from_": "+15005550006", "body": "[Fixroute] On the way."}
    ]
    # The SDK's default is no timeout; ours must bound the call and leave retries to the outbox.
    assert fake_twilio["http_client"].timeout == twilio_gateway.HTTP_TIMEOUT_S


def test_twilio_without_credentials_fails_permanently(fake_twilio: dict[str, Any], settings: Any) -> None:
    settings.TWILIO_AUTH_TOKEN = ""
    settings.TWILIO_FROM_NUMBER = ""
    with pytest.raises(PermanentSmsError, match="TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER"):
        TwilioGateway().send(to="+14155552671", body="x")
    assert "credentials" not in fake_twilio


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, 21211, PermanentSmsError),  # invalid To
        (400, 21610, PermanentSmsError),  # replied STOP
        (400, 21614, PermanentSmsError),  # landline
        (401, 20003, PermanentSmsError),  # bad credentials
        (429, 20429, TransientSmsError),  # too many requests
        (503, None, TransientSmsError),
        (500, 20500, TransientSmsError),
    ],
)
def test_twilio_rest_errors_are_classified(
    fake_twilio: dict[str, Any], status: int, code: int | None, expected: type[SmsError]
) -> None:
    fake_twilio["messages"].outcome = TwilioRestException(
        status, "https://api.twilio.com/x", msg="nope", code=code, method="POST"
    )
    with pytest.raises(expected) as excinfo:
        TwilioGateway().send(to="+14155552671", body="x")
    assert type(excinfo.value) is expected
    assert excinfo.value.code == (str(code) if code else None)
    assert f"Twilio HTTP {status}: nope" in str(excinfo.value)
    assert "\033[" not in str(excinfo.value)


def _refused() -> requests.ConnectionError:
    reason = NewConnectionError(cast(Any, None), "Connection refused")
    return requests.ConnectionError(MaxRetryError(cast(Any, None), "/x", reason))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (requests.ConnectTimeout("connect timed out"), TransientSmsError),
        (_refused(), TransientSmsError),
        # The request may already be at Twilio: unknown, never blindly resent.
        (requests.ReadTimeout("read timed out"), UnknownSmsOutcomeError),
        (requests.ConnectionError(ProtocolError("Connection aborted.")), UnknownSmsOutcomeError),
    ],
)
def test_twilio_transport_errors_are_classified(
    fake_twilio: dict[str, Any], error: Exception, expected: type[Exception]
) -> None:
    fake_twilio["messages"].outcome = error
    with pytest.raises(expected):
        TwilioGateway().send(to="+14155552671", body="x")


@pytest.mark.django_db
def test_opted_out_number_fails_the_outbox_row(fake_twilio: dict[str, Any], settings: Any) -> None:
    from notifications import services

    settings.SMS_PROVIDER = "twilio"
    fake_twilio["messages"].outcome = TwilioRestException(
        400, "https://api.twilio.com/x", msg="Attempt to send to unsubscribed recipient", code=21610
    )
    message = services.sms_queue(to="+14155552671", body="x", kind="other", language="en")
    message = services.sms_send(message_id=message.pk)
    assert message.status == "failed"
    assert message.error.startswith("21610: Twilio HTTP 400")
    assert message.attempts == 1
