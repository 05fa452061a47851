"""The operator's layer contract, checked by import-linter: it never imports the services."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

CONFIG = Path(__file__).with_name("importlinter.ini")


def test_the_operator_never_imports_the_services(capsys: pytest.CaptureFixture[str]) -> None:
    code = lint_imports(config_filename=str(CONFIG), no_cache=True, no_logo=True)
    output = capsys.readouterr().out
    assert code == 0, output
    assert "1 kept, 0 broken" in output
