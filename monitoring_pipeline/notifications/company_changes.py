"""company_changes: the day's element-level changes (DUNS, element path, previous, current, change time, type).

They live in the ``dnb_company_changes`` view over notifications_table, always consistent with it and
costing nothing to keep; with the ``parquet`` format the same columns are in the per-page files too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, func, select

from monitoring_pipeline.storage.schema import dnb_notification_elements


@dataclass
class ChangesSummary:
    changes: int = 0
    companies: int = 0
    top_elements: list[tuple[str, int]] = field(default_factory=list)


def changes_summary(engine: Engine, day: date, top: int = 10) -> ChangesSummary:
    """How many changes the day holds, for how many companies, and which element paths change most.

    Counted on the elements table itself: the view's join adds nothing to these figures.
    """
    view = dnb_notification_elements
    with engine.connect() as connection:
        changes, companies = connection.execute(
            select(func.count(), func.count(func.distinct(view.c.duns))).where(view.c.delivery_day == day)
        ).one()
        top_elements = connection.execute(
            select(view.c.element, func.count().label("n"))
            .where(view.c.delivery_day == day)
            .group_by(view.c.element)
            .order_by(func.count().desc(), view.c.element)
            .limit(top)
        ).all()
    return ChangesSummary(changes, companies, [(element, n) for element, n in top_elements])
