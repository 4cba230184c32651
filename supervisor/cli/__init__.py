"""Command line: click commands that parse options, call a core and render the result."""

from supervisor.cli.base import main

# Each module registers its commands on ``main``.
from supervisor.cli import config as _config  # noqa: E402,F401
from supervisor.cli import policy as _policy  # noqa: E402,F401
from supervisor.cli import atproto as _atproto  # noqa: E402,F401
from supervisor.cli import devrelay as _devrelay  # noqa: E402,F401
from supervisor.cli import worker as _worker  # noqa: E402,F401
from supervisor.cli import runtime as _runtime  # noqa: E402,F401

__all__ = ["main"]
