"""`monitoring-pipeline sandbox` and the demo's sandbox, run as real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
from click.testing import CliRunner

from monitoring_pipeline.cli import main
from monitoring_pipeline.cli.demo import demo_services_environment
from monitoring_pipeline.fakes.sandbox import SandboxAdmin, load_scenario
from monitoring_pipeline_tests.fakes.sandbox.test_scenario import DEMO, DEMO_NAMES
from monitoring_pipeline_tests.waiting import eventually

REPO = Path(__file__).resolve().parents[3]
URL = re.compile(r"https?://127\.0\.0\.1:\d+")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


@contextmanager
def running(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def url_from(stream: IO[str] | None, prefix: str) -> str:
    """The first URL on the first line starting with ``prefix`` (the process prints it once it listens)."""
    assert stream is not None
    for line in stream:
        if prefix in line:
            match = URL.search(line)
            assert match, line
            return match.group(0)
    raise AssertionError(f"the process ended without printing {prefix!r}")


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


def test_demo_starts_the_sandbox_next_to_the_emulator() -> None:
    with running(cli("demo", "--no-dagster", "--emulator-port", "0", "--sandbox-port", "0")) as process:
        emulator = url_from(process.stdout, "D&B emulator on")
        sandbox = url_from(process.stdout, "Integration sandbox on")
        assert httpx.get(emulator + "/_emulator/health").status_code == 200
        assert httpx.get(sandbox + "/stripe").status_code == 200
        assert httpx.get(sandbox + "/clearbit", headers={"X-Api-Key": "demo-api-key"}).status_code == 200


def test_demo_stops_cleanly_on_sigterm() -> None:
    process = cli("demo", "--no-dagster", "--emulator-port", "0", "--sandbox-port", "0")
    with running(process):
        emulator = url_from(process.stdout, "D&B emulator on")
        sandbox = url_from(process.stdout, "Integration sandbox on")
        process.terminate()
        assert process.wait(timeout=30) == 0  # handled like Ctrl-C, not killed by the signal
    for url in (emulator, sandbox):
        try:
            httpx.get(url + "/", timeout=2)
        except httpx.ConnectError:
            continue
        raise AssertionError(f"{url} still answers after the demo stopped")


def test_demo_started_in_the_background_still_stops_on_sigint() -> None:
    """A shell starts background jobs with SIGINT ignored; the demo (and the dagster dev it starts) must not
    inherit that, or they could not be stopped with it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline.cli", "demo", "--no-dagster", "--emulator-port", "0",
         "--sandbox-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    with running(process):
        url_from(process.stdout, "Integration sandbox on")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_demo_passes_the_sandbox_to_dagster(monkeypatch) -> None:
    monkeypatch.delenv("INTEGRATIONS_CONFIG", raising=False)
    monkeypatch.setenv("SANDBOX_OAUTH_CLIENT_SECRET", "from-env")
    env = demo_services_environment("http://127.0.0.1:1", "key", "secret", "http://127.0.0.1:2", load_scenario(DEMO))
    assert env["SANDBOX_URL"] == "http://127.0.0.1:2"
    assert env["INTEGRATIONS_CONFIG"] == str(REPO / "config" / "integrations.demo.yaml")
    assert env["SANDBOX_OAUTH_CLIENT_SECRET"] == "from-env"
    assert (env["DNB_BASE_URL"], env["DNB_CLIENT_ID"], env["DNB_CLIENT_SECRET"]) == ("http://127.0.0.1:1", "key",
                                                                                      "secret")
    monkeypatch.setenv("INTEGRATIONS_CONFIG", "/elsewhere.yaml")
    assert demo_services_environment("", "", "", "", load_scenario(DEMO))["INTEGRATIONS_CONFIG"] == "/elsewhere.yaml"
