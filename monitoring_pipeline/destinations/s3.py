"""Any S3-compatible object store (AWS S3, MinIO, Ceph, ...) as a destination, through boto3.

A PUT is atomic by nature: an object becomes visible whole when the request completes, never partially,
so no temporary names are needed. Files above ``multipart_threshold_bytes`` go up in parts
(``upload_fileobj``), which S3 also exposes only once completed. Each object carries its sha256 in
its metadata (``x-amz-meta-sha256``), so verifying a day costs one HEAD per file, not a download.
botocore retries throttling, 5xx and dropped connections itself (standard mode, bounded attempts);
``retries`` adds up the attempts it reports.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from monitoring_pipeline.destinations.base import (
    DestinationAuthError,
    DestinationError,
    RemoteFile,
    UploadHook,
    put_in_parallel,
)

SHA256_METADATA = "sha256"
_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_DELETE_BATCH = 1000  # S3's limit per DeleteObjects call


def describe_s3(bucket: str, prefix: str, endpoint_url: str | None) -> str:
    """Where an S3 destination is, without credentials: safe for logs, metadata and the status table."""
    where = f"s3://{bucket}/{prefix.strip('/')}".rstrip("/")
    return where + (f" at {endpoint_url}" if endpoint_url else "")


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None  # MinIO, Ceph, moto...; None for AWS
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    max_attempts: int = 5
    connect_timeout_seconds: float = 15.0
    read_timeout_seconds: float = 60.0
    multipart_threshold_bytes: int = 16 * 1024 * 1024
    parallel_uploads: int = 8
    name: str = "s3"

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ValueError(f"S3 destination {self.name!r}: bucket: expected a bucket name")
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError(
                f"S3 destination {self.name!r}: expected both access_key_id and secret_access_key, or neither "
                f"(then boto3's default credential chain applies: instance role, AWS_* variables, ...)"
            )


class S3Store:
    """Notification files as objects ``<prefix>/<path>`` in one bucket."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.name = settings.name
        self.retries = 0
        self._lock = threading.Lock()
        session = boto3.session.Session(
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            aws_session_token=settings.session_token,
            region_name=settings.region,
        )
        self._client = session.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            config=Config(
                retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
                max_pool_connections=max(10, settings.parallel_uploads),
                # Path-style works with every S3-compatible server; AWS accepts it too.
                s3={"addressing_style": "path"},
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=settings.multipart_threshold_bytes, use_threads=False
        )

    def describe(self) -> str:
        return describe_s3(self.settings.bucket, self.settings.prefix, self.settings.endpoint_url)

    def _key(self, path: str) -> str:
        if path.startswith("/") or ".." in path.split("/"):
            raise DestinationError(f"{self.describe()}: refusing a path outside the prefix: {path!r}")
        prefix = self.settings.prefix.strip("/")
        return f"{prefix}/{path}" if prefix else path

    def _relative(self, key: str) -> str:
        prefix = self.settings.prefix.strip("/")
        return key[len(prefix) + 1 :] if prefix else key

    def _count(self, response: dict[str, Any]) -> dict[str, Any]:
        attempts = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
        if attempts:
            with self._lock:
                self.retries += attempts
        return response

    def _error(self, what: str, error: Exception) -> DestinationError:
        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = f"{self.describe()}: {what} failed: {code or 'error'} (HTTP {status})"
            return DestinationAuthError(message) if code in _AUTH_CODES else DestinationError(message)
        return DestinationError(f"{self.describe()}: {what} failed: {type(error).__name__}: {error}")

    def connect(self) -> None:
        """Check the bucket is reachable with these credentials (HEAD bucket)."""
        try:
            self._count(self._client.head_bucket(Bucket=self.settings.bucket))
        except (ClientError, BotoCoreError) as error:
            raise self._error("reaching the bucket", error) from None

    def put(self, path: str, data: bytes, sha256: str) -> None:
        try:
            if len(data) >= self.settings.multipart_threshold_bytes:
                self._client.upload_fileobj(
                    io.BytesIO(data), self.settings.bucket, self._key(path),
                    ExtraArgs={"Metadata": {SHA256_METADATA: sha256}}, Config=self._transfer,
                )
            else:
                self._count(self._client.put_object(
                    Bucket=self.settings.bucket, Key=self._key(path), Body=data,
                    Metadata={SHA256_METADATA: sha256},
                ))
        except (ClientError, BotoCoreError) as error:
            raise self._error(f"uploading {path}", error) from None

    def put_many(self, items: list[tuple[str, bytes, str]], on_stored: UploadHook | None = None) -> None:
        put_in_parallel(self.put, items, on_stored, self.settings.parallel_uploads, f"s3-{self.name}")

    def list_files(self, prefix: str) -> list[RemoteFile]:
        files: list[RemoteFile] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=self._key(prefix).rstrip("/") + "/"):
                self._count(page)
                files.extend(RemoteFile(self._relative(o["Key"]), int(o["Size"])) for o in page.get("Contents", []))
        except (ClientError, BotoCoreError) as error:
            raise self._error(f"listing {prefix}", error) from None
        return sorted(files)

    def sha256(self, path: str) -> str | None:
        try:
            head = self._count(self._client.head_object(Bucket=self.settings.bucket, Key=self._key(path)))
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise self._error(f"reading {path}", error) from None
        except BotoCoreError as error:
            raise self._error(f"reading {path}", error) from None
        # An object written by someone else has no recorded checksum: "" never matches, so it is re-uploaded.
        return str(head.get("Metadata", {}).get(SHA256_METADATA, ""))

    def delete(self, paths: list[str]) -> None:
        try:
            for start in range(0, len(paths), _DELETE_BATCH):
                batch = paths[start : start + _DELETE_BATCH]
                self._count(self._client.delete_objects(
                    Bucket=self.settings.bucket,
                    Delete={"Objects": [{"Key": self._key(p)} for p in batch], "Quiet": True},
                ))
        except (ClientError, BotoCoreError) as error:
            raise self._error(f"deleting {len(paths)} object(s)", error) from None

    def sweep_temporary(self, prefix: str, older_than_seconds: float) -> int:
        return 0  # PUTs leave no temporary objects; S3 expires abandoned multipart parts by lifecycle rule

    def close(self) -> None:
        self._client.close()
