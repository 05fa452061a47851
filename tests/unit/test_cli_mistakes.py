"""A newcomer's mistakes with ``tidal run``: one ``Error:`` line naming the fix, or a warning.

Issue 18 item 4: these were tracebacks (a bad ``TIDAL_IDEMPOTENCY__BACKEND``, ``PORT=abc``, a Redis
URL without scheme, ``tidal run ./vip.py``), unhelpful ("got NoneType"), or silent (a misspelt
variable, an App without subscriptions, which subscriptions run).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tidal import App, Event, prefix
from tidal._errors import ConfigurationError
from tidal._loading import load_app
from tidal.cli._environment import known_variables, misspelt
from tidal.cli._run import announce, describe
from tidal.cli.main import cli

VIP = """\
from tidal import App, Event

app = App("vip")


@app.on(type="com.acme.order.v1")
async def handle(event: Event) -> None:
    return None
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "vip.py").write_text(VIP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("vip", None)  # each test's vip.py is a file of its own
    yield tmp_path
    sys.modules.pop("vip", None)


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["run", *args], env=env)
    return result.exit_code, result.output.splitlines()


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TIDAL_IDEMPOTENCY__BACKEND", "mongo", "'memory', 'redis' or 'none'"),
        ("PORT", "abc", "valid integer"),
        ("TIDAL_PORT", "abc", "valid integer"),
        ("TIDAL_IDEMPOTENCY__REDIS_URL", "localhost:6379", "redis://"),
        ("TIDAL_KAFKA__MAX_IN_FLIGHT", "0", "greater than or equal to 1"),
        ("TIDAL_OBSERVABILITY__LOG_FORMAT", "xml", "'auto', 'json' or 'text'"),
    ],
)
def test_a_bad_setting_is_one_error_line_naming_the_variable(
    project: Path, variable: str, value: str, named: str
) -> None:
    code, lines = run("vip:app", env={variable: value})
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {variable}={value!r}: ")
    assert named in lines[0]


def test_a_file_path_runs_the_app_in_it(project: Path) -> None:
    assert load_app("./vip.py").name == "vip"
    assert load_app(str(project / "vip.py") + ":app").name == "vip"


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("vip:application", "'vip' has no attribute 'application'; it has vip:app"),
        ("vip:App", "vip:App is not a tidal App but a type"),
        ("nothere:app", "cannot import 'nothere': no such module"),
        ("./nothere.py", "no file './nothere.py'"),
        ("./vip.txt:app", "no file './vip.txt'"),
        ("my-handlers:app", "'my-handlers' is not a module name"),
    ],
)
def test_a_bad_reference_is_one_error_line(project: Path, reference: str, says: str) -> None:
    code, lines = run(reference)
    assert code != 0
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    assert says in lines[0]
    with pytest.raises(ConfigurationError):
        load_app(reference)


def test_a_module_importing_something_missing_keeps_its_traceback(project: Path) -> None:
    (project / "broken.py").write_text("import not_installed_anywhere\n")
    with pytest.raises(ModuleNotFoundError, match="not_installed_anywhere"):
        load_app("broken:app")


def test_a_misspelt_variable_is_named_with_the_closest_setting() -> None:
    (warning,) = misspelt({"TIDAL_IDEMPOTENCY_BACKEND": "redis", "HOME": "/root"})
    assert warning.startswith("TIDAL_IDEMPOTENCY_BACKEND is not a tidal setting")
    assert warning.endswith("did you mean TIDAL_IDEMPOTENCY__BACKEND?")
    (warning,) = misspelt({"TIDAL_KAFKA__BOOTSTRAP": "k:9092"})
    assert warning.endswith("did you mean TIDAL_KAFKA__BOOTSTRAP_SERVERS?")


def test_every_setting_is_known_and_not_warned_about() -> None:
    known = known_variables()
    assert {"TIDAL_PORT", "PORT", "K_SINK", "TIDAL_KAFKA__TOPICS"} <= known
    assert "TIDAL_OBSERVABILITY__LOG_FORMAT" in known
    environ = dict.fromkeys(known, "x")
    environ["TIDAL_KAFKA__GROUP_IDS__AUDIT"] = "g"  # a key of a mapping setting
    environ["TIDAL_OPERATOR_IMAGE"] = "tidal:1"  # the operator's own
    assert misspelt(environ) == []


def test_every_tidal_variable_the_charts_set_is_a_setting() -> None:
    root = Path(__file__).resolve().parents[2]
    names = {
        name
        for path in (root / "charts").rglob("*.yaml")
        for name in re.findall(r"\bTIDAL_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())
    }
    assert names, "the charts set TIDAL_* variables"
    assert misspelt(dict.fromkeys(names, "x")) == []


def test_run_warns_about_misspelt_variables(
    project: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tidal.observability
    from tidal.cli import _run as running

    served: list[App] = []
    monkeypatch.setattr(running, "_serve", lambda app, settings, transport: served.append(app))
    monkeypatch.setattr(tidal.observability, "setup", lambda *args, **kwargs: None)
    with caplog.at_level(logging.INFO, logger="tidal.run"):
        code, _ = run("vip:app", env={"TIDAL_IDEMPOTENCY_BACKEND": "redis"})
    assert code == 0
    assert [app.name for app in served] == ["vip"]
    assert "did you mean TIDAL_IDEMPOTENCY__BACKEND?" in caplog.text


def test_run_lists_the_subscriptions(caplog: pytest.LogCaptureFixture) -> None:
    app = App("orders")

    @app.on(type="com.acme.order.v1", data={"total": [{"numeric": [">", 100]}]})
    def big(event: Event) -> None:
        return None

    @app.on(prefix(type="com.acme.fleet."), name="fleet-audit")
    def audit(event: Event) -> None:
        return None

    with caplog.at_level(logging.INFO, logger="tidal.run"):
        announce(app, "http")
    assert caplog.messages[0] == "app orders (http): 2 subscription(s)"
    assert caplog.messages[1].startswith("  big: ")
    assert '"com.acme.order.v1"' in caplog.messages[1]
    assert "data " in caplog.messages[1]
    assert caplog.messages[2].startswith("  fleet-audit: ")
    assert "com.acme.fleet." in caplog.messages[2]
    assert describe(app.subscription("big")).count(" and ") == 1


def test_an_app_without_subscriptions_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tidal.run"):
        announce(App("empty"), "kafka")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "app empty has no subscriptions" in record.getMessage()


def test_manifests_reads_settings_the_same_way(project: Path) -> None:
    result = CliRunner().invoke(
        cli, ["manifests", "vip.py"], env={"TIDAL_KAFKA__AUTO_OFFSET_RESET": "newest"}
    )
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: TIDAL_KAFKA__AUTO_OFFSET_RESET='newest': Input should be 'earliest' or 'latest'"
        " (set one of those, or unset it for the default)"
    ]


def test_a_file_named_like_an_imported_module_is_refused(project: Path) -> None:
    (project / "json.py").write_text(VIP)
    with pytest.raises(ConfigurationError, match="would shadow the module 'json'"):
        load_app("./json.py")
    assert load_app("./vip.py") is load_app("./vip.py")  # loading twice is the same App


def test_an_error_line_never_shows_credentials(project: Path) -> None:
    code, lines = run(
        "vip:app", env={"TIDAL_IDEMPOTENCY__REDIS_URL": "default:s3cret@redis.local:6379/0"}
    )
    assert code == 1
    assert lines == [
        "Error: TIDAL_IDEMPOTENCY__REDIS_URL='***@redis.local:6379/0': a Redis URL starts with"
        " redis://, rediss://, unix:// (e.g. redis://127.0.0.1:6379/0) (fix or unset it for"
        " the default)"
    ]


@pytest.mark.parametrize(
    ("variable", "value"), [("TIDAL_KAFKA__GROUP_IDS", "audit=g1"), ("TIDAL_KAFKA", "{bad")]
)
def test_a_json_setting_that_is_not_json_is_named(project: Path, variable: str, value: str) -> None:
    code, lines = run("vip:app", env={variable: value})
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: {variable}={value!r} is not JSON (")
    assert lines[0].endswith("it takes a JSON object or list")
