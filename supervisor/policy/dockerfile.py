"""What an image runs, read from its Dockerfile: the chosen stage's ENTRYPOINT, CMD, ENV and WORKDIR (pure)."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from typing import Optional

__all__ = ["Instruction", "ImageConfig", "read_image_config"]


@dataclasses.dataclass(frozen=True)
class Instruction:
    """A command as the image stores it, with the line that set it (1-based)."""

    argv: tuple[str, ...]
    line: int
    shell_form: bool = False


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    """The configuration of one build stage, inherited values included."""

    stage: Optional[str] = None
    entrypoint: Optional[Instruction] = None
    cmd: Optional[Instruction] = None
    env: tuple[tuple[str, str, int], ...] = ()  # (name, value, line), later lines win
    workdir: str = "/"

    def env_defaults(self) -> dict[str, tuple[str, int]]:
        out: dict[str, tuple[str, int]] = {}
        for name, value, line in self.env:
            out[name] = (value, line)
        return out


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions joined over backslash continuations, with the line each starts on."""
    lines: list[tuple[int, str]] = []
    current = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by the builder
        if not current:
            start = number
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append((start, current))
        current = ""
    if current:
        lines.append((start, current))
    return lines


def _command(argument: str, line: int) -> Instruction:
    argument = argument.strip()
    if argument.startswith("["):
        try:
            value = json.loads(argument)
            if isinstance(value, list) and all(isinstance(x, str) for x in value):
                return Instruction(tuple(value), line)
        except ValueError:
            pass
    return Instruction(("/bin/sh", "-c", argument), line, shell_form=True)


def _env_pairs(rest: str) -> list[tuple[str, str]]:
    try:
        words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    if words and "=" not in words[0]:
        # legacy form: ENV NAME value with spaces
        name, _, value = rest.strip().partition(" ")
        return [(name, value.strip())]
    return [tuple(w.split("=", 1)) for w in words if "=" in w]  # type: ignore[misc]


_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def _join_workdir(current: str, path: str) -> str:
    if path.startswith("/"):
        return path.rstrip("/") or "/"
    return (current.rstrip("/") + "/" + path).rstrip("/") or "/"


def read_image_config(text: str, target: Optional[str] = None) -> ImageConfig:
    """The stage ``target`` (default: the last) as Docker builds it, inheriting from ``FROM <stage>``."""
    stages: dict[str, ImageConfig] = {}
    current = ImageConfig()
    ordered: list[ImageConfig] = []
    for line, instruction in _logical_lines(text):
        word, _, rest = instruction.partition(" ")
        keyword = word.upper()
        if keyword == "FROM":
            if ordered or current.stage is not None or current != ImageConfig():
                ordered.append(current)
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--")]
            base = parts[0] if parts else ""
            alias = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else None
            parent = stages.get(base.lower())
            current = dataclasses.replace(parent, stage=alias) if parent is not None else ImageConfig(stage=alias)
            if alias:
                stages[alias.lower()] = current
            continue
        if keyword == "ENTRYPOINT":
            current = dataclasses.replace(current, entrypoint=_command(rest, line), cmd=None)
        elif keyword == "CMD":
            current = dataclasses.replace(current, cmd=_command(rest, line))
        elif keyword == "ENV":
            env = dict((n, v) for n, v, _ in current.env)
            pairs = [(n, _VAR.sub(lambda m: env.get(m.group(1), ""), v), line) for n, v in _env_pairs(rest)]
            current = dataclasses.replace(current, env=current.env + tuple(pairs))
        elif keyword == "WORKDIR":
            current = dataclasses.replace(current, workdir=_join_workdir(current.workdir, rest.strip()))
        else:
            continue
        if current.stage:
            stages[current.stage.lower()] = current
    ordered.append(current)
    if target:
        found = stages.get(target.lower())
        if found is not None:
            return found
    return ordered[-1]
