"""The data plane's ``tidal`` commands: ``archive``, ``backup``, ``restore``, ``replay``, ``dlq``.

Each module holds one command (or group) of click; operator/pyproject.toml declares them as
``tidal.commands`` entry points, which the runtime's `tidal.cli.main.LazyGroup` loads when the
command is run. `tidal_data.cli.shared` holds what they share (store and encryption flags,
the run result, progress bars, stopping on signals).
"""

__all__: list[str] = []
