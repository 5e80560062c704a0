"""The phone menu: "for a washing machine press 1, for a water purifier press 2, ...".

A caller's choice (a key pressed, or words said) names the kind of equipment the call is about;
among the caller's equipment at the site it picks the one of that kind, and with it the skill
the technician needs. Without a choice, or with one that names nothing, the order is made as it
always was (the site's only piece of equipment, if it has just one).

The menu is configurable per company without code: ``IVR_MENU_JSON`` names a JSON file, a list
of entries (or ``{"menu": [...]}``), each::

    {"digit": "2", "label_zh": "净水器", "label_en": "water purifier",
     "equipment_type": "water_purifier", "skill": "water_purifier",
     "keywords": ["净水", "purifier", "filter"]}

An entry without ``equipment_type`` is "talk to an agent". Empty: ``DEFAULT_MENU``. A file that
cannot be read or is wrong is logged and the default is used: a broken setting must not cost
calls.

When the choice arrives (design, as Twilio delivers it): the first request of a call records
the call and creates (and dispatches) the order at once, as before the menu existed; the menu
is played in the same answer, and the ``<Gather>``'s request carrying the key or the words
*updates* that order (``call_choice_apply``). Recording first means a caller who hangs up during
the menu is never lost (no status callback is configured to tell us); the price is that an
order whose skill changes is placed a second time. A phone system that sends the choice with
the call itself (the CTI webhook's ``digits``) gets the order made right the first time:
``call_receive`` asks ``menu_pick`` where it chooses the equipment and records the pick
(``menu_pick_record``), and ``call_choice_apply`` then finds the choice recorded and does
nothing. Without that hook the views' ``call_choice_apply`` still applies it, placing twice.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from server.common.exceptions import NotFound
from server.common.text import PROBLEM_MAX_LENGTH, text_clean
from server.customers.models import Equipment, Site
from server.intake.models import CallOutcome, CallRecord
from server.scheduling import services as scheduling_services
from server.technicians.models import Skill, Technician
from server.workorders import services as work_order_services
from server.workorders.models import EventKind, Status, WorkOrder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MenuChoice:
    """One entry of the menu. No ``equipment_type``: the caller asks for an agent."""

    digit: str
    label_zh: str
    label_en: str
    equipment_type: str = ""
    skill: str = ""
    keywords: tuple[str, ...] = ()

    @property
    def agent(self) -> bool:
        return not self.equipment_type

    @property
    def label(self) -> str:
        return f"{self.label_zh} / {self.label_en}"

    @property
    def types(self) -> frozenset[str]:
        """Equipment types this entry means: its type and its labels, as staff may type them."""
        return frozenset(_type_key(name) for name in (self.equipment_type, self.label_en, self.label_zh) if name)

    @property
    def words(self) -> tuple[str, ...]:
        """What a caller may say for this entry: its labels and keywords, lower case."""
        return tuple(word.strip().lower() for word in (self.label_zh, self.label_en, *self.keywords) if word.strip())


# Skill codes are the seed's (server/intake/management/commands/demo_data.py): appliances share one.
DEFAULT_MENU: tuple[MenuChoice, ...] = (
    MenuChoice("1", "洗衣机", "washing machine", "washing_machine", "appliance", ("洗衣", "washer", "laundry")),
    MenuChoice(
        "2", "净水器", "water purifier", "water_purifier", "water_purifier",
        ("净水", "纯水机", "滤芯", "purifier", "water filter", "filter"),
    ),
    MenuChoice(
        "3", "空调", "air conditioner", "air_conditioner", "hvac",
        ("冷气", "air conditioning", "air-conditioner", "aircon"),
    ),
    MenuChoice("4", "热水器", "water heater", "water_heater", "appliance", ("boiler", "heater")),
    MenuChoice("0", "人工客服", "an agent", keywords=("人工", "客服", "agent", "operator", "person")),
)  # fmt: skip

# A caller who says the number instead of pressing it.
_NUMBER_WORDS = {
    "零": "0", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7",
    "八": "8", "九": "9", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_NOT_A_WORD = re.compile(r"[\s\W_]+")
_ASCII_WORD = re.compile(r"[a-z0-9][a-z0-9 /'-]*")


def _type_key(value: str) -> str:
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


def _entry(raw: Any, index: int) -> MenuChoice:
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f"IVR menu entry {index} is not an object")
    digit = str(raw.get("digit", "")).strip()
    if len(digit) != 1 or digit not in "0123456789*":  # "#" ends the input: Twilio never sends it
        raise ImproperlyConfigured(f"IVR menu entry {index}: 'digit' must be one key (0-9 or *)")
    texts = {}
    for name in ("label_zh", "label_en", "equipment_type", "skill"):
        value = raw.get(name, "")
        if not isinstance(value, str):
            raise ImproperlyConfigured(f"IVR menu entry {index}: '{name}' must be text")
        texts[name] = value.strip()
    if not texts["label_zh"] or not texts["label_en"]:
        raise ImproperlyConfigured(f"IVR menu entry {index}: 'label_zh' and 'label_en' are required")
    keywords = raw.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(word, str) for word in keywords):
        raise ImproperlyConfigured(f"IVR menu entry {index}: 'keywords' must be a list of text")
    return MenuChoice(digit=digit, keywords=tuple(keywords), **texts)


def menu_parse(data: Any) -> tuple[MenuChoice, ...]:
    """A menu from its JSON form (a list of entries, or ``{"menu": [...]}``); wrong: ``ImproperlyConfigured``."""
    entries = data.get("menu") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise ImproperlyConfigured("The IVR menu must be a non-empty list of entries")
    menu = tuple(_entry(raw, index) for index, raw in enumerate(entries))
    digits = [choice.digit for choice in menu]
    if len(set(digits)) != len(digits):
        raise ImproperlyConfigured(f"The IVR menu uses a key twice: {digits}")
    return menu


@functools.lru_cache(maxsize=4)
def _menu_file(path: str, mtime_ns: int) -> tuple[MenuChoice, ...]:  # mtime: an edited file is read again
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"IVR_MENU_JSON={path!r} cannot be read as JSON: {exc}") from exc
    return menu_parse(data)


def menu_current() -> tuple[MenuChoice, ...]:
    """The company's menu: the file ``IVR_MENU_JSON`` names, or ``DEFAULT_MENU``."""
    path = getattr(settings, "IVR_MENU_JSON", "") or ""
    if not path:
        return DEFAULT_MENU
    try:
        return _menu_file(path, Path(path).stat().st_mtime_ns)
    except (OSError, ImproperlyConfigured):
        logger.exception("The IVR menu in %s is unusable; callers hear the built-in menu", path)
        return DEFAULT_MENU


def menu_prompt_zh(menu: Sequence[MenuChoice]) -> str:
    return "请选择报修的设备：" + "，".join(f"{choice.label_zh}请按{choice.digit}" for choice in menu) + "。"


def menu_prompt_en(menu: Sequence[MenuChoice]) -> str:
    return "Which appliance is it? " + ", ".join(f"for {choice.label_en} press {choice.digit}" for choice in menu) + "."


def _said(word: str, speech: str) -> bool:
    # Latin words must stand alone ("ac" is not in "each"); Chinese has no spaces to look for.
    if _ASCII_WORD.fullmatch(word):
        return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", speech) is not None
    return word in speech


def menu_choice(digits: str, speech: str = "", *, menu: Sequence[MenuChoice] | None = None) -> MenuChoice | None:
    """The entry the caller chose: by the key pressed, else by what they said (a label or keyword,
    in Chinese or English, or the number). ``None``: nothing chosen, a key not on the menu, or
    words naming no entry or more than one."""
    menu = menu_current() if menu is None else menu
    by_digit = {choice.digit: choice for choice in menu}
    digits = digits.strip()
    if digits:
        return by_digit.get(digits)
    said = speech.strip().lower()
    if not said:
        return None
    spoken_number = _NUMBER_WORDS.get(_NOT_A_WORD.sub("", said), _NOT_A_WORD.sub("", said))
    if spoken_number in by_digit:
        return by_digit[spoken_number]
    named = [choice for choice in menu if any(_said(word, said) for word in choice.words)]
    return named[0] if len(named) == 1 else None


def equipment_for_choice(equipment: Iterable[Equipment], choice: MenuChoice | None) -> Equipment | None:
    """The caller's equipment the call is about.

    No choice (or "an agent"): the only piece at the site, if there is just one (as before the
    menu). A choice: the one piece of that type; ``None`` when the site has none or several.
    """
    pieces = list(equipment)
    if choice is None or choice.agent:
        return pieces[0] if len(pieces) == 1 else None
    matches = [piece for piece in pieces if _type_key(piece.equipment_type) in choice.types]
    return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class MenuPick:
    """What a call's menu input decides for its order."""

    given: str  # the key pressed, or the words said; "" when the caller chose nothing
    choice: MenuChoice | None
    equipment: Equipment | None
    skill: Skill | None
    text: str  # the order's event saying what was chosen; "" when nothing was given

    @property
    def names_equipment(self) -> bool:
        """The caller named a kind of equipment: equipment and skill follow the choice."""
        return self.choice is not None and not self.choice.agent


def menu_pick(*, site: Site | None, digits: str, speech: str = "") -> MenuPick:
    """Equipment and skill for an order from the caller's menu input (``digits`` first, else ``speech``).

    The skill is the chosen equipment's; without one piece of equipment (none or several of the
    kind at the site) it is the menu entry's skill, if that skill exists.
    """
    digits, speech = digits.strip(), speech.strip()
    given = digits or speech
    choice = menu_choice(digits, speech)
    if choice is None and digits and speech:
        choice = menu_choice("", speech)  # a stray key, but the words name something
    pieces = list(site.equipment.select_related("required_skill")) if site is not None else []
    equipment = equipment_for_choice(pieces, choice)
    skill = equipment.required_skill if equipment is not None else None
    how = f"pressed {digits}" if digits else f"said “{text_clean(speech, max_length=80)}”"
    if not given:
        return MenuPick(given="", choice=None, equipment=equipment, skill=skill, text="")
    if choice is None:
        text = f"Phone menu: the caller {how}, which is not on the menu; no equipment chosen from it"
        if equipment is not None:
            text += f" (the site's only equipment, {equipment}, is kept)"
        return MenuPick(given=given, choice=None, equipment=equipment, skill=skill, text=text)
    if choice.agent:
        return MenuPick(
            given=given,
            choice=choice,
            equipment=equipment,
            skill=skill,
            text=f"Phone menu: the caller {how} and asked for an agent; staff call back to ask about the equipment",
        )
    same_kind = [piece for piece in pieces if _type_key(piece.equipment_type) in choice.types]
    if skill is None and choice.skill:
        kinds_skills = {piece.required_skill for piece in same_kind if piece.required_skill is not None}
        skill = kinds_skills.pop() if len(kinds_skills) == 1 else Skill.objects.filter(code=choice.skill).first()
    text = f"Phone menu: the caller {how} ({choice.label_en}): "
    if equipment is not None:
        text += f"their {equipment}"
    elif same_kind:
        text += f"{len(same_kind)} pieces of that kind at the site; staff pick the one"
    else:
        text += f"no {choice.label_en} is registered at the site"
    if skill is not None:
        text += f"; skill needed: {skill.code}"
    else:
        text += f"; no skill '{choice.skill}' is set up" if choice.skill else "; the menu names no skill for it"
    return MenuPick(given=given, choice=choice, equipment=equipment, skill=skill, text=text)


def menu_pick_record(*, work_order: WorkOrder, call: CallRecord, pick: MenuPick) -> None:
    """Write the pick on the order's events (nothing when the caller chose nothing). The event also
    marks the call's choice as applied (``call_choice_apply`` does not apply it twice)."""
    if not pick.given:
        return
    work_order_services.work_order_note(
        work_order=work_order,
        kind=EventKind.CALL,
        text=pick.text,
        actor_label=call.provider,
        data={
            "call_id": call.call_id,
            "provider": call.provider,
            "menu": {
                "given": pick.given,
                "digit": pick.choice.digit if pick.choice else None,
                "equipment_id": pick.equipment.pk if pick.equipment else None,
                "skill": pick.skill.code if pick.skill else None,
            },
        },
    )


@dataclass(frozen=True)
class ChoiceResult:
    call: CallRecord
    work_order: WorkOrder | None
    pick: MenuPick | None  # None: nothing given, or this choice was already applied
    changed: bool  # the order's equipment or skill changed


def _applied(call: CallRecord, given: str) -> bool:
    return (
        call.work_order is not None
        and call.work_order.events.filter(
            kind=EventKind.CALL, data__call_id=call.call_id, data__menu__given=given
        ).exists()
    )


def _problem_with(problem: str, addition: str) -> str:
    if addition in problem:
        return problem
    return text_clean(f"{problem}\n{addition}".strip(), max_length=PROBLEM_MAX_LENGTH)


_REASON_MAX_LENGTH = 300  # CallRecord.reason
_DIGITS_MAX_LENGTH = 20  # CallRecord.ivr_digits

# Orders whose equipment a menu choice may still change: not yet on the way.
CHANGEABLE_STATUSES = (Status.NEW, Status.SCHEDULED)


def _changes(call: CallRecord, order: WorkOrder, pick: MenuPick) -> bool:
    """Does the pick change the order? Only the order the call created, not yet under way."""
    return (
        call.outcome == CallOutcome.CREATED
        and order.status in CHANGEABLE_STATUSES
        and pick.names_equipment
        and (pick.equipment != order.equipment or pick.skill != order.required_skill)
    )


def _place_again(order: WorkOrder, pick: MenuPick) -> bool:
    """Must the order be placed (again) for its new skill? Not placed yet, or its technician lacks it."""
    if order.site is None or not order.site.has_location:
        return False  # nowhere to send anyone: staff complete the address first
    if order.status == Status.NEW:
        return True
    return (
        pick.skill is not None
        and order.technician_id is not None
        and not Technician.objects.filter(pk=order.technician_id, skills=pick.skill).exists()
    )


def _locked_order(work_order_id: int) -> WorkOrder:
    return (
        WorkOrder.objects.select_for_update(of=("self",), no_key=True)
        .select_related("site", "equipment", "required_skill")
        .get(pk=work_order_id)
    )


@transaction.atomic
def call_choice_apply(*, call_record_id: int, digits: str = "", speech: str = "") -> ChoiceResult:
    """Apply a caller's menu choice, arriving after the call was recorded, to the call's order.

    The order the call created, while still NEW or SCHEDULED, takes the chosen equipment and its
    skill; a scheduled order whose technician lacks the new skill is taken off the route and
    placed again, a NEW one is placed. Any other order (one the call joined, one under way) only
    gets the choice on its events. The same choice twice (a retried request) is applied once.
    Locks: the call, then (when the order is placed again) every technician, then the order.
    """
    digits = text_clean(digits, max_length=_DIGITS_MAX_LENGTH).strip()
    speech = text_clean(speech, max_length=None).strip()
    given = digits or speech
    call = (
        CallRecord.objects.select_for_update(of=("self",))
        .select_related("work_order__site", "work_order__equipment", "work_order__required_skill")
        .filter(pk=call_record_id)
        .first()
    )
    if call is None:
        raise NotFound(f"Call {call_record_id} does not exist")
    if not given or call.work_order is None or _applied(call, given):
        return ChoiceResult(call=call, work_order=call.work_order, pick=None, changed=False)
    order = call.work_order
    pick = menu_pick(site=order.site, digits=digits, speech=speech)
    call_fields: list[str] = []
    if digits and call.ivr_digits != digits:
        call.ivr_digits = digits
        call_fields.append("ivr_digits")
    if speech and not call.reason:
        call.reason = text_clean(speech, max_length=_REASON_MAX_LENGTH)
        call_fields.append("reason")
    if call_fields:
        call.save(update_fields=[*call_fields, "updated_at"])
    # Read without locks first, to know which locks to take (technicians before the order).
    place_again = _changes(call, order, pick) and _place_again(order, pick)
    if place_again:
        work_order_services.technicians_lock(Technician.objects.values_list("pk", flat=True))
    order = _locked_order(order.pk)
    if not _changes(call, order, pick):  # nothing to change, or it went under way meanwhile
        menu_pick_record(work_order=order, call=call, pick=pick)
        return ChoiceResult(call=call, work_order=order, pick=pick, changed=False)
    place_again = place_again and _place_again(order, pick)
    if place_again and order.status == Status.SCHEDULED:
        assert pick.choice is not None  # names_equipment
        work_order_services.work_order_transition(
            work_order_id=order.pk,
            to_status=Status.NEW,
            actor_label=call.provider,
            text=f"Taken off the plan: the caller chose {pick.choice.label_en}, which needs skill "
            f"{pick.skill.code if pick.skill else '-'}",
        )
        order = _locked_order(order.pk)
    order.equipment, order.required_skill = pick.equipment, pick.skill
    order.problem = _problem_with(order.problem, f"IVR choice: {digits}" if digits else speech)
    order.version += 1  # a re-plan made from the old version does not apply to it
    order.save(update_fields=["equipment", "required_skill", "problem", "version", "updated_at"])
    menu_pick_record(work_order=order, call=call, pick=pick)
    if place_again:
        order = scheduling_services.work_order_dispatch(work_order_id=order.pk)
    return ChoiceResult(call=call, work_order=order, pick=pick, changed=True)
