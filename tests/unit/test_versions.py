import pytest

from model_service.domain.errors import Invalid
from model_service.domain.versions import FIRST, Version, following


def test_parse_and_print_round_trip():
    assert Version.parse("v2.13") == Version(2, 13)
    assert Version.parse("3.0") == Version(3, 0)
    assert str(Version(2, 13)) == "v2.13"


@pytest.mark.parametrize("text", ["", "v", "v1", "1.2.3", "va.b", "v-1.0", "v1.0 beta"])
def test_parse_rejects_non_versions(text):
    with pytest.raises(Invalid) as info:
        Version.parse(text)
    assert info.value.code == "invalid_version"


def test_versions_order_numerically_not_lexically():
    assert Version(1, 10) > Version(1, 9)
    assert Version(2, 0) > Version(1, 99)


def test_first_version_of_a_name_is_v1_0():
    assert following(None, breaking=False) == FIRST == Version(1, 0)
    assert following(None, breaking=True) == Version(1, 0)


def test_minor_bump_and_breaking_change_bump():
    assert following(Version(1, 3), breaking=False) == Version(1, 4)
    assert following(Version(1, 3), breaking=True) == Version(2, 0)
