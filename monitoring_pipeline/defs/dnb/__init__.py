"""Dagster glue of the D&B side: landing, day assets, registrations, registration sync, destinations."""
