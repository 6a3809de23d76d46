"""D&B notifications: landing, registrations and portfolios, day processing, files, company state. No Dagster."""
