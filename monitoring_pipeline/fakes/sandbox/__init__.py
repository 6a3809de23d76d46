"""The integration sandbox: fake third-party endpoints on loopback with programmable behaviour (no Dagster)."""

from monitoring_pipeline.fakes.sandbox.admin_client import SandboxAdmin, SandboxAdminError
from monitoring_pipeline.fakes.sandbox.app import build_app
from monitoring_pipeline.fakes.sandbox.behaviour import EndpointBehaviour, Phase
from monitoring_pipeline.fakes.sandbox.scenario import SandboxConfig, ScenarioError, load_scenario
from monitoring_pipeline.fakes.sandbox.server import SandboxServer, serve_forever
from monitoring_pipeline.fakes.sandbox.state import SandboxState
from monitoring_pipeline.fakes.tls import write_self_signed_certificate

__all__ = [
    "EndpointBehaviour",
    "Phase",
    "SandboxAdmin",
    "SandboxAdminError",
    "SandboxConfig",
    "SandboxServer",
    "SandboxState",
    "ScenarioError",
    "build_app",
    "load_scenario",
    "serve_forever",
    "write_self_signed_certificate",
]
