import pytest

from server.common.phones import InvalidPhoneNumber, phone_to_e164, phone_to_e164_or_none


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("021 6234 5678", "+862162345678"),
        ("+1 415 555 2671", "+14155552671"),
    ],
)
def test_numbers_are_stored_as_e164_with_china_as_default_region(raw, expected):
    assert phone_to_e164(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "12", "anonymous", "+86 123"])
def test_bad_numbers_raise_a_clear_error(raw):
    with pytest.raises(InvalidPhoneNumber) as info:
        phone_to_e164(raw)
    assert info.value.status_code == 422
    assert phone_to_e164_or_none(raw) is None
