"""Validation of D&B identifiers that end up in URLs and file paths (untrusted input)."""

from __future__ import annotations

import re

DUNS_PATTERN = re.compile(r"^[0-9]{9}$")
REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_duns(value: object) -> str:
    """Return ``value`` if it is a 9-digit DUNS string (leading zeros kept), else raise ``ValueError``."""
    if not isinstance(value, str) or not DUNS_PATTERN.match(value):
        raise ValueError(f"DUNS must be a string of exactly 9 digits (leading zeros kept), got {value!r}")
    return value


def validate_reference(value: object) -> str:
    """Return ``value`` if it is a safe registration reference, else raise ``ValueError``.

    References appear in URL paths and in our directory names, so only letters, digits, ``_``, ``.``
    and ``-`` are allowed, starting with a letter or digit (which rules out ``.``, ``..`` and
    separators), at most 64 characters.
    """
    if not isinstance(value, str) or not REFERENCE_PATTERN.match(value) or ".." in value:
        raise ValueError(
            "registration reference must be 1-64 characters of letters, digits, '_', '.' or '-', "
            f"starting with a letter or digit and containing no '..', got {value!r}"
        )
    return value
