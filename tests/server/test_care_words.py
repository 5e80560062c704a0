"""The complaint word list: weights, the threshold, Chinese and English matching, negations."""

import pytest

from server.care.complaint_words import COMPLAINT_THRESHOLD, COMPLAINT_WORDS, complaint_score


def test_the_list_is_maintained_in_both_languages_with_weights():
    chinese = [word for word in COMPLAINT_WORDS if not word.isascii()]
    english = [word for word in COMPLAINT_WORDS if word.isascii() and not word.isdigit()]
    assert len(COMPLAINT_WORDS) >= 25
    assert len(chinese) >= 10
    assert len(english) >= 10
    assert all(weight in (1, 2, 3) for weight in COMPLAINT_WORDS.values())
    assert all(word == word.lower() for word in COMPLAINT_WORDS)


@pytest.mark.parametrize(
    ("text", "words", "score"),
    [
        ("我要投诉你们的师傅", ("投诉",), 3),
        ("非常不满意，太差劲了", ("非常不满意", "太差劲了"), 6),  # the longer entry only, not 不满意 too
        ("给差评", ("差评",), 2),
        ("我要退款", ("退款",), 1),
        ("This is TERRIBLE, I want a refund", ("terrible", "refund"), 3),
        ("I will Complain to your manager", ("complain",), 3),
        ("Never   again!", ("never again",), 2),
        ("terrible terrible terrible", ("terrible",), 2),  # a word counts once
        ("", (), 0),
    ],
)
def test_scores_add_the_weights_of_the_words_found(text, words, score):
    hit = complaint_score(text)
    assert hit.words == words
    assert hit.score == score
    assert hit.is_complaint is (score >= COMPLAINT_THRESHOLD)


@pytest.mark.parametrize(
    "text",
    [
        "No complaints, thanks!",  # "complaints" is not listed: it is mostly said to say all is well
        "no complaint at all",  # negated
        "not terrible, not awful, thanks",
        "the scampi was fine",  # whole English words only
        "The technician was complaining about traffic",  # "complaining" is not "complain"
        "师傅很好，没有投诉",  # negated in Chinese
        "我不投诉了",
        "要退款",  # weight 1 is below the threshold
    ],
)
def test_no_complaint_where_there_is_none(text):
    assert not complaint_score(text).is_complaint


def test_weak_signs_add_up_to_a_complaint():
    assert not complaint_score("refund").is_complaint
    assert complaint_score("terrible service, refund please").is_complaint
    assert complaint_score("又坏了，还没来，要退款").score == 3
