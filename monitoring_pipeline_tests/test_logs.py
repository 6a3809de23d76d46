"""Structured logs: JSON lines with context, secrets redacted whatever path they take, the same inside Dagster runs
through dagster.production.yaml's python_logs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
import yaml

from monitoring_pipeline.logs import REDACTED, JsonFormatter, configure_logging, log_context, redact
from monitoring_pipeline.settings import PROJECT_ROOT, LogSettings, SettingsError, secret_values

SECRET = "dnb-secret-3f9a7c"
DB_PASSWORD = "pg-pass-77b1"


@pytest.fixture
def secrets_in_environment(monkeypatch):
    monkeypatch.setenv("DNB_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://monitor:{DB_PASSWORD}@db.internal:5432/monitoring")
    monkeypatch.setenv("DNB_CLIENT_ID", "not-a-secret-id")


def _line(logger_name: str = "monitoring_pipeline.test", **kwargs) -> dict:
    record = logging.getLogger(logger_name).makeRecord(logger_name, logging.WARNING, __file__, 1,
                                                      kwargs.pop("msg", "hello %s"), kwargs.pop("args", ("world",)),
                                                      kwargs.pop("exc_info", None), extra=kwargs.pop("extra", None))
    return json.loads(JsonFormatter().format(record))


def test_a_line_has_the_fields_and_the_context_of_its_block():
    with log_context(registration="REF_1", integration="stripe"), log_context(duns="804735132"):
        line = _line(extra={"alert": 42, "notification_type": "UPDATE"})
    assert line["level"] == "WARNING" and line["logger"] == "monitoring_pipeline.test"
    assert line["message"] == "hello world"
    assert line["timestamp"].endswith("+00:00")
    assert (line["registration"], line["integration"], line["duns"]) == ("REF_1", "stripe", "804735132")
    assert (line["alert"], line["notification_type"]) == (42, "UPDATE")
    assert "registration" not in _line(), "context leaked out of its block"


def test_an_unknown_context_field_is_refused():
    with pytest.raises(ValueError, match="unknown log context fields"), log_context(password="x"):
        pass


def test_secrets_are_redacted_from_message_context_and_exception(secrets_in_environment):
    try:
        raise RuntimeError(f"token refused for secret {SECRET}")
    except RuntimeError:
        import sys

        exc_info = sys.exc_info()
    line = _line(msg="connecting to %s with %s", args=(f"postgresql://monitor:{DB_PASSWORD}@db/x", SECRET),
                 extra={"registration": f"REF {SECRET}"}, exc_info=exc_info)
    text = json.dumps(line)
    assert SECRET not in text and DB_PASSWORD not in text
    assert line["message"] == f"connecting to postgresql://monitor:{REDACTED}@db/x with {REDACTED}"
    assert REDACTED in line["registration"] and REDACTED in line["exception"]
    assert "not-a-secret-id" not in secret_values()  # an id is not a secret


def test_flags_and_numbers_are_not_secrets_whatever_their_variable_is_called():
    values = secret_values({"SLACK_WEBHOOK_ENABLED": "true", "TOKEN_TTL_SECONDS": "3600", "API_KEY": "k-0123456789"})
    assert values == ["k-0123456789"]


def test_credentials_of_a_recognisable_shape_are_redacted_without_being_configured():
    text = redact('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def and {"access_token": "tok-123456", '
                  '"password": "hunter22"} https://user:pw123456@host/x', secrets=[])
    assert "eyJhbGci" not in text and "tok-123456" not in text and "hunter22" not in text and "pw123456" not in text
    assert text.count(REDACTED) == 4


def test_json_is_opt_in(monkeypatch, capfd):
    logger = logging.getLogger("monitoring_pipeline")
    before = list(logger.handlers), logger.propagate
    try:
        configure_logging(LogSettings())
        assert logger.handlers == before[0], "the text default changed the project's logging"
        configure_logging(LogSettings.from_env({"MONITORING_PIPELINE_LOG_FORMAT": "json"}))
        logging.getLogger("monitoring_pipeline.landing").warning("landed %d", 3, extra={"registration": "R"})
        line = json.loads(capfd.readouterr().err.strip().splitlines()[-1])
        assert (line["message"], line["registration"]) == ("landed 3", "R")
    finally:
        logger.handlers[:] = before[0]
        logger.propagate = before[1]
    with pytest.raises(SettingsError, match="MONITORING_PIPELINE_LOG_FORMAT"):
        LogSettings.from_env({"MONITORING_PIPELINE_LOG_FORMAT": "xml"})


RUN_IN_ITS_OWN_PROCESS = """
import logging, json, sys
import dagster as dg
from monitoring_pipeline.logs import log_context

@dg.asset
def landed_day(context):
    with log_context(registration="REF_RUN"):
        logging.getLogger("monitoring_pipeline.notifications.landing").info("pulled with %s", sys.argv[2])
    context.log.info("day done")

with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
    result = dg.materialize([landed_day], instance=instance)
    captured = [entry.user_message for entry in instance.all_logs(result.run_id)]  # what the UI shows
print(json.dumps({"success": result.success, "run_id": result.run_id, "captured": captured}))
"""


def test_inside_a_run_the_project_loggers_write_json_lines_with_run_and_step(tmp_path, secrets_in_environment):
    """A run is a process of its own, configured by dagster.yaml's python_logs alone (as in production): so is this
    one, whatever logging the test process has set up."""
    production = yaml.safe_load((PROJECT_ROOT / "dagster.production.yaml").read_text())
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"python_logs": production["python_logs"]}))
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", RUN_IN_ITS_OWN_PROCESS, str(tmp_path), SECRET],
                          capture_output=True, text=True, timeout=120, check=True)
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["success"]
    captured = " ".join(outcome["captured"])
    assert f"pulled with {REDACTED}" in captured and SECRET not in captured
    assert SECRET not in done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    ours = next(line for line in lines if line["message"] == f"pulled with {REDACTED}")
    assert ours["registration"] == "REF_RUN" and ours["step"] == "landed_day"
    assert ours["run_id"] == outcome["run_id"] and ours["logger"] == "monitoring_pipeline.notifications.landing"
    assert any(line["message"] == "day done" and line["run_id"] == outcome["run_id"] for line in lines)
