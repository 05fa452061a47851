"""Naming a subscription's Kafka resources: its consumer group, retry topic and dead-letter topics.

`KafkaWorker` derives one `SubscriptionTopics` per subscription from the settings; the record
handler asks it where a failed record's dead letter goes. Group ids default to
``<prefix>.<app>``: the App's subscriptions share one consumer, which fetches and decodes each
record once for all of them. A subscription named in ``TIDAL_KAFKA__GROUP_IDS`` gets that group
instead, and with it a consumer of its own. `app_topics` names every subscription's resources
for the worker and for `tidal manifests` alike, and refuses two subscriptions sharing a retry
topic (`check_groups`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from tidal._app import App, Subscription
from tidal._errors import ConfigurationError
from tidal._settings import KafkaSettings

TOPIC_NAME: Final = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


@dataclass(frozen=True, kw_only=True)
class SubscriptionTopics:
    """Where one subscription reads and writes."""

    app: str
    subscription: str
    group: str
    sources: tuple[str, ...]
    retry: str
    dlq_pattern: str

    @property
    def consumed(self) -> list[str]:
        """Every topic the subscription's consumer group subscribes to."""
        return [*self.sources, self.retry]

    def dlq(self, origin_topic: str) -> str:
        """The dead-letter topic for a record first read from ``origin_topic``."""
        return _topic(
            self.dlq_pattern,
            topic=origin_topic,
            app=self.app,
            subscription=self.subscription,
            group=self.group,
        )

    def dlqs(self) -> list[str]:
        return sorted({self.dlq(topic) for topic in self.sources})


def app_topics(app: App, settings: KafkaSettings) -> dict[str, SubscriptionTopics]:
    """The resources of each subscription of ``app``, by name; raises `ConfigurationError`
    for a name Kafka refuses or a retry topic two subscriptions would share."""
    topics = {sub.name: topics_for(app.name, sub, settings) for sub in app.subscriptions}
    check_groups(list(topics.values()))
    return topics


def check_groups(topics: list[SubscriptionTopics]) -> None:
    """Raise if two subscriptions would read one retry topic: a retry record must come back to
    the subscription that failed it (the ``retry_topic`` pattern needs ``{subscription}``)."""
    owners: dict[str, str] = {}
    for names in topics:
        other = owners.setdefault(names.retry, names.subscription)
        if other != names.subscription:
            raise ConfigurationError(
                f"subscriptions {other!r} and {names.subscription!r} would share the retry topic"
                f" {names.retry!r}: put {{subscription}} in TIDAL_KAFKA__RETRY_TOPIC"
            )


def topics_for(app: str, sub: Subscription, settings: KafkaSettings) -> SubscriptionTopics:
    """The resources of ``sub`` of App ``app`` under ``settings``."""
    if not settings.topics:
        raise ConfigurationError("TIDAL_KAFKA__TOPICS names no topic to consume")
    group = settings.group_ids.get(sub.name) or f"{settings.group_id_prefix}.{app}"
    names = {"app": app, "subscription": sub.name, "group": group}
    target = sub.policy.dead_letter
    dlq_pattern = target if target and "://" not in target else settings.dlq_topic
    topics = SubscriptionTopics(
        sources=tuple(settings.topics),
        retry=_topic(settings.retry_topic, topic="", **names),
        dlq_pattern=dlq_pattern,
        **names,
    )
    for topic in [*topics.sources, *topics.dlqs()]:
        _check(topic)
    return topics


def _topic(pattern: str, **names: str) -> str:
    try:
        topic = pattern.format(**names)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigurationError(
            f"topic pattern {pattern!r} may only use {{app}}, {{subscription}}, {{group}} "
            f"and {{topic}}: {exc!r}"
        ) from exc
    return _check(topic)


def _check(topic: str) -> str:
    if not TOPIC_NAME.match(topic) or topic in (".", ".."):
        raise ConfigurationError(
            f"{topic!r} is not a legal Kafka topic name (letters, digits, '.', '_', '-')"
        )
    return topic
