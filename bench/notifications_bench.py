"""Benchmark the notification pipeline on PostgreSQL (not part of the test command).

Each run creates its own database (bench_<random>) and drops it at the end. The plain functions the
assets call are timed, without Dagster.

  e2e          N notifications queued in the emulator (rate limit off) are drained and landed, then the
               day is materialized: build_day_tables(rebuild=True) and export_day(rebuild=True, json).
               Prints notifications/s per stage and end to end (goal >= 10,000/s), and the table
               materialization time against a raw COPY of the same rows (goal <= 3x); both start
               after os.sync() and a CHECKPOINT, so neither pays for earlier writes.
  incremental  A day of 100,000 landed and fully materialized notifications gets 100 more; times what a
               sensor-triggered run does within its snapshot: the checks, export_day + verify_day (incremental),
               build_day_tables, the day's company_changes Parquet file, day_metrics (goal < 2 s).
  memory       A day of N landed notifications is materialized in a fresh process (tables, page files, the
               company_changes file); prints its peak RSS (goal < 1 GiB).
  materialize  (used by memory) materialize one day of an existing database and print JSON figures.

Run: .venv/bin/python bench/notifications_bench.py [e2e|incremental|memory] [--notifications N]
     e2e and incremental take --profile DIR: cProfile each timed stage into DIR (timings are then inflated)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from _common import KEY, POSTGRES_ADMIN_URL, SECRET, emulator_process, throwaway_database
from sqlalchemy import Engine, Table, text

from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline.dnb.models import NotificationPage
from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin
from monitoring_pipeline.fakes.dnb_emulator.generator import DEFAULT_TYPE_MIX, NotificationGenerator
from monitoring_pipeline.notifications.company_changes import write_changes_file
from monitoring_pipeline.notifications.day_tables import build_day_tables
from monitoring_pipeline.notifications.files import ExportSettings, export_day, verify_day
from monitoring_pipeline.notifications.landing import land_page, land_registration
from monitoring_pipeline.notifications.metrics import day_metrics
from monitoring_pipeline.notifications.quality import duplicate_notifications, invalid_landed_rows, malformed_duns
from monitoring_pipeline.notifications.snapshots import take_snapshot
from monitoring_pipeline.storage.database import create_db_engine, migrate
from monitoring_pipeline.storage.schema import dnb_notification_elements, dnb_notifications

T = TypeVar("T")

REFERENCE = "BENCH"
PAGE_SIZE = 100
GENERATE_CHUNK = 10_000
# DEFAULT_TYPE_MIX with SEED capped at 1% (the emulator's SEEDs carry ~40 KB blocks), the rest to UPDATE.
MIX = {**DEFAULT_TYPE_MIX, "SEED": 0.01, "UPDATE": DEFAULT_TYPE_MIX["UPDATE"] + DEFAULT_TYPE_MIX["SEED"] - 0.01}
# Synthetic days: pages 4 s apart from midnight, so up to 21,600 pages (2.16M notifications) fit in one day.
SYNTHETIC_DAY = date(2026, 11, 20)
PAGE_SPACING = timedelta(seconds=4)
MAX_SYNTHETIC_PAGES = int(timedelta(days=1) / PAGE_SPACING)
SYNTHETIC_SEED_BLOCK_KB = 2

E2E_GOAL_PER_SECOND = 10_000
COPY_RATIO_GOAL = 3.0
INCREMENTAL_GOAL_SECONDS = 2.0
MEMORY_GOAL_BYTES = 1 << 30
RAW_COPY_REPEATS = 3
COPY_FORMAT = "WITH (FORMAT csv, NULL '\\N')"  # what storage.bulk uses, so PostgreSQL parses the same input


# ---- helpers ----------------------------------------------------------------------------------------


def timed(stage: str, call: Callable[[], T], profile_dir: Path | None) -> tuple[T, float]:
    """Run ``call``; return its result and wall seconds, profiling it into ``profile_dir`` when given."""
    profiler = cProfile.Profile() if profile_dir else None
    started = time.perf_counter()
    result = profiler.runcall(call) if profiler else call()
    elapsed = time.perf_counter() - started
    if profiler and profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(profile_dir / f"{stage}.prof")
    return result, elapsed


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def mix_text() -> str:
    return ", ".join(f"{name} {weight:.0%}" for name, weight in MIX.items())


def migrated_engine(url: str) -> Engine:
    engine = create_db_engine(url)
    migrate(engine)
    return engine


def peak_rss_bytes(who: int = resource.RUSAGE_SELF) -> int:
    return resource.getrusage(who).ru_maxrss * 1024  # Linux reports KiB


def synthetic_pages(count: int, *, first_page: int, seed: int) -> Iterator[NotificationPage]:
    """``count`` notifications in pages of 100, each page stamped with its own deliveryTimeStamp on SYNTHETIC_DAY."""
    pages = math.ceil(count / PAGE_SIZE)
    if first_page + pages > MAX_SYNTHETIC_PAGES:
        raise ValueError(f"{count} notifications from page {first_page} do not fit in one synthetic day")
    generator = NotificationGenerator(seed=seed, seed_block_kb=SYNTHETIC_SEED_BLOCK_KB)
    midnight = datetime.combine(SYNTHETIC_DAY, datetime.min.time(), tzinfo=UTC)
    for index in range(pages):
        delivered = midnight + (first_page + index) * PAGE_SPACING
        notifications = generator.generate(min(PAGE_SIZE, count - index * PAGE_SIZE), delivered, types=MIX)
        stamp = format_millis(delivered)
        for notification in notifications:
            notification["deliveryTimeStamp"] = stamp
        yield NotificationPage(REFERENCE, notifications, transaction_id=None, source="pull")


def land_synthetic(engine: Engine, count: int, *, first_page: int = 0, seed: int = 1) -> tuple[int, float, float]:
    """Land synthetic pages directly with land_page: (landed, total seconds, seconds inside land_page)."""
    landed = 0
    in_land_page = 0.0
    started = time.perf_counter()
    for page in synthetic_pages(count, first_page=first_page, seed=seed):
        page_started = time.perf_counter()
        result = land_page(engine, page, resume_from=page.last_delivery)
        in_land_page += time.perf_counter() - page_started
        landed += result.landed
        if result.landed != len(page):
            raise RuntimeError(f"page landed {result.landed} of {len(page)}: {result}")
    return landed, time.perf_counter() - started, in_land_page


def row(label: str, figure: str, note: str = "") -> None:
    """One labelled figure; labels line up so runs can be compared by eye."""
    print(f"  {label:<42} {figure:>12}  {note}".rstrip())


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} notifications/s"


def print_landing(count: int, seconds: float, in_land_page: float) -> None:
    row(f"land {count:,} synthetic (generator included)", f"{seconds:.2f} s", rate(count, seconds))
    row("  of which inside land_page", f"{in_land_page:.2f} s", rate(count, in_land_page))


def export_settings(base: Path) -> ExportSettings:
    return ExportSettings(base_path=base, formats=("json",))


# ---- e2e --------------------------------------------------------------------------------------------


def settle(engine: Engine) -> None:
    """Flush the page cache and PostgreSQL's dirty buffers, so a timed write does not pay for earlier ones."""
    os.sync()
    with engine.connect() as connection:
        connection.execute(text("CHECKPOINT"))


def raw_copy_seconds(engine: Engine, days: list[date]) -> tuple[list[float], dict[str, int]]:
    """Seconds of RAW_COPY_REPEATS COPYs of the day tables' rows into fresh copies of those tables.

    The rows are read back with COPY TO into memory first; only the COPY FROM (and its commit) is timed.
    Returns the timings and the rows read back per table.
    """
    pairs: list[tuple[Table, str]] = [(dnb_notifications, "bench_copy_notifications"),
                                      (dnb_notification_elements, "bench_copy_elements")]
    day_list = ", ".join(f"'{day.isoformat()}'" for day in days)
    payloads: dict[str, str] = {}
    rows: dict[str, int] = {}
    timings: list[float] = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, copy_name in pairs:
            columns = ", ".join(column.name for column in table.columns)
            cursor.execute(f"CREATE TABLE {copy_name} (LIKE {table.name} INCLUDING ALL)")
            buffer = io.StringIO()
            cursor.copy_expert(
                f"COPY (SELECT {columns} FROM {table.name} WHERE delivery_day IN ({day_list})) TO STDOUT {COPY_FORMAT}",
                buffer,
            )
            payloads[copy_name] = buffer.getvalue()
            rows[table.name] = payloads[copy_name].count("\n")
        raw.commit()
        for _ in range(RAW_COPY_REPEATS):
            cursor.execute("TRUNCATE " + ", ".join(copy_name for _, copy_name in pairs))
            raw.commit()
            settle(engine)
            started = time.perf_counter()
            for table, copy_name in pairs:
                columns = ", ".join(column.name for column in table.columns)
                cursor.copy_expert(f"COPY {copy_name} ({columns}) FROM STDIN {COPY_FORMAT}",
                                   io.StringIO(payloads[copy_name]))
            raw.commit()
            timings.append(time.perf_counter() - started)
        cursor.close()
    finally:
        raw.close()
    return timings, rows


def e2e(args: argparse.Namespace) -> None:
    count: int = args.notifications
    with (
        throwaway_database(args.postgres) as url,
        emulator_process(rate_limit=0) as emulator,
        tempfile.TemporaryDirectory() as scratch,
    ):
        engine = migrated_engine(url)
        with EmulatorAdmin(emulator) as admin:
            admin.create_registration(REFERENCE)
            for start in range(0, count, GENERATE_CHUNK):
                admin.generate(REFERENCE, min(GENERATE_CHUNK, count - start), types=MIX)
        settings = DnbConnectionSettings(
            client_id=KEY, client_secret=SECRET, base_url=emulator,
            state_dir=Path(scratch) / "state", rate_limit_per_second=None,
        )
        with build_client(settings) as client:
            landing, land_s = timed("landing", lambda: land_registration(client, engine, REFERENCE), args.profile)
        if landing.error or landing.landed != count:
            raise RuntimeError(f"landed {landing.landed} of {count}: {landing.error}")
        days = sorted(landing.days)

        settle(engine)
        tables, tables_s = timed(
            "tables", lambda: [build_day_tables(engine, day, rebuild=True) for day in days], args.profile
        )
        export = export_settings(Path(scratch) / "files")
        files, files_s = timed(
            "files", lambda: [export_day(engine, export, day, rebuild=True) for day in days], args.profile
        )
        element_rows = sum(t.elements for t in tables)
        if sum(t.notifications for t in tables) != count or sum(f.notifications for f in files) != count:
            raise RuntimeError(f"materialized {tables} / {files}, expected {count} notifications")
        copy_timings, copied = raw_copy_seconds(engine, days)
        if copied != {dnb_notifications.name: count, dnb_notification_elements.name: element_rows}:
            raise RuntimeError(f"raw COPY read back {copied}")
        engine.dispose()

    total_s = land_s + tables_s + files_s
    copy_s = statistics.median(copy_timings)
    ratio = tables_s / copy_s
    print(f"e2e: {count:,} notifications, {landing.pages:,} pages, {len(days)} day(s), PostgreSQL, files as json")
    print(f"  mix: {mix_text()} (emulator SEED blocks ~40 KB)")
    row("landing (Pull + land_page)", f"{land_s:.2f} s", rate(count, land_s))
    row("table materialization (build_day_tables)", f"{tables_s:.2f} s",
        f"{rate(count, tables_s)}  ({count:,} + {element_rows:,} element rows)")
    row("file materialization (export_day, json)", f"{files_s:.2f} s",
        f"{rate(count, files_s)}  ({sum(f.files_written for f in files):,} files,"
        f" {sum(f.bytes_written for f in files) / 1e6:,.0f} MB)")
    row("end to end", f"{total_s:.2f} s",
        f"{rate(count, total_s)}  goal >= {E2E_GOAL_PER_SECOND:,}/s  {verdict(count / total_s >= E2E_GOAL_PER_SECOND)}")
    row("raw COPY of the same rows", f"{copy_s:.2f} s",
        f"median of {RAW_COPY_REPEATS} ({min(copy_timings):.2f}-{max(copy_timings):.2f} s),"
        " into LIKE ... INCLUDING ALL copies, CSV as storage.bulk")
    row("table materialization ÷ raw COPY", f"{ratio:.2f}x",
        f"goal <= {COPY_RATIO_GOAL:.0f}x  {verdict(ratio <= COPY_RATIO_GOAL)}")


# ---- incremental ------------------------------------------------------------------------------------


def incremental(args: argparse.Namespace) -> None:
    count: int = args.notifications
    day = SYNTHETIC_DAY
    with throwaway_database(args.postgres) as url, tempfile.TemporaryDirectory() as scratch:
        engine = migrated_engine(url)
        export = export_settings(Path(scratch))
        landed, land_s, in_land_page = land_synthetic(engine, count)
        started = time.perf_counter()
        build_day_tables(engine, day, rebuild=True)
        export_day(engine, export, day, rebuild=True)
        write_changes_file(engine, export, day)
        full_s = time.perf_counter() - started

        new = args.new
        new_landed, new_land_s, _ = land_synthetic(engine, new, first_page=math.ceil(count / PAGE_SIZE), seed=2)
        # Everything a sensor-triggered run does, in asset order, within the snapshot the sensor took:
        # dnb_notifications' checks, files and their check, tables, company_changes, metrics.
        snapshot, snapshot_s = timed("incremental_snapshot", lambda: take_snapshot(engine), args.profile)
        _, checks_s = timed("incremental_checks", lambda: (
            invalid_landed_rows(engine, day, only_new=True, snapshot=snapshot),
            malformed_duns(engine, day, only_new=True, snapshot=snapshot),
            duplicate_notifications(engine, day, only_new=True, snapshot=snapshot),
        ), args.profile)
        files, files_s = timed("incremental_files",
                               lambda: export_day(engine, export, day, rebuild=False, snapshot=snapshot), args.profile)
        _, verify_s = timed("incremental_verify_day",
                            lambda: verify_day(engine, export, day, checksums=False, snapshot=snapshot), args.profile)
        tables, tables_s = timed("incremental_tables",
                                 lambda: build_day_tables(engine, day, rebuild=False, snapshot=snapshot), args.profile)
        changes, changes_s = timed("incremental_company_changes",
                                   lambda: write_changes_file(engine, export, day, snapshot=snapshot,
                                                              incremental=True), args.profile)
        metrics, metrics_s = timed("incremental_metrics", lambda: day_metrics(engine, day), args.profile)
        if tables.notifications != new or files.notifications != new or metrics.notifications != count + new:
            raise RuntimeError(f"incremental run wrote {tables} / {files}; metrics saw {metrics.notifications}")
        engine.dispose()

    asset_s = snapshot_s + checks_s + files_s + verify_s + tables_s + changes_s + metrics_s
    print(f"incremental: a day of {landed:,} notifications, fully materialized, then {new_landed} new ones")
    print(f"  mix: {mix_text()} (synthetic SEED blocks ~{SYNTHETIC_SEED_BLOCK_KB} KB)")
    print_landing(landed, land_s, in_land_page)
    row("full materialization", f"{full_s:.2f} s")
    row(f"land {new_landed} new notifications", f"{new_land_s:.3f} s")
    row("take_snapshot (the sensor's, once per tick)", f"{snapshot_s:.3f} s")
    row("checks on the new rows", f"{checks_s:.3f} s")
    row("export_day(rebuild=False)", f"{files_s:.3f} s",
        f"{files.files_written} file(s) written, {files.groups_skipped:,} pages skipped")
    row("verify_day(checksums=False)", f"{verify_s:.3f} s")
    row("build_day_tables(rebuild=False)", f"{tables_s:.3f} s",
        f"{tables.notifications} rows, {tables.elements} element rows")
    row("company_changes file (appended)", f"{changes_s:.3f} s",
        f"{changes.appended} appended to {changes.changes:,} changes, {changes.bytes_written / (1 << 20):.1f} MiB")
    row("day_metrics", f"{metrics_s:.3f} s")
    row("sensor-triggered run, all asset code", f"{asset_s:.3f} s",
        f"goal < {INCREMENTAL_GOAL_SECONDS:.0f} s  {verdict(asset_s < INCREMENTAL_GOAL_SECONDS)}")


# ---- memory -----------------------------------------------------------------------------------------


def materialize(args: argparse.Namespace) -> None:
    """Materialize one day and print JSON figures: the child process of ``memory``."""
    engine = create_db_engine(args.url)
    day = date.fromisoformat(args.day)
    export = export_settings(Path(args.base_path))
    figures: dict[str, Any] = {"rss_before_bytes": peak_rss_bytes()}
    started = time.perf_counter()
    tables = build_day_tables(engine, day, rebuild=True)
    figures.update(tables_seconds=time.perf_counter() - started, tables_notifications=tables.notifications,
                   tables_elements=tables.elements, rss_after_tables_bytes=peak_rss_bytes())
    started = time.perf_counter()
    files = export_day(engine, export, day, rebuild=True)
    figures.update(files_seconds=time.perf_counter() - started, files_notifications=files.notifications,
                   files_written=files.files_written, rss_after_files_bytes=peak_rss_bytes())
    started = time.perf_counter()
    changes = write_changes_file(engine, export, day)
    figures.update(changes_seconds=time.perf_counter() - started, changes=changes.changes,
                   rss_after_changes_bytes=peak_rss_bytes())
    engine.dispose()
    print(json.dumps(figures))


def memory(args: argparse.Namespace) -> None:
    count: int = args.notifications
    with throwaway_database(args.postgres) as url, tempfile.TemporaryDirectory() as scratch:
        engine = migrated_engine(url)
        landed, land_s, in_land_page = land_synthetic(engine, count)
        engine.dispose()
        child = subprocess.run(
            [sys.executable, __file__, "materialize", "--url", url, "--day", SYNTHETIC_DAY.isoformat(),
             "--base-path", scratch],
            check=True, stdout=subprocess.PIPE, text=True,
        )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    if figures["tables_notifications"] != count or figures["files_notifications"] != count:
        raise RuntimeError(f"materialized {figures}, expected {count} notifications")
    peak = peak_rss_bytes(resource.RUSAGE_CHILDREN)
    mib = 1 << 20
    print(f"memory: a day of {landed:,} notifications materialized in a fresh process (PostgreSQL, json files)")
    print(f"  mix: {mix_text()} (synthetic SEED blocks ~{SYNTHETIC_SEED_BLOCK_KB} KB)")
    print_landing(landed, land_s, in_land_page)
    row("build_day_tables(rebuild=True)", f"{figures['tables_seconds']:.2f} s",
        f"{figures['tables_elements']:,} element rows")
    row("export_day(rebuild=True)", f"{figures['files_seconds']:.2f} s", f"{figures['files_written']:,} files")
    row("peak RSS after imports", f"{figures['rss_before_bytes'] / mib:.0f} MiB")
    row("peak RSS after build_day_tables", f"{figures['rss_after_tables_bytes'] / mib:.0f} MiB")
    row("peak RSS after export_day", f"{figures['rss_after_files_bytes'] / mib:.0f} MiB")
    row("write_changes_file", f"{figures['changes_seconds']:.2f} s", f"{figures['changes']:,} changes")
    row("peak RSS after write_changes_file", f"{figures['rss_after_changes_bytes'] / mib:.0f} MiB")
    row("peak RSS of the process", f"{peak / mib:.0f} MiB",
        f"goal < {MEMORY_GOAL_BYTES / mib:.0f} MiB  {verdict(peak < MEMORY_GOAL_BYTES)}")


# ---- command line -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")

    def add(name: str, run: Callable[[argparse.Namespace], None], notifications: int, help_text: str
            ) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.set_defaults(run=run)
        command.add_argument("--notifications", type=int, default=notifications)
        command.add_argument("--postgres", default=POSTGRES_ADMIN_URL,
                             help="server to create the throwaway database on (any database URL on it)")
        return command

    profile_help = "write a cProfile file per timed stage here"
    add("e2e", e2e, 100_000, "land from the emulator and materialize a day; notifications/s").add_argument(
        "--profile", type=Path, help=profile_help
    )
    incremental_command = add("incremental", incremental, 100_000, "cost of a sensor-triggered run on a full day")
    incremental_command.add_argument("--profile", type=Path, help=profile_help)
    incremental_command.add_argument(
        "--new", type=int, default=100, help="notifications landed after the day was materialized"
    )
    add("memory", memory, 1_000_000, "peak RSS of a day's materialization in a fresh process")
    child = commands.add_parser("materialize", help="(used by memory) materialize one day, print JSON figures")
    child.set_defaults(run=materialize)
    child.add_argument("--url", required=True)
    child.add_argument("--day", required=True)
    child.add_argument("--base-path", required=True)

    argv = sys.argv[1:]
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["e2e", *argv]  # e2e is the default command
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
