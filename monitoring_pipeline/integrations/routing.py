"""Publishing routing decisions as a JSON file applications read (the database table is written with the pass)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitoring_pipeline.integrations.failover import RoutingDecision
from monitoring_pipeline.storage.local_files import atomic_write_bytes

ROUTING_FORMAT_VERSION = 1


def routing_document(decisions: Sequence[RoutingDecision], generated_at: datetime) -> dict[str, object]:
    return {
        "version": ROUTING_FORMAT_VERSION,
        "generated_at": generated_at.isoformat(),
        "groups": {decision.group: decision.as_json() for decision in sorted(decisions, key=lambda d: d.group)},
    }


def publish_routing(path: Path, decisions: Sequence[RoutingDecision], generated_at: datetime) -> None:
    """Write the routing file atomically: a reader sees the previous decision or the new one, never half."""
    document = routing_document(decisions, generated_at)
    atomic_write_bytes(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())
