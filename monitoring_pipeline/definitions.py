"""The project's single code location: every domain (``defs/project.py``); nothing else.

Bad registration, destination, integration, alerting or ops files, or bad settings, stop the code location from
loading, with a message naming the file or variable: the project refuses to start rather than half-run.
"""

from monitoring_pipeline.defs.project import project_definitions
from monitoring_pipeline.settings import ProjectSettings

defs = project_definitions(ProjectSettings.from_env())
