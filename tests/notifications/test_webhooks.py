import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from notifications import replies, selectors, services
from notifications.gateways import memory
from notifications.models import InboundSms, SmsMessage

pytestmark = pytest.mark.django_db

TOKEN = "test-auth-token"
BASE = "https://fixroute.example.com"
PHONE = "+14155552671"
handled: list[int] = []


def record_reply(*, inbound_id: int) -> None:
    """Stands in for server.crm.replies.sms_reply_handle."""
    handled.append(inbound_id)
    replies.inbound_mark_handled(inbound_id=inbound_id, outcome="test handler")


def failing_reply(*, inbound_id: int) -> None:
    raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def twilio_settings(settings: Any) -> None:
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE
    settings.SMS_REPLY_HANDLER = "tests.notifications.test_webhooks.record_reply"
    settings.SMS_SIGNATURE = "Fixroute"
    settings.ALIYUN_SMS_PUSH_TOKEN = ALIYUN_TOKEN
    handled.clear()


def signed_post(client: Client, path: str, data: dict[str, str], *, token: str = TOKEN) -> Any:
    signature = RequestValidator(token).compute_signature(BASE + path, data)
    return client.post(path, data, HTTP_X_TWILIO_SIGNATURE=signature)


def inbound(sid: str = "SM1", body: str = "hello", sender: str = PHONE) -> dict[str, str]:
    return {"MessageSid": sid, "From": sender, "To": "+14155550000", "Body": body, "AccountSid": "AC1"}


def test_an_unsigned_or_forged_request_is_refused(client: Client) -> None:
    assert client.post("/webhooks/twilio/sms", inbound()).status_code == 403
    assert signed_post(client, "/webhooks/twilio/sms", inbound(), token="wrong").status_code == 403
    assert (
        client.post("/webhooks/twilio/sms-status", {"MessageSid": "SM1", "MessageStatus": "delivered"}).status_code
        == 403
    )
    assert InboundSms.objects.count() == 0


def test_unsigned_requests_are_accepted_only_in_debug_without_a_token(client: Client, settings: Any) -> None:
    settings.TWILIO_AUTH_TOKEN = ""
    settings.DEBUG = False
    assert client.post("/webhooks/twilio/sms", inbound()).status_code == 403
    settings.DEBUG = True
    assert client.post("/webhooks/twilio/sms", inbound(body="STOP")).status_code == 200


def test_a_reply_is_recorded_once_and_handed_to_the_handler_after_commit(
    client: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(client, "/webhooks/twilio/sms", inbound(body="师傅到哪了"))
        again = signed_post(client, "/webhooks/twilio/sms", inbound(body="师傅到哪了"))
    assert response.status_code == again.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert "<Message>" not in response.content.decode()
    reply = InboundSms.objects.get()
    assert (reply.from_phone, reply.body, reply.provider) == (PHONE, "师傅到哪了", "twilio")
    assert handled == [reply.pk]
    reply.refresh_from_db()
    assert reply.handled_at is not None
    assert reply.outcome == "test handler"


def test_a_handler_that_cannot_be_imported_leaves_the_reply_for_staff(
    client: Client, settings: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    settings.SMS_REPLY_HANDLER = "server.nowhere.sms_reply_handle"
    with django_capture_on_commit_callbacks(execute=True):
        assert signed_post(client, "/webhooks/twilio/sms", inbound()).status_code == 200
    reply = InboundSms.objects.get()
    assert reply.handled_at is None
    assert reply.outcome == "no reply handler: server.nowhere.sms_reply_handle"
    assert list(selectors.inbound_list(unhandled=True)) == [reply]


def test_a_failing_handler_still_answers_200(
    client: Client, settings: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    settings.SMS_REPLY_HANDLER = "tests.notifications.test_webhooks.failing_reply"
    with django_capture_on_commit_callbacks(execute=True):
        assert signed_post(client, "/webhooks/twilio/sms", inbound()).status_code == 200
    reply = InboundSms.objects.get()
    assert (reply.handled_at, reply.outcome) == (None, "reply handler failed: RuntimeError")


@pytest.mark.parametrize("body", ["STOP", " stop ", "Unsubscribe", "quit.", "退订", "td", "T", "CANCEL"])
def test_opt_out_keywords(client: Client, body: str, django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(client, "/webhooks/twilio/sms", inbound(body=body))
    assert response.status_code == 200
    assert services.sms_opted_out(PHONE)
    assert handled == []  # a keyword is not a reply for the agents
    assert InboundSms.objects.get().handled_at is not None


def test_twilio_answers_its_own_keywords_and_we_confirm_the_chinese_ones(client: Client) -> None:
    stop = signed_post(client, "/webhooks/twilio/sms", inbound("SM1", "STOP")).content.decode()
    assert "<Message>" not in stop
    tuiding = signed_post(client, "/webhooks/twilio/sms", inbound("SM2", "退订")).content.decode()
    assert "<Message>【Fixroute】您已退订服务短信" in tuiding
    subscribe = signed_post(client, "/webhooks/twilio/sms", inbound("SM3", "订阅")).content.decode()
    assert "您已恢复接收服务短信" in subscribe
    assert not services.sms_opted_out(PHONE)


def test_stop_inside_a_sentence_is_not_an_opt_out(
    client: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        signed_post(client, "/webhooks/twilio/sms", inbound(body="please stop by at 5"))
    assert not services.sms_opted_out(PHONE)
    assert len(handled) == 1


def test_start_opts_back_in_and_advanced_opt_out_type_is_honoured(client: Client) -> None:
    signed_post(client, "/webhooks/twilio/sms", {**inbound("SM1", "arrête"), "OptOutType": "STOP"})
    assert services.sms_opted_out(PHONE)
    signed_post(client, "/webhooks/twilio/sms", inbound("SM2", "start"))
    assert not services.sms_opted_out(PHONE)


def sent_message(provider: str, provider_id: str) -> SmsMessage:
    from django.utils import timezone

    return SmsMessage.objects.create(
        to=PHONE, body="b", kind="arrived", language="en", provider=provider, status=SmsMessage.Status.SENT,
        provider_message_id=provider_id, sent_at=timezone.now(),
    )  # fmt: skip


def test_twilio_status_only_moves_forward(client: Client) -> None:
    message = sent_message("twilio", "SMabc")

    def report(status: str, code: str = "") -> str:
        data = {"MessageSid": "SMabc", "MessageStatus": status, "AccountSid": "AC1"}
        if code:
            data["ErrorCode"] = code
        assert signed_post(client, "/webhooks/twilio/sms-status", data).status_code == 204
        message.refresh_from_db()
        return message.delivery_status

    assert report("sent") == "sent"
    assert report("queued") == "sent"  # late, out of order: ignored
    assert report("undelivered", "30003") == "undelivered"
    assert message.delivery_error == "30003"
    assert report("delivered") == "undelivered"  # a final state is never replaced
    assert report("sending") == "undelivered"
    assert message.status == SmsMessage.Status.SENT


def test_a_report_for_an_unknown_message_is_accepted_and_ignored(client: Client) -> None:
    data = {"MessageSid": "SMnobody", "MessageStatus": "delivered"}
    assert signed_post(client, "/webhooks/twilio/sms-status", data).status_code == 204


ALIYUN_TOKEN = "aliyun-push-secret"


def aliyun_post(client: Client, path: str, payload: Any, *, token: str = ALIYUN_TOKEN) -> Any:
    return client.post(
        f"{path}?token={token}", json.dumps(payload, ensure_ascii=False), content_type="application/json"
    )


def test_an_aliyun_push_without_the_token_is_refused(client: Client) -> None:
    report = [{"biz_id": "1^2", "phone_number": "13800138000", "success": True, "report_time": "2026-11-30 10:00:00"}]
    assert aliyun_post(client, "/webhooks/aliyun/sms-report", report, token="guess").status_code == 403
    assert client.post("/webhooks/aliyun/sms-up", json.dumps([]), content_type="application/json").status_code == 403


def test_aliyun_delivery_reports(client: Client) -> None:
    delivered = sent_message("aliyun", "900001")
    failed = sent_message("aliyun", "900002")
    payload = [
        {"phone_number": "13800138000", "send_time": "2026-11-30 10:00:00", "report_time": "2026-11-30 10:00:05",
         "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "900001",
         "out_id": str(delivered.pk)},
        {"phone_number": "13800138000", "send_time": "2026-11-30 10:00:00", "report_time": "2026-11-30 10:00:06",
         "success": False, "err_code": "MK:0001", "biz_id": "900002"},
    ]  # fmt: skip
    response = aliyun_post(client, "/webhooks/aliyun/sms-report", payload)
    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "成功"}
    delivered.refresh_from_db()
    failed.refresh_from_db()
    assert delivered.delivery_status == "delivered"
    assert delivered.delivery_at is not None
    assert delivered.delivery_at.isoformat().startswith("2026-11-30T02:00:05")
    assert (failed.delivery_status, failed.delivery_error) == ("undelivered", "MK:0001")
    # A re-push of a "success" after the failure changes nothing.
    aliyun_post(client, "/webhooks/aliyun/sms-report", [{**payload[0], "biz_id": "900002"}])
    failed.refresh_from_db()
    assert failed.delivery_status == "undelivered"


def test_aliyun_replies_are_recorded_once_and_td_opts_out_with_a_confirmation_sms(
    client: Client, sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    payload = [
        {"phone_number": "13800138000", "send_time": "2026-11-30 10:00:00", "content": "TD", "sign_name": "品牌",
         "dest_code": "1234", "sequence_id": 11},
        {"phone_number": "13900139000", "send_time": "2026-11-30 10:01:00", "content": "几点到", "sign_name": "品牌",
         "dest_code": "1234", "sequence_id": 12},
    ]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = aliyun_post(client, "/webhooks/aliyun/sms-up", payload)
        aliyun_post(client, "/webhooks/aliyun/sms-up", payload)  # a re-push
    assert response.json() == {"code": 0, "msg": "成功"}
    assert InboundSms.objects.count() == 2
    assert services.sms_opted_out("+8613800138000")
    assert not services.sms_opted_out("+8613900139000")
    question = InboundSms.objects.get(from_phone="+8613900139000")
    assert handled == [question.pk]
    assert [(sms.to, sms.body) for sms in sms_outbox] == [
        ("+8613800138000", "【Fixroute】您已退订服务短信，将不再收到通知。回复“订阅”可恢复。")
    ]


def test_aliyun_bad_json_is_a_400(client: Client) -> None:
    response = client.post(f"/webhooks/aliyun/sms-up?token={ALIYUN_TOKEN}", "not json", content_type="application/json")
    assert response.status_code == 400
