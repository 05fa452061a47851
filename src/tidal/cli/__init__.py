"""The ``tidal`` command line: run, dev, send, and the commands other distributions add.

Its public interface is the ``tidal`` command itself, plus what a command added through the
``tidal.commands`` entry-point group (the data plane's ``archive``, ``backup``, ``dlq``, ...)
shares with tidal's own: `stop_on_signals`.
"""

from tidal.cli._signals import stop_on_signals

__all__ = ["stop_on_signals"]
