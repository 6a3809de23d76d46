"""Destinations declared in one place: ``config/destinations.yaml`` (or ``$MONITORING_PIPELINE_DESTINATIONS``).

The file sets the local export's formats and lists remote destinations (SFTP servers, S3-compatible
buckets), several at once, each with its own formats and gzip option. Secrets are never in the file:
it names the environment variables that hold them (``password_env: SFTP_PASSWORD``), and the resources
read them as ``dg.EnvVar``s. A bad file stops the code location from loading with the file, the field
and the expected form in the message.

Precedence for the local export: ``NOTIFICATION_FORMATS`` / ``NOTIFICATION_GZIP`` when set, else the
file's ``local.formats`` / ``local.gzip``, else JSON without gzip. A remote destination takes a subset
of what the local export writes (it copies local files; it converts gzip on the way if asked).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from monitoring_pipeline.config_errors import (
    KNOWN_KEY,
    ConfigFileError,
    describe,
    environment_variable_name,
    first_problem,
    matching,
)
from monitoring_pipeline.destinations.s3 import describe_s3
from monitoring_pipeline.destinations.sftp import describe_sftp
from monitoring_pipeline.destinations.sync import DestinationFormat
from monitoring_pipeline.notifications.files import FORMATS
from monitoring_pipeline.settings import ProjectSettings

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
NAME_EXPECTED = "a destination name of 1-32 lower-case letters, digits or '_', starting with a letter, not 'local'"


class DestinationConfigError(ConfigFileError):
    """A destinations file that cannot be used: names the file, the field and what is expected."""


Formats = Annotated[list[Literal["json", "csv", "parquet"]], Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalConfig(_Model):
    formats: Formats | None = None
    gzip: StrictBool | None = None


class _Remote(_Model):
    enabled: StrictBool = True
    formats: Formats = ["json"]
    gzip: StrictBool = False
    max_attempts: Annotated[StrictInt, Field(ge=1, le=20)] = 5
    connect_timeout_seconds: Annotated[float, Field(gt=0)] = 15.0
    catch_up_days: Annotated[StrictInt, Field(ge=0, le=366)] = 14

    @property
    def target(self) -> DestinationFormat:
        return DestinationFormat(formats=tuple(f for f in FORMATS if f in self.formats), gzip=self.gzip)


class SftpConfig(_Remote):
    type: Literal["sftp"]
    host: Annotated[StrictStr, Field(min_length=1)]
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = 22
    username: Annotated[StrictStr, Field(min_length=1)]
    remote_base_path: Annotated[StrictStr, matching(r"^/", "an absolute remote path such as /upload/dnb")]
    password_env: Annotated[StrictStr, environment_variable_name("SFTP_PASSWORD")] | None = None
    private_key_env: Annotated[StrictStr, environment_variable_name("SFTP_PRIVATE_KEY")] | None = None
    private_key_path: StrictStr | None = None
    passphrase_env: Annotated[StrictStr, environment_variable_name("SFTP_KEY_PASSPHRASE")] | None = None
    known_hosts_path: StrictStr | None = None
    host_key_fingerprint: Annotated[StrictStr, matching(
        r"^SHA256:[A-Za-z0-9+/]{43}=?$", "a fingerprint as `ssh-keygen -lf` prints it: SHA256: and 43 base64 characters"
    )] | None = None
    insecure_accept_any_host_key: StrictBool = False
    parallel_sessions: Annotated[StrictInt, Field(ge=1, le=32)] = 4
    keepalive_seconds: Annotated[StrictInt, Field(ge=0)] = 30

    def describe(self) -> str:
        return describe_sftp(self.username, self.host, self.port, self.remote_base_path)


class S3Config(_Remote):
    type: Literal["s3"]
    bucket: Annotated[StrictStr, Field(min_length=3, max_length=63)]
    prefix: StrictStr = ""
    region: StrictStr | None = None
    endpoint_url: Annotated[StrictStr, matching(r"^https?://", "an http:// or https:// URL")] | None = None
    access_key_id_env: Annotated[StrictStr, environment_variable_name("ARCHIVE_ACCESS_KEY_ID")] | None = None
    secret_access_key_env: Annotated[StrictStr, environment_variable_name("ARCHIVE_SECRET_ACCESS_KEY")] | None = None
    session_token_env: Annotated[StrictStr, environment_variable_name("ARCHIVE_SESSION_TOKEN")] | None = None
    parallel_uploads: Annotated[StrictInt, Field(ge=1, le=64)] = 8
    multipart_threshold_mb: Annotated[StrictInt, Field(ge=5)] = 16

    def describe(self) -> str:
        return describe_s3(self.bucket, self.prefix, self.endpoint_url)


RemoteConfig = Annotated[SftpConfig | S3Config, Field(discriminator="type")]


class _File(_Model):
    local: LocalConfig = LocalConfig()
    destinations: dict[str, RemoteConfig] = {}


class DestinationsConfig(_Model):
    """The validated file: the local export's format and every remote destination by name."""

    source: Path | None
    local: DestinationFormat
    remotes: dict[str, SftpConfig | S3Config]

    @property
    def enabled(self) -> dict[str, SftpConfig | S3Config]:
        return {name: config for name, config in self.remotes.items() if config.enabled}


def load_destinations(path: Path | None, settings: ProjectSettings | None = None) -> DestinationsConfig:
    """Read and validate the destinations file (None: local export only). ``settings`` (NOTIFICATION_FORMATS,
    NOTIFICATION_GZIP) override the file's local formats and gzip when set."""
    parsed = _File()
    if path is not None:
        parsed = _parse(Path(path))
    local = _local_format(parsed.local, settings)
    for name, remote in parsed.destinations.items():
        where = f"destinations.{name}"
        if not NAME_PATTERN.match(name) or name == "local":
            raise DestinationConfigError(Path(str(path)), where, NAME_EXPECTED, repr(name))
        if remote.enabled:
            _check_enabled(Path(str(path)), where, remote, local)
    remotes = {name: _resolved(Path(str(path)), remote) for name, remote in parsed.destinations.items()}
    return DestinationsConfig(source=path, local=local, remotes=remotes)


def _parse(path: Path) -> _File:
    if not path.is_file():
        raise DestinationConfigError(path, None, "a destinations YAML file", "a path that does not exist")
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise DestinationConfigError(
            path, f"line {mark.line + 1}" if mark else None, "valid YAML", str(getattr(error, "problem", error))
        ) from None
    if not isinstance(raw, Mapping):
        raise DestinationConfigError(path, None, "a mapping with the keys local and destinations", describe(raw))
    try:
        return _File.model_validate(raw)
    except ValidationError as error:
        field, form, got = first_problem(error, model=_File)
        if form == KNOWN_KEY:
            form += " (config/destinations.example.yaml shows every field)"
        raise DestinationConfigError(path, field, form, got) from None


def _local_format(config: LocalConfig, settings: ProjectSettings | None) -> DestinationFormat:
    formats = tuple(config.formats or ("json",))
    if settings is not None and settings.formats is not None:
        formats = settings.formats
    gzip = settings.gzip if settings is not None and settings.gzip is not None else bool(config.gzip)
    return DestinationFormat(formats=tuple(f for f in FORMATS if f == "json" or f in formats), gzip=gzip)


def _check_enabled(path: Path, where: str, remote: SftpConfig | S3Config, local: DestinationFormat) -> None:
    missing = [f for f in remote.formats if f not in local.formats]
    if missing:
        raise DestinationConfigError(
            path, f"{where}.formats",
            f"formats the local export writes ({', '.join(local.formats)}; set local.formats or NOTIFICATION_FORMATS "
            f"to add {', '.join(missing)})",
            repr(list(remote.formats)),
        )
    if isinstance(remote, SftpConfig):
        modes = [remote.known_hosts_path, remote.host_key_fingerprint, remote.insecure_accept_any_host_key]
        if sum(bool(m) for m in modes) != 1:
            raise DestinationConfigError(
                path, f"{where}.known_hosts_path",
                "exactly one of known_hosts_path, host_key_fingerprint or insecure_accept_any_host_key: true "
                "(host keys are verified; the last is for local testing only)",
                f"{sum(bool(m) for m in modes)} of them",
            )
        if not (remote.password_env or remote.private_key_env or remote.private_key_path):
            raise DestinationConfigError(
                path, f"{where}.private_key_path", "a client key (private_key_path or private_key_env) or password_env",
                "none",
            )
        if remote.private_key_env and remote.private_key_path:
            raise DestinationConfigError(
                path, f"{where}.private_key_env", "either private_key_env or private_key_path, not both", "both"
            )
        for name in ("known_hosts_path", "private_key_path"):
            value = getattr(remote, name)
            if value and not _resolve(path, value).is_file():
                raise DestinationConfigError(path, f"{where}.{name}", "an existing file", repr(value))
    elif bool(remote.access_key_id_env) != bool(remote.secret_access_key_env):
        raise DestinationConfigError(
            path, f"{where}.secret_access_key_env",
            "both access_key_id_env and secret_access_key_env, or neither (boto3's default credential chain)",
            "only one",
        )


def _resolve(path: Path, value: str) -> Path:
    """A path from the file: ``~`` expanded, relative ones taken from the file's folder."""
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (path.parent / candidate).resolve()


def _resolved(path: Path, remote: SftpConfig | S3Config) -> SftpConfig | S3Config:
    if isinstance(remote, SftpConfig):
        updates = {
            name: str(_resolve(path, getattr(remote, name)))
            for name in ("known_hosts_path", "private_key_path")
            if getattr(remote, name)
        }
        return remote.model_copy(update=updates)
    return remote
