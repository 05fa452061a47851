"""Building blocks of tidal's Grafana dashboards: panels, queries, variables, sections, numbering.

`monitoring.dashboards` composes them into the pipeline, service and operator dashboards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Panel,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

from monitoring import promql

DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE: Final = "$__rate_interval"
TAGS: Final = ["tidal", "generated"]
QUANTILES: Final = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


def _target(query: Query, ref: str) -> Dataquery:
    return (
        Dataquery().expr(query.expr).legend_format(query.legend).ref_id(ref).datasource(DATASOURCE)
    )


def latency_quantiles(by: str, selector: str, legend: str) -> list[Query]:
    """Handler latency at each of ``QUANTILES``, the legend ``<legend> p95`` and so on."""
    return [
        Query(promql.latency_quantile(q, by, RATE, selector), f"{legend} p{q * 100:g}")
        for q in QUANTILES
    ]


def _refs() -> Iterator[str]:
    yield from "ABCDEFGH"


def timeseries(
    title: str, unit: str, *queries: Query, span: int = 12, description: str = ""
) -> Timeseries:
    panel = (
        Timeseries()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(span)
        .height(8)
        .fill_opacity(10)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    for query, ref in zip(queries, _refs(), strict=False):
        panel.with_target(_target(query, ref))
    return panel


def stat(
    title: str, unit: str, query: Query, *, red: float | None = None, description: str = ""
) -> Stat:
    panel = (
        Stat()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(4)
        .height(4)
        .graph_mode(BigValueGraphMode.AREA)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(_target(query, "A"))
    )
    if red is not None:
        steps = [Threshold(value=None, color="green"), Threshold(value=red, color="red")]
        panel.thresholds(ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
    return panel


def _base(title: str, uid: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )


def _query_variable(name: str, label: str, query: str, *, multi: bool = True) -> QueryVariable:
    variable = (
        QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(DATASOURCE)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(True)
        .all_value(".*")
    )
    return variable


def _numbered(dashboard: Dashboard) -> Dashboard:
    """Give every panel a stable id, in order."""
    built = dashboard.build()
    number = 0
    for panel in built.panels or []:
        number += 1
        panel.id_val = number
        for inner in getattr(panel, "panels", None) or []:
            number += 1
            inner.id_val = number
    return dashboard


def with_sections(
    dashboard: Dashboard, *sections: tuple[str, Sequence[Builder[Panel]]]
) -> Dashboard:
    """Each section as a row followed by its panels, then every panel numbered."""
    for title, panels in sections:
        dashboard.with_row(Row(title))
        for panel in panels:
            dashboard.with_panel(panel)
    return _numbered(dashboard)


# -- pipeline overview ---------------------------------------------------------------------

SERVICES: Final = 'service=~"$service"'
