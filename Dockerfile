# One image for every process of the deployment: the code server, the webserver, the daemon, the ops service, the
# init step and the runs (the Docker and Kubernetes run launchers start runs from it). Which one a container is
# comes from its command (docker-compose.yaml, deploy/helm/values.yaml, monitoring_pipeline/production/topology.py).
#
#   docker build -t monitoring-pipeline:$(git rev-parse --short HEAD) .

# Pinned to an exact release; pin by digest (python:3.11.11-slim-bookworm@sha256:...) in your registry mirror.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (a layer that changes only with pyproject.toml), then the project itself.
COPY pyproject.toml setup.cfg README.md ./
COPY monitoring_pipeline ./monitoring_pipeline
# The project from this checkout, its dependencies within the ranges pyproject.toml pins (the ones the tests ran).
# hadolint ignore=DL3013
RUN pip install ".[production]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONWARNINGS="ignore:Handling yaml-defined logging configuration" \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    MONITORING_PIPELINE_HOME=/var/lib/monitoring_pipeline/home \
    MONITORING_PIPELINE_DATA_DIR=/var/lib/monitoring_pipeline/data \
    MONITORING_PIPELINE_REGISTRATIONS_DIR=/opt/monitoring_pipeline/config/registrations \
    MONITORING_PIPELINE_DESTINATIONS=/opt/monitoring_pipeline/config/destinations.yaml \
    INTEGRATIONS_CONFIG=/opt/monitoring_pipeline/config/integrations.yaml \
    ALERTING_CONFIG=/opt/monitoring_pipeline/config/alerting.yaml \
    OPS_CONFIG=/opt/monitoring_pipeline/config/ops.production.yaml \
    MONITORING_PIPELINE_LOG_FORMAT=json
RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --shell /usr/sbin/nologin dagster \
    && mkdir -p /opt/dagster/dagster_home/storage /var/lib/monitoring_pipeline/home /var/lib/monitoring_pipeline/data \
    && chown -R dagster:dagster /opt/dagster /var/lib/monitoring_pipeline
COPY --from=build /opt/venv /opt/venv
COPY --chown=dagster:dagster dagster.production.yaml /opt/dagster/dagster_home/dagster.yaml
COPY --chown=dagster:dagster workspace.production.yaml /opt/dagster/dagster_home/workspace.yaml
COPY config /opt/monitoring_pipeline/config
USER 10001:10001
WORKDIR /opt/dagster/dagster_home
# Each container says which service it is (MONITORING_PIPELINE_SERVICE); the check asks that service.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["monitoring-pipeline", "prod-health"]
CMD ["monitoring-pipeline", "--help"]
