"""Fake servers for the tests and the demo, real HTTP servers on loopback (no Dagster):

- ``dnb_emulator``: D&B Direct+ Monitoring, faithful to shared/DNB_DIRECT_PLUS.md, with faults and a delivery log;
- ``sandbox``: fake third-party APIs with programmable status, latency, faults, auth and phases.

They share their plumbing: ``admin`` and ``admin_client`` (the control API each serves under ``/_emulator`` or
``/_sandbox``, and its client) and ``tls`` (self-signed certificates). They serve through
``monitoring_pipeline.httpserver`` (uvicorn in a background thread or the foreground, TLS) and read credentials
with ``monitoring_pipeline.httpauth``, which the project's real servers use too.
"""
