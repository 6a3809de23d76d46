"""Annotation templates: Jinja2 in a sandbox, with undefined names as errors.

A template sees ``labels`` (the alert's labels), ``value`` (the observed number, or None), ``details`` (what the
source found, e.g. ``details.cause``), ``rule``, ``severity`` and ``source``. Sandboxed: a configuration file
cannot reach Python internals. Strict: ``{{ labels.integraton }}`` is an error when the configuration is checked,
not an empty string in a page at 3 a.m.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
_ENVIRONMENT.filters["duration"] = lambda seconds: _duration(float(seconds))
_ENVIRONMENT.filters["percent"] = lambda share, digits=1: f"{float(share) * 100:.{int(digits)}f}%"


class TemplateProblem(ValueError):
    """A template that does not compile or refers to something that is not there."""


def compile_template(text: str) -> Any:
    try:
        return _ENVIRONMENT.from_string(text)
    except TemplateError as error:
        raise TemplateProblem(f"a Jinja2 template ({error})") from None


def render(template: Any, context: Mapping[str, Any]) -> str:
    try:
        return str(template.render(**context)).strip()
    except TemplateError as error:
        raise TemplateProblem(str(error)) from None
    except (TypeError, ValueError, ArithmeticError) as error:
        raise TemplateProblem(f"{type(error).__name__}: {error}") from None


def template_context(*, labels: Mapping[str, str], value: float | None, details: Mapping[str, Any], rule: str,
                     severity: str, source: str) -> dict[str, Any]:
    return {"labels": dict(labels), "value": value, "details": dict(details), "rule": rule, "severity": severity,
            "source": source}


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
