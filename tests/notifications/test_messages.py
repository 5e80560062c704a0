import pytest

from notifications.messages import status_text, surname


def test_on_my_way_chinese_exact_text() -> None:
    text = status_text(kind="on_my_way", language="zh-CN", signature="品牌", technician_name="张伟", eta_minutes=40)
    assert text == "【品牌】您的工程师张师傅已出发，预计40分钟后到达"


def test_on_my_way_english() -> None:
    text = status_text(
        kind="on_my_way", language="en", signature="Fixroute", technician_name="Wei Zhang",
        eta_minutes=25,
    )  # fmt: skip
    assert text == ("[Fixroute] Your technician Wei Zhang is on the way and should arrive in about 25 minutes.")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-CN", "【品牌】您的工程师张师傅已出发，正在前往您处"),
        ("en", "[品牌] Your technician 张伟 is on the way."),
    ],
)
def test_on_my_way_without_eta(language: str, expected: str) -> None:
    text = status_text(kind="on_my_way", language=language, signature="品牌", technician_name="张伟")
    assert text == expected
    assert "分钟" not in text
    assert "minute" not in text


@pytest.mark.parametrize("language", ["fr", "", "de-DE", "EN-us"])
def test_unknown_language_falls_back_to_english(language: str) -> None:
    text = status_text(kind="arrived", language=language, signature="Fixroute", technician_name="Li Na")
    assert text == "[Fixroute] Your technician Li Na has arrived."


@pytest.mark.parametrize("language", ["zh", "zh_CN", "zh-Hans", "ZH-cn"])
def test_chinese_tags_are_chinese(language: str) -> None:
    text = status_text(kind="arrived", language=language, signature="品牌", technician_name="王强")
    assert text == "【品牌】王师傅已到达，请开门。"


def test_done_texts_carry_the_reference() -> None:
    zh = status_text(kind="done", language="zh-CN", signature="品牌", technician_name="张伟", reference="WO-42")
    en = status_text(kind="done", language="en", signature="Fixroute", technician_name="x", reference="WO-42")
    assert zh == "【品牌】您的报修单WO-42已完成，感谢您的信任。"
    assert en == "[Fixroute] Your repair order WO-42 is complete. Thank you for your trust."


def test_eta_update_texts() -> None:
    zh = status_text(
        kind="eta_update",
        language="zh-CN",
        signature="品牌",
        technician_name="张伟",
        eta_minutes=15,
    )
    en = status_text(kind="eta_update", language="en", signature="F", technician_name="Ann", eta_minutes=1)
    assert zh == "【品牌】到达时间更新：张师傅预计15分钟后到达。"
    assert en == "[F] Update: your technician Ann should now arrive in about 1 minute."


def test_latin_name_is_used_whole_in_chinese() -> None:
    text = status_text(
        kind="on_my_way", language="zh-CN", signature="品牌", technician_name=" John Smith ",
        eta_minutes=5,
    )  # fmt: skip
    assert text == "【品牌】您的工程师John Smith师傅已出发，预计5分钟后到达"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("张伟", "张"), ("欧阳娜娜", "欧阳"), ("欧阳", "欧"), ("Li Na", "Li Na"), ("", "")],
)
def test_surname(name: str, expected: str) -> None:
    assert surname(name) == expected


def test_zero_eta_reads_as_one_minute() -> None:
    text = status_text(kind="on_my_way", language="zh-CN", signature="品牌", technician_name="张伟", eta_minutes=0)
    assert text.endswith("预计1分钟后到达")


@pytest.mark.parametrize(("kind", "eta"), [("other", None), ("cancelled", None), ("on_my_way", -3)])
def test_bad_input_raises_value_error(kind: str, eta: int | None) -> None:
    with pytest.raises(ValueError, match=r"kind|negative"):
        status_text(kind=kind, language="en", signature="F", technician_name="A", eta_minutes=eta)
