"""``include``: other compose projects imported into this one.

Each entry is loaded as a project of its own (its own folder, its own ``.env``
unless ``env_file`` says otherwise, the including project's environment
winning), its relative paths resolved against its folder, and its services,
networks and volumes added; a resource defined differently on both sides is
an error.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from supervisor.compose.model import ComposeError, at_reference
from supervisor.compose.yamlsource import key_location

__all__ = ["apply_include", "LoadProject"]

#: (files, project folder, env files) -> the included project's model.
LoadProject = Callable[[list[str], str, list[str]], dict[Any, Any]]

_SECTIONS = ("services", "volumes", "networks", "secrets", "configs")


def _entries(value: Any, where: Any) -> list[dict[Any, Any]]:
    if not isinstance(value, list):
        raise ComposeError("include must be a list", where)
    out = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            out.append({"path": [item], "env_file": []})
        elif isinstance(item, dict):
            entry = dict(item)
            for key in ("path", "env_file"):
                entry[key] = _string_list(item.get(key), f"include[{index}].{key}", where)
            out.append(entry)
        else:
            raise ComposeError("include entries must be strings or mappings", where)
    return out


def _string_list(value: Any, name: str, where: Any) -> list[str]:
    """A string or a list of strings (compose's "string list"), as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ComposeError(f"{name} must be a string or a list of strings", where)


def _always(path: str) -> Optional[str]:
    return None


def _not_a_file(path: str) -> Optional[str]:
    return "no such file"


def apply_include(
    model: dict[Any, Any],
    working_dir: str,
    load_project: LoadProject,
    chain: list[str],
    reach: Callable[[str], Optional[str]] = _always,
    reach_file: Callable[[str], Optional[str]] = _not_a_file,
) -> None:
    """Import the projects listed under ``include`` into ``model`` (in place) and drop the key.

    ``reach`` says why a path cannot be reached, or None when it exists; ``reach_file`` likewise,
    but a folder is no answer (it tells whether an included project has a ``.env`` file beside
    it). The loader passes its file system's answers; by default every path exists, and no
    ``.env`` does.
    """
    if "include" not in model or model["include"] is None:  # compose reads `include: null` as none
        model.pop("include", None)
        return
    where = key_location(model, "include")
    for entry in _entries(model.pop("include"), where):
        paths = [os.path.normpath(os.path.join(working_dir, p)) for p in entry["path"]]
        if not paths:
            continue
        for path in paths:
            failure = reach(path)
            if failure is not None:
                raise ComposeError(f"include {path}: {failure}", where)
        if paths[0] in chain:
            cycle = chain + [paths[0]]
            raise ComposeError(
                "include cycle detected:\n" + cycle[0] + "\n include " + "\n include ".join(cycle[1:]), where
            )
        project_dir = entry.get("project_directory")
        project_dir = os.path.dirname(paths[0]) if not project_dir else os.path.join(working_dir, project_dir)
        env_files = []
        for name in entry["env_file"]:
            if name == "/dev/null":
                continue
            full = os.path.join(working_dir, name)
            failure = reach(full)
            if failure is not None:
                raise ComposeError(f"stat {full}: {failure}", where)
            env_files.append(full)
        dotenv = os.path.join(project_dir, ".env")
        if not entry["env_file"] and reach_file(dotenv) is None:
            env_files = [dotenv]  # as compose: a .env that is a folder is not read
        try:
            imported = load_project(paths, project_dir, env_files)
        except ComposeError as exc:
            raise at_reference(exc, paths + env_files, where) from None
        for section in _SECTIONS:
            items = imported.get(section)
            if not isinstance(items, dict):
                continue
            target = model.setdefault(section, type(items)())
            if target is None:
                target = model[section] = type(items)()
            for name, value in items.items():
                if name in target and target[name] != value:
                    raise ComposeError(
                        f"imported compose file {paths[0]} defines conflicting {section[:-1]} {name}", where
                    )
                target[name] = value
                if hasattr(target, "keylocs") and hasattr(items, "keylocs") and name in items.keylocs:
                    target.keylocs[name] = items.keylocs[name]
