"""Alerting: rules over everything the project observes, a persisted alert lifecycle, routing, grouping, silences,
inhibition, escalation and acknowledgement (the engine), and delivery through a transactional outbox to channels
(e-mail, Slack, Discord, Teams, PagerDuty, SMS, webhooks, Alertmanager). Plain Python, no Dagster imports."""
