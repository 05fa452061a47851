"""``python -m tidal.cli``: the same as the ``tidal`` command."""

from tidal.cli.main import main

main()
