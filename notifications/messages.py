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


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x20000 <= code <= 0x3FFFF  # extensions B and later
    )


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
