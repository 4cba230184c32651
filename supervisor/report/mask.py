"""Moved: secret masking lives in :mod:`supervisor.secrets` (kept importable from here)."""

from supervisor.secrets import *  # noqa: F401,F403
from supervisor.secrets import __all__  # noqa: F401
