"""The deployment files load with the tools that will read them (Dagster's config loading, hadolint, Kubernetes'
schemas) and run exactly the commands the topology tests run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import kubernetes_validate
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.workspace.config_schema import ensure_workspace_config
from dagster_k8s import K8sRunLauncher

from monitoring_pipeline.production.topology import (
    CODE_SERVER_PORT,
    IMAGE_DAGSTER_HOME,
    IMAGE_WORKSPACE,
    OPS_PORT,
    SINGLE_LOCATION,
    SPLIT_LOCATIONS,
    WEBSERVER_PORT,
    code_server,
    services,
    workspace,
)
from monitoring_pipeline.settings import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())
PRODUCTION = yaml.safe_load((PROJECT_ROOT / "dagster.production.yaml").read_text())
HELM = yaml.safe_load((PROJECT_ROOT / "deploy/helm/values.yaml").read_text())
pytestmark = pytest.mark.filterwarnings("ignore:Handling yaml-defined logging configuration")
PG_ENV = {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "postgres",
          "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": "postgres"}


def _compose_service(name: str) -> dict[str, Any]:
    assert name in COMPOSE["services"], f"docker-compose.yaml has no service {name}"
    return COMPOSE["services"][name]


def test_each_compose_service_runs_the_topology_command_with_the_container_address():
    for service in services():
        compose = _compose_service(service.name)
        assert compose["command"] == service.command(host="0.0.0.0", workspace=IMAGE_WORKSPACE), service.name
        assert compose["environment"]["MONITORING_PIPELINE_SERVICE"] == service.name  # the image's HEALTHCHECK
    code = _compose_service("code-server")["environment"]
    assert (code["DAGSTER_GRPC_HOST"], code["DAGSTER_GRPC_PORT"]) == ("0.0.0.0", str(CODE_SERVER_PORT))
    location = SINGLE_LOCATION[0]
    for name in ("webserver", "daemon"):
        environment = _compose_service(name)["environment"]
        assert environment[location.host_variable] == "code-server"
        assert environment[location.port_variable] == str(CODE_SERVER_PORT)
    assert _compose_service("webserver")["ports"] == [f"127.0.0.1:{WEBSERVER_PORT}:{WEBSERVER_PORT}"]
    assert _compose_service("ops")["ports"] == [f"127.0.0.1:{OPS_PORT}:{OPS_PORT}"]


def test_compose_runs_the_init_step_before_anything_and_keeps_secrets_in_the_env_file():
    assert _compose_service("code-server")["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert _compose_service("init")["restart"] == "no"
    for name, service in COMPOSE["services"].items():
        if name != "postgres":
            assert service["env_file"] == ".env.production", name
        for key, value in service.get("environment", {}).items():
            if re.search("PASSWORD|SECRET|TOKEN", key):
                assert str(value).startswith("${"), f"{name}: {key} is written in the file"
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert ".env.production" in ignored


def test_the_docker_run_launcher_uses_the_compose_network_and_volumes():
    launcher = PRODUCTION["run_launcher"]["config"]
    assert launcher["network"] == COMPOSE["networks"]["default"]["name"]
    named = {volume["name"]: key for key, volume in COMPOSE["volumes"].items() if volume}
    for mount in launcher["container_kwargs"]["volumes"]:
        volume, path = mount.split(":")
        assert volume in named, f"the run containers mount {volume}, which compose does not create"
        assert f"{named[volume]}:{path}" in _compose_service("daemon")["volumes"]


def test_the_workspace_files_are_the_topologys_and_load_with_dagster(monkeypatch):
    for file, locations in (("workspace.production.yaml", SINGLE_LOCATION), ("workspace.split.yaml", SPLIT_LOCATIONS)):
        loaded = yaml.safe_load((PROJECT_ROOT / file).read_text())
        assert loaded == workspace(locations), file
        for location in locations:  # what compose (or prod-local) sets
            monkeypatch.setenv(location.host_variable, location.service_name)
            monkeypatch.setenv(location.port_variable, str(CODE_SERVER_PORT))
        ensure_workspace_config(loaded, str(PROJECT_ROOT / file))


def test_dagster_production_yaml_loads_with_dagsters_own_config(tmp_path, monkeypatch):
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    shutil.copyfile(PROJECT_ROOT / "dagster.production.yaml", tmp_path / "dagster.yaml")
    dagster_instance_config(str(tmp_path))  # raises on anything Dagster does not accept
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == "DockerRunLauncher"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 10
        assert {"key": "dagster/backfill", "limit": 4} in queue.tag_concurrency_limits
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert [type(h.formatter).__name__ for h in instance.get_handlers()[1:]] == ["JsonFormatter"]


def test_the_dockerfile_passes_hadolint_and_bakes_the_files_the_topology_reads():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), "--failure-threshold", "info", str(PROJECT_ROOT / "Dockerfile")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+$", dockerfile, re.MULTILINE), \
        "the base image is not pinned to an exact release"
    assert f"DAGSTER_HOME={IMAGE_DAGSTER_HOME}" in dockerfile
    assert f"dagster.production.yaml {IMAGE_DAGSTER_HOME}/dagster.yaml" in dockerfile
    assert f"workspace.production.yaml {IMAGE_WORKSPACE}" in dockerfile
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
    assert 'HEALTHCHECK' in dockerfile and '"monitoring-pipeline", "prod-health"' in dockerfile


def chart_instance(values: dict[str, Any]) -> dict[str, Any]:
    """The instance (dagster.yaml) Dagster's chart renders from ``values``, for the sections these values set:
    a transcription of the chart's templates/configmap-instance.yaml (camelCase values to the instance's keys)."""
    daemon = values["dagsterDaemon"]
    snake = {"startTimeoutSeconds": "start_timeout_seconds", "maxResumeRunAttempts": "max_resume_run_attempts",
             "pollIntervalSeconds": "poll_interval_seconds", "maxRetries": "max_retries", "enabled": "enabled",
             "useThreads": "use_threads", "numWorkers": "num_workers"}
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    runs = values["concurrency"]["runs"]
    logs = values["pythonLogs"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    return {
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator",
                            "config": {"dequeue_interval_seconds": queued["dequeueIntervalSeconds"]}},
        "concurrency": {"runs": {"max_concurrent_runs": runs["maxConcurrentRuns"],
                                 "tag_concurrency_limits": runs["tagConcurrencyLimits"]},
                        "pools": {"default_limit": values["concurrency"]["pools"]["defaultLimit"]}},
        "run_monitoring": {snake[k]: v for k, v in daemon["runMonitoring"].items()},
        "run_retries": {snake[k]: v for k, v in daemon["runRetries"].items()},
        "sensors": {snake[k]: v for k, v in daemon["sensors"].items()},
        "schedules": {snake[k]: v for k, v in daemon["schedules"].items()},
        "python_logs": {"python_log_level": logs["pythonLogLevel"],
                        "managed_python_loggers": logs["managedPythonLoggers"],
                        "dagster_handler_config": logs["dagsterHandlerConfig"]},
        "telemetry": values["telemetry"],
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": {
            "load_incluster_config": launcher["loadInclusterConfig"],
            "image_pull_policy": launcher["imagePullPolicy"],
            "env_secrets": [secret["name"] for secret in launcher["envSecrets"]],
            "run_k8s_config": {"container_config": launcher["runK8sConfig"]["containerConfig"]},
            "service_account_name": "dagster", "instance_config_map": "dagster-instance",
            "postgres_password_secret": values["global"]["postgresqlSecretName"], "job_namespace": "monitoring",
        }},
    }


def test_the_helm_values_render_the_production_instance_and_dagster_accepts_it(tmp_path, monkeypatch):
    rendered = chart_instance(HELM)
    # Everything but the launcher and the storage is what dagster.production.yaml (tested as processes) says.
    for section in ("run_coordinator", "concurrency", "run_monitoring", "run_retries", "sensors", "schedules",
                    "python_logs", "telemetry"):
        expected = PRODUCTION[section]
        if section == "run_coordinator":
            expected = {**expected, "config": {"dequeue_interval_seconds":
                                               expected["config"]["dequeue_interval_seconds"]}}
        assert rendered[section] == expected, section
    launcher = validate_config(K8sRunLauncher.config_type(), rendered["run_launcher"]["config"])
    assert launcher.success, launcher.errors
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({**rendered, "storage": PRODUCTION["storage"]}))
    dagster_instance_config(str(tmp_path))


def test_the_helm_values_run_our_image_everywhere_with_the_topologys_code_server():
    deployment = HELM["dagster-user-deployments"]["deployments"][0]
    images = {(part["image"]["repository"], part["image"]["tag"])
              for part in (HELM["dagsterWebserver"], HELM["dagsterDaemon"], deployment)}
    assert len(images) == 1, "the webserver, daemon and code server run different images"
    argv = code_server(SINGLE_LOCATION[0]).argv
    assert deployment["dagsterApiGrpcArgs"] == list(argv[3:])  # the chart runs `dagster api grpc -h .. -p ..` + args
    assert deployment["port"] == CODE_SERVER_PORT
    secrets = {"monitoring-pipeline-secrets"}
    assert {s["name"] for s in deployment["envSecrets"]} == secrets
    assert {s["name"] for s in HELM["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]} == secrets
    assert HELM["postgresql"]["enabled"] is False and HELM["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in HELM["postgresql"], "a password in the values file"


@pytest.mark.parametrize("manifest", sorted((PROJECT_ROOT / "deploy/k8s").glob("*.yaml")), ids=lambda p: p.name)
def test_kubernetes_manifests_validate_against_kubernetes_schemas(manifest):
    for document in yaml.safe_load_all(manifest.read_text()):
        if document["apiVersion"].startswith("monitoring.coreos.com/"):  # a CRD: no schema in Kubernetes
            assert document["spec"]["endpoints"][0]["path"] == "/metrics"
            continue
        kubernetes_validate.validate(document, "1.30.0", strict=True)


def test_the_ops_deployment_probes_health_and_is_scraped_by_prometheus():
    documents = {d["kind"]: d for d in yaml.safe_load_all((PROJECT_ROOT / "deploy/k8s/ops-service.yaml").read_text())}
    container = documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    ops = next(s for s in services() if s.name == "ops")
    assert container["command"] == ops.command(host="0.0.0.0")
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert documents["Service"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert documents["Service"]["metadata"]["annotations"]["prometheus.io/port"] == str(OPS_PORT)
    init = yaml.safe_load((PROJECT_ROOT / "deploy/k8s/init-job.yaml").read_text())
    init_service = next(s for s in services() if s.name == "init")
    assert init["spec"]["template"]["spec"]["containers"][0]["command"] == init_service.command()


def _env_names(value: Any) -> set[str]:
    """The environment variables a configuration file names for its secrets (every ``*_env`` field)."""
    if isinstance(value, dict):
        return {name for key, item in value.items() for name in
                ({item} if str(key).endswith("_env") and isinstance(item, str) else _env_names(item))}
    if isinstance(value, list):
        return {name for item in value for name in _env_names(item)}
    return set()


def _dockerfile_env() -> dict[str, str]:
    text = (PROJECT_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return dict(re.findall(r"(?<![\w-])([A-Z][A-Z0-9_]+)=(\S+)", text.split("FROM ${PYTHON_IMAGE}\n", 1)[1]))


def test_the_image_points_at_its_alerting_and_ops_files_which_load():
    from monitoring_pipeline.alerting.config import load_alerting
    from monitoring_pipeline.ops.config import load_ops_config

    image = _dockerfile_env()
    assert "COPY config /opt/monitoring_pipeline/config" in (PROJECT_ROOT / "Dockerfile").read_text()
    for name, loader in (("ALERTING_CONFIG", load_alerting), ("OPS_CONFIG", load_ops_config)):
        assert image[name].startswith("/opt/monitoring_pipeline/config/"), name
        loader(PROJECT_ROOT / "config" / image[name].removeprefix("/opt/monitoring_pipeline/config/"))


def test_the_ops_and_receiver_secrets_reach_every_process_and_run():
    env_file = dict(line.split("=", 1) for line in
                    (PROJECT_ROOT / "deploy/docker/env.production.example").read_text().splitlines()
                    if line and not line.startswith("#"))
    k8s = {d["metadata"]["name"]: d for d in
           yaml.safe_load_all((PROJECT_ROOT / "deploy/k8s/secrets.example.yaml").read_text())}
    k8s_secret = k8s["monitoring-pipeline-secrets"]["stringData"]
    env_vars = PRODUCTION["run_launcher"]["config"]["env_vars"]
    ops_file = PROJECT_ROOT / "config" / _dockerfile_env()["OPS_CONFIG"].rsplit("/", 1)[1]
    secrets = (_env_names(yaml.safe_load(ops_file.read_text()))
               | _env_names(yaml.safe_load((PROJECT_ROOT / "config/alerting.example.yaml").read_text()))
               | {"REPORTS_SMTP_PASSWORD"})
    assert {"OPS_API_TOKEN", "OPS_ACK_SIGNING_KEY", "SLACK_OPS_WEBHOOK_URL"} <= secrets
    for name in sorted(secrets):
        assert name in env_file, f"deploy/docker/env.production.example lacks {name}"
        assert name in k8s_secret, f"deploy/k8s/secrets.example.yaml lacks {name}"
        assert name in env_vars, f"the Docker run launcher does not pass {name} to runs"
    # A variable the Docker run launcher passes must be set in the daemon (even empty), or every launch fails.
    compose = set(COMPOSE["services"]["daemon"]["environment"])
    for name in env_vars:
        assert name in env_file or name in _dockerfile_env() or name in compose, f"{name} is set nowhere"
    helm_secrets = {s["name"] for s in HELM["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    assert k8s["monitoring-pipeline-secrets"]["metadata"]["name"] in helm_secrets
