"""Delivery policy: ISO-8601 durations, linear / exponential backoff with a cap and full jitter."""

from __future__ import annotations

import random

import pytest

from tidal import ConfigurationError, DeliveryPolicy


def test_iso_durations_become_seconds() -> None:
    policy = DeliveryPolicy.of(delay="PT0.5S", max_delay="PT2M", timeout="PT10S", max_age="PT2H")
    assert (policy.base_delay, policy.max_delay, policy.timeout, policy.max_age) == (
        0.5,
        120,
        10,
        7200,
    )


def test_exponential_backoff_doubles_from_the_first_retry_until_the_cap() -> None:
    """delay * 2**n for retry n, as the Kafka broker waits (tests/fidelity checks the two)."""
    policy = DeliveryPolicy.of(delay="PT0.5S", max_delay="PT10S", jitter=False)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_linear_backoff_grows_by_the_base_delay() -> None:
    policy = DeliveryPolicy.of(backoff="linear", delay="PT2S", max_delay="PT7S", jitter=False)
    assert [policy.delay(n) for n in range(1, 5)] == [2, 4, 6, 7]


def test_the_default_policy_waits_exactly_the_ceiling_as_knative_does() -> None:
    policy = DeliveryPolicy.of(delay="PT1S")
    assert [policy.delay(n, rng=random.Random(n)) for n in (1, 2, 3)] == [2, 4, 8]


def test_full_jitter_stays_between_zero_and_the_ceiling() -> None:
    policy = DeliveryPolicy.of(delay="PT1S", max_delay="PT60S", jitter=True)
    rng = random.Random(7)
    draws = [policy.delay(3, rng=rng) for _ in range(500)]
    assert all(0 <= d <= 8 for d in draws)
    assert max(draws) > 6  # spread over the whole range, not a constant
    assert min(draws) < 1


def test_exhaustion_counts_the_first_attempt() -> None:
    policy = DeliveryPolicy.of(max_attempts=3)
    assert [policy.exhausted(n) for n in (1, 2, 3)] == [False, False, True]


def test_iso_delay_renders_for_knative() -> None:
    assert DeliveryPolicy.of(delay=0.25).iso_delay() == "PT0.25S"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"delay": "soon"}, "ISO-8601"),
        ({"delay": "P1M"}, "months"),
        ({"delay": -1}, "negative"),
        ({"delay": "PT10S", "max_delay": "PT1S"}, "max_delay"),
        ({"backoff": "fibonacci"}, "backoff"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_policies_fail_with_a_clear_message(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        DeliveryPolicy.of(**kwargs)  # type: ignore[arg-type]


def test_of_takes_the_field_name_base_delay_too() -> None:
    """Issue 18 item 7: ``DeliveryPolicy(base_delay=)`` but ``DeliveryPolicy.of(delay=)``."""
    assert DeliveryPolicy.of(base_delay="PT2S").base_delay == 2.0
    assert DeliveryPolicy.of(base_delay=0.5) == DeliveryPolicy.of(delay="PT0.5S")
    assert DeliveryPolicy.of().base_delay == DeliveryPolicy().base_delay
    with pytest.raises(ConfigurationError, match="not both"):
        DeliveryPolicy.of(delay=1, base_delay=1)
