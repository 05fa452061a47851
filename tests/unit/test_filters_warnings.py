"""Issue 18: a filter naming an attribute no event is known to carry compiles, with a warning."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from tidal import App, FilterWarning, all_of, cesql, exact, not_, prefix


def _register(app: App, *filters: Any) -> None:
    app.on(*filters, name="orders-in")(lambda event: None)


@pytest.mark.parametrize(
    ("flt", "named"),
    [
        (cesql("typo = 'x'"), "'typo'"),
        (cesql("type = 'x' AND EXISTS tenantid"), "'tenantid'"),
        (exact(tyep="com.acme.x"), "'tyep'"),
        (all_of(prefix(type="com."), not_(exact(colour="red"))), "'colour'"),
    ],
)
def test_an_unknown_attribute_draws_a_warning_naming_the_subscription(flt: Any, named: str) -> None:
    with pytest.warns(FilterWarning, match=f"subscription 'orders-in' of app 'shop': .*{named}"):
        _register(App("shop"), flt)


@pytest.mark.parametrize(
    "flt",
    [
        cesql("TYPE LIKE 'com.%' AND EXISTS Subject AND time <> ''"),
        exact(partitionkey="p1"),
        cesql("knativebrokerttl < 30 AND EXISTS traceparent"),
        exact(tidalerrorclass="TimeoutError"),
    ],
)
def test_context_attributes_and_documented_extensions_are_quiet(flt: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _register(App("shop"), flt)


def test_the_app_declares_its_own_extensions() -> None:
    app = App("shop", extensions=["tenant"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _register(app, cesql("tenant = 'acme'"))
    assert app.subscription("orders-in").matches_attributes({"tenant": "acme"}) is True
