"""GET /api/v1/models and GET /api/v1/models/search: every malformed, absurd or hostile filter and
search parameter is a clear 4xx (or answered), never a crash, and changes nothing."""

from __future__ import annotations

import pytest

from .discovery_helpers import labels, ok
from .helpers import assert_client_error
from .search_catalog import (
    CNN,
    F1,
    F2,
    LR,
    NB,
    RF,
    filter_error,
)

# ---- filter errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "position"), [
    ("metrics.f1_score >=", 19),  # no value
    ("algorithm =", 11),
    ("algorithm = 'xgboost' AND", 25),  # nothing after AND
    ("(algorithm = 'xgboost'", 22),  # no closing parenthesis
    ("name LIKE 5", 10),  # LIKE needs a quoted pattern
    ("algorithm ~ 'x'", 10),  # no such operator
    ("algorithm = 'xgboost", 12),  # unterminated quote
    ("status = 'active' status = 'x'", 18),  # missing AND/OR
    ("AND name = 'x'", 0),
    ("name IN ()", 9),
    ("metrics.f1_score IS 5", 20),
    ("name NOT = 'x'", 9),
    ("metrics. = 1", 9),
])
def test_a_malformed_filter_is_400_saying_where(catalog, endpoint, expression, position):
    body = filter_error(catalog, endpoint, expression)

    assert body["details"]["position"] == position, body
    assert f"position {position}" in body["error"]


@pytest.mark.parametrize(("expression", "field", "position"), [
    ("colour = 'red'", "colour", 0),
    ("algorithm = 'x' OR metrics = 1", "metrics", 19),
    ("hyperparameters = 1", "hyperparameters", 0),
    ("metrics.a.b = 1", "metrics.a.b", 0),
    ("name = 'a' AND foo.bar IS NULL", "foo.bar", 15),
])
def test_an_unknown_field_is_400_naming_it(catalog, endpoint, expression, field, position):
    body = filter_error(catalog, endpoint, expression)

    assert body["details"]["field"] == field
    assert body["details"]["position"] == position
    assert field in body["error"]


@pytest.mark.parametrize(("expression", "position"), [
    ("metrics.x = 'a'", 12),
    ("name = 5", 7),
    ("name = true", 7),
    ("created_at > 'yesterday'", 13),
    ("version = 'latest'", 10),
    ("accuracy >= true", 12),
    ("metrics.f1_score IN (0.9, 'high')", 26),
    ("metrics.f1_score LIKE 'a%'", 0),  # LIKE needs text
    ("tags > 'a'", 0),  # tags: = and != only
])
def test_a_literal_of_the_wrong_type_is_400(catalog, endpoint, expression, position):
    body = filter_error(catalog, endpoint, expression)

    assert body["details"]["position"] == position, body


def test_too_many_conditions_or_values_are_400(catalog, endpoint):
    many_conditions = " OR ".join(f"name = 'm{n}'" for n in range(65))
    many_values = "name IN (" + ", ".join(f"'m{n}'" for n in range(101)) + ")"

    assert len(many_conditions) < 4096
    filter_error(catalog, endpoint, many_conditions)
    filter_error(catalog, endpoint, many_values)


def assert_answered_or_refused(response, expected: list[str]) -> None:
    """Input at the edges may be answered (correctly) or refused with a 4xx; never a 5xx."""
    if response.status_code == 200:
        assert labels(response.json()) == expected
    else:
        assert_client_error(response)


@pytest.mark.parametrize("expression", [
    "(" * 400 + "name = 'spam_nb'" + ")" * 400,  # 816 characters, one condition
    "NOT (" * 301 + "name = 'spam_nb'" + ")" * 301,
])
def test_absurd_nesting_is_answered_or_refused_never_a_crash(catalog, endpoint, expression):
    assert len(expression) <= 4096
    expected = [NB] if expression.startswith("(") else [CNN, LR, RF, F2, F1]

    assert_answered_or_refused(catalog.client.get(endpoint, params={"filter": expression}), expected)


@pytest.mark.parametrize("params", [
    {"created_after": "9999-12-31T23:59:59-12:00"},  # after year 9999 in UTC
    {"created_before": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
    {"filter": "created_at > '9999-12-31T23:59:59-12:00'"},
])
def test_a_time_beyond_the_calendar_in_utc_is_a_client_error(catalog, endpoint, params):
    assert_client_error(catalog.client.get(endpoint, params=params))


def test_q_with_a_nul_character_finds_nothing_or_is_refused(catalog, endpoint):
    assert_answered_or_refused(catalog.client.get(endpoint, params={"q": "ab\x00cd"}), [])


def test_an_overlong_filter_is_a_client_error(catalog, endpoint):
    expression = "name = '" + "x" * 5000 + "'"

    assert_client_error(catalog.client.get(endpoint, params={"filter": expression}))


def test_a_failed_search_changes_nothing_and_the_next_one_works(catalog, endpoint):
    filter_error(catalog, endpoint, "metrics.f1_score >=")

    assert ok(catalog.client.get(endpoint))["pagination"]["total"] == 6
