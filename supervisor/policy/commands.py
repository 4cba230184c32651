"""What a container really runs: compose ``entrypoint``/``command`` over the image's Dockerfile,
and how many instances ``pm2-runtime`` starts.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from typing import Any, Optional

__all__ = [
    "DockerfileCommand",
    "argv_list",
    "parse_dockerfile",
    "effective_argv",
    "Pm2Plan",
    "pm2_plan",
    "CPU_INSTANCES",
]

# pm2 "-i max", "-i 0" and negative counts depend on the CPU count of the host: we assume
# several, which is what matters (one primary per container, several writers when all agree).
CPU_INSTANCES = 2


@dataclasses.dataclass(frozen=True)
class DockerfileCommand:
    """The ENTRYPOINT and CMD of a Dockerfile's final stage (None when not set)."""

    entrypoint: Optional[list[str]] = None
    cmd: Optional[list[str]] = None


def parse_dockerfile(text: str, target: Optional[str] = None) -> DockerfileCommand:
    """ENTRYPOINT and CMD as Docker sees them for the final stage (or ``target``), inherited ones included."""
    from supervisor.policy.dockerfile import read_image_config

    image = read_image_config(text, target)
    return DockerfileCommand(
        list(image.entrypoint.argv) if image.entrypoint else None, list(image.cmd.argv) if image.cmd else None
    )


def argv_list(value: Any) -> Optional[list[str]]:
    """A compose ``command``/``entrypoint`` as an argument list (a string is split as a shell would)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError:
            return value.split()
    if isinstance(value, list):
        return [str(x) for x in value]
    return None


def effective_argv(config: dict[str, Any], dockerfile: Optional[DockerfileCommand] = None) -> list[str]:
    """The process a container starts: compose entrypoint/command over the image's."""
    image = dockerfile or DockerfileCommand()
    compose_entry = argv_list(config.get("entrypoint"))
    compose_cmd = argv_list(config.get("command"))
    entry = compose_entry if compose_entry is not None else image.entrypoint
    cmd: Optional[list[str]]
    if compose_cmd is not None:
        cmd = compose_cmd
    else:
        # docker: setting the entrypoint clears the image's CMD
        cmd = None if compose_entry is not None else image.cmd
    return list(entry or []) + list(cmd or [])


@dataclasses.dataclass(frozen=True)
class Pm2Plan:
    """How a container runs under PM2."""

    used: bool  # the command starts pm2-runtime / pm2 start
    instances: int  # processes started (CPU_INSTANCES when it depends on the CPU count)
    cpu_dependent: bool = False
    note: str = ""


def _words(argv: list[str]) -> list[str]:
    words: list[str] = []
    for arg in argv:
        if " " in arg or "\t" in arg:
            try:
                words.extend(shlex.split(arg))
            except ValueError:
                words.extend(arg.split())
        else:
            words.append(arg)
    return words


_PM2 = re.compile(r"(^|/)pm2(-runtime|-docker)?$")


def pm2_plan(argv: list[str]) -> Pm2Plan:
    """Find ``pm2-runtime ... -i N`` in a command and the number of instances it starts."""
    from supervisor.policy.parsing import js_parse_int

    words = _words(argv)
    start = next((i for i, w in enumerate(words) if _PM2.search(w)), None)
    if start is None:
        return Pm2Plan(False, 1)
    value: Optional[str] = None
    args = words[start + 1 :]
    for i, word in enumerate(args):
        if word in ("&&", ";", "|", "||"):
            break
        if word in ("-i", "--instances") and i + 1 < len(args):
            value = args[i + 1]
        elif word.startswith("--instances="):
            value = word.split("=", 1)[1]
        elif word.startswith("-i") and len(word) > 2 and not word.startswith("--"):
            value = word[2:]
    if value is None:
        if any(re.search(r"\.(config\.[cm]?js|json|ya?ml)$", w) for w in args):
            return Pm2Plan(True, 1, note="instances from a PM2 ecosystem file are not read; assuming 1")
        return Pm2Plan(True, 1)
    if value.strip().lower() == "max":
        return Pm2Plan(True, CPU_INSTANCES, True, "-i max: one instance per CPU")
    number = js_parse_int(value)
    if not isinstance(number, int):
        return Pm2Plan(True, 1, note=f"-i {value}: not a number; assuming 1")
    if number <= 0:
        return Pm2Plan(True, CPU_INSTANCES, True, f"-i {value}: depends on the CPU count")
    return Pm2Plan(True, number)
