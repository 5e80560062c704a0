"""Customer SMS texts, built from plain values (no Django, no models).

Chinese texts carry the signature in 【】 as mainland carriers require; English ones in [].
"""

from __future__ import annotations

ZH = "zh-CN"
EN = "en"

# Two-character surnames common enough that "first character" would be wrong (欧阳娜 → 欧阳师傅).
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "令狐", "端木", "西门", "南宫", "独孤", "轩辕", "申屠",
    }
)  # fmt: skip

STATUS_KINDS = ("on_my_way", "arrived", "done", "eta_update")


def normalize_language(language: str) -> str:
    """``"zh-CN"`` for any Chinese tag (zh, zh_CN, zh-Hans…), ``"en"`` for everything else."""
    return ZH if language.strip().lower().replace("_", "-").startswith("zh") else EN


def signed(text: str, *, language: str, signature: str) -> str:
    """``text`` with the company's signature as carriers expect it: 【品牌】 before Chinese texts,
    [Brand] before English ones."""
    if normalize_language(language) == ZH:
        return f"【{signature.strip()}】{text}"
    return f"[{signature.strip()}] {text}"


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x20000 <= code <= 0x3FFFF  # extensions B and later
    )


def has_cjk(text: str) -> bool:
    """Does ``text`` contain a Chinese character?"""
    return any(_is_cjk(char) for char in text)


def surname(name: str) -> str:
    """How a technician is addressed in Chinese: the surname of a CJK name, else the whole name.

    >>> surname("张伟"), surname("欧阳娜娜"), surname("John Smith")
    ('张', '欧阳', 'John Smith')
    """
    name = name.strip()
    if not name or not _is_cjk(name[0]):
        return name
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2]
    return name[0]


def _zh(kind: str, *, sig: str, name: str, eta: int | None, reference: str) -> str:
    master = f"{surname(name)}师傅" if name else "工程师"
    if kind == "on_my_way":
        who = f"您的工程师{master}" if name else "您的工程师"
        if eta is None:
            return f"【{sig}】{who}已出发，正在前往您处"
        return f"【{sig}】{who}已出发，预计{eta}分钟后到达"
    if kind == "arrived":
        return f"【{sig}】{master}已到达，请开门。"
    if kind == "done":
        return f"【{sig}】您的报修单{reference}已完成，感谢您的信任。"
    # eta_update
    if eta is None:
        return f"【{sig}】{master}的到达时间有变化，我们会尽快告知新的时间。"
    return f"【{sig}】到达时间更新：{master}预计{eta}分钟后到达。"


def _en(kind: str, *, sig: str, name: str, eta: int | None, reference: str) -> str:
    tech = f"technician {name}" if name else "technician"
    if kind == "on_my_way":
        if eta is None:
            return f"[{sig}] Your {tech} is on the way."
        unit = "minute" if eta == 1 else "minutes"
        return f"[{sig}] Your {tech} is on the way and should arrive in about {eta} {unit}."
    if kind == "arrived":
        return f"[{sig}] Your {tech} has arrived."
    if kind == "done":
        order = f"Your repair order {reference}" if reference else "Your repair order"
        return f"[{sig}] {order} is complete. Thank you for your trust."
    # eta_update
    if eta is None:
        return f"[{sig}] Your {tech} is running late. We will text you the new arrival time."
    unit = "minute" if eta == 1 else "minutes"
    return f"[{sig}] Update: your {tech} should now arrive in about {eta} {unit}."


def status_text(
    *,
    kind: str,
    language: str,
    signature: str,
    technician_name: str,
    eta_minutes: int | None = None,
    reference: str = "",
) -> str:
    """The text for a work-order status SMS.

    ``kind`` is one of ``on_my_way``, ``arrived``, ``done``, ``eta_update`` (``other`` has no
    template: the caller writes the body). ``language`` "zh-CN" gives Chinese, any other value
    English. ``eta_minutes`` None gives a text without an arrival time; 0 is shown as 1 minute.

    Raises ``ValueError`` for an unknown kind or a negative ETA.
    """
    if kind not in STATUS_KINDS:
        raise ValueError(f"No status text for kind {kind!r}; expected one of {STATUS_KINDS}")
    if eta_minutes is not None:
        if eta_minutes < 0:
            raise ValueError(f"eta_minutes must not be negative, got {eta_minutes}")
        eta_minutes = max(1, int(eta_minutes))
    build = _zh if normalize_language(language) == ZH else _en
    return build(
        kind,
        sig=signature.strip(),
        name=technician_name.strip(),
        eta=eta_minutes,
        reference=reference.strip(),
    )


# --- Visit texts (issue 11) ------------------------------------------------------------------
#
# Every visit text fits one SMS segment at the longest inputs allowed below: Chinese ≤ 70
# characters including 【signature】 (Aliyun and the carriers count each character as 1), English
# ≤ 160 GSM-7 units. Each kind has variants from the richest to the plainest; the first that
# fits is used, so an unusually long (or non-GSM) technician name falls back to a text without
# it instead of a second segment. Too-long programmatic inputs (signature, window, reference,
# link) are refused with ``ValueError``.

MAX_SIGNATURE = 8  # characters inside 【】 / []
MAX_NAME_CJK = 4  # a CJK technician name (addressed by surname: 张师傅, 欧阳师傅)
MAX_NAME_LATIN = 20  # any other name
MAX_WINDOW_PART = 5  # "HH:MM", already in the recipient's local time
MAX_REFERENCE = 10  # "WO-000001" today
MAX_LINK = 40  # "https://fixroute.example.com/t/AbCdEfG12"

ZH_SEGMENT = 70
GSM7_SEGMENT = 160
UCS2_SEGMENT = 70

VISIT_KINDS = (
    "booked",
    "day_before",
    "on_my_way",
    "running_late",
    "arrived",
    "completed",
    "rescheduled",
    "cancelled",
    "eta_answer",
    "opted_out",
    "opted_in",
)

# GSM 03.38 basic set; the extension characters count twice.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def sms_units(text: str) -> tuple[str, int]:
    """The encoding an SMS needs and its length in that encoding's units.

    ``("gsm7", n)`` when every character is in the GSM-7 alphabet (extension characters count
    2), else ``("ucs2", n)`` counting UTF-16 code units (an emoji outside the BMP counts 2).
    """
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENDED for char in text):
        return "gsm7", sum(2 if char in _GSM7_EXTENDED else 1 for char in text)
    return "ucs2", len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> int:
    """How many billed segments ``text`` takes (160/153 GSM-7, 70/67 UCS-2)."""
    encoding, units = sms_units(text)
    single, part = (GSM7_SEGMENT, 153) if encoding == "gsm7" else (UCS2_SEGMENT, 67)
    if units <= single:
        return 1
    return -(-units // part)


def fits_one_segment(text: str, *, language: str) -> bool:
    """True when ``text`` is one segment: ≤ 70 characters in Chinese, else one GSM-7/UCS-2 segment."""
    if normalize_language(language) == ZH:
        return len(text) <= ZH_SEGMENT
    return sms_segments(text) == 1


def _zh_master(name: str) -> str:
    if not name:
        return "工程师"
    if _is_cjk(name[0]):
        return f"{surname(name)}师傅"
    return f"工程师{name}"


def _zh_visit(kind: str, *, sig: str, name: str, window: tuple[str, str] | None, ref: str, link: str) -> list[str]:
    head = f"【{sig}】"
    who = _zh_master(name)
    start, end = window or ("", "")
    when = f"预计{start}至{end}到达" if window else ""
    order = f"您的报修单{ref}" if ref else "您的报修单"
    tail = f" {link}" if link else ""
    if kind == "booked":
        if when:
            return [
                f"{head}{order}已预约，{who}{when}。{tail}",
                f"{head}已约{who}{start}至{end}上门{tail}",
                f"{head}{order}已预约，{who}{when}。",
            ]
        return [
            f"{head}{order}已预约，我们会提前告知上门时间。{tail}",
            f"{head}报修已预约，详情{tail}",
            f"{head}{order}已预约，我们会提前告知上门时间。",
        ]
    if kind == "day_before":
        if when:
            return [f"{head}提醒：{who}明天上门，{when}，请安排人在家。"]
        return [f"{head}提醒：{who}明天上门，请安排人在家。"]
    if kind == "on_my_way":
        if when:
            return [
                f"{head}{who}已出发，{when}。{tail}",
                f"{head}{who}已出发，{when}{tail}",
                f"{head}{who}{when}{tail}",
                f"{head}{who}已出发，{when}。",
            ]
        return [f"{head}{who}已出发，正在前往您处。{tail}", f"{head}{who}已出发，正在前往您处。"]
    if kind == "running_late":
        if when:
            return [
                f"{head}抱歉，{who}将晚到，新的{when}。{tail}",
                f"{head}{who}改为{start}至{end}到达{tail}",
                f"{head}抱歉，{who}将晚到，新的{when}。",
            ]
        return [f"{head}抱歉，{who}将晚到，我们会尽快告知新的到达时间。"]
    if kind == "arrived":
        return [f"{head}{who}已到达，请开门。"]
    if kind == "completed":
        return [
            f"{head}{order}已完成，感谢您的信任！请回复1-5为本次服务评分（5为非常满意）。",
            f"{head}维修已完成，感谢您的信任！请回复1-5为本次服务评分（5为非常满意）。",
        ]
    if kind == "rescheduled":
        if when:
            return [
                f"{head}{order}已改约，{who}{when}。{tail}",
                f"{head}改约{who}{start}至{end}上门{tail}",
                f"{head}{order}已改约，{who}{when}。",
            ]
        return [f"{head}{order}已改约，我们会提前告知新的上门时间。"]
    if kind == "cancelled":
        return [f"{head}{order}已取消。如有疑问请直接回复本短信。"]
    if kind == "eta_answer":
        if when:
            return [f"{head}{who}{when}{tail}", f"{head}{who}{when}。"]
        return [
            f"{head}{who}正在安排中，到达时间确定后会通知您。{tail}",
            f"{head}查看到达时间：{link}" if link else f"{head}到达时间确定后会通知您。",
            f"{head}到达时间确定后会通知您。",
        ]
    if kind == "opted_out":
        return [f"{head}您已退订服务短信，将不再收到通知。回复“订阅”可恢复。"]
    # opted_in
    return [f"{head}您已恢复接收服务短信。回复“退订”可取消。"]


def _en_visit(kind: str, *, sig: str, name: str, window: tuple[str, str] | None, ref: str, link: str) -> list[str]:
    head = f"[{sig}]"
    tech = f"technician {name}" if name else "technician"
    when = f"between {window[0]} and {window[1]}" if window else ""
    order = f"Your repair visit {ref}" if ref else "Your repair visit"
    tail = f" {link}" if link else ""
    if kind == "booked":
        if when:
            return [f"{head} {order} is booked: your {tech} will arrive {when}.{tail}"]
        return [f"{head} {order} is booked. We will text you the arrival time.{tail}"]
    if kind == "day_before":
        if when:
            return [f"{head} Reminder: your {tech} visits tomorrow, arriving {when}. Please make sure someone is home."]
        return [f"{head} Reminder: your {tech} visits tomorrow. Please make sure someone is home."]
    if kind == "on_my_way":
        if when:
            return [f"{head} Your {tech} is on the way and should arrive {when}.{tail}"]
        return [f"{head} Your {tech} is on the way.{tail}"]
    if kind == "running_late":
        if when:
            return [f"{head} Sorry, your {tech} is running late and should now arrive {when}.{tail}"]
        return [f"{head} Sorry, your {tech} is running late. We will text you the new arrival time.{tail}"]
    if kind == "arrived":
        return [f"{head} Your {tech} has arrived."]
    if kind == "completed":
        return [
            f"{head} {order} is complete. Thank you! Please rate our service: reply with a number "
            "from 1 (poor) to 5 (excellent)."
        ]
    if kind == "rescheduled":
        if when:
            return [f"{head} {order} has been rescheduled: your {tech} will arrive {when}.{tail}"]
        return [f"{head} {order} has been rescheduled. We will text you the new arrival time.{tail}"]
    if kind == "cancelled":
        return [f"{head} {order} has been cancelled. Reply to this message if you have any questions."]
    if kind == "eta_answer":
        if when:
            return [f"{head} Your {tech} should arrive {when}.{tail}"]
        return [f"{head} Your {tech} is being scheduled; we will text you the arrival time.{tail}"]
    if kind == "opted_out":
        return [f"{head} You are unsubscribed and will get no more texts from us. Reply START to resubscribe."]
    # opted_in
    return [f"{head} You are subscribed again to service texts. Reply STOP to unsubscribe."]


def _name_fits(name: str) -> bool:
    limit = MAX_NAME_CJK if name and _is_cjk(name[0]) else MAX_NAME_LATIN
    return len(name) <= limit


def visit_text(
    kind: str,
    *,
    language: str,
    signature: str,
    technician_name: str = "",
    window: tuple[str, str] | None = None,
    reference: str = "",
    link: str = "",
) -> str:
    """The customer text for a visit event, one SMS segment long.

    ``kind`` is one of :data:`VISIT_KINDS`. ``language`` "zh-CN" (any zh tag) gives Chinese,
    anything else English. ``window`` is the arrival window already in local time, e.g.
    ``("10:20", "10:40")`` → "预计10:20至10:40到达" / "between 10:20 and 10:40". ``link`` (the
    tracking page) is used by booked, on my way, running late, rescheduled and the ETA answer;
    ``reference`` by booked, completed, rescheduled and cancelled. A technician name over
    :data:`MAX_NAME_CJK` / :data:`MAX_NAME_LATIN` characters (or one that would not fit) is left
    out rather than making a second segment.

    Raises ``ValueError`` for an unknown kind, an empty or over-long signature, or a window part,
    reference or link over its maximum length.
    """
    if kind not in VISIT_KINDS:
        raise ValueError(f"No visit text for kind {kind!r}; expected one of {VISIT_KINDS}")
    sig = signature.strip()
    if not sig or len(sig) > MAX_SIGNATURE:
        raise ValueError(f"The SMS signature must be 1 to {MAX_SIGNATURE} characters, got {sig!r}")
    if window is not None:
        window = (window[0].strip(), window[1].strip())
        if any(not part or len(part) > MAX_WINDOW_PART for part in window):
            raise ValueError(f"Window times must be 'HH:MM' (at most {MAX_WINDOW_PART} characters), got {window!r}")
    ref = reference.strip()
    if len(ref) > MAX_REFERENCE:
        raise ValueError(f"The reference must be at most {MAX_REFERENCE} characters, got {ref!r}")
    link = link.strip()
    if len(link) > MAX_LINK:
        raise ValueError(f"The link must be at most {MAX_LINK} characters, got {link!r}")
    name = technician_name.strip()
    language = normalize_language(language)
    build = _zh_visit if language == ZH else _en_visit
    names = [name, ""] if name and _name_fits(name) else [""]
    # Variants outer, names inner: keeping the link or the window matters more than the name.
    variants = [build(kind, sig=sig, name=who, window=window, ref=ref, link=link) for who in names]
    candidates = [options[index] for index in range(len(variants[0])) for options in variants]
    for text in candidates:
        if fits_one_segment(text, language=language):
            return text
    # Unreachable at the allowed maxima (tested); never send two segments silently.
    raise ValueError(f"The {kind} text does not fit one SMS segment: {candidates[-1]!r}")
