"""Host keys are verified and credentials never leak: against the real sshd."""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest

from monitoring_pipeline.destinations.base import DestinationAuthError, HostKeyError
from monitoring_pipeline.destinations.sftp import SftpSettings
from monitoring_pipeline_tests.destinations.sshd_server import generate_key


@pytest.fixture
def other_key(tmp_path):
    generate_key(tmp_path / "other_ed25519", "someone-else")
    return tmp_path / "other_ed25519"


def test_a_known_host_key_is_accepted(sftp_settings, make_sftp_store):
    store = make_sftp_store(sftp_settings)
    store.connect()
    assert store.list_files("notifications") == []


def test_a_host_missing_from_known_hosts_is_refused_with_its_fingerprint(sftp_settings, make_sftp_store, tmp_path,
                                                                        running_sshd):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as raised:
        make_sftp_store(sftp_settings, known_hosts_path=str(empty)).connect()
    message = str(raised.value)
    assert f"127.0.0.1:{running_sshd.port}" in message
    assert running_sshd.host_fingerprint in message and "not in known_hosts" in message


def test_a_changed_host_key_is_refused(sftp_settings, make_sftp_store, tmp_path, other_key, running_sshd):
    public = other_key.with_suffix(".pub").read_text().split()
    changed = tmp_path / "known_hosts_changed"
    changed.write_text(f"[127.0.0.1]:{running_sshd.port} {public[0]} {public[1]}\n")
    with pytest.raises(HostKeyError) as raised:
        make_sftp_store(sftp_settings, known_hosts_path=str(changed)).connect()
    message = str(raised.value)
    assert "HOST KEY CHANGED" in message and f"127.0.0.1:{running_sshd.port}" in message
    assert running_sshd.host_fingerprint in message


def test_a_pinned_fingerprint_is_checked(sftp_settings, make_sftp_store, running_sshd):
    pinned = dict(known_hosts_path=None, host_key_fingerprint=running_sshd.host_fingerprint)
    make_sftp_store(sftp_settings, **pinned).connect()

    wrong = dict(known_hosts_path=None, host_key_fingerprint="SHA256:" + "A" * 43)
    with pytest.raises(HostKeyError) as raised:
        make_sftp_store(sftp_settings, **wrong).connect()
    assert running_sshd.host_fingerprint in str(raised.value)


def test_accepting_any_host_key_is_an_explicit_and_loud_opt_in(sftp_settings, make_sftp_store, caplog):
    with pytest.raises(ValueError, match="exactly one of known_hosts_path"):
        SftpSettings(**{**sftp_settings.__dict__, "known_hosts_path": None})
    insecure = dict(known_hosts_path=None, insecure_accept_any_host_key=True)
    with caplog.at_level(logging.WARNING):
        make_sftp_store(sftp_settings, **insecure).connect()
    assert "INSECURE: host key verification is OFF" in caplog.text


def test_a_wrong_password_is_a_clear_error_that_never_shows_the_password(
    sftp_settings, make_sftp_store, running_sshd, caplog, capsys
):
    wrong = "Wr0ng-pass-" + running_sshd.password[:6]
    caplog.set_level(logging.DEBUG)  # paramiko's own debug log included
    with pytest.raises(DestinationAuthError) as raised:
        make_sftp_store(sftp_settings, private_key_path=None, password=wrong).connect()
    message = str(raised.value)
    assert f"127.0.0.1:{running_sshd.port}" in message and running_sshd.user in message and "password" in message
    captured = capsys.readouterr()
    for secret in (wrong, running_sshd.password):
        assert secret not in message and secret not in repr(raised.value)
        assert secret not in caplog.text and secret not in captured.out + captured.err

    store = make_sftp_store(sftp_settings, private_key_path=None, password=running_sshd.password)
    store.connect()  # the right password works
    assert running_sshd.password not in caplog.text
    assert running_sshd.password not in repr(store.settings)


def test_a_wrong_key_is_refused(sftp_settings, make_sftp_store, other_key, running_sshd):
    with pytest.raises(DestinationAuthError, match="public key authentication failed"):
        make_sftp_store(sftp_settings, private_key_path=str(other_key)).connect()


def test_a_key_from_the_environment_with_a_passphrase(sftp_settings, make_sftp_store, running_sshd, tmp_path,
                                                     caplog):
    passphrase = "pass-phrase-do-not-print"
    protected = tmp_path / "protected_key"
    shutil.copyfile(running_sshd.client_key, protected)
    protected.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", passphrase, "-f", str(protected)], check=True)
    pem = protected.read_text()
    store = make_sftp_store(sftp_settings, private_key_path=None, private_key=pem, passphrase=passphrase)
    store.connect()

    with pytest.raises(DestinationAuthError) as raised:
        make_sftp_store(sftp_settings, private_key_path=None, private_key=pem, passphrase="not-it-either")
    assert "cannot be loaded" in str(raised.value)
    for secret in (passphrase, "not-it-either", pem[40:80]):
        assert secret not in str(raised.value) and secret not in caplog.text
