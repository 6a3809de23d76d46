"""Typed settings from the environment. Secrets are only ever read from environment variables."""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "MONITORING_PIPELINE_HOME"


def state_dir() -> Path:
    """Private directory for state shared by this deployment's processes (token cache, rate-limit slots).

    ``$MONITORING_PIPELINE_HOME`` when set, else ``~/.monitoring_pipeline``.
    """
    configured = os.environ.get(ENV_HOME)
    return Path(configured).expanduser() if configured else Path.home() / ".monitoring_pipeline"
