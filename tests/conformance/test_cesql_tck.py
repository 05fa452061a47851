"""The CloudEvents SQL v1 TCK (``cesql_tck/*.yaml``, vendored from cloudevents/spec) against tidal.

Every case is checked twice: ``tidal._filters.Expression`` must give the TCK's value and error
kind, and a subscription ``app.on(cesql(expression))`` must be delivered the case's event
(decoded by the HTTP and Kafka bindings) exactly when the value is ``TRUE`` without error
(CESQL v1 §1.2). An expression that fails to compile (``parse``, ``missingFunction``) must be
refused when the subscription is registered. Cases tidal answers differently on purpose are in
``differences.yaml`` with the upstream text that justifies it; they are checked against that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conformance.cases import HERE, delivered, deliveries, differences, load_tck

from tidal import App, cesql
from tidal._errors import FilterError
from tidal._filters import CesqlError, ErrorKind, Expression, Outcome

COMPILE_TIME = {ErrorKind.PARSE, ErrorKind.MISSING_FUNCTION}
BASE_EVENT = {"specversion": "1.0", "id": "tck", "source": "/tck", "type": "tck.case"}
# The suites name extensions and missing attributes on purpose: no typo warnings here.
pytestmark = pytest.mark.filterwarnings("ignore::tidal.FilterWarning")
DIFFERENCES = differences("cesql")


def _cases() -> list[Any]:
    params = []
    for path in sorted((HERE / "cesql_tck").glob("*.yaml")):
        for index, case in enumerate(load_tck(path)):
            case_id = f"{path.stem}[{index}] {case['name']}"
            params.append(pytest.param(path, case, id=case_id))
    return params


def _event(case: dict[str, Any]) -> dict[str, Any]:
    return (
        dict(case["event"]) if "event" in case else {**BASE_EVENT, **case.get("eventOverrides", {})}
    )


def _expected(case: dict[str, Any], case_id: str) -> tuple[Any, ErrorKind | None]:
    if case_id in DIFFERENCES:
        tidal = DIFFERENCES[case_id]["tidal"]
        return tidal.get("result"), ErrorKind(tidal["error"]) if tidal.get("error") else None
    return case.get("result"), ErrorKind(case["error"]) if "error" in case else None


@pytest.mark.parametrize(("path", "case"), _cases())
def test_tck_case(path: Path, case: dict[str, Any], request: pytest.FixtureRequest) -> None:
    case_id = request.node.callspec.id
    result, error = _expected(case, case_id)
    if error in COMPILE_TIME:
        with pytest.raises(CesqlError) as refused:
            Expression(case["expression"])
        assert refused.value.kind is error
        with pytest.raises(CesqlError, match="subscription 'tck' of app 'conformance'") as caught:
            App("conformance").on(cesql(case["expression"]), name="tck")(lambda event: None)
        assert caught.value.kind is error
        return
    expression = Expression(case["expression"])
    passes = result is True and error is None
    app = App("conformance")
    try:
        app.on(cesql(case["expression"]), name="tck")(lambda event: None)
    except FilterError:  # never a Boolean: refused at compile time, so nothing passes
        assert expression.type not in (None, "Boolean")
        assert not passes
        app = None
    for binding, event in deliveries(_event(case)):
        outcome = expression.evaluate(event.get_attributes())
        if binding == "http-structured":  # the other bindings carry every value as a string
            assert outcome == Outcome(result, error), binding
        if app is not None:
            assert delivered(app, event) == (["tck"] if passes else []), binding
