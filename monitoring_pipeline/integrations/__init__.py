"""Integration health: configuration, probing, conditions, states, breakers, failover, SLA maths (no Dagster)."""
