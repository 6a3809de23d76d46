"""Errors for configuration files that name the file, the field and the expected form.

Shared by every YAML loader (registrations, destinations, integrations, the sandbox scenario) so that a mistake
always reads ``<file>: <field>: expected <form>, got <what was there>``, and never repeats what was there when
the field may hold a secret (a password pasted where a variable name belongs, say).

Secrets never sit in a configuration file: a model names the variable that holds one in a field ending in ``_env``
(``password_env: SFTP_PASSWORD``, checked with ``environment_variable_name``). A secret written in the file instead
(``password: hunter2``, ``api_key: ...``) is refused with what to do: ``first_problem`` does it for any model that
forbids unknown keys, through ``env_field_for`` and ``inline_secret``, which a loader can also call itself.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ValidationError
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
    "model_attributes_type": "a mapping",  # a tagged union's member
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
ENV_SUFFIX = "_env"
ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
KNOWN_KEY = "a known key"
TEXT_KEYS = ("keys as text (YAML reads unquoted yes, no, on, off, true, false as true or false and digits as "
             "numbers: quote them)")


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


def matching(pattern: str, form: str) -> AfterValidator:
    """Text must match ``pattern``; otherwise the message reads ``expected <form>``, not the pattern.

    ``Annotated[StrictStr, matching(r"^/", "an absolute path such as /upload")]``.
    """
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.search(value):
            raise expected(form)
        return value

    return AfterValidator(check)


def environment_variable_name(example: str) -> AfterValidator:
    """The field names the environment variable holding a secret: upper case only, so that a secret pasted in
    its place is refused, and messages may name the variable (``Annotated[StrictStr, environment_variable_name(
    "SFTP_PASSWORD")]``)."""
    return matching(ENV_NAME_PATTERN, f"the NAME of an environment variable, in upper case (e.g. {example})")


def env_field_for(key: str, fields: Iterable[str]) -> str | None:
    """The ``*_env`` field among ``fields`` that should name the variable holding a secret written inline as ``key``.

    ``password`` -> ``password_env``. For a key that may hold a secret but has no twin, the ``*_env`` field whose
    name ends as the key's does (``api_key`` -> ``key_env``, ``secret`` -> ``client_secret_env``), else the only
    ``*_env`` field there is; None when nothing fits, or ``key`` is itself a field or a variable's name.
    """
    known = list(fields)
    if key in known or key.endswith(ENV_SUFFIX):
        return None
    names = [name for name in known if name.endswith(ENV_SUFFIX)]
    if key + ENV_SUFFIX in names:
        return key + ENV_SUFFIX
    if not may_hold_secret(key):
        return None
    alike = [name for name in names if name[: -len(ENV_SUFFIX)].endswith(key) or key.endswith(name[: -len(ENV_SUFFIX)])]
    candidates = alike or names
    return candidates[0] if len(candidates) == 1 else None


def inline_secret(env_field: str) -> tuple[str, str]:
    """(expected form, what was found) for a secret written in a configuration file where ``env_field`` belongs."""
    return (f"no secret in the file: put it in an environment variable and name that variable with "
            f"`{env_field}: NAME_OF_VARIABLE`", REDACTED)


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
    elif kind in ("too_short", "string_too_short", "too_long", "string_too_long"):
        form = _length(kind, value, int(context.get("min_length", context.get("max_length", 1))))
    elif kind == "literal_error":
        form = "one of " + str(context.get("expected", "")).replace("'", "")
    elif kind == "string_pattern_mismatch":
        form = f"text matching {context.get('pattern', '')}"
    elif kind == "union_tag_invalid":
        tags = re.findall(r"'([^']*)'", str(context.get("expected_tags", "")))
        return f"{_unquoted(context.get('discriminator'))}: {_one_of(tags)}", repr(context.get("tag"))
    elif kind == "union_tag_not_found":
        return f"a {context.get('discriminator')} key", "none"
    return form or str(error["msg"]), describe(value)


def _length(kind: str, value: Any, limit: int) -> str:
    items = "items" if isinstance(value, list | tuple) else "characters"
    if kind.endswith("too_long"):
        return f"{'a list' if items == 'items' else 'text'} of at most {limit} {items}"
    if limit <= 1:
        return "a non-empty list" if items == "items" else "a non-empty string"
    return f"{'a list' if items == 'items' else 'text'} of at least {limit} {items}"


def _unquoted(text: object) -> str:
    return str(text).strip("'\"")


def _one_of(options: Sequence[str]) -> str:
    return " or ".join(options) if len(options) < 3 else ", ".join(options[:-1]) + " or " + options[-1]


_BOUNDS = {
    "greater_than_equal": "of at least",
    "greater_than": "greater than",
    "less_than_equal": "of at most",
    "less_than": "less than",
}


def first_problem(
    error: ValidationError,
    prefix: str = "",
    describe: Callable[[Any], str] = describe,
    model: type[BaseModel] | None = None,
) -> tuple[str | None, str, str | None]:
    """(field, expected form, what was found) of the first problem pydantic reported.

    ``prefix`` (say ``endpoints[2].``) places the validated mapping inside its file. ``model``, the model that
    was validated, lets the location leave out the tags pydantic inserts for tagged unions
    (``destinations.archive.s3.bucket`` is ``destinations.archive.bucket`` in the file), name the tags a
    missing discriminator may take, and suggest the key a misspelt one was meant to be.
    """
    errors = error.errors(include_url=False)
    # A misspelt key also makes the right one "missing": the misspelling is the cause, name it first.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    kind, context, loc = first["type"], first.get("ctx") or {}, tuple(first["loc"])
    place = _locate(model, loc) if model is not None else _Place(loc, (), ())
    form, got = expectation(first, describe)
    shown = place.loc
    if shown and shown[-1] == "[key]" and kind == "string_type":
        # A mapping key YAML did not read as text (``off:``): pydantic numbers it; the mapping is the place.
        shown, form = shown[:-2], TEXT_KEYS
    elif kind == "extra_forbidden" and (env_field := env_field_for(str(shown[-1]), place.keys)):
        form, got = inline_secret(env_field)
    elif kind == "extra_forbidden" and place.keys:
        guess = closest(str(shown[-1]), place.keys)
        form = KNOWN_KEY
        got = f"unknown key {str(shown[-1])!r}" + (f" (did you mean {guess!r}?)" if guess else "")
    elif kind == "union_tag_not_found":
        tags = [tag for member in place.types if _is_model(member)
                for tag in _tags_of(member, _unquoted(context.get("discriminator")))]
        form += f": {_one_of(tags)}" if tags else ""
    # A model validator's error sits at the model's location and names its field in the context.
    field = ".".join(part for part in (field_path(shown), context.get("field")) if part)
    return (prefix + field if field else prefix.rstrip(".") or None), form, got


class _Place(NamedTuple):
    """Where a pydantic location points in the file."""

    loc: tuple[int | str, ...]  # without union tags
    keys: tuple[str, ...]  # the keys allowed beside its last part
    types: tuple[Any, ...]  # the types the value there may have


def _locate(model: type[BaseModel], loc: tuple[int | str, ...]) -> _Place:
    shown: list[int | str] = []
    keys: tuple[str, ...] = ()
    current = [model]  # the types the value at this point of the location may have
    for part in loc:
        models = [t for t in current if _is_model(t)]
        if part == "[key]":  # the key itself failed, not its value
            shown.append(part)
            current = []
            continue
        if len(models) > 1:
            # pydantic names the union member it validated against: a tag, not a key of the file.
            current = [m for m in models if part in _tags_of(m) or part == m.__name__]
            continue
        shown.append(part)
        if models:
            fields = {field.alias or name: field for name, field in models[0].model_fields.items()}
            keys = tuple(fields)
            current = _members(fields[part].annotation) if part in fields else []
        else:
            current = [arg for t in current for arg in _contained(t, part)]
    return _Place(tuple(shown), keys, tuple(current))


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _members(annotation: Any) -> list[Any]:
    """The types an annotation allows, with Annotated, Optional and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _contained(annotation: Any, part: int | str) -> list[Any]:
    """The types of a mapping's values or a list's items (``part`` is a key or an index)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if not args:
        return []
    if origin in (dict, Mapping):
        return _members(args[1])
    if origin in (list, tuple, Sequence) and isinstance(part, int):
        return _members(args[0])
    return []


def _tags_of(model: type[BaseModel], discriminator: str | None = None) -> list[str]:
    """The values a model's literal fields (or only its ``discriminator``) are restricted to: its tags."""
    return [str(value) for name, field in model.model_fields.items()
            if get_origin(field.annotation) is Literal and discriminator in (None, name, field.alias)
            for value in get_args(field.annotation)]


def closest(key: str, known: Sequence[str]) -> str | None:
    """The known key ``key`` was probably meant to be (a typo or another spelling), if any."""
    by_folded = {name.lower().replace("-", "_"): name for name in known}
    folded = key.lower().replace("-", "_")
    if folded in by_folded:
        return by_folded[folded]
    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None
