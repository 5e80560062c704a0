"""The technicians' job photos in the staff console: the work order's page lists the stored ones
(and how far unfinished uploads have come), and one view streams a photo's file to staff only.
Photos are made through the upload services the technician's phone uses."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from server.accounts.models import Role
from server.customers.models import Customer, Site
from server.workorders import services
from server.workorders.models import WorkOrder, WorkOrderPhoto
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def zhang():
    return factories.technician(name="张伟", username="zhang")


@pytest.fixture
def order(zhang):
    customer = Customer.objects.create(name="赵敏", phone="+8613800139001", language="zh-CN")
    site = Site.objects.create(customer=customer, address="上海市测试路1号", latitude=31.24, longitude=121.48)
    created = services.work_order_create(
        customer=customer, site=site, problem="净水器漏水", required_skill=factories.skill()
    )
    arrival = timezone.now() + dt.timedelta(minutes=40)
    return services.work_order_assign(
        work_order_id=created.pk,
        technician=zhang,
        day=timezone.localtime(arrival).date(),
        planned_arrival=arrival,
        route_position=1,
    )


@pytest.fixture
def staff_client(client):
    client.force_login(factories.staff())
    return client


def photo_bytes(size: int, seed: int = 7) -> bytes:
    return bytes((i * seed + i // 251) % 256 for i in range(size))


def upload(technician, order, data, *, filename="水管.jpg", content_type="image/jpeg", sent=None):
    """Upload ``data`` (or only its first ``sent`` bytes) as the phone does; returns the photo."""
    photo_id = uuid.uuid4().hex
    services.work_order_photo_start(
        technician=technician,
        client_photo_id=photo_id,
        work_order_id=order.pk,
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    end = len(data) if sent is None else sent
    for offset in range(0, end, 100_000):
        services.work_order_photo_chunk(
            technician=technician,
            client_photo_id=photo_id,
            offset=offset,
            data=data[offset : min(offset + 100_000, end)],
        )
    return WorkOrderPhoto.objects.get(client_photo_id=photo_id)


def order_page(client, order, language="en") -> str:
    response = client.get(reverse("console:work_order", args=[order.pk]), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def photo_url(photo: WorkOrderPhoto) -> str:
    return reverse("console:work_order_photo", args=[photo.work_order_id, photo.pk])


def test_the_order_page_lists_stored_photos_with_thumbnail_name_time_and_technician(staff_client, zhang, order):
    photo = upload(zhang, order, photo_bytes(250_000))
    assert photo.complete
    html = order_page(staff_client, order)
    assert f'<img src="{photo_url(photo)}"' in html
    assert "水管.jpg" in html
    assert timezone.localtime(photo.completed_at).strftime("%Y-%m-%d %H:%M") in html
    assert "· 张伟</div>" in html  # the photo's technician
    assert "still uploading" not in html


def test_the_order_page_says_how_far_unfinished_uploads_have_come(staff_client, zhang, order):
    upload(zhang, order, photo_bytes(500_000), sent=200_000)
    html = order_page(staff_client, order)
    assert "1 photo still uploading from the phone: 40%" in html
    assert 'class="photos"' not in html
    upload(zhang, order, photo_bytes(500_000, seed=11), sent=400_000)
    html = order_page(staff_client, order)
    assert "2 photos still uploading from the phone: 60%" in html  # 600 000 of 1 000 000 bytes


def test_the_section_is_in_chinese_for_a_chinese_browser(staff_client, zhang, order):
    upload(zhang, order, photo_bytes(500_000), sent=100_000)
    html = order_page(staff_client, order, language="zh-CN")
    assert "还有 1 张照片正在从手机上传：20%" in html
    assert "<h2>照片</h2>" in html


def test_the_order_page_shows_the_resolution_and_parts_used(staff_client, order):
    WorkOrder.objects.filter(pk=order.pk).update(
        resolution="换了滤芯", parts_used=[{"name": "RO 滤芯", "quantity": 2}, {"name": "接头", "quantity": 1}]
    )
    html = order_page(staff_client, order)
    assert "换了滤芯" in html
    assert "RO 滤芯 × 2" in html
    assert "接头 × 1" in html


def test_the_photo_view_streams_the_exact_bytes_inline_and_private(staff_client, zhang, order):
    data = photo_bytes(250_000)
    photo = upload(zhang, order, data, filename="after.png", content_type="image/png")
    response = staff_client.get(photo_url(photo))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert "after.png" in response["Content-Disposition"]
    assert "private" in response["Cache-Control"]


@pytest.mark.parametrize("role", [Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN])
def test_every_staff_role_may_open_a_photo(client, zhang, order, role):
    photo = upload(zhang, order, photo_bytes(1_000))
    client.force_login(factories.user(role=role))
    response = client.get(photo_url(photo))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == photo_bytes(1_000)


def test_an_anonymous_visitor_is_sent_to_the_login(client, zhang, order):
    photo = upload(zhang, order, photo_bytes(1_000))
    response = client.get(photo_url(photo))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


def test_a_technician_gets_the_403_page_even_for_their_own_photo(client, zhang, order):
    photo = upload(zhang, order, photo_bytes(1_000))
    client.force_login(zhang.user)
    response = client.get(photo_url(photo))
    assert response.status_code == 403
    assert b'id="forbidden"' in response.content


def test_an_unfinished_photo_is_not_found(staff_client, zhang, order):
    photo = upload(zhang, order, photo_bytes(300_000), sent=100_000)
    assert not photo.complete
    assert staff_client.get(photo_url(photo)).status_code == 404


def test_an_unknown_photo_or_one_of_another_order_is_not_found(staff_client, zhang, order):
    photo = upload(zhang, order, photo_bytes(1_000))
    assert staff_client.get(reverse("console:work_order_photo", args=[order.pk, photo.pk + 1])).status_code == 404
    other = services.work_order_create(
        customer=order.customer, site=order.site, problem="另一单", required_skill=factories.skill()
    )
    assert staff_client.get(reverse("console:work_order_photo", args=[other.pk, photo.pk])).status_code == 404


def test_a_photo_whose_file_is_gone_is_not_found(staff_client, zhang, order, media):
    photo = upload(zhang, order, photo_bytes(1_000))
    (media / photo.file.name).unlink()
    assert staff_client.get(photo_url(photo)).status_code == 404
