"""D&B Direct+ Monitoring emulator: a real HTTP server faithful to shared/DNB_DIRECT_PLUS.md."""

from monitoring_pipeline.fakes.dnb_emulator.app import create_app
from monitoring_pipeline.fakes.dnb_emulator.config import EmulatorConfig
from monitoring_pipeline.fakes.dnb_emulator.demo import seed_demo
from monitoring_pipeline.fakes.dnb_emulator.server import EmulatorServer, serve_forever
from monitoring_pipeline.fakes.dnb_emulator.state import EmulatorState

__all__ = ["EmulatorConfig", "EmulatorServer", "EmulatorState", "create_app", "seed_demo", "serve_forever"]
