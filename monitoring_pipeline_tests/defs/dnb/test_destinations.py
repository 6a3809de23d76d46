"""Destination assets in Dagster: the real pipeline (emulator → landing → local files) copying to a real sshd and S3
server; a broken server fails only its own asset and check, and the next run catches up."""

from __future__ import annotations

import gzip
import importlib
import itertools
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

import monitoring_pipeline.definitions
from monitoring_pipeline.defs.dnb.destination_resources import S3DestinationResource, SftpDestinationResource
from monitoring_pipeline.defs.dnb.destinations import build_destination_asset
from monitoring_pipeline.defs.dnb.sensors import build_catch_up_sensors
from monitoring_pipeline.defs.dnb.specs import CATCH_UP_TRIGGER, LANDING_TRIGGER, TRIGGER_TAG
from monitoring_pipeline.destinations.config import SftpConfig
from monitoring_pipeline.destinations.status import destination_states
from monitoring_pipeline.notifications.files import company_changes_path, day_prefix, day_prefixes
from monitoring_pipeline_tests.defs.dnb.pipeline import build_pipeline, today
from monitoring_pipeline_tests.destinations.conftest import S3_KEY_ID, S3_SECRET
from monitoring_pipeline_tests.destinations.sshd_server import free_port

REFERENCE = "DEST_A"


@pytest.fixture
def pipeline(emulator, engine, tmp_path):
    pipeline = build_pipeline(emulator.url, engine, tmp_path, [REFERENCE])
    pipeline.admin.create_registration(REFERENCE, subjects=["001017545", "213310873"])
    pipeline.admin.generate(REFERENCE, 60)
    pipeline.tick()
    return pipeline


def sftp_resource(server, base: str, **overrides) -> SftpDestinationResource:
    config = dict(
        name="sftp", host=server.host, port=server.port, username=server.user, remote_base_path=base,
        private_key_path=str(server.client_key), known_hosts_path=str(server.known_hosts),
        formats=["json", "parquet"], gzip=True, max_attempts=2, initial_backoff_seconds=0.05,
        connect_timeout_seconds=5,
    )
    return SftpDestinationResource(**{**config, **overrides})


def materialize(pipeline, destination_asset, resource_key, resource, *, landing_run=True, instance=None):
    return dg.materialize(
        [*pipeline.day_assets, destination_asset],
        partition_key=today().isoformat(),
        resources={**pipeline.resources, resource_key: resource},
        tags={TRIGGER_TAG: LANDING_TRIGGER} if landing_run else {},
        raise_on_error=False,
        instance=instance,
    )


def step_succeeded(result, step: str) -> bool:
    return any(e.step_key == step and e.event_type_value == "STEP_SUCCESS" for e in result.all_events)


def check(result, name):
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


def test_the_sftp_asset_copies_the_day_and_a_rerun_copies_nothing(pipeline, running_sshd, engine):
    base = f"{running_sshd.remote_root}/asset-{uuid.uuid4().hex[:8]}"
    asset = build_destination_asset(pipeline.partitions, "sftp", "sftp", pipeline.file_assets)

    first = materialize(pipeline, asset, "sftp_destination", sftp_resource(running_sshd, base))

    assert first.success
    metadata = first.asset_materializations_for_node("sftp_notification_files")[0].metadata
    local = {p.relative_to(pipeline.data_dir).as_posix(): p.read_bytes()
             for prefix in day_prefixes(today()) for p in (pipeline.data_dir / prefix).rglob("*")
             if p.suffix in (".json", ".parquet")}
    remote_root = Path(base)
    remote = {p.relative_to(remote_root).as_posix(): p.read_bytes() for p in remote_root.rglob("*") if p.is_file()}
    assert sorted(remote) == sorted(p + ".gz" if p.endswith(".json") else p for p in local)
    # A destination taking Parquet also gets the day's company_changes file, byte for byte.
    changes = company_changes_path(today())
    assert remote[changes] == local[changes]
    assert all(gzip.decompress(remote[p + ".gz"]) == data for p, data in local.items() if p.endswith(".json"))
    assert metadata["files_written"].value == len(local) == metadata["files_stored"].value
    for key in ("bytes_written", "files_unchanged", "files_removed", "duration_seconds", "retries"):
        assert key in metadata
    assert check(first, "sftp_files_match_local").passed

    again = materialize(pipeline, asset, "sftp_destination", sftp_resource(running_sshd, base))
    metadata = again.asset_materializations_for_node("sftp_notification_files")[0].metadata
    assert (metadata["files_written"].value, metadata["files_unchanged"].value) == (0, len(local))
    state = destination_states(engine)["sftp"]
    assert state.last_error is None and state.files_stored == len(local)
    assert state.target == f"sftp://{running_sshd.user}@127.0.0.1:{running_sshd.port}{base}"


def test_a_broken_sftp_server_fails_only_its_asset_and_the_next_run_catches_up(pipeline, running_sshd):
    asset = build_destination_asset(pipeline.partitions, "sftp", "sftp", pipeline.file_assets)
    dead_port = free_port()  # nothing listens there
    base = f"{running_sshd.remote_root}/catch-up-{uuid.uuid4().hex[:8]}"

    with dg.instance_for_test() as instance:
        broken = materialize(pipeline, asset, "sftp_destination",
                             sftp_resource(running_sshd, base, port=dead_port), instance=instance)

        assert not broken.success
        for step in ("dnb_notifications", "notification_files", "notifications_table", "notification_metrics"):
            assert step_succeeded(broken, step), step
        assert not step_succeeded(broken, "sftp_notification_files")
        failed = check(broken, "sftp_files_match_local")
        assert not failed.passed and f"127.0.0.1:{dead_port}" in failed.metadata["error"].value
        failure = next(e for e in broken.all_events if e.event_type_value == "STEP_FAILURE")
        description = failure.step_failure_data.user_failure_data.description
        assert f"127.0.0.1:{dead_port}" in description and "connect" in description
        state = destination_states(pipeline.engine)["sftp"]
        assert state.last_success_at is None and f"127.0.0.1:{dead_port}" in state.last_error
        assert list(pipeline.data_dir.rglob("*.json"))  # local files were written regardless

        fixed = materialize(pipeline, asset, "sftp_destination", sftp_resource(running_sshd, base), instance=instance)
        assert fixed.success
        assert check(fixed, "sftp_files_match_local").passed
        assert fixed.asset_materializations_for_node("sftp_notification_files")[0].metadata["files_written"].value
        state = destination_states(pipeline.engine)["sftp"]
        assert state.last_error is None and state.last_success_at is not None


def test_the_catch_up_sensor_copies_a_day_the_destination_missed_once_it_is_over(pipeline, running_sshd):
    """The day's runs never reached the SFTP server; once the day is over, nothing lands for it any more, and the
    catch-up sensor requests the copy by itself."""
    asset = build_destination_asset(pipeline.partitions, "sftp", "sftp", pipeline.file_assets)
    base = f"{running_sshd.remote_root}/missed-{uuid.uuid4().hex[:8]}"
    resource = sftp_resource(running_sshd, base)
    config = SftpConfig(type="sftp", host=resource.host, port=resource.port, username=resource.username,
                        remote_base_path=base, formats=resource.formats, gzip=resource.gzip,
                        insecure_accept_any_host_key=True)
    tomorrow = lambda: time.time() + 86400  # noqa: E731 - the clock the sensor sees
    [sensor] = build_catch_up_sensors({"sftp": config}, clock=tomorrow)
    assert pipeline.materialize_day(today(), landing_run=True).success  # local files only: the copy was missed

    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=pipeline.resources) as context:
            result = sensor(context)
        [request] = result.run_requests
        assert request.partition_key == today().isoformat()
        assert request.asset_selection == [dg.AssetKey("sftp_notification_files")]
        assert request.tags[TRIGGER_TAG] == CATCH_UP_TRIGGER

        copy = dg.materialize([*pipeline.day_assets, asset], selection=request.asset_selection,
                              partition_key=request.partition_key, tags=request.tags, instance=instance,
                              resources={**pipeline.resources, "sftp_destination": resource})
        metadata = copy.asset_materializations_for_node("sftp_notification_files")[0].metadata
        assert metadata["mode"].value == "incremental" and metadata["files_written"].value > 0
        assert check(copy, "sftp_files_match_local").passed

        with dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                     resources=pipeline.resources) as context:
            again = sensor(context)
        assert again.run_requests == [] and again.cursor == "{}"  # nothing lags any more


def test_the_s3_asset_copies_the_day_and_a_rebuild_changes_nothing(pipeline, s3_settings):
    asset = build_destination_asset(pipeline.partitions, "s3", "s3", pipeline.file_assets)
    resource = S3DestinationResource(
        name="s3", bucket=s3_settings.bucket, prefix="dnb", region="us-east-1",
        endpoint_url=s3_settings.endpoint_url, access_key_id=S3_KEY_ID, secret_access_key=S3_SECRET,
        formats=["json", "csv"],
    )
    first = materialize(pipeline, asset, "s3_destination", resource)
    assert first.success
    written = first.asset_materializations_for_node("s3_notification_files")[0].metadata["files_written"].value
    local = [p for p in (pipeline.data_dir / day_prefix(today())).rglob("*") if p.suffix in (".json", ".csv")]
    assert written == len(local) > 0

    rebuild = materialize(pipeline, asset, "s3_destination", resource, landing_run=False)
    assert rebuild.success
    metadata = rebuild.asset_materializations_for_node("s3_notification_files")[0].metadata
    assert (metadata["files_written"].value, metadata["mode"].value) == (0, "rebuild")
    assert check(rebuild, "s3_files_match_local").passed


def test_a_local_file_gone_before_its_copy_is_named_in_the_destination_status(pipeline, running_sshd):
    asset = build_destination_asset(pipeline.partitions, "sftp", "sftp", pipeline.file_assets)
    base = f"{running_sshd.remote_root}/vanished-{uuid.uuid4().hex[:8]}"
    assert pipeline.materialize_day(today(), landing_run=True).success  # local files only
    gone = sorted((pipeline.data_dir / day_prefix(today())).rglob("*.json"))[0]
    gone.unlink()  # deleted by hand (or a clean-up job) after notification_files listed it

    result = dg.materialize([*pipeline.day_assets, asset], selection=[asset.key], partition_key=today().isoformat(),
                            resources={**pipeline.resources, "sftp_destination": sftp_resource(running_sshd, base)},
                            raise_on_error=False)

    assert not result.success
    error = destination_states(pipeline.engine)["sftp"].last_error
    relative = gone.relative_to(pipeline.data_dir).as_posix()
    assert error == (f"FileNotFoundError: the local file {relative} is gone (the manifest lists it; the next run of "
                     "notification_files for the day writes it again)")
    assert str(pipeline.data_dir) not in error


DESTINATIONS_YAML = """\
local:
  formats: [json, parquet]
destinations:
  sftp:
    type: sftp
    host: 127.0.0.1
    port: 2222
    username: dnb
    remote_base_path: /upload
    password_env: TEST_SFTP_PASSWORD
    host_key_fingerprint: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
  archive:
    type: s3
    bucket: archive-bucket
    access_key_id_env: TEST_S3_KEY_ID
    secret_access_key_env: TEST_S3_SECRET
    formats: [parquet]
  spare:
    type: s3
    enabled: false
    bucket: unused-bucket
"""


def test_enabled_destinations_become_assets_in_the_sensor_selection_with_secrets_as_env_vars(monkeypatch, tmp_path):
    config = tmp_path / "destinations.yaml"
    config.write_text(DESTINATIONS_YAML)
    monkeypatch.setenv("MONITORING_PIPELINE_DESTINATIONS", str(config))
    monkeypatch.setenv("TEST_SFTP_PASSWORD", "sftp-secret-value")
    monkeypatch.delenv("NOTIFICATION_FORMATS", raising=False)
    try:
        module = importlib.reload(monitoring_pipeline.definitions)
        defs = module.defs
        keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
        assert {"sftp_notification_files", "archive_notification_files"} <= keys
        assert "spare_notification_files" not in keys
        sensor = defs.resolve_sensor_def("dnb_landing_sensor")
        selected = {k.to_user_string() for k in sensor.asset_selection.resolve(defs.resolve_asset_graph())}
        assert {"sftp_notification_files", "archive_notification_files"} <= selected
        catch_up = defs.resolve_sensor_def("destination_catch_up_sensor")
        assert {k.to_user_string() for k in catch_up.asset_selection.resolve(defs.resolve_asset_graph())} == {
            "sftp_notification_files", "archive_notification_files"}
        assert defs.resources["storage"].formats == ["json", "parquet"]
        assert "sftp-secret-value" not in repr(defs.resources)
        dg.Definitions.validate_loadable(defs)
    finally:
        monkeypatch.undo()
        importlib.reload(monitoring_pipeline.definitions)


def test_a_bad_destinations_file_stops_the_code_location_from_loading(monkeypatch, tmp_path):
    config = tmp_path / "destinations.yaml"
    config.write_text(DESTINATIONS_YAML.replace("port: 2222", "port: twenty-two"))
    monkeypatch.setenv("MONITORING_PIPELINE_DESTINATIONS", str(config))
    try:
        with pytest.raises(ValueError, match=r"destinations.yaml: destinations.sftp.port: expected"):
            importlib.reload(monitoring_pipeline.definitions)
    finally:
        monkeypatch.undo()
        importlib.reload(monitoring_pipeline.definitions)


_SERVERS: dict[int, object] = {}


class KillingSftpDestination(SftpDestinationResource):
    """The real resource, except that the test's sshd is killed once ``kill_after`` files have landed."""

    kill_after: int = 3

    def build_store(self):  # type: ignore[no-untyped-def]
        store = super().build_store()
        put, landed, server = store.put, itertools.count(1), _SERVERS[self.port]
        # No new file starts while the server is being killed (finding its processes takes a /proc scan, long
        # enough on a busy machine for the other sessions to upload every file left).
        not_killing = threading.Event()
        not_killing.set()

        def put_then_kill(path: str, data: bytes, sha256: str) -> None:
            not_killing.wait()
            put(path, data, sha256)
            if next(landed) == self.kill_after:
                not_killing.clear()
                server.kill()  # type: ignore[attr-defined]
                not_killing.set()

        store.put = put_then_kill  # type: ignore[method-assign]
        return store


@pytest.mark.slow
def test_sshd_killed_mid_upload_fails_only_the_sftp_asset_and_the_next_run_completes(emulator, sqlite_engine,
                                                                                      tmp_path, running_sshd):
    pipeline = build_pipeline(emulator.url, sqlite_engine, tmp_path, [REFERENCE])
    pipeline.admin.create_registration(REFERENCE, subjects=["001017545", "213310873"])
    pipeline.admin.generate(REFERENCE, 600)  # six Pull pages: twelve files (json.gz + parquet) + company_changes
    pipeline.tick()
    asset = build_destination_asset(pipeline.partitions, "sftp", "sftp", pipeline.file_assets)
    base = f"{running_sshd.remote_root}/killed-{uuid.uuid4().hex[:8]}"
    _SERVERS[running_sshd.port] = running_sshd
    config = sftp_resource(running_sshd, base).model_dump()

    killed = materialize(pipeline, asset, "sftp_destination", KillingSftpDestination(**config, kill_after=3))

    assert not killed.success
    for step in ("dnb_notifications", "notification_files", "notifications_table"):
        assert step_succeeded(killed, step), step
    assert check(killed, "files_match_landed").passed and check(killed, "rows_match_landed").passed
    failure = next(e for e in killed.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"127.0.0.1:{running_sshd.port}" in failure.step_failure_data.user_failure_data.description
    assert not check(killed, "sftp_files_match_local").passed
    local_files = pipeline.file_digests()
    landed, rows, _ = pipeline.table_rows(today())
    assert len(rows) == len(landed) == 600
    remote_root = Path(base)
    visible = [p for p in remote_root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert 3 <= len(visible) < 13
    for path in visible:  # whatever is visible under its final name is whole
        relative = path.relative_to(remote_root).as_posix()
        data = gzip.decompress(path.read_bytes()) if relative.endswith(".gz") else path.read_bytes()
        assert data == (pipeline.data_dir / relative.removesuffix(".gz")).read_bytes()

    running_sshd.start()
    resumed = materialize(pipeline, asset, "sftp_destination", sftp_resource(running_sshd, base))

    assert resumed.success and check(resumed, "sftp_files_match_local").passed
    metadata = resumed.asset_materializations_for_node("sftp_notification_files")[0].metadata
    assert metadata["files_written"].value + metadata["files_unchanged"].value == 13
    assert metadata["files_written"].value <= 13 - 3
    assert pipeline.file_digests() == local_files  # local files untouched throughout
