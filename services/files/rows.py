"""Parsing an uploaded CSV (``ID, Name, Email, Score``) into records, row by row.

`parse_rows` reads the header (names compared without surrounding spaces or case; a header
that is not those four columns makes the file unreadable: `InvalidEventError`) and then judges
each row on its own: a good row becomes ``{id, name, email, score: int}`` (spaces trimmed, the
e-mail lower-cased), a bad one a `RejectedRow` naming its line and why. A repeated ``ID`` is
rejected after its first row. Called by the files App's ``csv`` subscription.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any, Final

from tidal import InvalidEventError

COLUMNS: Final = ("id", "name", "email", "score")
EMAIL: Final = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[a-z]{2,}$")
MAX_FIELD: Final = 256


@dataclass(frozen=True)
class RejectedRow:
    line: int  # 1-based line number in the file (the header is line 1)
    reason: str
    row: list[str]


@dataclass(frozen=True)
class Parsed:
    records: list[dict[str, Any]]
    rejected: list[RejectedRow]


def parse_rows(body: bytes) -> Parsed:
    """The file's records and rejected rows, in file order."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidEventError(f"the file is not UTF-8 text: {exc}") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != COLUMNS:
        raise InvalidEventError(f"the header is {header!r}, expected ID, Name, Email, Score")
    records: list[dict[str, Any]] = []
    rejected: list[RejectedRow] = []
    seen: set[str] = set()
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank lines are not rows
        outcome = record_of(row)
        if isinstance(outcome, str):
            rejected.append(RejectedRow(reader.line_num, outcome, row))
        elif outcome["id"] in seen:
            rejected.append(RejectedRow(reader.line_num, f"duplicate ID {outcome['id']}", row))
        else:
            seen.add(outcome["id"])
            records.append(outcome)
    return Parsed(records, rejected)


def record_of(row: list[str]) -> dict[str, Any] | str:
    """The cleaned record of one row, or the reason it is rejected."""
    if len(row) != len(COLUMNS):
        return f"{len(row)} fields, expected {len(COLUMNS)}"
    ident, name, email, score = (cell.strip() for cell in row)
    if any(len(cell) > MAX_FIELD for cell in (ident, name, email, score)):
        return f"a field is longer than {MAX_FIELD} characters"
    if not ident:
        return "ID is empty"
    if not name:
        return "Name is empty"
    email = email.lower()
    if not EMAIL.match(email):
        return f"Email {email!r} is not an address"
    try:
        points = int(score)
    except ValueError:
        return f"Score {score!r} is not an integer"
    return {"id": ident, "name": " ".join(name.split()), "email": email, "score": points}
