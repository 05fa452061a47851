"""The ``tidal`` command line: run, dev, send."""
