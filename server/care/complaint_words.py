"""Words that tell an unhappy customer, with weights, and the pure scoring of a text against them.

How to maintain the list
------------------------
* ``COMPLAINT_WORDS`` maps a word or phrase to its weight: 3 = a complaint by itself ("投诉",
  "complaint"), 2 = strong displeasure that needs one more sign, 1 = a weak sign ("退款", "refund").
  A text whose words add up to ``COMPLAINT_THRESHOLD`` (3) is a complaint.
* Write entries in lower case. An entry with any non-ASCII character (Chinese) matches as a
  substring; an ASCII entry matches whole words only ("scam" does not match "scampi"), case-
  insensitively, and the spaces of a phrase match any run of spaces ("never  again").
* Each entry counts once per text however often it occurs; where entries overlap, the longest
  one counts ("非常不满意" is 3, not 3 + "不满意" 2).
* A match right after a negation (``NEGATIONS_EN`` as the word before, ``NEGATIONS_ZH`` as the
  characters before) does not count: "no complaints, thanks", "没有投诉". English plurals are
  separate entries ("complaints" is deliberately NOT listed: it is mostly "no complaints").
* Add an entry with a test in tests/server/test_care_words.py showing the sentence it catches
  (and one it must not catch when the word is ambiguous).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMPLAINT_THRESHOLD = 3

COMPLAINT_WORDS: dict[str, int] = {
    # Chinese
    "投诉": 3,
    "非常不满意": 3,
    "很不满意": 3,
    "太差劲了": 3,
    "骗子": 3,
    "欺骗": 3,
    "曝光": 3,
    "消协": 3,
    "12315": 3,
    "差评": 2,
    "不满意": 2,
    "太差": 2,
    "差劲": 2,
    "再也不": 2,
    "垃圾": 2,
    "态度恶劣": 3,
    "态度差": 2,
    "坑人": 2,
    "气死": 2,
    "放鸽子": 2,
    "没人来": 2,
    "退款": 1,
    "退钱": 1,
    "赔偿": 1,
    "又坏了": 1,
    "还没来": 1,
    # English
    "complaint": 3,
    "complain": 3,
    "scam": 3,
    "fraud": 3,
    "lawyer": 3,
    "terrible": 2,
    "awful": 2,
    "worst": 2,
    "never again": 2,
    "unacceptable": 2,
    "disgusting": 2,
    "rude": 2,
    "useless": 2,
    "very unhappy": 2,
    "no show": 2,
    "no-show": 2,
    "refund": 1,
    "compensation": 1,
    "broken again": 1,
    "still waiting": 1,
    "disappointed": 1,
}

NEGATIONS_EN = frozenset({"no", "not", "without", "never", "nothing"})
NEGATIONS_ZH = ("没有", "没", "不", "无", "不会", "不用")


@dataclass(frozen=True)
class ComplaintHit:
    """The score of a text and the entries that made it, in the order they occur."""

    score: int
    words: tuple[str, ...]

    @property
    def is_complaint(self) -> bool:
        return self.score >= COMPLAINT_THRESHOLD


def _is_cjk_entry(word: str) -> bool:
    return not word.isascii()


def _pattern(word: str) -> re.Pattern[str]:
    if _is_cjk_entry(word) or word.isdigit():
        return re.compile(re.escape(word))
    body = r"\s+".join(re.escape(part) for part in word.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


_PATTERNS: tuple[tuple[str, int, re.Pattern[str]], ...] = tuple(
    (word, weight, _pattern(word)) for word, weight in COMPLAINT_WORDS.items()
)
_WORD_BEFORE = re.compile(r"(\w+)[\s,]*$")


def _negated(text: str, start: int, word: str) -> bool:
    before = text[max(0, start - 20) : start]
    if _is_cjk_entry(word) or word.isdigit():
        return any(before.endswith(negation) for negation in NEGATIONS_ZH)
    found = _WORD_BEFORE.search(before)
    return found is not None and found.group(1).lower() in NEGATIONS_EN


def complaint_score(text: str) -> ComplaintHit:
    """Score ``text`` against ``COMPLAINT_WORDS`` (see the module's docstring for the rules)."""
    matches: list[tuple[int, int, str, int]] = []
    for word, weight, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            if not _negated(text, match.start(), word):
                matches.append((match.start(), match.end(), word, weight))
    # Longest first: a shorter entry inside a longer one's match does not count again.
    matches.sort(key=lambda m: (-(m[1] - m[0]), m[0]))
    taken: list[tuple[int, int]] = []
    counted: dict[str, tuple[int, int]] = {}  # word -> (first position, weight)
    for start, end, word, weight in matches:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        if word not in counted or start < counted[word][0]:
            counted[word] = (start, weight)
    ordered = sorted(counted.items(), key=lambda item: item[1][0])
    return ComplaintHit(score=sum(weight for _, (_, weight) in ordered), words=tuple(word for word, _ in ordered))
