import pytest

from notifications import messages
from notifications.messages import (
    MAX_LINK,
    MAX_NAME_CJK,
    MAX_NAME_LATIN,
    MAX_REFERENCE,
    MAX_SIGNATURE,
    VISIT_KINDS,
    sms_segments,
    sms_units,
    visit_text,
)

LONGEST_LINK = "https://fixroute.example.com/t/" + "A" * (MAX_LINK - 31)
LONGEST_REFERENCE = "WO-" + "9" * (MAX_REFERENCE - 3)
WINDOW = ("10:20", "10:40")
# The longest names that are still used: a compound surname (欧阳师傅 is 4 characters).
ZH_NAMES = ("欧阳" + "娜" * (MAX_NAME_CJK - 2), "张" * MAX_NAME_CJK, "")
EN_NAMES = ("W" * MAX_NAME_LATIN, "")


@pytest.mark.parametrize("kind", VISIT_KINDS)
@pytest.mark.parametrize("window", [WINDOW, None])
@pytest.mark.parametrize("name", ZH_NAMES)
def test_every_chinese_text_fits_one_segment_at_the_longest_values(
    kind: str, window: tuple[str, str] | None, name: str
) -> None:
    text = visit_text(
        kind,
        language="zh-CN",
        signature="品" * MAX_SIGNATURE,
        technician_name=name,
        window=window,
        reference=LONGEST_REFERENCE,
        link=LONGEST_LINK,
    )
    assert text.startswith("【" + "品" * MAX_SIGNATURE + "】")
    assert len(text) <= 70, text


@pytest.mark.parametrize("kind", VISIT_KINDS)
@pytest.mark.parametrize("window", [WINDOW, None])
@pytest.mark.parametrize("name", EN_NAMES)
def test_every_english_text_is_one_gsm7_segment_at_the_longest_values(
    kind: str, window: tuple[str, str] | None, name: str
) -> None:
    text = visit_text(
        kind,
        language="en",
        signature="S" * MAX_SIGNATURE,
        technician_name=name,
        window=window,
        reference=LONGEST_REFERENCE,
        link=LONGEST_LINK,
    )
    encoding, units = sms_units(text)
    assert encoding == "gsm7", text
    assert units <= 160, text


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_eta_answer_and_on_my_way_keep_the_window_and_the_link_at_the_longest_values(language: str) -> None:
    name = ZH_NAMES[0] if language == "zh-CN" else EN_NAMES[0]
    for kind in ("eta_answer", "on_my_way", "running_late", "booked", "rescheduled"):
        text = visit_text(
            kind, language=language, signature="S" * MAX_SIGNATURE, technician_name=name, window=WINDOW,
            reference=LONGEST_REFERENCE, link=LONGEST_LINK,
        )  # fmt: skip
        assert LONGEST_LINK in text, (kind, text)
        assert "10:20" in text, (kind, text)
        assert "10:40" in text, (kind, text)


def test_chinese_window_and_technician_by_surname() -> None:
    text = visit_text("on_my_way", language="zh", signature="品牌", technician_name="张伟", window=WINDOW)
    assert text == "【品牌】张师傅已出发，预计10:20至10:40到达。"
    assert "欧阳师傅" in visit_text("arrived", language="zh-CN", signature="品牌", technician_name="欧阳娜娜")


def test_english_window_wording() -> None:
    text = visit_text("running_late", language="en", signature="Fixroute", technician_name="Ann", window=WINDOW)
    assert (
        text == "[Fixroute] Sorry, your technician Ann is running late and should now arrive between 10:20 and 10:40."
    )


def test_completed_asks_for_a_rating_from_1_to_5() -> None:
    assert "1-5" in visit_text("completed", language="zh-CN", signature="品牌", reference="WO-000001")
    assert "from 1 (poor) to 5" in visit_text("completed", language="en", signature="Fixroute")


def test_a_too_long_signature_is_refused() -> None:
    with pytest.raises(ValueError, match="signature"):
        visit_text("arrived", language="zh-CN", signature="品" * (MAX_SIGNATURE + 1))
    with pytest.raises(ValueError, match="signature"):
        visit_text("arrived", language="en", signature="  ")


@pytest.mark.parametrize(
    ("field", "value"),
    [("window", ("2026-11-30 10:20", "10:40")), ("link", LONGEST_LINK + "x"), ("reference", LONGEST_REFERENCE + "9")],
)
def test_over_long_inputs_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match="at most"):
        visit_text("booked", language="en", signature="Fixroute", **{field: value})  # type: ignore[arg-type]


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        visit_text("survey", language="en", signature="Fixroute")


def test_a_non_gsm_name_that_would_need_two_segments_is_left_out() -> None:
    name = "Ł" * MAX_NAME_LATIN  # not GSM-7: the whole text would become UCS-2 (70 characters)
    text = visit_text("on_my_way", language="en", signature="Fixroute", technician_name=name, window=WINDOW)
    assert name not in text
    assert sms_segments(text) == 1


def test_segment_counter() -> None:
    assert sms_units("Hello") == ("gsm7", 5)
    assert sms_units("a[b]") == ("gsm7", 6)  # extension characters count twice
    assert sms_units("Tech’s") == ("ucs2", 6)
    assert sms_segments("x" * 160) == 1
    assert sms_segments("x" * 161) == 2
    assert sms_segments("字" * 70) == 1
    assert sms_segments("字" * 71) == 2


def test_status_text_still_works_for_its_callers() -> None:
    text = messages.status_text(kind="arrived", language="zh-CN", signature="品牌", technician_name="张伟")
    assert text == "【品牌】张师傅已到达，请开门。"


def test_english_texts_carry_the_latin_signature(settings):
    from notifications.services import sms_signature

    settings.SMS_SIGNATURE, settings.SMS_SIGNATURE_EN = "品牌", "Brand"
    assert sms_signature("en") == "Brand"
    assert sms_signature("zh-CN") == "品牌"
    text = visit_text("arrived", language="en", signature=sms_signature("en"), technician_name="Zhang")
    assert text.startswith("[Brand]")
