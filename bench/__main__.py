"""``python -m bench``: every target of docs/benchmarks.md in one run and one table.

Runs cold start, the HTTP path and the Kafka path (each prints its own detail as it goes), then
prints the ratios against their targets. ``--quick`` runs fewer, shorter rounds (a smoke run,
not a measurement).
"""

from __future__ import annotations

import argparse

from bench import cold_start, http_path, kafka_path
from bench.summary import Ratio, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    ratios: list[Ratio] = []
    ratios += cold_start.main(["--rounds", "3" if quick else "10"])
    ratios += http_path.main(
        ["--rounds", "1" if quick else "5", "--seconds", "2" if quick else "5"]
    )
    ratios += kafka_path.main(
        ["--rounds", "1" if quick else "3", "--events", "5000" if quick else "50000"]
    )
    print()
    print(table(ratios))


if __name__ == "__main__":
    main()
