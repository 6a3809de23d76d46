"""The rules every deployment gets without writing one (``default_rules: false`` in the alerting file turns them
off; a rule there with one of these names is merged over it, e.g. ``{name: dnb_company_renamed, enabled: false}``).

Written as the YAML would be, so ``alerts check-config`` validates them like any other rule.
"""

from __future__ import annotations

from typing import Any

RUNBOOK = "https://github.com/monitoring-pipeline/docs/blob/main/docs/alerting.md"

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    # -- integration health --------------------------------------------------------------------------------------
    {
        "name": "integration_down",
        "source": "integration_state",
        "states": ["DOWN"],
        "severity": "critical",
        "keep_firing_for": "2m",  # a flapping API stays one alert instead of a page a minute
        "annotations": {
            "summary": "{{ labels.integration }} is DOWN",
            "description": "{{ labels.integration }} ({{ labels.category }}) is DOWN since {{ details.since }}: "
                           "{{ details.cause }}{% if details.explained_by %} (explained by "
                           "{{ details.explained_by }}){% endif %}",
            "runbook_url": RUNBOOK + "#integration_down",
        },
    },
    {
        "name": "integration_degraded",
        "source": "integration_state",
        "states": ["DEGRADED"],
        "severity": "warning",
        "for": "5m",
        "annotations": {
            "summary": "{{ labels.integration }} is slow (DEGRADED)",
            "description": "{{ labels.integration }} answers, but slower than its latency.degraded threshold: "
                           "{{ details.cause }}",
        },
    },
    {
        "name": "integration_failover",
        "source": "integration_failover",
        "severity": "info",
        "resolve_after": "1h",
        "annotations": {
            "summary": "failover {{ labels.failover_group }}: {{ labels.from_integration }} -> "
                       "{{ labels.to_integration }}",
            "description": "{{ details.reason }}",
        },
    },
    {
        "name": "sla_fast_burn",
        "source": "sla_burn_rate",
        "long_window": "1h",
        "short_window": "5m",
        "factor": 14.4,
        "severity": "critical",
        "annotations": {
            "summary": "{{ labels.integration }} burns its error budget {{ details.burn_rate_long | round(1) }}x "
                       "too fast",
            "description": "Burn rate {{ details.burn_rate_long | round(1) }} over 1h and "
                           "{{ details.burn_rate_short | round(1) }} over 5m against an SLA of {{ details.sla }}%: "
                           "at this pace 2% of the 30-day budget goes in an hour.",
        },
    },
    {
        "name": "sla_slow_burn",
        "source": "sla_burn_rate",
        "long_window": "6h",
        "short_window": "30m",
        "factor": 6,
        "severity": "error",
        "evaluate_every": "5m",
        "annotations": {
            "summary": "{{ labels.integration }} burns its error budget {{ details.burn_rate_long | round(1) }}x "
                       "too fast (6h)",
            "description": "Burn rate {{ details.burn_rate_long | round(1) }} over 6h and "
                           "{{ details.burn_rate_short | round(1) }} over 30m against an SLA of {{ details.sla }}%.",
        },
    },
    {
        "name": "integration_error_rate_high",
        "source": "threshold",
        "metric": "integration_error_rate",
        "window": "15m",
        "op": ">",
        "threshold": 0.1,
        "min_samples": 5,
        "severity": "warning",
        "annotations": {
            "summary": "{{ labels.integration }}: {{ value | percent }} of probes failed in 15m",
        },
    },
    {
        "name": "integration_latency_high",
        "source": "threshold",
        "metric": "integration_latency_p95_ms",
        "window": "15m",
        "op": ">",
        "threshold": 2000,
        "min_samples": 5,
        "severity": "warning",
        "annotations": {
            "summary": "{{ labels.integration }}: p95 latency {{ value | round | int }} ms over 15m",
        },
    },
    {
        "name": "integration_latency_anomaly",
        "source": "anomaly",
        "metric": "integration_latency_p95_ms",
        "severity": "info",
        "annotations": {
            "summary": "{{ labels.integration }}: p95 latency {{ value | round | int }} ms on {{ details.day }}, "
                       "unusual against its median of {{ details.median | round | int }} ms",
            "description": "Robust z-score {{ details.robust_z | round(1) }} over {{ details.history }} days of "
                           "history.",
        },
    },
    {
        "name": "provider_incident",
        "source": "provider_incident",
        # severity by the incident's impact: critical -> critical, major -> error, minor -> warning
        "annotations": {
            "summary": "{{ labels.integration }}: {{ details.title }} (declared by the provider, {{ details.impact }})",
            "description": "{{ labels.provider }} says: {{ details.status }}{% if details.detail %}: "
                           "{{ details.detail }}{% endif %}",
            "status_page_url": "{{ details.url }}",
        },
    },
    # -- Dagster ----------------------------------------------------------------------------------------------------
    {
        "name": "asset_check_failed",
        "source": "asset_check",
        # integration health's check repeats integration_down / integration_degraded: leave it to those rules.
        "matchers": ['check_name!="health_state"'],
        "annotations": {
            "summary": "check {{ labels.check_name }} failed on {{ labels.asset }}",
            "description": "{{ details.description }}",
        },
    },
    {
        "name": "dagster_run_failed",
        "source": "dagster_run",
        "severity": "error",
        "annotations": {
            "summary": "job {{ labels.job }} failed",
            "description": "run {{ details.run_id }}: {{ details.error }}",
        },
    },
    {
        "name": "dagster_tick_failed",
        "source": "dagster_tick",
        "severity": "error",
        "consecutive": {"failures": 2},
        "annotations": {
            "summary": "{{ labels.instigator_type }} {{ labels.instigator }} is failing",
            "description": "{{ details.error }}",
        },
    },
    {
        "name": "landing_stale",
        "source": "landing_freshness",
        "max_age": "30m",
        "severity": "error",
        "annotations": {
            "summary": "no D&B notifications landed for {{ labels.reference }} for {{ details.age | duration }}",
            "description": "Last successful pull: {{ details.last_success_at or 'never' }}. "
                           "{% if details.last_error %}Last error: {{ details.last_error }}{% endif %}",
        },
    },
    {
        "name": "dnb_quarantine",
        "source": "threshold",
        "metric": "dnb_quarantine_count",
        "window": "24h",
        "op": ">",
        "threshold": 0,
        "severity": "warning",
        "annotations": {
            "summary": "{{ value | int }} D&B notifications of {{ labels.reference }} quarantined in 24h",
            "description": "They failed validation and wait in dnb_quarantine with their reasons.",
        },
    },
    {
        "name": "dnb_rate_budget_high",
        "source": "threshold",
        "metric": "dnb_rate_budget_use",
        "window": "1h",
        "op": ">",
        "threshold": 0.9,
        "severity": "warning",
        "annotations": {"summary": "D&B calls used {{ value | percent }} of the rate budget over the last hour"},
    },
    {
        "name": "dnb_notification_volume_anomaly",
        "source": "anomaly",
        "metric": "dnb_notification_volume",
        "direction": "both",
        "severity": "warning",
        "annotations": {
            "summary": "{{ labels.reference }}: {{ value | int }} notifications on {{ details.day }}, unusual "
                       "against a median of {{ details.median | round(1) }}",
            "description": "Robust z-score {{ details.robust_z | round(1) }} over {{ details.history }} days.",
        },
    },
    # -- D&B company events -------------------------------------------------------------------------------------
    {
        "name": "dnb_company_deleted",
        "source": "dnb_event",
        "types": ["DELETE"],
        "severity": "warning",
        "annotations": {
            "summary": "D&B deleted DUNS {{ labels.duns }} ({{ labels.reference }})",
            "description": "{{ details.name or 'The company' }} is no longer in D&B's data; nothing follows until "
                           "an UNDELETE.",
        },
    },
    {
        "name": "dnb_company_transferred",
        "source": "dnb_event",
        "types": ["TRANSFER"],
        "severity": "warning",
        "annotations": {
            "summary": "DUNS {{ labels.duns }} ({{ labels.reference }}) was transferred",
            "description": "{{ details.changes }}",
        },
    },
    {
        "name": "dnb_company_under_review",
        "source": "dnb_event",
        "types": ["UNDER_REVIEW"],
        "severity": "info",
        "annotations": {"summary": "DUNS {{ labels.duns }} ({{ labels.reference }}) is under review at D&B"},
    },
    {
        "name": "dnb_company_out_of_business",
        "source": "dnb_event",
        "types": ["UPDATE"],
        "elements": [
            {"path": "organization.dunsControlStatus.operatingStatus", "current": {"dnbCode": 403}},
            {"path": "organization.dunsControlStatus.isOutOfBusiness", "current": True},
        ],
        "severity": "error",
        "annotations": {
            "summary": "{{ details.name or 'DUNS ' ~ labels.duns }} went out of business ({{ labels.reference }})",
            "description": "{{ details.changes }}",
        },
    },
    {
        "name": "dnb_company_renamed",
        "source": "dnb_event",
        "types": ["UPDATE"],
        "elements": ["organization.primaryName"],
        "severity": "info",
        "annotations": {
            "summary": "DUNS {{ labels.duns }} ({{ labels.reference }}) changed its name",
            "description": "{{ details.changes }}",
        },
    },
    # -- alerting itself ------------------------------------------------------------------------------------------
    {
        "name": "receiver_failing",
        "source": "receiver_health",
        "severity": "error",
        "annotations": {
            "summary": "receiver {{ labels.receiver }} is failing: {{ details.reason }}",
            "description": "Its notifications are held until its configuration is fixed or `monitoring-pipeline "
                           "alerts test {{ labels.receiver }}` succeeds. This notice goes to every other receiver.",
        },
    },
)
