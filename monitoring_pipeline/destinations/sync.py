"""Keep a remote destination's day in step with the local day: one piece of logic for SFTP and S3.

The local day is what ``notification_files`` and ``company_changes`` wrote and recorded (manifest rows of
destination ``local``): the page files in the formats the destination takes, with gzip converted when the
destination wants it otherwise, and the day's company_changes Parquet file when it takes ``parquet``. The
destination's own manifest rows (``destination = <name>``) record each copy's size, sha256 and the sha256 of
the local file it came from, each row written right after its file landed.

- Every run lists the remote day (sizes only) and uploads what is missing there, differs in size, or
  whose local file changed since it was copied. Nothing else is read: a re-run uploads nothing.
- A rebuild (backfill or manual run) also checksums every remote copy (a download on SFTP, a HEAD on
  S3), re-uploads altered ones, and deletes remote files and rows the local day no longer has, plus
  temporary files a crashed upload left behind.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from sqlalchemy import Engine

from monitoring_pipeline.destinations.base import RemoteStore, UploadHook
from monitoring_pipeline.notifications.files import (
    LOCAL,
    PATHS_PREVIEW,
    ExportSettings,
    ManifestRecord,
    ManifestWriter,
    day_prefixes,
    day_records,
    days_with_files,
    deterministic_gzip,
    file_format,
    format_suffix,
)
from monitoring_pipeline.storage.local_files import sha256_bytes

log = logging.getLogger(__name__)

# A temporary file older than this belongs to an upload that died (uploads of one file take seconds).
STALE_TEMP_SECONDS = 3600.0
# Files are read and sent in batches of about this many bytes: memory stays flat on a large day.
_BATCH_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DestinationFormat:
    """What one destination receives: a subset of the local formats, gzipped or not (Parquet never)."""

    formats: tuple[str, ...] = ("json",)
    gzip: bool = False

    def suffix(self, fmt: str) -> str:
        return format_suffix(fmt, self.gzip)


@dataclass
class SyncResult:
    """What one sync did, for run metadata (stable keys) and the status table."""

    files_written: int = 0
    bytes_written: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_repaired: int = 0  # recorded as copied, but missing or altered on the destination
    files_stored: int = 0  # files of the day on the destination after the sync
    retries: int = 0
    seconds: float = 0.0
    paths: list[str] = field(default_factory=list)
    verified: dict[str, str] = field(default_factory=dict)  # sha256 read back from the destination (rebuilds)
    planned: dict[str, str] = field(default_factory=dict)  # remote path -> sha256 of the local file it copies

    def add(self, other: SyncResult) -> None:
        for name in ("files_written", "bytes_written", "files_unchanged", "files_removed", "files_repaired",
                     "files_stored", "retries", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paths = (self.paths + other.paths)[:PATHS_PREVIEW]
        self.verified.update(other.verified)
        self.planned.update(other.planned)


class _Planned(NamedTuple):
    """One file the destination should hold, and the local file it comes from."""

    local_path: str
    reference: str
    count: int
    source_sha256: str
    local_gzip: bool
    remote_gzip: bool


def plan_day(engine: Engine, target: DestinationFormat, day: date) -> dict[str, _Planned]:
    """The remote path of every local file of ``day`` the destination takes."""
    planned: dict[str, _Planned] = {}
    for path, row in day_records(engine, LOCAL, day, day_prefixes(day)).items():
        fmt, local_gzip = file_format(path)
        if fmt not in target.formats:
            continue
        remote = path[: -len(format_suffix(fmt, local_gzip))] + target.suffix(fmt)
        planned[remote] = _Planned(path, row.reference, row.count, row.sha256, local_gzip, remote.endswith(".gz"))
    return planned


def lagging_days(engine: Engine, destination: str, target: DestinationFormat, since: date, before: date) -> list[date]:
    """Days in ``[since, before)`` with a local file the destination lacks or holds an older copy of.

    Read from the two manifests alone (no call to the destination): what an incremental sync would upload.
    """
    lagging = []
    for day in days_with_files(engine, LOCAL, since, before):
        recorded = day_records(engine, destination, day)
        for remote, plan in plan_day(engine, target, day).items():
            row = recorded.get(remote)
            if row is None or row.source_sha256 != plan.source_sha256:
                lagging.append(day)
                break
    return lagging


def _day_state(
    engine: Engine, store: RemoteStore, target: DestinationFormat, day: date
) -> tuple[dict[str, _Planned], dict[str, ManifestRecord], dict[str, int]]:
    """What the destination should hold, what the manifest says it holds, and what it lists (path -> size)."""
    listing = {f.path: f.size for prefix in day_prefixes(day) for f in store.list_files(prefix)}
    return plan_day(engine, target, day), day_records(engine, store.name, day), listing


def _converted(data: bytes, plan: _Planned) -> bytes:
    if plan.local_gzip == plan.remote_gzip:
        return data
    # gzip with mtime=0 (as the local export does): equal input gives equal bytes, so checksums stay stable.
    return deterministic_gzip(data) if plan.remote_gzip else gzip.decompress(data)


def sync_day(
    engine: Engine,
    local: ExportSettings,
    store: RemoteStore,
    target: DestinationFormat,
    day: date,
    *,
    rebuild: bool,
    on_stored: UploadHook | None = None,
) -> SyncResult:
    """Bring the destination's copy of ``day`` in line with the local day; see the module docstring."""
    started = time.monotonic()
    retries_before = store.retries
    result = SyncResult()
    planned, recorded, listing = _day_state(engine, store, target, day)
    result.planned = {remote: plan.source_sha256 for remote, plan in planned.items()}

    to_send: list[str] = []
    for remote, plan in sorted(planned.items()):
        row = recorded.get(remote)
        copied = row is not None and row.source_sha256 == plan.source_sha256
        current = copied and row is not None and listing.get(remote) == row.size
        if current and rebuild:
            digest = store.sha256(remote)
            current = row is not None and digest == row.sha256
            if current and digest:
                result.verified[remote] = digest
        if current:
            result.files_unchanged += 1
        else:
            result.files_repaired += int(copied)
            to_send.append(remote)

    writer = ManifestWriter(engine, store.name, day)
    lock = threading.Lock()
    sent: dict[str, tuple[int, str]] = {}  # remote path -> (size, sha256) of what was handed to the store

    def stored(path: str) -> None:
        plan, (size, digest) = planned[path], sent[path]
        with lock:
            # The local manifest's checksum is the copy's source: the next run compares against it.
            writer.add(path, plan.reference, plan.count, size, digest, plan.source_sha256)
            result.files_written += 1
            result.bytes_written += size
            if len(result.paths) < PATHS_PREVIEW:
                result.paths.append(path)
        if on_stored is not None:
            on_stored(path)

    try:
        for batch in _batches(local, planned, to_send):
            sent.update((path, (len(data), digest)) for path, data, digest in batch)
            store.put_many(batch, on_stored=stored)
            with lock:
                writer.flush()
    except BaseException as error:
        with lock:
            _keep_rows_of_landed_files(writer, store.name, error)
        raise

    if rebuild:
        # A file a newer run added to the local day meanwhile is not extra: that run copies it.
        extra = sorted(set(listing) - set(planned) - set(plan_day(engine, target, day)))
        store.delete(extra)
        result.files_removed = len(extra)
        stale_rows = set(recorded) - set(planned)
        if stale_rows:
            writer.delete(stale_rows)
        for prefix in day_prefixes(day):
            store.sweep_temporary(prefix, STALE_TEMP_SECONDS)
    result.files_stored = len(planned)
    result.retries = store.retries - retries_before
    result.seconds = time.monotonic() - started
    return result


def _keep_rows_of_landed_files(writer: ManifestWriter, destination: str, failure: BaseException) -> None:
    """Record the files that landed before ``failure``; if the database fails too, say so and keep ``failure``
    (why the copy failed) as the error raised: the next run uploads those files again, nothing is lost."""
    try:
        writer.flush()
    except Exception as error:
        note = (f"the manifest rows of the files copied to {destination} before this failure could not be recorded "
                f"({type(error).__name__}): the next run copies them again")
        failure.add_note(note)
        log.warning("%s", note, exc_info=error)


def _batches(
    local: ExportSettings, planned: Mapping[str, _Planned], remote_paths: list[str]
) -> Iterator[list[tuple[str, bytes, str]]]:
    """(remote path, bytes as stored remotely, their sha256), read from local disk in bounded batches."""
    batch: list[tuple[str, bytes, str]] = []
    size = 0
    for remote in remote_paths:
        plan = planned[remote]
        data = _converted((local.base_path / plan.local_path).read_bytes(), plan)
        batch.append((remote, data, sha256_bytes(data)))
        size += len(data)
        if size >= _BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def verify_day(
    engine: Engine,
    store: RemoteStore,
    target: DestinationFormat,
    day: date,
    *,
    checksums: bool,
    known_digests: Mapping[str, str] | None = None,
    copied: Mapping[str, str] | None = None,
) -> list[str]:
    """Problems with the destination's copy of ``day`` compared with the local day and its manifest.

    Presence, sizes and recorded sources always; with ``checksums`` also the sha256 of every file as read
    back from the destination (``known_digests``: already read back by the sync, not read again).
    ``copied`` (remote path -> local sha256, what a sync planned) limits the judgement to what that sync
    copied: a local file added or rewritten by a newer run since is that run's to copy, not a problem.
    """
    known = dict(known_digests or {})
    planned, recorded, listing = _day_state(engine, store, target, day)
    judged = planned if copied is None else {r: p for r, p in planned.items() if r in copied}
    problems: list[str] = []
    for remote, plan in sorted(judged.items()):
        row = recorded.get(remote)
        sources = {plan.source_sha256} | ({copied[remote]} if copied is not None else set())
        if remote not in listing:
            problems.append(f"{remote}: missing on {store.name}")
        elif row is None:
            problems.append(f"{remote}: on {store.name} but not recorded as copied")
        elif row.source_sha256 not in sources:
            problems.append(f"{remote}: older than the local file {plan.local_path}")
        elif listing[remote] != row.size:
            problems.append(f"{remote}: size on {store.name} differs from the manifest")
        elif checksums:
            digest = known.get(remote) or store.sha256(remote)
            if digest != row.sha256:
                problems.append(f"{remote}: sha256 on {store.name} differs from the manifest")
    for remote in sorted(set(listing) - set(planned) - set(copied or ())):
        problems.append(f"{remote}: on {store.name} but not in the local day")
    return problems
