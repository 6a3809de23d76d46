"""The destinations file: what ships loads, every field of the example is understood, mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring_pipeline.destinations.config import DestinationConfigError, SftpConfig, load_destinations
from monitoring_pipeline.settings import ProjectSettings

CONFIG = Path(__file__).resolve().parents[2] / "config"

VALID = """\
local:
  formats: [json, csv]
destinations:
  partner:
    type: sftp
    host: sftp.example.com
    username: dnb
    remote_base_path: /upload
    password_env: PARTNER_SFTP_PASSWORD
    known_hosts_path: known_hosts
    formats: [csv]
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "known_hosts").write_text("")
    path = tmp_path / "destinations.yaml"
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(DestinationConfigError) as raised:
        load_destinations(path)
    return str(raised.value)


def test_the_shipped_file_enables_no_remote_destination():
    config = load_destinations(CONFIG / "destinations.yaml")
    assert config.enabled == {} and set(config.remotes) == {"sftp", "s3"}
    assert config.local.formats == ("json",) and not config.local.gzip


def test_every_field_of_the_example_is_understood(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text("")
    (home / ".ssh" / "id_ed25519").write_text("")
    monkeypatch.setenv("HOME", str(home))
    config = load_destinations(CONFIG / "destinations.example.yaml")
    assert set(config.enabled) == {"sftp", "archive"}
    sftp = config.enabled["sftp"]
    assert isinstance(sftp, SftpConfig) and sftp.known_hosts_path == str(home / ".ssh" / "known_hosts")
    assert config.local.formats == ("json", "csv", "parquet")


def test_relative_paths_are_taken_from_the_file_folder(tmp_path):
    config = load_destinations(write(tmp_path, VALID))
    assert config.enabled["partner"].known_hosts_path == str(tmp_path / "known_hosts")
    assert config.enabled["partner"].target.formats == ("csv",)


def test_the_environment_overrides_the_local_formats(tmp_path):
    settings = ProjectSettings.from_env({"NOTIFICATION_FORMATS": "json,csv,parquet", "NOTIFICATION_GZIP": "true"})
    local = load_destinations(write(tmp_path, VALID), settings).local
    assert (local.formats, local.gzip) == (("json", "csv", "parquet"), True)
    unset = load_destinations(write(tmp_path, VALID), ProjectSettings.from_env({})).local
    assert (unset.formats, unset.gzip) == (("json", "csv"), False)  # the file's own local section


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (("host: sftp.example.com", "host: sftp.example.com\n    port: 70000"), "destinations.partner.port",
         "an integer of at most 65535, got 70000"),
        (("type: sftp", "type: ftp"), "destinations.partner", "type: sftp or s3, got 'ftp'"),
        (("    type: sftp\n", ""), "destinations.partner", "a 'type' key: sftp or s3"),
        (("remote_base_path: /upload", "remote_base_path: upload"), "destinations.partner.remote_base_path",
         "an absolute remote path such as /upload/dnb, got 'upload'"),
        (("known_hosts_path: known_hosts", "host_key_fingerprint: 'MD5:ab:cd'"),
         "destinations.partner.host_key_fingerprint", "a fingerprint as `ssh-keygen -lf` prints it"),
        (("formats: [csv]", "formats: [parquet]"), "destinations.partner.formats",
         "formats the local export writes (json, csv"),
        (("formats: [json, csv]", "formats: [json, xml]"), "local.formats[1]", "one of json, csv or parquet"),
        (("known_hosts_path: known_hosts", "known_hosts_path: missing"), "destinations.partner.known_hosts_path",
         "an existing file"),
        (("    known_hosts_path: known_hosts\n", ""), "destinations.partner.known_hosts_path",
         "exactly one of known_hosts_path, host_key_fingerprint or insecure_accept_any_host_key"),
        (("    password_env: PARTNER_SFTP_PASSWORD\n", ""), "destinations.partner.private_key_path",
         "a client key"),
        (("host: sftp.example.com", "hostname: sftp.example.com"), "destinations.partner.hostname",
         "a known key (config/destinations.example.yaml shows every field), got unknown key 'hostname' "
         "(did you mean 'host'?)"),
        (("local:", "locale:"), "locale", "did you mean 'local'?"),
        (("host: sftp.example.com", "host: sftp.example.com\n    catch_up_days: -1"),
         "destinations.partner.catch_up_days", "an integer of at least 0"),
        (("  partner:", "  Partner:"), "destinations.Partner", "a destination name"),
        (("  partner:", "  off:"), "destinations", "keys as text (YAML reads unquoted yes, no, on, off"),
        (("  partner:", "  other: 3\n  partner:"), "destinations.other", "a mapping, got 3"),
    ],
)
def test_mistakes_name_the_file_the_field_and_the_expected_form(tmp_path, change, field, expected):
    text = VALID.replace(*change)
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}: {field}: expected ") and expected in message, message


def test_a_mistake_in_an_s3_destination_names_its_field_without_the_union_tag(tmp_path):
    text = VALID + "  s3:\n    type: s3\n    bucket: b\n"
    message = error_of(write(tmp_path, text))
    assert message == f"{tmp_path / 'destinations.yaml'}: destinations.s3.bucket: expected text of at least 3 " \
                      "characters, got 'b'"


@pytest.mark.parametrize("name", ["partner_sftp_password", "PartnerPassword", "PARTNER-PASSWORD", "1PASSWORD"])
def test_environment_variable_names_must_be_upper_case(tmp_path, name):
    message = error_of(write(tmp_path, VALID.replace("PARTNER_SFTP_PASSWORD", name)))
    assert "destinations.partner.password_env: expected the NAME of an environment variable, in upper case " \
           "(e.g. SFTP_PASSWORD)" in message
    assert name not in message  # it may be the secret itself


def test_a_secret_pasted_instead_of_a_variable_name_is_never_echoed(tmp_path):
    for secret in ("'hunter2 is my password'", "sk_live_51HxSECRET"):
        message = error_of(write(tmp_path, VALID.replace("PARTNER_SFTP_PASSWORD", secret)))
        assert "password_env" in message and "NAME of an environment variable" in message
        assert secret.strip("'") not in message


def test_an_s3_variable_name_in_lower_case_is_refused_without_being_echoed(tmp_path):
    text = VALID + ("  archive:\n    type: s3\n    bucket: archive-bucket\n    access_key_id_env: AKIAEXAMPLE\n"
                    "    secret_access_key_env: wJalrXUtnFEMI/K7MDENG\n")
    message = error_of(write(tmp_path, text))
    assert "destinations.archive.secret_access_key_env: expected the NAME of an environment variable" in message
    assert "wJalrXUtnFEMI" not in message


SECRET = "sk_live_51HxSECRET-value"
S3 = "  archive:\n    type: s3\n    bucket: archive-bucket\n"


@pytest.mark.parametrize(("text", "field"), [
    (VALID.replace("    password_env: PARTNER_SFTP_PASSWORD\n", f"    password: {SECRET}\n"), "partner.password"),
    (VALID + f"    private_key: {SECRET}\n", "partner.private_key"),
    (VALID + f"    passphrase: {SECRET}\n", "partner.passphrase"),
    (VALID + S3 + f"    secret_access_key: {SECRET}\n", "archive.secret_access_key"),
    (VALID + S3 + f"    access_key_id: {SECRET}\n", "archive.access_key_id"),
    (VALID + S3 + f"    session_token: {SECRET}\n", "archive.session_token"),
])
def test_a_secret_written_in_the_file_is_refused_with_where_it_belongs(tmp_path, text, field):
    message = error_of(write(tmp_path, text))
    assert message.startswith(f"{tmp_path / 'destinations.yaml'}: destinations.{field}: expected no secret in the "
                              f"file: put it in an environment variable and name that variable with "
                              f"`{field.split('.')[1]}_env: NAME_OF_VARIABLE`"), message
    assert SECRET not in message


def test_a_file_that_is_not_a_mapping_is_named(tmp_path):
    message = error_of(write(tmp_path, "- sftp\n"))
    expected = "expected a mapping with the keys local and destinations, got a list"
    assert message == f"{tmp_path / 'destinations.yaml'}: {expected}"


def test_a_missing_file_is_named(tmp_path):
    assert "a path that does not exist" in error_of(tmp_path / "nope.yaml")


def test_no_file_means_the_local_export_only(tmp_path):
    config = load_destinations(None)
    assert config.remotes == {} and config.local.formats == ("json",)


def test_the_example_is_the_shipped_file_plus_documentation():
    """Guards against the two files drifting: every key of the shipped file appears in the example."""
    shipped = (CONFIG / "destinations.yaml").read_text()
    example = (CONFIG / "destinations.example.yaml").read_text()
    keys = {line.split(":")[0].strip() for line in shipped.splitlines() if ":" in line and not line.startswith("#")}
    assert all(key in example for key in keys - {"sftp", "s3"})
