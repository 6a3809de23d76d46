"""Copying a day to a real OpenSSH sshd: idempotent, incremental, repairing, atomic, surviving a killed server,
reporting what the server refuses (a full disk, a rename) at once instead of retrying it."""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import pwd
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest
from paramiko.sftp import (
    SFTP_DESC,
    SFTP_FAILURE,
    SFTP_NO_SUCH_FILE,
    SFTP_OP_UNSUPPORTED,
    SFTP_PERMISSION_DENIED,
)
from sqlalchemy import Engine, create_engine, select, text

from monitoring_pipeline.destinations.base import DestinationError
from monitoring_pipeline.destinations.sftp import is_connection_loss, rename_unsupported
from monitoring_pipeline.destinations.sync import DestinationFormat, sync_day, verify_day
from monitoring_pipeline.notifications.files import day_prefix, day_records
from monitoring_pipeline.storage.database import create_db_engine, migrate
from monitoring_pipeline.storage.schema import dnb_file_manifest
from monitoring_pipeline_tests.conftest import POSTGRES_ADMIN_URL
from monitoring_pipeline_tests.destinations.conftest import DAY, FULL_AT, settings_for
from monitoring_pipeline_tests.destinations.local_day import LocalDay

JSON = DestinationFormat(formats=("json",))


def remote_files(settings) -> dict[str, bytes]:
    """Every visible file under the remote base, read straight from the server's disk."""
    root = Path(settings.remote_base_path)
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def hidden_files(settings) -> list[Path]:
    return [p for p in Path(settings.remote_base_path).rglob(".*") if p.is_file()]


def test_a_day_is_uploaded_once_and_a_rerun_uploads_nothing(engine, tmp_path, sftp_settings, make_sftp_store):
    local = LocalDay.create(engine, tmp_path / "data", DAY, files=9)
    store = make_sftp_store(sftp_settings)

    first = sync_day(engine, local.settings, store, JSON, local.day, rebuild=False)
    assert first.files_written == 9 and first.files_unchanged == 0
    assert first.bytes_written == sum(len(local.read(p)) for p in local.paths)
    assert remote_files(sftp_settings) == {p: local.read(p) for p in local.paths}
    assert not hidden_files(sftp_settings)  # every temporary name was renamed
    assert set(day_records(engine, "sftp", local.day)) == set(local.paths)

    again = sync_day(engine, local.settings, store, JSON, local.day, rebuild=False)
    assert (again.files_written, again.files_unchanged, again.bytes_written) == (0, 9, 0)

    rebuild = sync_day(engine, local.settings, store, JSON, local.day, rebuild=True)
    assert (rebuild.files_written, rebuild.files_removed) == (0, 0)
    assert len(rebuild.verified) == 9  # every remote copy was checksummed, none re-sent
    assert verify_day(engine, store, JSON, local.day, checksums=True) == []


def test_a_changed_local_file_is_the_only_one_uploaded(local_day, sftp_settings, make_sftp_store):
    store = make_sftp_store(sftp_settings)
    sync_day(local_day.engine, local_day.settings, store, JSON, local_day.day, rebuild=False)
    changed = local_day.paths[4]
    local_day.write(changed, b'{"metadata": {}, "notifications": ["changed"]}\n')

    result = sync_day(local_day.engine, local_day.settings, store, JSON, local_day.day, rebuild=False)

    assert (result.files_written, result.files_unchanged) == (1, 11)
    assert result.paths == [changed]
    assert remote_files(sftp_settings)[changed] == local_day.read(changed)


def test_a_rebuild_repairs_the_remote_day_to_match_the_local_one(local_day, sftp_settings, make_sftp_store):
    store = make_sftp_store(sftp_settings)
    engine, day = local_day.engine, local_day.day
    sync_day(engine, local_day.settings, store, JSON, day, rebuild=False)
    root = Path(sftp_settings.remote_base_path)
    deleted, altered = local_day.paths[0], local_day.paths[1]
    (root / deleted).unlink()
    original = (root / altered).read_bytes()
    (root / altered).write_bytes(bytes(b ^ 0xFF for b in original))  # same size, other bytes
    extra = root / day_prefix(day) / "REF_A" / "notifications_20260314_235959_999.json"
    extra.write_bytes(b"not ours")
    stale_temp = root / day_prefix(day) / "REF_A" / ".notifications_x.json.abc.tmp"
    stale_temp.write_bytes(b"left by a crash")
    os.utime(stale_temp, (time.time() - 7200, time.time() - 7200))

    problems = verify_day(engine, store, JSON, day, checksums=True)
    assert any(deleted in p and "missing" in p for p in problems)
    assert any(altered in p and "sha256" in p for p in problems)
    assert any("235959_999" in p and "not in the local day" in p for p in problems)

    incremental = sync_day(engine, local_day.settings, store, JSON, day, rebuild=False)
    assert incremental.paths == [deleted]  # a listing shows what is missing; content needs a checksum
    rebuild = sync_day(engine, local_day.settings, store, JSON, day, rebuild=True)

    assert rebuild.paths == [altered] and rebuild.files_repaired == 1
    assert rebuild.files_removed == 1
    assert remote_files(sftp_settings) == {p: local_day.read(p) for p in local_day.paths}
    assert not stale_temp.exists()
    assert verify_day(engine, store, JSON, day, checksums=True) == []


def test_gzip_is_converted_on_the_way_deterministically(local_day, sftp_settings, make_sftp_store):
    store = make_sftp_store(sftp_settings)
    gzipped = DestinationFormat(formats=("json",), gzip=True)
    result = sync_day(local_day.engine, local_day.settings, store, gzipped, local_day.day, rebuild=False)

    copies = remote_files(sftp_settings)
    assert result.files_written == 12 and sorted(copies) == [p + ".gz" for p in local_day.paths]
    assert all(gzip.decompress(copies[p + ".gz"]) == local_day.read(p) for p in local_day.paths)
    manifest = day_records(local_day.engine, "sftp", local_day.day)
    assert all(manifest[p].sha256 == hashlib.sha256(copies[p]).hexdigest() for p in copies)
    again = sync_day(local_day.engine, local_day.settings, store, gzipped, local_day.day, rebuild=True)
    assert again.files_written == 0 and again.files_unchanged == 12  # same input, same gzip bytes


@pytest.mark.slow
def test_sshd_killed_mid_upload_leaves_no_partial_file_and_the_next_run_completes(
    tmp_path, sqlite_engine, running_sshd, sftp_settings, make_sftp_store
):
    local = LocalDay.create(sqlite_engine, tmp_path / "data", DAY, files=40, size=200_000)
    local_before = local.digests()
    store = make_sftp_store(sftp_settings, parallel_sessions=4)
    stored: list[str] = []

    def kill_after_five(path: str) -> None:
        stored.append(path)
        if len(stored) == 5:
            running_sshd.kill()

    with pytest.raises(DestinationError) as raised:
        sync_day(sqlite_engine, local.settings, store, JSON, local.day, rebuild=False, on_stored=kill_after_five)

    message = str(raised.value)
    assert f"{running_sshd.host}:{running_sshd.port}" in message and "attempt" in message
    assert store.retries >= 2  # bounded: max_attempts=3 per file, then the sync gives up
    copies = remote_files(sftp_settings)
    assert 5 <= len(copies) < 40
    assert all(copies[p] == local.read(p) for p in copies)  # whatever is visible is whole
    recorded = day_records(sqlite_engine, "sftp", local.day)
    assert set(recorded) <= set(copies) and set(stored) <= set(recorded)  # each landed file kept its row
    assert local.digests() == local_before  # local files untouched
    with sqlite_engine.connect() as connection:
        local_rows = connection.execute(
            select(dnb_file_manifest.c.path).where(dnb_file_manifest.c.destination == "local")
        ).scalars().all()
    assert sorted(local_rows) == local.paths

    running_sshd.start()  # same host key, same port
    resumed = sync_day(sqlite_engine, local.settings, store, JSON, local.day, rebuild=False)

    assert resumed.files_written == 40 - len(recorded)
    assert remote_files(sftp_settings) == {p: local.read(p) for p in local.paths}
    assert verify_day(sqlite_engine, store, JSON, local.day, checksums=True) == []



@pytest.mark.slow
def test_a_server_restarted_mid_upload_is_reconnected_to_and_the_sync_completes(
    tmp_path, sqlite_engine, running_sshd, sftp_settings, make_sftp_store
):
    local = LocalDay.create(sqlite_engine, tmp_path / "data", DAY, files=30, size=100_000)
    store = make_sftp_store(sftp_settings, parallel_sessions=2, max_attempts=6)
    stored: list[str] = []

    def restart_after_five(path: str) -> None:
        stored.append(path)
        if len(stored) == 5:
            running_sshd.kill()
            running_sshd.start()

    result = sync_day(sqlite_engine, local.settings, store, JSON, local.day, rebuild=False,
                      on_stored=restart_after_five)

    assert result.files_written == 30 and result.retries >= 1
    assert remote_files(sftp_settings) == {p: local.read(p) for p in local.paths}
    assert verify_day(sqlite_engine, store, JSON, local.day, checksums=True) == []


def test_a_server_refusing_writes_fails_clearly_without_retrying(local_day, running_sshd, sftp_settings,
                                                                  make_sftp_store):
    readonly = running_sshd.workdir / "readonly"  # owned by root: the SFTP user may read, not write
    readonly.mkdir(mode=0o755, exist_ok=True)
    store = make_sftp_store(sftp_settings, remote_base_path=str(readonly))

    with pytest.raises(DestinationError) as raised:
        sync_day(local_day.engine, local_day.settings, store, JSON, local_day.day, rebuild=False)

    assert "Permission denied" in str(raised.value) and str(readonly) in str(raised.value)
    assert store.retries == 0  # refused, not lost: retrying cannot help
    assert day_records(local_day.engine, "sftp", local_day.day) == {}
    store.connect()  # the connection is still good


def test_a_full_server_fails_the_upload_at_once_and_publishes_no_truncated_file(sqlite_engine, tmp_path, full_sshd,
                                                                                 make_sftp_store):
    local = LocalDay.create(sqlite_engine, tmp_path / "data", DAY, files=3, size=3 * FULL_AT)
    settings = settings_for(full_sshd)
    store = make_sftp_store(settings, parallel_sessions=1)

    with pytest.raises(DestinationError) as raised:
        sync_day(sqlite_engine, local.settings, store, JSON, local.day, rebuild=False)

    message = str(raised.value)
    first = local.paths[0]
    assert f"uploading {first} failed: the server stored {FULL_AT} of {len(local.read(first))} bytes" in message
    assert "a full disk or a quota" in message and "attempt" not in message
    assert store.retries == 0  # the server refused: reconnecting cannot help
    assert remote_files(settings) == {} and not hidden_files(settings)  # nothing truncated, no temp file left
    assert day_records(sqlite_engine, "sftp", local.day) == {}
    store.connect()  # the connection is still good


def test_a_rename_the_server_refuses_is_reported_at_once_not_worked_around(local_day, running_sshd, sftp_settings,
                                                                           make_sftp_store):
    blocked = local_day.paths[0]
    in_the_way = Path(sftp_settings.remote_base_path) / blocked
    (in_the_way / "kept").mkdir(parents=True)  # a directory, not empty, where the file goes
    user = pwd.getpwnam(running_sshd.user)
    for directory in [in_the_way / "kept", *in_the_way.relative_to(sftp_settings.remote_base_path).parents]:
        os.chown(Path(sftp_settings.remote_base_path) / directory, user.pw_uid, user.pw_gid)
    os.chown(in_the_way, user.pw_uid, user.pw_gid)
    store = make_sftp_store(sftp_settings, parallel_sessions=1)

    with pytest.raises(DestinationError) as raised:
        sync_day(local_day.engine, local_day.settings, store, JSON, local_day.day, rebuild=False)

    # rename(2) onto a directory fails with EISDIR, which sftp-server answers as a bare SSH_FX_FAILURE.
    message = str(raised.value)
    assert f"uploading {blocked} failed: renaming " in message and f"to {in_the_way}: Failure" in message
    assert "a full disk, a quota or something in the way" in message and "attempt" not in message
    assert store.retries == 0
    assert (in_the_way / "kept").is_dir() and not hidden_files(sftp_settings)


def test_a_session_the_server_ends_is_replaced_on_the_same_connection(running_sshd, sftp_settings, make_sftp_store):
    store = make_sftp_store(sftp_settings)
    store.put("notifications/a.json", b"{}", "")
    logins = running_sshd.log_path.read_text().count("Accepted publickey")

    assert running_sshd.end_sftp_sessions() >= 1  # the session's process dies; its connection stays up
    files = store.list_files("notifications")

    assert [f.path for f in files] == ["notifications/a.json"]
    assert store.retries == 1  # the dead session was dropped, not handed out again
    assert running_sshd.log_path.read_text().count("Accepted publickey") == logins  # no new connection


# OpenSSH's sftp-server implements posix-rename, so a server lacking it cannot be provoked with it: the decision is
# tested on the exceptions paramiko itself raises for each SFTP status reply (its own conversion of the reply).
def status_error(code: int) -> OSError:
    """What paramiko raises when a server answers a request with status ``code`` and the standard text."""
    reply = paramiko.Message()
    reply.add_int(code)
    reply.add_string(SFTP_DESC[code])
    reply.rewind()
    with pytest.raises(OSError) as raised:
        paramiko.SFTPClient._convert_status(None, reply)  # type: ignore[arg-type]
    return raised.value


def test_only_a_server_lacking_posix_rename_gets_remove_then_rename():
    assert rename_unsupported(status_error(SFTP_OP_UNSUPPORTED))  # "Operation unsupported", errno None
    assert rename_unsupported(OSError(errno.EOPNOTSUPP, "Operation not supported"))
    for refusal in (SFTP_FAILURE, SFTP_PERMISSION_DENIED, SFTP_NO_SUCH_FILE):
        assert not rename_unsupported(status_error(refusal)), SFTP_DESC[refusal]


@pytest.mark.parametrize("code", [SFTP_FAILURE, SFTP_PERMISSION_DENIED, SFTP_NO_SUCH_FILE, SFTP_OP_UNSUPPORTED])
def test_a_server_s_refusal_is_not_a_lost_connection(code):
    assert not is_connection_loss(status_error(code))  # SSH_FX_FAILURE has errno None: a full disk, not a drop


@pytest.mark.parametrize("error", [
    EOFError(), TimeoutError("timed out"), ConnectionResetError(errno.ECONNRESET, "reset"),
    BrokenPipeError(errno.EPIPE, "broken pipe"), paramiko.SSHException("Server connection dropped: "),
])
def test_what_paramiko_raises_when_the_connection_drops_is_retried(error):
    assert is_connection_loss(error)


@pytest.fixture
def closable_pg() -> Iterator[tuple[Engine, Callable[[], None]]]:
    """A migrated PostgreSQL database of its own, and a function that shuts it to every connection (the test
    database server otherwise stays up for the other tests)."""
    name = f"mp_test_closed_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    migrate(engine)

    def shut() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                               {"n": name})

    yield engine, shut
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                           {"n": name})
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.mark.postgres
def test_a_database_failing_too_does_not_hide_why_the_upload_failed(tmp_path, closable_pg, sftp_settings,
                                                                    make_sftp_store, caplog):
    engine, shut_database = closable_pg
    local = LocalDay.create(engine, tmp_path / "data", DAY, files=6)
    store = make_sftp_store(sftp_settings, parallel_sessions=1)
    root = Path(sftp_settings.remote_base_path)

    def then_fail_both(path: str) -> None:  # after the first file landed: the server refuses writes, the
        for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:  # database goes away
            directory.chmod(0o555)
        shut_database()

    with pytest.raises(DestinationError) as raised:
        sync_day(engine, local.settings, store, JSON, local.day, rebuild=False, on_stored=then_fail_both)

    assert "Permission denied" in str(raised.value)  # why the copy failed, not the database's error
    [note] = raised.value.__notes__
    assert "could not be recorded (OperationalError): the next run copies them again" in note
    assert any(note in record.getMessage() for record in caplog.records if record.levelname == "WARNING")
