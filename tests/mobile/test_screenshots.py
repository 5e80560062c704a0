"""Every screen in English and in Chinese, saved as test artifacts
(test-artifacts/screenshots/mobile-<screen>-<lang>.png) and checked: the PNG shows real
content, and every character on screen is drawn with a real glyph of the app's font (no
"tofu" boxes).

The glyph check uses ``tests/mobile/glyphs.py`` when present (the font helper's); until
then a minimal check of our own: each character's rendering must differ from the
rendering of a code point no font has (what a missing glyph looks like).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.mobile.stub_server import PASSWORD, PASSWORD2, USERNAME, USERNAME2

pytestmark = pytest.mark.ui

LANGUAGES = ("en", "zh-CN")
NO_SUCH_GLYPH = "\U000f0000"  # plane-15 private use: in no font


def _label_texture(text: str) -> bytes:
    from kivy.core.text import Label as CoreLabel

    label = CoreLabel(text=text, font_size=24)
    label.refresh()
    return bytes(label.texture.pixels)


def own_assert_real_glyphs(text: str) -> None:
    missing = _label_texture(NO_SUCH_GLYPH)
    boxes = sorted({ch for ch in text if not ch.isspace() and _label_texture(ch) == missing})
    assert not boxes, f"drawn as boxes: {''.join(boxes)!r}"


def own_screenshot_has_content(path: str) -> bool:
    from kivy.core.image import Image as CoreImage

    image = CoreImage(path, keep_data=True)
    colours = set()
    for y in range(0, image.height, 7):
        for x in range(0, image.width, 7):
            colours.add(tuple(round(c, 2) for c in image.read_pixel(x, y)))
    return len(colours) > 25


try:  # the font helper's checks, when they exist
    from tests.mobile.glyphs import assert_real_glyphs, screenshot_has_content  # type: ignore[import-not-found]
except ImportError:
    assert_real_glyphs = own_assert_real_glyphs
    screenshot_has_content = own_screenshot_has_content


def visible_text(root: Any) -> str:
    """The texts of every visible Label under ``root`` (what the screenshot shows)."""
    from kivy.uix.label import Label

    texts = []

    def walk(widget: Any) -> None:
        if widget.opacity == 0:
            return
        if isinstance(widget, Label) and widget.text and widget.width > 0 and widget.height > 0:
            texts.append(widget.text)
        for child in widget.children:
            walk(child)

    walk(root)
    return "\n".join(texts)


def check(ui: Any, artifact: Any, name: str, *, expect: str = "") -> str:
    from kivy.core.window import Window

    path = artifact(name)
    assert screenshot_has_content(path), path
    text = visible_text(Window)
    assert_real_glyphs(text)
    if expect:
        assert expect in text, (expect, text[:500])
    return text


@pytest.fixture
def busy_day(stub, tmp_path):
    """The stub's day with badges, a long problem, equipment, visits and access notes."""
    stub.change_job(101, priority="urgent", complaint=True, access_notes="Code 4712B, 3rd floor left")
    stub.change_job(
        102,
        priority="high",
        problem="No hot water on floors 3-5. " * 60,
        site_visits=[
            {
                "reference": "WO-000042",
                "status_label": "Completed",
                "problem": "Radiator cold",
                "resolution": "Bled the radiators",
                "finished_at": "2026-10-02T10:00:00+00:00",
                "technician_name": "Li Wei",
            }
        ],
    )
    photo = tmp_path / "boiler-front.jpg"
    photo.write_bytes(os.urandom(2000))
    return str(photo)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_screen(technician_app, stub, ui, artifact, busy_day, lang):
    zh = lang == "zh-CN"
    phone = technician_app(stub.url, language=lang)
    check(ui, artifact, f"login-{lang}", expect="技师登录" if zh else "Technician sign-in")

    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    check(ui, artifact, f"today-{lang}", expect="紧急" if zh else "Urgent")

    phone.open_job(1)
    text = check(ui, artifact, f"job-detail-{lang}", expect="更多" if zh else "More")
    assert ("以往上门记录" if zh else "EARLIER VISITS") in text
    phone.tap_action("on_my_way")
    phone.wait_synced()
    phone.tap_action("arrived")
    phone.wait_synced()

    form = phone.app.root.get_screen("finish")
    phone.tap_action("done")
    ui.type_into(form.ids.resolution, "更换了压力传感器" if zh else "Replaced the pressure sensor")
    form.add_part()
    ui.type_into(form.part_rows()[0].ids.name, "压力传感器 PS-2" if zh else "Pressure sensor PS-2")
    form.add_part()
    ui.type_into(form.part_rows()[1].ids.name, "密封圈" if zh else "Seal 22 mm")
    ui.type_into(form.part_rows()[1].ids.quantity, "2")
    assert form.add_photo_path(busy_day)
    check(ui, artifact, f"finish-done-{lang}", expect="boiler-front.jpg")
    ui.tap(form.ids.back_button)

    phone.tap_action("could_not_complete")
    ui.tap(form.ids.reason_needs_parts)
    ui.type_into(form.ids.note, "缺少主板" if zh else "Main board missing")
    check(ui, artifact, f"could-not-complete-{lang}", expect="需要配件" if zh else "Needs parts")
    ui.tap(form.ids.back_button)

    stub.change_job(103, planned_arrival="2026-11-23T15:45:00+00:00")
    phone.app.board.refresh()
    ui.wait_until(lambda: phone.app.board.alerts, what="an alert")
    ui.tap(phone.detail.ids.back_button)
    check(ui, artifact, f"alert-{lang}", expect="WO-000103")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_rejected_and_offline(technician_app, stub, ui, artifact, lang):
    zh = lang == "zh-CN"
    phone = technician_app(stub.url, language=lang)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    stub.fail_events(409, "工单已被调度员取消。" if zh else "Job WO-000101 was cancelled by the dispatcher.")
    phone.tap_action("on_my_way")
    ui.wait_until(lambda: phone.detail.rejection, what="the rejection banner")
    phone.wait_synced()
    check(ui, artifact, f"rejected-{lang}", expect="未被接受" if zh else "Not accepted")
    ui.tap(phone.detail.ids.dismiss_rejection)

    stub.stop()
    phone.open_job(1)
    phone.tap_action("on_my_way")
    ui.wait_until(lambda: phone.app.sync.last_error, what="a failed send")
    phone.app.board.refresh()
    ui.wait_until(lambda: phone.app.board.offline, what="offline")
    ui.tap(phone.detail.ids.back_button)
    text = check(ui, artifact, f"offline-{lang}", expect="离线" if zh else "Offline")
    assert ("1 项操作待发送" if zh else "1 event(s) waiting") in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_another_technicians_changes_and_a_failed_photo(technician_app, stub, ui, artifact, tmp_path, lang):
    from mobile.services.photos import FAILED

    zh = lang == "zh-CN"
    phone = technician_app(stub.url, language=lang)
    phone.login(USERNAME2, PASSWORD2)  # 张伟 taps with no network, keeps it and logs out
    phone.wait_for_jobs(3)
    phone.open_job(job_id=101)
    stub.fail_events(503, times=1000)
    phone.tap_action("on_my_way")
    ui.wait_until(lambda: phone.app.sync.last_error, what="a failed send")
    ui.tap(phone.detail.ids.back_button)
    ui.tap(phone.jobs_screen.ids.logout_button)
    ui.tap(phone.jobs_screen.logout_popup.ids.logout_keep)
    stub.event_faults.clear()
    phone.login(USERNAME, PASSWORD)  # Li Wei on the same phone; his photo fails its checksum twice
    phone.wait_for_jobs(3)
    photo_path = tmp_path / "boiler.jpg"
    photo_path.write_bytes(os.urandom(1000))
    stub.corrupt_photo(times=2)
    photo = phone.app.sync.add_photo(101, str(photo_path))
    ui.wait_until(lambda: phone.app.photos.get(photo.id).state == FAILED, what="the photo failed")
    ui.frames(2)
    check(ui, artifact, f"others-waiting-{lang}", expect="需等 张伟 在此手机上登录" if zh else "they wait for 张伟")
    phone.open_job(job_id=101)
    ui.frames(2)
    check(ui, artifact, f"failed-photo-{lang}", expect="照片 boiler.jpg 未能上传" if zh else "Photo boiler.jpg was not")


def test_the_own_glyph_check_sees_a_box(kivy_window):
    with pytest.raises(AssertionError, match="boxes"):
        own_assert_real_glyphs("WO-1 \U000f0001")
    own_assert_real_glyphs("WO-000101 Today 08:30")
