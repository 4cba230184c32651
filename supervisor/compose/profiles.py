"""Profiles: a service with ``profiles:`` is enabled only when one of them is.

``*`` enables every profile.  A service without profiles is always enabled.
A dependency on a disabled service is an error, as with ``docker compose
config`` (compose enables named dependencies only for commands given service
names).
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from supervisor.compose.model import ComposeError, Location
from supervisor.compose.normalize import implicit_dependencies
from supervisor.compose.yamlsource import key_location, node_location

__all__ = ["is_enabled", "split_services", "check_dependencies", "check_cycles"]


def is_enabled(service: dict[Any, Any], profiles: Iterable[str]) -> bool:
    """``ServiceConfig.HasProfile``."""
    own = service.get("profiles") or []
    if not own:
        return True
    wanted = list(profiles)
    return "*" in wanted or any(p in own for p in wanted)


def split_services(services: dict[str, Any], profiles: Iterable[str]) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(enabled, disabled) services, in declaration order."""
    wanted = list(profiles)
    enabled: dict[str, Any] = {}
    disabled: dict[str, Any] = {}
    for name, service in services.items():
        (enabled if is_enabled(service or {}, wanted) else disabled)[name] = service
    return enabled, disabled


def check_dependencies(enabled: dict[str, Any], declared: Optional[Iterable[str]] = None) -> None:
    """Compose's consistency check on ``depends_on`` between enabled services.

    A dependency on a service declared nowhere is an error even when not
    ``required``; one on a service disabled by profiles only when required.
    """
    known = set(declared) if declared is not None else set(enabled)
    for name, service in enabled.items():
        for dep, options in _all_dependencies(service).items():
            if dep not in enabled:
                required = True if not isinstance(options, dict) else options.get("required", True)
                if required or dep not in known:
                    raise ComposeError(
                        f'service "{name}" depends on undefined service "{dep}": invalid compose project',
                        _dependency_location(service, dep),
                    )
    check_cycles(enabled)


def _all_dependencies(service: Any) -> dict[str, Any]:
    """``depends_on`` plus what compose implies (links, ``service:X`` namespaces, ``volumes_from``)."""
    declared = service.get("depends_on") if isinstance(service, dict) else None
    declared = declared if isinstance(declared, dict) else {}
    return {**implicit_dependencies(service), **declared} if isinstance(service, dict) else declared


def _dependency_location(service: Any, dep: str) -> Optional[Location]:
    """Where ``service`` names ``dep``: its depends_on, links, network_mode or volumes_from key."""
    for key in ("depends_on", "links", "network_mode", "volumes_from"):
        value = service.get(key) if isinstance(service, dict) else None
        if value is not None and dep in str(value):
            return key_location(service, key)
    return node_location(service)


def check_cycles(enabled: dict[str, Any]) -> None:
    """Refuse a ``depends_on`` cycle, naming it as compose does (names visited in sorted order)."""
    children = {
        name: sorted(d for d in _all_dependencies(service) if d in enabled) for name, service in enabled.items()
    }
    done: set[str] = set()

    def search(path: list[str]) -> None:
        for child in children[path[-1]]:
            if child in path:
                cycle = path[path.index(child) :] + [child]
                raise ComposeError(
                    "dependency cycle detected: " + " -> ".join(cycle),
                    _dependency_location(enabled[cycle[0]], cycle[1]),
                )
            if child not in done:
                search(path + [child])
        done.add(path[-1])

    for name in sorted(children):
        search([name])
