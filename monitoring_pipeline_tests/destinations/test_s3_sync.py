"""Copying a day to a real S3-compatible server (moto in server mode, over HTTP on loopback)."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from monitoring_pipeline.destinations.base import DestinationError
from monitoring_pipeline.destinations.s3 import S3Store
from monitoring_pipeline.destinations.sync import DestinationFormat, sync_day, verify_day
from monitoring_pipeline_tests.destinations.conftest import DAY, S3_KEY_ID, S3_SECRET

JSON = DestinationFormat(formats=("json",))


@pytest.fixture
def store(s3_settings):
    store = S3Store(s3_settings)
    yield store
    store.close()


@pytest.fixture
def bucket(s3_settings):
    client = boto3.client(
        "s3", endpoint_url=s3_settings.endpoint_url, region_name="us-east-1",
        aws_access_key_id=S3_KEY_ID, aws_secret_access_key=S3_SECRET,
    )
    yield client
    client.close()


def objects(client, settings) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=settings.bucket).get("Contents", [])
    return {
        o["Key"].removeprefix("dnb/"): client.get_object(Bucket=settings.bucket, Key=o["Key"])["Body"].read()
        for o in listed
    }


def test_upload_then_an_idempotent_rerun(local_day, store, bucket, s3_settings):
    first = sync_day(local_day.engine, local_day.settings, store, JSON, local_day.day, rebuild=False)
    assert first.files_written == 12
    assert objects(bucket, s3_settings) == {p: local_day.read(p) for p in local_day.paths}
    head = bucket.head_object(Bucket=s3_settings.bucket, Key=f"dnb/{local_day.paths[0]}")
    assert head["Metadata"]["sha256"] == hashlib.sha256(local_day.read(local_day.paths[0])).hexdigest()

    again = sync_day(local_day.engine, local_day.settings, store, JSON, local_day.day, rebuild=False)
    assert (again.files_written, again.files_unchanged) == (0, 12)
    rebuild = sync_day(local_day.engine, local_day.settings, store, JSON, local_day.day, rebuild=True)
    assert (rebuild.files_written, rebuild.files_unchanged, len(rebuild.verified)) == (0, 12, 12)
    assert verify_day(local_day.engine, store, JSON, local_day.day, checksums=True) == []


def test_a_rebuild_repairs_deleted_and_replaced_objects_and_removes_strays(local_day, store, bucket, s3_settings):
    engine, day = local_day.engine, local_day.day
    sync_day(engine, local_day.settings, store, JSON, day, rebuild=False)
    deleted, replaced = local_day.paths[2], local_day.paths[3]
    bucket.delete_object(Bucket=s3_settings.bucket, Key=f"dnb/{deleted}")
    size = len(local_day.read(replaced))
    bucket.put_object(Bucket=s3_settings.bucket, Key=f"dnb/{replaced}", Body=b"x" * size)  # no sha256 metadata
    stray = local_day.paths[0].rsplit("/", 1)[0] + "/notifications_20260314_230000_000.json"
    bucket.put_object(Bucket=s3_settings.bucket, Key=f"dnb/{stray}", Body=b"stray")

    problems = verify_day(engine, store, JSON, day, checksums=True)
    assert len(problems) == 3

    rebuild = sync_day(engine, local_day.settings, store, JSON, day, rebuild=True)
    assert sorted(rebuild.paths) == sorted([deleted, replaced]) and rebuild.files_removed == 1
    assert objects(bucket, s3_settings) == {p: local_day.read(p) for p in local_day.paths}
    assert verify_day(engine, store, JSON, day, checksums=True) == []


def test_a_missing_bucket_fails_clearly_without_the_secret(s3_settings, local_day):
    from dataclasses import replace

    store = S3Store(replace(s3_settings, bucket="no-such-bucket-here"))
    with pytest.raises(DestinationError) as raised:
        sync_day(local_day.engine, local_day.settings, store, JSON, local_day.day, rebuild=False)
    message = str(raised.value)
    assert "s3://no-such-bucket-here/dnb" in message and "NoSuchBucket" in message
    assert S3_SECRET not in message
    store.close()


def test_large_files_go_up_as_multipart_uploads_with_their_checksum(sqlite_engine, tmp_path, s3_settings, bucket):
    from dataclasses import replace

    from monitoring_pipeline_tests.destinations.local_day import LocalDay

    local = LocalDay.create(sqlite_engine, tmp_path / "big", DAY, files=2, size=1_400_000)
    store = S3Store(replace(s3_settings, multipart_threshold_bytes=1_000_000))
    result = sync_day(sqlite_engine, local.settings, store, JSON, DAY, rebuild=False)
    assert result.files_written == 2
    for path in local.paths:
        head = bucket.head_object(Bucket=s3_settings.bucket, Key=f"dnb/{path}", ChecksumMode="ENABLED")
        assert head["ETag"].strip('"').endswith("-1")  # a multipart upload (of one part here)
        assert head["Metadata"]["sha256"] == hashlib.sha256(local.read(path)).hexdigest()
        # S3's checksum of a multipart object is of its parts' checksums: computed by the server from the parts.
        one_part = hashlib.sha256(local.read(path)).digest()
        assert head["ChecksumSHA256"].split("-")[0] == b64(hashlib.sha256(one_part).digest())
    assert verify_day(sqlite_engine, store, JSON, DAY, checksums=True) == []

    # Other bytes of the same size, under our metadata copied over: only S3's own checksum tells.
    replaced = local.paths[0]
    head = bucket.head_object(Bucket=s3_settings.bucket, Key=f"dnb/{replaced}")
    bucket.upload_fileobj(io.BytesIO(b"x" * head["ContentLength"]), s3_settings.bucket, f"dnb/{replaced}",
                          ExtraArgs={"Metadata": head["Metadata"], "ChecksumAlgorithm": "SHA256"},
                          Config=TransferConfig(multipart_threshold=1_000_000))
    assert verify_day(sqlite_engine, store, JSON, DAY, checksums=True) == [
        f"{replaced}: sha256 on s3 differs from the manifest"]
    repaired = sync_day(sqlite_engine, local.settings, store, JSON, DAY, rebuild=True)
    assert repaired.paths == [replaced] and verify_day(sqlite_engine, store, JSON, DAY, checksums=True) == []
    store.close()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_the_check_compares_the_checksum_s3_computed_not_our_metadata(local_day, store, bucket, s3_settings):
    engine, day = local_day.engine, local_day.day
    sync_day(engine, local_day.settings, store, JSON, day, rebuild=False)
    for path in local_day.paths:
        head = bucket.head_object(Bucket=s3_settings.bucket, Key=f"dnb/{path}", ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == b64(hashlib.sha256(local_day.read(path)).digest())

    # Someone replaces an object with other bytes of the same size and copies our metadata (sha256) over.
    replaced = local_day.paths[5]
    original = local_day.read(replaced)
    bucket.put_object(Bucket=s3_settings.bucket, Key=f"dnb/{replaced}", Body=bytes(b ^ 1 for b in original),
                      Metadata={"sha256": hashlib.sha256(original).hexdigest()}, ChecksumAlgorithm="SHA256")

    problems = verify_day(engine, store, JSON, day, checksums=True)
    assert problems == [f"{replaced}: sha256 on s3 differs from the manifest"]
    rebuild = sync_day(engine, local_day.settings, store, JSON, day, rebuild=True)
    assert rebuild.paths == [replaced] and rebuild.files_repaired == 1
    assert objects(bucket, s3_settings) == {p: local_day.read(p) for p in local_day.paths}


def test_objects_uploaded_by_older_versions_are_verified_by_their_recorded_sha256(local_day, store, bucket,
                                                                                   s3_settings):
    engine, day = local_day.engine, local_day.day
    sync_day(engine, local_day.settings, store, JSON, day, rebuild=False)
    for path in local_day.paths:  # as the previous version uploaded them: sha256 in metadata, no S3 SHA-256
        data = local_day.read(path)
        bucket.put_object(Bucket=s3_settings.bucket, Key=f"dnb/{path}", Body=data,
                          Metadata={"sha256": hashlib.sha256(data).hexdigest()})
        head = bucket.head_object(Bucket=s3_settings.bucket, Key=f"dnb/{path}", ChecksumMode="ENABLED")
        assert "ChecksumSHA256" not in head

    assert verify_day(engine, store, JSON, day, checksums=True) == []
    rebuild = sync_day(engine, local_day.settings, store, JSON, day, rebuild=True)
    assert (rebuild.files_written, rebuild.files_unchanged, len(rebuild.verified)) == (0, 12, 12)


def test_an_object_the_bucket_refuses_to_delete_fails_the_rebuild_naming_it(local_day, store, bucket, s3_settings):
    engine, day = local_day.engine, local_day.day
    sync_day(engine, local_day.settings, store, JSON, day, rebuild=False)
    stray = local_day.paths[0].rsplit("/", 1)[0] + "/notifications_20260314_230000_000.json"
    bucket.put_object(Bucket=s3_settings.bucket, Key=f"dnb/{stray}", Body=b"stray")
    bucket.put_bucket_policy(Bucket=s3_settings.bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
                       "Resource": f"arn:aws:s3:::{s3_settings.bucket}/dnb/{stray}"}],
    }))

    with pytest.raises(DestinationError) as raised:
        sync_day(engine, local_day.settings, store, JSON, day, rebuild=True)

    message = str(raised.value)
    assert message == f"{store.describe()}: deleting 1 object(s) failed for 1: {stray} (AccessDenied)"
    assert S3_SECRET not in message and S3_KEY_ID not in message
    assert stray in objects(bucket, s3_settings)
