"""Passwords in URLs never reach what tidal prints (issue 17, finding 7)."""

from __future__ import annotations

import aiohttp
import pytest
from tests.support.servers import free_port

from tidal._errors import RetryableError
from tidal._redaction import redact_url, scrub
from tidal._transports.http.sinks import HttpSink
from tidal.testing import make_event


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://default:PASSWORD@10.0.0.7:6379/0", "redis://default:***@10.0.0.7:6379/0"),
        ("redis://:PASSWORD@cache/0", "redis://:***@cache/0"),
        (
            "rediss://cache:6380/0?password=PASSWORD&ssl=true",
            "rediss://cache:6380/0?password=***&ssl=true",
        ),
        ("http://user:PASSWORD@broker.ns.svc/default", "http://user:***@broker.ns.svc/default"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("http://[PASSWORD", "***"),
    ],
)
def test_a_url_is_shown_without_its_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_an_error_quoting_the_url_in_another_form_is_scrubbed() -> None:
    url = "http://user:PASSWORD@sink/?token=T0KEN"
    text = "URL('http://user:PASSWORD@sink/?token=T0KEN') failed: T0KEN"
    assert "PASSWORD" not in scrub(text, url)
    assert "T0KEN" not in scrub(text, url)


async def test_a_failing_sink_names_its_url_without_the_password() -> None:
    """The gateway answers 503 with this message: it must not hand the password to clients."""
    url = f"http://tidal:PASSWORD@127.0.0.1:{free_port()}/broker"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RetryableError) as raised:
            await HttpSink(session, url).send([make_event()])
    assert "PASSWORD" not in str(raised.value)
    assert "http://tidal:***@127.0.0.1" in str(raised.value)


def test_tidal_send_names_an_unreachable_url_without_its_password() -> None:
    from click.testing import CliRunner

    from tidal.cli.main import cli

    url = f"http://tidal:PASSWORD@127.0.0.1:{free_port()}/"
    args = ["send", url, "--type", "t.v1", "--source", "/s", "--data", "{}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "could not reach http://tidal:***@127.0.0.1" in result.output
    assert "PASSWORD" not in result.output
