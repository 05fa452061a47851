"""Where the fidelity rules come from: upstream repositories at the versions tidal pins.

Each rule of tests/fidelity cites a ``Cite`` (repository, tag, commit, path, lines) into one of
``SOURCES``; the tags are the pins of k8s/dev/versions.env, and a test checks they agree.
The rules restate what the cited code does (field allowlists, value ranges, defaults); no
upstream code is copied. Used by the rule modules (serving, eventing, keda) and their tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Source:
    """One upstream repository at a pinned tag."""

    repo: str
    tag: str
    commit: str
    licence: str


@dataclass(frozen=True)
class Cite:
    """A file and line range of a ``Source``."""

    source: Source
    path: str
    lines: str

    def __str__(self) -> str:
        return f"{self.source.repo}@{self.source.tag} {self.path}:{self.lines}"


SERVING: Final = Source(
    "knative/serving", "knative-v1.22.1", "3bd82a6177c278b1192abee1b3ca39daf25c3f35", "Apache-2.0"
)
EVENTING: Final = Source(
    "knative/eventing", "knative-v1.22.2", "532b01f0cb2ce7bed271204697081e4264385531", "Apache-2.0"
)
KAFKA_BROKER: Final = Source(
    "knative-extensions/eventing-kafka-broker",
    "knative-v1.22.3",
    "20190b07b33aa1bb96d3b2106304cbc0d511a61c",
    "Apache-2.0",
)
KEDA: Final = Source(
    "kedacore/keda", "v2.20.2", "68a5b5028f35b22d50597c69819ab32c4e92f21a", "Apache-2.0"
)
PERIOD: Final = Source(
    "rickb777/date", "v1.13.0", "921b6708850ca21429e9dc5ba48cc5066ed0d36a", "BSD-3-Clause"
)
CRON: Final = Source("robfig/cron", "v3.0.1", "ccba498c397bb90a9c84945bbb0f7af2d72b6309", "MIT")
SOURCES: Final = (SERVING, EVENTING, KAFKA_BROKER, KEDA, PERIOD, CRON)
