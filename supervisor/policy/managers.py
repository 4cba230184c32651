"""Process managers described as data (``schemas/process-managers.json``, read by
:mod:`supervisor.policy.sources`): how many processes they start, and what they set in each
process's environment."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

from supervisor.policy.errors import ProfileError

__all__ = ["InstanceVariable", "ProcessManager", "parse_managers"]


@dataclasses.dataclass(frozen=True)
class InstanceVariable:
    """A variable the manager sets per instance (its value: the instance index)."""

    name: str
    environment_overrides: bool  # a value in the container environment wins over the manager's
    why: str


@dataclasses.dataclass(frozen=True)
class ProcessManager:
    name: str
    commands: tuple[str, ...]
    program: str
    instance_options: tuple[str, ...]
    value_options: tuple[str, ...]
    config_file_pattern: str
    default_instances: int
    cpu_values: tuple[str, ...]
    cpu_instances: int
    per_instance: tuple[InstanceVariable, ...]

    def count(self, value: Optional[str]) -> tuple[int, bool, str]:
        """(processes, depends on the CPU count, a note) for an instance option's value."""
        if value is None:
            return self.default_instances, False, f"{self.default_instances} process"
        text = value.strip().lower()
        if text in self.cpu_values or (text.lstrip("-").isdigit() and int(text) <= 0):
            return self.cpu_instances, True, f"-i {value}: one process per host CPU (several)"
        if text.isdigit():
            return int(text), False, f"-i {value}: {int(text)} processes"
        return self.default_instances, False, f"-i {value}: not a number; assuming {self.default_instances}"


def parse_managers(document: Mapping[str, object]) -> dict[str, ProcessManager]:
    """Command name -> manager, from the document of ``schemas/process-managers.json``."""
    out: dict[str, ProcessManager] = {}
    try:
        for name, spec in document.items():
            assert isinstance(spec, dict)
            manager = ProcessManager(
                name=name,
                commands=tuple(spec["commands"]),
                program=spec["program"],
                instance_options=tuple(spec["instance_options"]),
                value_options=tuple(spec.get("value_options", [])),
                config_file_pattern=spec.get("config_file_pattern", r"$^"),
                default_instances=int(spec.get("default_instances", 1)),
                cpu_values=tuple(spec.get("cpu_values", [])),
                cpu_instances=int(spec.get("cpu_instances", 2)),
                per_instance=tuple(
                    InstanceVariable(k, bool(v["environment_overrides"]), v.get("why", ""))
                    for k, v in spec.get("per_instance", {}).items()
                ),
            )
            for command in manager.commands:
                out[command] = manager
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ProfileError(f"process-managers.json: malformed entry: {exc}") from None
    return out
