"""``python -m tidal_operator.crds``: write, check or document the generated CRDs.

python -m tidal_operator.crds --out k8s/crds     write tidal.dev_<plural>.yaml files
python -m tidal_operator.crds --check k8s/crds   exit 1 when a committed file drifted
python -m tidal_operator.crds --docs             print the Markdown reference tables
python -m tidal_operator.crds                    print every CRD as one YAML stream
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tidal_operator.crds import all_crds
from tidal_operator.crds.rendering import file_name, reference_markdown, to_yaml


def drifted(directory: Path) -> list[str]:
    """Names of the files under ``directory`` that differ from the generator's output."""
    return [
        file_name(crd)
        for crd in all_crds()
        if not (directory / file_name(crd)).is_file()
        or (directory / file_name(crd)).read_text(encoding="utf-8") != to_yaml(crd)
    ]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m tidal_operator.crds", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--out", type=Path, help="directory to write the YAML files into")
    group.add_argument("--check", type=Path, help="directory whose YAML files must be current")
    group.add_argument("--docs", action="store_true", help="print the Markdown reference")
    args = parser.parse_args(argv)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for crd in all_crds():
            (args.out / file_name(crd)).write_text(to_yaml(crd), encoding="utf-8")
    elif args.check is not None:
        stale = drifted(args.check)
        for name in stale:
            print(
                f"{args.check / name} differs from the generator; regenerate with --out",
                file=sys.stderr,
            )
        return 1 if stale else 0
    elif args.docs:
        sys.stdout.write("\n".join(reference_markdown(crd) for crd in all_crds()))
    else:
        sys.stdout.write("".join(to_yaml(crd) for crd in all_crds()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
