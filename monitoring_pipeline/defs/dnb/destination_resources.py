"""Dagster resources for remote destinations: configuration over ``SftpStore`` / ``S3Store``, secrets as EnvVars.

Each run builds its store lazily on first use and closes it at teardown: one SFTP connection (or one
S3 client) serves every day of the run.
"""


from typing import ClassVar

import dagster as dg
from pydantic import Field, PrivateAttr

from monitoring_pipeline.destinations.base import RemoteStore
from monitoring_pipeline.destinations.config import S3Config, SftpConfig
from monitoring_pipeline.destinations.s3 import S3Settings, S3Store, describe_s3
from monitoring_pipeline.destinations.sftp import SftpSettings, SftpStore, describe_sftp
from monitoring_pipeline.destinations.sync import DestinationFormat
from monitoring_pipeline.notifications.files import FORMATS


class RemoteDestinationResource(dg.ConfigurableResource):
    """What every remote destination resource has: a name, the formats it takes, retry bounds."""

    kind: ClassVar[str] = ""

    name: str = Field(description="Destination name: the manifest's destination column and the asset's prefix.")
    formats: list[str] = Field(default=["json"], description="Formats copied: a subset of json, csv, parquet.")
    gzip: bool = Field(default=False, description="Store JSON and CSV gzipped (converted on the way if needed).")
    max_attempts: int = Field(default=5, ge=1, description="Attempts per operation when the connection is lost.")
    initial_backoff_seconds: float = Field(default=1.0, gt=0, description="First retry delay; doubles each time.")
    connect_timeout_seconds: float = Field(default=15.0, gt=0)

    _store: RemoteStore | None = PrivateAttr(default=None)

    def target(self) -> DestinationFormat:
        return DestinationFormat(formats=tuple(f for f in FORMATS if f in self.formats), gzip=self.gzip)

    def describe(self) -> str:
        """Where the destination is, without credentials (safe for logs, metadata and the status table)."""
        raise NotImplementedError

    def build_store(self) -> RemoteStore:
        raise NotImplementedError

    def get_store(self) -> RemoteStore:
        """The run's store, built on first use (so a broken destination fails inside its own asset)."""
        if self._store is None:
            self._store = self.build_store()
        return self._store

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class SftpDestinationResource(RemoteDestinationResource):
    """An SFTP server (paramiko) with verified host keys; pass secrets as dg.EnvVar."""

    kind: ClassVar[str] = "sftp"

    host: str
    port: int = 22
    username: str
    remote_base_path: str = Field(description="Absolute remote directory; files go to <it>/notifications/YYYY/...")
    password: str | None = Field(default=None, description="dg.EnvVar holding the password, if any.")
    private_key: str | None = Field(default=None, description="dg.EnvVar holding a PEM/OpenSSH private key.")
    private_key_path: str | None = Field(default=None, description="Path of a private key file.")
    passphrase: str | None = Field(default=None, description="dg.EnvVar holding the key's passphrase.")
    known_hosts_path: str | None = Field(default=None, description="known_hosts listing the server's key.")
    host_key_fingerprint: str | None = Field(default=None, description="Pinned 'SHA256:...' host key fingerprint.")
    insecure_accept_any_host_key: bool = Field(
        default=False, description="INSECURE, local testing only: accept any host key (logged loudly)."
    )
    parallel_sessions: int = Field(default=4, ge=1, description="SFTP sessions (channels) of the one connection.")
    keepalive_seconds: int = Field(default=30, ge=0)

    def describe(self) -> str:
        return describe_sftp(self.username, self.host, self.port, self.remote_base_path)

    def build_store(self) -> SftpStore:
        return SftpStore(
            SftpSettings(
                name=self.name,
                host=self.host,
                port=self.port,
                username=self.username,
                remote_base_path=self.remote_base_path,
                password=self.password or None,
                private_key=self.private_key or None,
                private_key_path=self.private_key_path or None,
                passphrase=self.passphrase or None,
                known_hosts_path=self.known_hosts_path or None,
                host_key_fingerprint=self.host_key_fingerprint or None,
                insecure_accept_any_host_key=self.insecure_accept_any_host_key,
                connect_timeout_seconds=self.connect_timeout_seconds,
                keepalive_seconds=self.keepalive_seconds,
                max_attempts=self.max_attempts,
                initial_backoff_seconds=self.initial_backoff_seconds,
                parallel_sessions=self.parallel_sessions,
            )
        )


class S3DestinationResource(RemoteDestinationResource):
    """An S3-compatible bucket (boto3); pass credentials as dg.EnvVar or leave them to boto3's default chain."""

    kind: ClassVar[str] = "s3"

    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = Field(default=None, description="MinIO/Ceph/... endpoint; unset for AWS.")
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    parallel_uploads: int = Field(default=8, ge=1)
    multipart_threshold_mb: int = Field(default=16, ge=5)

    def describe(self) -> str:
        return describe_s3(self.bucket, self.prefix, self.endpoint_url)

    def build_store(self) -> S3Store:
        return S3Store(
            S3Settings(
                name=self.name,
                bucket=self.bucket,
                prefix=self.prefix,
                region=self.region or None,
                endpoint_url=self.endpoint_url or None,
                access_key_id=self.access_key_id or None,
                secret_access_key=self.secret_access_key or None,
                session_token=self.session_token or None,
                max_attempts=self.max_attempts,
                connect_timeout_seconds=self.connect_timeout_seconds,
                parallel_uploads=self.parallel_uploads,
                multipart_threshold_bytes=self.multipart_threshold_mb * 1024 * 1024,
            )
        )


def _env(name: str | None) -> dg.EnvVar | None:
    return dg.EnvVar(name) if name else None


def destination_resource(name: str, config: SftpConfig | S3Config) -> RemoteDestinationResource:
    """The resource for one configured destination; secrets are EnvVars naming the configured variables."""
    common = {
        "name": name,
        "formats": list(config.target.formats),
        "gzip": config.gzip,
        "max_attempts": config.max_attempts,
        "connect_timeout_seconds": config.connect_timeout_seconds,
    }
    if isinstance(config, SftpConfig):
        return SftpDestinationResource(
            **common,
            host=config.host,
            port=config.port,
            username=config.username,
            remote_base_path=config.remote_base_path,
            password=_env(config.password_env),
            private_key=_env(config.private_key_env),
            private_key_path=config.private_key_path,
            passphrase=_env(config.passphrase_env),
            known_hosts_path=config.known_hosts_path,
            host_key_fingerprint=config.host_key_fingerprint,
            insecure_accept_any_host_key=config.insecure_accept_any_host_key,
            parallel_sessions=config.parallel_sessions,
            keepalive_seconds=config.keepalive_seconds,
        )
    return S3DestinationResource(
        **common,
        bucket=config.bucket,
        prefix=config.prefix,
        region=config.region,
        endpoint_url=config.endpoint_url,
        access_key_id=_env(config.access_key_id_env),
        secret_access_key=_env(config.secret_access_key_env),
        session_token=_env(config.session_token_env),
        parallel_uploads=config.parallel_uploads,
        multipart_threshold_mb=config.multipart_threshold_mb,
    )
