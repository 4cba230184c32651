"""``extends``: a service built on another one, from the same file or another.

As compose does it, per file and after interpolation: the base service is
resolved first (recursively), copied, and the extending service is merged over
it with the usual merge rules.  A base taken from another file comes with its
relative paths made relative to that file's folder.  Cycles are an error.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from supervisor.compose.merge import clone, merge
from supervisor.compose.model import ComposeError, Location, at_reference
from supervisor.compose.yamlsource import OVERRIDE, RESET, LMap, key_location

__all__ = ["apply_extends", "LoadFile"]

#: Loads another compose file for ``extends`` (path) -> its canonical model.
LoadFile = Callable[[str], dict[Any, Any]]
#: Why a path cannot be reached (path) -> a reason, or None when it exists (the loader's file system).
Reach = Callable[[str], Optional[str]]


def _always(path: str) -> Optional[str]:
    return None


def apply_extends(
    model: dict[Any, Any],
    filename: str,
    base_dir: str,
    load_file: LoadFile,
    chain: Optional[list[tuple[str, str]]] = None,
    reach: Reach = _always,
) -> None:
    """Resolve every ``extends`` of ``model`` (the tree of ``filename``) in place.

    ``reach`` says why another file cannot be reached (checked before ``load_file``, so that the
    refusal names the ``extends`` key); by default every path is taken to exist.
    """
    services = model.get("services")
    if services is None:
        return
    if not isinstance(services, dict):
        raise ComposeError("services must be a mapping", key_location(model, "services"))
    for name in list(services):
        _extend(name, services, filename, base_dir, load_file, list(chain or []), reach)


def _cycle_error(
    chain: list[tuple[str, str]], added: tuple[str, str], where: Optional[Location] = None
) -> ComposeError:
    lines = ["Circular reference:", f"  {chain[0][1]} in {chain[0][0]}"]
    for file, service in chain[1:] + [added]:
        lines.append(f"  extends {service} in {file}")
    return ComposeError("\n".join(lines), where)


def _extend(
    name: str,
    services: dict[Any, Any],
    filename: str,
    base_dir: str,
    load_file: LoadFile,
    chain: list[tuple[str, str]],
    reach: Reach,
) -> Any:
    service = services.get(name)
    if service is None:
        return None
    if not isinstance(service, dict):
        raise ComposeError(f"services.{name} must be a mapping", key_location(services, name))
    extends = service.get("extends")
    if extends is None:
        return service
    where = key_location(service, "extends")
    ref: object
    file: object
    if isinstance(extends, str):
        ref, file = extends, None
    elif isinstance(extends, dict):
        ref, file = extends.get("service"), extends.get("file")
    else:
        raise ComposeError(f"services.{name}.extends must be a string or a mapping", where)
    if not isinstance(ref, str):
        raise ComposeError(f"services.{name}.extends.service must be a string", where)

    ref_file = filename
    ref_services = services
    ref_dir = base_dir
    if file is not None:
        ref_file = os.path.normpath(os.path.join(base_dir, str(file)))
        failure = reach(ref_file)
        if failure is not None:
            raise ComposeError(f"cannot extend service {name!r}: {ref_file}: {failure}", where)
        try:
            other = load_file(ref_file)
        except ComposeError as exc:
            raise at_reference(exc, [ref_file], where) from None
        other_services = other.get("services")
        if not isinstance(other_services, dict):
            raise ComposeError(f'cannot extend service "{name}" in {ref_file}: no services section', where)
        ref_services = other_services
        if ref not in ref_services:
            raise ComposeError(f'cannot extend service "{name}" in {file}: service "{ref}" not found in {file}', where)
        ref_dir = os.path.dirname(ref_file)
    elif ref not in services:
        raise ComposeError(f'cannot extend service "{name}" in {filename}: service "{ref}" not found', where)

    entry = (filename, name)
    if entry in chain:
        raise _cycle_error(chain, entry, where)
    chain = chain + [entry]
    if ref_file != filename and (ref_file, ref) in chain:
        raise _cycle_error(chain, (ref_file, ref), where)

    base = _extend(ref, ref_services, ref_file, ref_dir, load_file, chain, reach)
    if base is None:
        return service
    source = clone(base)
    source.pop("extends", None)
    own = LMap(loc=getattr(service, "loc", None))
    tags = getattr(service, "tags", {})
    for key, value in service.items():
        if key != "extends":
            if tags.get(key) in (OVERRIDE, RESET):
                source.pop(key, None)  # ``!override``/``!reset``: the base's value is not merged in
            if tags.get(key) == RESET:
                continue
            own[key] = value
            if isinstance(service, LMap) and key in service.keylocs:
                own.keylocs[key] = service.keylocs[key]
    merged = merge(source, own, ("services", name))
    services[name] = merged
    return merged
