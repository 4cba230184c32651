"""Launch a resolved project on a Docker Engine, as ``docker compose up`` would, and watch it.

- :mod:`~supervisor.runtime.spec`: service settings -> Engine API bodies (pure)
- :mod:`~supervisor.runtime.plan`: project + observed Engine state -> actions (pure)
- :mod:`~supervisor.runtime.status`: the running stack against the files (pure)
- :mod:`~supervisor.runtime.health`: the worker's own health report (pure)
- :mod:`~supervisor.runtime.engine`: the thin Docker I/O layer (docker SDK, low-level API)
- :mod:`~supervisor.runtime.launcher`: carries a plan out: build, create, start, wait, stop
- :mod:`~supervisor.runtime.orchestrate`: one call per command (``up``, ``down``, ``restart``, attached mode)
- :mod:`~supervisor.runtime.logs`, :mod:`~supervisor.runtime.progress`: output
- :mod:`~supervisor.runtime.lock`: one ``up``/``down`` per project at a time
- :mod:`~supervisor.runtime.preflight`: the ``validate`` check ``up`` runs first
"""

from supervisor.runtime.errors import (
    BuildFailed,
    DependencyCycle,
    EngineFailure,
    EngineUnavailable,
    HealthFailed,
    ImageMissing,
    InvalidSpec,
    LockBusy,
    RuntimeFailure,
    StartFailed,
)
from supervisor.runtime.plan import Observed, ObservedContainer, Plan, plan_down, plan_up, start_order

__all__ = [
    "RuntimeFailure",
    "InvalidSpec",
    "DependencyCycle",
    "EngineUnavailable",
    "EngineFailure",
    "BuildFailed",
    "ImageMissing",
    "StartFailed",
    "HealthFailed",
    "LockBusy",
    "Observed",
    "ObservedContainer",
    "Plan",
    "plan_up",
    "plan_down",
    "start_order",
]
