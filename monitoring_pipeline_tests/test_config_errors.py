"""Config errors name file, field and expected form, and never repeat a value that may be a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitoring_pipeline.config_errors import (
    REDACTED,
    ConfigFileError,
    env_field_for,
    environment_variable_name,
    first_problem,
    matching,
    may_hold_secret,
)
from monitoring_pipeline.destinations.config import load_destinations
from monitoring_pipeline.integrations.config import load_integrations

SECRET = "sk_live_51HxSECRET-token"


@pytest.mark.parametrize("field", [
    "destinations.sftp.password", "destinations.sftp.password_env", "destinations.archive.secret_access_key",
    "integrations[0] (stripe).auth.token_env", "integrations[2] (hubspot).auth.client_secret_env",
    "endpoints[1].auth_token", "auth.key_env", "api_key", "passphrase",
])
def test_fields_that_may_hold_a_secret(field):
    assert may_hold_secret(field)


@pytest.mark.parametrize("field", [
    None, "destinations.sftp.private_key_path", "destinations.sftp.host_key_fingerprint", "auth.token_url",
    "auth.header", "integrations[0] (stripe).url", "destinations.sftp.port", "portfolio[3]",
])
def test_fields_that_do_not(field):
    assert not may_hold_secret(field)


def test_the_error_says_what_was_expected_but_not_the_secret():
    error = ConfigFileError(Path("/etc/x.yaml"), "destinations.sftp.password", "no such key", repr(SECRET))
    assert str(error) == f"/etc/x.yaml: destinations.sftp.password: expected no such key, got {REDACTED}"


def test_a_password_pasted_into_the_destinations_file_is_not_echoed(tmp_path):
    path = tmp_path / "destinations.yaml"
    path.write_text(f"destinations:\n  sftp:\n    type: sftp\n    host: h\n    username: u\n"
                    f"    remote_base_path: /up\n    password: {SECRET}\n")
    with pytest.raises(ConfigFileError) as raised:
        load_destinations(path)
    assert "destinations.sftp.password" in str(raised.value) and SECRET not in str(raised.value)


def test_a_token_pasted_where_its_variable_name_belongs_is_not_echoed(tmp_path):
    path = tmp_path / "integrations.yaml"
    path.write_text("integrations:\n  - name: stripe\n    category: payments\n    url: https://api.example/health\n"
                    f"    auth: {{type: bearer, token_env: '{SECRET}'}}\n")
    with pytest.raises(ConfigFileError) as raised:
        load_integrations(path)
    assert "token_env" in str(raised.value) and SECRET not in str(raised.value)


class _Bearer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["bearer"]
    token_env: Annotated[str, environment_variable_name("API_TOKEN")]


class _Basic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["basic"]
    username: str


class _Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, matching(r"^https?://", "an http:// or https:// URL")]
    auth: Annotated[_Bearer | _Basic, Field(discriminator="type")] | None = None


class _File(BaseModel):
    endpoints: list[_Endpoint]


def problem_of(data: object) -> tuple[str | None, str, str | None]:
    with pytest.raises(ValidationError) as raised:
        _File.model_validate(data)
    return first_problem(raised.value, model=_File)


@pytest.mark.parametrize(("data", "problem"), [
    # The union tag pydantic puts in the location (endpoints.1.auth.basic.usernme) is not in the file.
    ({"endpoints": [{"url": "https://a"}, {"url": "https://b", "auth": {"type": "basic", "usernme": "u"}}]},
     ("endpoints[1].auth.usernme", "a known key", "unknown key 'usernme' (did you mean 'username'?)")),
    ({"endpoints": [{"url": "https://a", "auth": {"type": "digest"}}]},
     ("endpoints[0].auth", "type: bearer or basic", "'digest'")),
    ({"endpoints": [{"url": "https://a", "auth": {"username": "u"}}]},
     ("endpoints[0].auth", "a 'type' key: bearer or basic", "none")),
    ({"endpoints": [{"url": "ftp://a"}]}, ("endpoints[0].url", "an http:// or https:// URL", "'ftp://a'")),
    ({"endpoints": [{"url": "https://a", "auth": {"type": "bearer", "token_env": SECRET}}]},
     ("endpoints[0].auth.token_env", "the NAME of an environment variable, in upper case (e.g. API_TOKEN)",
      repr(SECRET))),
])
def test_first_problem_names_the_field_as_the_file_writes_it(data, problem):
    assert problem_of(data) == problem


def test_the_error_built_from_a_bad_variable_name_never_quotes_it(tmp_path):
    field, form, got = problem_of({"endpoints": [{"url": "https://a", "auth": {"type": "bearer",
                                                                                "token_env": SECRET}}]})
    assert SECRET not in str(ConfigFileError(tmp_path / "x.yaml", field, form, got))


@pytest.mark.parametrize(("key", "fields", "env_field"), [
    ("password", ["host", "password_env", "private_key_env"], "password_env"),
    ("private_key", ["password_env", "private_key_env", "private_key_path"], "private_key_env"),
    ("api_key", ["type", "header", "key_env"], "key_env"),  # the field whose name ends as the key's
    ("secret", ["token_url", "client_id", "client_secret_env"], "client_secret_env"),
    ("secret", ["type", "token_env"], "token_env"),  # a secret-looking key, and only one place for a secret
    ("webhook_url", ["channel", "webhook_url_env"], "webhook_url_env"),  # any field with an _env twin
    ("secret", ["password_env", "private_key_env"], None),  # which one? the plain unknown-key message says more
    ("hostname", ["host", "password_env"], None),  # not a secret, no twin: a typo
    ("password_env", ["password_env"], None),  # the field itself
    ("passwd_env", ["password_env"], None),  # a misspelt field, not a secret
])
def test_the_env_field_a_secret_written_in_the_file_belongs_in(key, fields, env_field):
    assert env_field_for(key, fields) == env_field


def test_any_model_refuses_a_secret_in_the_file_and_says_which_field_names_its_variable(tmp_path):
    # The alerting file's models get this by forbidding unknown keys and reporting through first_problem.
    field, form, got = problem_of({"endpoints": [{"url": "https://a", "auth": {"type": "bearer", "token": SECRET}}]})
    error = ConfigFileError(tmp_path / "alerting.yaml", field, form, got)
    assert str(error) == (f"{tmp_path / 'alerting.yaml'}: endpoints[0].auth.token: expected no secret in the file: "
                          f"put it in an environment variable and name that variable with "
                          f"`token_env: NAME_OF_VARIABLE`, got {REDACTED}")
