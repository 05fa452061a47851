"""The ``tidal`` command line: run, dev, send."""

# internal: the public interface is the ``tidal`` command itself
__all__: list[str] = []
