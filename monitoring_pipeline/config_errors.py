"""Errors for configuration files that name the file, the field and the expected form.

Shared by every YAML loader (registrations, destinations, integrations, the sandbox scenario) so that a mistake
always reads ``<file>: <field>: expected <form>, got <what was there>``, and never repeats what was there when
the field may hold a secret (a password pasted where a variable name belongs, say).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

# pydantic error types -> the expected form, in the words of a YAML author.
_EXPECTED_BY_TYPE = {
    "string_type": "a string",
    "bool_type": "true or false",
    "int_type": "an integer",
    "float_type": "a number",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a mapping",
    "extra_forbidden": "no such key",
    "datetime_type": "a date-time such as 2026-01-01T00:00:00Z",
    "datetime_parsing": "a date-time such as 2026-01-01T00:00:00Z",
    "datetime_from_date_parsing": "a date-time such as 2026-01-01T00:00:00Z",
    "invalid-json-value": "a JSON value (mapping, list, text, number, true/false or null)",
}


# The last part of a field that may hold a secret, or a variable name that may be a secret pasted by mistake.
_SECRET_FIELD = re.compile(r"(password|passwd|passphrase|secret|token|api_?key|private_key|credential)|_env$",
                           re.IGNORECASE)
# ...unless it only points at one.
_NOT_SECRET_FIELD = re.compile(r"_(path|file|url|header|type|fingerprint)$", re.IGNORECASE)
REDACTED = "a value not repeated here (it may be a secret)"


def may_hold_secret(field: str | None) -> bool:
    """Whether the value of ``field`` (``destinations.sftp.password_env``) must not be echoed in a message."""
    if not field:
        return False
    last = re.split(r"[.\[\]() ]+", field.strip(".[]() "))[-1]
    return bool(_SECRET_FIELD.search(last)) and not _NOT_SECRET_FIELD.search(last)


class ConfigFileError(ValueError):
    """A configuration file that cannot be used: names the file, the field and what is expected.

    What was found is left out when the field may hold a secret, whichever loader raises the error.
    """

    def __init__(self, file: Path, field: str | None, expected: str, got: str | None = None) -> None:
        if got is not None and may_hold_secret(field):
            got = REDACTED
        self.file = file
        self.field = field
        self.expected = expected
        self.got = got
        location = display_path(file) + (f": {field}" if field else "")
        super().__init__(f"{location}: expected {expected}" + (f", got {got}" if got is not None else ""))


def expected(form: str, got: str | None = None, field: str | None = None) -> PydanticCustomError:
    """A pydantic error that the loaders report as ``expected <form>`` (raise it from validators).

    ``field`` names the place when pydantic cannot (errors raised by a model validator).
    """
    context = {"expected": form}
    if got is not None:
        context["got"] = got
    if field is None:
        return PydanticCustomError("expected", "expected {expected}", context)
    return PydanticCustomError("expected", "{field}: expected {expected}", {**context, "field": field})


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter messages)."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def field_path(loc: Iterable[int | str]) -> str:
    """A pydantic location as a YAML author writes it: ``endpoints[2].latency_ms``."""
    text = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a mapping key; the key itself is already in the path
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe(value: Any) -> str:
    """What was found, briefly (never a whole mapping or list)."""
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def expectation(error: Mapping[str, Any], describe: Callable[[Any], str] = describe) -> tuple[str, str | None]:
    """(expected form, what was found) of one pydantic error."""
    kind = error["type"]
    context = error.get("ctx") or {}
    value = error.get("input")
    if kind == "expected":
        return str(context["expected"]), str(context["got"]) if "got" in context else describe(value)
    if kind == "missing":
        return "a value (this key is required)", "nothing"
    form = _EXPECTED_BY_TYPE.get(kind)
    if kind in _BOUNDS:
        limit = next(iter(context.values()))
        whole = isinstance(value, int) and isinstance(limit, int)
        form = f"{'an integer' if whole else 'a number'} {_BOUNDS[kind]} {limit}"
    elif kind in ("too_short", "string_too_short"):
        form = "a non-empty list" if isinstance(value, list | tuple) else "a non-empty string"
    elif kind == "literal_error":
        form = "one of " + str(context.get("expected", "")).replace("'", "")
    return form or str(error["msg"]), describe(value)


_BOUNDS = {
    "greater_than_equal": "of at least",
    "greater_than": "greater than",
    "less_than_equal": "of at most",
    "less_than": "less than",
}


def first_problem(
    error: ValidationError, prefix: str = "", describe: Callable[[Any], str] = describe
) -> tuple[str | None, str, str | None]:
    """(field, expected form, what was found) of the first problem pydantic reported.

    ``prefix`` (say ``endpoints[2].``) places the validated mapping inside its file.
    """
    first = error.errors(include_url=False)[0]
    context = first.get("ctx") or {}
    # A model validator's error sits at the model's location and names its field in the context.
    field = ".".join(part for part in (field_path(first["loc"]), context.get("field")) if part)
    form, got = expectation(first, describe)
    return (prefix + field if field else prefix.rstrip(".") or None), form, got


def closest(key: str, known: Sequence[str]) -> str | None:
    """The known key ``key`` was probably meant to be (a typo or another spelling), if any."""
    by_folded = {name.lower().replace("-", "_"): name for name in known}
    folded = key.lower().replace("-", "_")
    if folded in by_folded:
        return by_folded[folded]
    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None
