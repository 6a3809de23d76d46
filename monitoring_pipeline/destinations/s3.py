"""Any S3-compatible object store (AWS S3, MinIO, Ceph, ...) as a destination, through boto3.

A PUT is atomic by nature: an object becomes visible whole when the request completes, never partially,
so no temporary names are needed. Files above ``multipart_threshold_bytes`` go up in parts
(``upload_fileobj``), which S3 also exposes only once completed.

Checksums are the server's: every upload asks S3 for a SHA-256 (``ChecksumAlgorithm``); S3 checks it against
the bytes it received (a single PUT carries ours, so a corrupted upload is refused) and keeps it with the
object. Verifying a day reads it back with one HEAD per object (``ChecksumMode``), not a download. A
multipart object's SHA-256 is of its parts' SHA-256s (``<base64>-<parts>``): we compute the same from our
bytes at upload and record it (``x-amz-meta-sha256-parts``) to compare. Objects uploaded by older versions
have no SHA-256 kept by S3: their sha256 recorded in metadata (``x-amz-meta-sha256``, still written) is what
is compared for them.

botocore retries throttling, 5xx and dropped connections itself (standard mode, bounded attempts);
``retries`` adds up the attempts it reports.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.utils import ChunksizeAdjuster

from monitoring_pipeline.destinations.base import (
    DestinationAuthError,
    DestinationError,
    RemoteFile,
    UploadHook,
    put_in_parallel,
)

log = logging.getLogger(__name__)

SHA256_METADATA = "sha256"
PARTS_METADATA = "sha256-parts"  # the composite SHA-256 S3 computes for a multipart upload, as we expect it
_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_DELETE_BATCH = 1000  # S3's limit per DeleteObjects call
_REFUSALS_SHOWN = 10


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


def composite_sha256(data: bytes, part_size: int) -> str:
    """The SHA-256 S3 computes for ``data`` uploaded in parts of ``part_size``: of the parts' SHA-256s."""
    parts = [hashlib.sha256(data[start : start + part_size]).digest() for start in range(0, len(data), part_size)]
    return f"{base64.b64encode(hashlib.sha256(b''.join(parts)).digest()).decode()}-{len(parts)}"


def stored_sha256(head: dict[str, Any]) -> str:
    """The sha256 (hex) of an object, from a HEAD with ``ChecksumMode`` enabled: the one S3 computed, else the
    one recorded in its metadata (objects uploaded before we asked S3 for checksums); "" when neither fits."""
    metadata = head.get("Metadata") or {}
    recorded = str(metadata.get(SHA256_METADATA, ""))
    checksum = str(head.get("ChecksumSHA256") or "")
    if not checksum:
        log.debug("no SHA-256 kept by S3 (an older upload): comparing the sha256 recorded in its metadata")
        return recorded
    value, _, parts = checksum.partition("-")
    multipart = parts or head.get("ChecksumType") == "COMPOSITE" or "-" in str(head.get("ETag", ""))
    if multipart:
        # Of the parts' checksums: it matches what we computed from our bytes only if S3 holds our bytes.
        return recorded if value and value == str(metadata.get(PARTS_METADATA, "")).partition("-")[0] else ""
    try:
        return base64.b64decode(value, validate=True).hex()
    except ValueError:
        return ""


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
                part_size = ChunksizeAdjuster().adjust_chunksize(self._transfer.multipart_chunksize, len(data))
                metadata = {SHA256_METADATA: sha256, PARTS_METADATA: composite_sha256(data, part_size)}
                self._client.upload_fileobj(
                    io.BytesIO(data), self.settings.bucket, self._key(path),
                    ExtraArgs={"Metadata": metadata, "ChecksumAlgorithm": "SHA256"}, Config=self._transfer,
                )
            else:
                # Our SHA-256 goes with the bytes: S3 refuses the PUT if what it received differs.
                self._count(self._client.put_object(
                    Bucket=self.settings.bucket, Key=self._key(path), Body=data,
                    Metadata={SHA256_METADATA: sha256}, ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(),
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
        """The SHA-256 S3 computed for the stored object (hex); see the module docstring for multipart objects
        and objects uploaded by older versions. "" when it cannot match (an object written by someone else)."""
        try:
            head = self._count(self._client.head_object(
                Bucket=self.settings.bucket, Key=self._key(path), ChecksumMode="ENABLED"
            ))
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise self._error(f"reading {path}", error) from None
        except BotoCoreError as error:
            raise self._error(f"reading {path}", error) from None
        return stored_sha256(head)

    def delete(self, paths: list[str]) -> None:
        refused: list[str] = []
        try:
            for start in range(0, len(paths), _DELETE_BATCH):
                batch = paths[start : start + _DELETE_BATCH]
                response = self._count(self._client.delete_objects(
                    Bucket=self.settings.bucket,
                    Delete={"Objects": [{"Key": self._key(p)} for p in batch], "Quiet": True},
                ))
                # DeleteObjects answers 200 even when it deleted nothing: each refusal is in Errors.
                refused += [f"{self._relative(str(e.get('Key', '')))} ({e.get('Code') or 'error'})"
                            for e in response.get("Errors") or []]
        except (ClientError, BotoCoreError) as error:
            raise self._error(f"deleting {len(paths)} object(s)", error) from None
        if refused:
            shown = ", ".join(refused[:_REFUSALS_SHOWN]) + (", ..." if len(refused) > _REFUSALS_SHOWN else "")
            raise DestinationError(
                f"{self.describe()}: deleting {len(paths)} object(s) failed for {len(refused)}: {shown}"
            )

    def sweep_temporary(self, prefix: str, older_than_seconds: float) -> int:
        return 0  # PUTs leave no temporary objects; S3 expires abandoned multipart parts by lifecycle rule

    def close(self) -> None:
        self._client.close()
