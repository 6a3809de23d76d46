"""Structured logs: one JSON object per line for the project's loggers, in every process and inside Dagster runs.

A line holds ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and, when known, the context fields
``registration``, ``duns``, ``notification_type``, ``integration``, ``alert`` and ``destination``; inside a Dagster
run also ``run_id``, ``job``, ``step`` and the Dagster ``event`` type. Context comes from ``extra=`` or from an
enclosing ``log_context``::

    with log_context(registration="REF_1"):
        log.info("landed %d notifications", n)            # {"registration": "REF_1", ...}
    log.warning("probe failed", extra={"integration": "stripe"})

Secrets are redacted by construction, twice: every record of a project logger is redacted when it is created
(``redact_project_records``, installed when the package is imported), so no handler sees the secret (Dagster's
capture into the run's event log and UI included); and every string the JSON formatter writes (message, context,
exception, whatever logger) goes through the redactor again. The redactor knows the values of the variables named
like secrets (``settings.secret_values``), URL passwords, bearer tokens and basic credentials.

JSON is opt-in (``MONITORING_PIPELINE_LOG_FORMAT=json``; the image and prod-local set it); in runs it
is installed by ``python_logs.dagster_handler_config`` of ``dagster.production.yaml``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from monitoring_pipeline.settings import LogSettings, secret_values

PROJECT_LOGGER = "monitoring_pipeline"
CONTEXT_FIELDS = ("registration", "duns", "notification_type", "integration", "alert", "destination")
REDACTED = "[redacted]"

_context: ContextVar[Mapping[str, object]] = ContextVar("monitoring_pipeline_log_context", default={})  # noqa: B039
# The logger (a sensor tick's context.log) the project's records of this thread or task also go to, and from which
# level (``forward_project_logs``).
_forward_to: ContextVar[tuple[logging.Logger, int] | None] = ContextVar("monitoring_pipeline_forward_to",
                                                                        default=None)
_CONTEXT_ATTRIBUTE = "_monitoring_pipeline_context"  # the log_context fields a record was created under
# Credentials that have a recognisable shape whatever variable (if any) they came from.
_PATTERNS = (
    (re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+(?=@)", re.IGNORECASE), rf"\g<keep>{REDACTED}"),
    (re.compile(r"(?P<keep>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE), rf"\g<keep>{REDACTED}"),
    (re.compile(r"(?P<keep>[\"']?(?:access_token|refresh_token|client_secret|password|api_key)[\"']?\s*[:=]\s*"
                r"[\"']?)[^\"'&\s,}]+", re.IGNORECASE), rf"\g<keep>{REDACTED}"),
)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add context fields (registration=, duns=, integration=, alert=, ...) to every line logged inside the block."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields {sorted(unknown)}; expected some of {list(CONTEXT_FIELDS)}")
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """``text`` without any known secret value or credential-shaped substring."""
    for secret in secret_values() if secrets is None else secrets:
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with the context fields, every string redacted (see the module doc)."""

    def format(self, record: logging.LogRecord) -> str:
        secrets = secret_values()
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(_message(record), secrets),
        }
        context = getattr(record, _CONTEXT_ATTRIBUTE, None) or _context.get()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = context.get(name)
            if value is not None:
                entry[name] = value if isinstance(value, int | float | bool) else redact(str(value), secrets)
        entry.update(_dagster_fields(record))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info), secrets)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _message(record: logging.LogRecord) -> str:
    meta = getattr(record, "dagster_meta", None)
    if isinstance(meta, Mapping) and meta.get("orig_message") is not None:
        return str(meta["orig_message"])  # Dagster rewrote record.msg as "job - run - step - message"
    try:
        return record.getMessage()
    except (TypeError, ValueError):  # arguments that do not fit the format: still one line, nothing lost
        return f"{record.msg} {record.args}"


def _dagster_fields(record: logging.LogRecord) -> dict[str, object]:
    """Run, job and step of a record logged inside a Dagster run (Dagster attaches them as ``dagster_meta``)."""
    meta = getattr(record, "dagster_meta", None)
    if not isinstance(meta, Mapping):
        return {}
    event = meta.get("dagster_event")
    fields = {"run_id": meta.get("run_id"), "job": meta.get("job_name"), "step": meta.get("step_key"),
              "event": getattr(event, "event_type_value", None)}
    return {k: v for k, v in fields.items() if v}


def redact_project_records() -> None:
    """Make every log record of the project's loggers carry a redacted message (and exception text) from its
    creation on, whichever handler formats it. Idempotent; installed when ``monitoring_pipeline`` is imported."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_project_records", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        context = _context.get()
        if context:  # kept on the record: a handler may format it later, or in another thread
            setattr(record, _CONTEXT_ATTRIBUTE, context)
        name = record.name or ""  # logging.makeLogRecord() creates records without a name
        if name == PROJECT_LOGGER or name.startswith(PROJECT_LOGGER + "."):
            secrets = secret_values()
            record.msg, record.args = redact(_message(record), secrets), None
            if record.exc_info and record.exc_info[0] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info), secrets)
        return record

    factory.redacts_project_records = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


@contextmanager
def forward_project_logs(target: logging.Logger, level: int = logging.WARNING) -> Iterator[None]:
    """Inside the block, the project's records of ``level`` or above logged by this thread (or task) also go to
    ``target``: a sensor tick's ``context.log``, which Dagster shows with the tick (it captures Python logging only
    inside runs). Ticks of other sensors running at the same time in other threads are not mixed in."""
    _install_forwarding()
    token = _forward_to.set((target, level))
    try:
        yield
    finally:
        _forward_to.reset(token)


class _ForwardingHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if not _other_handlers(record.name) and logging.lastResort and record.levelno >= logging.lastResort.level:
            logging.lastResort.handle(record)  # what Python does when no handler is configured: still done
        forward = _forward_to.get()
        if forward is None or record.levelno < forward[1]:
            return
        token = _forward_to.set(None)  # the target's own handlers never come back here
        try:
            forward[0].log(record.levelno, "%s: %s", record.name, record.getMessage())
        finally:
            _forward_to.reset(token)


def _other_handlers(name: str) -> bool:
    """Whether a record of logger ``name`` reaches a handler other than the forwarding one."""
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        if any(not isinstance(handler, _ForwardingHandler) for handler in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


def _install_forwarding() -> None:
    logger = logging.getLogger(PROJECT_LOGGER)
    if not any(isinstance(handler, _ForwardingHandler) for handler in logger.handlers):
        logger.addHandler(_ForwardingHandler())


def configure_logging(settings: LogSettings) -> None:
    """Send the project's loggers to stderr as JSON lines when ``settings.format`` is ``json`` (else leave Python's
    default handling alone)."""
    logger = logging.getLogger(PROJECT_LOGGER)
    logger.setLevel(settings.level)
    if settings.format != "json":
        return
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
