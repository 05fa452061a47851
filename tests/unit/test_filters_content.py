"""EventBridge-style content patterns over event data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidal import App
from tidal._errors import FilterError
from tidal._filters import compile_pattern

ORDER: dict[str, Any] = json.loads(
    (Path(__file__).parent / "samples" / "filters" / "order_placed.json").read_text()
)


def matches(pattern: dict[str, Any], data: Any = ORDER) -> bool:
    return compile_pattern(pattern)(data)


def order(**fields: Any) -> dict[str, Any]:
    """A pattern over the sample's ``order`` object."""
    return {"order": fields}


# -- plain values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (order(status=["PLACED"]), True),
        (order(status=["placed"]), False),
        (order(status=["SHIPPED", "PLACED"]), True),
        (order(status=["SHIPPED", "CANCELLED"]), False),
        (order(total=[149.5]), True),
        (order(items=[3.0]), True),
        (order(items=[4]), False),
        (order(express=[True]), True),
        (order(express=[False]), False),
        (order(note=[""]), True),
        (order(coupon=[None]), True),
        (order(status=["PLACED"], currency=["EUR"]), True),
        (order(status=["PLACED"], currency=["USD"]), False),
        ({"order": {"customer": {"country": ["DE"]}}, "count": [100]}, True),
    ],
)
def test_plain_values_match_by_equality(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern) is expected


@pytest.mark.parametrize(
    ("pattern", "data"),
    [
        ({"v": [100]}, {"v": "100"}),
        ({"v": ["100"]}, {"v": 100}),
        ({"v": [True]}, {"v": 1}),
        ({"v": [1]}, {"v": True}),
        ({"v": [0]}, {"v": False}),
        ({"v": ["true"]}, {"v": True}),
        ({"v": [None]}, {"v": ""}),
        ({"v": [""]}, {"v": None}),
        ({"v": [None]}, {}),
        ({"v": ["null"]}, {"v": None}),
    ],
)
def test_values_of_different_json_types_never_match(pattern: dict[str, Any], data: Any) -> None:
    assert matches(pattern, data) is False


def test_numeric_pattern_does_not_match_numeric_string() -> None:
    assert matches({"count": [100]}) is True
    assert matches(order(reference=[100])) is False
    assert matches(order(reference=["100"])) is True


# -- arrays ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (order(tags=["priority"]), True),
        (order(tags=["other"]), False),
        (order(tags=["other", "gift"]), True),
        ({"matrix": [4]}, True),
        ({"matrix": [5]}, False),
        (order(lines={"sku": ["SKU-2"]}), True),
        (order(lines={"sku": ["SKU-3"]}), False),
        (order(lines={"sku": ["SKU-1"], "qty": [1]}), True),
        (order(lines={"sku": ["SKU-2"], "qty": [1]}), False),
        (order(lines={"price": [{"numeric": [">", 50]}]}), True),
        (order(lines={"price": [{"numeric": [">", 100]}]}), False),
    ],
)
def test_array_fields_match_when_any_element_matches(
    pattern: dict[str, Any], expected: bool
) -> None:
    assert matches(pattern) is expected


def test_an_empty_array_matches_no_value() -> None:
    assert matches({"tags": ["a"]}, {"tags": []}) is False
    assert matches({"tags": [{"anything-but": "a"}]}, {"tags": []}) is False


# -- prefix / suffix / equals-ignore-case / wildcard -----------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (order(id=[{"prefix": "ord-"}]), True),
        (order(id=[{"prefix": "ORD-"}]), False),
        (order(id=[{"prefix": {"equals-ignore-case": "ORD-"}}]), True),
        (order(id=[{"prefix": ""}]), True),
        (order(file=[{"suffix": ".PDF"}]), True),
        (order(file=[{"suffix": ".pdf"}]), False),
        (order(file=[{"suffix": {"equals-ignore-case": ".pdf"}}]), True),
        (order(customer={"email": [{"equals-ignore-case": "ada@example.COM"}]}), True),
        (order(customer={"email": [{"equals-ignore-case": "bob@example.com"}]}), False),
        (order(file=[{"wildcard": "inv*.PDF"}]), True),
        (order(file=[{"wildcard": "*.pdf"}]), False),
        (order(file=[{"wildcard": "invoice.*"}]), True),
        (order(file=[{"wildcard": "*"}]), True),
        (order(file=[{"wildcard": "invoice"}]), False),
        (order(tags=[{"prefix": "pri"}]), True),
        ({"count": [{"prefix": "1"}]}, False),
        ({"count": [{"suffix": "0"}]}, False),
        ({"count": [{"equals-ignore-case": "100"}]}, False),
        ({"count": [{"wildcard": "*"}]}, False),
        (order(coupon=[{"prefix": ""}]), False),
    ],
)
def test_string_operators_match_only_strings(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern) is expected


@pytest.mark.parametrize(
    ("wildcard", "value", "expected"),
    [
        ("a*b", "ab", True),
        ("a*b", "a-x-b", True),
        ("a*b", "a-x-c", False),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a\\\\b", "a\\b", True),
        ("*.png", "dir/image.png", True),
        ("a*b*c", "abbbc", True),
        ("a.c", "abc", False),
        ("line*", "line\nbreak", True),
    ],
)
def test_wildcard_stars_and_escapes(wildcard: str, value: str, expected: bool) -> None:
    assert matches({"v": [{"wildcard": wildcard}]}, {"v": value}) is expected


# -- anything-but ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (order(status=[{"anything-but": "SHIPPED"}]), True),
        (order(status=[{"anything-but": "PLACED"}]), False),
        (order(status=[{"anything-but": ["SHIPPED", "PLACED"]}]), False),
        (order(status=[{"anything-but": ["SHIPPED", "CANCELLED"]}]), True),
        ({"count": [{"anything-but": 100}]}, False),
        ({"count": [{"anything-but": 100.0}]}, False),
        ({"count": [{"anything-but": [1, 2, 3]}]}, True),
        ({"count": [{"anything-but": "100"}]}, True),
        (order(reference=[{"anything-but": 100}]), True),
        (order(status=[{"anything-but": {"prefix": "PL"}}]), False),
        (order(status=[{"anything-but": {"prefix": "SH"}}]), True),
        (order(file=[{"anything-but": {"suffix": ".PDF"}}]), False),
        (order(file=[{"anything-but": {"suffix": ".pdf"}}]), True),
        (order(status=[{"anything-but": {"equals-ignore-case": "placed"}}]), False),
        (order(status=[{"anything-but": {"equals-ignore-case": ["x", "Placed"]}}]), False),
        (order(status=[{"anything-but": {"equals-ignore-case": ["x", "y"]}}]), True),
        (order(file=[{"anything-but": {"wildcard": "*.PDF"}}]), False),
        (order(file=[{"anything-but": {"wildcard": ["*.png", "*.jpg"]}}]), True),
        (order(tags=[{"anything-but": "gift"}]), True),
        (order(tags=[{"anything-but": ["gift", "priority"]}]), False),
        (order(coupon=[{"anything-but": "x"}]), True),
        ({"count": [{"anything-but": {"prefix": "1"}}]}, True),
        (order(status=[{"anything-but": {"prefix": ["SH", "PL"]}}]), False),
        (order(status=[{"anything-but": {"prefix": ["SH", "CA"]}}]), True),
        (order(file=[{"anything-but": {"suffix": [".png", ".PDF"]}}]), False),
        (order(file=[{"anything-but": {"suffix": [".png", ".jpg"]}}]), True),
        (order(status=[{"exactly": "PLACED"}]), True),
        (order(status=[{"exactly": "placed"}]), False),
    ],
)
def test_anything_but_matches_every_other_present_value(
    pattern: dict[str, Any], expected: bool
) -> None:
    assert matches(pattern) is expected


@pytest.mark.parametrize(
    "operand", ["x", 5, ["x", "y"], {"prefix": "x"}, {"suffix": "x"}, {"wildcard": "*"}]
)
def test_anything_but_does_not_match_a_missing_field(operand: Any) -> None:
    assert matches(order(missing=[{"anything-but": operand}])) is False
    assert matches({"missing": {"deeper": [{"anything-but": operand}]}}) is False


# -- numeric ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ([">", 100], True),
        (["<", 100], False),
        (["=", 149.5], True),
        (["=", 149], False),
        ([">=", 149.5], True),
        (["<=", 149.5], True),
        (["<", 149.5], False),
        ([">", 0, "<=", 149.5], True),
        ([">", 0, "<", 149.5], False),
        ([">=", 149.5, "<", 150], True),
        ([">", 149.5, "<", 150], False),
        ([">", -1e9, "<", 1e9], True),
    ],
)
def test_numeric_comparisons_and_ranges(condition: list[Any], expected: bool) -> None:
    assert matches(order(total=[{"numeric": condition}])) is expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [("items", True), ("reference", False), ("express", False), ("coupon", False)],
)
def test_numeric_matches_only_numbers(field: str, expected: bool) -> None:
    assert matches(order(**{field: [{"numeric": [">=", 1]}]})) is expected


# -- exists ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (order(status=[{"exists": True}]), True),
        (order(status=[{"exists": False}]), False),
        (order(coupon=[{"exists": True}]), True),
        (order(coupon=[{"exists": False}]), False),
        (order(note=[{"exists": True}]), True),
        (order(gift=[{"exists": True}]), False),
        (order(gift=[{"exists": False}]), True),
        (order(tags=[{"exists": True}]), True),
        (order(customer=[{"exists": True}]), False),
        (order(customer=[{"exists": False}]), True),
        ({"nothing": {"deeper": [{"exists": False}]}}, True),
        ({"nothing": {"deeper": [{"exists": True}]}}, False),
        ({"count": {"deeper": [{"exists": False}]}}, True),
        (order(gift=["x", {"exists": False}]), True),
        (order(status=["x", {"exists": False}]), False),
        (order(status=["PLACED", {"exists": False}]), True),
    ],
)
def test_exists_applies_to_leaf_values(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern) is expected


def test_an_empty_array_counts_as_absent() -> None:
    assert matches({"v": [{"exists": True}]}, {"v": []}) is False
    assert matches({"v": [{"exists": False}]}, {"v": []}) is True


@pytest.mark.parametrize(
    "matcher",
    [
        "x",
        5,
        None,
        {"prefix": ""},
        {"suffix": ""},
        {"equals-ignore-case": "x"},
        {"wildcard": "*"},
        {"numeric": [">", 0]},
        {"cidr": "0.0.0.0/0"},
        {"exists": True},
    ],
)
def test_only_exists_false_matches_a_missing_field(matcher: Any) -> None:
    assert matches(order(missing=[matcher])) is False
    assert matches(order(missing=[{"exists": False}])) is True


# -- cidr ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "block", "expected"),
    [
        ("ip", "10.0.0.0/24", True),
        ("ip", "10.0.1.0/24", False),
        ("ip", "10.0.0.33/32", True),
        ("ip", "10.0.0.0/8", True),
        ("ip", "10.0.0.1", False),
        ("ipv6", "2001:db8::/32", True),
        ("ipv6", "2001:db9::/32", False),
        ("ipv6", "10.0.0.0/8", False),
        ("ip", "::/0", False),
        ("country", "0.0.0.0/0", False),
        ("email", "0.0.0.0/0", False),
    ],
)
def test_cidr_matches_ip_address_strings_in_the_block(
    field: str, block: str, expected: bool
) -> None:
    assert matches(order(customer={field: [{"cidr": block}]})) is expected


def test_cidr_does_not_match_numbers() -> None:
    assert matches({"v": [{"cidr": "0.0.0.0/0"}]}, {"v": 167772161}) is False


# -- $or -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"$or": [{"count": [1]}, order(status=["PLACED"])]}, True),
        ({"$or": [{"count": [1]}, order(status=["X"])]}, False),
        (order(**{"$or": [{"status": ["X"]}, {"currency": ["EUR"]}], "express": [True]}), True),
        (order(**{"$or": [{"status": ["X"]}, {"currency": ["EUR"]}], "express": [False]}), False),
        (
            {
                "$or": [
                    {"count": [1]},
                    order(**{"$or": [{"items": [{"numeric": [">", 5]}]}, {"tags": ["gift"]}]}),
                ]
            },
            True,
        ),
        (
            {
                "$or": [
                    {"count": [1]},
                    order(**{"$or": [{"items": [{"numeric": [">", 5]}]}, {"tags": ["x"]}]}),
                ]
            },
            False,
        ),
        ({"$or": [{"count": [100], "matrix": [9]}, {"count": [1]}]}, False),
        ({"$or": [{"count": [100], "matrix": [4]}, {"count": [1]}]}, True),
        (
            {
                "$or": [{"count": [1]}, {"matrix": [9]}],
                "order": {"$or": [{"status": ["PLACED"]}, {"id": ["x"]}]},
            },
            False,
        ),
        ({"$or": [{"gift": [{"exists": False}]}, {"count": [1]}]}, True),
    ],
)
def test_or_needs_one_of_its_patterns(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern) is expected


# -- data that is not an object --------------------------------------------------------------------


@pytest.mark.parametrize("data", [b'{"a": "x"}', '{"a": "x"}', "x", None, ["x"], 5, [{"a": "x"}]])
def test_non_object_data_matches_only_the_empty_pattern(data: Any) -> None:
    assert matches({}, data) is True
    assert matches({"a": ["x"]}, data) is False
    assert matches({"a": [{"exists": False}]}, data) is False


def test_the_empty_pattern_matches_any_object() -> None:
    assert matches({}, {}) is True
    assert matches({}) is True


# -- compile errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"a": []}, "a: an empty matcher list can never match"),
        ({"a": "x"}, "a: expected a list of matchers or a nested pattern, got str"),
        ({"a": 5}, "a: expected a list of matchers or a nested pattern, got int"),
        ({"a": {}}, "a: an empty nested pattern is not allowed"),
        ({"a": [[1]]}, "a: unsupported matcher [1]"),
        ({"a": [float("nan")]}, "a: unsupported matcher nan"),
        ({1: [1]}, "pattern: field names must be strings"),
        ({"a": [{}]}, "a: an operator object takes exactly one key"),
        ({"a": [{"prefix": "a", "suffix": "b"}]}, "a: an operator object takes exactly one key"),
        ({"a": [{"contains": "x"}]}, "a: unknown operator 'contains'"),
        ({"a": [{"prefix": 5}]}, "a: prefix expects a string, got 5"),
        ({"a": [{"prefix": {"other": "x"}}]}, "a: prefix expects a string"),
        ({"a": [{"suffix": {"equals-ignore-case": 5}}]}, "a: suffix equals-ignore-case expects"),
        ({"a": [{"equals-ignore-case": ["x"]}]}, "a: equals-ignore-case expects a string"),
        ({"a": [{"wildcard": 5}]}, "a: wildcard expects a string"),
        ({"a": [{"wildcard": "a**b"}]}, "a: wildcard 'a**b': consecutive wildcards"),
        ({"a": [{"wildcard": "a\\b"}]}, "a backslash may only escape * or \\"),
        ({"a": [{"wildcard": "ab\\"}]}, "a backslash may only escape * or \\"),
        ({"a": [{"cidr": "10.0.0.0/33"}]}, "a: cidr '10.0.0.0/33' is not an IPv4 or IPv6 CIDR"),
        ({"a": [{"cidr": "nope"}]}, "a: cidr 'nope' is not"),
        ({"a": [{"cidr": 10}]}, "a: cidr expects a string"),
        ({"a": [{"exists": "yes"}]}, "a: exists expects true or false"),
        ({"a": [{"exists": 1}]}, "a: exists expects true or false"),
        ({"a": [{"anything-but": []}]}, "a: anything-but expects a string, a number"),
        ({"a": [{"anything-but": [1, "x"]}]}, "a: anything-but expects"),
        ({"a": [{"anything-but": None}]}, "a: anything-but expects"),
        ({"a": [{"anything-but": True}]}, "a: anything-but expects"),
        ({"a": [{"anything-but": [[1]]}]}, "a: anything-but expects"),
        ({"a": [{"anything-but": {"prefix": 5}}]}, "a: anything-but prefix expects a string"),
        ({"a": [{"anything-but": {"numeric": [">", 1]}}]}, "a: anything-but takes one of"),
        ({"a": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}, "anything-but takes one of"),
        ({"a": [{"anything-but": {"prefix": ""}}]}, "a: anything-but prefix: an empty string"),
        ({"a": [{"anything-but": {"suffix": ""}}]}, "a: anything-but suffix: an empty string"),
        ({"a": [{"anything-but": {"prefix": ["1", ""]}}]}, "anything-but prefix: an empty"),
        ({"a": [{"anything-but": {"suffix": [1, 2]}}]}, "a: anything-but suffix expects a string"),
        (
            {"a": [{"anything-but": {"prefix": {"equals-ignore-case": "x"}}}]},
            "a: anything-but prefix expects a string or a list of strings",
        ),
        ({"a": [{"exactly": 33}]}, "a: exactly expects a string"),
        ({"total": {"numeric": [">", 1]}}, "total: {'numeric': ['>', 1]} is a nested pattern"),
        ({"d": {"s": {"anything-but": ["x"]}}}, "d.s: {'anything-but': ['x']} is a nested"),
        ({"s": {"exists": True}}, "put it in the list of matchers: {'s': [{'exists': True}]}"),
        ({"ip": {"cidr": "10.0.0.0/8"}}, "to apply the cidr operator to 'ip'"),
        ({"a": [{"numeric": "x"}]}, "a: numeric expects [op, number] or"),
        ({"a": [{"numeric": [">"]}]}, "a: numeric expects [op, number] or"),
        ({"a": [{"numeric": [">", 1, "<"]}]}, "a: numeric expects [op, number] or"),
        ({"a": [{"numeric": [">", 1, "<", 5, "<", 6]}]}, "a: numeric expects [op, number] or"),
        ({"a": [{"numeric": ["!=", 1]}]}, "a: numeric expects operators among"),
        ({"a": [{"numeric": [">", "1"]}]}, "a: numeric expects operators among"),
        ({"a": [{"numeric": [">", True]}]}, "a: numeric expects operators among"),
        ({"a": [{"numeric": [">", float("inf")]}]}, "a: numeric expects operators among"),
        ({"a": [{"numeric": ["<", 5, ">", 1]}]}, "a: numeric range must be a lower bound"),
        ({"a": [{"numeric": [">", 5, "<", 1]}]}, "a: numeric range must be a lower bound"),
        ({"a": [{"numeric": ["=", 1, "<", 5]}]}, "a: numeric range must be a lower bound"),
        ({"a": [{"numeric": [">", 1, ">", 5]}]}, "a: numeric range must be a lower bound"),
        ({"$or": {"a": [1]}}, "$or: expected a list of at least two non-empty patterns"),
        ({"$or": [{"a": [1]}]}, "$or: expected a list of at least two"),
        ({"$or": [{"a": [1]}, {}]}, "$or: expected a list of at least two non-empty patterns"),
        ({"$or": [{"a": [1]}, ["b"]]}, "$or: expected a list of at least two"),
        ({"d": {"$or": [{"a": [1]}, {"b": []}]}}, "d.$or[1].b: an empty matcher list"),
        ({"detail": {"price": [{"numeric": [">", "x"]}]}}, "detail.price: numeric expects"),
        ({"detail": {"items": {"sku": [{"prefix": 1}]}}}, "detail.items.sku: prefix expects"),
    ],
)
def test_invalid_patterns_raise_filter_error_naming_the_field_path(
    pattern: dict[Any, Any], message: str
) -> None:
    with pytest.raises(FilterError) as caught:
        compile_pattern(pattern)

    assert message in str(caught.value)


@pytest.mark.parametrize("pattern", [[{"a": [1]}], "a", None])
def test_a_pattern_must_be_a_mapping(pattern: Any) -> None:
    with pytest.raises(FilterError, match="pattern: expected a mapping"):
        compile_pattern(pattern)


# -- properties ------------------------------------------------------------------------------------


@given(value=st.text(max_size=20), head=st.text(max_size=5))
def test_prefix_pattern_equals_str_startswith(value: str, head: str) -> None:
    assert matches({"v": [{"prefix": head}]}, {"v": value}) is value.startswith(head)


@given(value=st.text(max_size=10), excluded=st.lists(st.text(max_size=5), min_size=1, max_size=3))
def test_anything_but_is_the_complement_of_exact_for_present_strings(
    value: str, excluded: list[str]
) -> None:
    data = {"v": value}

    assert matches({"v": [{"anything-but": excluded}]}, data) is not matches({"v": excluded}, data)


@given(
    number=st.one_of(st.integers(-1000, 1000), st.floats(-1000, 1000, allow_nan=False)),
    low=st.integers(-500, 0),
    high=st.integers(1, 500),
)
def test_numeric_range_agrees_with_python_comparisons(number: float, low: int, high: int) -> None:
    pattern = {"v": [{"numeric": [">", low, "<=", high]}]}

    assert matches(pattern, {"v": number}) is (low < number <= high)


def test_a_field_named_like_an_operator_is_still_a_nested_field() -> None:
    """Only a valid operand marks a misplaced operator: ``prefix: ["abc"]`` is a field."""
    pattern = {"config": {"prefix": ["abc"]}}
    assert matches(pattern, {"config": {"prefix": "abc"}}) is True
    assert matches(pattern, {"config": "abc"}) is False


def test_a_misplaced_operator_fails_naming_the_subscription() -> None:
    """Issue 18: ``data={"total": {"numeric": [">", 1]}}`` compiled and never matched."""
    app = App("orders")
    with pytest.raises(FilterError, match="subscription 'big' of app 'orders': total: "):
        app.on(data={"total": {"numeric": [">", 1]}}, name="big")(lambda event: None)
