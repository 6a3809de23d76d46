"""`monitoring-pipeline serve`: /metrics, /health, the status page, the JSON API, inbound webhooks,
acknowledgement links and push pings, all read from the project database."""
