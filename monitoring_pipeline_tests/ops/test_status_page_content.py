"""What the status page's HTML says about things that need no browser to check."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx

from monitoring_pipeline.ops.server import OpsServer
from monitoring_pipeline_tests.ops.conftest import ops_config


def test_a_disabled_destination_reads_disabled_not_never_copied(engine, seeded, ops_env, tmp_path):
    destinations = tmp_path / "destinations.yaml"
    destinations.write_text(
        "destinations:\n"
        "  archive:\n"
        "    type: s3\n"
        "    enabled: false\n"
        "    bucket: example-bucket\n"
        "    region: eu-west-1\n"
    )
    settings = replace(seeded[1], destinations_file=destinations)
    server = OpsServer(engine, settings, ops_config(), extra_routes=[]).start()
    try:
        page = httpx.get(f"{server.url}/").text
    finally:
        server.stop()
    row = re.search(r"<tr><td>archive <small>\(s3\)</small></td><td>(.*?)</td>", page)
    assert row is not None, "the disabled destination is listed"
    assert "disabled" in row.group(1) and "never" not in row.group(1)
