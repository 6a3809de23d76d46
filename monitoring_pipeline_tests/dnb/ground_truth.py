"""Compare what a client landed with the emulator's delivery log: nothing lost, nothing duplicated."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from monitoring_pipeline.dnb.keys import page_keys
from monitoring_pipeline.dnb.models import NotificationPage
from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin


def delivered_keys(admin: EmulatorAdmin, reference: str) -> Counter[str]:
    """Keys of every notification the emulator handed out for ``reference``, page by page as delivered."""
    pages: dict[str, list] = {}
    for entry in admin.deliveries(reference=reference):
        pages.setdefault(entry["deliveryTimeStamp"], []).append(entry["notification"])
    return Counter(key for page in pages.values() for key in page_keys(reference, page))


def landed_keys(pages: Iterable[NotificationPage]) -> Counter[str]:
    """Content keys of every notification the client yielded, counting repeats."""
    return Counter(key for page in pages for key in page.keys)


def assert_exactly_once(admin: EmulatorAdmin, reference: str, pages: Iterable[NotificationPage]) -> int:
    landed = landed_keys(pages)
    delivered = delivered_keys(admin, reference)
    duplicates = {key: n for key, n in landed.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} notifications yielded more than once"
    missing = set(delivered) - set(landed)
    assert not missing, f"{len(missing)} delivered notifications never reached us"
    extra = set(landed) - set(delivered)
    assert not extra, f"{len(extra)} notifications we hold were never delivered"
    return len(landed)
