"""Names and labels, exactly as Docker Compose v2 writes them.

Compose finds its own objects by label, so using the same keys and names lets
``docker compose ps``, ``logs`` and ``down`` see a project that ``supervisor up`` started
(and the other way round).
"""

from __future__ import annotations

__all__ = [
    "COMPOSE_VERSION",
    "PROJECT",
    "SERVICE",
    "CONTAINER_NUMBER",
    "ONEOFF",
    "CONFIG_HASH",
    "WORKING_DIR",
    "CONFIG_FILES",
    "ENVIRONMENT_FILE",
    "VERSION",
    "DEPENDS_ON",
    "IMAGE",
    "NETWORK",
    "VOLUME",
    "REPLACE",
    "container_name",
    "project_filter",
    "service_filter",
]

# The compose release whose labels we reproduce (written to com.docker.compose.version).
COMPOSE_VERSION = "2.40.3"

_PREFIX = "com.docker.compose."
PROJECT = _PREFIX + "project"
SERVICE = _PREFIX + "service"
CONTAINER_NUMBER = _PREFIX + "container-number"
ONEOFF = _PREFIX + "oneoff"
CONFIG_HASH = _PREFIX + "config-hash"
WORKING_DIR = _PREFIX + "project.working_dir"
CONFIG_FILES = _PREFIX + "project.config_files"
ENVIRONMENT_FILE = _PREFIX + "project.environment_file"
VERSION = _PREFIX + "version"
DEPENDS_ON = _PREFIX + "depends_on"
IMAGE = _PREFIX + "image"
NETWORK = _PREFIX + "network"
VOLUME = _PREFIX + "volume"
REPLACE = _PREFIX + "replace"


def container_name(project: str, service: str, number: int) -> str:
    """``PROJECT-SERVICE-N``: compose v2's default container name."""
    return f"{project}-{service}-{number}"


def project_filter(project: str) -> dict[str, list[str]]:
    """An Engine ``filters`` argument selecting the project's (non one-off) containers."""
    return {"label": [f"{PROJECT}={project}", f"{ONEOFF}=False"]}


def service_filter(project: str, service: str) -> dict[str, list[str]]:
    """An Engine ``filters`` argument selecting one service's containers."""
    return {"label": [f"{PROJECT}={project}", f"{SERVICE}={service}", f"{ONEOFF}=False"]}
