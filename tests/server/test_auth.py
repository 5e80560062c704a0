"""Signing in from the phone: bearer tokens that expire and can be revoked, 401 (log in again)
for a bad one, no CSRF for them, CSRF kept for browser sessions, failed logins throttled, and
orders that are not yours indistinguishable from orders that do not exist."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from server.accounts.models import ApiToken
from server.intake.services import work_order_create_and_dispatch
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "pw-123456"


class CheapPBKDF2Hasher(PBKDF2PasswordHasher):
    """A newer hasher than the tests' MD5, cheap enough for a unit test: logging in upgrades the hash."""

    iterations = 2


@pytest.fixture
def zhang():
    return factories.technician(name="张伟", username="zhang", lat=31.2300, lon=121.4600)


@pytest.fixture
def order(zhang):
    customer = factories.customer()
    site = customer.sites.get()
    work_order = work_order_create_and_dispatch(
        customer=customer,
        site=site,
        equipment=site.equipment.get(),
        problem="漏水",
        required_skill=factories.skill("water_purifier"),
    )
    assert work_order.technician == zhang
    return work_order


def login(client, username="zhang", password=PASSWORD):
    return client.post("/api/auth/token", {"username": username, "password": password}, content_type="application/json")


def token_for(client, username="zhang"):
    response = login(client, username)
    assert response.status_code == 200, response.content
    return response.json()["token"]


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def tap(client, token, order_id):
    body = {
        "client_event_id": uuid.uuid4().hex,
        "work_order_id": order_id,
        "action": "on_my_way",
        "device_time": timezone.now().isoformat(),
    }
    return client.post("/api/mobile/events", body, content_type="application/json", **bearer(token))


def jobs(client, token):
    return client.get("/api/mobile/jobs", **bearer(token))


def assert_log_in_again(response):
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "unauthorized"
    assert set(response.json()) == {"message", "code", "extra"}


# -- bearer tokens: 401, never a CSRF 403 --------------------------------------------------------


@pytest.mark.parametrize("token", ["forged", ""])
def test_a_bad_token_on_a_post_is_401_not_a_csrf_failure(zhang, order, token):
    """The phone app treats 403 as "refused for good" and 401 as "log in again"."""
    phone = Client(enforce_csrf_checks=True)
    assert_log_in_again(tap(phone, token, order.pk))


def test_a_good_token_needs_no_csrf_token(zhang, order):
    phone = Client(enforce_csrf_checks=True)
    token = token_for(phone)
    response = tap(phone, token, order.pk)
    assert response.status_code == 200, response.content
    assert response.json()["job"]["status"] == "en_route"


def test_a_token_expires_api_token_ttl_hours_after_it_was_issued(client, zhang, order, settings):
    settings.API_TOKEN_TTL_HOURS = 2
    before = timezone.now()
    body = login(client).json()
    expires_at = dt.datetime.fromisoformat(body["expires_at"])
    assert before + dt.timedelta(hours=2) <= expires_at <= timezone.now() + dt.timedelta(hours=2)
    assert jobs(client, body["token"]).status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_log_in_again(jobs(client, body["token"]))
    assert_log_in_again(tap(Client(enforce_csrf_checks=True), body["token"], order.pk))


def test_logout_revokes_only_the_token_it_used(client, zhang, order):
    phone, tablet = token_for(client), token_for(client)
    response = client.post("/api/auth/logout", **bearer(phone))
    assert response.status_code == 204
    assert_log_in_again(jobs(client, phone))
    assert_log_in_again(client.post("/api/auth/logout", **bearer(phone)))
    assert jobs(client, tablet).status_code == 200
    assert ApiToken.objects.filter(revoked_at__isnull=False).count() == 1


def test_logout_needs_a_token(client, zhang):
    assert_log_in_again(client.post("/api/auth/logout"))


# -- password changes and deactivation sign the phone out ----------------------------------------


def test_a_password_change_in_the_admin_revokes_every_token_of_that_user(client, zhang, order):
    tokens = [token_for(client), token_for(client)]
    other = factories.technician(name="李强", username="li")
    others_token = token_for(client, "li")
    admin = User.objects.create_superuser("root", password=PASSWORD)
    browser = Client()
    browser.force_login(admin)
    response = browser.post(
        f"/admin/auth/user/{zhang.user_id}/password/",
        {"password1": "new-pass-9876", "password2": "new-pass-9876", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:2000]
    for token in tokens:
        assert_log_in_again(jobs(client, token))
    assert jobs(client, others_token).status_code == 200
    assert other.user.api_tokens.get().revoked_at is None
    assert login(client, password="new-pass-9876").status_code == 200


def test_set_password_in_code_revokes_the_tokens(client, zhang):
    token = token_for(client)
    user = User.objects.get(pk=zhang.user_id)
    user.set_password("another-pass-1")
    user.save()
    assert_log_in_again(jobs(client, token))
    assert ApiToken.objects.get().revoked_reason == "password changed"


def test_deactivating_the_user_revokes_the_tokens_for_good(client, zhang):
    token = token_for(client)
    user = User.objects.get(pk=zhang.user_id)
    user.is_active = False
    user.save()
    assert_log_in_again(jobs(client, token))
    user.is_active = True
    user.save()
    assert_log_in_again(jobs(client, token))
    assert ApiToken.objects.get().revoked_reason == "user deactivated"


def test_saving_a_user_without_changing_password_or_active_keeps_the_tokens(client, zhang):
    token = token_for(client)
    user = User.objects.get(pk=zhang.user_id)
    user.first_name = "伟"
    user.save()
    assert jobs(client, token).status_code == 200


def test_a_hash_upgrade_when_logging_in_is_not_a_password_change(client, zhang, settings):
    """Django re-hashes a password with a newer hasher on login; the other phones stay signed in."""
    token = token_for(client)
    settings.PASSWORD_HASHERS = [f"{__name__}.CheapPBKDF2Hasher", "django.contrib.auth.hashers.MD5PasswordHasher"]
    second = token_for(client)
    assert User.objects.get(pk=zhang.user_id).password.startswith("pbkdf2_sha256$2$")
    assert jobs(client, token).status_code == 200
    assert jobs(client, second).status_code == 200


# -- what a technician may read --------------------------------------------------------------------


def test_a_deactivated_technician_can_no_longer_read_their_orders(client, zhang, order):
    token = token_for(client)
    assert client.get(f"/api/work-orders/{order.pk}", **bearer(token)).status_code == 200
    zhang.active = False
    zhang.save()
    assert client.get(f"/api/work-orders/{order.pk}", **bearer(token)).status_code == 404
    assert client.get(f"/api/mobile/jobs/{order.pk}", **bearer(token)).status_code == 403
    assert jobs(client, token).status_code == 403


@pytest.mark.parametrize("url", ["/api/work-orders/{id}", "/api/mobile/jobs/{id}"])
def test_another_technicians_order_answers_like_a_missing_one(client, zhang, order, url):
    factories.technician(name="李强", username="li")
    token = token_for(client, "li")
    theirs = client.get(url.format(id=order.pk), **bearer(token), HTTP_ACCEPT_LANGUAGE="en")
    missing = client.get(url.format(id=order.pk + 1000), **bearer(token), HTTP_ACCEPT_LANGUAGE="en")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["code"] == missing.json()["code"] == "not_found"
    assert theirs.json()["message"] == f"Work order {order.pk} does not exist"
    chinese = client.get(url.format(id=order.pk), **bearer(token), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert chinese.json()["message"] == f"工单 {order.pk} 不存在"


# -- browser sessions keep CSRF ------------------------------------------------------------------------


def test_a_signed_in_browser_session_still_needs_the_csrf_token(zhang):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(factories.staff())
    body = {"phone": "13912345678", "customer_name": "钱七", "problem": "p"}
    forged = browser.post("/api/work-orders", body, content_type="application/json")
    assert forged.status_code == 403
    assert forged.json()["code"] == "csrf"
    csrf = "a" * 32
    browser.cookies["csrftoken"] = csrf
    response = browser.post("/api/work-orders", body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201, response.content


def test_no_credentials_at_all_is_401_even_on_a_post():
    assert_log_in_again(Client(enforce_csrf_checks=True).post("/api/work-orders", {}, content_type="application/json"))


# -- failed logins are throttled --------------------------------------------------------------------


def test_thirty_wrong_passwords_are_locked_out_after_five_and_not_checked(client, zhang, monkeypatch, settings):
    checked = []
    check_password = User.check_password

    def counting_check(self, raw_password):
        checked.append(raw_password)
        return check_password(self, raw_password)

    monkeypatch.setattr(User, "check_password", counting_check)
    answers = [login(client, password=f"guess-{i}") for i in range(30)]
    assert [answer.status_code for answer in answers] == [401] * 4 + [429] * 26
    assert len(checked) == settings.AXES_FAILURE_LIMIT
    locked = answers[-1]
    assert locked.json()["code"] == "locked_out"
    assert "try again later" in locked.json()["message"]
    assert locked["Retry-After"] == "900"
    right = login(client)
    assert right.status_code == 429
    assert len(checked) == settings.AXES_FAILURE_LIMIT
    assert ApiToken.objects.count() == 0


def test_a_lockout_is_per_username_and_address(client, zhang):
    for _ in range(5):
        login(client, password="wrong")
    assert login(client).status_code == 429
    assert login(client, password="wrong", username="li").status_code == 401
    assert login(Client(REMOTE_ADDR="10.0.0.9")).status_code == 200
