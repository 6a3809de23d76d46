"""D&B notifications as daily-partitioned assets (one partition per UTC delivery day), with their checks."""

import functools
from collections import Counter
from dataclasses import dataclass

import dagster as dg

from monitoring_pipeline.defs.dnb.checks import check_spec, finding_from, finding_result, merge_findings
from monitoring_pipeline.defs.dnb.resources import DnbApiResource, NotificationStorageResource, RegistrationsResource
from monitoring_pipeline.defs.dnb.snapshots import day_run_snapshot, snapshot_metadata
from monitoring_pipeline.defs.dnb.specs import (
    DNB_POOL,
    DUNS_FORMAT,
    FILES_MATCH_LANDED,
    GROUP,
    LANDED_SCHEMA_VALID,
    NO_DUPLICATES,
    OWNERS,
    QUARANTINE_EMPTY,
    ROWS_MATCH_LANDED,
    is_landing_run,
)
from monitoring_pipeline.defs.shared.metadata import markdown_table
from monitoring_pipeline.defs.shared.partitions import partition_days
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.dnb.models import NOTIFICATION_TYPES
from monitoring_pipeline.notifications.company_changes import write_changes_file
from monitoring_pipeline.notifications.day_tables import build_day_tables, day_row_counts
from monitoring_pipeline.notifications.files import export_day, verify_day
from monitoring_pipeline.notifications.landed_store import day_summary, landed_rows_of_type, quarantine_reasons
from monitoring_pipeline.notifications.metrics import day_metrics
from monitoring_pipeline.notifications.monitored_companies import company_status_counts, update_companies
from monitoring_pipeline.notifications.quality import duplicate_notifications, invalid_landed_rows, malformed_duns
from monitoring_pipeline.notifications.registration_sync import record_transfer_actions
from monitoring_pipeline.notifications.replay import replay_day


@dataclass(frozen=True)
class NotificationAssets:
    """The D&B notification assets: the day assets the landing sensor runs, and the current company state."""

    dnb_notifications: dg.AssetsDefinition
    notification_files: dg.AssetsDefinition
    notifications_table: dg.AssetsDefinition
    company_changes: dg.AssetsDefinition
    notification_metrics: dg.AssetsDefinition
    monitored_companies: dg.AssetsDefinition

    @property
    def day_assets(self) -> list[dg.AssetsDefinition]:
        return [self.dnb_notifications, self.notification_files, self.notifications_table, self.company_changes,
                self.notification_metrics]

    @property
    def all(self) -> list[dg.AssetsDefinition]:
        return [*self.day_assets, self.monitored_companies]


def build_notification_assets(partitions: dg.DailyPartitionsDefinition) -> NotificationAssets:
    # Every day asset: one partition per UTC delivery day, same group and owners.
    day_asset = functools.partial(dg.asset, partitions_def=partitions, group_name=GROUP, owners=OWNERS)

    @day_asset(
        kinds={"python", "sql"},
        pool=DNB_POOL,
        check_specs=[
            check_spec(LANDED_SCHEMA_VALID, "dnb_notifications",
                   "Every landed notification of the day passes validation.", blocking=True),
            check_spec(DUNS_FORMAT, "dnb_notifications", "Every DUNS is 9 digits.", blocking=True),
            check_spec(NO_DUPLICATES, "dnb_notifications",
                   "No notification is stored twice under different keys.", blocking=True),
            check_spec(QUARANTINE_EMPTY, "dnb_notifications",
                   "No notification of the day was quarantined (malformed ones are kept aside with the reason)."),
        ],
    )
    def dnb_notifications(
        context: dg.AssetExecutionContext,
        dnb: DnbApiResource,
        database: ProjectDatabaseResource,
        registrations: RegistrationsResource,
    ) -> dg.MaterializeResult:
        """The day's validated D&B notifications, as landed by the pull sensor. A backfill (or manual run) first
        replays the day through D&B's Replay API, landing anything missing: backfill is replay."""
        engine = database.get_engine()
        days = partition_days(context)
        landing_run = is_landing_run(context)
        replays = []
        if not landing_run:
            references = registrations.pulled_references()
            replays = [replay_day(dnb.get_client(), engine, references, day) for day in days]
            for replay in replays:
                context.log.info(
                    "replayed %s (%s coverage): %d returned, %d recovered",
                    replay.day, replay.coverage, replay.replayed, replay.recovered,
                )
        # Taken after the replay: what this run judges, whatever lands while it works.
        snapshot = day_run_snapshot(context, engine)
        summaries = [day_summary(engine, day, snapshot=snapshot) for day in days]
        transfers = sum(
            record_transfer_actions(engine, reference, rows)
            for day in days
            for reference, rows in _by_reference(landed_rows_of_type(engine, day, "TRANSFER")).items()
        )
        notifications = sum(s.notifications for s in summaries)
        quarantined = sum(s.quarantined for s in summaries)
        metadata: dict[str, object] = {
            "dagster/row_count": notifications,
            "notifications": notifications,
            "quarantined": quarantined,
            "transfer_actions_recorded": transfers,
            "replayed": sum(r.replayed for r in replays),
            "recovered_by_replay": sum(r.recovered for r in replays),
            "replay_coverage": ", ".join(sorted({r.coverage for r in replays})) or "not replayed (landing run)",
            "preview": markdown_table(summaries[-1].preview if summaries else []),
            **snapshot_metadata(snapshot),
        }
        by_type = sum((s.by_type for s in summaries), start=Counter())
        for notification_type in NOTIFICATION_TYPES:  # every type, every time: stable keys plot across partitions
            metadata[f"type_{notification_type.lower()}"] = by_type.get(notification_type, 0)
        if any(r.coverage == "outside" for r in replays):
            metadata["note"] = "older than D&B's 14-day replay window: rebuilt from what was landed"
        rules = {"only_new": landing_run, "snapshot": snapshot}
        judged = snapshot_metadata(snapshot)
        reasons = [r for d in days for r in quarantine_reasons(engine, d, snapshot=snapshot)]
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                finding_result(LANDED_SCHEMA_VALID, merge_findings([invalid_landed_rows(engine, d, **rules)
                                                                    for d in days]),
                               dg.AssetCheckSeverity.ERROR, **judged),
                finding_result(DUNS_FORMAT, merge_findings([malformed_duns(engine, d, **rules) for d in days]),
                               dg.AssetCheckSeverity.ERROR, **judged),
                finding_result(NO_DUPLICATES, merge_findings([duplicate_notifications(engine, d, **rules)
                                                              for d in days]),
                               dg.AssetCheckSeverity.ERROR, **judged),
                dg.AssetCheckResult(
                    check_name=QUARANTINE_EMPTY,
                    passed=quarantined == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "quarantined": quarantined,
                        "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in reasons) or "_none_"),
                        **judged,
                    },
                ),
            ],
        )

    @day_asset(
        deps=[dnb_notifications],
        kinds={"python", "json", "parquet"},
        check_specs=[check_spec(FILES_MATCH_LANDED, "notification_files",
                            "The day's files, manifest checksums and counts match what was landed.")],
    )
    def notification_files(
        context: dg.AssetExecutionContext, database: ProjectDatabaseResource, storage: NotificationStorageResource
    ) -> dg.MaterializeResult:
        """Date-organised files: notifications/YYYY/MM/DD/<reference>/notifications_YYYYMMDD_HHMMSS_NNN.json (one
        per Pull page, in the seed's JSON format) plus the configured CSV/Parquet copies. Sensor runs write only new
        pages; backfills rebuild the day and remove stale files."""
        engine, export = database.get_engine(), storage.export_settings()
        rebuild = not is_landing_run(context)
        snapshot = day_run_snapshot(context, engine)
        days = partition_days(context)
        results = [export_day(engine, export, day, rebuild=rebuild, snapshot=snapshot) for day in days]
        problems = [p for day in days for p in verify_day(engine, export, day, checksums=rebuild, snapshot=snapshot)]
        return dg.MaterializeResult(
            metadata={
                "files_written": sum(r.files_written for r in results),
                "files_unchanged": sum(r.files_unchanged for r in results),
                "files_removed": sum(r.files_removed for r in results),
                "bytes_written": sum(r.bytes_written for r in results),
                "notifications": sum(r.notifications for r in results),
                "mode": "rebuild" if rebuild else "incremental",
                "base_path": dg.MetadataValue.path(str(export.base_path)),
                "written": dg.MetadataValue.md("\n".join(f"- `{p}`" for r in results for p in r.paths) or "_none_"),
                **snapshot_metadata(snapshot),
            },
            check_results=[
                finding_result(FILES_MATCH_LANDED, finding_from(problems), dg.AssetCheckSeverity.ERROR,
                               **snapshot_metadata(snapshot))
            ],
        )

    @day_asset(
        deps=[dnb_notifications],
        kinds={"python", "sql"},
        check_specs=[check_spec(ROWS_MATCH_LANDED, "notifications_table",
                            "The day's table rows match the landed notifications.", blocking=True)],
    )
    def notifications_table(context: dg.AssetExecutionContext, database: ProjectDatabaseResource
                            ) -> dg.MaterializeResult:
        """Notifications (dnb_notifications) and their element changes (dnb_notification_elements) as rows, one
        delivery day per partition; idempotent per day."""
        engine = database.get_engine()
        rebuild = not is_landing_run(context)
        snapshot = day_run_snapshot(context, engine)
        days = partition_days(context)
        results = [build_day_tables(engine, day, rebuild=rebuild, snapshot=snapshot) for day in days]
        counts = [day_row_counts(engine, day, snapshot) for day in days]
        mismatched = [f"{day}: {landed} landed, {tabled} rows"
                      for day, (landed, tabled) in zip(days, counts, strict=True)
                      if landed != tabled]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": sum(tabled for _, tabled in counts),
                "rows_written": sum(r.notifications for r in results),
                "element_rows_written": sum(r.elements for r in results),
                "mode": "rebuild" if rebuild else "incremental",
                "seconds": round(sum(r.seconds for r in results), 3),
                **snapshot_metadata(snapshot),
            },
            check_results=[finding_result(ROWS_MATCH_LANDED, finding_from(mismatched), dg.AssetCheckSeverity.ERROR,
                                          **snapshot_metadata(snapshot))],
        )

    @day_asset(
        deps=[notifications_table],
        kinds={"python", "sql", "parquet"},
    )
    def company_changes(context: dg.AssetExecutionContext, database: ProjectDatabaseResource,
                        storage: NotificationStorageResource) -> dg.MaterializeResult:
        """Element-level changes flattened for analysis (DUNS, element path, previous, current, change time,
        notification type): the dnb_company_changes view over notifications_table, and the day's file
        company_changes/YYYY/MM/DD/company_changes_YYYYMMDD.parquet (one row per change of the run's snapshot,
        in delivery order, the columns of the per-page CSV/Parquet files), written atomically: sensor runs append the
        new changes, backfills rebuild it."""
        engine, export = database.get_engine(), storage.export_settings()
        snapshot = day_run_snapshot(context, engine)
        incremental = is_landing_run(context)
        files = [write_changes_file(engine, export, day, snapshot=snapshot, incremental=incremental)
                 for day in partition_days(context)]
        top = files[-1].top_elements if files else []
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": sum(f.changes for f in files),
                "companies_changed": sum(f.companies for f in files),
                "bytes_written": sum(f.bytes_written for f in files),
                "changes_appended": sum(f.appended or 0 for f in files),
                "mode": "incremental" if incremental else "rebuild",
                "view": "dnb_company_changes",
                "files": dg.MetadataValue.md("\n".join(f"- `{f.path}`" for f in files if f.path) or "_none_"),
                "top_elements": markdown_table([{"element": e, "changes": n} for e, n in top]),
                **snapshot_metadata(snapshot),
            }
        )

    @day_asset(
        deps=[notifications_table],
        kinds={"python", "sql"},
    )
    def notification_metrics(context: dg.AssetExecutionContext, database: ProjectDatabaseResource
                             ) -> dg.MaterializeResult:
        """Per-day counts by notification type, companies affected, element changes, quarantine and delivery lag
        (change time to delivery): stable numeric metadata the Dagster UI plots across partitions."""
        engine = database.get_engine()
        figures: dict[str, float | int] = {}
        for day in partition_days(context):
            for key, value in day_metrics(engine, day).as_metadata().items():
                # Over a multi-day run counts add up; for the lag percentiles the worst day is shown.
                figures[key] = max(figures.get(key, 0), value) if "lag" in key else figures.get(key, 0) + value
        return dg.MaterializeResult(metadata=dict(figures))

    @dg.asset(
        deps=[dnb_notifications],
        group_name=GROUP,
        kinds={"python", "sql"},
        owners=OWNERS,
    )
    def monitored_companies(database: ProjectDatabaseResource) -> dg.MaterializeResult:
        """Each monitored company's current state per registration (its last SEED with every later UPDATE applied
        in order) and its status: active, deleted, under review, transferred (to which DUNS), exited or removed."""
        engine = database.get_engine()
        result = update_companies(engine)
        counts = company_status_counts(engine)
        metadata: dict[str, object] = {
            "dagster/row_count": sum(counts.values()),
            "notifications_applied": result.notifications_applied,
            "companies_updated": result.companies_updated,
            "companies_recomputed": result.companies_recomputed,
        }
        for status in ("active", "deleted", "under_review", "transferred", "exited", "removed"):
            metadata[f"status_{status}"] = counts.get(status, 0)
        return dg.MaterializeResult(metadata=metadata)

    return NotificationAssets(dnb_notifications, notification_files, notifications_table, company_changes,
                              notification_metrics, monitored_companies)



def _by_reference(rows) -> dict[str, list]:  # type: ignore[no-untyped-def]
    grouped: dict[str, list] = {}
    for row in rows:
        grouped.setdefault(row.reference, []).append(row)
    return grouped
