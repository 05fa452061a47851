"""The CESQL v1 subset: literals, operators, precedence, casts, functions, errors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidal._errors import FilterError
from tidal._filters import CesqlError, ErrorKind, Expression, Outcome, cesql, compile_filters
from tidal._filters.cesql_evaluating import compile_node, like_regex
from tidal._filters.cesql_expressions import compile_cesql
from tidal._filters.cesql_parsing import parse

ATTRIBUTES: dict[str, Any] = {
    "specversion": "1.0",
    "id": "myId",
    "source": "http://localhost/source",
    "type": "com.example.order.created",
    "subject": "Francesco",
    "time": datetime(2018, 4, 26, 12, 48, 9, tzinfo=UTC),
    "sequence": "5",
    "hop": "5",
    "ttl": "10",
    "myint": 10,
    "mybool": True,
    "flag": "TRUE",
    "word": "abc",
    "empty": "",
}


def holds(expression: str, attributes: Mapping[str, Any] = ATTRIBUTES) -> bool:
    return compile_cesql(expression)(attributes)


def value_of(expression: str, attributes: Mapping[str, Any] = ATTRIBUTES) -> Any:
    """The raw value of a (possibly non-Boolean) expression, for operator tests."""
    return compile_node(parse(expression))(attributes)


# -- literals and attributes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("TRUE", True),
        ("false", False),
        ("True", True),
        ("0", 0),
        ("-10", -10),
        ("+7", 7),
        ("--10", 10),
        ("-2147483648", -2147483648),
        ("2147483647", 2147483647),
        ("'abc'", "abc"),
        ('"AbC"', "AbC"),
        ("'a\"b\\'c'", "a\"b'c"),
        ('"a\'b\\"c"', "a'b\"c"),
        ("'back\\slash'", "back\\slash"),
        ("''", ""),
    ],
)
def test_literals_evaluate_to_their_value(expression: str, value: Any) -> None:
    assert value_of(expression) == value
    assert type(value_of(expression)) is type(value)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("id", "myId"),
        ("myint", 10),
        ("mybool", True),
        ("time", "2018-04-26T12:48:09Z"),
        ("source", "http://localhost/source"),
    ],
)
def test_attributes_keep_their_type_and_time_reads_as_rfc3339(expression: str, value: Any) -> None:
    assert value_of(expression) == value


# -- operators -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 = 1", True),
        ("1 = 2", False),
        ("'abc' = 'abc'", True),
        ("'abc' = 'ABC'", False),
        ("TRUE = FALSE", False),
        ("1 != 2", True),
        ("2 != 2", False),
        ("1 <> 2", True),
        ("'abc' <> 'abc'", False),
        ("1 < 2", True),
        ("2 < 2", False),
        ("2 <= 2", True),
        ("3 <= 2", False),
        ("2 > 1", True),
        ("2 > 2", False),
        ("2 >= 2", True),
        ("2 >= 3", False),
        ("TRUE AND TRUE", True),
        ("TRUE AND FALSE", False),
        ("FALSE OR TRUE", True),
        ("FALSE OR FALSE", False),
        ("TRUE XOR FALSE", True),
        ("TRUE XOR TRUE", False),
        ("NOT FALSE", True),
        ("NOT TRUE", False),
        ("EXISTS subject", True),
        ("EXISTS dataschema", False),
        ("EXISTS id", True),
        ("subject = 'Francesco'", True),
        ("type != 'com.example.order.created'", False),
    ],
)
def test_comparison_logic_and_exists_operators(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("4 + 1", 5),
        ("4 - 1", 3),
        ("-4 + 1", -3),
        ("4 + -1", 3),
        ("4 * 3", 12),
        ("5 / 3", 1),
        ("-5 / 3", -1),
        ("5 / -3", -1),
        ("5 % 2", 1),
        ("-5 % 3", -2),
        ("5 % -3", 2),
        ("-myint", -10),
        ("- -myint", 10),
        ("4 * 2 + 4 / 2", 10),
        ("4 * (2 + 4) / 2", 12),
        ("(2 + 3) * 4", 20),
        ("10 - 2 - 3", 5),
        ("'5' + 3", 8),
        ("5 + TRUE", 6),
        ("-TRUE", -1),
    ],
)
def test_integer_arithmetic_truncates_and_casts(expression: str, value: int) -> None:
    assert value_of(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "1 / 0 = 0",
        "1 % 0 = 0",
        "2147483647 + 1 > 0",
        "-2147483648 - 1 < 0",
        "65536 * 65536 > 0",
        "-(-2147483648) > 0",
        "ABS(-2147483648) > 0",
    ],
)
def test_math_errors_make_the_expression_false(expression: str) -> None:
    assert holds(expression) is False
    assert holds(f"NOT ({expression})") is False


# -- precedence ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3 = 7", True),
        ("(1 + 2) * 3 = 9", True),
        ("2 * 3 - 4 / 2 = 4", True),
        ("1 + 1 = 2 AND 2 * 2 = 4", True),
        ("1 < 2 = TRUE", True),
        ("(FALSE AND FALSE) OR TRUE", True),
        ("FALSE AND (FALSE OR TRUE)", False),
        ("TRUE OR (TRUE AND FALSE)", True),
        ("(TRUE OR TRUE) AND FALSE", False),
        ("TRUE AND TRUE AND FALSE", False),
        ("FALSE OR FALSE OR TRUE", True),
        ("TRUE XOR TRUE XOR TRUE", True),
        ("NOT FALSE AND FALSE", False),
        ("NOT (FALSE AND FALSE)", True),
        ("NOT NOT TRUE", True),
        ("(NOT 'true') = FALSE", True),
        ("NOT (subject = 'x')", True),
        ("-2 * 3 = -6", True),
        ("(word LIKE 'a%') = TRUE", True),
        ("(2 IN (1, 2)) = TRUE", True),
        ("EXISTS subject AND EXISTS id", True),
        ("EXISTS subject = TRUE", True),
    ],
)
def test_precedence_follows_the_cesql_spec(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(
    ("expression", "position", "reason"),
    [
        ("TRUE OR FALSE AND FALSE", 15, "OR and AND mixed without parentheses"),
        ("a AND b XOR c", 9, "AND and XOR mixed without parentheses"),
        ("NOT subject = 'x'", 13, "NOT before '=' at position 13 is ambiguous"),
        ("NOT word LIKE 'a%'", 10, "NOT before 'LIKE'"),
        ("NOT word IN ('abc')", 10, "NOT before 'IN'"),
        ("NOT myint + 1 = 2", 11, "NOT before '+'"),
        ("myint + 1 IN (11)", 7, "IN next to '+'"),
        ("word LIKE 'a%' = TRUE", 16, "LIKE next to '='"),
        ("TRUE = word LIKE 'a%'", 6, "LIKE next to '='"),
    ],
)
def test_spellings_the_spec_and_sql_read_differently_are_rejected(
    expression: str, position: int, reason: str
) -> None:
    with pytest.raises(FilterError) as caught:
        compile_cesql(expression)

    assert reason in str(caught.value)
    assert f"position {position}" in str(caught.value)


# -- LIKE ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "a%b%c", True),
        ("azzzbzzzc", "a%b%c", True),
        ("ac", "abc", False),
        ("", "abc", False),
        ("", "%", True),
        (".ab.cde.", ".%.%.", True),
        ("ab.cde", ".%.%.", False),
        ("abc", "a_b_c", False),
        ("azbzc", "a_b_c", True),
        ("a_b_c", "a\\_b\\_c", True),
        ("azbzc", "a\\_b\\_c", False),
        ("a%b%c", "a\\%b\\%c", True),
        ("abc", "a\\%b\\%c", False),
        ("ab\\c", "ab\\c", True),
        ("a\\x", "a\\\\_", True),
        ("abc%123%456_dzf", "abc%123\\%456\\_d_f", True),
        ("ABC", "abc", False),
        ("line\nbreak", "line%", True),
        ("a.c", "a.c", True),
        ("abc", "a.c", False),
        ("a+c", "a+c", True),
    ],
)
def test_like_matches_percent_underscore_and_escapes(
    value: str, pattern: str, expected: bool
) -> None:
    assert (like_regex(pattern).fullmatch(value) is not None) is expected
    escaped = pattern.replace("'", "\\'")
    assert holds(f"word LIKE '{escaped}'", {"word": value}) is expected
    assert holds(f"word NOT LIKE '{escaped}'", {"word": value}) is not expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("234 LIKE '23_'", True),
        ("2344 LIKE '23_'", False),
        ("TRUE LIKE 'tr%'", True),
        ("FALSE LIKE 'tr%'", False),
        ("myint LIKE '1%'", True),
        ("time LIKE '2018-04-26T%Z'", True),
    ],
)
def test_like_casts_the_left_operand_to_string(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@given(value=st.text(max_size=12), head=st.text(max_size=4))
def test_like_prefix_pattern_agrees_with_startswith(value: str, head: str) -> None:
    escaped = head.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    escaped = escaped.replace("'", "\\'")

    assert holds(f"word LIKE '{escaped}%'", {"word": value}) is value.startswith(head)


# -- IN --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("type IN ('a', 'com.example.order.created')", True),
        ("type IN ('a', 'b')", False),
        ("type NOT IN ('a', 'b')", True),
        ("type NOT IN ('com.example.order.created')", False),
        ("sequence IN (4, 5)", True),
        ("myint IN (9, 10)", True),
        ("myint IN ('10')", True),
        ("myint IN ('x', 10)", False),
        ("mybool IN ('true')", True),
        ("subject IN (id, 'Francesco')", True),
        ("subject IN (id, word)", False),
        ("subject IN (missing, 'Francesco')", False),
        ("3 IN (1 + 2, 4)", True),
        ("missing IN ('a')", False),
        ("missing NOT IN ('a')", False),
    ],
)
def test_in_casts_items_to_the_left_operand_type(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


# -- casts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sequence = 5", True),
        ("sequence = 6", False),
        ("5 = sequence", True),
        ("hop < ttl", True),
        ("'10' > '9'", True),
        ("myint = '10'", True),
        ("myint = 10", True),
        ("mybool = TRUE", True),
        ("mybool = 'true'", True),
        ("flag = TRUE", True),
        ("TRUE = flag", False),
        ("'TRUE' = TRUE", True),
        ("TRUE = 'TRUE'", False),
        ("TRUE = 'true' AND FALSE = 'false'", True),
        ("word = 5", False),
        ("word < 5", False),
        ("NOT (word = 5)", False),
        ("mybool", True),
        ("flag", False),
        ("NOT 'false'", True),
        ("NOT 10", False),
        ("NOT 0", True),
        ("NOT word", False),
        ("NOT (NOT word)", False),
        ("empty = ''", True),
    ],
)
def test_implicit_casts_follow_the_spec(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("missing = 2", False),
        ("missing != 2", False),
        ("missing <> 2", False),
        ("missing <= 2", False),
        ("NOT missing", False),
        ("-missing = 0", False),
        ("missing LIKE '%'", False),
        ("missing / 0 = 0", False),
        ("TRUE AND (missing = '')", False),
        ("FALSE OR missing = ''", False),
        ("subject = 'Francesco' OR missing = 'x'", True),
        ("subject = 'x' AND missing = 'x'", False),
        ("EXISTS missing OR TRUE", True),
    ],
)
def test_missing_attributes_make_the_expression_false_unless_short_circuited(
    expression: str, expected: bool
) -> None:
    assert holds(expression) is expected


# -- functions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("LENGTH(word) = 3", True),
        ("length(empty) = 0", True),
        ("LOWER('AbC') = 'abc'", True),
        ("UPPER(word) = 'ABC'", True),
        ("TRIM('  x ') = 'x'", True),
        ("ABS(-5) = 5", True),
        ("INT(hop) < INT(ttl) AND INT(hop) < 1000", True),
        ("int(hop) < int(ttl) and int(hop) < 1000", True),
        ("INT('ABC') = 0", False),
        ("BOOL('TRUE')", True),
        ("BOOL(0)", False),
        ("BOOL(-50)", True),
        ("BOOL('yes')", False),
        ("STRING(TRUE) = 'true'", True),
        ("STRING(-1) = '-1'", True),
        ("LENGTH(myint) = 2", True),
        ("LENGTH(missing) = 0", False),
    ],
)
def test_builtin_functions(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


# -- the result must be a Boolean ------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["subject", "myint", "sequence"])
def test_a_non_boolean_attribute_result_does_not_pass(expression: str) -> None:
    assert holds(expression) is False


@pytest.mark.parametrize(
    ("expression", "kind"),
    [("1 + 2", "Integer"), ("'abc'", "String"), ("-myint", "Integer"), ("LOWER(id)", "String")],
)
def test_an_expression_that_can_never_be_boolean_is_a_compile_error(
    expression: str, kind: str
) -> None:
    with pytest.raises(FilterError, match=f"yields {kind}, a filter needs a Boolean"):
        compile_cesql(expression)


# -- syntax errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("a = ", "unexpected end of expression at position 5"),
        ("a = )", "unexpected ')' at position 5"),
        ("(a = 1", "unexpected end of expression at position 7, expected ')'"),
        ("a = 1)", "unexpected ')' at position 6"),
        ("a == 1", "unexpected '=' at position 4"),
        ("a # 1", "unexpected character '#' at position 3"),
        ("a ! 1", "unexpected character '!' at position 3"),
        ("x = 'abc", "unterminated string literal starting at position 5"),
        ('x = "abc\\"', "unterminated string literal starting at position 5"),
        ("my_ext = 'a'", "invalid attribute name 'my_ext' at position 1"),
        ("EXISTS 'a'", "unexpected \"'a'\" at position 8, expected an attribute name"),
        ("a LIKE b", "unexpected 'b' at position 8, expected a string literal pattern"),
        ("a IN 'x'", "unexpected \"'x'\" at position 6, expected '(' after IN"),
        ("a IN ()", "unexpected ')' at position 7"),
        ("a IN ('x' 'y')", "unexpected \"'y'\" at position 11, expected ',' or ')'"),
        ("a NOT = 1", "unexpected 'NOT' at position 3"),
        ("2147483648 = 1", "integer literal '2147483648' at position 1 does not fit in 32 bits"),
        ("-2147483649 = 1", "integer literal '2147483649' at position 2 does not fit"),
        ("NOPE(a) = 1", "unknown function 'NOPE' at position 1"),
        ("LENGTH() = 1", "LENGTH at position 1 takes 1 argument, got 0"),
        ("LOWER(a, b) = 'x'", "LOWER at position 1 takes 1 argument, got 2"),
        ("LENGTH(a = 1", "expected ',' or ')' closing LENGTH("),
        ("AND", "unexpected 'AND' at position 1"),
        ("", "unexpected end of expression at position 1"),
    ],
)
def test_syntax_errors_name_the_position_and_token(expression: str, fragment: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_cesql(expression)

    assert fragment in str(caught.value)
    assert f'cesql expression "{expression}"' in str(caught.value)


def test_keywords_are_case_insensitive() -> None:
    assert holds("(subject like 'Fran%' and not (type in ('x'))) Or false") is True
    assert holds("Exists subject AnD subject NoT LiKe 'x%' aND TRUE = tRuE") is True


def test_the_cesql_builder_compiles_through_compile_filters() -> None:
    predicate = compile_filters([cesql("EXISTS subject AND sequence = 5")])

    assert predicate(ATTRIBUTES) is True
    assert predicate({**ATTRIBUTES, "sequence": "6"}) is False
    assert predicate({"sequence": "5"}) is False


@given(number=st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_integer_equality_agrees_with_the_string_form(number: int) -> None:
    assert holds(f"seq = {number}", {"seq": str(number)}) is True
    assert holds(f"seq < {number}", {"seq": str(number)}) is False


# -- CESQL v1: built-ins, error kinds, identifiers (issue 14) -----------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("CONCAT()", ""),
        ("CONCAT(type, '/', 7)", "com.acme.x/7"),
        ("CONCAT_WS('-', 'a', TRUE, 3)", "a-true-3"),
        ("CONCAT_WS(',')", ""),
        ("LEFT('abc', 2)", "ab"),
        ("RIGHT('abc', 2)", "bc"),
        ("RIGHT('abc', 0)", ""),
        ("SUBSTRING('Sakila', -3)", "ila"),
        ("SUBSTRING('Sakila', -5, 3)", "aki"),
        ("SUBSTRING('abcdef', 2, 100)", "bcdef"),
        ("substring('abcdef', 0, 1)", ""),
    ],
)
def test_string_built_ins_of_section_3_5_1(expression: str, value: str) -> None:
    assert Expression(expression).evaluate({"type": "com.acme.x"}) == Outcome(value)


@pytest.mark.parametrize(
    ("expression", "outcome"),
    [
        ("LEFT('abc', -1)", Outcome("abc", ErrorKind.FUNCTION_EVALUATION)),
        ("SUBSTRING('abc', 4)", Outcome("", ErrorKind.FUNCTION_EVALUATION)),
        ("SUBSTRING('abc', 1, -1)", Outcome("", ErrorKind.FUNCTION_EVALUATION)),
        ("ABS(-2147483648)", Outcome(2147483647, ErrorKind.MATH)),
        ("ABS(-2147483648) + 1", Outcome(0, ErrorKind.MATH)),
        ("LEFT('abc', -1) = 'abc'", Outcome(False, ErrorKind.FUNCTION_EVALUATION)),
        ("INT('2147483648')", Outcome(0, ErrorKind.CAST)),
        ("7 / (sequence - 5)", Outcome(0, ErrorKind.MATH)),
        ("nosuch", Outcome(False, ErrorKind.MISSING_ATTRIBUTE)),
        ("nosuch * 5", Outcome(0, ErrorKind.MISSING_ATTRIBUTE)),
        ("1 IN ('x', 2)", Outcome(False, ErrorKind.CAST)),
    ],
)
def test_runtime_errors_carry_the_spec_kind_and_value(expression: str, outcome: Outcome) -> None:
    evaluated = Expression(expression).evaluate({"sequence": "5"})
    assert evaluated == outcome
    if outcome.value is False:
        assert compile_cesql(expression)({"sequence": "5"}) is False


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        ("ABC(", ErrorKind.PARSE),
        ("LENGTH('a'", ErrorKind.PARSE),
        ("ABC()", ErrorKind.MISSING_FUNCTION),
        ("CONCAT_WS()", ErrorKind.MISSING_FUNCTION),
        ("SUBSTRING('a', 1, 2, 3) = 'a'", ErrorKind.MISSING_FUNCTION),
        ("x LIKE 123", ErrorKind.PARSE),
    ],
)
def test_compile_time_errors_have_their_kind(expression: str, kind: ErrorKind) -> None:
    with pytest.raises(CesqlError) as caught:
        compile_filters([cesql(expression)])
    assert caught.value.kind is kind


def test_attribute_names_are_case_insensitive() -> None:
    """The spec's ANTLR grammar (IDENTIFIER_WITH_NUMBER: [a-zA-Z0-9]+) and the TCK's
    ``EXISTS SOURCE``: attribute names read in lower case."""
    assert holds("EXISTS SOURCE AND Type = 'com.acme.x'", {"source": "/s", "type": "com.acme.x"})
    assert Expression("TYPE = Subject").attributes == {"type", "subject"}
