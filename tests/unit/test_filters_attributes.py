"""Knative Trigger ``filters`` dialects over CloudEvent attributes, and the builder helpers."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from tidal import App
from tidal._bindings import kafka
from tidal._bindings.formats import event_from_mapping
from tidal._errors import ConfigurationError, FilterError
from tidal._filters import (
    all_of,
    any_of,
    cesql,
    compile_filters,
    exact,
    not_,
    prefix,
    suffix,
)
from tidal._filters.cesql_expressions import compile_cesql
from tidal._filters.rendering import attribute_text, rfc3339
from tidal._manifests import trigger_filters

ATTRIBUTES: dict[str, Any] = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "https://github.com/cloudevents/spec/pull",
    "type": "com.github.pull_request.opened",
    "subject": "123",
    "time": datetime(2018, 4, 5, 17, 31, tzinfo=UTC),
    "sequence": 7,
    "sampled": True,
}


def matches(
    filters: Sequence[Mapping[str, Any]], attributes: Mapping[str, Any] = ATTRIBUTES
) -> bool:
    return compile_filters(filters)(attributes)


# -- exact / prefix / suffix -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"exact": {"type": "com.github.pull_request.opened"}}, True),
        ({"exact": {"type": "com.github.pull_request"}}, False),
        ({"exact": {"type": "COM.GITHUB.PULL_REQUEST.OPENED"}}, False),
        ({"prefix": {"type": "com.github."}}, True),
        ({"prefix": {"type": "com.gitlab."}}, False),
        ({"prefix": {"type": "Com.github."}}, False),
        ({"suffix": {"type": ".opened"}}, True),
        ({"suffix": {"type": ".closed"}}, False),
        ({"suffix": {"source": "/pull"}}, True),
        ({"exact": {"subject": "123"}}, True),
    ],
)
def test_string_dialects_compare_case_sensitively(flt: dict[str, Any], expected: bool) -> None:
    assert matches([flt]) is expected


@pytest.mark.parametrize("dialect", ["exact", "prefix", "suffix"])
def test_string_dialect_does_not_match_a_missing_attribute(dialect: str) -> None:
    assert matches([{dialect: {"dataschema": "x"}}]) is False


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"exact": {"sequence": "7"}}, True),
        ({"exact": {"sequence": "07"}}, False),
        ({"exact": {"sampled": "true"}}, True),
        ({"exact": {"sampled": "True"}}, False),
        ({"exact": {"time": "2018-04-05T17:31:00Z"}}, True),
        ({"prefix": {"time": "2018-04-05T"}}, True),
        ({"suffix": {"time": "+00:00"}}, False),
    ],
)
def test_non_string_attributes_compare_in_their_string_form(
    flt: dict[str, Any], expected: bool
) -> None:
    assert matches([flt]) is expected


def test_filters_read_the_attributes_of_a_real_cloudevent() -> None:
    event = CloudEvent(
        {
            "id": "1",
            "specversion": "1.0",
            "type": "com.acme.order.created",
            "source": "/orders",
            "time": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "tenant": "acme",
        },
        {"total": 3},
    )
    predicate = compile_filters(
        [prefix(type="com.acme."), exact(tenant="acme"), cesql("time LIKE '2024-01-02T%Z'")]
    )

    assert predicate(event.get_attributes()) is True


# -- all / any / not / nesting ---------------------------------------------------------------------

OPENED = {"exact": {"type": "com.github.pull_request.opened"}}
CLOSED = {"exact": {"type": "com.github.pull_request.closed"}}
GITHUB = {"prefix": {"source": "https://github.com/"}}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"all": [OPENED, GITHUB]}, True),
        ({"all": [CLOSED, GITHUB]}, False),
        ({"any": [CLOSED, GITHUB]}, True),
        ({"any": [CLOSED, {"exact": {"subject": "9"}}]}, False),
        ({"not": CLOSED}, True),
        ({"not": OPENED}, False),
        ({"not": {"exact": {"dataschema": "x"}}}, True),
        ({"all": [{"any": [CLOSED, OPENED]}, {"not": {"suffix": {"source": "/push"}}}]}, True),
        ({"any": [{"all": [CLOSED, GITHUB]}, {"not": {"not": CLOSED}}]}, False),
        ({"not": {"all": [OPENED, {"cesql": "sequence > 5"}]}}, False),
    ],
)
def test_nested_dialects_combine(flt: dict[str, Any], expected: bool) -> None:
    assert matches([flt]) is expected


def test_an_empty_filter_list_matches_everything() -> None:
    assert matches([], {}) is True


def test_every_filter_in_the_list_must_match() -> None:
    assert matches([OPENED, GITHUB]) is True
    assert matches([OPENED, CLOSED]) is False


def test_cesql_dialect_evaluates_the_expression() -> None:
    assert matches([{"cesql": "type LIKE '%.opened' AND sequence >= 7"}]) is True
    assert matches([{"cesql": "type LIKE '%.opened' AND sequence > 7"}]) is False


def test_a_cesql_runtime_error_makes_the_filter_false_not_raise() -> None:
    assert matches([{"cesql": "missing = 'x'"}]) is False
    assert matches([{"not": {"cesql": "missing = 'x'"}}]) is True


# -- compile errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([{"prefix": {}}], "filters[0].prefix: expected a mapping of one or more attribute"),
        ([{"suffix": "x"}], "filters[0].suffix: expected a mapping of one or more attribute"),
        ([{"prefix": {"type": ""}}], "filters[0].prefix.type: the value must be a non-empty"),
        ([{"suffix": {"type": ""}}], "filters[0].suffix.type: the value must be a non-empty"),
        ([{"exact": {"type": ""}}], "filters[0].exact.type: the value must be a non-empty"),
        ([{"exact": {"type": 5}}], "filters[0].exact.type: the value must be a non-empty string"),
        ([{"exact": {"Type": "a"}}], "invalid attribute name 'Type'"),
        ([{"exact": {"1type": "a"}}], "invalid attribute name '1type'"),
        ([{"exact": {"my-ext": "a"}}], "invalid attribute name 'my-ext'"),
        ([{}], "filters[0]: a filter takes exactly one dialect, found none"),
        ([OPENED, {**OPENED, **GITHUB}], "filters[1]: a filter takes exactly one dialect"),
        ([{"sql": "a = b"}], "filters[0]: unknown dialect 'sql'"),
        ([{"all": []}], "filters[0].all: expected a non-empty list"),
        ([{"any": OPENED}], "filters[0].any: expected a non-empty list"),
        ([{"any": "abc"}], "filters[0].any: expected a non-empty list"),
        ([{"all": [OPENED, {"bogus": 1}]}], "filters[0].all[1]: unknown dialect 'bogus'"),
        ([{"not": [OPENED]}], "filters[0].not: expected a mapping with one dialect, got list"),
        ([{"not": {"not": {}}}], "filters[0].not.not: a filter takes exactly one dialect"),
        ([{"cesql": ""}], "filters[0].cesql: expected a non-empty CESQL expression"),
        ([{"cesql": 5}], "filters[0].cesql: expected a non-empty CESQL expression"),
        ([{"any": [{"cesql": "a = = b"}]}], "filters[0].any[0].cesql: cesql expression"),
        (["exact"], "filters[0]: expected a mapping with one dialect, got str"),
    ],
)
def test_invalid_filters_raise_filter_error_naming_the_problem(
    filters: list[Any], message: str
) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filters(filters)

    assert message in str(caught.value)


@pytest.mark.parametrize("filters", ["type=a", {"exact": {"type": "a"}}, 5])
def test_filters_must_be_a_list(filters: Any) -> None:
    with pytest.raises(FilterError, match="filters: expected a list of filters"):
        compile_filters(filters)


def test_filter_error_is_a_configuration_error_and_a_value_error() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filters([{}])

    assert isinstance(caught.value, ConfigurationError)
    assert isinstance(caught.value, ValueError)


# -- builders --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (exact(type="a"), {"exact": {"type": "a"}}),
        (prefix(type="com."), {"prefix": {"type": "com."}}),
        (suffix(source="/x"), {"suffix": {"source": "/x"}}),
        (
            exact(type="a", source="b"),
            {"all": [{"exact": {"type": "a"}}, {"exact": {"source": "b"}}]},
        ),
        (all_of(exact(type="a"), GITHUB), {"all": [{"exact": {"type": "a"}}, GITHUB]}),
        (any_of(exact(type="a")), {"any": [{"exact": {"type": "a"}}]}),
        (not_(exact(type="a")), {"not": {"exact": {"type": "a"}}}),
        (cesql("EXISTS subject"), {"cesql": "EXISTS subject"}),
    ],
)
def test_builders_return_the_plain_dict_forms(built: dict[str, Any], expected: Any) -> None:
    assert built == expected


def test_builders_compose_into_a_working_filter() -> None:
    filters = [
        prefix(type="com.github."),
        any_of(suffix(type=".opened"), suffix(type=".reopened")),
        not_(exact(subject="999")),
        all_of(cesql("sequence > 1"), exact(specversion="1.0", id="evt-1")),
    ]

    assert matches(filters) is True
    assert matches(filters, {**ATTRIBUTES, "subject": "999"}) is False


@pytest.mark.parametrize("builder", [exact, prefix, suffix])
def test_string_builders_need_an_attribute(builder: Any) -> None:
    with pytest.raises(FilterError, match="needs at least one attribute"):
        builder()


# -- rendering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2018, 4, 26, 12, 48, 9, tzinfo=UTC), "2018-04-26T12:48:09Z"),
        (datetime(2018, 4, 26, 12, 48, 9, 250000, tzinfo=UTC), "2018-04-26T12:48:09.25Z"),
        (
            datetime(2018, 4, 26, 14, 48, 9, tzinfo=timezone(timedelta(hours=2))),
            "2018-04-26T14:48:09+02:00",
        ),
        (datetime(2018, 4, 26, 12, 48, 9), "2018-04-26T12:48:09Z"),
    ],
)
def test_time_renders_as_rfc3339_with_z_for_utc(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text


@pytest.mark.parametrize(
    ("value", "text"), [("a", "a"), (True, "true"), (False, "false"), (42, "42"), (-1, "-1")]
)
def test_attribute_values_render_canonically(value: object, text: str) -> None:
    assert attribute_text(value) == text


# -- properties ------------------------------------------------------------------------------------


@given(value=st.text(max_size=20), affix=st.text(min_size=1, max_size=5))
def test_prefix_and_suffix_dialects_agree_with_str_methods(value: str, affix: str) -> None:
    attributes = {"subject": value}

    assert matches([prefix(subject=affix)], attributes) is value.startswith(affix)
    assert matches([suffix(subject=affix)], attributes) is value.endswith(affix)
    assert matches([not_(exact(subject=affix))], attributes) is (value != affix)


@pytest.mark.parametrize("dialect", ["exact", "prefix", "suffix"])
def test_one_filter_may_name_several_attributes_and_all_must_match(dialect: str) -> None:
    """Knative accepts several attributes in one exact/prefix/suffix filter (its webhook tests
    "valid exact filter containing more than one attribute"): every one must match."""
    value = {"exact": "com.acme.x", "prefix": "com.", "suffix": ".x"}[dialect]
    matches = compile_filters([{dialect: {"type": value, "subject": value}}])
    assert matches({"type": "com.acme.x", "subject": "com.acme.x"}) is True
    assert matches({"type": "com.acme.x", "subject": "org.other.y"}) is False
    assert matches({"type": "com.acme.x"}) is False


@pytest.mark.parametrize(
    ("wire", "dialect", "value"),
    [
        ("2020-03-21T12:34:56.78Z", "exact", "2020-03-21T12:34:56.78Z"),
        ("2020-03-21T12:34:56.780Z", "exact", "2020-03-21T12:34:56.780Z"),
        ("2020-03-21T12:34:56.78Z", "suffix", "56.78Z"),
        ("2020-03-21T14:34:56+02:00", "suffix", "+02:00"),
    ],
)
def test_time_is_compared_as_the_text_the_event_carried(
    wire: str, dialect: str, value: str
) -> None:
    event = event_from_mapping(
        {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "time": wire}
    )
    assert compile_filters([{dialect: {"time": value}}])(event.get_attributes()) is True
    assert compile_cesql(f"time = '{wire}'")(event.get_attributes()) is True


def test_a_copied_event_keeps_the_time_text() -> None:
    event = event_from_mapping(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "/s",
            "type": "t",
            "time": "2020-03-21T12:34:56.78Z",
        }
    )
    for copied in (copy.deepcopy(event), pickle.loads(pickle.dumps(event))):
        assert compile_filters([exact(time="2020-03-21T12:34:56.78Z")])(copied.get_attributes())


WIRE_TIME = "2020-03-21T12:34:56.780Z"
KAFKA_RECORDS = {
    "binary": kafka.KafkaMessage(
        {"ce_specversion": b"1.0", "ce_id": b"1", "ce_source": b"/s", "ce_type": b"t",
         "ce_time": WIRE_TIME.encode()},
        None,
        b"",
    ),
    "structured": kafka.KafkaMessage(
        {"content-type": b"application/cloudevents+json"},
        None,
        json.dumps(
            {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "time": WIRE_TIME}
        ).encode(),
    ),
}  # fmt: skip


@pytest.mark.parametrize("mode", sorted(KAFKA_RECORDS))
def test_time_text_survives_the_kafka_binding(mode: str) -> None:
    received = kafka.from_record(KAFKA_RECORDS[mode])
    assert compile_cesql(f"time = '{WIRE_TIME}'")(received.get_attributes()) is True


TRIGGER_FILTERS = """
- exact:
    type: com.github.push
    subject: https://github.com/cloudevents/spec
- prefix:
    type: com.github.
    subject: https://github.com/cloudevents
- any:
    - suffix: {type: .push, subject: /spec}
    - cesql: "EXISTS partitionkey"
"""


def test_a_triggers_filters_copy_into_app_on_and_back() -> None:
    """The README's promise: spec.filters from a Trigger (here the Subscriptions API spec's own
    examples, cloudevents/spec subscriptions/spec.md §3.2.4.1.1) register unchanged, and
    `tidal manifests` writes them back as they were."""
    filters = yaml.safe_load(TRIGGER_FILTERS)
    app = App("github")
    app.on(*filters, name="pushes")(lambda event: None)
    matches = app.subscription("pushes").matches_attributes
    push = {"type": "com.github.push", "subject": "https://github.com/cloudevents/spec"}
    assert matches(push) is True
    assert matches({**push, "subject": "https://github.com/cloudevents/sdk-go"}) is False
    assert trigger_filters(app.subscription("pushes").filters) == {"filters": filters}
