"""tidal's Kafka clients, topics and record names: the public API the Kafka worker shares with
the data plane (the ``tidal-operator`` distribution's ``tidal_data``).

One set of connection and security options (``TIDAL_KAFKA__*``, `KafkaSettings`) builds every
client: `consumer`, `producer` and `admin` (a started admin client, closed on exit); the worker's
own `tidal._transports.kafka` builds its clients in the same module. `ensure_topics` is the one
place topics are created, `topic_configs` reads them back. The names are what tidal's records
carry: the claim-check and oversize headers, the run marker of a restored or re-driven copy and
the failure extensions of a dead letter (`ORIGIN_TOPIC`: where its record was first read).
Everything else under ``tidal.kafka`` is private detail. Needs ``tidal[kafka]`` (aiokafka).
"""

from tidal._deadletters import (
    ERROR_CLASS,
    ERROR_MESSAGE,
    FAILURE_EXTENSIONS,
    LAST_FAILURE,
    SUBSCRIBER,
)
from tidal._deadletters import TOPIC as ORIGIN_TOPIC
from tidal._settings import KafkaSettings
from tidal.kafka._connecting import admin, client_options, consumer, producer
from tidal.kafka._headers import CLAIM, OVERSIZE, RUN_HEADER
from tidal.kafka._provisioning import (
    ConfigEntry,
    TopicCreationError,
    TopicSpec,
    ensure_topics,
    topic_configs,
)

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/unit/test_public_api.py checks)
    "CLAIM",
    "ConfigEntry",
    "ERROR_CLASS",
    "ERROR_MESSAGE",
    "FAILURE_EXTENSIONS",
    "KafkaSettings",
    "LAST_FAILURE",
    "ORIGIN_TOPIC",
    "OVERSIZE",
    "RUN_HEADER",
    "SUBSCRIBER",
    "TopicCreationError",
    "TopicSpec",
    "admin",
    "client_options",
    "consumer",
    "ensure_topics",
    "producer",
    "topic_configs",
]
