"""Command line: click commands that parse options, call a core and render the result.

Each module under ``supervisor.cli`` registers its commands on :data:`main`; they are imported
when their command runs (see ``COMMAND_MODULES`` in ``supervisor.cli.base``).
"""

from supervisor.cli.base import main

__all__ = ["main"]
