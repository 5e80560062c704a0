"""The real Twilio and Aliyun gateway classes against a local fake HTTP API (no credentials)."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from notifications import services
from notifications.gateways import PermanentSmsError, TransientSmsError, provider_for
from notifications.gateways import twilio as twilio_gateway
from notifications.gateways.aliyun import AliyunGateway, national_number, parse_templates
from notifications.gateways.twilio import TwilioGateway
from notifications.models import SmsMessage
from tests.notifications.fake_http import FakeProvider, Seen, fake_provider

pytestmark = pytest.mark.django_db


def twilio_message(sid: str, body: str, to: str = "+14155552671") -> dict[str, Any]:
    return {
        "sid": sid, "body": body, "to": to, "from": "+14155550000", "status": "delivered",
        "date_sent": "Mon, 30 Nov 2026 10:00:00 +0000", "account_sid": "AC1",
    }  # fmt: skip


@pytest.fixture
def local_twilio(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    settings.TWILIO_ACCOUNT_SID = "AC1"
    settings.TWILIO_AUTH_TOKEN = "token"
    settings.TWILIO_FROM_NUMBER = "+14155550000"
    listed: list[dict[str, Any]] = []

    def answer(seen: Seen) -> tuple[int, Any]:
        if seen.method == "POST":
            return 201, twilio_message("SMnew", seen.form.get("Body", ""), seen.form.get("To", ""))
        return 200, {"messages": listed, "next_page_uri": None, "page": 0, "page_size": 50}

    with fake_provider(answer) as provider:
        base = provider.url

        class LocalHttpClient(twilio_gateway.TwilioHttpClient):
            def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                return super().request(method, url.replace("https://api.twilio.com", base), *args, **kwargs)

        monkeypatch.setattr(twilio_gateway, "TwilioHttpClient", LocalHttpClient)
        provider.listed = listed  # type: ignore[attr-defined]
        yield provider


def unknown_row(body: str, provider: str = "twilio", to: str = "+14155552671") -> SmsMessage:
    return SmsMessage.objects.create(
        to=to, body=body, kind="on_my_way", language="en", provider=provider, status=SmsMessage.Status.UNKNOWN,
        attempts=1, template_params={"name": "张师傅", "start": "10:20", "end": "10:40"},
    )  # fmt: skip


def test_twilio_send_over_http(local_twilio: FakeProvider) -> None:
    result = TwilioGateway().send(to="+14155552671", body="[Fixroute] hi")
    assert result.provider_message_id == "SMnew"
    posted = local_twilio.requests[-1]
    assert posted.path == "/2010-04-01/Accounts/AC1/Messages.json"
    assert posted.form["To"] == "+14155552671"
    assert posted.form["Body"] == "[Fixroute] hi"


def test_twilio_lookup_lists_messages_to_the_number_and_matches_the_body(local_twilio: FakeProvider) -> None:
    message = unknown_row("[Fixroute] Your technician is on the way.")
    listed = local_twilio.listed  # type: ignore[attr-defined]
    listed[:] = [twilio_message("SMother", "[Fixroute] Something else"), twilio_message("SMours", message.body)]
    found = TwilioGateway().lookup(message)
    assert (found.found, found.provider_message_id, found.status) == (True, "SMours", "delivered")
    query = local_twilio.requests[-1].query
    assert query["To"] == message.to
    assert "DateSent>" in query
    listed[:] = [twilio_message("SMother", "[Fixroute] Something else")]
    assert TwilioGateway().lookup(message).found is False


def test_twilio_lookup_error_cannot_tell(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.TWILIO_ACCOUNT_SID = "AC1"
    settings.TWILIO_AUTH_TOKEN = "token"
    settings.TWILIO_FROM_NUMBER = "+14155550000"
    with fake_provider(lambda seen: (500, {"code": 20500, "message": "Internal"})) as provider:
        base = provider.url

        class LocalHttpClient(twilio_gateway.TwilioHttpClient):
            def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                return super().request(method, url.replace("https://api.twilio.com", base), *args, **kwargs)

        monkeypatch.setattr(twilio_gateway, "TwilioHttpClient", LocalHttpClient)
        assert TwilioGateway().lookup(unknown_row("x")).found is None


def test_twilio_reconcile_end_to_end(local_twilio: FakeProvider) -> None:
    message = unknown_row("[Fixroute] on the way")
    local_twilio.listed[:] = [twilio_message("SMfound", message.body)]  # type: ignore[attr-defined]
    message = services.sms_reconcile(message_id=message.pk, now=timezone.now() + timedelta(minutes=5))
    assert (message.status, message.provider_message_id) == (SmsMessage.Status.SENT, "SMfound")


# --- Aliyun ----------------------------------------------------------------------------------


@pytest.fixture
def aliyun_settings(settings: Any) -> Any:
    settings.ALIYUN_SMS_ACCESS_KEY_ID = "test-key-id"
    settings.ALIYUN_SMS_ACCESS_KEY_SECRET = "test-secret"
    settings.ALIYUN_SMS_SIGN_NAME = "品牌"
    settings.ALIYUN_SMS_TEMPLATES = "on_my_way=SMS_100, booked=SMS_101"
    return settings


def aliyun_answer(send: dict[str, Any], details: list[dict[str, Any]] | None = None) -> Any:
    def answer(seen: Seen) -> tuple[int, Any]:
        action = seen.headers.get("x-acs-action") or seen.query.get("Action") or seen.form.get("Action")
        if action == "SendSms":
            return 200, send
        if action == "QuerySendDetails":
            return 200, {
                "Code": "OK", "Message": "OK", "RequestId": "r2", "TotalCount": len(details or []),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": details or []},
            }  # fmt: skip
        return 404, {"Code": "InvalidAction", "Message": action}

    return answer


def params_of(seen: Seen) -> dict[str, str]:
    """The API's parameters and action, wherever the SDK put them (query, form or header)."""
    action = seen.headers.get("x-acs-action") or seen.query.get("Action") or seen.form.get("Action", "")
    return {**seen.query, **seen.form, "Action": action}


def test_aliyun_send_uses_the_template_for_the_kind(aliyun_settings: Any) -> None:
    ok = {"Code": "OK", "Message": "OK", "BizId": "123456^0", "RequestId": "r1"}
    with fake_provider(aliyun_answer(ok)) as provider:
        aliyun_settings.ALIYUN_SMS_ENDPOINT = provider.url
        result = AliyunGateway().send(
            to="+8613800138000", body="ignored", kind="on_my_way", params={"name": "张师傅"}, out_id="42"
        )
    assert result.provider_message_id == "123456^0"
    assert len(provider.requests) == 1
    sent = params_of(provider.requests[0])
    assert sent["Action"] == "SendSms"
    assert sent["PhoneNumbers"] == "13800138000"
    assert sent["SignName"] == "品牌"
    assert sent["TemplateCode"] == "SMS_100"
    assert sent["TemplateParam"] == '{"name": "张师傅"}'
    assert sent["OutId"] == "42"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("isv.MOBILE_NUMBER_ILLEGAL", PermanentSmsError),
        ("isv.SMS_TEMPLATE_ILLEGAL", PermanentSmsError),
        ("isp.SYSTEM_ERROR", TransientSmsError),
        ("isv.BUSINESS_LIMIT_CONTROL", TransientSmsError),
    ],
)
def test_aliyun_refusals_are_classified_and_not_retried_by_the_sdk(
    aliyun_settings: Any, code: str, error: type[Exception]
) -> None:
    refused = {"Code": code, "Message": "refused", "RequestId": "r1"}
    with fake_provider(aliyun_answer(refused)) as provider:
        aliyun_settings.ALIYUN_SMS_ENDPOINT = provider.url
        with pytest.raises(error) as raised:
            AliyunGateway().send(to="+8613800138000", body="b", kind="booked", params={}, out_id="1")
    assert getattr(raised.value, "code", None) == code
    assert len(provider.requests) == 1


def test_aliyun_server_error_is_transient_and_sent_once(aliyun_settings: Any) -> None:
    with fake_provider(lambda seen: (503, {"Code": "ServiceUnavailable", "Message": "busy"})) as provider:
        aliyun_settings.ALIYUN_SMS_ENDPOINT = provider.url
        with pytest.raises(TransientSmsError):
            AliyunGateway().send(to="+8613800138000", body="b", kind="booked", out_id="1")
    assert len(provider.requests) == 1  # the SDK's own retries are off: SendSms is not idempotent


def test_aliyun_unreachable_endpoint_is_transient(aliyun_settings: Any) -> None:
    with fake_provider(lambda seen: (200, {})) as provider:
        url = provider.url
    aliyun_settings.ALIYUN_SMS_ENDPOINT = url  # closed: nothing listens there now
    with pytest.raises(TransientSmsError):
        AliyunGateway().send(to="+8613800138000", body="b", kind="booked", out_id="1")


def test_aliyun_missing_template_or_credentials_is_permanent(aliyun_settings: Any) -> None:
    with pytest.raises(PermanentSmsError, match="template"):
        AliyunGateway().send(to="+8613800138000", body="b", kind="arrived")
    aliyun_settings.ALIYUN_SMS_ACCESS_KEY_SECRET = ""
    with pytest.raises(PermanentSmsError, match="ALIYUN_SMS_ACCESS_KEY_SECRET"):
        AliyunGateway().send(to="+8613800138000", body="b", kind="booked")


def test_aliyun_lookup_matches_our_out_id(aliyun_settings: Any) -> None:
    message = unknown_row("b", provider="aliyun", to="+8613800138000")
    details = [
        {"OutId": "999", "SendStatus": 3, "PhoneNum": "13800138000", "Content": "other"},
        {"OutId": str(message.pk), "SendStatus": 1, "PhoneNum": "13800138000", "Content": "【品牌】..."},
    ]
    with fake_provider(aliyun_answer({}, details)) as provider:
        aliyun_settings.ALIYUN_SMS_ENDPOINT = provider.url
        found = AliyunGateway().lookup(message)
        assert (found.found, found.status) == (True, "sent")
        query = params_of(provider.requests[0])
        assert query["Action"] == "QuerySendDetails"
        assert query["PhoneNumber"] == "13800138000"
        assert query["SendDate"] == timezone.localtime(message.created_at, timezone.get_fixed_timezone(480)).strftime(
            "%Y%m%d"
        )
    with fake_provider(aliyun_answer({}, details[:1])) as provider:
        aliyun_settings.ALIYUN_SMS_ENDPOINT = provider.url
        assert AliyunGateway().lookup(message).found is False
    with fake_provider(lambda seen: (500, {"Code": "InternalError", "Message": "x"})) as provider:
        aliyun_settings.ALIYUN_SMS_ENDPOINT = provider.url
        assert AliyunGateway().lookup(message).found is None


def test_aliyun_outbox_end_to_end(aliyun_settings: Any, settings: Any) -> None:
    settings.SMS_PROVIDER = "console"
    ok = {"Code": "OK", "Message": "OK", "BizId": "777^0", "RequestId": "r1"}
    with fake_provider(aliyun_answer(ok)) as provider:
        aliyun_settings.ALIYUN_SMS_ENDPOINT = provider.url
        message = services.sms_queue(
            to="+8613800138000", body="【品牌】张师傅已出发", kind="on_my_way", language="zh-CN",
            params={"name": "张师傅", "start": "10:20", "end": "10:40"},
        )  # fmt: skip
        assert message.provider == "aliyun"
        message = services.sms_send(message_id=message.pk)
    assert (message.status, message.provider_message_id) == (SmsMessage.Status.SENT, "777^0")
    assert params_of(provider.requests[0])["OutId"] == str(message.pk)


def test_provider_for_routes_mainland_numbers_to_aliyun_only_when_configured(settings: Any) -> None:
    settings.SMS_PROVIDER = "twilio"
    settings.ALIYUN_SMS_ACCESS_KEY_ID = ""
    assert provider_for(to="+8613800138000") == "twilio"
    settings.ALIYUN_SMS_ACCESS_KEY_ID = "key"
    assert provider_for(to="+8613800138000") == "aliyun"
    assert provider_for(to="+85291234567") == "twilio"


def test_aliyun_helpers() -> None:
    assert parse_templates(" booked=SMS_1, on_my_way = SMS_2,,bad") == {"booked": "SMS_1", "on_my_way": "SMS_2"}
    assert national_number("+8613800138000") == "13800138000"
    assert national_number("+85291234567") == "85291234567"


def test_aliyun_transport_errors_after_connecting_are_unknown() -> None:
    from darabonba.exceptions import RetryError

    from notifications.gateways.aliyun import error_from_exception
    from notifications.gateways.base import UnknownSmsOutcomeError

    read_timeout = RetryError("HTTPConnectionPool(host='x', port=80): Read timed out. (read timeout=10.0)")
    refused = RetryError("Max retries exceeded (Caused by NewConnectionError('Failed to establish a new connection'))")
    assert isinstance(error_from_exception(read_timeout), UnknownSmsOutcomeError)
    assert isinstance(error_from_exception(refused), TransientSmsError)
