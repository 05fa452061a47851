"""Reading `Settings` for a command: one ``Error:`` line per bad variable, warnings for typos.

`tidal run` calls `load_settings` (a `click.ClickException` naming the variable and the values it
takes, instead of pydantic's traceback) and `misspelt` (a ``TIDAL_*`` variable that is no
setting, with the closest one: ``TIDAL_IDEMPOTENCY_BACKEND`` -> ``TIDAL_IDEMPOTENCY__BACKEND``).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final, get_origin

import click
from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import NoDecode, SettingsError

from tidal._settings import Settings

PREFIX: Final = "TIDAL_"
NESTED: Final = "__"
# variables that share the prefix but are no settings: the operator's own, and command options
# read from the environment (`tidal outbox relay --dsn`: TIDAL_OUTBOX_DSN)
FOREIGN: Final = ("TIDAL_OPERATOR_", "TIDAL_OUTBOX_")


def load_settings(environ: Mapping[str, str], **overrides: Any) -> Settings:
    """`Settings` from the environment and ``overrides``; a bad value is one `ClickException`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise click.ClickException(_explain(exc, environ)) from None
    except SettingsError as exc:  # a JSON-valued variable that is not JSON
        raise click.ClickException(_not_json(environ) or str(exc)) from None


def _not_json(environ: Mapping[str, str]) -> str | None:
    """The line for the first set variable that takes JSON and does not hold it."""
    for name in sorted(set(environ) & set(_json_variables())):
        try:
            json.loads(environ[name])
        except ValueError as exc:
            shown = _shown(name, environ[name])
            return f"{name}={shown} is not JSON ({exc}): it takes a JSON object or list"
    return None


def _json_variables() -> Iterator[str]:
    """Variables whose setting is a mapping, a list or a section (pydantic-settings decodes
    them as JSON); ``NoDecode`` ones (``TIDAL_KAFKA__TOPICS``) parse their own text."""
    for name, info, prefix in _fields(Settings, PREFIX):
        kind = get_origin(info.annotation) or info.annotation
        if any(isinstance(m, NoDecode) or m is NoDecode for m in info.metadata):
            continue
        if kind in (dict, list) or (isinstance(kind, type) and issubclass(kind, BaseModel)):
            yield prefix + name.upper()


def _fields(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, FieldInfo, str]]:
    for name, info in model.model_fields.items():
        yield name, info, prefix
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            yield from _fields(nested, f"{prefix}{name.upper()}{NESTED}")


def _explain(exc: ValidationError, environ: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors():
        name = variable(tuple(str(part) for part in error["loc"]), environ)
        value = _shown(name, environ.get(name, error.get("input")))
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{name}={value}: {message}{_hint(error)}")
    return "; ".join(lines)


def _shown(name: str, value: object) -> str:
    """``value`` as the error line shows it: secrets and URL credentials masked."""
    if any(word in name for word in ("PASSWORD", "SECRET", "TOKEN")):
        return "'***'"
    text = str(value)
    if "@" in text:  # user:password@host, with or without a scheme
        scheme, sep, rest = text.rpartition("://")
        text = f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}"
    return repr(text)


def _hint(error: Mapping[str, Any]) -> str:
    if error["type"] == "literal_error":
        return " (set one of those, or unset it for the default)"
    return " (fix or unset it for the default)"


def variable(loc: tuple[str, ...], environ: Mapping[str, str]) -> str:
    """The environment variable behind a validation error's ``loc`` (the alias that is set)."""
    if loc and loc[0].isupper():  # an alias (TIDAL_PORT / PORT): name the one that is set
        field = _field_with_alias(loc[0])
        if field is not None:
            for alias in _aliases(field):
                if alias in environ:
                    return alias
        return loc[0]
    return PREFIX + NESTED.join(part.upper() for part in loc)


def _field_with_alias(alias: str) -> str | None:
    for name, info in Settings.model_fields.items():
        if alias in _aliases_of(info.validation_alias):
            return name
    return None


def _aliases(field: str) -> list[str]:
    return [a for a in _aliases_of(Settings.model_fields[field].validation_alias) if a.isupper()]


def _aliases_of(alias: object) -> list[str]:
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [alias] if isinstance(alias, str) else []


def known_variables() -> set[str]:
    """Every variable `Settings` reads: ``TIDAL_<FIELD>``, ``TIDAL_<FIELD>__<SUBFIELD>``,
    and aliases such as ``PORT`` / ``K_SINK``."""
    return {name for name, _ in _variables(Settings, PREFIX)}


def _mappings() -> tuple[str, ...]:
    """Variables of mapping settings, whose keys may follow: ``TIDAL_KAFKA__GROUP_IDS__<SUB>``."""
    return tuple(name + NESTED for name, mapping in _variables(Settings, PREFIX) if mapping)


def _variables(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, bool]]:
    for name, info in model.model_fields.items():
        aliases = [a for a in _aliases_of(info.validation_alias) if a.isupper()]
        mapping = get_origin(info.annotation) is dict
        yield from ((variable, mapping) for variable in aliases or [prefix + name.upper()])
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            yield from _variables(nested, f"{prefix}{name.upper()}{NESTED}")


def misspelt(environ: Mapping[str, str]) -> list[str]:
    """A warning per ``TIDAL_*`` variable that no setting reads, naming the closest one."""
    known, mappings = known_variables(), _mappings()
    warnings = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in known or name.startswith(FOREIGN + mappings):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else " (no setting has a similar name)"
        warnings.append(f"{name} is not a tidal setting and is ignored{hint}")
    return warnings
