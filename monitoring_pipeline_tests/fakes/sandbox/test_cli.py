"""`monitoring-pipeline sandbox`, run as a real process."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from monitoring_pipeline.cli import main
from monitoring_pipeline.fakes.sandbox import SandboxAdmin
from monitoring_pipeline_tests.fakes.sandbox.test_scenario import DEMO_NAMES
from monitoring_pipeline_tests.processes import cli, running, url_from
from monitoring_pipeline_tests.waiting import eventually


def test_sandbox_help_lists_its_options() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--scenario", "--tls-cert", "--tls-key", "--http"):
        assert option in result.output
    assert "8766" in result.output


def test_sandbox_serves_a_scenario_on_a_free_port() -> None:
    with running(cli("sandbox", "--port", "0", "--scenario", "config/sandbox.demo.yaml",
                     env={"SANDBOX_OAUTH_CLIENT_SECRET": "cli-oauth-secret"})) as process:
        url = url_from(process.stderr, "Integration sandbox listening on")
        assert eventually(lambda: httpx.get(url + "/_sandbox/health").status_code == 200, ignore=(httpx.HTTPError,))
        assert httpx.get(url + "/shopify").json()["status"]["indicator"] == "none"
        assert httpx.get(url + "/hubspot").status_code == 401
        issued = httpx.post(url + "/oauth/token", data={"grant_type": "client_credentials"},
                            auth=("demo-client", "cli-oauth-secret"))
        assert issued.status_code == 200
        with SandboxAdmin(url) as admin:
            assert [entry["name"] for entry in admin.endpoints()] == sorted(DEMO_NAMES)
            assert admin.oauth_clients() == ["demo-client"]
    assert "cli-oauth-secret" not in process.stderr.read() + process.stdout.read()


def test_sandbox_refuses_a_bad_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("- {name: a, status: 999}\n")
    result = CliRunner().invoke(main, ["sandbox", "--port", "0", "--scenario", str(scenario)])
    assert result.exit_code != 0
    assert f"{scenario}: endpoints[0].status (endpoint 'a'): expected an HTTP status code" in result.output


def test_sandbox_needs_both_tls_files(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    result = CliRunner().invoke(main, ["sandbox", "--port", "0", "--tls-cert", str(cert)])
    assert result.exit_code == 2 and "--tls-cert and --tls-key go together" in result.output
