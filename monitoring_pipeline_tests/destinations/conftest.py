"""Real servers for the destination tests: OpenSSH's sshd and an S3-compatible server (moto), both on loopback."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from monitoring_pipeline.destinations.s3 import S3Settings
from monitoring_pipeline.destinations.sftp import SftpSettings, SftpStore
from monitoring_pipeline_tests.destinations.local_day import LocalDay
from monitoring_pipeline_tests.destinations.sshd_server import SshdServer, SshdUnavailable

DAY = date(2026, 3, 14)
S3_KEY_ID, S3_SECRET = "test-key-id", "test-s3-secret-do-not-print"


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshdServer]:
    """One sshd for the session (restarted by tests that kill it); its files in a private temp folder."""
    workdir = Path(tempfile.mkdtemp(prefix="mp-sshd-"))
    try:
        server = SshdServer.create(workdir).start()
    except SshdUnavailable as error:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(str(error))  # never a silent skip: CI must have what the tests need
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def running_sshd(sshd: SshdServer) -> Iterator[SshdServer]:
    """The session's sshd, started if a previous test left it down, and restarted after this test."""
    sshd.start()
    yield sshd
    sshd.start()


def settings_for(server: SshdServer) -> SftpSettings:
    """Key authentication, known_hosts verification, a fresh remote base folder, quick retries."""
    return SftpSettings(
        host=server.host,
        port=server.port,
        username=server.user,
        remote_base_path=f"{server.remote_root}/{uuid.uuid4().hex[:10]}",
        private_key_path=str(server.client_key),
        known_hosts_path=str(server.known_hosts),
        max_attempts=3,
        initial_backoff_seconds=0.05,
        max_backoff_seconds=0.2,
        connect_timeout_seconds=5,
    )


@pytest.fixture
def sftp_settings(running_sshd: SshdServer) -> SftpSettings:
    return settings_for(running_sshd)


# Files the full server's disk takes, in bytes (see full_sshd).
FULL_AT = 64 * 1024


@pytest.fixture(scope="module")
def full_sshd() -> Iterator[SshdServer]:
    """An sshd of its own whose files cannot grow beyond FULL_AT bytes (RLIMIT_FSIZE): a write beyond fails
    on the server as on a full disk or a quota (sftp-server answers SSH_FX_FAILURE)."""
    workdir = Path(tempfile.mkdtemp(prefix="mp-sshd-full-"))
    try:
        server = SshdServer.create(workdir, file_size_limit=FULL_AT).start()
    except SshdUnavailable as error:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(str(error))
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def make_sftp_store() -> Iterator[Callable[..., SftpStore]]:
    stores: list[SftpStore] = []

    def build(settings: SftpSettings, **overrides: object) -> SftpStore:
        store = SftpStore(replace(settings, **overrides))  # type: ignore[arg-type]
        stores.append(store)
        return store

    yield build
    for store in stores:
        store.close()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3-compatible server in a thread on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(moto_endpoint: str) -> S3Settings:
    """A fresh bucket on the moto server."""
    bucket = f"mp-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1",
        aws_access_key_id=S3_KEY_ID, aws_secret_access_key=S3_SECRET,
    )
    client.create_bucket(Bucket=bucket)
    client.close()
    return S3Settings(
        bucket=bucket, prefix="dnb", region="us-east-1", endpoint_url=moto_endpoint,
        access_key_id=S3_KEY_ID, secret_access_key=S3_SECRET, max_attempts=2,
    )


@pytest.fixture
def local_day(sqlite_engine, tmp_path: Path) -> LocalDay:
    """A day of local notification files with their manifest rows, as notification_files leaves them."""
    return LocalDay.create(sqlite_engine, tmp_path / "data", DAY, files=12)
