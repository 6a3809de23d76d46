"""`monitoring-pipeline demo` as a newcomer runs it: real processes in a folder of their own, and `status` in a
second terminal of that folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from dotenv import dotenv_values

from monitoring_pipeline.cli.demo import demo_services_environment
from monitoring_pipeline.cli.demo_env import MARKER
from monitoring_pipeline.fakes.sandbox import load_scenario
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline_tests.processes import REPO, cli, line_from, running, url_from

DEMO = ("demo", "--no-dagster", "--emulator-port", "0", "--sandbox-port", "0", "--inbox-port", "0", "--smtp-port", "0")
# What a newcomer's shell does not set: the demo must work from nothing.
CLEAN: dict[str, str | None] = {name: None for name in (
    "DNB_BASE_URL", "DNB_CLIENT_ID", "DNB_CLIENT_SECRET", "MONITORING_PIPELINE_HOME", "MONITORING_PIPELINE_DATA_DIR",
    "INTEGRATIONS_CONFIG", "SANDBOX_URL", "SANDBOX_OAUTH_CLIENT_SECRET", "CLEARBIT_API_KEY", "DAGSTER_HOME",
    "DATABASE_URL", "DNB_RUN_INTERVAL_SECONDS", "NOTIFICATION_FORMATS")}


def demo(folder: Path, **env: str) -> subprocess.Popen[str]:
    return cli(*DEMO, cwd=folder, env={**CLEAN, "HOME": str(folder / "home"), **env})


def started(process: subprocess.Popen[str]) -> tuple[str, str]:
    """The emulator's URL and the line about the settings file, once the demo has written it."""
    emulator = url_from(process.stdout, "D&B emulator on")
    return emulator, line_from(process.stdout, "settings")


def status(folder: Path) -> dict:
    environment = {name: value for name, value in os.environ.items() if name not in CLEAN}
    done = subprocess.run([sys.executable, "-m", "monitoring_pipeline.cli", "status", "--json"], cwd=folder,
                          capture_output=True, text=True, timeout=120,
                          env={**environment, "HOME": str(folder / "home")})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


@pytest.mark.slow
def test_status_in_a_second_terminal_reports_the_running_demo(tmp_path):
    with running(demo(tmp_path)) as process:
        emulator, said = started(process)
        assert "./.env" in said
        report = status(tmp_path)
        assert report["dnb"]["base_url"] == emulator
        assert report["dnb"]["configured"] is True and report["dnb"]["client_id"] == "demo-key"
        assert report["destinations"][0]["target"] == str(tmp_path / "data")
        assert report["integrations"]["file"] == str(REPO / "config" / "integrations.demo.yaml")
        declared = load_integrations(REPO / "config" / "integrations.demo.yaml",
                                     environ={**os.environ, "SANDBOX_URL": emulator})
        assert report["integrations"]["error"] is None
        assert len(report["integrations"]["integrations"]) == len(declared.integrations)
        assert {r["reference"] for r in report["registrations"]} == {"DEMO_STD", "DEMO_FINANCE", "DEMO_RISK"}
        stop(process)
    # What the file named is gone with the demo: nothing else in this folder may talk to a stopped emulator.
    assert not (tmp_path / ".env").exists()
    assert status(tmp_path)["dnb"]["base_url"] == "https://plus.dnb.com"


def test_the_env_file_holds_the_demo_settings_privately_and_no_secret_of_the_user(tmp_path):
    mine = "sk-my-own-sandbox-secret"
    with running(demo(tmp_path, SANDBOX_OAUTH_CLIENT_SECRET=mine)) as process:
        emulator, _ = started(process)
        env_file = tmp_path / ".env"
        assert env_file.stat().st_mode & 0o777 == 0o600
        text = env_file.read_text()
        assert text.startswith(MARKER)
        values = dotenv_values(env_file)
        assert values["DNB_BASE_URL"] == emulator
        assert values["DNB_CLIENT_SECRET"] == "demo-secret"  # the emulator's published demo credential
        assert values["MONITORING_PIPELINE_HOME"] == str(tmp_path / ".dagster_home" / "monitoring_pipeline")
        assert values["MONITORING_PIPELINE_DATA_DIR"] == str(tmp_path / "data")
        assert httpx.get(values["SANDBOX_URL"] + "/stripe").status_code == 200
        assert mine not in text and "SANDBOX_OAUTH_CLIENT_SECRET" not in values
        assert "# SANDBOX_OAUTH_CLIENT_SECRET is not written here: it comes from your environment." in text
        stop(process)


def test_a_real_dnb_secret_from_the_environment_is_never_written(tmp_path):
    real = "real-dnb-consumer-secret-0123"
    with running(demo(tmp_path, DNB_CLIENT_SECRET=real)) as process:
        started(process)
        text = (tmp_path / ".env").read_text()
        assert real not in text and "DNB_CLIENT_SECRET" not in dotenv_values(tmp_path / ".env")
        stop(process)


def test_an_env_file_of_the_user_is_left_alone_and_the_demo_writes_beside_it(tmp_path):
    theirs = "# my settings\nDNB_BASE_URL=https://plus.dnb.com\nDNB_CLIENT_ID=my-key\n"
    (tmp_path / ".env").write_text(theirs)
    with running(demo(tmp_path)) as process:
        emulator, said = started(process)
        assert "./.env was not written by the demo and is left as it is" in said and "./.env.demo" in said
        assert (tmp_path / ".env").read_text() == theirs
        assert dotenv_values(tmp_path / ".env.demo")["DNB_BASE_URL"] == emulator
        stop(process)
    assert (tmp_path / ".env").read_text() == theirs and not (tmp_path / ".env.demo").exists()


def test_a_leftover_of_a_killed_demo_is_replaced_and_configures_nothing(tmp_path):
    (tmp_path / ".env").write_text(f"{MARKER} at some earlier time (pid 1)\nDNB_BASE_URL='http://127.0.0.1:9'\n"
                                   f"MONITORING_PIPELINE_DATA_DIR='{tmp_path / 'elsewhere'}'\n")
    with running(demo(tmp_path)) as process:
        emulator, said = started(process)
        assert "./.env" in said
        values = dotenv_values(tmp_path / ".env")
        assert values["DNB_BASE_URL"] == emulator
        assert values["MONITORING_PIPELINE_DATA_DIR"] == str(tmp_path / "data")
        stop(process)
    assert not (tmp_path / ".env").exists()


def test_an_env_file_changed_while_the_demo_ran_is_kept(tmp_path):
    with running(demo(tmp_path)) as process:
        started(process)
        with (tmp_path / ".env").open("a") as handle:
            handle.write("MY_OWN=1\n")
        stop(process)
        assert "./.env was changed while the demo ran: left as it is" in process.stdout.read()
    assert dotenv_values(tmp_path / ".env")["MY_OWN"] == "1"


def test_demo_starts_the_sandbox_next_to_the_emulator(tmp_path) -> None:
    with running(demo(tmp_path)) as process:
        emulator = url_from(process.stdout, "D&B emulator on")
        sandbox = url_from(process.stdout, "Integration sandbox on")
        assert httpx.get(emulator + "/_emulator/health").status_code == 200
        assert httpx.get(sandbox + "/stripe").status_code == 200
        assert httpx.get(sandbox + "/clearbit", headers={"X-Api-Key": "demo-api-key"}).status_code == 200


def test_demo_stops_cleanly_on_sigterm(tmp_path) -> None:
    process = demo(tmp_path)
    with running(process):
        emulator = url_from(process.stdout, "D&B emulator on")
        sandbox = url_from(process.stdout, "Integration sandbox on")
        line_from(process.stdout, "settings")
        process.terminate()
        assert process.wait(timeout=30) == 0  # handled like Ctrl-C, not killed by the signal
    for url in (emulator, sandbox):
        try:
            httpx.get(url + "/", timeout=2)
        except httpx.ConnectError:
            continue
        raise AssertionError(f"{url} still answers after the demo stopped")
    assert not (tmp_path / ".env").exists()


def test_demo_started_in_the_background_still_stops_on_sigint(tmp_path) -> None:
    """A shell starts background jobs with SIGINT ignored; the demo (and the dagster dev it starts) must not
    inherit that, or they could not be stopped with it."""
    process = cli(*DEMO, cwd=tmp_path, env={**CLEAN, "HOME": str(tmp_path / "home")},
                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    with running(process):
        url_from(process.stdout, "Integration sandbox on")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_demo_passes_the_sandbox_to_dagster(monkeypatch) -> None:
    monkeypatch.delenv("INTEGRATIONS_CONFIG", raising=False)
    monkeypatch.setenv("SANDBOX_OAUTH_CLIENT_SECRET", "from-env")
    scenario = load_scenario(REPO / "config" / "sandbox.demo.yaml")
    env = demo_services_environment("http://127.0.0.1:1", "key", "secret", "http://127.0.0.1:2", scenario)
    assert env["SANDBOX_URL"] == "http://127.0.0.1:2"
    assert env["INTEGRATIONS_CONFIG"] == str(REPO / "config" / "integrations.demo.yaml")
    assert env["SANDBOX_OAUTH_CLIENT_SECRET"] == "from-env"
    assert (env["DNB_BASE_URL"], env["DNB_CLIENT_ID"], env["DNB_CLIENT_SECRET"]) == ("http://127.0.0.1:1", "key",
                                                                                      "secret")
    monkeypatch.setenv("INTEGRATIONS_CONFIG", "/elsewhere.yaml")
    assert demo_services_environment("", "", "", "", scenario)["INTEGRATIONS_CONFIG"] == "/elsewhere.yaml"


def test_what_dagster_dev_leaves_behind_is_stopped_with_the_demo(tmp_path) -> None:
    """`dagster dev` may exit before its code server or a run's step process does: the demo ends its whole process
    group, so nothing goes on writing after the demo said it stopped."""
    from monitoring_pipeline.cli.demo import _stop_group

    pid_file = tmp_path / "grandchild.pid"
    # A leader that starts a long-lived grandchild and exits, as dagster dev can leave a code server behind.
    leader = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; p = subprocess.Popen(['sleep', '300']); "
                               f"open({str(pid_file)!r}, 'w').write(str(p.pid))"],
        start_new_session=True)
    leader.wait(timeout=30)
    grandchild = int(pid_file.read_text())
    os.kill(grandchild, 0)  # alive, orphaned
    _stop_group(leader.pid)
    for _ in range(100):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return
        if _is_zombie(grandchild):
            return
        time.sleep(0.05)
    raise AssertionError("the orphaned grandchild survived the demo's stop")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return False


def test_the_demos_notifications_link_to_its_own_ops_service(monkeypatch) -> None:
    """The demo's ops file takes the address from OPS_PUBLIC_URL, and the demo makes up a signing key: every alert
    in ./data/inbox/ links to its page and to a one-click acknowledgement on the demo's ops port."""
    from monitoring_pipeline.alerting.store import FIRING
    from monitoring_pipeline.cli.demo import DEMO_OPS_CONFIG, ops_environment
    from monitoring_pipeline.ops.ack_links import notification_links
    from monitoring_pipeline.ops.config import load_ops_config

    for name in ("OPS_CONFIG", "OPS_ACK_SIGNING_KEY", "OPS_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = ops_environment("127.0.0.1", 18767)
    assert env["OPS_CONFIG"] == str(DEMO_OPS_CONFIG)
    assert len(env["OPS_ACK_SIGNING_KEY"]) >= 32 and env["OPS_API_TOKEN"]
    assert ops_environment("127.0.0.1", 18767)["OPS_ACK_SIGNING_KEY"] != env["OPS_ACK_SIGNING_KEY"]  # made up each time
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    links = notification_links(load_ops_config(DEMO_OPS_CONFIG))
    assert links is not None
    row = links(SimpleNamespace(id=7, state=FIRING))  # what the links need of an alert row
    assert row["alert"] == "http://127.0.0.1:18767/alerts/7"
    assert row["acknowledge"].startswith("http://127.0.0.1:18767/ack/")
