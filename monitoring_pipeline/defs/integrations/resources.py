"""The integrations file as a Dagster resource, shared by the probe sensor, the daily assets and the retention job."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from monitoring_pipeline.integrations.config import IntegrationsFile, load_integrations
from monitoring_pipeline.settings import state_dir

ROUTING_FILE_NAME = "integration_routing.json"
# Each tick builds its resources afresh: the parsed file is kept per path for the process.
_LOADED: dict[str, tuple[int, IntegrationsFile]] = {}


class IntegrationsResource(dg.ConfigurableResource):
    """The integrations file (INTEGRATIONS_CONFIG): what to probe and what healthy means."""

    path: str = Field(description="Path of the integrations YAML file.")
    state_dir: str | None = Field(default=None, description="Where the routing file goes unless the file says "
                                  "(default $MONITORING_PIPELINE_HOME).")

    def load(self) -> IntegrationsFile:
        """The file as validated; parsed again only when it changes (sensor ticks reuse it)."""
        path = Path(self.path)
        modified = path.stat().st_mtime_ns if path.exists() else -1
        cached = _LOADED.get(str(path))
        if cached is None or cached[0] != modified:
            cached = _LOADED[str(path)] = (modified, load_integrations(path))
        return cached[1]

    def routing_file(self) -> Path:
        configured = self.load().probing.routing_file
        if configured:
            return Path(configured).expanduser()
        return (Path(self.state_dir).expanduser() if self.state_dir else state_dir()) / ROUTING_FILE_NAME
