"""The operator's cron check against robfig/cron v3.0.1, the parser the CronJob controller uses.

Kubernetes validates a CronJob's schedule with ``cron.ParseStandard`` (kubernetes
pkg/apis/batch/validation/validation.go, ``validateScheduleFormat``) and refuses ``TZ`` in it.
The cases below are robfig/cron's own (github.com/robfig/cron, v3.0.1 = commit
ccba498c397bb90a9c84945bbb0f7af2d72b6309, parser_test.go TestRange lines 20-43, TestField
lines 66-69, TestStandardSpecSchedule lines 315-336; MIT licence), each put into the field of a
five-field schedule whose bounds match the case's, plus the rules of spec.go (bounds lines 22-52,
``dayMatches`` lines 179-188).
"""

from __future__ import annotations

import pytest

from tidal_operator.checks import SpecError, check_cron, cron_fields


def refused(expression: str) -> str:
    with pytest.raises(SpecError) as error:
        check_cron(expression, field="spec.schedule")
    assert error.value.reason == "InvalidSchedule"
    return error.value.message


@pytest.mark.parametrize(
    ("minute_field", "values"),
    [  # parser_test.go TestRange / TestField, in the minute field (0-59)
        ("5", {5}),
        ("0", {0}),
        ("5-5", {5}),
        ("5-6", {5, 6}),
        ("5-7", {5, 6, 7}),
        ("5-6/2", {5}),
        ("5-7/2", {5, 7}),
        ("5-7/1", {5, 6, 7}),
        ("5,6", {5, 6}),
        ("1,5-7/2,3", {1, 3, 5, 7}),
    ],
)
def test_ranges_lists_and_steps_expand_as_robfig_does(minute_field: str, values: set[int]) -> None:
    check_cron(f"{minute_field} * * * *", field="spec.schedule")
    assert cron_fields([minute_field, "*", "*", "*", "*"])[0] == (values, False)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [  # parser_test.go TestRange errors and TestStandardSpecSchedule
        ("5--5 * * * *", "too many hyphens"),
        ("* * * jan-x *", "failed to parse int from"),
        ("* * 2-x * *", "failed to parse int from"),
        ("*/-12 * * * *", "negative number"),
        ("*//2 * * * *", "too many slashes"),
        ("* * 0 * *", "outside 1-31"),
        ("* 24 * * *", "outside 0-23"),
        ("5-3 * * * *", "backwards"),
        ("*/0 * * * *", "positive number"),
        ("5 j * * *", "failed to parse int from"),
        ("* * * *", "five fields"),
        ("", "five fields"),
        ("@unrecognized", "not @every"),
    ],
)
def test_what_robfig_refuses_is_refused(expression: str, fragment: str) -> None:
    assert fragment in refused(expression)


def test_day_of_week_stops_at_6_as_the_cronjob_controller_reads_it() -> None:
    """spec.go:40: dow bounds{0, 6}; 7 is no Sunday for the CronJob controller."""
    assert "outside 0-6" in refused("0 2 * * 7")
    check_cron("0 2 * * 0", field="spec.schedule")
    check_cron("0 2 * * SUN", field="spec.schedule")


@pytest.mark.parametrize("expression", ["0 2 ? * *", "0 2 * * ?", "0 2 ? * MON"])
def test_a_question_mark_is_a_star(expression: str) -> None:
    """parser.go getRange: ``*`` and ``?`` alike."""
    check_cron(expression, field="spec.schedule")


@pytest.mark.parametrize("expression", ["0 2 * JAN-mar Mon", "0 2 * dec sat"])
def test_names_are_read_in_any_case(expression: str) -> None:
    check_cron(expression, field="spec.schedule")


@pytest.mark.parametrize(
    "expression", ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]
)
def test_every_calendar_descriptor_is_accepted(expression: str) -> None:
    check_cron(expression, field="spec.schedule")


def test_a_time_zone_in_the_schedule_is_refused_as_kubernetes_does() -> None:
    assert "time zones" in refused("CRON_TZ=Europe/Paris 0 2 * * *")
    assert "time zones" in refused("TZ=UTC 0 2 * * *")


@pytest.mark.parametrize("expression", ["0 2 30 2 *", "0 2 31 4,6,9,11 *", "0 0 31 2 ?"])
def test_a_schedule_that_never_fires_is_refused(expression: str) -> None:
    assert "never fires" in refused(expression)


@pytest.mark.parametrize("expression", ["0 2 29 2 *", "0 2 30 2 MON", "0 2 31 * *"])
def test_a_schedule_that_fires_rarely_or_by_weekday_is_accepted(expression: str) -> None:
    """29 February comes every four years; with both day fields restricted either one matches
    (spec.go dayMatches), so 30 February on Mondays fires every February Monday."""
    check_cron(expression, field="spec.schedule")


def test_a_stepped_star_is_no_star_so_either_day_field_matches() -> None:
    """parser.go getRange: a step above 1 drops the star bit."""
    assert cron_fields(["0", "0", "*/2", "*", "1"])[2][1] is False
    assert cron_fields(["0", "0", "*/1", "*", "1"])[2][1] is True
