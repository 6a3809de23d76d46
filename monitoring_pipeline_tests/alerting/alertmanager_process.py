"""Debian's ``prometheus-alertmanager`` on a free loopback port, its webhook receiver pointing where the caller
says (the recording receiver), for the Alertmanager channel's tests and the delivery benchmark."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from monitoring_pipeline.httpserver import free_port

BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
INSTALL_HINT = "install it with `apt-get install prometheus-alertmanager` (scripts/test does this)"


class AlertmanagerUnavailable(RuntimeError):
    """The alertmanager binary is missing or did not start; the message says why."""


def alertmanager_config(webhook_url: str, group_wait: str = "0s", group_interval: str = "1s",
                        repeat_interval: str = "1h", group_by: tuple[str, ...] = ("alertname",)) -> dict:
    return {
        "route": {"receiver": "recorder", "group_by": list(group_by), "group_wait": group_wait,
                  "group_interval": group_interval, "repeat_interval": repeat_interval},
        "receivers": [{"name": "recorder", "webhook_configs": [{"url": webhook_url, "send_resolved": True,
                                                                 "max_alerts": 0}]}],
    }


@contextmanager
def running_alertmanager(workdir: Path, config: dict) -> Iterator[str]:
    """Start Alertmanager with ``config`` (no clustering); yield its base URL once it is ready; stop it."""
    if not Path(BINARY).exists():
        raise AlertmanagerUnavailable(f"{BINARY} is missing: {INSTALL_HINT}")
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [BINARY, f"--config.file={config_file}", f"--storage.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AlertmanagerUnavailable(f"alertmanager exited: {(workdir / 'alertmanager.log').read_text()}")
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AlertmanagerUnavailable("alertmanager did not become ready within 20 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
