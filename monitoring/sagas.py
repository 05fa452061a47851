"""The pipeline overview's "Order saga" row: the saga's steps as `services.saga` handles them,
and why orders are compensated (the event that triggered ``compensate``: InventoryRejected,
PaymentRefused or StepTimedOut), from tidal's own ``tidal_events_total``. Called by
`monitoring.dashboards.pipeline`.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries

from monitoring import promql
from monitoring.panels import RATE, SERVICES, Query, timeseries

SAGA: Final = 'service="saga"'


def order_saga() -> list[Timeseries]:
    return [
        timeseries(
            "Saga steps/s by step and outcome",
            "ops",
            Query(
                promql.events_rate("subscription, outcome", RATE, SERVICES, SAGA),
                "{{subscription}} {{outcome}}",
            ),
            description="reserve -> charge -> ship -> complete, compensate and the deadline "
            "sweep; retries on charge are a slow payment provider, dead letters on reserve "
            "malformed orders.",
        ),
        timeseries(
            "Orders compensated/s by cause",
            "ops",
            Query(
                promql.events_rate(
                    "event_type",
                    RATE,
                    SERVICES,
                    SAGA,
                    'subscription="compensate"',
                    'outcome="handled"',
                ),
                "{{event_type}}",
            ),
            description="Out of stock (inventory.rejected), card refused (payment.refused) or a "
            "step past its deadline (order.step-timed-out): each cancels one order.",
        ),
    ]
