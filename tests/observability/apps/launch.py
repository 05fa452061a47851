"""``python -m tests.observability.apps.launch module:app``: ``tidal run`` (HTTP) plus the
`tidal.observability.setup` call its CLI makes, so the tests see JSON logs and traces."""

from __future__ import annotations

import sys

from tidal._loading import load_app
from tidal._settings import Settings
from tidal._transports.http.serving import run
from tidal.observability import setup


def main() -> None:
    settings = Settings()
    app = load_app(sys.argv[1])
    setup(settings, service=settings.service or app.name)
    run(app, settings)


if __name__ == "__main__":
    main()
