"""D&B Monitoring registrations declared as configuration: one YAML file each, portfolios inline or in files."""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from monitoring_pipeline.config_errors import ConfigFileError, describe, display_path, first_problem
from monitoring_pipeline.dnb.identifiers import validate_duns, validate_reference

API_PULL = "API_PULL"
DEFAULT_PORTFOLIO_COLUMN = "duns"
PORTFOLIO_FILE_TYPES = (".csv", ".txt")
REGISTRATION_FILE_TYPES = (".yaml", ".yml")

DUNS_EXPECTED = "a DUNS of exactly 9 digits (leading zeros kept)"
REFERENCE_EXPECTED = (
    "a registration reference of 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit, "
    "without '..', '/' or '\\'"
)
CODE_EXPECTED = "an UPPER_CASE code such as 'UPDATE' or 'API_PULL'"


class RegistrationConfigError(ConfigFileError):
    """A registration file that cannot be used: names the file, the field and what is expected."""


def _is_upper_code(value: str) -> bool:
    return bool(value) and value.replace("_", "").isalnum() and value == value.upper() and value[0].isalpha()


def _upper_code(value: str) -> str:
    if not _is_upper_code(value):
        raise PydanticCustomError("expected", "expected {expected}", {"expected": CODE_EXPECTED})
    return value


UpperCode = Annotated[StrictStr, AfterValidator(_upper_code)]
Duns = Annotated[StrictStr, AfterValidator(validate_duns)]
NonEmptyText = Annotated[StrictStr, Field(min_length=1)]


class RegistrationConfig(BaseModel):
    """One D&B Monitoring registration as declared in ``config/registrations/*.yaml``.

    YAML keys are D&B's camelCase names (``productId``); attributes are snake_case (``product_id``).
    ``portfolio`` is the set of DUNS the pipeline keeps in the registration, sorted and unique.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    reference: StrictStr
    description: StrictStr | None = None
    product_id: NonEmptyText | None = None
    data_blocks: Annotated[tuple[NonEmptyText, ...], Field(min_length=1)] | None = None
    version_id: NonEmptyText | None = None
    notification_type: UpperCode = "UPDATE"
    seed_data: StrictBool = False
    delivery_trigger: UpperCode = API_PULL
    json_path_inclusion: tuple[NonEmptyText, ...] = ()
    json_path_exclusion: tuple[NonEmptyText, ...] = ()
    portfolio: Annotated[tuple[Duns, ...], Field(repr=False)] = ()  # can be large: kept out of logs
    unsuppress_after_seed: StrictBool = False
    apply_transfers: StrictBool = False
    batch_threshold: Annotated[StrictInt, Field(ge=1), AfterValidator(int)] = 10
    source_file: Path

    @field_validator("reference")
    @classmethod
    def _safe_reference(cls, value: str) -> str:
        try:
            return validate_reference(value)
        except ValueError:
            raise PydanticCustomError("expected", "expected {expected}", {"expected": REFERENCE_EXPECTED}) from None

    @field_validator("portfolio")
    @classmethod
    def _sorted_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _one_product(self) -> RegistrationConfig:
        if (self.product_id is None) == (self.data_blocks is None):
            got = "neither" if self.product_id is None else "both"
            raise PydanticCustomError(
                "expected",
                "expected {expected}",
                {"expected": "exactly one of productId or dataBlocks", "field": "productId/dataBlocks", "got": got},
            )
        return self

    @property
    def pulls(self) -> bool:
        """Whether we pull this registration's notifications (only ``API_PULL`` registrations can be pulled)."""
        return self.delivery_trigger == API_PULL


# YAML keys a registration file may use: every field but the one we fill in ourselves.
KNOWN_KEYS: tuple[str, ...] = tuple(
    field.alias or name for name, field in RegistrationConfig.model_fields.items() if name != "source_file"
)


def load_registrations(directory: Path) -> list[RegistrationConfig]:
    """Every registration declared in ``directory/*.yaml``, sorted by reference.

    Raises ``RegistrationConfigError`` for the first problem found, naming the file and the field.
    """
    directory = Path(directory)
    if not directory.is_dir():
        got = "a file" if directory.exists() else "a path that does not exist"
        raise RegistrationConfigError(directory, None, "a directory of registration files (*.yaml)", got)
    root = directory.resolve()
    seen: dict[str, Path] = {}
    configs: list[RegistrationConfig] = []
    files = sorted(
        path
        for path in directory.iterdir()
        if path.suffix in REGISTRATION_FILE_TYPES and path.is_file() and not path.name.startswith(".")
    )
    for path in files:
        for prefix, raw in _documents(path):
            config = _registration(path, prefix, raw, root)
            if config.reference in seen:
                raise RegistrationConfigError(
                    path,
                    f"{prefix}reference",
                    f"a reference used by one registration only ({config.reference!r} is also declared in "
                    f"{display_path(seen[config.reference])})",
                    repr(config.reference),
                )
            seen[config.reference] = path
            configs.append(config)
    return sorted(configs, key=lambda config: config.reference)


# -- YAML --------------------------------------------------------------------------------------------


class _YamlInt(int):
    """An int that remembers how it was written, to explain an unquoted DUNS (``001017545`` is octal in YAML)."""

    source: str


class _Loader(yaml.SafeLoader):
    pass


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    value = _YamlInt(yaml.SafeLoader.construct_yaml_int(loader, node))
    value.source = str(node.value)
    return value


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(field prefix, raw mapping) of each registration in one file."""
    try:
        data = yaml.load(_read_text(path), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        field = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise RegistrationConfigError(path, field, "valid YAML", str(problem)) from None
    if isinstance(data, Mapping) and "registrations" in data:
        if len(data) != 1:
            others = ", ".join(repr(str(key)) for key in data if key != "registrations")
            raise RegistrationConfigError(
                path, None, "either one registration or only a 'registrations' list", f"other keys {others}"
            )
        items = data["registrations"]
        if not isinstance(items, list):
            raise RegistrationConfigError(path, "registrations", "a list of registrations", _describe(items))
        for index, item in enumerate(items):
            yield f"registrations[{index}].", item
        return
    yield "", data


def _registration(path: Path, prefix: str, raw: Any, root: Path) -> RegistrationConfig:
    if not isinstance(raw, Mapping):
        expected = "a mapping of registration fields (reference, productId, ...)"
        raise RegistrationConfigError(path, prefix.rstrip(".") or None, expected, _describe(raw))
    _refuse_unknown_keys(path, prefix, raw)
    fields = {str(key): value for key, value in raw.items()}
    if "portfolio" in fields:
        fields["portfolio"] = _portfolio(path, prefix, fields["portfolio"], root)
    try:
        return RegistrationConfig.model_validate({**fields, "source_file": path})
    except ValidationError as error:
        raise _config_error(path, prefix, error) from None


def _refuse_unknown_keys(path: Path, prefix: str, raw: Mapping[Any, Any]) -> None:
    unknown = [str(key) for key in raw if str(key) not in KNOWN_KEYS]
    if not unknown:
        return
    described = []
    for key in unknown:
        guess = _closest_key(key)
        described.append(f"{key!r}" + (f" (did you mean {guess!r}?)" if guess else ""))
    raise RegistrationConfigError(
        path,
        prefix + ", ".join(unknown),
        "only known registration keys (" + ", ".join(KNOWN_KEYS) + ")",
        "unknown key " + ", ".join(described),
    )


def _closest_key(key: str) -> str | None:
    by_folded = {known.lower(): known for known in KNOWN_KEYS}
    # snake_case or wrong-case spellings of a known key are the usual mistake.
    folded = to_camel(key).lower() if "_" in key else key.lower()
    if folded in by_folded:
        return by_folded[folded]
    matches = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _config_error(path: Path, prefix: str, error: ValidationError) -> RegistrationConfigError:
    """The first pydantic error as a ``RegistrationConfigError`` in the YAML file's own terms."""
    field, expected, got = first_problem(error, prefix, _describe)
    if expected == "a string" and isinstance(value := error.errors()[0].get("input"), _YamlInt):
        expected += f" (quote it: '{value.source}')"
    return RegistrationConfigError(path, field, expected, got)


def _describe(value: Any) -> str:
    if isinstance(value, _YamlInt) and value.source != str(int(value)):
        return f"{value.source} unquoted, which YAML reads as the number {int(value)}"
    return describe(value)


# -- portfolios --------------------------------------------------------------------------------------


def _portfolio(path: Path, prefix: str, raw: Any, root: Path) -> tuple[str, ...]:
    """The DUNS of an inline list or a CSV/TXT file, each checked where it was written."""
    if isinstance(raw, list):
        return _unique_duns(path, ((value, f"{prefix}portfolio[{index}]") for index, value in enumerate(raw)))
    if isinstance(raw, Mapping):
        source, column = _portfolio_file(path, prefix, raw, root)
        if source.suffix == ".csv":
            return _unique_duns(source, _csv_entries(source, column))
        return _unique_duns(source, _txt_entries(source))
    raise RegistrationConfigError(
        path,
        f"{prefix}portfolio",
        "a list of DUNS or a file reference like {file: portfolios/x.csv, column: duns}",
        _describe(raw),
    )


def _portfolio_file(path: Path, prefix: str, raw: Mapping[Any, Any], root: Path) -> tuple[Path, str]:
    field = f"{prefix}portfolio"
    unknown = [str(key) for key in raw if key not in ("file", "column")]
    if unknown:
        raise RegistrationConfigError(
            path, f"{field}.{unknown[0]}", "only 'file' and 'column' in a portfolio file reference", "unknown key"
        )
    relative = raw.get("file")
    if not isinstance(relative, str) or not relative.strip():
        raise RegistrationConfigError(
            path, f"{field}.file", "the path of a .csv or .txt file, relative to this YAML file", _describe(relative)
        )
    source = (path.parent / relative).resolve()
    if not source.is_relative_to(root):
        raise RegistrationConfigError(
            path, f"{field}.file", f"a file inside the config directory {display_path(root)}", repr(relative)
        )
    if source.suffix not in PORTFOLIO_FILE_TYPES:
        raise RegistrationConfigError(path, f"{field}.file", "a .csv or .txt file", repr(relative))
    if not source.is_file():
        raise RegistrationConfigError(
            path, f"{field}.file", "an existing file", f"{relative!r}, which does not exist ({display_path(source)})"
        )
    column = raw.get("column", DEFAULT_PORTFOLIO_COLUMN)
    if source.suffix == ".txt" and "column" in raw:
        expected = "no column for a .txt file (one DUNS a line)"
        raise RegistrationConfigError(path, f"{field}.column", expected, repr(column))
    if not isinstance(column, str) or not column.strip():
        raise RegistrationConfigError(path, f"{field}.column", "the name of a CSV header column", _describe(column))
    return source, column.strip()


def _csv_entries(source: Path, column: str) -> Iterator[tuple[object, str]]:
    reader = csv.reader(io.StringIO(_read_text(source), newline=""))
    header = [cell.strip() for cell in next(reader, [])]
    if column not in header:
        columns = ", ".join(repr(cell) for cell in header) or "no header row"
        raise RegistrationConfigError(source, "line 1", f"a header row with a {column!r} column", columns)
    position = header.index(column)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        value = row[position].strip() if position < len(row) else ""
        yield value, f"line {reader.line_num}, column {column!r}"


def _txt_entries(source: Path) -> Iterator[tuple[object, str]]:
    for number, line in enumerate(_read_text(source).splitlines(), start=1):
        value = line.split("#", 1)[0].strip()
        if value:
            yield value, f"line {number}"


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: spreadsheets often save CSV with a byte-order mark.
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise RegistrationConfigError(path, None, "UTF-8 text", "undecodable bytes") from None


def _unique_duns(file: Path, entries: Iterable[tuple[object, str]]) -> tuple[str, ...]:
    """Checked DUNS in the given order; a DUNS listed twice is refused (usually a copy-paste error)."""
    first_seen: dict[str, str] = {}
    for value, where in entries:
        duns = _checked_duns(file, where, value)
        if duns in first_seen:
            raise RegistrationConfigError(
                file, where, f"each DUNS once in a portfolio (first listed at {first_seen[duns]})", f"{duns!r} again"
            )
        first_seen[duns] = where
    return tuple(first_seen)


def _checked_duns(file: Path, where: str, value: object) -> str:
    try:
        return validate_duns(value)
    except ValueError:
        pass
    if isinstance(value, _YamlInt):
        raise RegistrationConfigError(
            file, where, f"{DUNS_EXPECTED} in quotes, e.g. '{value.source}'", _describe(value)
        ) from None
    got = _describe(value)
    if isinstance(value, str) and value.isdigit() and 7 <= len(value) < 9:
        # Spreadsheets drop leading zeros (about one DUNS in ten starts with 0).
        got += f" (leading zeros lost? {value.zfill(9)!r} has 9 digits)"
    raise RegistrationConfigError(file, where, DUNS_EXPECTED, got) from None
