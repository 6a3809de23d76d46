"""Config errors name file, field and expected form, and never repeat a value that may be a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring_pipeline.config_errors import REDACTED, ConfigFileError, may_hold_secret
from monitoring_pipeline.destinations.config import load_destinations
from monitoring_pipeline.probes.config import load_integrations

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
