"""``${VAR}`` and ``${VAR:-default}`` in configuration files, filled in from the environment.

The integrations and ops files use it for what differs between machines but is no secret (a base URL, a port);
secrets are never substituted into a file's values: they are named by ``*_env`` fields and read when used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Called with (where in the file, the variable's name) when a reference has no value and no default.
MissingVariable = Callable[[str, str], Exception]


def substitute(value: Any, environ: Mapping[str, str], missing: MissingVariable, where: str = "") -> Any:
    """``value`` (parsed YAML) with every reference in its strings replaced; ``missing(where, name)`` is raised for
    a variable that is unset (or empty) and has no default."""
    if isinstance(value, str):
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = environ.get(name)
            if found:
                return found
            if default is not None:
                return default
            raise missing(where, name)
        return ENV_REFERENCE.sub(replace, value)
    if isinstance(value, Mapping):
        return {k: substitute(v, environ, missing, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, environ, missing, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
