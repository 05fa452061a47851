"""The saga's state machine, as pure transitions over one order's stored state.

An order's state is a flat map (``order``, ``inventory``, ``payment``, ``shipping`` and what
they need); each transition reads it (with the stock of the order's SKUs) and returns its
result and the `Writes` to apply. `services.saga.stores` applies them atomically (a Redis
``WATCH``/``MULTI`` transaction, or in memory with nothing awaited in between), so two
deliveries racing on one order cannot both win: every step moves only from ``pending``, and the
order reaches exactly one of ``completed`` / ``cancelled``. The handlers in `services.saga.app`
call these through the store.

Steps and their states::

    inventory  reserved | rejected | released
    payment    pending -> accepted | refused | timed_out   (``refund``: done, a charge undone)
    shipping   pending -> scheduled | timed_out
    order      placed -> completed | cancelled (with ``reason``)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar

T = TypeVar("T")
TIMED_STEPS: Final = ("payment", "shipping")
"""The steps with a deadline: each waits on another party. The stock step is one atomic write."""


@dataclass(frozen=True)
class Snapshot:
    """One order's stored fields and the stock of the SKUs the transition asked for."""

    fields: Mapping[str, str]
    stock: Mapping[str, int | None]

    def get(self, name: str) -> str | None:
        return self.fields.get(name)


@dataclass
class Writes:
    """What a transition changes, applied together or not at all."""

    fields: dict[str, str] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=dict)
    """Stock deltas by SKU."""
    timeline: list[tuple[str, str]] = field(default_factory=list)
    """(step, status) entries appended to the order's timeline."""
    due: dict[str, float] = field(default_factory=dict)
    """Deadlines set: step -> epoch seconds."""
    cleared: list[str] = field(default_factory=list)
    """Steps whose deadline is removed."""

    def step(self, name: str, status: str) -> None:
        self.fields[name] = status
        self.timeline.append((name, status))


Transition = Callable[[Snapshot], tuple[T, Writes]]


@dataclass(frozen=True)
class Shortage:
    sku: str
    requested: int
    available: int


@dataclass(frozen=True)
class Placed:
    """The stock step's outcome (the first one, on a redelivery)."""

    reserved: bool
    shortages: tuple[Shortage, ...] = ()


def place(
    items: Mapping[str, int], *, total: str, now: float, payment_timeout: float
) -> Transition[Placed]:
    """Start the saga: take every quantity from stock or none; set the payment deadline."""

    def transition(state: Snapshot) -> tuple[Placed, Writes]:
        if state.get("order") is not None:
            return _placed(state), Writes()
        writes = Writes(fields={"items": json.dumps(dict(items)), "total": total})
        writes.step("order", "placed")
        shortages = tuple(
            Shortage(sku, qty, state.stock.get(sku) or 0)
            for sku, qty in items.items()
            if (state.stock.get(sku) or 0) < qty
        )
        if shortages:
            writes.fields["shortages"] = json.dumps([s.__dict__ for s in shortages])
            writes.step("inventory", "rejected")
            return Placed(False, shortages), writes
        writes.stock = {sku: -qty for sku, qty in items.items()}
        writes.step("inventory", "reserved")
        writes.step("payment", "pending")
        writes.due["payment"] = now + payment_timeout
        return Placed(True), writes

    return transition


def _placed(state: Snapshot) -> Placed:
    if state.get("inventory") == "rejected":
        raw = json.loads(state.get("shortages") or "[]")
        return Placed(False, tuple(Shortage(**s) for s in raw))
    return Placed(True)


def settle_payment(outcome: str, *, now: float, shipping_timeout: float) -> Transition[str]:
    """``pending`` -> ``accepted`` (starting shipping) or ``refused``; else the state as is."""

    def transition(state: Snapshot) -> tuple[str, Writes]:
        current = state.get("payment") or "absent"
        if current != "pending":
            return current, Writes()
        writes = Writes(cleared=["payment"])
        writes.step("payment", outcome)
        if outcome == "accepted":
            writes.step("shipping", "pending")
            writes.due["shipping"] = now + shipping_timeout
        return outcome, writes

    return transition


def refunded(state: Snapshot) -> tuple[bool, Writes]:
    """The provider refunded the order's charge: note it (``refund``) once. The payment step
    keeps its state, so a timed-out step still reads ``timed_out`` until its compensation."""
    if state.get("payment") not in ("accepted", "timed_out") or state.get("refund") is not None:
        return False, Writes()
    writes = Writes(fields={"refund": "done"}, timeline=[("payment", "refunded")])
    return True, writes


def schedule_shipment(shipment_id: str) -> Transition[str]:
    """``pending`` -> ``scheduled``; else the state as is (a late carrier answer is ignored)."""

    def transition(state: Snapshot) -> tuple[str, Writes]:
        current = state.get("shipping") or "absent"
        if current != "pending":
            return current, Writes()
        writes = Writes(fields={"shipment": shipment_id}, cleared=["shipping"])
        writes.step("shipping", "scheduled")
        return "scheduled", writes

    return transition


def time_out(step: str) -> Transition[str]:
    """A deadline passed: ``pending`` -> ``timed_out``; else the step's state as is. The
    deadline stays while the order is open and the step ``timed_out`` (the sweep re-sends the
    timeout until its compensation ends the order and clears it); otherwise it is stale."""

    def transition(state: Snapshot) -> tuple[str, Writes]:
        current = state.get(step) or "absent"
        if state.get("order") != "placed" or current not in ("pending", "timed_out"):
            return current, Writes(cleared=[step])  # ended or settled meanwhile: stale
        if current == "timed_out":  # its compensation has not run yet: the deadline stays
            return current, Writes()
        writes = Writes()
        writes.step(step, "timed_out")
        return "timed_out", writes

    return transition


def complete(state: Snapshot) -> tuple[str, Writes]:
    """``placed`` -> ``completed`` once the shipment is scheduled; the order's state as is."""
    current = state.get("order") or "absent"
    if current != "placed" or state.get("shipping") != "scheduled":
        return current, Writes()
    writes = Writes()
    writes.step("order", "completed")
    return "completed", writes


@dataclass(frozen=True)
class Cancelled:
    """The order's end after compensation: ``cancelled`` (with why and what was undone) or
    whatever it already was."""

    order: str
    reason: str
    undone: tuple[str, ...]


def cancel(reason: str) -> Transition[Cancelled]:
    """Compensate and cancel: put reserved stock back, then ``placed`` -> ``cancelled``.

    The refund of a charge is the payment provider's and is recorded by `refunded` first; this
    transition releases the stock in the same step as the cancellation, so it runs once."""

    def transition(state: Snapshot) -> tuple[Cancelled, Writes]:
        current = state.get("order") or "absent"
        if current != "placed":
            return _cancelled(state, current), Writes()
        writes = Writes(cleared=list(TIMED_STEPS), fields={"reason": reason})
        undone = ["payment.refunded"] if state.get("refund") == "done" else []
        if state.get("inventory") == "reserved":
            items: dict[str, int] = json.loads(state.get("items") or "{}")
            writes.stock = dict(items)
            writes.step("inventory", "released")
            undone.insert(0, "inventory.released")
        writes.fields["undone"] = ",".join(undone)
        writes.step("order", "cancelled")
        return Cancelled("cancelled", reason, tuple(undone)), writes

    return transition


def _cancelled(state: Snapshot, current: str) -> Cancelled:
    undone = tuple(u for u in (state.get("undone") or "").split(",") if u)
    return Cancelled(current, state.get("reason") or "", undone)
