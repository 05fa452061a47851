"""``python -m bench``: every target of docs/benchmarks.md in one run and one table.

Runs cold start, the HTTP path, the Kafka path and subscriptions that scale (each prints its own
detail as it goes), then prints the ratios against their targets. ``--quick`` runs fewer,
shorter rounds (a smoke run, not a measurement); ``--before SRC`` also runs the HTTP path's
tidal from another source tree (before / after in one run).
"""

from __future__ import annotations

import argparse

from bench import cold_start, http_path, kafka_path, kafka_subscriptions
from bench.summary import Ratio, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", metavar="SRC", help="see bench.http_path --before")
    args = parser.parse_args()
    quick = args.quick
    ratios: list[Ratio] = []
    ratios += cold_start.main(["--rounds", "3" if quick else "10"])
    before = ["--before", args.before] if args.before else []
    ratios += http_path.main(
        ["--rounds", "1" if quick else "5", "--seconds", "2" if quick else "5", *before]
    )
    ratios += kafka_path.main(
        ["--rounds", "1" if quick else "3", "--events", "5000" if quick else "50000"]
    )
    ratios += kafka_subscriptions.main(
        ["--events", "500" if quick else "2000", "--rounds", "1" if quick else "3"]
    )
    print()
    print(table(ratios))


if __name__ == "__main__":
    main()
